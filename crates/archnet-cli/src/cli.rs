//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use archnet_data::Split;
use archnet_data::encrypted::Storage;
use archnet_market::types::TaskMode;
use archnet_model::classify::ClassifierTrainConfig;
use archnet_model::pipeline::SplitRatio;
use archnet_model::train::{Loss, Recipe};
use clap::{Parser, Subcommand};

/// A share given in percent (`90`) or as a fraction (`0.9`): anything above 1 is percent.
pub fn fraction(value: &str) -> Result<f64, String> {
    let v: f64 = value.parse().map_err(|e| format!("`{value}`: {e}"))?;
    Ok(if v > 1.0 { v / 100.0 } else { v })
}

/// archnet: get a model trained on your private images by other people's computers, without
/// handing over the images. Encrypts image datasets with a trained neural key (ArchNet).
///
/// What is protected and what is not: see docs/threat-model.md. In short, ArchNet is obfuscation,
/// not encryption: single ciphertext channels can show the image (see `archnet visualize`), and
/// an attacker with a few known (image, ciphertext) pairs can learn to invert E1.
#[derive(Debug, Parser)]
#[command(name = "archnet", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect plain datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train and inspect ArchNet keys (E1 + D1).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Encrypt a dataset with a key's E1.
    Encrypt(EncryptArgs),
    /// Decrypt an encrypted dataset with a key's D1 to PNG files.
    Decrypt(DecryptArgs),
    /// Draw originals, encrypted tensors and D1 reconstructions in one grid (the paper's Fig. 8/9).
    Visualize(VisualizeArgs),
    /// Train a base model (D2) on a plain or an encrypted dataset.
    Train(TrainArgs),
    /// Accuracy and confusion matrix of a trained base model on a dataset.
    Evaluate(EvaluateArgs),
    /// Export a trained base model to ONNX (what a compute node hands back).
    Export(ExportArgs),
    /// Run an ONNX classifier (untrusted) over a plain or encrypted dataset: accuracy, per-class
    /// accuracy, confusion matrix, speed.
    Validate(ValidateArgs),
    /// Classify plain images through a key and a delivered ONNX model: E1, then the model.
    Predict(PredictArgs),
    /// Reproduce the paper's experiments.
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Run the whole story on the small sample shipped in the repository.
    Quickstart(QuickstartArgs),
    /// Run the marketplace server (the paper's intermediary v0).
    Serve(ServeArgs),
    /// Administer a server: accounts and tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Publisher: encrypt a dataset locally, upload it and open a paid training task.
    Publish(PublishArgs),
    /// Publisher: list your tasks.
    Tasks(ConnectArgs),
    /// Publisher: one task's state, submissions, validation and t0 time budget.
    Status(StatusArgs),
    /// A task's submissions ranked (a contest's leaderboard; private scores after the deadline).
    Leaderboard(StatusArgs),
    /// Publisher: download the accepted ONNX model of a completed task.
    FetchModel(FetchModelArgs),
    /// Compute node: lease tasks, train on ciphertexts, hand back ONNX, get paid.
    Node(NodeArgs),
    /// Your account's balance.
    Balance(ConnectArgs),
    /// Your wallet's ledger entries (an admin can read any wallet).
    Ledger(LedgerArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Attacks on a key: how much of the images leaks from ciphertexts.
    #[command(subcommand)]
    Attack(AttackCommand),
    /// The leakage audit `publish` runs: bounded attacks on a sample, judged against thresholds
    /// (exits non-zero when they are exceeded).
    Audit(AuditArgs),
    /// Internal: validate one submitted model inside the server's sandbox (what `archnet serve`
    /// runs as a limited child process; prints one line of JSON).
    #[command(hide = true)]
    SandboxValidate {
        /// The job file the server wrote.
        job: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print count, shape, classes and pixel statistics of a dataset.
    Inspect {
        /// IDX folder or file, CIFAR-10 binary folder or file, image folder, or .tar.gz.
        path: PathBuf,
        /// Which split to read where the dataset has several.
        #[arg(long, default_value = "train")]
        split: Split,
    },
}

/// Where training or encryption data comes from.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Dataset path (see `archnet data inspect`).
    #[arg(long)]
    pub data: PathBuf,
    /// Which split of the dataset release to read.
    #[arg(long, default_value = "train")]
    pub data_split: Split,
    /// Use only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Train a key (E1 + D1) as an identity map on a dataset.
    Train(KeyTrainArgs),
    /// Print a key file's metadata (without loading its weights).
    Info {
        /// The key file.
        key: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct KeyTrainArgs {
    /// paper-mnist, paper-cifar, auto or private.
    #[arg(long)]
    pub preset: String,
    /// `private` keys: ε of each image's encryption (per-image local DP, with --delta); sets the
    /// noise. `inf`: no noise and no guarantee.
    #[arg(long, default_value_t = f64::INFINITY)]
    pub epsilon: f64,
    /// `private` keys: δ of the guarantee.
    #[arg(long, default_value_t = archnet_model::privacy::DEFAULT_DELTA)]
    pub delta: f64,
    /// `private` keys: channels of the 4×4 code (1: 16 values). More values carry more of the
    /// image's class to the node, and more of the image.
    #[arg(long, default_value_t = 1)]
    pub code_channels: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// The key file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// fast (Adam lr 1e-3, converges in CPU budgets) or paper (Adam lr 1e-5, §5.4).
    #[arg(long, default_value = "fast")]
    pub recipe: Recipe,
    /// bce (paper eq. 3) or mse.
    #[arg(long, default_value = "bce")]
    pub loss: Loss,
    /// Learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Stop after this many samples (a budget; may end mid-epoch).
    #[arg(long)]
    pub max_samples: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Checkpoint folder (default: <out>.ckpt).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Also checkpoint every N steps (0: at the end of each epoch only).
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: usize,
    /// Continue the checkpoint in the checkpoint folder.
    #[arg(long)]
    pub resume: bool,
    /// Measure reconstruction on this many images of the dataset's test split (0: skip).
    #[arg(long, default_value_t = 10_000)]
    pub eval_limit: usize,
}

#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The key file.
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// TRAIN:VALIDATION parts, or none (default: the paper's 6:1 for 28×28, 5:1 otherwise).
    #[arg(long)]
    pub split: Option<SplitRatio>,
    /// f32, f16 or q8.
    #[arg(long, default_value = "f32")]
    pub storage: Storage,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Randomised encryption (a hardening under evaluation, see results/security.md): adds
    /// Gaussian noise of this standard deviation, relative to the ciphertexts' own, afresh to
    /// every value.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f32,
}

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Encrypted dataset folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder for PNGs (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// The plain dataset that was encrypted, to measure PSNR and SSIM.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Split of the reference dataset release that was encrypted.
    #[arg(long, default_value = "train")]
    pub reference_split: Split,
    /// Only these encrypted splits (default: all).
    #[arg(long = "split")]
    pub splits: Vec<String>,
    /// At most N images per split.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// Working folder (default: a new temporary folder, removed afterwards).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// The plain sample to use (default: the one shipped in the repository).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The contest variant: two nodes compete on one task until its deadline; prints the
    /// leaderboard.
    #[arg(long)]
    pub contest: bool,
    /// Keep the server up at the end until Ctrl-C, so you can open the dashboard it prints.
    #[arg(long)]
    pub keep_serving: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// cnn, resnet18, resnet34, resnet50, resnet101 or resnet152.
    #[arg(long)]
    pub model: String,
    /// A plain dataset (its train split; validation on its test split) or an encrypted dataset
    /// folder (its `train` split; validation on its `validation` split).
    #[arg(long)]
    pub data: std::path::PathBuf,
    /// Output folder: metrics.csv, checkpoints, and the trained model.
    #[arg(long)]
    pub out: std::path::PathBuf,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when validation accuracy has not improved for N epochs.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Use only the first N training samples (plain data only).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Continue the run in --out.
    #[arg(long)]
    pub resume: bool,
}

/// How a base model trains (`archnet train`, and a node's built-in recipe).
#[derive(Debug, clap::Args)]
pub struct RecipeArgs {
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
}

impl RecipeArgs {
    /// The training configuration these flags, `seed` and `patience` describe.
    pub fn config(&self, seed: u64, patience: Option<usize>) -> ClassifierTrainConfig {
        ClassifierTrainConfig {
            learning_rate: self.lr,
            batch_size: self.batch_size.max(1),
            epochs: self.epochs,
            seed,
            patience,
        }
    }
}

/// The samples a model is scored on (`archnet evaluate`, `archnet validate`).
#[derive(Debug, clap::Args)]
pub struct EvalDataArgs {
    /// A plain dataset or an encrypted dataset folder.
    #[arg(long)]
    pub data: std::path::PathBuf,
    /// Split: for plain data `train` or `test` (default test); for encrypted data a split name
    /// (default validation).
    #[arg(long)]
    pub split: Option<String>,
    /// Use only the first N samples (plain data only).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// A folder written by `archnet train`.
    #[arg(long)]
    pub model: std::path::PathBuf,
    #[command(flatten)]
    pub data: EvalDataArgs,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A folder written by `archnet train`.
    #[arg(long)]
    pub model: PathBuf,
    /// The ONNX file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Limits applied to an untrusted ONNX model; the defaults are the library's
/// (`ModelPolicy::default()`, `ValidationLimits::default()`).
#[derive(Debug, clap::Args)]
pub struct OnnxLimitArgs {
    /// Refuse model files larger than this many MiB.
    #[arg(long, default_value_t = archnet_onnx::ModelPolicy::default().max_bytes >> 20)]
    pub max_model_mib: u64,
    /// Stop validation after this many seconds.
    #[arg(long, default_value_t = archnet_onnx::ValidationLimits::default().max_duration.as_secs())]
    pub max_seconds: u64,
    /// Refuse models whose intermediate tensors for one batch exceed this many MiB.
    #[arg(long, default_value_t = archnet_onnx::ValidationLimits::default().max_activation_bytes >> 20)]
    pub max_memory_mib: u64,
    /// Samples per run of the model.
    #[arg(long, default_value_t = archnet_onnx::ValidationLimits::default().batch_size)]
    pub batch_size: usize,
    /// Threads for the model's matrix products [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run the model with onnxruntime's library at this path (`libonnxruntime.so` from the
    /// onnxruntime wheel, under `onnxruntime/capi/`) instead of tract [default: tract]. The
    /// policy is checked first either way; C++ reads the model, so use it on models you trust or
    /// inside a sandbox.
    #[arg(long, env = "ARCHNET_ONNXRUNTIME")]
    pub onnxruntime: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The ONNX model.
    #[arg(long)]
    pub onnx: PathBuf,
    #[command(flatten)]
    pub data: EvalDataArgs,
    #[command(flatten)]
    pub limits: OnnxLimitArgs,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The key whose E1 encrypted the model's training data.
    #[arg(long)]
    pub key: PathBuf,
    /// The delivered ONNX model.
    #[arg(long)]
    pub onnx: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print the prediction of the first N images.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    #[command(flatten)]
    pub limits: OnnxLimitArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Table 1: accuracy on original vs ArchNet-encrypted data (AO, AE, EC), with RC4 and DP-SGD.
    Table1(Table1Args),
    /// The privacy–utility curve of `private` keys: node accuracy (EC) and instance-level
    /// leakage against post-hoc attackers, for several ε (results/privacy-utility.md).
    PrivacyUtility(PrivacyUtilityArgs),
}

/// What every experiment reads and writes.
#[derive(Debug, clap::Args)]
pub struct ExperimentArgs {
    /// mnist, fashion-mnist or cifar10.
    #[arg(long)]
    pub dataset: String,
    /// Folder holding mnist/, fashion-mnist/ and cifar10-jpeg.tar.gz.
    #[arg(long, default_value = "../shared/datasets")]
    pub data_root: PathBuf,
    /// Where the results go (table1-<dataset>.md and .csv, privacy-utility-<dataset>.md).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Scratch folder for keys, ciphertexts and checkpoints, resumed by a run with the same one
    /// (default: work/table1-<dataset>-<budget>, work/privacy-utility-<dataset>).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PrivacyUtilityArgs {
    #[command(flatten)]
    pub common: ExperimentArgs,
    /// ε values, comma-separated (`inf` for no noise).
    #[arg(long, value_delimiter = ',', default_value = "inf,512,256,128,64,16,4")]
    pub epsilons: Vec<f64>,
    /// Known pairs of the known-plaintext attacker, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    pub pairs: Vec<usize>,
    /// Publisher's training images and test images.
    #[arg(long, default_value_t = 10_000)]
    pub train_images: usize,
    #[arg(long, default_value_t = 2_000)]
    pub test_images: usize,
    /// cnn epochs (original arm and each ε) and the number of seeds.
    #[arg(long, default_value_t = 10)]
    pub cnn_epochs: usize,
    #[arg(long, default_value_t = 2)]
    pub seeds: u64,
    /// Key training epochs.
    #[arg(long, default_value_t = 10)]
    pub key_epochs: usize,
    /// Inverter training steps (batch 64).
    #[arg(long, default_value_t = 3_000)]
    pub inverter_steps: usize,
    /// Channels of the private keys' 4×4 code (1: 16 values).
    #[arg(long, default_value_t = 1)]
    pub code_channels: usize,
}

#[derive(Debug, clap::Args)]
pub struct Table1Args {
    #[command(flatten)]
    pub common: ExperimentArgs,
    /// quick (minutes, a subset), full (what results/ is made with, the cnn) or resnet (resnet-18
    /// on every training image, original and ArchNet arms, 3.2 hours an arm or more for CIFAR-10).
    #[arg(long, default_value = "quick")]
    pub budget: archnet_lab::experiment::Budget,
    /// Use this key instead of training one.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Number of seeds (default: the budget's).
    #[arg(long)]
    pub seeds: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct VisualizeArgs {
    /// The key file.
    #[arg(long)]
    pub key: std::path::PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder for encryption-grid.png.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Number of images (columns).
    #[arg(long, default_value_t = 8)]
    pub count: usize,
}

#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// Known plaintext: fit inverses of E1 (a ridge map and a network with D1's architecture) on
    /// N (image, ciphertext) pairs and apply them to other images' ciphertexts.
    KnownPlaintext(KnownPlaintextArgs),
    /// Ciphertext only: channel probes, a look-alike key's decoder, linkability.
    CiphertextOnly(CiphertextOnlyArgs),
}

/// The victims and the judge every attack command shares.
#[derive(Debug, clap::Args)]
pub struct AttackTargetArgs {
    /// The key under attack (used only to make the pairs and the victims' ciphertexts).
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Victim images (the data's last ones) whose ciphertexts are attacked.
    #[arg(long, default_value_t = 200)]
    pub victims: usize,
    /// A plain-image model folder (`archnet train` on plain data) that judges whether
    /// reconstructions are recognisable [default: train a cnn on the non-victim images].
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// Epochs of the judge trained when `--judge` is not given.
    #[arg(long, default_value_t = 2)]
    pub judge_epochs: usize,
    /// Randomised encryption (a hardening under test): Gaussian noise of this standard deviation,
    /// relative to the ciphertexts' own, added afresh to every ciphertext.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f32,
    /// Write victims and reconstructions side by side to this PNG.
    #[arg(long)]
    pub picture: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct KnownPlaintextArgs {
    #[command(flatten)]
    pub target: AttackTargetArgs,
    /// Known (image, ciphertext) pairs, the data's first N images; a list runs each.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub pairs: Vec<usize>,
    /// Inverters to fit: ridge, inverter (a network with D1's architecture), or both.
    #[arg(long, value_delimiter = ',', default_value = "ridge,inverter")]
    pub methods: Vec<archnet_lab::attack::suite::KnownPlaintextMethod>,
    /// Ridge strength, relative to the mean squared norm of a ciphertext.
    #[arg(long, default_value_t = 1e-3)]
    pub lambda: f64,
    /// Training steps of the inverter network (its compute budget, whatever N).
    #[arg(long, default_value_t = 1500)]
    pub inverter_steps: usize,
}

#[derive(Debug, clap::Args)]
pub struct CiphertextOnlyArgs {
    #[command(flatten)]
    pub target: AttackTargetArgs,
    /// The attacker's own key of the same preset, trained on public data (`archnet key train`).
    #[arg(long, requires = "public_data")]
    pub lookalike: Option<PathBuf>,
    /// Public images the attacker encrypts with the look-alike key to learn its channel
    /// statistics (e.g. another dataset of the same shape).
    #[arg(long, requires = "lookalike")]
    pub public_data: Option<PathBuf>,
    /// Which split of the public data.
    #[arg(long, default_value = "train")]
    pub public_split: Split,
    /// How many public images.
    #[arg(long, default_value_t = 2000)]
    pub public_limit: usize,
}

/// How much leakage the publisher accepts (see `archnet audit`).
#[derive(Debug, Clone, clap::Args)]
pub struct LeakageArgs {
    /// Largest share of victims an attack may re-identify (its reconstruction nearest its own
    /// image among all victims), in percent or as a fraction; only attacks that also beat the
    /// class-mean image are held to it.
    #[arg(long, default_value = "5", value_parser = fraction)]
    pub max_reidentification: f64,
    /// Largest SSIM gain of any attack's reconstructions over the class-mean image.
    #[arg(long, default_value_t = 0.05)]
    pub max_ssim_gain: f64,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The key to audit.
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub leakage: LeakageArgs,
    /// Write victims and the attacks' reconstructions to this PNG.
    #[arg(long)]
    pub picture: Option<PathBuf>,
}

// The marketplace commands (server, publisher, node, admin, bench).

/// Which server to talk to, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server URL.
    #[arg(long, env = "ARCHNET_SERVER", default_value = archnet_market::DEFAULT_SERVER)]
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
    /// Run submitted models with onnxruntime's library at this path (`libonnxruntime.so` from
    /// the onnxruntime wheel) instead of tract, inside the sandbox [default: tract].
    #[arg(long, env = "ARCHNET_VALIDATION_ONNXRUNTIME")]
    pub validation_onnxruntime: Option<PathBuf>,
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
    pub role: archnet_market::types::Role,
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
    #[arg(long, value_parser = fraction)]
    pub min_accuracy: f64,
    /// The task fails and the fee is refunded if no node has taken it by then (e.g. 2h, 30m);
    /// a contest closes then, and the best private-part score over the bar is paid.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deadline: Option<std::time::Duration>,
    /// `first`: one node at a time, the first model over the bar is paid. `contest`: up to
    /// --max-nodes nodes compete until --deadline on a leaderboard with a hidden private part.
    #[arg(long, default_value = "first")]
    pub mode: TaskMode,
    /// Contest: nodes that may hold a lease at the same time [default: the server's, 8].
    #[arg(long, requires = "deadline")]
    pub max_nodes: Option<u32>,
    /// Contest: submissions one node may make [default: the server's, 3].
    #[arg(long, requires = "deadline")]
    pub submission_limit: Option<u32>,
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
    pub leakage: LeakageArgs,
    /// Publish even when the audit exceeds the thresholds (you have read what leaks).
    #[arg(long)]
    pub accept_leakage: bool,
    /// Upload the audit's picture with its numbers, to show on the task's dashboard page. It
    /// holds plain victim images beside their reconstructions: the server's operator sees them.
    #[arg(long)]
    pub share_audit_picture: bool,
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
    pub recipe: RecipeArgs,
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
    /// train-resnet18-encrypted, train-resnet18-cifar, train-resnet18-table1 (on paper-cifar
    /// ciphertexts, 10×64×64), validate-onnx-KIND (tract in process),
    /// validate-onnx-KIND-onnxruntime (onnxruntime in process) or validate-sandboxed-KIND and
    /// validate-sandboxed-KIND-onnxruntime (the server's sandboxed child, start-up included),
    /// KIND being cnn or resnet18.
    pub name: String,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Untimed steps first (allocation, caches).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// validate-*: also write the ONNX model it runs here (for onnxruntime).
    #[arg(long)]
    pub onnx_out: Option<PathBuf>,
    /// validate-*-onnxruntime: onnxruntime's library (`libonnxruntime.so` from the onnxruntime
    /// wheel).
    #[arg(long, env = "ARCHNET_ONNXRUNTIME")]
    pub onnxruntime: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchMarketArgs {
    /// Simulated nodes (concurrent clients, one token each); several, comma-separated, run one
    /// after the other (`200,500,1000`).
    #[arg(long, value_delimiter = ',', default_value = "200")]
    pub nodes: Vec<usize>,
    /// Tiny tasks to publish and complete in each run (default: twice the nodes).
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Heartbeats each node sends per lease.
    #[arg(long, default_value_t = 2)]
    pub heartbeats: usize,
    /// Also run against this PostgreSQL database (emptied first!), with one server and with two
    /// replicas sharing it; SQLite always runs.
    #[arg(long, env = "ARCHNET_BENCH_POSTGRES")]
    pub postgres: Option<String>,
    /// Stop the run after this many seconds whatever its state.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
}
