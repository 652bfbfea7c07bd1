//! Command-line arguments of the marketplace commands (server, publisher, node, admin, bench).

use std::net::SocketAddr;
use std::path::PathBuf;

use archnet_data::encrypted::Storage;
use clap::Subcommand;

/// Which server to talk to, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server URL.
    #[arg(long, env = "ARCHNET_SERVER", default_value = "http://127.0.0.1:8750")]
    pub server: String,
    /// API token (from `archnet admin create-account`).
    #[arg(long, env = "ARCHNET_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// `archnet serve`. The settings fields serialise to the keys of `ServerConfig`, so they layer
/// over its defaults and the TOML file (`ServerConfig::layered`); unset ones are left out.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct ServeArgs {
    /// TOML file of settings (keys as in `ServerConfig`: listen, data_dir, database, store,
    /// lease_ttl_s, max_attempts, rate_per_second, …); flags and variables override it.
    #[arg(long, env = "ARCHNET_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8750].
    #[arg(long, env = "ARCHNET_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder for the SQLite database, local blobs and the validation cache
    /// [default: archnet-server].
    #[arg(long, env = "ARCHNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://USER@HOST/DB` to share state between replicas [default: SQLite in --data-dir].
    #[arg(long, env = "ARCHNET_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// `s3://bucket/prefix` (credentials from AWS_* variables) [default: DATA_DIR/blobs].
    #[arg(long, env = "ARCHNET_STORE")]
    pub store: Option<String>,
    /// Seconds a lease lives without a heartbeat [default: 60].
    #[arg(long, env = "ARCHNET_LEASE_TTL_S")]
    pub lease_ttl_s: Option<u64>,
    /// Rejected submissions before a task fails and its fee is refunded [default: 3].
    #[arg(long, env = "ARCHNET_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Requests per second allowed to one token [default: 50].
    #[arg(long, env = "ARCHNET_RATE_PER_SECOND")]
    pub rate_per_second: Option<u32>,
    /// Seconds a validator's claim on a submission lasts without renewal [default: 30].
    #[arg(long, env = "ARCHNET_VALIDATION_CLAIM_S")]
    pub validation_claim_s: Option<u64>,
    /// Log lines as JSON objects (for log collectors) instead of text.
    #[arg(long)]
    #[serde(skip)]
    pub log_json: bool,
    /// Print the OpenAPI document and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_openapi: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account and print its API token (shown once; only its hash is stored).
    CreateAccount(CreateAccountArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateAccountArgs {
    #[arg(long)]
    pub name: String,
    /// publisher, node or admin.
    #[arg(long)]
    pub role: String,
    /// Credits deposited into the account.
    #[arg(long, default_value_t = 0)]
    pub credit: i64,
    /// Write straight into this server data folder's SQLite database (to make the first admin).
    #[arg(long, conflicts_with_all = ["database", "server"])]
    pub data_dir: Option<PathBuf>,
    /// Write straight into this database (`sqlite://…` or `postgres://…`).
    #[arg(
        long,
        env = "ARCHNET_DATABASE",
        hide_env_values = true,
        conflicts_with = "server"
    )]
    pub database: Option<String>,
    /// Otherwise ask this server, with an admin token.
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long, env = "ARCHNET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The key (stays here: only ciphertexts are uploaded).
    #[arg(long)]
    pub key: PathBuf,
    /// Plain labeled dataset (its train release).
    #[arg(long)]
    pub data: PathBuf,
    /// Publish only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Credits paid to the node whose model reaches the bar (held in escrow until then).
    #[arg(long)]
    pub fee: i64,
    /// Validation accuracy a model must reach, in percent (e.g. 90) or as a fraction (0.9).
    #[arg(long, value_parser = crate::cli::fraction)]
    pub min_accuracy: f64,
    /// The task fails and the fee is refunded if no node has taken it by then (e.g. 2h, 30m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deadline: Option<std::time::Duration>,
    /// Rejected submissions allowed before the task fails [default: the server's].
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Task name [default: the data folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Ciphertexts and the resume state go here; run again with the same folder to resume.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// How ciphertexts are stored (f32, f16, q8).
    #[arg(long, default_value = "f32")]
    pub storage: Storage,
    /// Node requirements: minimum cores, memory (MiB), backend.
    #[arg(long, default_value_t = 1)]
    pub min_cores: u32,
    #[arg(long, default_value_t = 0)]
    pub min_memory_mb: u64,
    #[arg(long)]
    pub backend: Option<String>,
    /// Thresholds of the leakage audit run before anything is uploaded.
    #[command(flatten)]
    pub leakage: crate::cli::LeakageArgs,
    /// Publish even when the audit exceeds the thresholds (you have read what leaks).
    #[arg(long)]
    pub accept_leakage: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    pub task: String,
}

#[derive(Debug, clap::Args)]
pub struct FetchModelArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    pub task: String,
    /// Where to write the ONNX model.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Downloads, checkpoints and models go here.
    #[arg(long, default_value = "archnet-node")]
    pub work_dir: PathBuf,
    /// Stop after handing in one model.
    #[arg(long)]
    pub once: bool,
    /// Stop after this long without a task (e.g. 10m); run forever if absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_idle: Option<std::time::Duration>,
    /// Your own training program: run as `CMD DATASET_DIR OUT.onnx` (also in $ARCHNET_DATASET
    /// and $ARCHNET_ONNX); it must write an ONNX classifier. Default: the built-in recipe.
    #[arg(long)]
    pub trainer: Option<String>,
    /// Built-in recipe: base model (cnn, resnet18, …).
    #[arg(long, default_value = "cnn")]
    pub model: String,
    #[command(flatten)]
    pub recipe: crate::cli::RecipeArgs,
    /// Advertise these cores / MiB / backends instead of what is detected.
    #[arg(long)]
    pub cores: Option<u32>,
    #[arg(long)]
    pub memory_mb: Option<u64>,
    #[arg(long)]
    pub backend: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Admin only: one wallet id, or `all`.
    #[arg(long)]
    pub wallet: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load-test one server on loopback with simulated nodes leasing, heartbeating and
    /// submitting tiny tasks; reports leases/s and latency percentiles per backend.
    Market(BenchMarketArgs),
    /// Time one tensor workload on synthetic inputs of its real shapes and print one JSON line:
    /// samples/s and peak memory (`bench/compare` runs each against PyTorch).
    Workload(BenchWorkloadArgs),
}

#[derive(Debug, clap::Args)]
pub struct BenchWorkloadArgs {
    /// key-train-paper-mnist, key-train-paper-cifar, encrypt-paper-mnist, train-cnn-encrypted,
    /// train-resnet18-encrypted or validate-onnx-cnn.
    pub name: String,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Untimed steps first (allocation, caches).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// validate-onnx-cnn: also write the ONNX model it runs here (for onnxruntime).
    #[arg(long)]
    pub onnx_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchMarketArgs {
    /// Simulated nodes (concurrent clients, one token each).
    #[arg(long, default_value_t = 200)]
    pub nodes: usize,
    /// Tiny tasks to publish and complete.
    #[arg(long, default_value_t = 400)]
    pub tasks: usize,
    /// Heartbeats each node sends per lease.
    #[arg(long, default_value_t = 2)]
    pub heartbeats: usize,
    /// Also run against this PostgreSQL database (emptied first!); SQLite always runs.
    #[arg(long, env = "ARCHNET_BENCH_POSTGRES")]
    pub postgres: Option<String>,
    /// Stop the run after this many seconds whatever its state.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
}
