//! The publisher's side: audit the key on the data (nothing is encrypted for upload before the
//! publisher has seen what an attacker would recover, and a key over the thresholds is refused
//! unless the publisher accepts the leakage), encrypt locally (the key never leaves), upload the
//! training and validation splits as resumable checksummed uploads, open the task, and fetch the
//! model.
//!
//! Everything lands in a work folder with a small state file, so `archnet publish` run again
//! after an interruption skips the encryption and the chunks already uploaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use archnet_data::encrypted::{MANIFEST_FILE, Manifest, Storage};
use archnet_data::{Split, open_dataset};
use archnet_lab::attack::audit::{AuditConfig, AuditReport, LeakageThresholds, run_audit};
use archnet_model::pipeline::{EncryptOptions, SplitRatio, encrypt_dataset};
use archnet_model::{KeyFile, KeyMetadata, device};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{MarketError, Result};
use crate::states::TaskState;
use crate::types::{CreateTaskRequest, DeliveryReport, FileRef, Requirements, TaskInfo};

/// File in the work folder that remembers what was done.
const STATE_FILE: &str = "publish-state.json";

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub key: PathBuf,
    /// Plain dataset (its `train` release is published).
    pub data: PathBuf,
    /// Publish only the first images.
    pub limit: Option<usize>,
    /// Where the ciphertexts and the state file go.
    pub work_dir: PathBuf,
    pub name: String,
    pub fee: i64,
    pub min_accuracy: f64,
    pub deadline_s: Option<u64>,
    pub max_attempts: Option<u32>,
    pub requirements: Requirements,
    pub storage: Storage,
    /// Train/validation split; the paper's 6:1 (28×28) or 5:1 by default.
    pub split: Option<SplitRatio>,
    /// The leakage audit run before encrypting.
    pub gate: AuditGate,
}

/// The leakage audit [`prepare`] runs before it encrypts anything for upload (by default: the
/// default thresholds and audit, leakage not accepted).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AuditGate {
    pub thresholds: LeakageThresholds,
    /// Publish even when the audit exceeds the thresholds (the publisher has seen the numbers).
    pub accept_leakage: bool,
    pub config: AuditConfig,
}

/// The audit as [`prepare`] ran it.
pub struct Audit {
    pub report: AuditReport,
    /// The key's metadata (id, preset) the audit was run on.
    pub key: KeyMetadata,
    /// Thresholds exceeded, in words (empty: within them).
    pub violations: Vec<String>,
}

/// What [`prepare`] did.
pub enum Prepared {
    /// Encrypted and split, ready for [`upload_and_open`]; `audit` is `None` when an earlier run
    /// had already prepared the work folder.
    Ready { t1_ms: u64, audit: Option<Audit> },
    /// The audit exceeded the thresholds and the publisher did not accept the leakage: nothing
    /// was encrypted for upload.
    Refused { audit: Audit },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PublishState {
    /// Key training plus encryption, milliseconds.
    t1_ms: Option<u64>,
    /// `split/name` → upload id.
    uploads: BTreeMap<String, String>,
    upload_ms: u64,
    task_id: Option<String>,
}

impl PublishState {
    fn load(dir: &Path) -> Result<PublishState> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| MarketError::BadRequest(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PublishState::default()),
            Err(e) => Err(MarketError::io(path, e)),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("state serialises");
        archnet_data::fsutil::write_atomic(&dir.join(STATE_FILE), &bytes, 0o600)?;
        Ok(())
    }
}

/// The folders of one split (`train`, `validation`) inside the work folder: a manifest naming
/// that split alone, and hard links to its shards.
pub fn split_dir(work_dir: &Path, split: &str) -> PathBuf {
    work_dir.join(split)
}

/// Audits the key on the dataset, then (within the thresholds, or with the leakage accepted)
/// encrypts the dataset into `work_dir/encrypted` and makes the `train` and `validation` folders.
/// Blocking (it trains attackers and runs E1); skipped when already done. `on_stage` hears the
/// audit's stages, `on_samples` the images encrypted.
pub fn prepare(
    options: &PublishOptions,
    on_stage: &mut dyn FnMut(&str),
    on_samples: &mut dyn FnMut(usize),
) -> Result<Prepared> {
    if let Some(t1_ms) = PublishState::load(&options.work_dir)?.t1_ms {
        return Ok(Prepared::Ready { t1_ms, audit: None });
    }
    std::fs::create_dir_all(&options.work_dir)
        .map_err(|e| MarketError::io(&options.work_dir, e))?;
    let encrypted = options.work_dir.join("encrypted");
    let started = Instant::now();
    let (key, meta) = KeyFile::load(&options.key, &device())?;
    let mut data = open_dataset(&options.data, Split::Train)?;
    if let Some(limit) = options.limit {
        data.truncate(limit);
    }
    if data.shape != meta.architecture.plain_shape {
        return Err(MarketError::BadRequest(format!(
            "{}: the key takes {:?} images, the data has {:?}",
            options.data.display(),
            meta.architecture.plain_shape,
            data.shape
        )));
    }
    if data.labels.is_none() {
        return Err(MarketError::BadRequest(format!(
            "{}: the dataset has no labels; a training task needs them",
            options.data.display()
        )));
    }
    // Nothing leaves this machine before the publisher has seen what an attacker would recover.
    let scratch = tempfile::tempdir().map_err(|e| MarketError::io(std::env::temp_dir(), e))?;
    let report = run_audit(
        &key,
        &meta.architecture,
        meta.privacy.as_ref(),
        &data,
        &options.gate.config,
        scratch.path(),
        on_stage,
    )?;
    let audit = Audit {
        violations: report.violations(&options.gate.thresholds),
        report,
        key: meta.clone(),
    };
    if !audit.violations.is_empty() && !options.gate.accept_leakage {
        return Ok(Prepared::Refused { audit });
    }
    if encrypted.exists() {
        // A half-written folder from an interrupted run.
        std::fs::remove_dir_all(&encrypted).map_err(|e| MarketError::io(&encrypted, e))?;
    }
    let encrypt_options = EncryptOptions {
        split: options
            .split
            .unwrap_or(SplitRatio::paper_default(data.shape)),
        storage: options.storage,
        batch_size: 64,
        shard_bytes: archnet_data::encrypted::DEFAULT_SHARD_BYTES,
        source_fingerprint: data.fingerprint(),
        noise: 0.0,
    };
    let manifest = encrypt_dataset(&key, &meta, &data, &encrypted, &encrypt_options, on_samples)?;
    write_split_dirs(&encrypted, &manifest, &options.work_dir)?;
    let t1 = (meta.training.wall_seconds * 1000.0) as u64 + started.elapsed().as_millis() as u64;
    mark_prepared(&options.work_dir, t1)?;
    Ok(Prepared::Ready {
        t1_ms: t1,
        audit: Some(audit),
    })
}

/// Makes the `train` and `validation` folders of `work_dir` from an encrypted dataset.
pub fn write_split_dirs(encrypted: &Path, manifest: &Manifest, work_dir: &Path) -> Result<()> {
    for split in ["train", "validation"] {
        write_split_dir(encrypted, manifest, split, &split_dir(work_dir, split))?;
    }
    Ok(())
}

/// Records that `work_dir`'s split folders are ready, with t1 (ms), for [`upload_and_open`].
pub fn mark_prepared(work_dir: &Path, t1_ms: u64) -> Result<()> {
    let mut state = PublishState::load(work_dir)?;
    state.t1_ms = Some(t1_ms);
    state.save(work_dir)
}

fn write_split_dir(encrypted: &Path, manifest: &Manifest, split: &str, dir: &Path) -> Result<()> {
    let info = manifest.splits.get(split).ok_or_else(|| {
        MarketError::BadRequest(format!(
            "the dataset is too small for a `{split}` split; publish more images"
        ))
    })?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| MarketError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| MarketError::io(dir, e))?;
    let mut own = manifest.clone();
    own.splits = BTreeMap::from([(split.to_string(), info.clone())]);
    for shard in &info.shards {
        let (from, to) = (encrypted.join(&shard.file), dir.join(&shard.file));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| MarketError::io(&to, e))?;
        }
    }
    let bytes = serde_json::to_vec_pretty(&own).expect("manifest serialises");
    std::fs::write(dir.join(MANIFEST_FILE), bytes).map_err(|e| MarketError::io(dir, e))
}

/// Uploads both splits (resuming) and opens the task; returns it. Run [`prepare`] first.
pub async fn upload_and_open(
    client: &Client,
    options: &PublishOptions,
    on_bytes: &mut (dyn FnMut(u64) + Send),
) -> Result<TaskInfo> {
    let mut state = PublishState::load(&options.work_dir)?;
    if let Some(id) = &state.task_id {
        return client.get(&format!("/api/v1/tasks/{id}")).await;
    }
    let t1_ms = state
        .t1_ms
        .ok_or_else(|| MarketError::Internal("publish: prepare() was not run".into()))?;
    let started = Instant::now();
    let mut refs: BTreeMap<&str, Vec<FileRef>> = BTreeMap::new();
    for split in ["train", "validation"] {
        let dir = split_dir(&options.work_dir, split);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| MarketError::io(&dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let key = format!("{split}/{name}");
            let resume = state.uploads.get(&key).cloned();
            let status = client
                .upload_file(&dir.join(&name), &name, resume.as_deref(), on_bytes)
                .await?;
            state.uploads.insert(key, status.id.clone());
            state.save(&options.work_dir)?;
            refs.entry(split).or_default().push(FileRef {
                name,
                upload_id: status.id,
            });
        }
    }
    state.upload_ms += started.elapsed().as_millis() as u64;
    let req = CreateTaskRequest {
        name: options.name.clone(),
        fee: options.fee,
        min_accuracy: options.min_accuracy,
        max_attempts: options.max_attempts,
        deadline_s: options.deadline_s,
        requirements: options.requirements.clone(),
        train_files: refs.remove("train").unwrap_or_default(),
        validation_files: refs.remove("validation").unwrap_or_default(),
        t1_ms,
        upload_ms: state.upload_ms,
    };
    let task: TaskInfo = client.post("/api/v1/tasks", &req).await?;
    state.task_id = Some(task.id.clone());
    state.save(&options.work_dir)?;
    Ok(task)
}

/// Downloads the accepted model of `task_id` to `out`, checks its sha256, and reports the
/// download time to the server (the server → publisher leg). Returns the bytes written and the
/// completed task (with its validation report) as it stood before the download.
pub async fn fetch_model(client: &Client, task_id: &str, out: &Path) -> Result<(u64, TaskInfo)> {
    let task: TaskInfo = client.get(&format!("/api/v1/tasks/{task_id}")).await?;
    if task.state != TaskState::Completed {
        return Err(MarketError::Conflict(format!(
            "task {task_id} is {}; there is no accepted model yet",
            task.state
        )));
    }
    let started = Instant::now();
    let bytes = client
        .get_bytes(&format!("/api/v1/tasks/{task_id}/model"))
        .await?;
    let download_ms = started.elapsed().as_millis() as u64;
    archnet_data::fsutil::write_atomic(out, &bytes, 0o644)
        .map_err(|e| MarketError::Internal(e.to_string()))?;
    client
        .post_empty(
            &format!("/api/v1/tasks/{task_id}/delivery"),
            &DeliveryReport { download_ms },
        )
        .await?;
    Ok((bytes.len() as u64, task))
}
