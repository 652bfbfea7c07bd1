//! Training and evaluating base models (D2) on plain or encrypted datasets.
//!
//! Encrypted data is streamed shard by shard (the full encrypted MNIST is 7.5 GB as f32): each
//! epoch visits the shards in a seeded random order and the samples of each shard in a seeded
//! random order, so memory holds one shard, whatever the dataset size.

use std::path::Path;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::{BaseModel, BaseModelSpec};
use crate::checkpoint::Checkpointer;
use crate::error::{ModelError, Result};

pub use archnet_data::samples::{Evaluation, Samples, evaluate_with};

/// Settings of a base-model training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Passes over the training samples.
    pub epochs: usize,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// Stop when validation accuracy has not improved for this many epochs.
    pub patience: Option<usize>,
}

impl Default for ClassifierTrainConfig {
    fn default() -> Self {
        ClassifierTrainConfig {
            learning_rate: 1e-3,
            batch_size: 64,
            epochs: 3,
            seed: 0,
            patience: None,
        }
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_accuracy: f64,
    /// Accuracy on the validation samples after the epoch, when there are any.
    pub validation_accuracy: Option<f64>,
    /// Wall seconds of the epoch.
    pub seconds: f64,
}

/// Runs `model` over `samples`; returns accuracy and confusion matrix.
pub fn evaluate(model: &BaseModel, samples: &Samples, batch_size: usize) -> Result<Evaluation> {
    let shape = samples.shape();
    evaluate_with(samples, batch_size, &mut |x, n| {
        predict_batch(model, shape, x, n)
    })
}

/// The class `model` predicts for each of `n` samples of `shape` given as flat values.
pub fn predict_batch(
    model: &BaseModel,
    shape: [usize; 3],
    x: &[f32],
    n: usize,
) -> Result<Vec<usize>> {
    let [c, h, w] = shape;
    let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [n, c, h, w]), &crate::device());
    let predicted = model.forward(input).argmax(1).into_data().convert::<i64>();
    let predicted = predicted
        .try_to_vec::<i64>()
        .map_err(|e| ModelError::Backend(format!("reading predictions: {e:?}")))?;
    Ok(predicted.into_iter().map(|p| p as usize).collect())
}

/// How many rows of `logits` (`[n, classes]`) have their largest value at the row's label.
pub fn correct_predictions(logits: Tensor<2>, labels: &[u16]) -> usize {
    let predicted = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("ints");
    predicted
        .iter()
        .zip(labels)
        .filter(|(p, t)| **p == i64::from(**t))
        .count()
}

/// What a training run left in its output folder.
pub struct ClassifierOutcome {
    /// The trained model.
    pub model: BaseModel,
    /// Every epoch's metrics, the resumed run's earlier ones included.
    pub history: Vec<EpochMetrics>,
    /// Whether the run continued a checkpoint.
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClassifierState {
    spec: BaseModelSpec,
    config: ClassifierTrainConfig,
    next_epoch: usize,
    history: Vec<EpochMetrics>,
    best_validation: Option<f64>,
    /// How far `next_epoch` had got when a mid-epoch checkpoint was written.
    #[serde(default)]
    progress: Option<EpochProgress>,
}

/// A part-done epoch: the batches already trained on (a resume skips them, since the epoch's
/// shuffle is seeded) and the running sums of its metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EpochProgress {
    batches: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    seconds: f64,
}

/// A long epoch (a ResNet on 50,000 ciphertexts takes an hour on 2 cores) is checkpointed
/// part-way this often, so an interruption loses at most this much work.
const MID_EPOCH_CHECKPOINT: Duration = Duration::from_secs(10 * 60);

/// Trains a base model on `train`, evaluating on `validation` after each epoch. `out` receives a
/// checkpoint after every epoch and every [`MID_EPOCH_CHECKPOINT`] within one (resumable with
/// `resume`), and `metrics.csv`.
// Why one function: the epoch loop, its checkpoint and early stopping share the run's state, which
// is what a resume restores.
pub fn train_classifier(
    spec: &BaseModelSpec,
    train: &Samples,
    validation: Option<&Samples>,
    config: &ClassifierTrainConfig,
    out: &Path,
    resume: bool,
    on_batch: &mut dyn FnMut(usize, usize, f64),
) -> Result<ClassifierOutcome> {
    train_classifier_checkpointing(
        spec,
        train,
        validation,
        config,
        out,
        resume,
        MID_EPOCH_CHECKPOINT,
        on_batch,
    )
}

/// [`train_classifier`] with mid-epoch checkpoints every `mid_epoch` (the tests use zero).
#[allow(clippy::too_many_arguments)]
fn train_classifier_checkpointing(
    spec: &BaseModelSpec,
    train: &Samples,
    validation: Option<&Samples>,
    config: &ClassifierTrainConfig,
    out: &Path,
    resume: bool,
    mid_epoch: Duration,
    on_batch: &mut dyn FnMut(usize, usize, f64),
) -> Result<ClassifierOutcome> {
    if train.shape() != spec.input_shape {
        return Err(ModelError::Shape {
            expected: spec.input_shape,
            found: train.shape(),
            reason: format!(
                "the model takes {:?} samples but the data has {:?}",
                spec.input_shape,
                train.shape()
            ),
        });
    }
    let io = |p: &Path, e: std::io::Error| ModelError::Data(archnet_data::DataError::io(p, e));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let device = crate::device().autodiff();
    let _rng = crate::seeded_run(&device, config.seed);
    let mut model = BaseModel::init(spec, &device)?;
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut state = ClassifierState {
        spec: spec.clone(),
        config: config.clone(),
        next_epoch: 0,
        history: Vec::new(),
        best_validation: None,
        progress: None,
    };
    let checkpointer = Checkpointer::new(out, 0o644);
    let mut resumed = false;
    if let Some(saved) = checkpointer.resume::<ClassifierState>(resume)? {
        let step_shaping = |c: &ClassifierTrainConfig| (c.batch_size, c.seed, c.learning_rate);
        if saved.state.spec != *spec || step_shaping(&saved.state.config) != step_shaping(config) {
            return Err(ModelError::Checkpoint {
                path: out.into(),
                reason: "model, batch size, seed or learning rate differ from the checkpoint's"
                    .into(),
            });
        }
        optim = checkpointer.load(&saved, &mut model, optim)?;
        state = ClassifierState {
            config: config.clone(),
            ..saved.state
        };
        resumed = true;
    }

    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let [c, h, w] = spec.input_shape;
    let total = train.len();
    while state.next_epoch < config.epochs {
        let epoch = state.next_epoch;
        let started = Instant::now();
        let resumed_part = state.progress.take().unwrap_or_default();
        let skip = resumed_part.batches;
        let mut part = resumed_part.clone();
        let mut last_checkpoint = Instant::now();
        let mut batch_index = 0usize;
        let epoch_seed = config.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        train.for_each_batch(config.batch_size, Some(epoch_seed), &mut |x, y| {
            batch_index += 1;
            if batch_index <= skip {
                return Ok(()); // trained on before the mid-epoch checkpoint this run resumed
            }
            let n = y.len();
            let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [n, c, h, w]), &device);
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(y.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(), [n]),
                &device,
            );
            let logits = model.forward(input);
            part.correct += correct_predictions(logits.clone(), y);
            let loss = loss_fn.forward(logits, targets);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(ModelError::Diverged {
                    loss: value,
                    at: format!("in epoch {epoch}"),
                });
            }
            part.loss_sum += value * n as f64;
            part.seen += n;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model.clone(), grads);
            part.batches = batch_index;
            on_batch(epoch, part.seen * 100 / total.max(1), value);
            if last_checkpoint.elapsed() >= mid_epoch {
                let mut saved_part = part.clone();
                saved_part.seconds = resumed_part.seconds + started.elapsed().as_secs_f64();
                let mid = ClassifierState {
                    progress: Some(saved_part),
                    ..state.clone()
                };
                checkpointer.write(&format!("{}-{batch_index}", epoch), &model, &optim, &mid)?;
                last_checkpoint = Instant::now();
            }
            Ok(())
        })?;
        let EpochProgress {
            loss_sum,
            correct,
            seen,
            ..
        } = part;
        let validation_accuracy = match validation {
            Some(v) => Some(evaluate(&model.valid(), v, 256)?.accuracy),
            None => None,
        };
        state.history.push(EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            validation_accuracy,
            seconds: resumed_part.seconds + started.elapsed().as_secs_f64(),
        });
        state.next_epoch += 1;
        let improved = match (validation_accuracy, state.best_validation) {
            (Some(v), Some(best)) => v > best,
            (Some(_), None) => true,
            _ => false,
        };
        if improved {
            state.best_validation = validation_accuracy;
        }
        // Tagged by epoch, so the files never overwrite the checkpoint in force.
        checkpointer.write(&state.next_epoch.to_string(), &model, &optim, &state)?;
        write_metrics(out, &state.history)?;
        if let Some(patience) = config.patience {
            let since_best = state
                .history
                .iter()
                .rev()
                .take_while(|m| m.validation_accuracy < state.best_validation)
                .count();
            if since_best >= patience {
                break;
            }
        }
    }
    Ok(ClassifierOutcome {
        model: model.valid(),
        history: state.history,
        resumed,
    })
}

/// `metrics.csv`: one row per epoch.
fn write_metrics(out: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut csv = String::from("epoch,train_loss,train_accuracy,validation_accuracy,seconds\n");
    for m in history {
        let v = m
            .validation_accuracy
            .map(|v| format!("{v:.6}"))
            .unwrap_or_default();
        csv.push_str(&format!(
            "{},{:.6},{:.6},{v},{:.2}\n",
            m.epoch + 1,
            m.train_loss,
            m.train_accuracy,
            m.seconds
        ));
    }
    archnet_data::fsutil::write_atomic(&out.join("metrics.csv"), csv.as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use archnet_data::synthetic::bright_dark;

    /// Two classes that differ in mean brightness: any working classifier separates them.

    #[test]
    fn cnn_learns_a_separable_task_and_resumes() {
        let t = tempfile::tempdir().unwrap();
        let spec = BaseModelSpec {
            kind: "cnn".into(),
            input_shape: [1, 8, 8],
            classes: 2,
        };
        let train = Samples::Plain(bright_dark(64));
        let valid = Samples::Plain(bright_dark(20));
        let config = ClassifierTrainConfig {
            epochs: 2,
            batch_size: 16,
            ..Default::default()
        };
        let first = train_classifier(
            &spec,
            &train,
            Some(&valid),
            &config,
            t.path(),
            false,
            &mut |_, _, _| {},
        )
        .unwrap();
        assert_eq!(first.history.len(), 2);
        let more = ClassifierTrainConfig {
            epochs: 4,
            ..config.clone()
        };
        let err = train_classifier(
            &spec,
            &train,
            Some(&valid),
            &more,
            t.path(),
            false,
            &mut |_, _, _| {},
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("pass --resume"), "{err}");
        let second = train_classifier(
            &spec,
            &train,
            Some(&valid),
            &more,
            t.path(),
            true,
            &mut |_, _, _| {},
        )
        .unwrap();
        assert!(second.resumed);
        assert_eq!(second.history.len(), 4);
        let eval = evaluate(&second.model, &valid, 8).unwrap();
        assert_eq!(eval.count, 20);
        assert!(eval.accuracy >= 0.9, "{eval:?}");
        let csv = std::fs::read_to_string(t.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 5, "{csv}");
    }

    /// An epoch stopped part-way resumes from its mid-epoch checkpoint: the batches already
    /// trained on are skipped and the epoch's metrics come out as an unbroken run's.
    #[test]
    fn an_epoch_interrupted_part_way_resumes_where_it_stopped() {
        let spec = BaseModelSpec {
            kind: "cnn".into(),
            input_shape: [1, 8, 8],
            classes: 2,
        };
        let train = Samples::Plain(bright_dark(96));
        let config = ClassifierTrainConfig {
            epochs: 1,
            batch_size: 16,
            ..Default::default()
        };
        let run = |dir: &Path, resume: bool, stop_after: Option<usize>| {
            let mut batches = 0;
            train_classifier_checkpointing(
                &spec,
                &train,
                None,
                &config,
                dir,
                resume,
                Duration::ZERO,
                &mut |_, _, _| {
                    batches += 1;
                    // The checkpoint of a batch is written after this call: stopping here
                    // leaves the previous batch's.
                    if Some(batches) == stop_after {
                        panic!("interrupted");
                    }
                },
            )
        };
        let whole = tempfile::tempdir().unwrap();
        let unbroken = run(whole.path(), false, None).unwrap();

        let broken = tempfile::tempdir().unwrap();
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(broken.path(), false, Some(4))
        }));
        assert!(stopped.is_err(), "the run was meant to stop in batch 4");
        let saved: crate::checkpoint::Saved<ClassifierState> =
            Checkpointer::new(broken.path(), 0o644)
                .read()
                .unwrap()
                .unwrap();
        let progress = saved.state.progress.expect("a mid-epoch checkpoint");
        assert_eq!((saved.state.next_epoch, progress.batches), (0, 3));
        assert_eq!(progress.seen, 48);

        let resumed = run(broken.path(), true, None).unwrap();
        assert!(resumed.resumed);
        assert_eq!(resumed.history.len(), 1);
        let (a, b) = (&unbroken.history[0], &resumed.history[0]);
        assert!(
            (a.train_loss - b.train_loss).abs() < 1e-4 * a.train_loss.abs().max(1.0),
            "{a:?} vs {b:?}"
        );
        assert_eq!(a.train_accuracy, b.train_accuracy);
        let after: crate::checkpoint::Saved<ClassifierState> =
            Checkpointer::new(broken.path(), 0o644)
                .read()
                .unwrap()
                .unwrap();
        assert!(after.state.progress.is_none());
        assert_eq!(after.state.next_epoch, 1);
    }
}
