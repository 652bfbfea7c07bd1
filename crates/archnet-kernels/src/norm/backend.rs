//! The fused batch norm of [`super::kernel`] as a burn backend extension: an implementation for
//! the `Flex` CPU backend, and one for `Autodiff<B>` that records one backward step per call.
//!
//! The caller ([`super::forward`]) only routes f32 tensors on `Flex` here.

use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};

use super::kernel::{self, Planes};
use crate::conv::{contiguous, values};

/// Batch norm with the batch's statistics, fused with the ReLU (and residual sum) that follow
/// it in a ResNet block.
#[backend_extension(Flex, Autodiff)]
pub trait NormOps: Backend {
    /// `[N, C, H, W]` normalised with its own per-channel statistics, scaled by `gamma`, shifted
    /// by `beta`, then through a ReLU if `relu`. Returns the output, the mean and the biased
    /// variance (what the running statistics are updated from).
    fn archnet_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `relu(batch_norm(x) + residual)`, the end of a residual block; returns as
    /// [`NormOps::archnet_batch_norm`].
    fn archnet_batch_norm_add_relu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients `(dx, dgamma, dbeta)` from the gradient of the output. With `relu`,
    /// `output` is the ReLU's output and masks the gradient; without, it is not read.
    #[allow(clippy::too_many_arguments)]
    fn archnet_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The gradient before a ReLU whose output is `output`.
    fn archnet_relu_backward(
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn planes(shape: &Shape) -> Planes {
    let [batch, channels, h, w] = shape.dims();
    Planes {
        batch,
        channels,
        size: h * w,
    }
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn per_channel(values: Vec<f32>) -> FlexTensor {
    let n = values.len();
    tensor(values, Shape::new([n]))
}

/// The forward pass shared by both fused forms.
fn forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    residual: Option<FlexTensor>,
    epsilon: f64,
    relu: bool,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = x.shape();
    let p = planes(&shape);
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let residual = residual.map(contiguous);
    let (mean, variance) = kernel::statistics(p, values(&x));
    let (scale, shift) =
        kernel::scale_and_shift((values(&gamma), values(&beta)), (&mean, &variance), epsilon);
    let mut out = vec![0.0f32; values(&x).len()];
    kernel::normalize(
        p,
        values(&x),
        (&scale, &shift),
        residual.as_ref().map(values),
        relu,
        &mut out,
    );
    (tensor(out, shape), per_channel(mean), per_channel(variance))
}

impl NormOps for Flex {
    fn archnet_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        forward(x, gamma, beta, None, epsilon, relu)
    }

    fn archnet_batch_norm_add_relu(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        forward(x, gamma, beta, Some(residual), epsilon, true)
    }

    fn archnet_batch_norm_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        output: FlexTensor,
        output_grad: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let shape = x.shape();
        let [x, gamma, mean, variance, dy] =
            [x, gamma, mean, variance, output_grad].map(contiguous);
        let output = relu.then(|| contiguous(output));
        let (dx, dgamma, dbeta) = kernel::backward(
            planes(&shape),
            values(&x),
            (values(&gamma), values(&mean), values(&variance)),
            epsilon,
            values(&dy),
            output.as_ref().map(values),
        );
        (tensor(dx, shape), per_channel(dgamma), per_channel(dbeta))
    }

    fn archnet_relu_backward(output: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
        let shape = output.shape();
        let (output, dy) = (contiguous(output), contiguous(output_grad));
        tensor(kernel::relu_backward(values(&output), values(&dy)), shape)
    }
}

/// The backward step of the fused batch norm. Parents: x, gamma, beta and the residual (x's
/// node again where there is none, never given a gradient).
#[derive(Debug)]
struct BatchNormBackward;

/// What followed the batch norm in the forward pass, with its output where the backward step
/// needs it.
#[derive(Debug, Clone)]
enum Tail<T> {
    /// Nothing: the output is not needed.
    Nothing,
    /// A ReLU: its output masks the gradient.
    Relu(T),
    /// The shortcut's sum and a ReLU: the masked gradient is also the shortcut's.
    AddRelu(T),
}

/// Checkpointed x and gamma, the batch statistics as the forward pass made them, what followed
/// the batch norm, and epsilon.
type BatchNormState<B> = (
    NodeId,
    NodeId,
    [FloatTensor<B>; 2],
    Tail<FloatTensor<B>>,
    f64,
);

impl<B: Backend + NormOps> Backward<B, 4> for BatchNormBackward {
    type State = BatchNormState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 4>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta, node_residual] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, gamma_id, [mean, variance], tail, epsilon) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
        let gamma = checkpointer.retrieve_node_output::<FloatTensor<B>>(gamma_id);
        // With a residual, the ReLU's gradient is also the residual's: take it once, then
        // differentiate the batch norm alone. Without a ReLU mask, the output argument is not
        // read: the gradient stands in for it.
        let (grad, mask) = match tail {
            Tail::AddRelu(out) => {
                let dz = B::archnet_relu_backward(out, grad);
                if let Some(node) = node_residual {
                    grads.register::<B>(node.id, dz.clone());
                }
                (dz, None)
            }
            Tail::Relu(out) => (grad, Some(out)),
            Tail::Nothing => (grad, None),
        };
        let relu = mask.is_some();
        let output = mask.unwrap_or_else(|| grad.clone());
        let (dx, dgamma, dbeta) =
            B::archnet_batch_norm_backward(x, gamma, mean, variance, output, grad, epsilon, relu);
        for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// The output, the batch mean and the batch variance.
type NormOutput<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// The forward pass under autodiff: records [`BatchNormBackward`] when any input is tracked.
fn autodiff_forward<B: Backend + NormOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    gamma: FloatTensor<Autodiff<B, C>>,
    beta: FloatTensor<Autodiff<B, C>>,
    residual: Option<FloatTensor<Autodiff<B, C>>>,
    epsilon: f64,
    relu: bool,
) -> NormOutput<Autodiff<B, C>> {
    let inner = |x, gamma, beta, residual: Option<FloatTensor<B>>| match residual {
        Some(r) => B::archnet_batch_norm_add_relu(x, gamma, beta, r, epsilon),
        None => B::archnet_batch_norm(x, gamma, beta, epsilon, relu),
    };
    let residual_node = residual.as_ref().map_or_else(|| x.node(), |r| r.node());
    let has_residual = residual.is_some();
    let prepared = BatchNormBackward
        .prepare::<C>([x.node(), gamma.node(), beta.node(), residual_node])
        .compute_bound()
        .stateful();
    let untracked = Autodiff::<B, C>::from_inner;
    match prepared {
        OpsKind::Tracked(mut prep) => {
            let x_id = prep.checkpoint(&x);
            let gamma_id = prep.checkpoint(&gamma);
            let (out, mean, variance) = inner(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                residual.map(|r| r.into_primitive()),
            );
            let tail = match (has_residual, relu) {
                (true, _) => Tail::AddRelu(out.clone()),
                (false, true) => Tail::Relu(out.clone()),
                (false, false) => Tail::Nothing,
            };
            let state = (
                x_id,
                gamma_id,
                [mean.clone(), variance.clone()],
                tail,
                epsilon,
            );
            (
                prep.finish(state, out),
                untracked(mean),
                untracked(variance),
            )
        }
        OpsKind::UnTracked(prep) => {
            let (out, mean, variance) = inner(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                residual.map(|r| r.into_primitive()),
            );
            (prep.finish(out), untracked(mean), untracked(variance))
        }
    }
}

impl<B: Backend + NormOps, C: CheckpointStrategy> NormOps for Autodiff<B, C> {
    fn archnet_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        autodiff_forward::<B, C>(x, gamma, beta, None, epsilon, relu)
    }

    fn archnet_batch_norm_add_relu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        autodiff_forward::<B, C>(x, gamma, beta, Some(residual), epsilon, true)
    }

    // Second-order gradients through batch norm: burn's own batch norm refuses them too
    // ("Can't differentiate batch norm train backward"), and archnet never takes them.
    fn archnet_batch_norm_backward(
        _x: FloatTensor<Self>,
        _gamma: FloatTensor<Self>,
        _mean: FloatTensor<Self>,
        _variance: FloatTensor<Self>,
        _output: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
        _epsilon: f64,
        _relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        panic!("archnet's fused batch norm has no second-order gradient");
    }

    fn archnet_relu_backward(
        _output: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        panic!("archnet's fused batch norm has no second-order gradient");
    }
}
