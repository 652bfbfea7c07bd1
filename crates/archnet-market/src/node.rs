//! The compute node's side: advertise capabilities, lease a task, keep the lease alive with
//! heartbeats, download the encrypted training split (resumable, verified), train (a built-in
//! recipe or the owner's own program), upload the ONNX model and hand it in.
//!
//! A node killed at any point costs only time: its lease expires and another node takes the
//! task; the chunks it downloaded stay on its disk for its next try.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use archnet_model::classify::ClassifierTrainConfig;
use archnet_model::trainjob::{self, TrainJob};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::states::SubmissionState;
use crate::types::{Capabilities, LeaseGrant, LeaseRequest, SubmissionInfo, SubmitRequest};

/// How the node trains its private model D2.
#[derive(Debug, Clone)]
pub enum Trainer {
    /// archnet's own base model and recipe (`cnn`, `resnet18`, …).
    Builtin {
        /// The base model.
        model: String,
        /// Its recipe: epochs, batch size, learning rate, seed.
        config: ClassifierTrainConfig,
    },
    /// An external program, run as `sh -c 'CMD "$ARCHNET_DATASET" "$ARCHNET_ONNX"'`: it gets the
    /// encrypted dataset folder and must write an ONNX model to the second path. The node's
    /// owner keeps their training code to themselves; only the ONNX leaves.
    External(String),
}

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Downloads, checkpoints and models go here (a task's dataset is kept, so a task leased
    /// again resumes its download).
    pub work_dir: PathBuf,
    /// What the node offers; the server leases it only tasks whose requirements these meet.
    pub capabilities: Capabilities,
    /// How it trains.
    pub trainer: Trainer,
    /// Stop after one task has been handed in (whatever the verdict).
    pub once: bool,
    /// Pause between lease attempts when the queue is empty.
    pub poll: Duration,
    /// Stop after this long without a task.
    pub max_idle: Option<Duration>,
}

/// What became of one leased task.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The lease the node worked under.
    pub lease: LeaseGrant,
    /// `None` when the lease was lost before the model could be handed in.
    pub submission: Option<SubmissionInfo>,
}

/// The line `archnet node` prints for each lease it worked.
impl std::fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lease = &self.lease;
        match &self.submission {
            Some(s) => write!(
                f,
                "task {} (lease {}): submission {} {}{}",
                lease.task_id,
                lease.lease_id,
                s.id,
                s.state,
                match (s.accuracy, s.public_accuracy) {
                    (Some(a), _) => format!(" at {:.2}% validation accuracy", 100.0 * a),
                    (None, Some(p)) => format!(
                        " at {:.2}% on the public part (the private part ranks it at the deadline)",
                        100.0 * p
                    ),
                    (None, None) => String::new(),
                }
            ),
            None => write!(
                f,
                "task {} (lease {}): lease lost before the model was handed in",
                lease.task_id, lease.lease_id
            ),
        }
    }
}

/// This machine's cores and memory and the backends this build can train with, where the node's
/// owner has not said what to advertise instead (`cores`, `memory_mb`; `extra_backends` are
/// added).
pub fn capabilities(
    cores: Option<u32>,
    memory_mb: Option<u64>,
    extra_backends: &[String],
) -> Capabilities {
    let mut detected = detect_capabilities();
    detected.cores = cores.unwrap_or(detected.cores);
    detected.memory_mb = memory_mb.unwrap_or(detected.memory_mb);
    detected.backends.extend(extra_backends.iter().cloned());
    detected
}

/// This machine's cores and memory, and the backends this build can train with.
pub fn detect_capabilities() -> Capabilities {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    Capabilities {
        cores,
        memory_mb,
        // Default builds train on burn's pure-Rust CPU backend; `archnet node --backend` adds others.
        backends: vec!["flex".to_string()],
    }
}

/// Leases and works tasks until the queue stays empty for `max_idle`, or after one task when
/// `once`. Returns what happened to each task.
pub async fn run(client: &Client, options: &NodeOptions) -> Result<Vec<TaskOutcome>> {
    let mut outcomes = Vec::new();
    let mut idle_since = Instant::now();
    loop {
        let request = LeaseRequest {
            capabilities: options.capabilities.clone(),
        };
        let grant = client.lease(&request).await?;
        let Some(grant) = grant else {
            if options.max_idle.is_some_and(|m| idle_since.elapsed() > m) {
                tracing::info!("no task for {:?}; stopping", idle_since.elapsed());
                return Ok(outcomes);
            }
            tokio::time::sleep(options.poll).await;
            continue;
        };
        tracing::info!(
            lease = %grant.lease_id,
            task = %grant.task_id,
            "leased `{}` ({} training samples of {:?}, fee {}, bar {:.1}%)",
            grant.task_name,
            grant.train_samples,
            grant.sample_shape,
            grant.fee,
            100.0 * grant.min_accuracy
        );
        let outcome = work_lease(client, options, grant).await?;
        outcomes.push(outcome);
        idle_since = Instant::now();
        if options.once {
            return Ok(outcomes);
        }
    }
}

/// Works one leased task to a submission (and its verdict).
async fn work_lease(
    client: &Client,
    options: &NodeOptions,
    grant: LeaseGrant,
) -> Result<TaskOutcome> {
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat_loop(client.clone(), grant.clone(), lost.clone()));
    let result = train_and_submit(client, options, &grant, &lost).await;
    heartbeat.abort();
    let submission = match result {
        Ok(s) => s,
        Err(ClientError::Remote {
            status: 409,
            message,
        }) => {
            tracing::warn!(lease = %grant.lease_id, "the lease was lost: {message}");
            None
        }
        Err(e) => return Err(e),
    };
    Ok(TaskOutcome {
        lease: grant,
        submission,
    })
}

async fn heartbeat_loop(client: Client, grant: LeaseGrant, lost: Arc<AtomicBool>) {
    let every = Duration::from_millis(grant.heartbeat_ms.max(100));
    loop {
        tokio::time::sleep(every).await;
        match client.heartbeat(&grant.lease_id).await {
            Ok(_) => {}
            Err(ClientError::Remote {
                status: 409,
                message,
            }) => {
                tracing::warn!(lease = %grant.lease_id, "heartbeat refused: {message}");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(lease = %grant.lease_id, "heartbeat failed: {e}"),
        }
    }
}

async fn train_and_submit(
    client: &Client,
    options: &NodeOptions,
    grant: &LeaseGrant,
    lost: &AtomicBool,
) -> Result<Option<SubmissionInfo>> {
    let lease_dir = options.work_dir.join(&grant.task_id);
    let dataset_dir = lease_dir.join("dataset");
    tokio::fs::create_dir_all(&dataset_dir)
        .await
        .map_err(|e| ClientError::io(&dataset_dir, e))?;

    let started = Instant::now();
    let listing = client.lease_files(&grant.lease_id).await?;
    let total: u64 = listing.files.iter().map(|f| f.size).sum();
    for file in &listing.files {
        client
            .download_lease_file(&grant.lease_id, file, &dataset_dir)
            .await?;
    }
    let download_ms = started.elapsed().as_millis() as u64;
    tracing::info!(lease = %grant.lease_id, "downloaded {total} bytes in {download_ms} ms");

    // The dataset is kept per task (a task leased again resumes its download); the model and
    // its checkpoints per lease.
    let run_dir = lease_dir.join(&grant.lease_id);
    tokio::fs::create_dir_all(&run_dir)
        .await
        .map_err(|e| ClientError::io(&run_dir, e))?;
    let onnx_path = run_dir.join("model.onnx");
    let started = Instant::now();
    train(&options.trainer, &dataset_dir, &onnx_path).await?;
    let train_ms = started.elapsed().as_millis() as u64;
    tracing::info!(lease = %grant.lease_id, "trained in {train_ms} ms");
    if lost.load(Ordering::SeqCst) {
        return Ok(None);
    }

    let started = Instant::now();
    let upload = client
        .upload_file(&onnx_path, "model.onnx", None, &mut |_| {})
        .await?;
    let upload_ms = started.elapsed().as_millis() as u64;
    let request = SubmitRequest {
        upload_id: upload.id,
        download_ms,
        train_ms,
        upload_ms,
    };
    let submitted = match client.submit(&grant.lease_id, &request).await {
        Ok(s) => s,
        // A retry after a lost answer: the first try went through, and the lease holds it.
        Err(e @ ClientError::Remote { status: 409, .. }) => {
            client.submission(&grant.lease_id).await.map_err(|_| e)?
        }
        Err(e) => return Err(e),
    };
    tracing::info!(submission = %submitted.id, "model handed in; waiting for validation");
    loop {
        let s = client.submission(&grant.lease_id).await?;
        // A contest entry is `scored` until the deadline ranks it: the node need not wait.
        if matches!(
            s.state,
            SubmissionState::Accepted | SubmissionState::Rejected | SubmissionState::Scored
        ) {
            return Ok(Some(s));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn train(trainer: &Trainer, dataset: &Path, onnx: &Path) -> Result<()> {
    match trainer {
        Trainer::Builtin { model, config } => {
            let (model, dataset, onnx) = (model.clone(), dataset.to_path_buf(), onnx.to_path_buf());
            let config = config.clone();
            tokio::task::spawn_blocking(move || train_builtin(&model, &config, &dataset, &onnx))
                .await
                .map_err(|source| ClientError::Stopped {
                    what: "training",
                    source,
                })?
        }
        Trainer::External(command) => {
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{command} \"$ARCHNET_DATASET\" \"$ARCHNET_ONNX\""))
                .env("ARCHNET_DATASET", dataset)
                .env("ARCHNET_ONNX", onnx)
                .kill_on_drop(true)
                .status()
                .await
                .map_err(|e| ClientError::Trainer {
                    command: command.clone(),
                    failure: format!("could not start: {e}"),
                })?;
            if !status.success() {
                return Err(ClientError::Trainer {
                    command: command.clone(),
                    failure: format!("exited with {status}"),
                });
            }
            if !onnx.is_file() {
                return Err(ClientError::Trainer {
                    command: command.clone(),
                    failure: format!("wrote no {}", onnx.display()),
                });
            }
            Ok(())
        }
    }
}

/// The built-in recipe: train a base model on the encrypted training split, export ONNX.
fn train_builtin(
    model: &str,
    config: &ClassifierTrainConfig,
    dataset: &Path,
    onnx: &Path,
) -> Result<()> {
    // What `archnet train` then `archnet export` do (exporting the model in memory); the dataset folder holds the train split
    // only (a node never receives the validation split), so nothing is validated here.
    let run = onnx.with_extension("ckpt");
    let job = TrainJob {
        model: model.to_string(),
        data: dataset.to_path_buf(),
        limit: None,
        config: config.clone(),
        out: run.clone(),
        resume: false,
    };
    let trained = trainjob::train(&job, &mut |_| {})?;
    archnet_onnx::export::export_trained(trained, onnx)?;
    Ok(())
}
