//! `archnet quickstart`: the whole story on a small real sample embedded in the binary (1,000
//! MNIST training and 200 test images), so it runs from a fresh clone with no other files: a
//! publisher trains a key and publishes the encrypted sample as a paid task on a marketplace
//! server (SQLite, local blob store, on loopback); two compute nodes compete for it, one of
//! them killed mid-task so the other takes over once its lease expires; the server validates
//! the returned ONNX model on the encrypted validation split, pays the node and delivers the
//! model; the publisher classifies plain images with it. Every figure printed is measured.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use archnet_data::Split;
use archnet_data::encrypted::Storage;
use archnet_model::train::{Loss, Recipe};

use archnet_market::client::Client;
use archnet_market::node::{self, NodeOptions, Trainer};
use archnet_market::server::{AppState, LocalServer, ServerConfig};
use archnet_market::states::{LeaseState, SubmissionState};
use archnet_market::types::{Balance, LedgerEntry, Role, TaskInfo};

use crate::cli::{
    ConnectArgs, DataArgs, FetchModelArgs, KeyTrainArgs, OnnxLimitArgs, PredictArgs, PublishArgs,
    QuickstartArgs,
};

/// The embedded sample: (file name, bytes). See `samples/mnist-sample/README.md` (CC BY-SA 3.0).
const SAMPLE: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/t10k-labels-idx1-ubyte.gz"),
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
const LEASE_TTL_S: u64 = 5;

/// The task: fee (credits) and validation accuracy the model must reach.
const FEE: i64 = 10;
const MIN_ACCURACY: f64 = 0.5;

/// The library's limits, with validation capped at 10 minutes (the sample takes seconds).
fn default_onnx_limits() -> OnnxLimitArgs {
    OnnxLimitArgs {
        max_seconds: 600,
        ..OnnxLimitArgs::default()
    }
}

/// Prints one line of the timeline, stamped with seconds since the start.
struct Timeline(Instant);

impl Timeline {
    fn say(&self, what: impl std::fmt::Display) {
        println!("[{:>6.1} s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// `archnet quickstart`
pub fn run(args: &QuickstartArgs) -> anyhow::Result<()> {
    let timeline = Timeline(Instant::now());
    let temp;
    let work: PathBuf = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary folder")?;
            temp.path().to_path_buf()
        }
    };
    let data = match &args.data {
        Some(d) => d.clone(),
        None => write_sample(&work.join("sample"))?,
    };
    step(1, "the plain dataset (the publisher's private images)");
    super::data::inspect(&data, Split::Train)?;

    step(
        2,
        "train a key: H-encoder E1 + L-decoder D1 as an identity map (stays with the publisher)",
    );
    let key_path = work.join("sample.key");
    let meta = super::key::train(&KeyTrainArgs {
        preset: "auto".into(),
        epsilon: f64::INFINITY,
        delta: archnet_model::privacy::DEFAULT_DELTA,
        code_channels: 1,
        data: data_args(&data),
        out: key_path.clone(),
        recipe: Recipe::Fast,
        loss: Loss::Bce,
        lr: None,
        batch_size: 32,
        epochs: KEY_EPOCHS,
        max_samples: None,
        seed: 0,
        checkpoint_dir: Some(work.join("sample.key.ckpt")),
        checkpoint_every: 0,
        resume: false,
        eval_limit: 200,
    })?;
    super::key::info(&key_path)?;
    timeline.say("key trained");

    step(
        3,
        "start the marketplace server (SQLite, local blob store, 127.0.0.1) and make accounts",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let config = ServerConfig {
        data_dir: work.join("server"),
        lease_ttl_s: LEASE_TTL_S,
        validation_claim_s: 5,
        reaper_interval_ms: 250,
        ..ServerConfig::default()
    };
    let (db, server) = runtime.block_on(async {
        let state = AppState::open(config).await?;
        let db = state.db.clone();
        anyhow::Ok((db, LocalServer::start(state).await?))
    })?;
    let url = server.url.clone();
    let tokens = runtime.block_on(async {
        let mut tokens = Vec::new();
        for (name, role, credit) in [
            ("publisher", Role::Publisher, 100),
            ("node-a", Role::Node, 0),
            ("node-b", Role::Node, 0),
            ("admin", Role::Admin, 0),
        ] {
            tokens.push(db.create_account(name, role, credit).await?.token);
        }
        anyhow::Ok(tokens)
    })?;
    let [publisher_token, node_a_token, node_b_token, admin_token] =
        <[String; 4]>::try_from(tokens).expect("four accounts");
    timeline.say(format!(
        "server on {url}; accounts: publisher (100 credits), node-a, node-b, admin"
    ));

    step(
        4,
        "the publisher encrypts locally, uploads the ciphertexts and opens a paid task",
    );
    let publish_dir = work.join("publish");
    let task = super::market::publish(&PublishArgs {
        connect: ConnectArgs {
            server: url.clone(),
            token: publisher_token.clone(),
        },
        key: key_path.clone(),
        data: data.clone(),
        limit: None,
        fee: FEE,
        min_accuracy: MIN_ACCURACY,
        deadline: None,
        max_attempts: None,
        name: Some("mnist-sample".into()),
        work_dir: publish_dir.clone(),
        storage: Storage::F32,
        min_cores: 1,
        min_memory_mb: 0,
        backend: None,
        leakage: crate::cli::LeakageArgs {
            max_reidentification: 5.0,
            max_ssim_gain: 0.05,
        },
        // The demo shows the audit and goes on; a real publisher decides after reading it.
        accept_leakage: true,
    })?;
    timeline.say(format!(
        "task {} open, fee {FEE} credits in escrow",
        task.id
    ));
    let publisher = Client::new(&url, &publisher_token)?;
    let task_status = |publisher: &Client| -> anyhow::Result<TaskInfo> {
        Ok(runtime.block_on(publisher.get(&format!("/api/v1/tasks/{}", task.id)))?)
    };

    step(
        5,
        "node A (a separate process) leases the task, starts training, and is killed",
    );
    let exe = std::env::current_exe().context("finding the archnet executable")?;
    let node_a_log = work.join("node-a.log");
    let mut node_a = std::process::Command::new(&exe)
        .args(["node", "--once", "--epochs", &NODE_A_EPOCHS.to_string()])
        .arg("--work-dir")
        .arg(work.join("node-a"))
        .args(["--server", &url, "--token", &node_a_token])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&node_a_log)?)
        .spawn()
        .context("starting node A")?;
    loop {
        let t = task_status(&publisher)?;
        if t.leases.iter().any(|l| l.state == LeaseState::Active) {
            timeline.say("node A holds a lease and downloads the encrypted training split");
            break;
        }
        if let Some(status) = node_a.try_wait()? {
            anyhow::bail!(
                "node A exited early ({status}); see {}",
                node_a_log.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    node_a.kill().context("killing node A")?;
    node_a.wait()?;
    timeline.say(format!(
        "node A killed (SIGKILL) mid-task; its lease expires {LEASE_TTL_S} s after its last heartbeat"
    ));

    step(
        6,
        "node B takes the task over, trains on ciphertexts, hands back ONNX; the server validates and pays",
    );
    let node_options = NodeOptions {
        work_dir: work.join("node-b"),
        capabilities: node::detect_capabilities(),
        trainer: Trainer::Builtin {
            model: "cnn".into(),
            epochs: NODE_EPOCHS,
            batch_size: 64,
            learning_rate: 1e-3,
            seed: 0,
        },
        once: true,
        poll: std::time::Duration::from_millis(500),
        max_idle: Some(std::time::Duration::from_secs(120)),
    };
    let node_b = Client::new(&url, &node_b_token)?;
    let outcomes = runtime.block_on(node::run(&node_b, &node_options))?;
    let Some(submission) = outcomes.first().and_then(|o| o.submission.clone()) else {
        anyhow::bail!("node B got no task or lost its lease");
    };
    timeline.say(format!(
        "node B's model {}: {:.2}% on the {} encrypted validation samples (bar {:.0}%)",
        submission.state,
        100.0 * submission.accuracy.unwrap_or(0.0),
        task.validation_samples,
        100.0 * MIN_ACCURACY
    ));
    if submission.state != SubmissionState::Accepted {
        anyhow::bail!(
            "the server rejected node B's model: {:?}",
            submission.report
        );
    }

    step(
        7,
        "the publisher fetches the model; the timeline and the t0 budget of §4.7",
    );
    let onnx_path = work.join("delivered.onnx");
    super::market::fetch_model(&FetchModelArgs {
        connect: ConnectArgs {
            server: url.clone(),
            token: publisher_token.clone(),
        },
        task: task.id.clone(),
        out: onnx_path.clone(),
    })?;
    timeline.say("model delivered");
    super::market::print_task(&task_status(&publisher)?);

    step(
        8,
        "the publisher classifies new plain images: E1 with the key, then the delivered model",
    );
    super::onnx::predict(&PredictArgs {
        key: key_path.clone(),
        onnx: onnx_path,
        data: DataArgs {
            data: data.clone(),
            data_split: Split::Test,
            limit: None,
        },
        show: 5,
        limits: default_onnx_limits(),
    })?;

    step(9, "the ledger: escrow, payment, balances");
    let admin = Client::new(&url, &admin_token)?;
    let (entries, balances) = runtime.block_on(async {
        let entries: Vec<LedgerEntry> = admin.get("/api/v1/ledger?wallet=all").await?;
        let mut balances = Vec::new();
        for (name, token) in [
            ("publisher", &publisher_token),
            ("node-a", &node_a_token),
            ("node-b", &node_b_token),
        ] {
            let b: Balance = Client::new(&url, token)?.get("/api/v1/balance").await?;
            balances.push((name, b.balance));
        }
        anyhow::Ok((entries, balances))
    })?;
    super::market::print_ledger(&entries);
    for (name, balance) in &balances {
        println!("balance of {name}: {balance} credits");
    }
    runtime.block_on(server.stop())?;

    step(10, "summary");
    if let Some(r) = &meta.reconstruction {
        println!(
            "key {} ({} preset): held-out reconstruction {:.2} dB PSNR, SSIM {:.3} on {} test images",
            meta.key_id,
            meta.architecture.preset,
            r.quality.psnr_db,
            r.quality.ssim,
            r.quality.count
        );
    }
    println!(
        "node A died mid-task and earned nothing; node B finished it and was paid {FEE} credits once"
    );
    println!("total: {:.0} s", timeline.0.elapsed().as_secs_f64());
    println!();
    // Say what is protected as measured (results/README.md), not as the paper claims.
    println!(
        "What this protects: the images and the key never leave the publisher; nodes see ciphertexts"
    );
    println!("of the training split only, and no node ever receives the validation split.");
    println!(
        "What it does not: the leakage audit above is what an attacker recovers from this key's"
    );
    println!(
        "ciphertexts; with 10 known pairs a small network inverts E1, and ciphertexts alone show"
    );
    println!("the image (results/security.md). It is obfuscation, not encryption: read");
    println!("docs/threat-model.md before publishing data you must keep secret.");
    println!(
        "For data that must stay private, train a `private` key instead (`archnet key train --preset"
    );
    println!(
        "private --epsilon E`): fresh noise in every ciphertext, a per-image (ε, δ) guarantee, and"
    );
    println!("what it costs in accuracy, ε by ε, in results/privacy-utility.md.");
    if args.work_dir.is_none() {
        println!("(the temporary folder is removed now; pass --work-dir DIR to keep the files)");
    }
    Ok(())
}

fn step(n: usize, what: &str) {
    println!("\n== {n}. {what}");
}

fn data_args(path: &Path) -> DataArgs {
    DataArgs {
        data: path.to_path_buf(),
        data_split: Split::Train,
        limit: None,
    }
}

fn write_sample(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in SAMPLE {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    Ok(dir.to_path_buf())
}
