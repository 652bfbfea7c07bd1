//! The autodiff step shared by the convolution and the transposed convolution: both take x, a
//! weight, an optional bias and options, and their backend computes each gradient.

use std::fmt::Debug;
use std::marker::PhantomData;

use burn::backend::Backend;
use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::tensor::FloatTensor;

/// An operation of the convolution's shape on backend `B`: its forward pass and gradients.
pub(crate) trait ConvFamily<B: Backend>: Debug + Send + 'static {
    /// Stride, padding and the like.
    type Options: Clone + Debug + Send + 'static;

    /// The output, with `bias` added per output channel when there is one.
    fn forward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        options: Self::Options,
    ) -> FloatTensor<B>;

    /// The gradient with respect to `x`.
    fn x_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self::Options,
    ) -> FloatTensor<B>;

    /// The gradient with respect to the weight.
    fn weight_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        options: Self::Options,
    ) -> FloatTensor<B>;

    /// The gradient with respect to the bias.
    fn bias_backward(
        x: FloatTensor<B>,
        bias: FloatTensor<B>,
        output_grad: FloatTensor<B>,
    ) -> FloatTensor<B>;
}

/// The backward step of a [`ConvFamily`] operation: parents are x, weight and (maybe) bias.
#[derive(Debug)]
struct ConvBackward<K>(PhantomData<K>);

impl<B: Backend, K: ConvFamily<B>> Backward<B, 3> for ConvBackward<K> {
    /// Checkpointed forward inputs and the options: what the gradients need.
    type State = (NodeId, NodeId, Option<NodeId>, K::Options);

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
            grads.register::<B>(node.id, K::bias_backward(x.clone(), bias, grad.clone()));
        }
        if let Some(node) = node_x {
            let dx = K::x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, K::weight_backward(x, weight, grad, options));
        }
    }
}

/// The forward pass of `K` under autodiff: records its backward step when any input is tracked.
pub(crate) fn forward<B: Backend, C: CheckpointStrategy, K: ConvFamily<B>>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: Option<FloatTensor<Autodiff<B, C>>>,
    options: K::Options,
) -> FloatTensor<Autodiff<B, C>> {
    // A missing bias is a parent that never needs a gradient: x's node fills its slot and the
    // state records no bias, so one backward step covers both cases.
    let bias_node = bias.as_ref().map_or_else(|| x.node(), |b| b.node());
    let prepared = ConvBackward::<K>(PhantomData)
        .prepare::<C>([x.node(), weight.node(), bias_node])
        .compute_bound()
        .stateful();
    match prepared {
        OpsKind::Tracked(mut prep) => {
            let x_id = prep.checkpoint(&x);
            let weight_id = prep.checkpoint(&weight);
            let bias_id = bias.as_ref().map(|b| prep.checkpoint(b));
            let output = K::forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.map(|b| b.into_primitive()),
                options.clone(),
            );
            prep.finish((x_id, weight_id, bias_id, options), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(K::forward(
            x.into_primitive(),
            weight.into_primitive(),
            bias.map(|b| b.into_primitive()),
            options,
        )),
    }
}
