//! archnet's own 2-D convolution for the CPU backend (forward and gradients), used by every
//! convolution and transposed-convolution layer of keys and base models.
//!
//! The layers stay burn's [`Conv2d`] and [`ConvTranspose2d`] modules (same parameters, records
//! and ONNX export); only their forward call goes through [`forward`] or [`forward_transpose`],
//! which run [`kernel`] on the `Flex` backend and burn's operations anywhere else (GPU
//! backends). Setting `ARCHNET_CONV=burn` selects burn's on the CPU too, for comparisons
//! (`archnet bench`, results/bench.md).

mod autodiff;
mod backend;
mod dot;
pub mod kernel;
mod transpose;

use std::sync::OnceLock;

use burn::backend::ops::{ConvOptions, ConvTransposeOptions};
use burn::backend::{Dispatch, DispatchTensor, DispatchTensorKind};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

pub use backend::ConvOps;
pub(crate) use backend::{contiguous, values};
pub use transpose::ConvTransposeOps;

/// Which convolution [`forward`] runs on the CPU backend (and which transposed convolution, max
/// pooling and batch norm run: the switch covers every archnet kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvImplementation {
    /// [`kernel`]: im2col + one matrix product per group of samples (the default).
    Archnet,
    /// burn-flex's own `conv2d` and burn's generic gradients.
    Burn,
}

impl ConvImplementation {
    /// The implementation chosen by `ARCHNET_CONV` (`archnet` or `burn`; read once per process).
    pub fn current() -> ConvImplementation {
        static CHOICE: OnceLock<ConvImplementation> = OnceLock::new();
        *CHOICE.get_or_init(|| match std::env::var("ARCHNET_CONV").as_deref() {
            Ok("burn") => ConvImplementation::Burn,
            _ => ConvImplementation::Archnet,
        })
    }
}

/// `layer`'s forward pass, as [`Conv2d::forward`] computes it.
pub fn forward(layer: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let ((top, bottom), (left, right)) = match layer.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        // Input-dependent padding: burn's module computes it (archnet's layers do not use it).
        PaddingConfig2d::Same => return layer.forward(input),
    };
    let options = ConvOptions::new_with_padding(
        layer.stride,
        [(top, bottom), (left, right)],
        layer.dilation,
        layer.groups,
    );
    conv2d(
        input,
        layer.weight.val(),
        layer.bias.as_ref().map(|bias| bias.val()),
        options,
    )
}

/// `burn::tensor::module::conv2d` with archnet's kernel where the tensors live on the CPU backend.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let x = x.into_dispatch();
    if !kernels_run_on(&x) {
        return burn::tensor::module::conv2d(Tensor::from_dispatch(x), weight, bias, options);
    }
    let weight = weight.into_dispatch();
    Tensor::from_dispatch(match bias {
        Some(bias) => {
            <Dispatch as ConvOps>::archnet_conv2d(x, weight, bias.into_dispatch(), options)
        }
        None => <Dispatch as ConvOps>::archnet_conv2d_unbiased(x, weight, options),
    })
}

/// `layer`'s forward pass, as [`ConvTranspose2d::forward`] computes it, on the convolution's
/// kernels where the tensors live on the CPU backend (`transpose.rs` says how).
pub fn forward_transpose(layer: &ConvTranspose2d, input: Tensor<4>) -> Tensor<4> {
    let x = input.into_dispatch();
    if !kernels_run_on(&x) {
        return layer.forward(Tensor::from_dispatch(x));
    }
    let options = ConvTransposeOptions::new(
        layer.stride,
        layer.padding,
        layer.padding_out,
        layer.dilation,
        layer.groups,
    );
    let weight = layer.weight.val().into_dispatch();
    Tensor::from_dispatch(match &layer.bias {
        Some(bias) => <Dispatch as ConvTransposeOps>::archnet_conv_transpose2d(
            x,
            weight,
            bias.val().into_dispatch(),
            options,
        ),
        None => {
            <Dispatch as ConvTransposeOps>::archnet_conv_transpose2d_unbiased(x, weight, options)
        }
    })
}

/// Whether archnet's kernels run on this tensor: they are selected (`ARCHNET_CONV`) and it lives
/// on burn-flex, directly or under autodiff. Every kernel's entry point asks this.
pub(crate) fn kernels_run_on(tensor: &DispatchTensor) -> bool {
    if ConvImplementation::current() != ConvImplementation::Archnet {
        return false;
    }
    match &tensor.kind {
        DispatchTensorKind::Flex(_) => true,
        DispatchTensorKind::Autodiff(inner) => matches!(**inner, DispatchTensorKind::Flex(_)),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    /// One convolution case: input `[n, c, h, w]`, `co` outputs, kernel, stride, padding,
    /// dilation, bias.
    struct Case {
        input: [usize; 4],
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        bias: bool,
    }

    const fn case(input: [usize; 4], out_channels: usize, kernel: usize, stride: usize) -> Case {
        let pad = kernel / 2;
        Case {
            input,
            out_channels,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [pad, pad],
            dilation: [1, 1],
            bias: true,
        }
    }

    /// Shapes that exercise every path of the kernel: one sample per group and several (small
    /// outputs), a partial last group, pointwise kernels, strides, no padding, dilation, 2×2
    /// halving convolutions as in the keys' decoders, no bias as in ResNet, weight gradients
    /// below and from `GEMM_WEIGHT_GRADIENT_MIN_CHANNELS` output channels, and weight gradients
    /// whose rows are padded against cache aliasing (`unaliased`): one sample per group, several
    /// with the dot-product kernel, and pointwise.
    fn cases() -> Vec<Case> {
        vec![
            case([2, 3, 48, 48], 32, 3, 1),
            case([4, 2, 16, 16], 8, 3, 1),
            Case {
                bias: false,
                ..case([2, 4, 48, 48], 32, 1, 1)
            },
            case([6, 3, 20, 20], 32, 3, 1),
            Case {
                bias: false,
                ..case([3, 4, 6, 6], 33, 3, 2)
            },
            case([3, 4, 9, 11], 5, 3, 1),
            case([5, 3, 4, 4], 6, 3, 1),
            case([7, 8, 7, 7], 16, 3, 2),
            case([4, 6, 5, 5], 3, 1, 1),
            Case {
                bias: false,
                ..case([5, 6, 9, 9], 4, 1, 2)
            },
            Case {
                padding: [0, 0],
                ..case([2, 10, 8, 8], 10, 2, 2)
            },
            Case {
                dilation: [2, 1],
                padding: [2, 0],
                ..case([2, 3, 10, 7], 4, 3, 1)
            },
            Case {
                bias: false,
                ..case([5, 2, 30, 30], 3, 3, 1)
            },
        ]
    }

    fn options(c: &Case) -> ConvOptions<2> {
        ConvOptions::new(c.stride, c.padding, c.dilation, 1)
    }

    /// Random input, weight and bias, tracked when `tracked` (on an autodiff device).
    fn operands(
        c: &Case,
        device: &Device,
        tracked: bool,
    ) -> (Tensor<4>, Tensor<4>, Option<Tensor<1>>) {
        let u = Distribution::Uniform(-1.0, 1.0);
        let [_, cin, _, _] = c.input;
        let x = Tensor::<4>::random(c.input, u, device).set_require_grad(tracked);
        let w = Tensor::<4>::random([c.out_channels, cin, c.kernel[0], c.kernel[1]], u, device)
            .set_require_grad(tracked);
        let b = c
            .bias
            .then(|| Tensor::<1>::random([c.out_channels], u, device).set_require_grad(tracked));
        (x, w, b)
    }

    fn assert_close(ours: Tensor<4>, reference: Tensor<4>, what: &str) {
        let (a, b) = (ours.into_data(), reference.into_data());
        assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
        let (a, b) = (
            a.try_to_vec::<f32>().unwrap(),
            b.try_to_vec::<f32>().unwrap(),
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: off by {worst}");
    }

    fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
        t.to_data().try_to_vec::<f32>().unwrap()
    }

    /// The slice kernels themselves (not the routing) against burn on every case.
    #[test]
    fn kernels_match_burn() {
        let device = crate::device().autodiff();
        for (i, c) in cases().iter().enumerate() {
            let (x, w, b) = operands(c, &device, true);
            let out = burn::tensor::module::conv2d(x.clone(), w.clone(), b.clone(), options(c));
            let dy = Tensor::<4>::random(out.dims(), Distribution::Default, &device);
            let grads = (out.clone() * dy.clone()).sum().backward();
            let [batch, in_channels, h, width] = c.input;
            let g = kernel::ConvGeometry {
                batch,
                in_channels,
                in_size: [h, width],
                out_channels: c.out_channels,
                kernel: c.kernel,
                stride: c.stride,
                padding: c.padding,
                dilation: c.dilation,
            };
            let bias = b.as_ref().map(values);
            let mut ours = vec![0.0; out.shape().num_elements()];
            kernel::forward(&g, &values(&x), &values(&w), bias.as_deref(), &mut ours);
            let mut dx = vec![0.0; x.shape().num_elements()];
            kernel::backward_input(&g, &values(&w), &values(&dy), &mut dx);
            let mut dw = vec![0.0; w.shape().num_elements()];
            kernel::backward_weight(&g, &values(&x), &values(&dy), &mut dw);
            let as_tensor = |v: Vec<f32>, like: &Tensor<4>| {
                Tensor::<4>::from_data(TensorData::new(v, like.shape()), &crate::device())
            };
            assert_close(
                as_tensor(ours, &out),
                out.clone().inner(),
                &format!("case {i} forward"),
            );
            let rx = x.grad(&grads).unwrap();
            let rw = w.grad(&grads).unwrap();
            assert_close(as_tensor(dx, &rx), rx, &format!("case {i} input gradient"));
            assert_close(as_tensor(dw, &rw), rw, &format!("case {i} weight gradient"));
            if let Some(b) = &b {
                let [_, co, oh, ow] = out.dims();
                let mut db = vec![0.0; co];
                kernel::backward_bias([batch, co, oh * ow], &values(&dy), &mut db);
                let rb: Tensor<4> = b.grad(&grads).unwrap().reshape([1, co, 1, 1]);
                let db =
                    Tensor::<4>::from_data(TensorData::new(db, [1, co, 1, 1]), &crate::device());
                assert_close(db, rb, &format!("case {i} bias gradient"));
            }
        }
    }

    /// Through the backend extension, with and without autodiff.
    #[test]
    fn forward_matches_burn() {
        let device = crate::device();
        for (i, c) in cases().iter().enumerate() {
            let (x, w, b) = operands(c, &device, false);
            let ours = conv2d(x.clone(), w.clone(), b.clone(), options(c));
            let reference = burn::tensor::module::conv2d(x, w, b, options(c));
            assert_close(ours, reference, &format!("case {i} forward"));
        }
    }

    #[test]
    fn gradients_match_burn() {
        let device = crate::device().autodiff();
        for (i, c) in cases().iter().enumerate() {
            let (x, w, b) = operands(c, &device, true);
            let run = |conv: fn(_, _, _, _) -> Tensor<4>, weighting: &Tensor<4>| {
                let out = conv(x.clone(), w.clone(), b.clone(), options(c));
                let grads = (out * weighting.clone()).sum().backward();
                let grad = |t: &Tensor<4>| t.grad(&grads).expect("tracked");
                let bias_grad = b.as_ref().map(|b| b.grad(&grads).expect("tracked"));
                (grad(&x), grad(&w), bias_grad)
            };
            let out_shape =
                burn::tensor::module::conv2d(x.clone(), w.clone(), b.clone(), options(c)).dims();
            let weighting = Tensor::<4>::random(out_shape, Distribution::Default, &device);
            let (dx, dw, db) = run(conv2d, &weighting);
            let (rx, rw, rb) = run(burn::tensor::module::conv2d, &weighting);
            assert_close(dx, rx, &format!("case {i} input gradient"));
            assert_close(dw, rw, &format!("case {i} weight gradient"));
            if let (Some(db), Some(rb)) = (db, rb) {
                assert_close(
                    db.unsqueeze(),
                    rb.unsqueeze(),
                    &format!("case {i} bias gradient"),
                );
            }
        }
    }

    /// The transposed convolution: output and the input, weight and bias gradients of ours and
    /// burn's, for the keys' 2×2 stride-2 layer, a padded 3×3, a strided one with output
    /// padding, a dilated one and one without a bias.
    #[test]
    fn transposed_matches_burn_forward_and_gradients() {
        use burn::nn::conv::ConvTranspose2dConfig;
        let device = crate::device().autodiff();
        // (input [n, c, h, w], out channels, kernel, stride, padding, padding_out, dilation, bias)
        let cases = [
            ([2, 3, 5, 4], 4, 2, 2, 0, 0, 1, true),
            ([3, 2, 6, 6], 5, 3, 1, 1, 0, 1, true),
            ([2, 4, 4, 5], 3, 3, 2, 1, 1, 1, true),
            ([1, 3, 5, 5], 2, 3, 1, 2, 0, 2, true),
            ([2, 2, 3, 3], 3, 2, 2, 0, 0, 1, false),
        ];
        for (i, (shape, cout, k, s, p, op, d, bias)) in cases.into_iter().enumerate() {
            let layer = ConvTranspose2dConfig::new([shape[1], cout], [k, k])
                .with_stride([s, s])
                .with_padding([p, p])
                .with_padding_out([op, op])
                .with_dilation([d, d])
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random(shape, Distribution::Default, &device).require_grad();
            let out_shape = layer.forward(x.clone()).dims();
            let weighting = Tensor::<4>::random(out_shape, Distribution::Default, &device);
            let run = |ours: bool| {
                let out = if ours {
                    forward_transpose(&layer, x.clone())
                } else {
                    layer.forward(x.clone())
                };
                let grads = (out.clone() * weighting.clone()).sum().backward();
                let bias_grad = layer.bias.as_ref().map(|b| {
                    let g: Tensor<1> = b.val().grad(&grads).expect("tracked");
                    g.unsqueeze::<4>()
                });
                (
                    out.inner(),
                    x.grad(&grads).expect("tracked"),
                    layer.weight.val().grad(&grads).expect("tracked"),
                    bias_grad,
                )
            };
            let (out, dx, dw, db) = run(true);
            let (ro, rx, rw, rb) = run(false);
            assert_close(out, ro, &format!("transposed case {i} output"));
            assert_close(dx, rx, &format!("transposed case {i} input gradient"));
            assert_close(dw, rw, &format!("transposed case {i} weight gradient"));
            if let (Some(db), Some(rb)) = (db, rb) {
                assert_close(db, rb, &format!("transposed case {i} bias gradient"));
            }
        }
    }

    /// A slice shorter than the geometry says is refused before any product reads it.
    #[test]
    #[should_panic(expected = "convolution weight")]
    fn kernels_refuse_short_slices() {
        let g = kernel::ConvGeometry {
            batch: 2,
            in_channels: 3,
            in_size: [5, 5],
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
        };
        let mut out = vec![0.0; 2 * 4 * 25];
        kernel::forward(&g, &[0.0; 2 * 3 * 25], &[0.0; 4 * 27 - 1], None, &mut out);
    }
}
