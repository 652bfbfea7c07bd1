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
use archnet_api::types::{Leaderboard, LedgerEntry, Role, SubmissionInfo, TaskInfo};
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
use crate::publisher::{self, AuditGate, ContestOptions, PublishEvent, PublishOptions, Published};
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
/// The contest closes this long after it opens: time for both nodes to train at once on two
/// cores and be scored (the quickstart test, a debug build with optimised dependencies, sees
/// both on the leaderboard before it on this 2-core VM); a release build waits the longer.
pub const CONTEST_DEADLINE_S: u64 = 60;
/// Epochs of the contest's nodes: A trains less than B, so the leaderboard has an order.
const CONTEST_EPOCHS: [usize; 2] = [1, NODE_EPOCHS];

/// Where the story runs.
#[derive(Debug, Clone)]
pub struct QuickstartOptions {
    /// Keep every file here; `None`: a temporary folder, removed at the end.
    pub work_dir: Option<PathBuf>,
    /// A labeled release with a test split to use instead of the embedded sample.
    pub data: Option<PathBuf>,
    /// The `archnet` executable, run as node A (a separate process, so it can be killed).
    pub node_program: PathBuf,
    /// Tell the contest variant: two nodes compete on one task until its deadline, and the
    /// best private-part score is paid.
    pub contest: bool,
    /// Keep the server up at the end, until Ctrl-C, so a person can open the dashboard.
    pub keep_serving: bool,
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
    /// Where a person can watch the marketplace while it runs, and the tokens to sign in with
    /// (the local server's own accounts).
    Dashboard {
        /// The server's address.
        url: &'a str,
        /// The publisher's token.
        publisher: &'a str,
        /// The admin's token.
        admin: &'a str,
    },
    /// A contest's leaderboard, as `who` sees it.
    Leaderboard(&'a str, &'a Leaderboard),
    /// The server stays up until Ctrl-C (`--keep-serving`).
    Serving(&'a str),
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
    /// Which story was told.
    pub contest: bool,
    /// The node that was paid.
    pub paid_node: String,
    /// Its accepted submission.
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
        if options.contest {
            "the publisher encrypts locally, uploads the ciphertexts and opens a contest"
        } else {
            "the publisher encrypts locally, uploads the ciphertexts and opens a paid task"
        },
    ));
    let publisher = Client::new(&url, &accounts.publisher)?;
    let publish_dir = work.join("publish");
    let options_publish = publish_options(&key_path, &data, &publish_dir, options.contest);
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
    tell(Scene::Dashboard {
        url: &url,
        publisher: &accounts.publisher,
        admin: &accounts.admin,
    });

    let (paid_node, submission) = if options.contest {
        contest(&url, &accounts, &task, &work, &runtime, tell, started)?
    } else {
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
        ("node-b".to_string(), submission)
    };

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
    if options.keep_serving {
        // Listening before telling: a Ctrl-C right after the line must not kill the process.
        let interrupted = interrupt_listener(&runtime)?;
        tell(Scene::Serving(&url));
        runtime.block_on(interrupted);
    }
    runtime.block_on(server.stop())?;

    tell(Scene::Step(10, "summary"));
    let report = QuickstartReport {
        key: meta,
        contest: options.contest,
        paid_node,
        submission,
        predictions,
        seconds: started.elapsed().as_secs_f64(),
        temporary: options.work_dir.is_none(),
    };
    tell(Scene::Summary(&report));
    Ok(report)
}

/// A future that completes at the next Ctrl-C (SIGINT) or SIGTERM, listening from now on.
fn interrupt_listener(
    runtime: &tokio::runtime::Runtime,
) -> Result<impl std::future::Future<Output = ()>> {
    let _context = runtime.enter();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = io("listening for Ctrl-C");
        let mut interrupt = signal(SignalKind::interrupt()).map_err(listen)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(io("listening for SIGTERM"))?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
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
/// A contest: two nodes at once, one submission each, closing [`CONTEST_DEADLINE_S`] after it
/// opens.
fn publish_options(key: &Path, data: &Path, work_dir: &Path, contest: bool) -> PublishOptions {
    PublishOptions {
        key: key.to_path_buf(),
        data: data.to_path_buf(),
        limit: None,
        work_dir: work_dir.to_path_buf(),
        name: if contest {
            "mnist-sample contest"
        } else {
            "mnist-sample"
        }
        .into(),
        fee: FEE,
        min_accuracy: MIN_ACCURACY,
        deadline_s: contest.then_some(CONTEST_DEADLINE_S),
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
        contest: contest.then_some(ContestOptions {
            max_nodes: Some(2),
            submission_limit: Some(1),
        }),
        // The sample is public MNIST: the demo shows the picture on the task's page.
        share_audit_picture: true,
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
    builtin_node(url, token, &work.join("node-b"), NODE_EPOCHS, "node B").await
}

/// A node in this process that leases one task, trains the built-in cnn for `epochs` and
/// hands it in; returns its submission with the verdict.
async fn builtin_node(
    url: &str,
    token: &str,
    work_dir: &Path,
    epochs: usize,
    name: &str,
) -> Result<SubmissionInfo> {
    let options = NodeOptions {
        work_dir: work_dir.to_path_buf(),
        capabilities: node::detect_capabilities(),
        trainer: Trainer::Builtin {
            model: "cnn".into(),
            config: ClassifierTrainConfig {
                epochs,
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
        .ok_or_else(|| QuickstartError::Plot(format!("{name} got no task or lost its lease")))
}

/// Steps 5 and 6 of the contest: both nodes lease the contest at once and hand in their models,
/// scored on the public part (the leaderboard as a node sees it: private scores hidden); at the
/// deadline the server settles it once and pays the best private score. Returns the paid node's
/// name and its submission.
fn contest(
    url: &str,
    accounts: &Accounts,
    task: &TaskInfo,
    work: &Path,
    runtime: &tokio::runtime::Runtime,
    tell: &mut (dyn FnMut(Scene) + Send),
    started: Instant,
) -> Result<(String, SubmissionInfo)> {
    let say = |tell: &mut dyn FnMut(Scene), what: String| {
        tell(Scene::Timeline(started.elapsed().as_secs_f64(), what))
    };
    tell(Scene::Step(
        5,
        "nodes A and B lease the contest at once, train on ciphertexts and hand in ONNX",
    ));
    let [a, b] = CONTEST_EPOCHS;
    let (dir_a, dir_b) = (work.join("node-a"), work.join("node-b"));
    let (sa, sb) = runtime.block_on(async {
        tokio::join!(
            builtin_node(url, &accounts.node_a, &dir_a, a, "node A"),
            builtin_node(url, &accounts.node_b, &dir_b, b, "node B"),
        )
    });
    for (name, epochs, s) in [("node A", a, &sa), ("node B", b, &sb)] {
        match s {
            Ok(s) => say(
                tell,
                format!(
                    "{name} ({epochs} epoch(s)): model {}, {:.2}% on the public part; the private part stays hidden until the deadline",
                    s.state,
                    100.0 * s.public_accuracy.unwrap_or(0.0)
                ),
            ),
            Err(e) => say(tell, format!("{name} handed in nothing: {e}")),
        }
    }
    let node_a = Client::new(url, &accounts.node_a)?;
    tell(Scene::Leaderboard(
        "node A",
        &runtime.block_on(node_a.leaderboard(&task.id))?,
    ));

    tell(Scene::Step(
        6,
        "the deadline: the server settles the contest once and pays the best private score",
    ));
    let publisher = Client::new(url, &accounts.publisher)?;
    let settle_by = Instant::now() + Duration::from_secs(CONTEST_DEADLINE_S + 60);
    let board = loop {
        let board = runtime.block_on(publisher.leaderboard(&task.id))?;
        if board.settled {
            break board;
        }
        if Instant::now() > settle_by {
            return Err(QuickstartError::Plot(
                "the contest was not settled a minute after its deadline".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    say(tell, "deadline passed; contest settled".into());
    tell(Scene::Leaderboard("the publisher", &board));
    let settled = runtime.block_on(publisher.task(&task.id))?;
    let winner = settled
        .accepted()
        .cloned()
        .ok_or_else(|| QuickstartError::Plot(format!("no model reached the bar: {settled}")))?;
    let name = settled
        .leases
        .iter()
        .find(|l| l.id == winner.lease_id)
        .map_or_else(|| winner.node.clone(), |l| l.node_name.clone());
    Ok((name, winner))
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
            Scene::Dashboard {
                url,
                publisher,
                admin,
            } => write!(
                f,
                "dashboard: {url}/ while the server runs; sign in with the publisher's token {publisher}\n\
                 or the admin's {admin} (this local server's own accounts)"
            ),
            Scene::Leaderboard(who, board) => write!(f, "as {who} sees it:\n{board}"),
            Scene::Serving(url) => write!(
                f,
                "the server keeps serving on {url}/ (--keep-serving); press Ctrl-C to stop"
            ),
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
        if self.contest {
            writeln!(
                f,
                "two nodes competed; {} had the best private-part score and was paid {FEE} credits once",
                self.paid_node
            )?;
        } else {
            writeln!(
                f,
                "node A died mid-task and earned nothing; {} finished it and was paid {FEE} credits once",
                self.paid_node
            )?;
        }
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
