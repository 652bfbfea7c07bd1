//! The JSON bodies of the HTTP API, shared by the server and the client. The OpenAPI document
//! (`/openapi.json`, `docs/openapi.json`) is generated from these.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::states::{LeaseState, SubmissionState, TaskState, UploadState};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Posts encrypted datasets as paid tasks and receives the trained models.
    Publisher,
    /// A compute node: leases tasks, trains, submits ONNX, gets paid.
    Node,
    /// Creates accounts and sees everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Node => "node",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "publisher" => Ok(Role::Publisher),
            "node" => Ok(Role::Node),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (publisher, node or admin)")),
        }
    }
}

/// An account, without its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Credits in the account's wallet.
    pub balance: i64,
}

/// `POST /api/v1/accounts` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    pub name: String,
    pub role: Role,
    /// Credits deposited into the new account (from the `mint` wallet).
    #[serde(default)]
    pub credit: i64,
}

/// The new account and its API token, which is shown this once and stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountInfo,
    pub token: String,
}

/// `POST /api/v1/uploads`: announce a file to upload in chunks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUploadRequest {
    /// Plain file name (letters, digits, `.`, `_`, `-`; no path).
    pub name: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// sha256 of the whole file, lowercase hex; checked when the upload completes.
    pub sha256: String,
    /// Bytes per chunk (every chunk but the last); the server's default when absent.
    #[serde(default)]
    pub chunk_size: Option<u64>,
}

/// An upload and the chunks the server already holds, so an interrupted upload resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadStatus {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub chunk_size: u64,
    /// Number of chunks the file is cut into.
    pub chunks: u64,
    /// Indices of the chunks received and verified.
    pub received: Vec<u64>,
    pub state: UploadState,
}

/// What a task asks of the node that trains it (§2.1: "the computer that meets the task
/// requirements").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct Requirements {
    #[serde(default)]
    pub min_cores: u32,
    #[serde(default)]
    pub min_memory_mb: u64,
    /// A training backend the node must have (`flex`, `cuda`, …); any when absent.
    #[serde(default)]
    pub backend: Option<String>,
}

/// What a node offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    pub cores: u32,
    pub memory_mb: u64,
    /// Training backends the node can run.
    pub backends: Vec<String>,
}

impl Capabilities {
    /// Whether this node meets `req`.
    pub fn meets(&self, req: &Requirements) -> bool {
        self.cores >= req.min_cores
            && self.memory_mb >= req.min_memory_mb
            && req
                .backend
                .as_ref()
                .is_none_or(|b| self.backends.iter().any(|have| have == b))
    }
}

/// A file of a task's dataset: its name in the dataset folder and the completed upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileRef {
    pub name: String,
    pub upload_id: String,
}

/// `POST /api/v1/tasks` (publisher): open a task over uploaded files.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTaskRequest {
    pub name: String,
    /// Credits paid to the node whose model reaches `min_accuracy`; held in escrow until then.
    pub fee: i64,
    /// Validation accuracy (0–1) a model must reach to be accepted.
    pub min_accuracy: f64,
    /// Rejected submissions allowed before the task fails and the fee is refunded.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Seconds from now after which an unleased task fails and the fee is refunded.
    #[serde(default)]
    pub deadline_s: Option<u64>,
    #[serde(default)]
    pub requirements: Requirements,
    /// The training split: `manifest.json` (naming only the `train` split) and its shards.
    pub train_files: Vec<FileRef>,
    /// The validation split, same layout, split `validation`; never served to nodes.
    pub validation_files: Vec<FileRef>,
    /// t1: the publisher's key training and encryption, milliseconds.
    pub t1_ms: u64,
    /// The publisher → server leg of t2, milliseconds, as the publisher measured it.
    pub upload_ms: u64,
}

/// A lease as the task's owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseInfo {
    pub id: String,
    /// The node's account id.
    pub node: String,
    /// The node's account name.
    pub node_name: String,
    pub state: LeaseState,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub ended_ms: Option<i64>,
}

/// A submitted model and what validation made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubmissionInfo {
    pub id: String,
    pub task_id: String,
    pub lease_id: String,
    pub node: String,
    pub state: SubmissionState,
    /// Validation accuracy (0–1), when the model ran.
    pub accuracy: Option<f64>,
    /// The validation report (accuracy, confusion matrix, speed) or why the model was refused.
    pub report: Option<ValidationReport>,
    pub created_ms: i64,
    pub validated_ms: Option<i64>,
}

/// What the server's validator made of a submitted model: the run over the validation split, or
/// why the model was refused before or while running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ValidationReport {
    /// The model ran over the whole validation split.
    Ran(ValidationRun),
    /// The model was refused (policy, limits, wrong key, a failure while running).
    Refused {
        /// Why, in one line.
        refused: String,
    },
}

impl ValidationReport {
    /// Accuracy on the validation split, when the model ran.
    pub fn accuracy(&self) -> Option<f64> {
        match self {
            ValidationReport::Ran(run) => Some(run.accuracy),
            ValidationReport::Refused { .. } => None,
        }
    }
}

/// A model's run over the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationRun {
    /// Share of validation samples classified as their label (0–1).
    pub accuracy: f64,
    /// Validation samples run.
    pub samples: usize,
    /// Accuracy of each true class (`null` for a class with no samples).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Wall seconds of the run, loading included.
    pub seconds: f64,
    pub samples_per_second: f64,
}

/// The time budget of §4.7, t0 = t1 + 4·t2 + t3 + t4, with every leg as measured (ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct Timing {
    /// Key training and encryption at the publisher.
    pub t1_ms: Option<i64>,
    /// Transfer legs: publisher → server, server → node, node → server, server → publisher.
    pub publisher_to_server_ms: Option<i64>,
    pub server_to_node_ms: Option<i64>,
    pub node_to_server_ms: Option<i64>,
    pub server_to_publisher_ms: Option<i64>,
    /// The paper's equivalent delay: the mean of the measured legs.
    pub t2_ms: Option<f64>,
    /// Training on the node whose model was accepted.
    pub t3_ms: Option<i64>,
    /// Time the task waited in the server's queue for a node, over all its leases.
    pub t4_ms: i64,
    /// Validation on the server (the paper's formula leaves it out).
    pub validation_ms: Option<i64>,
    /// Time held by leases that ended without an accepted model (a node that died, a rejected
    /// model): outside the formula too.
    pub lost_ms: i64,
    /// t1 + 4·t2 + t3 + t4, once every term is measured.
    pub t0_ms: Option<f64>,
    /// Measured end to end: t1 + the publisher's upload + task creation → delivery.
    pub end_to_end_ms: Option<i64>,
}

/// `GET /api/v1/tasks/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInfo {
    pub id: String,
    pub name: String,
    pub publisher: String,
    pub state: TaskState,
    pub fee: i64,
    pub min_accuracy: f64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub requirements: Requirements,
    pub key_id: String,
    pub sample_shape: [usize; 3],
    pub class_names: Vec<String>,
    pub train_samples: u64,
    pub validation_samples: u64,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
    pub delivered_ms: Option<i64>,
    pub failure: Option<String>,
    pub accepted_submission: Option<String>,
    pub leases: Vec<LeaseInfo>,
    pub submissions: Vec<SubmissionInfo>,
    pub timing: Timing,
}

/// `POST /api/v1/leases` (node).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaseRequest {
    pub capabilities: Capabilities,
}

/// What a node needs to know of a leased task. Nothing here names the key or the validation
/// split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseGrant {
    pub lease_id: String,
    pub task_id: String,
    pub task_name: String,
    pub fee: i64,
    pub min_accuracy: f64,
    pub key_id: String,
    pub sample_shape: [usize; 3],
    pub class_names: Vec<String>,
    pub train_samples: u64,
    /// The lease ends at this time unless renewed by a heartbeat.
    pub expires_ms: i64,
    /// How often to send heartbeats, milliseconds.
    pub heartbeat_ms: u64,
}

/// `POST /api/v1/leases/{id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatResponse {
    pub expires_ms: i64,
}

/// One chunk of a stored file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChunkInfo {
    pub index: u64,
    pub size: u64,
    pub sha256: String,
}

/// One file of the training split, as stored chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileListing {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<ChunkInfo>,
}

/// `GET /api/v1/leases/{id}/files`: the training split of the leased task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetListing {
    pub files: Vec<FileListing>,
}

/// `POST /api/v1/leases/{id}/submission` (node): hand in a trained model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// A completed upload of the ONNX file.
    pub upload_id: String,
    /// The server → node leg, as the node measured it.
    pub download_ms: u64,
    /// t3: training on the node.
    pub train_ms: u64,
    /// The node → server leg.
    pub upload_ms: u64,
}

/// `POST /api/v1/tasks/{id}/delivery` (publisher): the server → publisher leg.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReport {
    pub download_ms: u64,
}

/// `GET /api/v1/balance`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub wallet: String,
    pub balance: i64,
}

/// One entry of the double-entry ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    pub tx_id: String,
    pub wallet: String,
    /// Positive: credited to `wallet`; negative: debited.
    pub amount: i64,
    pub memo: String,
    pub created_ms: i64,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}
