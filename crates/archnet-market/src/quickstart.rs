//! The quickstart's story (`archnet quickstart`), on a small real sample embedded in the binary
//! (1,000 MNIST training and 200 test images), so it runs from a fresh clone with no other
//! files: a publisher trains a key and publishes the encrypted sample as a paid task on a
//! marketplace server (SQLite, local blob store, on loopback); two compute nodes compete for it,
//! one of them killed mid-task so the other takes over once its lease expires; the server
//! validates the returned ONNX model on the encrypted validation split, pays the node and
//! delivers the model; the publisher classifies plain images with it. Every figure told is
//! measured. [`run`] tells the story as [`Scene`]s and returns what it measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use archnet_api::states::{LeaseState, SubmissionState};
use archnet_api::types::{LedgerEntry, Role, SubmissionInfo, TaskInfo};
use archnet_data::encrypted::Storage;
use archnet_data::{DataSource, DatasetSummary, Split};
use archnet_lab::attack::audit::LeakageThresholds;
use archnet_model::KeyMetadata;
use archnet_model::classify::ClassifierTrainConfig;
use archnet_model::keyjob::{self, KeyEvent, KeyInfo, KeyJob};
use archnet_model::train::{Loss, Recipe};
use archnet_onnx::predict::{self, PredictReport, Prediction};
use archnet_onnx::{ModelPolicy, ValidationLimits};
use archnet_server::server::{AppState, LocalServer, ServerConfig};

use crate::client::Client;
use crate::error::ClientError;
use crate::node::{self, NodeOptions, Trainer};
use crate::publisher::{self, AuditGate, PublishEvent, PublishOptions, Published};
use crate::types::Requirements;

/// The embedded sample: (file name, bytes). See `samples/mnist-sample/README.md` (CC BY-SA 3.0).
const SAMPLE: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../samples/mnist-sample/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../samples/mnist-sample/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../samples/mnist-sample/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../samples/mnist-sample/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// Epochs of key training on the 1,000-image sample (measured: about a minute on 2 cores).
const KEY_EPOCHS: usize = 12;
/// Epochs the compute nodes train their cnn on the encrypted sample.
const NODE_EPOCHS: usize = 3;
/// Node A is killed a few seconds into its training; it is given far more epochs than it could
/// finish in that time on any machine, so that the kill always lands mid-task (with 3 epochs it
/// once finished and handed in its model before the kill, after the CPU kernels got faster).
const NODE_A_EPOCHS: usize = 1000;
/// Seconds a lease lives without a heartbeat (short, so the dead node's task comes back soon).
pub const LEASE_TTL_S: u64 = 5;
/// The task's fee (credits).
pub const FEE: i64 = 10;
/// The validation accuracy the model must reach.
pub const MIN_ACCURACY: f64 = 0.5;
/// Images of the test split the publisher's predictions show one by one.
const SHOWN_PREDICTIONS: usize = 5;

/// Where the story runs.
#[derive(Debug, Clone)]
pub struct QuickstartOptions {
    /// Keep every file here; `None`: a temporary folder, removed at the end.
    pub work_dir: Option<PathBuf>,
    /// A labeled release with a test split to use instead of the embedded sample.
    pub data: Option<PathBuf>,
    /// The `archnet` executable, run as node A (a separate process, so it can be killed).
    pub node_program: PathBuf,
}

/// What happens, in order. Each displays as its line of the story, except `Key` and `Publish`,
/// which carry the key training's and the publish workflow's own events.
pub enum Scene<'a> {
    /// A numbered step begins.
    Step(usize, &'static str),
    /// A line of the timeline, at these seconds since the start.
    Timeline(f64, String),
    /// The plain dataset.
    Dataset(&'a Path, &'a DatasetSummary),
    /// Key training.
    Key(KeyEvent<'a>),
    /// The key file written.
    KeyFile(&'a KeyInfo),
    /// Publishing.
    Publish(PublishEvent<'a>),
    /// The task opened.
    Opened(&'a TaskInfo, &'a Path),
    /// The model, delivered.
    Delivered(&'a publisher::Delivered),
    /// The task after delivery.
    Task(&'a TaskInfo),
    /// One of the publisher's predictions (the first few).
    Prediction(&'a Prediction),
    /// The predictions' accuracy.
    Predicted(&'a PredictReport),
    /// The ledger's entries.
    Ledger(&'a [LedgerEntry]),
    /// An account's balance.
    Balance(&'a str, i64),
    /// The summary and what the story does and does not protect.
    Summary(&'a QuickstartReport),
}

/// What the story measured.
pub struct QuickstartReport {
    /// The key, as written.
    pub key: KeyMetadata,
    /// Node B's accepted submission.
    pub submission: SubmissionInfo,
    /// The publisher's predictions on the test split.
    pub predictions: PredictReport,
    /// Wall seconds of the whole story.
    pub seconds: f64,
    /// Whether the files were in a temporary folder (removed at the end).
    pub temporary: bool,
}

/// Why the story stopped.
#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    /// A marketplace call, the publish workflow or the node failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Key training or a key file failed.
    #[error(transparent)]
    Key(#[from] archnet_model::ModelError),
    /// The publisher's predictions failed.
    #[error(transparent)]
    Predict(#[from] archnet_onnx::HandOffError),
    /// The delivered model could not be read.
    #[error(transparent)]
    Model(#[from] archnet_onnx::OnnxError),
    /// The embedded server failed.
    #[error(transparent)]
    Server(#[from] archnet_server::ServerError),
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// A folder, a log or the runtime could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The story did not go as told (node A died early, node B's model was refused, …).
    #[error("{0}")]
    Plot(String),
}

type Result<T> = std::result::Result<T, QuickstartError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> QuickstartError {
    let what = what.into();
    move |source| QuickstartError::Io { what, source }
}

/// Writes the embedded sample into `dir`; returns `dir`.
pub fn write_sample(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    for (name, bytes) in SAMPLE {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(dir.to_path_buf())
}

/// The four accounts of the story, with their tokens.
struct Accounts {
    publisher: String,
    node_a: String,
    node_b: String,
    admin: String,
}

/// Tells the story into `tell`; returns what it measured.
// Why one function: it is the story the quickstart tells, in its order; every step's work is a call
// of its own (`key_job`, `start_server`, `publisher::publish`, `kill_node_a`, `node_b`, `classify`)
// and what is left here is the telling.
pub fn run(
    options: &QuickstartOptions,
    tell: &mut (dyn FnMut(Scene) + Send),
) -> Result<QuickstartReport> {
    let started = Instant::now();
    let temp;
    let work: PathBuf = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(io("creating a temporary folder"))?;
            temp.path().to_path_buf()
        }
    };
    let say = |tell: &mut dyn FnMut(Scene), what: String| {
        tell(Scene::Timeline(started.elapsed().as_secs_f64(), what))
    };
    let data = match &options.data {
        Some(d) => d.clone(),
        None => write_sample(&work.join("sample"))?,
    };

    tell(Scene::Step(
        1,
        "the plain dataset (the publisher's private images)",
    ));
    let train = DataSource::new(&data, Split::Train);
    tell(Scene::Dataset(&data, &DatasetSummary::of(&train.load()?)));

    tell(Scene::Step(
        2,
        "train a key: H-encoder E1 + L-decoder D1 as an identity map (stays with the publisher)",
    ));
    let key_path = work.join("sample.key");
    let meta = keyjob::run(&key_job(train, &key_path, &work), &mut |e| {
        tell(Scene::Key(e))
    })?;
    tell(Scene::KeyFile(&KeyInfo::read(&key_path)?));
    say(tell, "key trained".into());

    tell(Scene::Step(
        3,
        "start the marketplace server (SQLite, local blob store, 127.0.0.1) and make accounts",
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;
    let (server, accounts) = runtime.block_on(start_server(&work))?;
    let url = server.url.clone();
    say(
        tell,
        format!("server on {url}; accounts: publisher (100 credits), node-a, node-b, admin"),
    );

    tell(Scene::Step(
        4,
        "the publisher encrypts locally, uploads the ciphertexts and opens a paid task",
    ));
    let publisher = Client::new(&url, &accounts.publisher)?;
    let publish_dir = work.join("publish");
    let options_publish = publish_options(&key_path, &data, &publish_dir);
    let task = match publisher::publish(&publisher, &options_publish, &mut |e| {
        tell(Scene::Publish(e))
    })? {
        Published::Opened(task) => *task,
        Published::Refused(_) => {
            return Err(QuickstartError::Plot(
                "the audit refused the sample, though the quickstart accepts the leakage".into(),
            ));
        }
    };
    tell(Scene::Opened(&task, &publish_dir));
    say(
        tell,
        format!("task {} open, fee {FEE} credits in escrow", task.id),
    );

    tell(Scene::Step(
        5,
        "node A (a separate process) leases the task, starts training, and is killed",
    ));
    kill_node_a(
        options,
        &work,
        &url,
        &accounts.node_a,
        &task,
        &publisher,
        &runtime,
        &mut |w| say(tell, w),
    )?;

    tell(Scene::Step(
        6,
        "node B takes the task over, trains on ciphertexts, hands back ONNX; the server validates and pays",
    ));
    let submission = runtime.block_on(node_b(&url, &accounts.node_b, &work))?;
    say(
        tell,
        format!(
            "node B's model {}: {:.2}% on the {} encrypted validation samples (bar {:.0}%)",
            submission.state,
            100.0 * submission.accuracy.unwrap_or(0.0),
            task.validation_samples,
            100.0 * MIN_ACCURACY
        ),
    );
    if submission.state != SubmissionState::Accepted {
        return Err(QuickstartError::Plot(format!(
            "the server rejected node B's model: {:?}",
            submission.report
        )));
    }

    tell(Scene::Step(
        7,
        "the publisher fetches the model; the timeline and the t0 budget of §4.7",
    ));
    let onnx_path = work.join("delivered.onnx");
    let delivered = runtime.block_on(publisher::fetch_model(&publisher, &task.id, &onnx_path))?;
    tell(Scene::Delivered(&delivered));
    say(tell, "model delivered".into());
    tell(Scene::Task(&runtime.block_on(publisher.task(&task.id))?));

    tell(Scene::Step(
        8,
        "the publisher classifies new plain images: E1 with the key, then the delivered model",
    ));
    let predictions = classify(&key_path, &onnx_path, &data, &mut |p| {
        if p.index < SHOWN_PREDICTIONS {
            tell(Scene::Prediction(p))
        }
    })?;
    tell(Scene::Predicted(&predictions));

    tell(Scene::Step(9, "the ledger: escrow, payment, balances"));
    runtime.block_on(async {
        let admin = Client::new(&url, &accounts.admin)?;
        tell(Scene::Ledger(&admin.ledger(Some("all")).await?));
        for (name, token) in [
            ("publisher", &accounts.publisher),
            ("node-a", &accounts.node_a),
            ("node-b", &accounts.node_b),
        ] {
            let balance = Client::new(&url, token)?.balance().await?;
            tell(Scene::Balance(name, balance.balance));
        }
        Ok::<_, ClientError>(())
    })?;
    runtime.block_on(server.stop())?;

    tell(Scene::Step(10, "summary"));
    let report = QuickstartReport {
        key: meta,
        submission,
        predictions,
        seconds: started.elapsed().as_secs_f64(),
        temporary: options.work_dir.is_none(),
    };
    tell(Scene::Summary(&report));
    Ok(report)
}

/// The key: `auto` preset, the fast recipe, 12 epochs on the sample, measured on 200 test images.
fn key_job(data: DataSource, key_path: &Path, work: &Path) -> KeyJob {
    KeyJob {
        preset: "auto".into(),
        epsilon: f64::INFINITY,
        delta: archnet_model::privacy::DEFAULT_DELTA,
        code_channels: 1,
        data,
        out: key_path.to_path_buf(),
        recipe: Recipe::Fast,
        loss: Loss::Bce,
        learning_rate: None,
        batch_size: 32,
        epochs: KEY_EPOCHS,
        max_samples: None,
        seed: 0,
        checkpoint_dir: Some(work.join("sample.key.ckpt")),
        checkpoint_every: 0,
        resume: false,
        eval_limit: 200,
    }
}

/// The server (short leases, quick reaper) and the four accounts.
async fn start_server(work: &Path) -> Result<(LocalServer, Accounts)> {
    let config = ServerConfig {
        data_dir: work.join("server"),
        lease_ttl_s: LEASE_TTL_S,
        validation_claim_s: 5,
        reaper_interval_ms: 250,
        ..ServerConfig::default()
    };
    let state = AppState::open(config).await?;
    let db = state.db.clone();
    let server = LocalServer::start(state).await?;
    let mut tokens = Vec::new();
    for (name, role, credit) in [
        ("publisher", Role::Publisher, 100),
        ("node-a", Role::Node, 0),
        ("node-b", Role::Node, 0),
        ("admin", Role::Admin, 0),
    ] {
        tokens.push(db.create_account(name, role, credit).await?.token);
    }
    let [publisher, node_a, node_b, admin] =
        <[String; 4]>::try_from(tokens).expect("four accounts");
    Ok((
        server,
        Accounts {
            publisher,
            node_a,
            node_b,
            admin,
        },
    ))
}

/// The task: the sample's training release, fee and bar as above; the demo shows the audit and
/// goes on (a real publisher decides after reading it).
fn publish_options(key: &Path, data: &Path, work_dir: &Path) -> PublishOptions {
    PublishOptions {
        key: key.to_path_buf(),
        data: data.to_path_buf(),
        limit: None,
        work_dir: work_dir.to_path_buf(),
        name: "mnist-sample".into(),
        fee: FEE,
        min_accuracy: MIN_ACCURACY,
        deadline_s: None,
        max_attempts: None,
        requirements: Requirements {
            min_cores: 1,
            min_memory_mb: 0,
            backend: None,
        },
        storage: Storage::F32,
        split: None,
        gate: AuditGate {
            thresholds: LeakageThresholds {
                max_reidentification: 0.05,
                max_ssim_gain: 0.05,
            },
            accept_leakage: true,
            ..AuditGate::default()
        },
        contest: None,
    }
}

/// Starts node A as its own process, waits until it holds a lease, lets it train a few seconds
/// and kills it.
#[allow(clippy::too_many_arguments)] // The story's cast: each is used once.
fn kill_node_a(
    options: &QuickstartOptions,
    work: &Path,
    url: &str,
    token: &str,
    task: &TaskInfo,
    publisher: &Client,
    runtime: &tokio::runtime::Runtime,
    say: &mut dyn FnMut(String),
) -> Result<()> {
    let log = work.join("node-a.log");
    let log_file =
        std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    let mut node_a = std::process::Command::new(&options.node_program)
        .args(["node", "--once", "--epochs", &NODE_A_EPOCHS.to_string()])
        .arg("--work-dir")
        .arg(work.join("node-a"))
        .args(["--server", url, "--token", token])
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(io("starting node A"))?;
    loop {
        let t = runtime.block_on(publisher.task(&task.id))?;
        if t.leases.iter().any(|l| l.state == LeaseState::Active) {
            say("node A holds a lease and downloads the encrypted training split".into());
            break;
        }
        if let Some(status) = node_a.try_wait().map_err(io("watching node A"))? {
            return Err(QuickstartError::Plot(format!(
                "node A exited early ({status}); see {}",
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    node_a.kill().map_err(io("killing node A"))?;
    node_a.wait().map_err(io("waiting for node A"))?;
    say(format!(
        "node A killed (SIGKILL) mid-task; its lease expires {LEASE_TTL_S} s after its last heartbeat"
    ));
    Ok(())
}

/// Node B, in this process: takes the task over once node A's lease expires.
async fn node_b(url: &str, token: &str, work: &Path) -> Result<SubmissionInfo> {
    let options = NodeOptions {
        work_dir: work.join("node-b"),
        capabilities: node::detect_capabilities(),
        trainer: Trainer::Builtin {
            model: "cnn".into(),
            config: ClassifierTrainConfig {
                epochs: NODE_EPOCHS,
                ..ClassifierTrainConfig::default()
            },
        },
        once: true,
        poll: Duration::from_millis(500),
        max_idle: Some(Duration::from_secs(120)),
    };
    let outcomes = node::run(&Client::new(url, token)?, &options).await?;
    outcomes
        .into_iter()
        .next()
        .and_then(|o| o.submission)
        .ok_or_else(|| QuickstartError::Plot("node B got no task or lost its lease".into()))
}

/// The publisher's predictions on the test split with the delivered model.
fn classify(
    key_path: &Path,
    onnx_path: &Path,
    data: &Path,
    on_prediction: &mut dyn FnMut(&Prediction),
) -> Result<PredictReport> {
    let policy = ModelPolicy::default();
    // The library's limits, with validation capped at 10 minutes (the sample takes seconds).
    let limits = ValidationLimits {
        max_duration: Duration::from_secs(600),
        threads: ValidationLimits::all_cores(),
        ..ValidationLimits::default()
    };
    let test = DataSource::new(data, Split::Test);
    Ok(predict::predict_files(
        key_path,
        onnx_path,
        &test,
        &policy,
        &limits,
        on_prediction,
    )?)
}

impl std::fmt::Display for Scene<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scene::Step(n, what) => write!(f, "\n== {n}. {what}"),
            Scene::Timeline(s, what) => write!(f, "[{s:>6.1} s] {what}"),
            Scene::Dataset(path, summary) => {
                let summary = summary.to_string();
                write!(
                    f,
                    "dataset: {} (train split)\n{}",
                    path.display(),
                    summary.trim_end()
                )
            }
            Scene::Key(e) => write!(f, "{e}"),
            Scene::KeyFile(info) => write!(f, "{info}"),
            Scene::Publish(_) => Ok(()),
            Scene::Opened(task, dir) => write!(f, "{}", publisher::Opened(task, dir)),
            Scene::Delivered(d) => write!(f, "{d}"),
            Scene::Task(task) => write!(f, "{task}"),
            Scene::Prediction(p) => write!(f, "{p}"),
            Scene::Predicted(r) => write!(f, "{r}"),
            Scene::Ledger(entries) => {
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Scene::Balance(name, credits) => write!(f, "balance of {name}: {credits} credits"),
            Scene::Summary(r) => write!(f, "{r}"),
        }
    }
}

/// The summary: the key's quality, who was paid, the time, and what is and is not protected
/// (as measured in results/, not as the paper claims).
impl std::fmt::Display for QuickstartReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.key.reconstruction {
            writeln!(
                f,
                "key {} ({} preset): held-out reconstruction {:.2} dB PSNR, SSIM {:.3} on {} test images",
                self.key.key_id,
                self.key.architecture.preset,
                r.quality.psnr_db,
                r.quality.ssim,
                r.quality.count
            )?;
        }
        writeln!(
            f,
            "node A died mid-task and earned nothing; node B finished it and was paid {FEE} credits once"
        )?;
        writeln!(f, "total: {:.0} s", self.seconds)?;
        writeln!(f)?;
        writeln!(
            f,
            "What this protects: the images and the key never leave the publisher; nodes see ciphertexts"
        )?;
        writeln!(
            f,
            "of the training split only, and no node ever receives the validation split."
        )?;
        writeln!(
            f,
            "What it does not: the leakage audit above is what an attacker recovers from this key's"
        )?;
        writeln!(
            f,
            "ciphertexts; with 10 known pairs a small network inverts E1, and ciphertexts alone show"
        )?;
        writeln!(
            f,
            "the image (results/security.md). It is obfuscation, not encryption: read"
        )?;
        writeln!(
            f,
            "docs/threat-model.md before publishing data you must keep secret."
        )?;
        writeln!(
            f,
            "For data that must stay private, train a `private` key instead (`archnet key train --preset"
        )?;
        writeln!(
            f,
            "private --epsilon E`): fresh noise in every ciphertext, a per-image (ε, δ) guarantee, and"
        )?;
        write!(
            f,
            "what it costs in accuracy, ε by ε, in results/privacy-utility.md."
        )?;
        if self.temporary {
            write!(
                f,
                "\n(the temporary folder is removed now; pass --work-dir DIR to keep the files)"
            )?;
        }
        Ok(())
    }
}
