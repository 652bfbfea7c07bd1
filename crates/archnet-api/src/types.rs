//! The JSON bodies of the HTTP API, shared by the server and the client. The OpenAPI document
//! (`/openapi.json`, `docs/openapi.json`) is generated from these.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::states::{LeaseState, SubmissionState, TaskMode, TaskState, UploadState};

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
    /// The word stored and sent for this role.
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
    /// The account id.
    pub id: String,
    /// The account name (unique).
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// Credits in the account's wallet.
    pub balance: i64,
}

/// `ROLE `NAME` (ID): N credits`.
impl std::fmt::Display for AccountInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self;
        write!(
            f,
            "{} `{}` ({}): {} credits",
            a.role, a.name, a.id, a.balance
        )
    }
}

/// `POST /api/v1/accounts` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    /// The account name (unique): 1-64 letters, digits, `-`, `_` or `.`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// Credits deposited into the new account (from the `mint` wallet).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub credit: i64,
}

/// The new account and its API token, which is shown this once and stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedAccount {
    /// The account.
    pub account: AccountInfo,
    /// Its API token (shown this once).
    pub token: String,
}

/// What `archnet admin create-account` prints: the account, then the token.
impl std::fmt::Display for CreatedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.account;
        writeln!(
            f,
            "created {} account `{}` ({}) with {} credits",
            a.role, a.name, a.id, a.balance
        )?;
        write!(f, "token (shown once, store it now): {}", self.token)
    }
}

/// `POST /api/v1/uploads`: announce a file to upload in chunks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUploadRequest {
    /// Plain file name (letters, digits, `.`, `_`, `-`; no path).
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    pub name: String,
    /// Size of the whole file in bytes (at most the server's `max_file_bytes` for a publisher,
    /// `max_model_bytes` for a node: 413 above).
    pub size: u64,
    /// sha256 of the whole file, lowercase hex; checked when the upload completes.
    #[schema(pattern = r"^[0-9a-f]{64}$")]
    pub sha256: String,
    /// Bytes per chunk (every chunk but the last), at most the server's `max_chunk_bytes`
    /// (16 MiB unless set otherwise: 400 above); the server's default when absent.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub chunk_size: Option<u64>,
}

/// An upload and the chunks the server already holds, so an interrupted upload resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadStatus {
    /// The upload id.
    pub id: String,
    /// The file name.
    pub name: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// sha256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Bytes per chunk (every chunk but the last).
    pub chunk_size: u64,
    /// Number of chunks the file is cut into.
    pub chunks: u64,
    /// Indices of the chunks received and verified.
    pub received: Vec<u64>,
    /// Whether every chunk arrived and the file checked out.
    pub state: UploadState,
}

/// What a task asks of the node that trains it (§2.1: "the computer that meets the task
/// requirements").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct Requirements {
    /// Cores the node must offer at least.
    #[serde(default)]
    pub min_cores: u32,
    /// Memory (MiB) the node must offer at least.
    #[serde(default)]
    pub min_memory_mb: u64,
    /// A training backend the node must have (`flex`, `cuda`, …); any when absent.
    #[serde(default)]
    pub backend: Option<String>,
}

/// What a node offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    /// CPU cores offered.
    pub cores: u32,
    /// Memory offered, MiB.
    pub memory_mb: u64,
    /// Training backends the node can run.
    pub backends: Vec<String>,
}

/// `N cores, N MiB, backends [..]`.
impl std::fmt::Display for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cores, {} MiB, backends {:?}",
            self.cores, self.memory_mb, self.backends
        )
    }
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
    /// The file name in the dataset folder.
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    pub name: String,
    /// The completed upload holding it.
    pub upload_id: String,
}

/// `POST /api/v1/tasks` (publisher): open a task over uploaded files.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTaskRequest {
    /// The task name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Credits paid to the node whose model reaches `min_accuracy`; held in escrow until then.
    #[schema(minimum = 1)]
    pub fee: i64,
    /// Validation accuracy (0–1) a model must reach to be accepted.
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub min_accuracy: f64,
    /// Rejected submissions allowed before the task fails and the fee is refunded.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Seconds from now after which an unleased task fails and the fee is refunded; for a
    /// contest (required there), when it closes and is settled.
    #[serde(default)]
    pub deadline_s: Option<u64>,
    /// What a node must offer to lease the task.
    #[serde(default)]
    pub requirements: Requirements,
    /// `first` (the default: one node at a time, the first model over the bar is paid) or
    /// `contest`.
    #[serde(default)]
    pub mode: TaskMode,
    /// Contest only: nodes that may hold a lease at the same time (default 8).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_nodes: Option<u32>,
    /// Contest only: submissions one node may make (default 3), which bounds probing of the
    /// public score.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub submission_limit: Option<u32>,
    /// The training split: `manifest.json` (naming only the `train` split) and its shards.
    #[schema(min_items = 1, max_items = 10000)]
    pub train_files: Vec<FileRef>,
    /// The validation split, same layout, split `validation`; never served to nodes.
    #[schema(min_items = 1, max_items = 10000)]
    pub validation_files: Vec<FileRef>,
    /// t1: the publisher's key training and encryption, milliseconds.
    pub t1_ms: u64,
    /// The publisher → server leg of t2, milliseconds, as the publisher measured it.
    pub upload_ms: u64,
    /// The leakage audit the publisher ran before encrypting (numbers only: no image), shown on
    /// the task's dashboard page.
    #[serde(default)]
    pub audit: Option<AuditSummary>,
    /// A completed upload of the audit's picture (PNG, at most 8 MiB), shown on the task's
    /// dashboard page to its publisher and admins. It holds plain victim images and their
    /// reconstructions, so a publisher shares it only by choice (`--share-audit-picture`).
    /// Needs `audit`.
    #[serde(default)]
    pub audit_picture: Option<String>,
}

/// The publish-time leakage audit, as numbers: what a simulated attacker holding `pairs` known
/// (image, ciphertext) pairs recovered of `victims` held-out images. What must stay hidden is
/// *which* image a ciphertext holds (every party holds the labels), so each attack is measured
/// by re-identification among the victims and by its gain over the class-mean image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditSummary {
    /// The audited key.
    pub key_id: String,
    /// Its preset (`paper-mnist`, `auto`, `private`, …).
    pub key_preset: String,
    /// Victim images the attacks tried to recover.
    pub victims: u32,
    /// Known pairs the attacker held.
    pub pairs: u32,
    /// Re-identification a guess achieves: 1/victims.
    pub chance: f64,
    /// What the class-mean image (free to anyone holding the labels) re-identifies: the floor.
    pub class_mean_reidentification: f64,
    /// The class-mean image's SSIM against the victims.
    pub class_mean_ssim: f64,
    /// One row per attack, strongest first.
    #[schema(max_items = 64)]
    pub attacks: Vec<AuditAttack>,
    /// The key's per-image (ε, δ) guarantee, when it has one.
    pub guarantee: Option<AuditGuarantee>,
    /// The publisher's thresholds the attacks exceed, in words (empty: within them).
    #[schema(max_items = 64)]
    pub violations: Vec<String>,
    /// Whether the publisher published despite violations (`--accept-leakage`).
    pub accepted_leakage: bool,
    /// Wall seconds of the audit.
    pub seconds: f64,
}

/// One attack of an [`AuditSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditAttack {
    /// Which attack, in words (`ridge, 100 pairs`).
    #[schema(max_length = 500)]
    pub attack: String,
    /// Share of victims whose reconstruction is nearest their own image among all victims.
    pub reidentification: f64,
    /// The same within the victim's class (`None` without labels).
    pub same_class: Option<f64>,
    /// Mean PSNR of the reconstructions, dB.
    pub psnr_db: f64,
    /// Mean SSIM of the reconstructions.
    pub ssim: f64,
    /// PSNR above the class-mean image's, dB.
    pub psnr_gain_db: f64,
    /// SSIM above the class-mean image's.
    pub ssim_gain: f64,
}

/// A `private` key's formal guarantee, as an audit reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditGuarantee {
    /// ε of the per-image (ε, δ) guarantee.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// The bound it puts on re-identification among the audit's victims, by any attacker.
    pub reidentification_bound: f64,
}

/// One line: the strongest attack's re-identification beside the class-mean image's, and the
/// guarantee if there is one.
impl std::fmt::Display for AuditSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "leakage audit at publish: {} victims, {} known pairs; ",
            self.victims, self.pairs
        )?;
        match self.attacks.first() {
            Some(a) => write!(
                f,
                "{} re-identifies {:.1}% (the class-mean image {:.1}%, chance {:.1}%)",
                a.attack,
                100.0 * a.reidentification,
                100.0 * self.class_mean_reidentification,
                100.0 * self.chance
            )?,
            None => write!(f, "no attack ran")?,
        }
        match &self.guarantee {
            Some(g) => write!(
                f,
                "; ({:.3}, {:e})-DP per image bounds it at {:.1}%",
                g.epsilon,
                g.delta,
                100.0 * g.reidentification_bound
            ),
            None => write!(f, "; no formal guarantee"),
        }
    }
}

impl AuditSummary {
    /// Most attacks a summary may list.
    pub const MAX_ATTACKS: usize = 64;
    /// Longest text (attack name or violation) a summary may hold.
    pub const MAX_TEXT: usize = 500;

    /// Why the summary cannot be stored, if it cannot: counts, lengths and shares out of range.
    pub fn problem(&self) -> Option<String> {
        let share = |x: f64| (0.0..=1.0).contains(&x);
        let texts = self
            .attacks
            .iter()
            .map(|a| &a.attack)
            .chain(&self.violations)
            .chain([&self.key_id, &self.key_preset]);
        if self.attacks.len() > Self::MAX_ATTACKS || self.violations.len() > Self::MAX_ATTACKS {
            Some(format!(
                "audit: at most {} attacks and violations",
                Self::MAX_ATTACKS
            ))
        } else if texts.into_iter().any(|t| t.len() > Self::MAX_TEXT) {
            Some(format!(
                "audit: a text is over {} characters",
                Self::MAX_TEXT
            ))
        } else if !share(self.chance)
            || !share(self.class_mean_reidentification)
            || self
                .attacks
                .iter()
                .any(|a| !share(a.reidentification) || a.same_class.is_some_and(|s| !share(s)))
        {
            Some("audit: re-identification shares must be in [0, 1]".into())
        } else if !self.seconds.is_finite() || self.seconds < 0.0 {
            Some("audit: seconds must be finite and not negative".into())
        } else {
            None
        }
    }
}

/// A lease as the task's owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseInfo {
    /// The lease id.
    pub id: String,
    /// The node's account id.
    pub node: String,
    /// The node's account name.
    pub node_name: String,
    /// Active, expired or submitted.
    pub state: LeaseState,
    /// When the lease was granted (ms since the epoch).
    pub created_ms: i64,
    /// When it ends unless renewed.
    pub expires_ms: i64,
    /// When it ended, once it has.
    pub ended_ms: Option<i64>,
}

/// A submitted model and what validation made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubmissionInfo {
    /// The submission id.
    pub id: String,
    /// The task.
    pub task_id: String,
    /// The lease it was handed in under.
    pub lease_id: String,
    /// The node's account id.
    pub node: String,
    /// Pending, validating, then accepted or rejected (a contest entry is `scored` until the
    /// deadline).
    pub state: SubmissionState,
    /// Validation accuracy (0–1) over the whole validation split, when the model ran. In a
    /// contest, hidden from nodes until the deadline (it would give the private part away).
    pub accuracy: Option<f64>,
    /// Contest only: accuracy on the public part of the validation split, shown once validated.
    #[serde(default)]
    pub public_accuracy: Option<f64>,
    /// Contest only: accuracy on the private part, which decides the contest; hidden from nodes
    /// until the deadline.
    #[serde(default)]
    pub private_accuracy: Option<f64>,
    /// Contest only: the final rank (1 = the winner), once the contest is settled.
    #[serde(default)]
    pub rank: Option<u32>,
    /// The validation report (accuracy, confusion matrix, speed) or why the model was refused.
    /// A node sees a contest entry's report over the public part only until the deadline.
    pub report: Option<ValidationReport>,
    /// When it was handed in (ms since the epoch).
    pub created_ms: i64,
    /// When validation decided it.
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
    /// Contest only: the scores of the public and private parts of the validation split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<HoldoutScores>,
    /// Validation samples run.
    pub samples: usize,
    /// Accuracy of each true class (`null` for a class with no samples).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Wall seconds of the run, loading included.
    pub seconds: f64,
    /// Validation samples run per second.
    pub samples_per_second: f64,
}

/// The time budget of §4.7, t0 = t1 + 4·t2 + t3 + t4, with every leg as measured (ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct Timing {
    /// Key training and encryption at the publisher.
    pub t1_ms: Option<i64>,
    /// Transfer legs: publisher → server, server → node, node → server, server → publisher.
    pub publisher_to_server_ms: Option<i64>,
    /// The server → node leg.
    pub server_to_node_ms: Option<i64>,
    /// The node → server leg.
    pub node_to_server_ms: Option<i64>,
    /// The server → publisher leg.
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

/// Milliseconds as seconds with one decimal, `-` when unmeasured.
fn seconds(ms: Option<f64>) -> String {
    ms.map(|v| format!("{:.1} s", v / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// The breakdown as `archnet status` and the quickstart print it, one leg per line.
impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self;
        let ms = |v: Option<i64>| v.map(|x| x as f64);
        let rows: [(&str, Option<f64>); 12] = [
            ("t1  key training + encryption (publisher)", ms(t.t1_ms)),
            ("t2  publisher → server", ms(t.publisher_to_server_ms)),
            ("    server → node", ms(t.server_to_node_ms)),
            ("    node → server", ms(t.node_to_server_ms)),
            ("    server → publisher", ms(t.server_to_publisher_ms)),
            ("    equivalent delay t2 (mean of legs)", t.t2_ms),
            ("t3  training on the node", ms(t.t3_ms)),
            ("t4  waiting in the server's queue", ms(Some(t.t4_ms))),
            ("    validation (outside the formula)", ms(t.validation_ms)),
            ("    lost to leases without a model", ms(Some(t.lost_ms))),
            ("t0 = t1 + 4·t2 + t3 + t4", t.t0_ms),
            ("measured end to end", ms(t.end_to_end_ms)),
        ];
        for (i, (label, value)) in rows.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {label:<42}{:>10}", seconds(*value))?;
        }
        Ok(())
    }
}

/// A contest's validation split scored in its two parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HoldoutScores {
    /// The public part: shown on the leaderboard as soon as the model is validated.
    pub public: PartScore,
    /// The private part: decides the contest; `None` where the reader may not see it yet.
    pub private: Option<PartScore>,
}

/// A model's score on one part of the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartScore {
    /// Share classified as their label (0–1).
    pub accuracy: f64,
    /// Samples in the part.
    pub samples: usize,
    /// `confusion[true][predicted]` over the part.
    pub confusion: Vec<Vec<usize>>,
}

/// A contest's rules and how far it has come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContestInfo {
    /// Nodes that may hold a lease at the same time.
    pub max_nodes: u32,
    /// Submissions one node may make.
    pub submission_limit: u32,
    /// Validation samples in the public part (scored on the leaderboard at once).
    pub public_samples: u64,
    /// Validation samples in the private part (scored, and shown, at the deadline).
    pub private_samples: u64,
    /// When the contest was settled (paid or refunded), once it has been.
    pub settled_ms: Option<i64>,
}

/// `GET /api/v1/tasks/{id}/leaderboard`: a task's submissions, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Leaderboard {
    /// The task.
    pub task_id: String,
    /// Its name.
    pub task_name: String,
    /// How it picks the model it pays for.
    pub mode: TaskMode,
    /// Where the task is in its life.
    pub state: TaskState,
    /// The accuracy (0–1) the winner must reach on the private part.
    pub min_accuracy: f64,
    /// When the contest closes (ms since the epoch).
    pub deadline_ms: Option<i64>,
    /// Whether the contest has been settled: ranks are final and private accuracies shown.
    pub settled: bool,
    /// Every submission: ranked ones first (by public accuracy until the deadline, by private
    /// accuracy after it; ties go to the earliest), then the rest, oldest first.
    pub entries: Vec<LeaderboardEntry>,
}

/// One submission on a leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// Its place, among the submissions that ran.
    pub rank: Option<u32>,
    /// The submission.
    pub submission_id: String,
    /// The node's account name.
    pub node_name: String,
    /// Its state.
    pub state: SubmissionState,
    /// Accuracy on the public part (for a first-model task, the whole validation split).
    pub public_accuracy: Option<f64>,
    /// Accuracy on the private part; `None` until the contest is settled.
    pub private_accuracy: Option<f64>,
    /// When it was handed in (ms since the epoch).
    pub submitted_ms: i64,
}

/// `GET /api/v1/tasks/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInfo {
    /// The task id.
    pub id: String,
    /// The task name.
    pub name: String,
    /// The publisher's account id.
    pub publisher: String,
    /// Where the task is in its life.
    pub state: TaskState,
    /// How it picks the model it pays for.
    pub mode: TaskMode,
    /// Contest only: its rules and settlement.
    pub contest: Option<ContestInfo>,
    /// When an unleased task fails, or a contest closes (ms since the epoch).
    pub deadline_ms: Option<i64>,
    /// Credits paid to the node whose model is accepted.
    pub fee: i64,
    /// Validation accuracy (0–1) a model must reach.
    pub min_accuracy: f64,
    /// Submissions rejected so far.
    pub attempts: u32,
    /// Rejected submissions allowed before the task fails.
    pub max_attempts: u32,
    /// What a node must offer to lease the task.
    pub requirements: Requirements,
    /// The id of the key that encrypted the dataset.
    pub key_id: String,
    /// `[C, H, W]` of one ciphertext.
    pub sample_shape: [usize; 3],
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// Samples in the training split (what nodes receive).
    pub train_samples: u64,
    /// Samples in the validation split (kept on the server).
    pub validation_samples: u64,
    /// When the task opened (ms since the epoch).
    pub created_ms: i64,
    /// When a model was accepted or the task failed.
    pub completed_ms: Option<i64>,
    /// When the publisher fetched the model.
    pub delivered_ms: Option<i64>,
    /// Why the task failed, if it did.
    pub failure: Option<String>,
    /// The accepted submission's id.
    pub accepted_submission: Option<String>,
    /// Every lease, oldest first.
    pub leases: Vec<LeaseInfo>,
    /// Every submission, oldest first.
    pub submissions: Vec<SubmissionInfo>,
    /// The time budget of §4.7 as measured so far.
    pub timing: Timing,
    /// The publish-time leakage audit, when the publisher sent it.
    #[serde(default)]
    pub audit: Option<AuditSummary>,
    /// Whether the publisher shared the audit's picture (shown on the dashboard).
    #[serde(default)]
    pub audit_picture: bool,
}

/// `POST /api/v1/leases` (node).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaseRequest {
    /// What the node offers.
    pub capabilities: Capabilities,
}

/// What a node needs to know of a leased task. Nothing here names the key or the validation
/// split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseGrant {
    /// The lease id.
    pub lease_id: String,
    /// The task.
    pub task_id: String,
    /// Its name.
    pub task_name: String,
    /// Credits paid if the model is accepted.
    pub fee: i64,
    /// Validation accuracy (0–1) the model must reach.
    pub min_accuracy: f64,
    /// The id of the key that encrypted the samples (not the key).
    pub key_id: String,
    /// `[C, H, W]` of one ciphertext.
    pub sample_shape: [usize; 3],
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// Samples in the training split.
    pub train_samples: u64,
    /// How the task picks the model it pays for.
    #[serde(default)]
    pub mode: TaskMode,
    /// When a contest closes: a model handed in later is refused (ms since the epoch).
    #[serde(default)]
    pub deadline_ms: Option<i64>,
    /// Contest only: submissions this node may still make, this one included.
    #[serde(default)]
    pub submissions_left: Option<u32>,
    /// The lease ends at this time unless renewed by a heartbeat.
    pub expires_ms: i64,
    /// How often to send heartbeats, milliseconds.
    pub heartbeat_ms: u64,
}

/// `POST /api/v1/leases/{id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatResponse {
    /// The lease's new end.
    pub expires_ms: i64,
}

/// One chunk of a stored file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChunkInfo {
    /// Its place in the file, from 0.
    pub index: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, lowercase hex.
    pub sha256: String,
}

/// One file of the training split, as stored chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileListing {
    /// The file name.
    pub name: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// sha256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Its chunks, in order.
    pub chunks: Vec<ChunkInfo>,
}

/// `GET /api/v1/leases/{id}/files`: the training split of the leased task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetListing {
    /// The split's manifest and shards.
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
    /// The model's download, as the publisher measured it.
    pub download_ms: u64,
}

/// `GET /api/v1/balance`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    /// The wallet id.
    pub wallet: String,
    /// Credits in it.
    pub balance: i64,
}

/// One entry of the double-entry ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// The transaction (its entries sum to zero).
    pub tx_id: String,
    /// The wallet credited or debited.
    pub wallet: String,
    /// Positive: credited to `wallet`; negative: debited.
    pub amount: i64,
    /// What the transaction was for.
    pub memo: String,
    /// When it was recorded (ms since the epoch).
    pub created_ms: i64,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` while the server answers.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// A task with its leases, submissions and t0 breakdown, as `archnet status` prints it.
impl std::fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self;
        writeln!(f, "task {} `{}`: {}", t.id, t.name, t.state)?;
        writeln!(
            f,
            "  fee {} credits, bar {:.2}%, attempts {}/{}, key {}, {} train / {} validation samples of {:?}",
            t.fee,
            100.0 * t.min_accuracy,
            t.attempts,
            t.max_attempts,
            t.key_id,
            t.train_samples,
            t.validation_samples,
            t.sample_shape
        )?;
        if let Some(c) = &t.contest {
            writeln!(
                f,
                "  contest: up to {} nodes at once, {} submissions each, {} public / {} private validation samples, {}",
                c.max_nodes,
                c.submission_limit,
                c.public_samples,
                c.private_samples,
                match c.settled_ms {
                    Some(_) => "settled".to_string(),
                    None => t
                        .deadline_ms
                        .map_or("open".into(), |d| format!("closes at {}", utc(d))),
                }
            )?;
        }
        if let Some(failure) = &t.failure {
            writeln!(f, "  failed: {failure}")?;
        }
        if let Some(a) = &t.audit {
            writeln!(f, "  {a}")?;
        }
        for l in &t.leases {
            let end = l.ended_ms.unwrap_or(l.expires_ms);
            writeln!(
                f,
                "  lease {} to node {}: {} ({:.1} s)",
                l.id,
                l.node_name,
                l.state,
                (end - l.created_ms) as f64 / 1000.0
            )?;
        }
        for s in &t.submissions {
            let detail = match (&s.accuracy, &s.report) {
                (Some(a), _) if s.public_accuracy.is_some() => format!(
                    "validation accuracy {:.2}%: public part {:.2}%, private part {:.2}%{}",
                    100.0 * a,
                    100.0 * s.public_accuracy.unwrap_or(0.0),
                    100.0 * s.private_accuracy.unwrap_or(0.0),
                    s.rank.map(|r| format!(", rank {r}")).unwrap_or_default()
                ),
                (Some(a), _) => format!("validation accuracy {:.2}%", 100.0 * a),
                (None, Some(ValidationReport::Refused { refused })) => {
                    format!("refused: {refused}")
                }
                (None, Some(ValidationReport::Ran(_))) => "ran, without an accuracy".into(),
                _ => "waiting for validation".into(),
            };
            let node = t
                .leases
                .iter()
                .find(|l| l.id == s.lease_id)
                .map_or(s.node.as_str(), |l| l.node_name.as_str());
            writeln!(
                f,
                "  submission {} from {node}: {} ({detail})",
                s.id, s.state
            )?;
        }
        writeln!(f, "time budget (§4.7):")?;
        write!(f, "{}", t.timing)
    }
}

/// `archnet leaderboard`'s table: rank, node, public and private accuracy, time handed in.
impl std::fmt::Display for Leaderboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a));
        writeln!(
            f,
            "leaderboard of {} `{}` ({}, {}; bar {:.2}% on the private part{}):",
            self.task_id,
            self.task_name,
            self.mode,
            self.state,
            100.0 * self.min_accuracy,
            match (self.settled, self.deadline_ms) {
                (true, _) => ", settled".to_string(),
                (false, Some(d)) => format!(", private scores hidden until {}", utc(d)),
                (false, None) => String::new(),
            }
        )?;
        write!(
            f,
            "{:>4}  {:<20} {:>8} {:>8}  {:<9} {:<20} submission",
            "rank", "node", "public", "private", "state", "handed in (UTC)"
        )?;
        for e in &self.entries {
            write!(
                f,
                "\n{:>4}  {:<20} {:>8} {:>8}  {:<9} {:<20} {}",
                e.rank.map_or("-".into(), |r| r.to_string()),
                e.node_name,
                percent(e.public_accuracy),
                percent(e.private_accuracy),
                e.state,
                utc(e.submitted_ms),
                e.submission_id
            )?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DD HH:MM:SS` of a time in milliseconds since the Unix epoch, in UTC.
pub fn utc(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
}

impl TaskInfo {
    /// The accepted submission, once there is one.
    pub fn accepted(&self) -> Option<&SubmissionInfo> {
        self.submissions
            .iter()
            .find(|s| s.state == SubmissionState::Accepted)
    }
}

/// Tasks as the one-line-each table of `archnet tasks`.
pub struct TaskTable<'a>(pub &'a [TaskInfo]);

impl std::fmt::Display for TaskTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<22} {:<11} {:>6} {:>7} {:>9}  name",
            "task", "state", "fee", "bar", "accuracy"
        )?;
        for t in self.0 {
            let accuracy = t
                .accepted()
                .and_then(|s| s.accuracy)
                .map(|a| format!("{:.2}%", 100.0 * a))
                .unwrap_or_else(|| "-".into());
            write!(
                f,
                "\n{:<22} {:<11} {:>6} {:>6.1}% {:>9}  {}",
                t.id,
                t.state,
                t.fee,
                100.0 * t.min_accuracy,
                accuracy,
                t.name
            )?;
        }
        Ok(())
    }
}

/// One ledger line: transaction, wallet, signed amount, memo.
impl std::fmt::Display for LedgerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<28} {:<32} {:>+8}  {}",
            self.tx_id, self.wallet, self.amount, self.memo
        )
    }
}
