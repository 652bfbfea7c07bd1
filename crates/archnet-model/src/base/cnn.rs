//! A small LeNet-style CNN for MNIST-like data, plain or encrypted.

use archnet_kernels::{conv, pool};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
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
            fc1: LinearConfig::new(64 * 7 * 7, 128).init(device),
            fc2: LinearConfig::new(128, classes).init(device),
        }
    }

    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        // Each ReLU runs inside the pooling after it (`pool::forward_relu`: the same function).
        let x = pool::forward_relu(&self.pool, conv::forward(&self.conv1, x));
        let x = pool::forward_relu(&self.pool, conv::forward(&self.conv2, x));
        let x = adaptive_avg_pool(x, POOLED).flatten::<2>(1, 3);
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}

/// Side of the feature map the dense layers see.
const POOLED: usize = 7;

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, side, side]`, written as two matrix
/// products (`P_h · x · P_wᵀ`) with the same windows as PyTorch's `AdaptiveAvgPool2d`
/// (`floor(i·H/side) .. ceil((i+1)·H/side)`).
///
/// Why not burn's `AdaptiveAvgPool2d`: ONNX has no adaptive pooling operator (only the global
/// one), so burn-onnx cannot export it, while MatMul exports everywhere. Training pays nothing
/// measurable for it: the maps are at most a few dozen pixels wide here.
fn adaptive_avg_pool(x: Tensor<4>, side: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if h == side && w == side {
        return x;
    }
    let device = x.device();
    let rows = pooling_matrix(h, side, false, &device); // [side, h]
    // Built transposed rather than transposed here: the exporter cannot lower a transpose.
    let cols = pooling_matrix(w, side, true, &device); // [w, side]
    let x = x.matmul(cols.unsqueeze::<4>()); // [N, C, h, side]
    rows.unsqueeze::<4>().matmul(x) // [N, C, side, side]
}

/// `[side, len]` (or `[len, side]` when `transposed`): row `i` averages the inputs of
/// adaptive-pooling window `i`.
fn pooling_matrix(len: usize, side: usize, transposed: bool, device: &Device) -> Tensor<2> {
    let mut weights = vec![0f32; side * len];
    for i in 0..side {
        let (start, end) = (i * len / side, ((i + 1) * len).div_ceil(side));
        for j in start..end {
            let at = if transposed {
                j * side + i
            } else {
                i * len + j
            };
            weights[at] = 1.0 / (end - start) as f32;
        }
    }
    let shape = if transposed { [len, side] } else { [side, len] };
    Tensor::from_data(TensorData::new(weights, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::AdaptiveAvgPool2dConfig;

    #[test]
    fn matrix_pooling_equals_burns_adaptive_pool() {
        let device = Device::default();
        for (h, w) in [(7, 7), (14, 14), (8, 8), (16, 16), (9, 13)] {
            let x = Tensor::<4>::random(
                [2, 3, h, w],
                burn::tensor::Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let ours = adaptive_avg_pool(x.clone(), POOLED);
            let burns = AdaptiveAvgPool2dConfig::new([POOLED, POOLED])
                .init()
                .forward(x);
            let diff = (ours - burns).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-5, "{h}×{w}: max difference {diff}");
        }
    }
}
