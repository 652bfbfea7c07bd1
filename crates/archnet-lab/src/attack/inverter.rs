//! The learned known-plaintext inverter: a network with D1's architecture (public, like every
//! preset) trained on the attacker's N (ciphertext, image) pairs. It needs no access to E1.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use archnet_model::arch::{KeyArchitecture, LayerSpec};
use archnet_model::error::{ModelError, Result};
use archnet_model::key::LDecoder;
use archnet_model::train::{Loss, reconstruction_loss};

/// The inverter's layers: D1's architecture where the key has a D1 (public, like every preset),
/// else a decoder of the attacker's own design from the ciphertext to the image (for `private`
/// keys): a linear layer to 64 maps of a quarter of the image's size, then twice a 2× upsampling
/// followed by a 3×3 convolution with ReLU (64 → 32 → 16 channels), and a 3×3 convolution to the
/// image's channels; two linear layers where the image's sides are not multiples of 4. Upsampling
/// and convolution rather than transposed convolutions: the same capacity on archnet's fast
/// convolution kernels.
pub fn attack_plan(arch: &KeyArchitecture) -> Vec<LayerSpec> {
    if arch.has_decoder() {
        return arch.decoder.clone();
    }
    let cipher_len: usize = arch.cipher_shape.iter().product();
    let [c, h, w] = arch.plain_shape;
    let conv = |cin: usize, cout: usize, relu: bool| LayerSpec::Conv {
        channels: [cin, cout],
        kernel: 3,
        stride: 1,
        padding: 1,
        relu,
    };
    if h % 4 == 0 && w % 4 == 0 {
        let (qh, qw) = (h / 4, w / 4);
        vec![
            LayerSpec::Linear {
                features: [cipher_len, 64 * qh * qw],
                output: [64, qh, qw],
                relu: true,
            },
            LayerSpec::Upsample { factor: 2 },
            conv(64, 32, true),
            LayerSpec::Upsample { factor: 2 },
            conv(32, 16, true),
            conv(16, c, false),
        ]
    } else {
        vec![
            LayerSpec::Linear {
                features: [cipher_len, 512],
                output: [512, 1, 1],
                relu: true,
            },
            LayerSpec::Linear {
                features: [512, c * h * w],
                output: [c, h, w],
                relu: false,
            },
        ]
    }
}

/// How long and how the inverter trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InverterConfig {
    /// Optimiser steps (a compute budget that does not depend on N).
    pub steps: usize,
    /// Pairs per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed of the initialisation and the batches.
    pub seed: u64,
}

impl Default for InverterConfig {
    fn default() -> Self {
        InverterConfig {
            steps: 1500,
            batch_size: 32,
            learning_rate: 3e-3,
            seed: 0,
        }
    }
}

/// A trained inverter: ciphertexts in, images out.
pub struct Inverter {
    decoder: LDecoder,
    cipher_shape: [usize; 3],
    plain_shape: [usize; 3],
    /// Per-channel mean and standard deviation of the training ciphertexts: inputs are
    /// standardised, since ciphertext scales differ from key to key.
    channel_stats: Vec<(f32, f32)>,
}

impl Inverter {
    /// Trains on `n` pairs (`ciphers`: `n × cipher_len`, `plains`: `n × plain_len` in [0, 1]).
    pub fn train(
        arch: &KeyArchitecture,
        ciphers: &[f32],
        plains: &[f32],
        n: usize,
        config: &InverterConfig,
    ) -> Result<Inverter> {
        let cipher_len: usize = arch.cipher_shape.iter().product();
        let plain_len: usize = arch.plain_shape.iter().product();
        if n == 0 || ciphers.len() != n * cipher_len || plains.len() != n * plain_len {
            return Err(ModelError::Fit {
                attack: "inverter",
                reason: "pair counts or shapes do not match the key's architecture".into(),
            });
        }
        let channel_stats = channel_stats(arch.cipher_shape, ciphers);
        let device = archnet_model::device().autodiff();
        let _rng = archnet_model::seeded_run(&device, config.seed);
        let mut decoder = LDecoder::init(&attack_plan(arch), &device);
        let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let mut order: Vec<usize> = Vec::new();
        let batch = config.batch_size.clamp(1, n);
        let [c, h, w] = arch.cipher_shape;
        let [pc, ph, pw] = arch.plain_shape;
        for _ in 0..config.steps {
            if order.len() < batch {
                let mut epoch: Vec<usize> = (0..n).collect();
                epoch.shuffle(&mut rng);
                order.extend(epoch);
            }
            let idx: Vec<usize> = order.drain(..batch).collect();
            let mut x = Vec::with_capacity(batch * cipher_len);
            let mut y = Vec::with_capacity(batch * plain_len);
            for &i in &idx {
                x.extend(standardise(
                    arch.cipher_shape,
                    &channel_stats,
                    &ciphers[i * cipher_len..(i + 1) * cipher_len],
                ));
                y.extend_from_slice(&plains[i * plain_len..(i + 1) * plain_len]);
            }
            let x = Tensor::<4>::from_data(TensorData::new(x, [batch, c, h, w]), &device);
            let y = Tensor::<4>::from_data(TensorData::new(y, [batch, pc, ph, pw]), &device);
            let loss = reconstruction_loss(Loss::Bce, decoder.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &decoder);
            decoder = optim.step(config.learning_rate, decoder, grads);
        }
        Ok(Inverter {
            decoder: decoder.valid(),
            cipher_shape: arch.cipher_shape,
            plain_shape: arch.plain_shape,
            channel_stats,
        })
    }

    /// Reconstructions of `ciphers` (`m × cipher_len`), pixels in [0, 1].
    pub fn predict(&self, ciphers: &[f32]) -> Vec<f32> {
        let device = archnet_model::device();
        let cipher_len: usize = self.cipher_shape.iter().product();
        let [c, h, w] = self.cipher_shape;
        let mut out = Vec::new();
        for chunk in ciphers.chunks(64 * cipher_len) {
            let m = chunk.len() / cipher_len;
            let x: Vec<f32> = chunk
                .chunks(cipher_len)
                .flat_map(|s| standardise(self.cipher_shape, &self.channel_stats, s))
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(x, [m, c, h, w]), &device);
            out.extend(
                sigmoid(self.decoder.forward(x))
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("the decoder outputs f32"),
            );
        }
        debug_assert_eq!(
            out.len(),
            ciphers.len() / cipher_len * self.plain_shape.iter().product::<usize>()
        );
        out
    }
}

/// Mean and standard deviation of each channel over all samples and positions.
pub(crate) fn channel_stats(shape: [usize; 3], samples: &[f32]) -> Vec<(f32, f32)> {
    let [c, h, w] = shape;
    let plane = h * w;
    (0..c)
        .map(|k| {
            let (mut sum, mut sq, mut count) = (0f64, 0f64, 0usize);
            for sample in samples.chunks(c * plane) {
                for &v in &sample[k * plane..(k + 1) * plane] {
                    sum += v as f64;
                    sq += (v as f64) * (v as f64);
                    count += 1;
                }
            }
            let mean = sum / count.max(1) as f64;
            let var = (sq / count.max(1) as f64 - mean * mean).max(0.0);
            (mean as f32, (var.sqrt() as f32).max(1e-6))
        })
        .collect()
}

fn standardise<'a>(
    shape: [usize; 3],
    stats: &'a [(f32, f32)],
    sample: &'a [f32],
) -> impl Iterator<Item = f32> + 'a {
    let plane = shape[1] * shape[2];
    sample.iter().enumerate().map(move |(i, &v)| {
        let (mean, std) = stats[i / plane];
        (v - mean) / std
    })
}
