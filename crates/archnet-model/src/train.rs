//! Training a key as an identity map, D1(E1(x)) ≈ x (paper §4.4), with checkpoints and resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use archnet_data::ImageDataset;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::arch::KeyArchitecture;
use crate::checkpoint::Checkpointer;
use crate::error::{ModelError, Result};
use crate::key::ArchNetKey;
use crate::metrics::QualityMeans;

/// Reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy on D1's logits (the paper's eq. 3), for pixels in `[0, 1]`.
    Bce,
    /// Mean squared error of the sigmoid output (the paper's §5.4 alternative).
    Mse,
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bce" => Ok(Loss::Bce),
            "mse" => Ok(Loss::Mse),
            o => Err(format!("unknown loss `{o}` (expected bce or mse)")),
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loss::Bce => "bce",
            Loss::Mse => "mse",
        })
    }
}

/// A named set of training defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// Adam at lr 1e-3: converges in CPU budgets (the default).
    Fast,
    /// The paper's §5.4: Adam at lr 1e-5. Kept for comparison; barely moves in CPU budgets.
    Paper,
}

impl Recipe {
    /// The recipe's learning rate.
    pub fn learning_rate(self) -> f64 {
        match self {
            Recipe::Fast => 1e-3,
            Recipe::Paper => 1e-5,
        }
    }

    /// The recipe's name.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Fast => "fast",
            Recipe::Paper => "paper",
        }
    }
}

impl std::str::FromStr for Recipe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fast" => Ok(Recipe::Fast),
            "paper" => Ok(Recipe::Paper),
            o => Err(format!("unknown recipe `{o}` (expected fast or paper)")),
        }
    }
}

/// Settings of one key-training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyTrainConfig {
    /// `fast` or `paper` (as written into the key file).
    pub recipe: String,
    /// The reconstruction loss.
    pub loss: Loss,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Stop once this many samples have been seen, even mid-epoch (a time budget).
    pub max_samples: Option<u64>,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// Also checkpoint every this many steps (0: only at the end of each epoch).
    pub checkpoint_every: usize,
}

impl KeyTrainConfig {
    /// Defaults of `recipe`: BCE, batch 64, 1 epoch, seed 0.
    pub fn from_recipe(recipe: Recipe) -> Self {
        KeyTrainConfig {
            recipe: recipe.name().into(),
            loss: Loss::Bce,
            learning_rate: recipe.learning_rate(),
            batch_size: 64,
            epochs: 1,
            max_samples: None,
            seed: 0,
            checkpoint_every: 0,
        }
    }
}

/// Reported after every step.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The current epoch, from 0.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// The step within the epoch.
    pub step_in_epoch: usize,
    /// Steps in one epoch.
    pub steps_per_epoch: usize,
    /// Samples seen so far (resumed runs included).
    pub samples_seen: u64,
    /// Samples this run will have seen at the end.
    pub samples_total: u64,
    /// Loss of the last step.
    pub loss: f64,
    /// Samples per second of this run so far.
    pub samples_per_second: f64,
    /// Set when a checkpoint was written after this step.
    pub checkpoint: Option<PathBuf>,
}

/// What a finished run produced.
pub struct TrainOutcome {
    /// The trained key.
    pub key: ArchNetKey,
    /// Samples seen in all (resumed runs included).
    pub samples_seen: u64,
    /// Loss of the last step.
    pub final_loss: f64,
    /// Wall seconds of training (resumed runs included).
    pub wall_seconds: f64,
    /// Whether the run continued from a checkpoint.
    pub resumed: bool,
}

impl TrainOutcome {
    /// The key file metadata describing this run (`key_id` is filled in by
    /// [`crate::KeyFile::save`]; `reconstruction` is left for the caller to measure).
    pub fn key_metadata(
        &self,
        arch: &KeyArchitecture,
        data: &ImageDataset,
        config: &KeyTrainConfig,
        data_source: String,
    ) -> crate::keyfile::KeyMetadata {
        crate::keyfile::KeyMetadata::describe(
            arch,
            crate::keyfile::TrainingRecord {
                recipe: config.recipe.clone(),
                loss: config.loss.to_string(),
                learning_rate: config.learning_rate,
                batch_size: config.batch_size,
                epochs: config.epochs,
                samples_seen: self.samples_seen,
                seed: config.seed,
                data_fingerprint: data.fingerprint(),
                data_source,
                train_samples: data.len(),
                wall_seconds: self.wall_seconds,
                final_loss: self.final_loss,
            },
        )
    }
}

/// `state.json` of a checkpoint folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    architecture: KeyArchitecture,
    config: KeyTrainConfig,
    data_fingerprint: String,
    /// Next epoch and step to run.
    epoch: usize,
    step_in_epoch: usize,
    samples_seen: u64,
    last_loss: f64,
    wall_seconds: f64,
}

/// Trains a key for `arch` on `data` as an identity map.
///
/// With `checkpoints`, a checkpoint (weights, Adam state, position) is written there at the end
/// of each epoch and every `checkpoint_every` steps; with `resume`, an existing checkpoint is
/// continued, and the result is the same as an uninterrupted run with the same seed.
// Why one function: the loop's position (epoch, step, samples, loss, wall time) is what a
// checkpoint saves and a resume restores; kept in one place, a resumed run visibly repeats an
// uninterrupted one.
pub fn train_key(
    arch: &KeyArchitecture,
    data: &ImageDataset,
    config: &KeyTrainConfig,
    checkpoints: Option<&Path>,
    resume: bool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome> {
    if data.shape != arch.plain_shape {
        return Err(ModelError::Shape {
            expected: arch.plain_shape,
            found: data.shape,
            reason: format!(
                "the key takes {:?} images but the data is {:?}",
                arch.plain_shape, data.shape
            ),
        });
    }
    if data.is_empty() || config.batch_size == 0 || config.epochs == 0 {
        return Err(ModelError::Config(
            "training needs data, a batch size and an epoch".into(),
        ));
    }
    if !arch.has_decoder() {
        return Err(ModelError::Preset {
            preset: arch.preset.clone(),
            reason: "a key without a decoder does not train as an identity map; it trains with private_key::train_private_key".into(),
        });
    }
    let device = crate::device().autodiff();
    let _rng = crate::seeded_run(&device, config.seed);
    let fingerprint = data.fingerprint();
    let mut key = ArchNetKey::init(arch, &device);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();

    let n = data.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let samples_total = config
        .max_samples
        .unwrap_or(u64::MAX)
        .min((n * config.epochs) as u64);
    let (mut epoch, mut start_step, mut samples_seen, mut last_loss, mut wall_before) =
        (0, 0, 0u64, f64::NAN, 0.0);
    let mut resumed = false;
    let checkpointer = checkpoints.map(|dir| Checkpointer::new(dir, 0o600));
    if let Some(ckpt) = &checkpointer
        && let Some(saved) = ckpt.resume::<CheckpointState>(resume)?
    {
        check_compatible(ckpt.dir(), &saved.state, arch, config, &fingerprint)?;
        optim = ckpt.load(&saved, &mut key, optim)?;
        let state = saved.state;
        (epoch, start_step, samples_seen, last_loss, wall_before) = (
            state.epoch,
            state.step_in_epoch,
            state.samples_seen,
            state.last_loss,
            state.wall_seconds,
        );
        resumed = true;
    }

    let started = Instant::now();
    let [c, h, w] = arch.plain_shape;
    let mut run_samples = 0u64;
    'epochs: while epoch < config.epochs {
        let order = epoch_order(n, config.seed, epoch);
        for step in start_step..steps_per_epoch {
            if samples_seen >= samples_total {
                break 'epochs;
            }
            let idx = &order[step * config.batch_size..((step + 1) * config.batch_size).min(n)];
            let x = Tensor::<4>::from_data(
                TensorData::new(data.batch_f32(idx), [idx.len(), c, h, w]),
                &device,
            );
            let logits = key.round_trip_logits(x.clone());
            let loss = reconstruction_loss(config.loss, logits, x);
            last_loss = f64::from(loss.clone().into_scalar::<f32>());
            if !last_loss.is_finite() {
                return Err(ModelError::Diverged {
                    loss: last_loss,
                    at: format!("at epoch {epoch} step {step}"),
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &key);
            key = optim.step(config.learning_rate, key, grads);
            samples_seen += idx.len() as u64;
            run_samples += idx.len() as u64;
            let epoch_done = step + 1 == steps_per_epoch;
            let (next_epoch, next_step) = if epoch_done {
                (epoch + 1, 0)
            } else {
                (epoch, step + 1)
            };
            let periodic = config.checkpoint_every > 0 && (step + 1) % config.checkpoint_every == 0;
            let finished = samples_seen >= samples_total;
            let mut written = None;
            if let Some(ckpt) = &checkpointer
                && (epoch_done || periodic || finished)
            {
                let state = CheckpointState {
                    architecture: arch.clone(),
                    config: config.clone(),
                    data_fingerprint: fingerprint.clone(),
                    epoch: next_epoch,
                    step_in_epoch: next_step,
                    samples_seen,
                    last_loss,
                    wall_seconds: wall_before + started.elapsed().as_secs_f64(),
                };
                // Tagged by progress, so the files never overwrite the checkpoint in force.
                ckpt.write(&samples_seen.to_string(), &key, &optim, &state)?;
                written = Some(ckpt.dir().to_path_buf());
            }
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            on_progress(&Progress {
                epoch,
                epochs: config.epochs,
                step_in_epoch: step,
                steps_per_epoch,
                samples_seen,
                samples_total,
                loss: last_loss,
                samples_per_second: run_samples as f64 / elapsed,
                checkpoint: written,
            });
        }
        start_step = 0;
        epoch += 1;
    }
    Ok(TrainOutcome {
        key: key.valid(),
        samples_seen,
        final_loss: last_loss,
        wall_seconds: wall_before + started.elapsed().as_secs_f64(),
        resumed,
    })
}

/// The sample order of `epoch`: a permutation that depends only on the seed and the epoch, so a
/// resumed run visits samples exactly as an uninterrupted one.
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    order.shuffle(&mut rng);
    order
}

/// Mean reconstruction loss of D1's `logits` against the images `target` (pixels in [0, 1]).
pub fn reconstruction_loss(loss: Loss, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    match loss {
        // BCE with logits, in the overflow-free form max(z, 0) − z·x + log(1 + e^−|z|).
        Loss::Bce => (relu(logits.clone()) - logits.clone() * target
            + logits.abs().neg().exp().log1p())
        .mean(),
        Loss::Mse => (sigmoid(logits) - target).powi_scalar(2).mean(),
    }
}

fn check_compatible(
    dir: &Path,
    state: &CheckpointState,
    arch: &KeyArchitecture,
    config: &KeyTrainConfig,
    fingerprint: &str,
) -> Result<()> {
    let bad = |reason: &str| {
        Err(ModelError::Checkpoint {
            path: dir.into(),
            reason: reason.into(),
        })
    };
    if &state.architecture != arch {
        return bad("it was made for another preset or image shape");
    }
    if state.data_fingerprint != fingerprint {
        return bad("it was trained on other data (fingerprint differs)");
    }
    // Epochs and the sample budget may grow on resume; everything that shapes each step may not.
    let same = |a: &KeyTrainConfig| (a.loss, a.learning_rate, a.batch_size, a.seed);
    if same(&state.config) != same(config) {
        return bad("loss, learning rate, batch size or seed differ from the checkpoint's");
    }
    Ok(())
}

/// Mean PSNR/SSIM of D1(E1(x)) over the first `limit` images of `data`.
pub fn evaluate_reconstruction(
    key: &ArchNetKey,
    data: &ImageDataset,
    limit: usize,
    batch_size: usize,
) -> QualityMeans {
    let device = crate::device();
    let [c, h, w] = data.shape;
    let n = data.len().min(limit);
    let mut quality = QualityMeans::default();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let plain = data.batch_f32(chunk);
        let x = Tensor::<4>::from_data(
            TensorData::new(plain.clone(), [chunk.len(), c, h, w]),
            &device,
        );
        let y = key
            .decrypt(key.encrypt(x))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 output");
        let len = c * h * w;
        for i in 0..chunk.len() {
            quality.add(
                data.shape,
                &plain[i * len..(i + 1) * len],
                &y[i * len..(i + 1) * len],
            );
        }
    }
    quality
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_data(n: usize) -> ImageDataset {
        let pixels = (0..n * 16).map(|i| ((i * 97) % 256) as u8).collect();
        ImageDataset {
            shape: [1, 4, 4],
            pixels,
            labels: None,
            class_names: vec![],
        }
    }

    fn config() -> KeyTrainConfig {
        KeyTrainConfig {
            epochs: 2,
            batch_size: 4,
            ..KeyTrainConfig::from_recipe(Recipe::Fast)
        }
    }

    fn weights(key: &ArchNetKey) -> Vec<f32> {
        let x = Tensor::<4>::ones([1, 1, 4, 4], &crate::device());
        key.encrypt(x).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn same_seed_same_key() {
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        let data = tiny_data(10);
        let a = train_key(&arch, &data, &config(), None, false, &mut |_| {}).unwrap();
        let b = train_key(&arch, &data, &config(), None, false, &mut |_| {}).unwrap();
        assert_eq!(weights(&a.key), weights(&b.key));
        assert_eq!(a.samples_seen, 20);
    }

    #[test]
    fn loss_goes_down() {
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        let data = tiny_data(32);
        let mut losses = Vec::new();
        let cfg = KeyTrainConfig {
            epochs: 15,
            ..config()
        };
        train_key(&arch, &data, &cfg, None, false, &mut |p| {
            losses.push(p.loss)
        })
        .unwrap();
        let first: f64 = losses[..8].iter().sum::<f64>() / 8.0;
        let last: f64 = losses[losses.len() - 8..].iter().sum::<f64>() / 8.0;
        assert!(last < first * 0.9, "loss {first} → {last}");
    }

    #[test]
    fn resume_matches_an_uninterrupted_run() {
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        let data = tiny_data(10);
        let t = tempfile::tempdir().unwrap();
        // Interrupted: stop after 12 samples (mid-epoch 1), checkpointing every step.
        let first = KeyTrainConfig {
            max_samples: Some(12),
            checkpoint_every: 1,
            ..config()
        };
        train_key(&arch, &data, &first, Some(t.path()), false, &mut |_| {}).unwrap();
        let resumed =
            train_key(&arch, &data, &config(), Some(t.path()), true, &mut |_| {}).unwrap();
        assert!(resumed.resumed);
        let straight = train_key(&arch, &data, &config(), None, false, &mut |_| {}).unwrap();
        assert_eq!(resumed.samples_seen, 20);
        assert_eq!(weights(&resumed.key), weights(&straight.key));
        // Only the newest checkpoint's files remain.
        let files = std::fs::read_dir(t.path()).unwrap().count();
        assert_eq!(files, 3);
    }

    #[test]
    fn existing_checkpoint_needs_resume() {
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        let data = tiny_data(4);
        let t = tempfile::tempdir().unwrap();
        train_key(&arch, &data, &config(), Some(t.path()), false, &mut |_| {}).unwrap();
        let err = train_key(&arch, &data, &config(), Some(t.path()), false, &mut |_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("pass --resume"), "{err}");
        let other = KeyTrainConfig {
            learning_rate: 0.5,
            ..config()
        };
        let err = train_key(&arch, &data, &other, Some(t.path()), true, &mut |_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("learning rate"), "{err}");
    }
}
