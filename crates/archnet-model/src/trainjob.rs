//! `archnet train` and `archnet evaluate` as workflows: a base model trained on a plain release
//! or an encrypted dataset (checkpointed, resumable), written with its card; and a written
//! model scored on a split.

use std::path::{Path, PathBuf};

use archnet_data::samples::{Evaluation, Samples, is_encrypted, key_mismatch};

use crate::base::BaseModelSpec;
use crate::classify::{ClassifierTrainConfig, EpochMetrics, evaluate, train_classifier};
use crate::error::{ModelError, Result};
use crate::trained::{CARD_FILE, ModelCard, TrainedModel, WEIGHTS_FILE};

/// Which model to train, on what, and where to write it.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The base model (`cnn`, `resnet18`, …).
    pub model: String,
    /// A plain release (trained on `train`, validated on `test`) or an encrypted dataset
    /// (`train`, then `validation`).
    pub data: PathBuf,
    /// Only the first training samples of a plain release.
    pub limit: Option<usize>,
    /// The optimiser and schedule.
    pub config: ClassifierTrainConfig,
    /// The model folder (weights, card, metrics, checkpoints).
    pub out: PathBuf,
    /// Continue from the folder's checkpoint.
    pub resume: bool,
}

/// One step of a [`TrainJob`]; each displays as its printed line except `Batch`.
pub enum TrainEvent<'a> {
    /// Training starts.
    Planned {
        /// The model.
        spec: &'a BaseModelSpec,
        /// Training samples.
        samples: usize,
        /// Whether they are ciphertexts.
        encrypted: bool,
        /// Validation samples, if there is a validation split.
        validation: Option<usize>,
    },
    /// A batch: epoch, percent of the epoch done, the batch's loss (for a progress bar).
    Batch(usize, usize, f64),
    /// Training ended; the history follows, one epoch per event.
    Trained,
    /// One epoch's metrics.
    Epoch(&'a EpochMetrics),
    /// The model folder was written.
    Written(&'a Path),
}

impl std::fmt::Display for TrainEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainEvent::Planned {
                spec,
                samples,
                encrypted,
                validation,
            } => write!(
                f,
                "training {} on {samples} {} samples of {:?} ({} classes), validation: {}",
                spec.kind,
                if *encrypted { "encrypted" } else { "plain" },
                spec.input_shape,
                spec.classes,
                validation
                    .map(|v| format!("{v} samples"))
                    .unwrap_or_else(|| "none".into())
            ),
            TrainEvent::Batch(epoch, pct, loss) => {
                write!(f, "epoch {} {pct}% loss {loss:.4}", epoch + 1)
            }
            TrainEvent::Trained => Ok(()),
            TrainEvent::Epoch(m) => write!(
                f,
                "epoch {:>3}: loss {:.4}, train accuracy {:.2}%, validation accuracy {}, {:.0} s",
                m.epoch + 1,
                m.train_loss,
                100.0 * m.train_accuracy,
                m.validation_accuracy
                    .map(|v| format!("{:.2}%", 100.0 * v))
                    .unwrap_or_else(|| "-".into()),
                m.seconds
            ),
            TrainEvent::Written(out) => write!(
                f,
                "model written to {} ({WEIGHTS_FILE}, {CARD_FILE}, metrics.csv)",
                out.display()
            ),
        }
    }
}

/// Runs `job`; returns the model it wrote to `job.out`, still in memory.
pub fn train(job: &TrainJob, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainedModel> {
    let encrypted = is_encrypted(&job.data);
    let validation_split = if encrypted { "validation" } else { "test" };
    let train = Samples::open(&job.data, "train", job.limit)?;
    let validation = Samples::open(&job.data, validation_split, None).ok();
    let spec = BaseModelSpec {
        kind: job.model.clone(),
        input_shape: train.shape(),
        classes: train.class_names().len(),
    };
    on_event(TrainEvent::Planned {
        spec: &spec,
        samples: train.len(),
        encrypted,
        validation: validation.as_ref().map(Samples::len),
    });
    let outcome = train_classifier(
        &spec,
        &train,
        validation.as_ref(),
        &job.config,
        &job.out,
        job.resume,
        &mut |epoch, pct, loss| on_event(TrainEvent::Batch(epoch, pct, loss)),
    )?;
    on_event(TrainEvent::Trained);
    for m in &outcome.history {
        on_event(TrainEvent::Epoch(m));
    }
    let trained = TrainedModel {
        card: ModelCard {
            spec,
            class_names: train.class_names(),
            key_id: train.key_id(),
            config: job.config.clone(),
            validation_accuracy: outcome.history.last().and_then(|m| m.validation_accuracy),
        },
        model: outcome.model,
    };
    trained.save(&job.out)?;
    on_event(TrainEvent::Written(&job.out));
    Ok(trained)
}

/// Scores the model folder `model` on `split` of `data` (by default an encrypted dataset's
/// `validation` split, a plain release's `test` split); returns the evaluation and the classes.
pub fn score(
    model: &Path,
    data: &Path,
    split: Option<&str>,
    limit: Option<usize>,
) -> Result<(Evaluation, Vec<String>)> {
    let TrainedModel { card, model } = TrainedModel::load(model, &crate::device())?;
    let samples = Samples::open_evaluation(data, split, limit)?;
    if samples.shape() != card.spec.input_shape {
        return Err(ModelError::Mismatch {
            path: data.to_path_buf(),
            reason: format!(
                "the model takes {:?} samples but the data has {:?}",
                card.spec.input_shape,
                samples.shape()
            ),
        });
    }
    if let Some(reason) = key_mismatch(card.key_id.as_deref(), samples.key_id().as_deref()) {
        return Err(ModelError::Mismatch {
            path: data.to_path_buf(),
            reason,
        });
    }
    Ok((evaluate(&model, &samples, 256)?, card.class_names))
}
