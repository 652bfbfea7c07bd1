//! The convolution of [`super::kernel`] as a burn backend extension: an implementation for the
//! `Flex` CPU backend, and one for `Autodiff<B>` that records a backward pass calling the same
//! extension's gradient functions.
//!
//! Shapes the kernel does not cover (groups, asymmetric padding, other dtypes) go to the
//! backend's own `conv2d` and its gradients, so the extension never changes what is computed,
//! only how fast.

use burn::backend::autodiff::{Autodiff, checkpoint::strategy::CheckpointStrategy};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};

use super::autodiff::{self, ConvFamily};
use super::kernel::{self, ConvGeometry};

/// A 2-D convolution with its own forward and gradient kernels (see the module docs).
#[backend_extension(Flex, Autodiff)]
pub trait ConvOps: Backend {
    /// Forward: `[N, C_in, H, W]` → `[N, C_out, H_out, W_out]`, plus `bias` per output channel.
    // Two methods rather than an optional bias: the extension macro routes plain tensors only.
    fn archnet_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// Forward without a bias.
    fn archnet_conv2d_unbiased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `x`.
    fn archnet_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `weight`.
    fn archnet_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// The gradient with respect to `bias`.
    fn archnet_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The kernel's geometry for these operands, or `None` where the backend's own convolution must
/// run instead.
fn geometry(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<ConvGeometry> {
    let supported = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && options.groups == 1
        && !options.is_asymmetric();
    if !supported {
        return None;
    }
    let [batch, in_channels, h, w] = x.shape().dims();
    let [out_channels, weight_in, kh, kw] = weight.shape().dims();
    if weight_in != in_channels {
        return None;
    }
    let g = ConvGeometry {
        batch,
        in_channels,
        in_size: [h, w],
        out_channels,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding_begin(),
        dilation: options.dilation,
    };
    g.out_size().map(|_| g)
}

/// The tensor with its elements in row-major order (a copy only when it is a strided view).
pub(crate) fn contiguous(tensor: FlexTensor) -> FlexTensor {
    if tensor.as_slice::<f32>().is_some() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The f32 values of a tensor made contiguous by [`contiguous`].
pub(crate) fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("made contiguous f32 by `contiguous`")
}

fn from_vec(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from(shape.to_vec())))
}

/// One gradient kernel (`kernel::backward_input` or `kernel::backward_weight`: both read one
/// forward operand and the output gradient) into a new tensor of shape `shape`.
fn gradient(
    g: &ConvGeometry,
    kernel: fn(&ConvGeometry, &[f32], &[f32], &mut [f32]),
    operand: FlexTensor,
    output_grad: FlexTensor,
    shape: Shape,
) -> FlexTensor {
    let (operand, dy) = (contiguous(operand), contiguous(output_grad));
    let mut grad = vec![0.0; shape.num_elements()];
    kernel(g, values(&operand), values(&dy), &mut grad);
    FlexTensor::from_data(TensorData::new(grad, shape))
}

/// The forward pass on burn-flex, with or without a bias.
fn flex_forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: ConvOptions<2>,
) -> FlexTensor {
    let geometry = geometry(&x, &weight, &options)
        .filter(|_| bias.as_ref().is_none_or(|b| b.dtype() == DType::F32));
    let Some(g) = geometry else {
        return Flex::conv2d(x, weight, bias, options);
    };
    let (x, weight, bias) = (contiguous(x), contiguous(weight), bias.map(contiguous));
    let [oh, ow] = g.out_size().expect("checked by `geometry`");
    let mut out = vec![0.0; g.batch * g.out_channels * oh * ow];
    kernel::forward(
        &g,
        values(&x),
        values(&weight),
        bias.as_ref().map(values),
        &mut out,
    );
    from_vec(out, [g.batch, g.out_channels, oh, ow])
}

impl ConvOps for Flex {
    fn archnet_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        flex_forward(x, weight, Some(bias), options)
    }

    fn archnet_conv2d_unbiased(
        x: FlexTensor,
        weight: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        flex_forward(x, weight, None, options)
    }

    fn archnet_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return Flex::conv2d_x_backward(x, weight, output_grad, options);
        };
        gradient(&g, kernel::backward_input, weight, output_grad, x.shape())
    }

    fn archnet_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return Flex::conv2d_weight_backward(x, weight, output_grad, options);
        };
        gradient(&g, kernel::backward_weight, x, output_grad, weight.shape())
    }

    fn archnet_conv2d_bias_backward(
        x: FlexTensor,
        bias: FlexTensor,
        output_grad: FlexTensor,
    ) -> FlexTensor {
        if output_grad.dtype() != DType::F32 || bias.dtype() != DType::F32 {
            return Flex::conv2d_bias_backward(x, bias, output_grad);
        }
        let dy = contiguous(output_grad);
        let [batch, out_channels, oh, ow] = dy.shape().dims();
        let mut db = vec![0.0; out_channels];
        kernel::backward_bias([batch, out_channels, oh * ow], values(&dy), &mut db);
        FlexTensor::from_data(TensorData::new(db, bias.shape()))
    }
}

/// The convolution as a [`ConvFamily`], for the shared autodiff step.
#[derive(Debug)]
struct Conv;

impl<B: Backend + ConvOps> ConvFamily<B> for Conv {
    type Options = ConvOptions<2>;

    fn forward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<B> {
        match bias {
            Some(bias) => B::archnet_conv2d(x, weight, bias, options),
            None => B::archnet_conv2d_unbiased(x, weight, options),
        }
    }

    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: ConvOptions<2>,
    ) -> FloatTensor<B> {
        B::archnet_conv2d_x_backward(x, weight, output_grad, options)
    }

    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: ConvOptions<2>,
    ) -> FloatTensor<B> {
        B::archnet_conv2d_weight_backward(x, weight, output_grad, options)
    }

    fn bias_backward(
        x: FloatTensor<B>,
        bias: FloatTensor<B>,
        output_grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        B::archnet_conv2d_bias_backward(x, bias, output_grad)
    }
}

impl<B: Backend + ConvOps, C: CheckpointStrategy> ConvOps for Autodiff<B, C> {
    fn archnet_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff::forward::<B, C, Conv>(x, weight, Some(bias), options)
    }

    fn archnet_conv2d_unbiased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff::forward::<B, C, Conv>(x, weight, None, options)
    }

    // The gradient functions under autodiff (second-order gradients, which archnet never takes)
    // are burn's composite ones.
    fn archnet_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_x_backward(x, weight, output_grad, options)
    }

    fn archnet_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_weight_backward(x, weight, output_grad, options)
    }

    fn archnet_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_bias_backward(x, bias, output_grad)
    }
}
