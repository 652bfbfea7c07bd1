//! Training a `private` key: E1 learns a low-dimensional code that keeps what a classifier needs,
//! under the noise of its Gaussian mechanism, so that what identifies one image is lost.
//!
//! Unlike an ArchNet key (an identity map D1(E1(x)) ≈ x), a `private` key is trained on the
//! publisher's *labelled* images with a proxy classifier head reading E1's noisy output: the
//! cross-entropy of the head pulls the codes of one class together and pushes classes apart on
//! the sphere of the clipping norm, and the noise of training is the noise of encryption. A code
//! that only says the class hides the instance; whether training collapses the variation within a
//! class that far is measured, not assumed (results/privacy-utility.md).
//!
//! The head is not part of the key: the key file holds E1 only (and no D1). What the head reached
//! on held-out images is stored in the key's metadata, since a node's model that does not beat
//! the publisher's own proxy adds nothing.

use std::time::Instant;

use archnet_data::{DataError, ImageDataset};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::arch::KeyArchitecture;
use crate::error::{ModelError, Result};
use crate::key::ArchNetKey;
use crate::keyfile::{KeyMetadata, ProxyRecord};
use crate::privacy::GaussianMechanism;
use crate::train::{Progress, epoch_order};

/// Settings of one `private` key training run.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateKeyConfig {
    /// ε of one encryption per image (∞: no noise, no guarantee).
    pub epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// Channels of the 4×4 code (1: a 16-value code).
    pub code_channels: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// Weight of the collapse term: the squared distance of each noise-free code to a fixed
    /// vertex of a regular simplex for its class. It pulls every image of a class onto one
    /// point, which is what hides the instance, and puts classes as far apart as the sphere
    /// allows, which is what the noise needs. 0: cross-entropy alone. (Chosen on development
    /// runs on MNIST, where it raised the proxy's accuracy under noise by about 2 points; not yet
    /// a reproducible measurement.)
    pub collapse: f64,
}

impl Default for PrivateKeyConfig {
    fn default() -> Self {
        PrivateKeyConfig {
            epsilon: f64::INFINITY,
            delta: crate::privacy::DEFAULT_DELTA,
            code_channels: 1,
            learning_rate: 3e-3,
            batch_size: 64,
            epochs: 10,
            seed: 0,
            collapse: 1.0,
        }
    }
}

fn idx_labels(idx: &[usize], labels: &[u16]) -> Vec<u16> {
    idx.iter().map(|&i| labels[i]).collect()
}

/// One step's loss: cross-entropy of the proxy head on noisy codes (noise drawn from burn's seeded
/// generator, on the code before its layout, as encryption draws it), plus `collapse` × the
/// squared distance of each noise-free code to its class's simplex vertex.
#[allow(clippy::too_many_arguments)]
fn step_loss(
    model: &PrivateTraining,
    x: Tensor<4>,
    labels: &[u16],
    classes: usize,
    arch: &KeyArchitecture,
    mechanism: &GaussianMechanism,
    collapse: f64,
    loss_fn: &burn::nn::loss::CrossEntropyLoss,
) -> Tensor<1> {
    let clean = model.key.encoder.forward_without_noise(x);
    let dims = clean.dims();
    let device = clean.device();
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new(
            labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
            [labels.len()],
        ),
        &device,
    );
    let noisy = if mechanism.sigma > 0.0 {
        let [n, cc, h, w] = dims;
        let side = crate::arch::PRIVATE_CODE_SIDE;
        let z = Tensor::<4>::random(
            [n, cc, side, side],
            burn::tensor::Distribution::Normal(0.0, mechanism.sigma),
            &device,
        );
        let (fy, fx) = (h / side, w / side);
        let z = z
            .reshape([n, cc, side, 1, side, 1])
            .expand([n, cc, side, fy, side, fx])
            .reshape([n, cc, h, w]);
        clean.clone() + z
    } else {
        clean.clone()
    };
    let ce = loss_fn.forward(model.head.forward(noisy), targets);
    if collapse <= 0.0 {
        return ce;
    }
    let y: Vec<f32> = labels
        .iter()
        .flat_map(|&l| simplex_target(l as usize, classes, arch.cipher_shape))
        .collect();
    let target = Tensor::<4>::from_data(TensorData::new(y, dims), &device);
    let pull = (clean - target)
        .powi_scalar(2)
        .flatten::<2>(1, 3)
        .sum_dim(1)
        .mean()
        .mul_scalar(collapse);
    ce + pull
}

/// The proxy classifier the key trains against: one linear layer on the ciphertext (a hidden ReLU
/// layer did slightly worse in development runs on MNIST).
#[derive(Module, Debug)]
pub struct ProxyHead {
    linear: Linear,
}

impl ProxyHead {
    /// A fresh head for ciphertexts of `cipher_len` values and `classes` classes.
    pub fn init(cipher_len: usize, classes: usize, device: &Device) -> Self {
        ProxyHead {
            linear: LinearConfig::new(cipher_len, classes).init(device),
        }
    }

    /// Ciphertexts `[N, C', H', W']` → logits `[N, classes]`.
    pub fn forward(&self, ciphers: Tensor<4>) -> Tensor<2> {
        self.linear.forward(ciphers.flatten::<2>(1, 3))
    }
}

/// E1 and the head, trained together.
#[derive(Module, Debug)]
struct PrivateTraining {
    key: ArchNetKey,
    head: ProxyHead,
}

/// What a finished run produced.
pub struct PrivateKeyOutcome {
    /// The key (E1 with its mechanism; no D1).
    pub key: ArchNetKey,
    /// The proxy head, for measuring its accuracy.
    pub head: ProxyHead,
    /// The key's layers, the mechanism included.
    pub architecture: KeyArchitecture,
    /// The clip norm and σ of its Gaussian mechanism.
    pub mechanism: GaussianMechanism,
    /// Images seen in training.
    pub samples_seen: u64,
    /// Loss of the last step.
    pub final_loss: f64,
    /// Wall seconds of training.
    pub wall_seconds: f64,
    /// Accuracy of the head on noisy codes of the held-out images, when some were given.
    pub proxy: Option<ProxyRecord>,
}

/// Trains a `private` key on labelled `data`, then measures the proxy head on `holdout` (with
/// encryption noise, as a node would see the images). `on_progress` hears every step.
// Why one function: the step loop trains E1's code and the proxy head together with one
// optimizer (the loss is `step_loss`); split up, its state would travel in a struct through
// every piece.
pub fn train_private_key(
    data: &ImageDataset,
    config: &PrivateKeyConfig,
    holdout: Option<(&ImageDataset, String)>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<PrivateKeyOutcome> {
    // A `private` key's code is trained on the labels (its proxy head).
    let labels = data.labels.as_ref().ok_or_else(|| DataError::Unlabelled {
        what: "a `private` key trains on labelled images, and its training data".into(),
    })?;
    let classes = data.class_names.len().max(2);
    if data.is_empty() || config.batch_size == 0 || config.epochs == 0 {
        return Err(ModelError::Config(
            "training needs data, a batch size and an epoch".into(),
        ));
    }
    let mechanism = GaussianMechanism::calibrate(config.epsilon, config.delta, 1.0)?;
    let arch = KeyArchitecture::private(data.shape, config.code_channels, mechanism.sigma)?;
    let device = crate::device().autodiff();
    let _rng = crate::seeded_run(&device, config.seed);
    let cipher_len: usize = arch.cipher_shape.iter().product();
    let mut model = PrivateTraining {
        key: ArchNetKey::init(&arch, &device),
        head: ProxyHead::init(cipher_len, classes, &device),
    };
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let [c, h, w] = data.shape;
    let n = data.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let samples_total = (n * config.epochs) as u64;
    let started = Instant::now();
    let (mut samples_seen, mut last_loss) = (0u64, f64::NAN);
    for epoch in 0..config.epochs {
        let order = epoch_order(n, config.seed, epoch);
        for (step, idx) in order.chunks(config.batch_size).enumerate() {
            let x = Tensor::<4>::from_data(
                TensorData::new(data.batch_f32(idx), [idx.len(), c, h, w]),
                &device,
            );
            let loss = step_loss(
                &model,
                x,
                &idx_labels(idx, labels),
                classes,
                &arch,
                &mechanism,
                config.collapse,
                &loss_fn,
            );
            last_loss = f64::from(loss.clone().into_scalar::<f32>());
            if !last_loss.is_finite() {
                return Err(ModelError::Diverged {
                    loss: last_loss,
                    at: format!("at epoch {epoch} step {step}"),
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
            samples_seen += idx.len() as u64;
            on_progress(&Progress {
                epoch,
                epochs: config.epochs,
                step_in_epoch: step,
                steps_per_epoch,
                samples_seen,
                samples_total,
                loss: last_loss,
                samples_per_second: samples_seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
                checkpoint: None,
            });
        }
    }
    let model = model.valid();
    let proxy = match holdout {
        Some((images, source)) => Some(ProxyRecord {
            accuracy: proxy_accuracy(&model.key, &model.head, images)?,
            images: images.len(),
            data_source: source,
        }),
        None => None,
    };
    Ok(PrivateKeyOutcome {
        key: model.key,
        head: model.head,
        architecture: arch,
        mechanism,
        samples_seen,
        final_loss: last_loss,
        wall_seconds: started.elapsed().as_secs_f64(),
        proxy,
    })
}

/// The laid-out ciphertext of a noise-free code at vertex `class` of a regular simplex of
/// `classes` unit vectors (in the code's first `classes` coordinates; random-free).
fn simplex_target(class: usize, classes: usize, cipher_shape: [usize; 3]) -> Vec<f32> {
    let side = crate::arch::PRIVATE_CODE_SIDE;
    let [cc, h, w] = cipher_shape;
    let d = cc * side * side;
    let k = classes.min(d);
    let mut v = vec![0f64; d];
    for (j, x) in v.iter_mut().enumerate().take(k) {
        *x = if j == class % k { 1.0 } else { 0.0 } - 1.0 / k as f64;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    let (fy, fx) = (h / side, w / side);
    let mut out = vec![0f32; cc * h * w];
    for c in 0..cc {
        for y in 0..h {
            for x in 0..w {
                out[(c * h + y) * w + x] = (v[(c * side + y / fy) * side + x / fx] / norm) as f32;
            }
        }
    }
    out
}

/// Accuracy of `head` on freshly encrypted (noisy) `images` under `key`.
pub fn proxy_accuracy(key: &ArchNetKey, head: &ProxyHead, images: &ImageDataset) -> Result<f64> {
    let labels = images
        .labels
        .as_ref()
        .ok_or_else(|| DataError::Unlabelled {
            what: "the proxy head is measured on labelled images, and its test images".into(),
        })?;
    let device = crate::device();
    let [c, h, w] = images.shape;
    let mut correct = 0usize;
    let all: Vec<usize> = (0..images.len()).collect();
    for idx in all.chunks(256) {
        let x = Tensor::<4>::from_data(
            TensorData::new(images.batch_f32(idx), [idx.len(), c, h, w]),
            &device,
        );
        let y: Vec<u16> = idx.iter().map(|&i| labels[i]).collect();
        correct += crate::classify::correct_predictions(head.forward(key.encrypt(x)), &y);
    }
    Ok(correct as f64 / images.len().max(1) as f64)
}

impl PrivateKeyOutcome {
    /// The key file metadata of this run, with its guarantee and proxy accuracy (`key_id` is
    /// filled in by [`crate::KeyFile::save`]).
    pub fn key_metadata(
        &self,
        data: &ImageDataset,
        config: &PrivateKeyConfig,
        data_source: String,
    ) -> KeyMetadata {
        let mut meta = KeyMetadata::describe(
            &self.architecture,
            crate::keyfile::TrainingRecord {
                recipe: "private".into(),
                loss: "cross-entropy of a proxy head on noisy codes".into(),
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
        );
        meta.privacy = self.mechanism.guarantee(config.delta, 1);
        meta.proxy = self.proxy.clone();
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes that differ in which half of the image is bright, with per-image texture.
    fn halves(n: usize) -> ImageDataset {
        let (h, w) = (8, 8);
        let mut pixels = Vec::with_capacity(n * h * w);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = (i % 2) as u16;
            for y in 0..h {
                for x in 0..w {
                    let bright = (x < w / 2) == (class == 0);
                    let texture = ((i * 7 + y * 3 + x * 5) % 40) as u8;
                    pixels.push(if bright { 200 + texture / 4 } else { texture });
                }
            }
            labels.push(class);
        }
        ImageDataset {
            shape: [1, h, w],
            pixels,
            labels: Some(labels),
            class_names: vec!["left".into(), "right".into()],
        }
    }

    #[test]
    fn a_private_key_learns_the_class_and_never_encrypts_twice_alike() {
        let data = halves(256);
        // Two antipodal classes on the unit sphere are 2 apart; at ε = 32 (σ ≈ 0.41) the
        // noise flips fewer than 1% of them, at ε = 8 (σ ≈ 1.2) about 20%.
        let config = PrivateKeyConfig {
            epsilon: 32.0,
            epochs: 20,
            ..PrivateKeyConfig::default()
        };
        let out =
            train_private_key(&data, &config, Some((&data, "train".into())), &mut |_| {}).unwrap();
        let proxy = out.proxy.as_ref().unwrap();
        assert!(proxy.accuracy > 0.9, "proxy accuracy {}", proxy.accuracy);
        let meta = out.key_metadata(&data, &config, "test".into());
        let g = meta.privacy.unwrap();
        assert!((g.epsilon - 32.0).abs() < 1e-6, "ε {}", g.epsilon);
        assert_eq!(meta.decoder_params, 0);
        // The same image twice: two different ciphertexts.
        let device = crate::device();
        let x =
            Tensor::<4>::from_data(TensorData::new(data.batch_f32(&[0]), [1, 1, 8, 8]), &device);
        let a = out.key.encrypt(x.clone());
        let b = out.key.encrypt(x);
        assert!((a - b).abs().max().into_scalar::<f32>() > 0.0);
    }

    #[test]
    fn unlabelled_data_is_refused() {
        let mut data = halves(8);
        data.labels = None;
        let err = train_private_key(&data, &PrivateKeyConfig::default(), None, &mut |_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("labelled"), "{err}");
    }
}
