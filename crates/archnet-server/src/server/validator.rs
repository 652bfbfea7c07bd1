//! The background validator: claims submitted models, runs each with tract on the task's
//! encrypted validation split (which only the server holds), and records the verdict together
//! with the payment or the task's return to the queue.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use archnet_data::encrypted::EncryptedDataset;
use archnet_data::samples::Samples;
use archnet_validate::OnnxClassifier;
use archnet_validate::metadata;
use sha2::{Digest, Sha256};

use super::AppState;
use super::sandbox::{SandboxJob, SandboxLimits, run_sandboxed};
use crate::db::{ClaimedSubmission, ValidationOutcome};
use crate::error::{Result, ServerError};
use archnet_api::types::{HoldoutScores, PartScore, ValidationReport, ValidationRun};
use archnet_data::holdout::Holdout;

/// Claims and validates submissions until `stop` changes.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let claim_ms = 1000 * state.config.validation_claim_s.max(1) as i64;
    loop {
        match state.db.claim_submission(claim_ms).await {
            Ok(Some(claimed)) => {
                let id = claimed.submission.id.clone();
                if let Err(e) = validate_claimed(&state, claimed, claim_ms).await {
                    // The claim runs out and the submission is tried again.
                    tracing::error!(submission = %id, "validation could not finish: {e}");
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("claiming a submission: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn validate_claimed(
    state: &AppState,
    claimed: ClaimedSubmission,
    claim_ms: i64,
) -> Result<()> {
    let ClaimedSubmission { submission, task } = claimed;
    let started = Instant::now();
    let dataset_dir = materialise_validation(state, &task.id).await?;
    let upload = state.db.upload(&submission.upload_id).await?;
    let outcome = if upload.size as u64 > state.config.max_model_bytes {
        refused(
            format!(
                "the model is {} bytes, the limit is {}",
                upload.size, state.config.max_model_bytes
            ),
            started,
        )
    } else {
        let bytes = state
            .store
            .read_all(&upload.id, upload.chunk_count())
            .await?;
        let shape = task.sample_shape()?;
        let classes = task.class_names()?.len();
        let key_id = task.key_id.clone();
        let policy = state.config.policy();
        let limits = state.config.validation_limits();
        // Renew the claim while the model runs, so no other validator takes it over.
        let keep_alive = {
            let db = state.db.clone();
            let id = submission.id.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis((claim_ms / 3).max(100) as u64)).await;
                    if let Err(e) = db.extend_claim(&id, claim_ms).await {
                        tracing::warn!(submission = %id, "renewing the validation claim: {e}");
                    }
                }
            })
        };
        let run = match state.config.sandbox() {
            Some((program, process_limits)) => {
                let job_dir = state
                    .config
                    .data_dir
                    .join("validation-sandbox")
                    .join(&submission.id);
                let job = SandboxJob {
                    model: job_dir.join("model.onnx"),
                    dataset: dataset_dir,
                    shape,
                    classes,
                    key_id,
                    holdout: task.holdout_terms(),
                    max_model_bytes: policy.max_bytes,
                    max_seconds: limits.max_duration.as_secs(),
                    max_activation_bytes: limits.max_activation_bytes,
                    batch_size: limits.batch_size,
                    threads: limits.threads,
                    onnxruntime: limits.engine.library().map(Path::to_path_buf),
                };
                let ran = sandboxed(&program, &job, &job_dir, &bytes, &process_limits).await;
                let _ = tokio::fs::remove_dir_all(&job_dir).await;
                Ok(ran)
            }
            None => {
                let holdout = task.holdout();
                tokio::task::spawn_blocking(move || {
                    run_model(
                        &bytes,
                        &dataset_dir,
                        ModelTask {
                            shape,
                            classes,
                            key_id: &key_id,
                            holdout: holdout.as_ref(),
                        },
                        &policy,
                        &limits,
                    )
                })
                .await
            }
        };
        keep_alive.abort();
        match run {
            Ok(Ok(run)) => {
                let parts = run.parts.as_ref().map(|p| {
                    (
                        p.public.accuracy,
                        p.private.as_ref().map_or(f64::NAN, |q| q.accuracy),
                    )
                });
                let report = ValidationReport::Ran(run);
                ValidationOutcome {
                    parts,
                    accuracy: report.accuracy(),
                    report,
                    validation_ms: started.elapsed().as_millis() as i64,
                }
            }
            Ok(Err(reason)) => refused(reason, started),
            Err(panic) => refused(format!("the validator failed: {panic}"), started),
        }
    };
    let decided = state.db.finish_validation(&submission.id, &outcome).await?;
    let verdict = match &outcome.report {
        ValidationReport::Ran(_) => "ran",
        ValidationReport::Refused { .. } => "refused",
    };
    state
        .metrics
        .validated(verdict, started.elapsed().as_secs_f64());
    tracing::info!(
        submission = %submission.id,
        task = %task.id,
        accuracy = ?outcome.accuracy,
        bar = task.min_accuracy,
        decided,
        "validated"
    );
    Ok(())
}

/// Writes the model into `dir` and runs `job` in the sandbox.
async fn sandboxed(
    program: &Path,
    job: &SandboxJob,
    dir: &Path,
    bytes: &[u8],
    limits: &SandboxLimits,
) -> std::result::Result<ValidationRun, String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("sandbox: {}: {e}", dir.display()))?;
    tokio::fs::write(&job.model, bytes)
        .await
        .map_err(|e| format!("sandbox: {}: {e}", job.model.display()))?;
    run_sandboxed(program, job, dir, limits).await
}

fn refused(reason: String, started: Instant) -> ValidationOutcome {
    ValidationOutcome {
        accuracy: None,
        parts: None,
        report: ValidationReport::Refused { refused: reason },
        validation_ms: started.elapsed().as_millis() as i64,
    }
}

/// What the validator checks a model against: the task's sample shape, classes and key, and a
/// contest's public/private cut.
pub(crate) struct ModelTask<'a> {
    pub(crate) shape: [usize; 3],
    pub(crate) classes: usize,
    pub(crate) key_id: &'a str,
    pub(crate) holdout: Option<&'a Holdout>,
}

/// Runs the model over the validation split; the error is the reason it was refused.
pub(crate) fn run_model(
    bytes: &[u8],
    dataset_dir: &Path,
    task: ModelTask<'_>,
    policy: &archnet_validate::ModelPolicy,
    limits: &archnet_validate::ValidationLimits,
) -> std::result::Result<ValidationRun, String> {
    let ModelTask {
        shape,
        classes,
        key_id,
        holdout,
    } = task;
    let started = Instant::now();
    let onnx =
        OnnxClassifier::load(bytes, policy, limits, shape, classes).map_err(|e| e.to_string())?;
    if let Some(model_key) = onnx.summary().metadata(metadata::KEY_ID)
        && model_key != key_id
    {
        return Err(format!(
            "the model says it was trained on data of key {model_key}, this task's key is {key_id}"
        ));
    }
    let dataset =
        EncryptedDataset::open(dataset_dir).map_err(|e| format!("validation data: {e}"))?;
    let samples = Samples::Encrypted {
        dataset,
        split: "validation".into(),
    };
    let report = onnx
        .validate_holdout(&samples, holdout, limits, started)
        .map_err(|e| e.to_string())?;
    let e = &report.evaluation;
    let part = |e: &archnet_data::samples::Evaluation| PartScore {
        accuracy: e.accuracy,
        samples: e.count,
        confusion: e.confusion.clone(),
    };
    Ok(ValidationRun {
        accuracy: e.accuracy,
        parts: report.parts.as_ref().map(|p| HoldoutScores {
            public: part(&p.public),
            private: Some(part(&p.private)),
        }),
        samples: e.count,
        per_class_accuracy: e
            .per_class_accuracy()
            .into_iter()
            .map(|a| Some(a).filter(|a| a.is_finite()))
            .collect(),
        confusion: e.confusion.clone(),
        seconds: report.seconds,
        samples_per_second: report.samples_per_second,
    })
}

/// Writes the task's validation files to the server's cache folder (once; files already there
/// with the right checksum are kept) and returns the folder.
async fn materialise_validation(state: &AppState, task_id: &str) -> Result<PathBuf> {
    let dir = state.config.data_dir.join("validation-cache").join(task_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ServerError::io(&dir, e))?;
    for f in state.db.task_files(task_id, "validation").await? {
        let upload = state.db.upload(&f.upload_id).await?;
        let path = dir.join(&f.name);
        if let Ok(existing) = tokio::fs::read(&path).await
            && hex::encode(Sha256::digest(&existing)) == upload.sha256
        {
            continue;
        }
        let bytes = state
            .store
            .read_all(&upload.id, upload.chunk_count())
            .await?;
        let tmp = dir.join(format!(".{}.partial", f.name));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| ServerError::io(&tmp, e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| ServerError::io(&path, e))?;
    }
    Ok(dir)
}
