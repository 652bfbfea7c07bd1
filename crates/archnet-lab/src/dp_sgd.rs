//! DP-SGD (Abadi et al. 2016): Poisson-sampled batches, per-sample gradient clipping and
//! Gaussian noise, accounted with [`crate::dp`]. The paper's DP baseline (§5.4, Fig. 10).

use std::time::Instant;

use archnet_data::ImageDataset;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::dp::{PrivacySpent, epsilon};
use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_model::classify::{EpochMetrics, Samples, evaluate};
use archnet_model::error::{ModelError, Result};

/// Settings of a DP-SGD run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpSgdConfig {
    /// SGD learning rate.
    pub learning_rate: f64,
    /// Expected batch size: each sample joins each step with probability batch_size / N.
    pub batch_size: usize,
    /// Passes over the data (in expected samples).
    pub epochs: usize,
    /// Per-sample gradient L2 bound C.
    pub clip_norm: f64,
    /// Noise standard deviation divided by C.
    pub noise_multiplier: f64,
    /// δ the privacy accountant reports ε at.
    pub delta: f64,
    /// Seed of the initialisation, the sampling and the noise.
    pub seed: u64,
}

impl Default for DpSgdConfig {
    fn default() -> Self {
        DpSgdConfig {
            learning_rate: 0.5,
            batch_size: 256,
            epochs: 3,
            clip_norm: 1.0,
            noise_multiplier: 1.1,
            delta: 1e-5,
            seed: 0,
        }
    }
}

/// A finished DP-SGD run.
pub struct DpSgdOutcome {
    /// The trained model.
    pub model: BaseModel,
    /// Loss and accuracy per epoch.
    pub history: Vec<EpochMetrics>,
    /// The (ε, δ) the run spent.
    pub privacy: PrivacySpent,
    /// Noisy steps taken.
    pub steps: u64,
}

/// Sums the squared L2 norms of a model's gradients.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.total += f64::from(g.powi_scalar(2).sum().into_scalar::<f32>());
        }
    }
}

/// Adds `scale ×` one sample's gradients into the running sum.
struct Accumulate<'a> {
    sample: &'a GradientsParams,
    sum: &'a mut GradientsParams,
    scale: f64,
}

impl ModuleVisitor for Accumulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.sample.get::<D>(param.id) {
            let g = g.mul_scalar(self.scale);
            let total = match self.sum.remove::<D>(param.id) {
                Some(acc) => acc + g,
                None => g,
            };
            self.sum.register(param.id, total);
        }
    }
}

/// Adds N(0, (σC)²) noise to the summed gradients and divides by the expected batch size.
struct NoiseAndAverage<'a> {
    sum: &'a mut GradientsParams,
    std: f64,
    expected_batch: f64,
}

impl ModuleVisitor for NoiseAndAverage<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.lazy_shape();
        let acc = match self.sum.remove::<D>(param.id) {
            Some(acc) => acc,
            None => Tensor::<D>::zeros(shape.clone(), &param.val().device().without_autodiff()),
        };
        let noise = Tensor::<D>::random(shape, Distribution::Normal(0.0, self.std), &acc.device());
        self.sum
            .register(param.id, (acc + noise).div_scalar(self.expected_batch));
    }
}

/// Trains the `cnn` base model on plain `data` with DP-SGD; returns the model and (ε, δ).
// Why one function: DP-SGD's privacy depends on the step loop doing exactly Poisson sampling,
// per-sample clipping and one noise draw per step; kept together so the accounting in `crate::dp`
// can be checked against one loop.
pub fn train_dp_sgd(
    spec: &BaseModelSpec,
    data: &ImageDataset,
    validation: Option<&Samples>,
    config: &DpSgdConfig,
    on_step: &mut dyn FnMut(usize, u64, u64),
) -> Result<DpSgdOutcome> {
    if spec.kind != "cnn" {
        return Err(ModelError::Config(format!(
            "DP-SGD needs per-sample gradients, which batch normalisation mixes; use `cnn`, not `{}`",
            spec.kind
        )));
    }
    let labels = data
        .labels
        .as_ref()
        .ok_or_else(|| archnet_data::DataError::Unlabelled {
            what: "DP-SGD needs labels, and its training data".into(),
        })?;
    let n = data.len();
    if n == 0 || config.batch_size == 0 || config.batch_size > n {
        return Err(ModelError::Config(format!(
            "the expected batch {} must be in 1..={n}",
            config.batch_size
        )));
    }
    let device = archnet_model::device().autodiff();
    let _rng = archnet_model::seeded_run(&device, config.seed);
    let mut model = BaseModel::init(spec, &device)?;
    let mut optim = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let q = config.batch_size as f64 / n as f64;
    let steps_per_epoch = (n / config.batch_size).max(1) as u64;
    let total_steps = steps_per_epoch * config.epochs as u64;
    let [c, h, w] = data.shape;
    let mut history = Vec::new();
    let mut step = 0u64;
    for epoch in 0..config.epochs {
        let started = Instant::now();
        let mut loss_sum = 0.0;
        let mut seen = 0usize;
        for _ in 0..steps_per_epoch {
            // Poisson sampling: the accountant's assumption, exactly.
            let batch: Vec<usize> = (0..n).filter(|_| rng.random::<f64>() < q).collect();
            let mut sum = GradientsParams::new();
            for &i in &batch {
                let x = Tensor::<4>::from_data(
                    TensorData::new(data.batch_f32(&[i]), [1, c, h, w]),
                    &device,
                );
                let y = Tensor::<1, Int>::from_data(
                    TensorData::new(vec![i64::from(labels[i])], [1]),
                    &device,
                );
                let loss = loss_fn.forward(model.forward(x), y);
                loss_sum += f64::from(loss.clone().into_scalar::<f32>());
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let mut norm = SquaredNorm {
                    grads: &grads,
                    total: 0.0,
                };
                model.visit(&mut norm);
                let scale = (config.clip_norm / norm.total.sqrt().max(1e-12)).min(1.0);
                model.visit(&mut Accumulate {
                    sample: &grads,
                    sum: &mut sum,
                    scale,
                });
            }
            seen += batch.len();
            model.visit(&mut NoiseAndAverage {
                sum: &mut sum,
                std: config.noise_multiplier * config.clip_norm,
                expected_batch: config.batch_size as f64,
            });
            model = optim.step(config.learning_rate, model, sum);
            step += 1;
            on_step(epoch, step, total_steps);
        }
        let validation_accuracy = match validation {
            Some(v) => Some(evaluate(&model.valid(), v, 256)?.accuracy),
            None => None,
        };
        history.push(EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: f64::NAN,
            validation_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(DpSgdOutcome {
        model: model.valid(),
        history,
        privacy: epsilon(q, config.noise_multiplier, step, config.delta),
        steps: step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use archnet_data::synthetic::bright_dark;

    #[test]
    fn learns_a_separable_task_and_reports_epsilon() {
        let spec = BaseModelSpec {
            kind: "cnn".into(),
            input_shape: [1, 8, 8],
            classes: 2,
        };
        let data = bright_dark(256);
        let valid = Samples::Plain(bright_dark(40));
        let config = DpSgdConfig {
            batch_size: 32,
            epochs: 3,
            noise_multiplier: 1.0,
            ..Default::default()
        };
        let out = train_dp_sgd(&spec, &data, Some(&valid), &config, &mut |_, _, _| {}).unwrap();
        assert_eq!(out.steps, 24);
        let expected = epsilon(32.0 / 256.0, 1.0, 24, 1e-5);
        assert_eq!(out.privacy, expected);
        let acc = out.history.last().unwrap().validation_accuracy.unwrap();
        assert!(acc >= 0.9, "validation accuracy {acc}");
    }

    #[test]
    fn refuses_batch_norm_models() {
        let spec = BaseModelSpec {
            kind: "resnet18".into(),
            input_shape: [1, 8, 8],
            classes: 2,
        };
        let err = train_dp_sgd(
            &spec,
            &bright_dark(8),
            None,
            &DpSgdConfig {
                batch_size: 4,
                ..Default::default()
            },
            &mut |_, _, _| {},
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("use `cnn`"), "{err}");
    }
}
