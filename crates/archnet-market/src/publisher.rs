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
use archnet_data::{DataSource, Split};
use archnet_lab::attack::audit::{AuditConfig, KeyAudit, LeakageThresholds, audit_key};
use archnet_model::KeyFile;
use archnet_model::pipeline::{EncryptSettings, SplitRatio, encrypt_dataset};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::states::{TaskMode, TaskState};
use crate::types::{
    AuditAttack, AuditGuarantee, AuditSummary, CreateTaskRequest, DeliveryReport, FileRef,
    Requirements, TaskInfo,
};

/// The picture of the audit's reconstructions, in the work folder.
pub const AUDIT_PICTURE: &str = "audit.png";
/// The audit's numbers as sent with the task ([`AuditSummary`]), in the work folder.
pub const AUDIT_SUMMARY: &str = "audit.json";

/// File in the work folder that remembers what was done.
const STATE_FILE: &str = "publish-state.json";

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The key file (it stays here: only ciphertexts are uploaded).
    pub key: PathBuf,
    /// Plain dataset (its `train` release is published).
    pub data: PathBuf,
    /// Publish only the first images.
    pub limit: Option<usize>,
    /// Where the ciphertexts and the state file go.
    pub work_dir: PathBuf,
    /// The task's name.
    pub name: String,
    /// Credits paid to the node whose model reaches the bar (escrowed until then).
    pub fee: i64,
    /// The validation accuracy a model must reach (0–1).
    pub min_accuracy: f64,
    /// The task fails and the fee goes back if no node has taken it within this many seconds.
    pub deadline_s: Option<u64>,
    /// Rejected submissions allowed before the task fails (the server's default when `None`).
    pub max_attempts: Option<u32>,
    /// What a node must offer to lease the task.
    pub requirements: Requirements,
    /// How ciphertexts are stored.
    pub storage: Storage,
    /// Train/validation split; the paper's 6:1 (28×28) or 5:1 by default.
    pub split: Option<SplitRatio>,
    /// The leakage audit run before encrypting.
    pub gate: AuditGate,
    /// Open a contest instead of a first-model task (`deadline_s` is then when it closes).
    pub contest: Option<ContestOptions>,
    /// Upload the audit's picture with its numbers, for the task's dashboard page. It shows
    /// plain victim images beside their reconstructions, so it is off unless asked for.
    pub share_audit_picture: bool,
}

/// A contest's rules as the publisher asks for them; the server's defaults where `None`.
#[derive(Debug, Clone, Default)]
pub struct ContestOptions {
    /// Nodes that may hold a lease at the same time.
    pub max_nodes: Option<u32>,
    /// Submissions one node may make.
    pub submission_limit: Option<u32>,
}

/// A task's name when the publisher gives none: the dataset's file or folder name.
pub fn default_task_name(data: &Path) -> String {
    data.file_name()
        .map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned())
}

/// The leakage audit [`prepare`] runs before it encrypts anything for upload (by default: the
/// default thresholds and audit, leakage not accepted).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AuditGate {
    /// What the publisher accepts to leak.
    pub thresholds: LeakageThresholds,
    /// Publish even when the audit exceeds the thresholds (the publisher has seen the numbers).
    pub accept_leakage: bool,
    /// How much the audit does.
    pub config: AuditConfig,
}

/// The audit as [`prepare`] ran it.
pub type Audit = KeyAudit;

/// The numbers of `audit` as the task carries them to the server (no image);
/// `accepted_leakage`: the publisher publishes despite its violations.
pub fn audit_summary(audit: &KeyAudit, accepted_leakage: bool) -> AuditSummary {
    let report = &audit.report;
    let baseline = &report.victims.baseline;
    AuditSummary {
        key_id: audit.key.key_id.clone(),
        key_preset: audit.key.architecture.preset.clone(),
        victims: report.victims.len() as u32,
        pairs: report.pairs as u32,
        chance: baseline.reidentification.chance,
        class_mean_reidentification: baseline.reidentification.all,
        class_mean_ssim: baseline.quality.ssim,
        attacks: report
            .attacks
            .iter()
            .map(|a| AuditAttack {
                attack: a.attack.clone(),
                reidentification: a.reidentification.all,
                same_class: a.reidentification.same_class,
                psnr_db: a.quality.psnr_db,
                ssim: a.quality.ssim,
                psnr_gain_db: a.gain.psnr_db,
                ssim_gain: a.gain.ssim,
            })
            .collect(),
        guarantee: report.guarantee.as_ref().map(|(g, bound)| AuditGuarantee {
            epsilon: g.epsilon,
            delta: g.delta,
            reidentification_bound: *bound,
        }),
        violations: audit.violations.clone(),
        accepted_leakage: accepted_leakage && !audit.violations.is_empty(),
        seconds: report.seconds,
    }
}

/// What [`prepare`] did.
pub enum Prepared {
    /// Encrypted and split, ready for [`upload_and_open`]; `audit` is `None` when an earlier run
    /// had already prepared the work folder.
    Ready {
        /// Key training plus encryption, milliseconds.
        t1_ms: u64,
        /// The audit this run did.
        audit: Option<Audit>,
    },
    /// The audit exceeded the thresholds and the publisher did not accept the leakage: nothing
    /// was encrypted for upload.
    Refused {
        /// What it found.
        audit: Audit,
    },
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
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ClientError::State { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PublishState::default()),
            Err(e) => Err(ClientError::io(path, e)),
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

/// Audits the key on the dataset (its picture in `work_dir/audit.png`), then (within the
/// thresholds, or with the leakage accepted) writes the audit's numbers to `work_dir/audit.json`,
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
        .map_err(|e| ClientError::io(&options.work_dir, e))?;
    let encrypted = options.work_dir.join("encrypted");
    let started = Instant::now();
    let source = DataSource {
        path: options.data.clone(),
        split: Split::Train,
        limit: options.limit,
    };
    let (key, meta, data) = KeyFile::load_with_images(&options.key, &source)?;
    if data.labels.is_none() {
        return Err(ClientError::Unfit {
            path: options.data.clone(),
            reason: "the dataset has no labels; a training task needs them".into(),
        });
    }
    // Nothing leaves this machine before the publisher has seen what an attacker would recover.
    let audit = audit_key(
        &key,
        &meta,
        &data,
        &options.gate.config,
        &options.gate.thresholds,
        on_stage,
    )?;
    audit
        .draw(&options.work_dir.join(AUDIT_PICTURE))
        .map_err(archnet_lab::LabError::from)?;
    if !audit.violations.is_empty() && !options.gate.accept_leakage {
        return Ok(Prepared::Refused { audit });
    }
    let summary = audit_summary(&audit, options.gate.accept_leakage);
    let bytes = serde_json::to_vec_pretty(&summary).expect("an audit serialises");
    archnet_data::fsutil::write_atomic(&options.work_dir.join(AUDIT_SUMMARY), &bytes, 0o644)?;
    if encrypted.exists() {
        // A half-written folder from an interrupted run.
        std::fs::remove_dir_all(&encrypted).map_err(|e| ClientError::io(&encrypted, e))?;
    }
    let encrypt_options = EncryptSettings {
        split: options.split,
        storage: options.storage,
        batch_size: 64,
        noise: 0.0,
    }
    .options_for(&data);
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
    let info = manifest
        .splits
        .get(split)
        .ok_or_else(|| ClientError::Unfit {
            path: encrypted.to_path_buf(),
            reason: format!("the dataset is too small for a `{split}` split; publish more images"),
        })?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let mut own = manifest.clone();
    own.splits = BTreeMap::from([(split.to_string(), info.clone())]);
    for shard in &info.shards {
        let (from, to) = (encrypted.join(&shard.file), dir.join(&shard.file));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| ClientError::io(&to, e))?;
        }
    }
    let bytes = serde_json::to_vec_pretty(&own).expect("manifest serialises");
    std::fs::write(dir.join(MANIFEST_FILE), bytes).map_err(|e| ClientError::io(dir, e))
}

/// An opened task and the work folder it was published from, as `archnet publish` tells it.
pub struct Opened<'a>(pub &'a TaskInfo, pub &'a Path);

impl std::fmt::Display for Opened<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Opened(task, work_dir) = self;
        writeln!(
            f,
            "task {} opened: `{}`, {} training / {} validation samples of {:?}, fee {} (in escrow), bar {:.1}%",
            task.id,
            task.name,
            task.train_samples,
            task.validation_samples,
            task.sample_shape,
            task.fee,
            100.0 * task.min_accuracy
        )?;
        write!(
            f,
            "the validation split stays on the server (nodes never receive it); a copy is in {}",
            split_dir(work_dir, "validation").display()
        )
    }
}

/// What [`publish`] tells as it goes, in order. Each displays as the line `archnet publish`
/// prints for it; `Encrypted` and `Uploaded` feed progress bars instead.
pub enum PublishEvent<'a> {
    /// The audit's next stage, in words.
    AuditStage(&'a str),
    /// More images were encrypted.
    Encrypted(usize),
    /// The audit's findings, before anything is uploaded.
    Audited(AuditNotice<'a>),
    /// The ciphertexts are ready to upload; t1 = key training + encryption (ms).
    Prepared {
        /// Milliseconds.
        t1_ms: u64,
        /// Where the ciphertexts are.
        work_dir: &'a Path,
    },
    /// More bytes were uploaded.
    Uploaded(u64),
}

impl std::fmt::Display for PublishEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishEvent::AuditStage(stage) => write!(f, "audit: {stage}"),
            PublishEvent::Encrypted(n) => write!(f, "{n} more images encrypted"),
            PublishEvent::Audited(notice) => write!(f, "{notice}"),
            PublishEvent::Prepared { t1_ms, work_dir } => write!(
                f,
                "encrypted locally into {} (t1 = key training + encryption = {:.1} s); the key stays here",
                work_dir.display(),
                *t1_ms as f64 / 1000.0
            ),
            PublishEvent::Uploaded(n) => write!(f, "{n} more bytes uploaded"),
        }
    }
}

/// What the publish-time audit found, as the publisher is shown it: the findings, the picture
/// of its reconstructions and the verdict.
pub struct AuditNotice<'a> {
    /// The audit and its picture (`WORK_DIR/audit.png`); `None` when an earlier run had already
    /// prepared (and so audited) the work folder.
    pub audit: Option<(&'a KeyAudit, &'a Path)>,
    /// Whether the publisher accepts leakage above the thresholds (`--accept-leakage`).
    pub accept_leakage: bool,
}

impl std::fmt::Display for AuditNotice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some((audit, picture)) = self.audit else {
            return write!(
                f,
                "audit: passed when this work folder was prepared (an earlier run)"
            );
        };
        writeln!(f, "{audit}")?;
        write!(f, "  picture: {}", picture.display())?;
        if audit.violations.is_empty() {
            write!(f, "\naudit: within your thresholds")?;
        } else if self.accept_leakage {
            write!(
                f,
                "\naudit: above your thresholds ({} finding(s)); publishing anyway because of --accept-leakage",
                audit.violations.len()
            )?;
        }
        Ok(())
    }
}

/// What [`publish`] did.
pub enum Published {
    /// The task is open; the fee is in escrow.
    Opened(Box<TaskInfo>),
    /// The audit exceeded the thresholds and the leakage was not accepted: nothing was uploaded.
    Refused(Box<Refusal>),
}

/// A publish the audit refused: its findings and the picture of its reconstructions. Displays
/// as the message that tells the publisher what to do.
pub struct Refusal {
    /// What the audit found.
    pub audit: KeyAudit,
    /// `WORK_DIR/audit.png`.
    pub picture: PathBuf,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not published: the leakage audit exceeds your thresholds:\n  {}\n\
             Look at {} and the numbers above; publish anyway with --accept-leakage, or raise \
             --max-reidentification / --max-ssim-gain (or use a `private` key)",
            self.audit.violations.join("\n  "),
            self.picture.display()
        )
    }
}

/// The whole publish workflow: the audit gate, local encryption ([`prepare`]), then the
/// resumable upload and the task ([`upload_and_open`]). Blocking: it runs the HTTP calls on a
/// runtime of its own, so call it outside async code.
pub fn publish(
    client: &Client,
    options: &PublishOptions,
    on_event: &mut (dyn FnMut(PublishEvent) + Send),
) -> Result<Published> {
    let prepared = {
        // prepare() takes two callbacks; both tell the one caller.
        let on_event = std::cell::RefCell::new(&mut *on_event);
        let tell = |e: PublishEvent| (on_event.borrow_mut())(e);
        prepare(
            options,
            &mut |stage| tell(PublishEvent::AuditStage(stage)),
            &mut |n| tell(PublishEvent::Encrypted(n)),
        )?
    };
    let picture = options.work_dir.join(AUDIT_PICTURE);
    let accept_leakage = options.gate.accept_leakage;
    let t1_ms = match prepared {
        Prepared::Refused { audit } => {
            on_event(PublishEvent::Audited(AuditNotice {
                audit: Some((&audit, &picture)),
                accept_leakage,
            }));
            return Ok(Published::Refused(Box::new(Refusal { audit, picture })));
        }
        Prepared::Ready { t1_ms, audit } => {
            on_event(PublishEvent::Audited(AuditNotice {
                audit: audit.as_ref().map(|a| (a, picture.as_path())),
                accept_leakage,
            }));
            t1_ms
        }
    };
    on_event(PublishEvent::Prepared {
        t1_ms,
        work_dir: &options.work_dir,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::io("the publisher's async runtime", e))?;
    let task = runtime.block_on(upload_and_open(client, options, &mut |n| {
        on_event(PublishEvent::Uploaded(n))
    }))?;
    Ok(Published::Opened(Box::new(task)))
}

/// Uploads both splits (resuming) and opens the task; returns it. Run [`prepare`] first.
pub async fn upload_and_open(
    client: &Client,
    options: &PublishOptions,
    on_bytes: &mut (dyn FnMut(u64) + Send),
) -> Result<TaskInfo> {
    let mut state = PublishState::load(&options.work_dir)?;
    if let Some(id) = &state.task_id {
        return client.task(id).await;
    }
    let t1_ms = state
        .t1_ms
        .ok_or_else(|| ClientError::NotReady("publish: prepare() was not run".into()))?;
    let started = Instant::now();
    let mut refs: BTreeMap<&str, Vec<FileRef>> = BTreeMap::new();
    for split in ["train", "validation"] {
        let dir = split_dir(&options.work_dir, split);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| ClientError::io(&dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let key = format!("{split}/{name}");
            let upload_id =
                upload_resumable(client, &mut state, options, key, &dir.join(&name), on_bytes)
                    .await?;
            refs.entry(split)
                .or_default()
                .push(FileRef { name, upload_id });
        }
    }
    let audit = read_audit_summary(&options.work_dir)?;
    let picture = options.work_dir.join(AUDIT_PICTURE);
    let audit_picture = if audit.is_some() && options.share_audit_picture && picture.is_file() {
        let key = format!("audit/{AUDIT_PICTURE}");
        Some(upload_resumable(client, &mut state, options, key, &picture, on_bytes).await?)
    } else {
        None
    };
    state.upload_ms += started.elapsed().as_millis() as u64;
    let req = CreateTaskRequest {
        name: options.name.clone(),
        fee: options.fee,
        min_accuracy: options.min_accuracy,
        max_attempts: options.max_attempts,
        deadline_s: options.deadline_s,
        requirements: options.requirements.clone(),
        mode: match options.contest {
            Some(_) => TaskMode::Contest,
            None => TaskMode::First,
        },
        max_nodes: options.contest.as_ref().and_then(|c| c.max_nodes),
        submission_limit: options.contest.as_ref().and_then(|c| c.submission_limit),
        train_files: refs.remove("train").unwrap_or_default(),
        validation_files: refs.remove("validation").unwrap_or_default(),
        t1_ms,
        upload_ms: state.upload_ms,
        audit,
        audit_picture,
    };
    let task = client.create_task(&req).await?;
    state.task_id = Some(task.id.clone());
    state.save(&options.work_dir)?;
    Ok(task)
}

/// Uploads `path`, resuming the upload recorded under `key` in the publish state if there is
/// one, and records the upload's id there (saved at once, so an interrupted publish resumes it).
async fn upload_resumable(
    client: &Client,
    state: &mut PublishState,
    options: &PublishOptions,
    key: String,
    path: &Path,
    on_bytes: &mut (dyn FnMut(u64) + Send),
) -> Result<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let resume = state.uploads.get(&key).cloned();
    let status = client
        .upload_file(path, &name, resume.as_deref(), on_bytes)
        .await?;
    state.uploads.insert(key, status.id.clone());
    state.save(&options.work_dir)?;
    Ok(status.id)
}

/// The audit's numbers [`prepare`] left in `work_dir` (`None`: no audit ran there, as for the
/// test kit's tiny datasets).
fn read_audit_summary(work_dir: &Path) -> Result<Option<AuditSummary>> {
    let path = work_dir.join(AUDIT_SUMMARY);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ClientError::State { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::io(path, e)),
    }
}

/// A delivered model, as `archnet fetch-model` tells it: where it went, its size, and the
/// validation that accepted it.
pub struct Delivered {
    /// The model file.
    pub out: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The completed task.
    pub task: TaskInfo,
}

impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} ({}): the model the server accepted",
            self.out.display(),
            archnet_data::fsutil::human_bytes(self.bytes)
        )?;
        if let Some(s) = self.task.accepted() {
            let run = match &s.report {
                Some(crate::types::ValidationReport::Ran(run)) => Some(run),
                _ => None,
            };
            write!(
                f,
                "\nvalidation report: accuracy {:.2}% on {} encrypted validation samples ({} s)",
                100.0 * s.accuracy.unwrap_or(0.0),
                run.map_or(0, |r| r.samples),
                run.map(|r| format!("{:.1}", r.seconds))
                    .unwrap_or_else(|| "?".into())
            )?;
        }
        Ok(())
    }
}

/// Downloads the accepted model of `task_id` to `out`, checks its sha256, and reports the
/// download time to the server (the server → publisher leg). Returns the bytes written and the
/// completed task (with its validation report) as it stood before the download.
pub async fn fetch_model(client: &Client, task_id: &str, out: &Path) -> Result<Delivered> {
    let task = client.task(task_id).await?;
    if task.state != TaskState::Completed {
        return Err(ClientError::NotReady(format!(
            "task {task_id} is {}; there is no accepted model yet",
            task.state
        )));
    }
    let started = Instant::now();
    let bytes = client.task_model(task_id).await?;
    let download_ms = started.elapsed().as_millis() as u64;
    archnet_data::fsutil::write_atomic(out, &bytes, 0o644)?;
    client
        .report_delivery(task_id, &DeliveryReport { download_ms })
        .await?;
    Ok(Delivered {
        out: out.to_path_buf(),
        bytes: bytes.len() as u64,
        task,
    })
}
