//! A sequence of conv / linear / transposed-conv layers built from a [`LayerSpec`] list.

use archnet_kernels::conv;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::arch::LayerSpec;

/// The layers of E1 or D1, grouped by kind (burn records need concrete field types) and run in
/// the order of `plan`.
#[derive(Module, Debug)]
pub(crate) struct LayerStack {
    convs: Vec<Conv2d>,
    linears: Vec<Linear>,
    deconvs: Vec<ConvTranspose2d>,
    #[module(skip)]
    plan: Vec<LayerSpec>,
}

/// PyTorch's default: uniform in ±1/√fan_in (burn's Kaiming-uniform with gain 1/√3), the
/// "uniform initialization" of the paper (§4.4).
fn uniform_init() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}

impl LayerStack {
    pub(crate) fn init(plan: &[LayerSpec], device: &Device) -> Self {
        let mut stack = LayerStack {
            convs: Vec::new(),
            linears: Vec::new(),
            deconvs: Vec::new(),
            plan: plan.to_vec(),
        };
        for layer in plan {
            match *layer {
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                    ..
                } => stack.convs.push(
                    Conv2dConfig::new(channels, [kernel, kernel])
                        .with_stride([stride, stride])
                        .with_padding(PaddingConfig2d::Explicit(
                            padding, padding, padding, padding,
                        ))
                        .with_initializer(uniform_init())
                        .init(device),
                ),
                LayerSpec::Linear { features, .. } => stack.linears.push(
                    LinearConfig::new(features[0], features[1])
                        .with_initializer(uniform_init())
                        .init(device),
                ),
                LayerSpec::ConvTranspose {
                    channels,
                    kernel,
                    stride,
                    padding,
                    ..
                } => stack.deconvs.push(
                    ConvTranspose2dConfig::new(channels, [kernel, kernel])
                        .with_stride([stride, stride])
                        .with_padding([padding, padding])
                        .with_initializer(uniform_init())
                        .init(device),
                ),
                LayerSpec::GaussianMechanism { .. } | LayerSpec::Upsample { .. } => {}
            }
        }
        stack
    }

    /// Runs the layers: `[N, C, H, W]` in, `[N, C', H', W']` out. A Gaussian mechanism draws its
    /// noise from the operating system's entropy ([`Noise::Secure`]).
    pub(crate) fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        self.run(input, Noise::Secure)
    }

    /// Runs the layers as [`LayerStack::forward`] does, with `noise` as the source of a Gaussian
    /// mechanism's noise.
    pub(crate) fn run(&self, input: Tensor<4>, noise: Noise) -> Tensor<4> {
        let (mut conv, mut linear, mut deconv) = (0, 0, 0);
        let mut x = input;
        for layer in &self.plan {
            let apply_relu = match *layer {
                LayerSpec::Conv { relu, .. } => {
                    x = conv::forward(&self.convs[conv], x);
                    conv += 1;
                    relu
                }
                LayerSpec::Linear { output, relu, .. } => {
                    let n = x.dims()[0];
                    let flat = x.flatten::<2>(1, 3);
                    x = self.linears[linear]
                        .forward(flat)
                        .reshape([n, output[0], output[1], output[2]]);
                    linear += 1;
                    relu
                }
                LayerSpec::ConvTranspose { relu, .. } => {
                    x = conv::forward_transpose(&self.deconvs[deconv], x);
                    deconv += 1;
                    relu
                }
                LayerSpec::GaussianMechanism { clip_norm, sigma } => {
                    x = gaussian_mechanism(x, clip_norm, sigma, noise);
                    false
                }
                LayerSpec::Upsample { factor } => {
                    x = upsample_nearest(x, factor);
                    false
                }
            };
            if apply_relu {
                x = relu(x);
            }
        }
        x
    }
}

/// Where a Gaussian mechanism's noise comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Noise {
    /// The operating system's entropy through a cryptographic generator: every ciphertext that
    /// may leave the publisher.
    Secure,
    /// No noise: the mechanism's mean, for measuring what the noise costs.
    Off,
}

/// Scales each sample of `x` to L2 norm `clip_norm` (samples of norm below 1e-12 keep a norm
/// below `clip_norm`), then adds N(0, σ²) to every value.
fn gaussian_mechanism(x: Tensor<4>, clip_norm: f64, sigma: f64, noise: Noise) -> Tensor<4> {
    let dims = x.dims();
    let [n, c, h, w] = dims;
    let flat = x.reshape([n, c * h * w]);
    let norm = flat
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    let clipped = (flat / norm).mul_scalar(clip_norm).reshape(dims);
    if sigma <= 0.0 {
        return clipped;
    }
    let device = clipped.device();
    match noise {
        Noise::Off => clipped,
        Noise::Secure => {
            let z = crate::privacy::secure_gaussian(n * c * h * w, sigma);
            clipped + Tensor::<4>::from_data(TensorData::new(z, dims), &device)
        }
    }
}

/// Nearest-neighbour upsampling of `[N, C, H, W]` to `[N, C, H·f, W·f]`.
fn upsample_nearest(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if factor == 1 {
        return x;
    }
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, factor, w, factor])
        .reshape([n, c, h * factor, w * factor])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_clips_to_the_norm_and_noise_is_fresh() {
        let device = Device::default();
        let x = Tensor::<4>::from_data(
            TensorData::new(
                (0..32).map(|v| v as f32 - 7.0).collect::<Vec<_>>(),
                [2, 1, 4, 4],
            ),
            &device,
        );
        let clipped = gaussian_mechanism(x.clone(), 2.0, 0.5, Noise::Off);
        let norms: Vec<f32> = clipped
            .reshape([2, 16])
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for v in norms {
            assert!((v - 2.0).abs() < 1e-5, "norm {v}");
        }
        let a = gaussian_mechanism(x.clone(), 2.0, 0.5, Noise::Secure);
        let b = gaussian_mechanism(x, 2.0, 0.5, Noise::Secure);
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff > 0.0, "two encryptions of the same input must differ");
    }

    #[test]
    fn upsampling_repeats_each_value() {
        let device = Device::default();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 2., 3., 4.], [1, 1, 2, 2]),
            &device,
        );
        let y: Vec<f32> = upsample_nearest(x, 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(
            y,
            vec![
                1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.
            ]
        );
    }
}
