//! archnet's max pooling for the CPU backend: non-overlapping windows (stride = kernel, no
//! padding), what the cnn base model uses after each convolution.
//!
//! burn-flex's max pooling records a 64-bit flat index per output and its backward pass adds each
//! gradient onto its input position (read, add, write); with the convolutions sped up, the two
//! took about a quarter of the cnn's training step (results/bench.md). Here the forward pass keeps
//! a one-byte window position per output, and since windows do not overlap the backward pass
//! stores each gradient into the zeroed input-sized buffer without reading it. Every other
//! configuration, other backends and `ARCHNET_CONV=burn` run burn's pooling.
//!
//! [`forward_relu`] pools `relu(x)` as `relu(max_pool(x))` in the same pass: a window whose
//! maximum is not positive gets 0 and a marker instead of a position, and no gradient.

mod backend;

use burn::backend::{DType, Dispatch};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::conv::kernels_run_on;
pub use backend::PoolOps;

/// `layer`'s forward pass, as [`MaxPool2d::forward`] computes it.
pub fn forward(layer: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    pool(layer, input, false)
}

/// `layer`'s forward pass on `relu(input)`, computed as `relu(max_pool(input))` (the same values
/// and gradients, since ReLU is monotone) in the pooling's own pass: the ReLU reads and writes a
/// quarter of the values (2×2 windows) and needs no pass of its own.
pub fn forward_relu(layer: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    pool(layer, input, true)
}

fn pool(layer: &MaxPool2d, input: Tensor<4>, relu_after: bool) -> Tensor<4> {
    let [_, _, h, w] = input.dims();
    let kernel = layer.kernel_size;
    let supported = layer.stride == kernel
        && layer.dilation == [1, 1]
        && !layer.ceil_mode
        && matches!(
            layer.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
        // One byte per window position, and with a ReLU one value more (`backend::DROPPED`).
        && kernel[0] * kernel[1] <= usize::from(u8::MAX) + usize::from(!relu_after)
        && h >= kernel[0]
        && w >= kernel[1]
        && input.dtype() == DType::F32;
    let input = input.into_dispatch();
    if !supported || !kernels_run_on(&input) {
        let pooled = layer.forward(Tensor::from_dispatch(input));
        return if relu_after { relu(pooled) } else { pooled };
    }
    Tensor::from_dispatch(<Dispatch as PoolOps>::archnet_max_pool2d(
        input, kernel, relu_after,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Distribution, TensorData};

    /// Output and input gradient of ours and burn's, for windows that tile the input exactly
    /// and ones that leave rows and columns uncovered, without and with the ReLU (burn's ReLU
    /// before burn's pooling; inputs centred on 0, so that whole windows are negative).
    #[test]
    fn matches_burn_forward_and_gradient() {
        let device = crate::device().autodiff();
        for (shape, kernel) in [([2, 3, 8, 8], 2), ([3, 2, 7, 9], 2), ([1, 4, 9, 9], 3)] {
            let layer = MaxPool2dConfig::new([kernel, kernel])
                .with_strides([kernel, kernel])
                .init();
            let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 0.6), &device)
                .require_grad();
            for relu_after in [false, true] {
                let run = |ours: bool| {
                    let out = match (ours, relu_after) {
                        (true, false) => forward(&layer, x.clone()),
                        (true, true) => forward_relu(&layer, x.clone()),
                        (false, false) => layer.forward(x.clone()),
                        (false, true) => layer.forward(relu(x.clone())),
                    };
                    // A fixed weighting, so that both runs see the same output gradient.
                    let n = out.shape().num_elements();
                    let weights: Vec<f32> = (0..n).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
                    let weighting =
                        Tensor::<4>::from_data(TensorData::new(weights, out.shape()), &device);
                    let grads = (out.clone() * weighting).sum().backward();
                    (out.inner().into_data(), x.grad(&grads).unwrap().into_data())
                };
                let (out, dx) = run(true);
                let (ref_out, ref_dx) = run(false);
                let what = format!("{shape:?} k{kernel} relu {relu_after}");
                assert_eq!(out, ref_out, "{what}: outputs differ");
                assert_eq!(dx, ref_dx, "{what}: input gradients differ");
            }
        }
    }
}
