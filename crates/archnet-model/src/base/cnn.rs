//! A small LeNet-style CNN for MNIST-like data, plain or encrypted.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Two 3×3 conv + ReLU + 2×2 max-pool stages (32 and 64 channels), an adaptive average pool to
/// 7×7 (so 28×28 plain images and 56×56 ciphertexts alike reach the dense layers at one size),
/// then Linear(3136 → 128) + ReLU and Linear(128 → classes).
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    adapt: AdaptiveAvgPool2d,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    /// A freshly initialised CNN taking `channels` input channels.
    pub fn init(channels: usize, classes: usize, device: &Device) -> Self {
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Cnn {
            conv1: conv(channels, 32),
            conv2: conv(32, 64),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            adapt: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            fc1: LinearConfig::new(64 * 7 * 7, 128).init(device),
            fc2: LinearConfig::new(128, classes).init(device),
        }
    }

    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = self.adapt.forward(x).flatten::<2>(1, 3);
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}
