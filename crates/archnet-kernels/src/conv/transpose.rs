//! The transposed convolution (keys' E1 ends with a 2×2 stride-2 one) on the convolution's own
//! kernels, as a burn backend extension.
//!
//! A transposed convolution T with weight `W` (`[C_in, C_out, kh, kw]`) is the adjoint of the
//! convolution C with the same weight read as `[C_out_C = C_in, C_in_C = C_out, kh, kw]`, from
//! T's output space to its input space. So T's forward pass is C's input gradient, T's input
//! gradient is C's forward pass, and T's weight gradient is C's weight gradient with T's output
//! gradient as C's input and T's input as C's output gradient. burn-flex computed T and its
//! gradients with its generic 3-D convolution and layout copies (8.6% of a paper-cifar key's
//! training step, results/bench.md). Groups and output padding ≥ stride go to burn.

use burn::backend::autodiff::{Autodiff, checkpoint::strategy::CheckpointStrategy};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvTransposeOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

use super::autodiff::{self, ConvFamily};
use super::backend::{contiguous, values};
use super::kernel::{self, ConvGeometry};

/// A 2-D transposed convolution on the convolution's kernels (see the module docs).
#[backend_extension(Flex, Autodiff)]
pub trait ConvTransposeOps: Backend {
    /// Forward: `[N, C_in, h, w]` → `[N, C_out, H, W]`, plus `bias` per output channel.
    fn archnet_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self>;

    /// Forward without a bias.
    fn archnet_conv_transpose2d_unbiased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `x`.
    fn archnet_conv_transpose2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `weight`.
    fn archnet_conv_transpose2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `bias`.
    fn archnet_conv_transpose2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The geometry of the adjoint convolution C (input: T's output, output: T's input), or `None`
/// where burn's transposed convolution must run instead.
fn adjoint(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvTransposeOptions<2>,
) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let [batch, in_channels, h, w] = x.shape().dims();
    let [weight_in, out_channels, kh, kw] = weight.shape().dims();
    if weight_in != in_channels {
        return None;
    }
    // T's output size: (in − 1)·stride − 2·padding + dilation·(kernel − 1) + 1 + padding_out.
    let out = |d: usize, input: usize, k: usize| {
        let grown = (input.checked_sub(1)? * options.stride[d])
            + options.dilation[d] * k.checked_sub(1)?
            + 1
            + options.padding_out[d];
        grown.checked_sub(2 * options.padding[d]).filter(|&n| n > 0)
    };
    let g = ConvGeometry {
        batch,
        in_channels: out_channels,
        in_size: [out(0, h, kh)?, out(1, w, kw)?],
        out_channels: in_channels,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
    };
    // With padding_out ≥ stride, C's output would not come back to T's input size.
    (g.out_size() == Some([h, w])).then_some(g)
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from(shape.to_vec())))
}

/// The forward pass on burn-flex, with or without a bias.
fn flex_forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: ConvTransposeOptions<2>,
) -> FlexTensor {
    let geometry = adjoint(&x, &weight, &options)
        .filter(|_| bias.as_ref().is_none_or(|b| b.dtype() == DType::F32));
    let Some(g) = geometry else {
        return Flex::conv_transpose2d(x, weight, bias, options);
    };
    let (x, weight) = (contiguous(x), contiguous(weight));
    let [oh, ow] = g.in_size;
    let mut y = vec![0.0; g.batch * g.in_channels * oh * ow];
    kernel::backward_input(&g, values(&weight), values(&x), &mut y);
    if let Some(bias) = bias.map(contiguous) {
        let bias = values(&bias);
        y.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, out)| {
                let b = bias[plane % g.in_channels];
                out.iter_mut().for_each(|v| *v += b);
            });
    }
    tensor(y, [g.batch, g.in_channels, oh, ow])
}

impl ConvTransposeOps for Flex {
    fn archnet_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvTransposeOptions<2>,
    ) -> FlexTensor {
        flex_forward(x, weight, Some(bias), options)
    }

    fn archnet_conv_transpose2d_unbiased(
        x: FlexTensor,
        weight: FlexTensor,
        options: ConvTransposeOptions<2>,
    ) -> FlexTensor {
        flex_forward(x, weight, None, options)
    }

    fn archnet_conv_transpose2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvTransposeOptions<2>,
    ) -> FlexTensor {
        let Some(g) = adjoint(&x, &weight, &options) else {
            return Flex::conv_transpose2d_x_backward(weight, output_grad, options);
        };
        let (weight, dy) = (contiguous(weight), contiguous(output_grad));
        let [h, w] = g.out_size().expect("checked by `adjoint`");
        let mut dx = vec![0.0; g.batch * g.out_channels * h * w];
        kernel::forward(&g, values(&dy), values(&weight), None, &mut dx);
        tensor(dx, [g.batch, g.out_channels, h, w])
    }

    fn archnet_conv_transpose2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvTransposeOptions<2>,
    ) -> FlexTensor {
        let Some(g) = adjoint(&x, &weight, &options) else {
            return Flex::conv_transpose2d_weight_backward(x, weight, output_grad, options);
        };
        let (x, dy) = (contiguous(x), contiguous(output_grad));
        let mut dw = vec![0.0; weight.shape().num_elements()];
        // C's input is T's output gradient; C's output gradient is T's input.
        kernel::backward_weight(&g, values(&dy), values(&x), &mut dw);
        FlexTensor::from_data(TensorData::new(dw, weight.shape()))
    }

    fn archnet_conv_transpose2d_bias_backward(
        x: FlexTensor,
        bias: FlexTensor,
        output_grad: FlexTensor,
    ) -> FlexTensor {
        <Flex as super::ConvOps>::archnet_conv2d_bias_backward(x, bias, output_grad)
    }
}

/// The transposed convolution as a [`ConvFamily`], for the shared autodiff step.
#[derive(Debug)]
struct Transposed;

impl<B: Backend + ConvTransposeOps> ConvFamily<B> for Transposed {
    type Options = ConvTransposeOptions<2>;

    fn forward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<B> {
        match bias {
            Some(bias) => B::archnet_conv_transpose2d(x, weight, bias, options),
            None => B::archnet_conv_transpose2d_unbiased(x, weight, options),
        }
    }

    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<B> {
        B::archnet_conv_transpose2d_x_backward(x, weight, output_grad, options)
    }

    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<B> {
        B::archnet_conv_transpose2d_weight_backward(x, weight, output_grad, options)
    }

    fn bias_backward(
        x: FloatTensor<B>,
        bias: FloatTensor<B>,
        output_grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        B::archnet_conv_transpose2d_bias_backward(x, bias, output_grad)
    }
}

impl<B: Backend + ConvTransposeOps, C: CheckpointStrategy> ConvTransposeOps for Autodiff<B, C> {
    fn archnet_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff::forward::<B, C, Transposed>(x, weight, Some(bias), options)
    }

    fn archnet_conv_transpose2d_unbiased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff::forward::<B, C, Transposed>(x, weight, None, options)
    }

    // Second-order gradients (which archnet never takes) are burn's composite ones.
    fn archnet_conv_transpose2d_x_backward(
        _x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv_transpose2d_x_backward(weight, output_grad, options)
    }

    fn archnet_conv_transpose2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv_transpose2d_weight_backward(x, weight, output_grad, options)
    }

    fn archnet_conv_transpose2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv_transpose2d_bias_backward(x, bias, output_grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(shape: [usize; 4]) -> FlexTensor {
        tensor(vec![0.0; shape.iter().product()], shape)
    }

    /// The shapes of `conv::tests::transposed_matches_burn_forward_and_gradients` run here,
    /// not in burn's fallback; groups and output padding ≥ stride do not.
    #[test]
    fn the_kernels_take_the_tested_shapes_and_refuse_the_others() {
        let options = |s: usize, p: usize, op: usize, d: usize, groups: usize| {
            ConvTransposeOptions::new([s, s], [p, p], [op, op], [d, d], groups)
        };
        let cases = [
            ([2, 3, 5, 4], 4, 2, options(2, 0, 0, 1, 1)),
            ([3, 2, 6, 6], 5, 3, options(1, 1, 0, 1, 1)),
            ([2, 4, 4, 5], 3, 3, options(2, 1, 1, 1, 1)),
            ([1, 3, 5, 5], 2, 3, options(1, 2, 0, 2, 1)),
        ];
        for (i, (x, cout, k, o)) in cases.into_iter().enumerate() {
            let g = adjoint(&zeros(x), &zeros([x[1], cout, k, k]), &o);
            assert!(g.is_some(), "case {i} falls back to burn");
        }
        let x = zeros([1, 4, 5, 5]);
        assert!(adjoint(&x, &zeros([4, 2, 3, 3]), &options(1, 0, 0, 1, 2)).is_none());
        assert!(adjoint(&x, &zeros([4, 2, 3, 3]), &options(2, 0, 2, 1, 1)).is_none());
    }
}
