//! A sequence of conv / linear / transposed-conv layers built from a [`LayerSpec`] list.

use crate::conv;
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
            }
        }
        stack
    }

    /// Runs the layers: `[N, C, H, W]` in, `[N, C', H', W']` out.
    pub(crate) fn forward(&self, input: Tensor<4>) -> Tensor<4> {
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
                    x = self.deconvs[deconv].forward(x);
                    deconv += 1;
                    relu
                }
            };
            if apply_relu {
                x = relu(x);
            }
        }
        x
    }
}
