//! The convolution of [`super::kernel`] as a burn backend extension: an implementation for the
//! `Flex` CPU backend, and one for `Autodiff<B>` that records a backward pass calling the same
//! extension's gradient functions.
//!
//! Shapes the kernel does not cover (groups, asymmetric padding, other dtypes) go to the
//! backend's own `conv2d` and its gradients, so the extension never changes what is computed,
//! only how fast.

use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};

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

/// The backward step of the convolution: parents are x, weight and (maybe) bias.
#[derive(Debug)]
struct Conv2dBackward;

/// Checkpointed forward inputs and the options: what the gradients need.
type Conv2dState = (NodeId, NodeId, Option<NodeId>, ConvOptions<2>);

impl<B: Backend + ConvOps> Backward<B, 3> for Conv2dBackward {
    type State = Conv2dState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, weight_id, bias_id, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_id);

        if let (Some(node), Some(bias_id)) = (node_bias, bias_id) {
            let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias_id);
            let db = B::archnet_conv2d_bias_backward(x.clone(), bias, grad.clone());
            grads.register::<B>(node.id, db);
        }
        if let Some(node) = node_x {
            let dx = B::archnet_conv2d_x_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::archnet_conv2d_weight_backward(x, weight, grad, options);
            grads.register::<B>(node.id, dw);
        }
    }
}

/// The forward pass under autodiff: records [`Conv2dBackward`] when any input is tracked.
fn autodiff_forward<B: Backend + ConvOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: Option<FloatTensor<Autodiff<B, C>>>,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<B, C>> {
    let inner = |x, weight, bias: Option<FloatTensor<B>>, options| match bias {
        Some(bias) => B::archnet_conv2d(x, weight, bias, options),
        None => B::archnet_conv2d_unbiased(x, weight, options),
    };
    // A missing bias is a parent that never needs a gradient: x's node fills its slot and the
    // state records no bias, so one backward step covers both cases.
    let bias_node = bias.as_ref().map_or_else(|| x.node(), |b| b.node());
    let prepared = Conv2dBackward
        .prepare::<C>([x.node(), weight.node(), bias_node])
        .compute_bound()
        .stateful();
    match prepared {
        OpsKind::Tracked(mut prep) => {
            let x_id = prep.checkpoint(&x);
            let weight_id = prep.checkpoint(&weight);
            let bias_id = bias.as_ref().map(|b| prep.checkpoint(b));
            let output = inner(
                x.into_primitive(),
                weight.into_primitive(),
                bias.map(|b| b.into_primitive()),
                options.clone(),
            );
            prep.finish((x_id, weight_id, bias_id, options), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(inner(
            x.into_primitive(),
            weight.into_primitive(),
            bias.map(|b| b.into_primitive()),
            options,
        )),
    }
}

impl<B: Backend + ConvOps, C: CheckpointStrategy> ConvOps for Autodiff<B, C> {
    fn archnet_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff_forward::<B, C>(x, weight, Some(bias), options)
    }

    fn archnet_conv2d_unbiased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        autodiff_forward::<B, C>(x, weight, None, options)
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
