//! The max pooling of the module docs as a burn backend extension (`Flex`, and `Autodiff<B>`
//! recording its own backward step).

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{MaxPool2dBackward, MaxPool2dWithIndices, ModuleOps};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Flex, IntDType, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

use crate::conv::{contiguous, values};
use crate::relu::passes;

/// Non-overlapping max pooling (stride = kernel, no padding; the caller checks).
#[backend_extension(Flex, Autodiff)]
pub trait PoolOps: Backend {
    /// `[N, C, H, W]` → `[N, C, H / kh, W / kw]`, through a ReLU if `relu`.
    fn archnet_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self>;

    /// The output and, per output, where its maximum sits (backend-specific encoding).
    fn archnet_max_pool2d_with_indices(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        relu: bool,
    ) -> (FloatTensor<Self>, IntTensor<Self>);

    /// The input gradient (of shape `x_shape`) from the output gradient and the indices of the
    /// forward pass.
    fn archnet_max_pool2d_backward(
        x_shape: Shape,
        kernel: [usize; 2],
        output_grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Input and output planes: `[N·C, H, W]` → `[N·C, H / kh, W / kw]`.
struct Planes {
    count: usize,
    input: [usize; 2],
    output: [usize; 2],
}

impl Planes {
    fn new(shape: &Shape, kernel: [usize; 2]) -> Planes {
        let [n, c, h, w] = shape.dims();
        Planes {
            count: n * c,
            input: [h, w],
            output: [h / kernel[0], w / kernel[1]],
        }
    }
}

/// The window position of an output that the ReLU after the pooling set to 0: its gradient is 0.
pub(crate) const DROPPED: u8 = u8::MAX;

/// Forward: maxima and, per output, the window position of its maximum (row-major in the window;
/// the first of equal values, a NaN wins as in burn); with `relu`, a maximum that is not
/// positive gives 0 at position [`DROPPED`].
fn pool_forward(x: FlexTensor, kernel: [usize; 2], relu: bool) -> (Vec<f32>, Vec<u8>, Shape) {
    let p = Planes::new(&x.shape(), kernel);
    let [h, w] = p.input;
    let [oh, ow] = p.output;
    let x = contiguous(x);
    let values = values(&x);
    let mut out = vec![0.0f32; p.count * oh * ow];
    let mut positions = vec![0u8; p.count * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(positions.par_chunks_mut(oh * ow))
        .zip(values.par_chunks(h * w))
        .for_each(|((out, positions), plane)| {
            // The usual 2×2 window with its size known to the compiler, any other as given.
            if kernel == [2, 2] {
                pool_plane(plane, w, [2, 2], out, positions, ow, relu);
            } else {
                pool_plane(plane, w, kernel, out, positions, ow, relu);
            }
        });
    let [n, c, _, _] = x.shape().dims();
    (out, positions, Shape::from(vec![n, c, oh, ow]))
}

/// One plane's maxima and their window positions (row-major in the window; the first of equal
/// values, and a NaN wins as in burn).
#[inline(always)]
fn pool_plane(
    plane: &[f32],
    w: usize,
    [kh, kw]: [usize; 2],
    out: &mut [f32],
    positions: &mut [u8],
    ow: usize,
    relu: bool,
) {
    let rows = out.chunks_exact_mut(ow).zip(positions.chunks_exact_mut(ow));
    for (oy, (out, positions)) in rows.enumerate() {
        for (ox, (out, position)) in out.iter_mut().zip(positions.iter_mut()).enumerate() {
            let start = oy * kh * w + ox * kw;
            let (mut best, mut at) = (plane[start], 0u8);
            for ky in 0..kh {
                let row = &plane[start + ky * w..][..kw];
                for (kx, &v) in row.iter().enumerate() {
                    if v > best || (v.is_nan() && !best.is_nan()) {
                        (best, at) = (v, (ky * kw + kx) as u8);
                    }
                }
            }
            (*out, *position) = if relu && !passes(best) {
                (0.0, DROPPED)
            } else {
                (best, at)
            };
        }
    }
}

/// Backward: each input position gets the gradient of the window it is the maximum of, or 0.
fn pool_backward(x_shape: &Shape, kernel: [usize; 2], grad: &[f32], positions: &[u8]) -> Vec<f32> {
    let p = Planes::new(x_shape, kernel);
    let [h, w] = p.input;
    let [oh, ow] = p.output;
    // Each window position's offset from the window's corner, instead of a division per output.
    let offsets: Vec<usize> = (0..kernel[0] * kernel[1])
        .map(|at| (at / kernel[1]) * w + at % kernel[1])
        .collect();
    let mut dx = vec![0.0f32; p.count * h * w];
    dx.par_chunks_mut(h * w)
        .zip(grad.par_chunks(oh * ow).zip(positions.par_chunks(oh * ow)))
        .for_each(|(plane, (grad, positions))| {
            for oy in 0..oh {
                let row = oy * kernel[0] * w;
                for ox in 0..ow {
                    let at = positions[oy * ow + ox];
                    // DROPPED is a real position only for a 256-value window, which the ReLU
                    // form refuses (`super::pool`).
                    if at != DROPPED || offsets.len() > usize::from(DROPPED) {
                        plane[row + ox * kernel[1] + offsets[usize::from(at)]] = grad[oy * ow + ox];
                    }
                }
            }
        });
    dx
}

impl PoolOps for Flex {
    fn archnet_max_pool2d(x: FlexTensor, kernel: [usize; 2], relu: bool) -> FlexTensor {
        let (out, _, shape) = pool_forward(x, kernel, relu);
        FlexTensor::from_data(TensorData::new(out, shape))
    }

    fn archnet_max_pool2d_with_indices(
        x: FlexTensor,
        kernel: [usize; 2],
        relu: bool,
    ) -> (FlexTensor, FlexTensor) {
        let (out, positions, shape) = pool_forward(x, kernel, relu);
        (
            FlexTensor::from_data(TensorData::new(out, shape.clone())),
            FlexTensor::from_data(TensorData::new(positions, shape)),
        )
    }

    fn archnet_max_pool2d_backward(
        x_shape: Shape,
        kernel: [usize; 2],
        output_grad: FlexTensor,
        indices: FlexTensor,
    ) -> FlexTensor {
        let grad = contiguous(output_grad);
        let positions = indices
            .as_slice::<u8>()
            .expect("indices from archnet_max_pool2d_with_indices");
        let dx = pool_backward(&x_shape, kernel, values(&grad), positions);
        FlexTensor::from_data(TensorData::new(dx, x_shape))
    }
}

/// The backward step of the pooling; its state is the input's shape (not the input: the gradient
/// needs no values, and keeping them would hold an activation for nothing) and the window
/// positions of the maxima.
#[derive(Debug)]
struct MaxPoolBackward;

impl<B: Backend + PoolOps> Backward<B, 1> for MaxPoolBackward {
    type State = (Shape, IntTensor<B>, [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_shape, indices, kernel) = ops.state;
        if let Some(node) = node_x {
            let dx = B::archnet_max_pool2d_backward(x_shape, kernel, grad, indices);
            grads.register::<B>(node.id, dx);
        }
    }
}

impl<B: Backend + PoolOps, C: CheckpointStrategy> PoolOps for Autodiff<B, C> {
    fn archnet_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let shape = x.shape();
                let (out, indices) = B::archnet_max_pool2d_with_indices(x, kernel, relu);
                prep.finish((shape, indices, kernel), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::archnet_max_pool2d(x.into_primitive(), kernel, relu))
            }
        }
    }

    // Under autodiff (second-order use, which archnet never makes), burn's own pooling and its
    // index format, consistently between the two; burn's indices cannot mark a window the ReLU
    // dropped, so that form is refused.
    fn archnet_max_pool2d_with_indices(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        relu: bool,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        assert!(
            !relu,
            "archnet's pooling with a ReLU has no second-order gradient"
        );
        let MaxPool2dWithIndices { output, indices } =
            <Self as ModuleOps<Self>>::max_pool2d_with_indices(
                x,
                kernel,
                kernel,
                [0, 0],
                [1, 1],
                false,
                IntDType::I64,
            );
        (output, indices)
    }

    fn archnet_max_pool2d_backward(
        x_shape: Shape,
        kernel: [usize; 2],
        output_grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        // burn's backward takes the input only for its shape and device.
        let device = output_grad.device();
        let x = <Self as burn::backend::ops::FloatTensorOps<Self>>::float_zeros(
            x_shape,
            &device,
            output_grad.dtype().into(),
        );
        let MaxPool2dBackward { x_grad } =
            <Self as ModuleOps<Self>>::max_pool2d_with_indices_backward(
                x,
                kernel,
                kernel,
                [0, 0],
                [1, 1],
                false,
                output_grad,
                indices,
            );
        x_grad
    }
}
