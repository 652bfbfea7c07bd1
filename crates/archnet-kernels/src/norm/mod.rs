//! archnet's batch norm for training on the CPU backend, fused with what follows it in a ResNet
//! block: nothing, a ReLU, or a residual sum and a ReLU.
//!
//! burn's batch norm (`batch_norm_train`) is one autodiff step, but on the CPU backend its
//! forward and backward passes are composites of generic tensor operations: reductions over
//! permuted views (each a layout copy), then a broadcast operation per term, each writing a
//! fresh activation-sized tensor. In resnet-18's profile the layout copies alone took 7.3% of a
//! training step (results/bench.md). Here the forward pass reads each channel twice for its
//! statistics and writes the output once, with the ReLU and the residual in the same pass; the
//! backward pass reads each channel once for its sums and writes the input gradient once.
//!
//! The layers stay burn's [`BatchNorm`] modules (same parameters, running statistics, records
//! and ONNX export), updated as burn updates them. Inference, other backends, other dtypes and
//! `ARCHNET_CONV=burn` (the switch covers every archnet kernel) run burn's batch norm and
//! activation.

mod backend;
pub mod kernel;

use burn::backend::{DType, Dispatch};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::conv::kernels_run_on;
pub use backend::NormOps;

/// What the fused call applies after the batch norm.
#[derive(Debug, Clone)]
pub enum After {
    /// Nothing: the batch norm's output.
    Nothing,
    /// A ReLU.
    Relu,
    /// The sum with this tensor (a residual block's shortcut), then a ReLU.
    AddRelu(Box<Tensor<4>>),
}

/// `layer`'s forward pass on `[N, C, H, W]`, as [`BatchNorm::forward`] computes it, followed by
/// `after`.
pub fn forward(layer: &BatchNorm, x: Tensor<4>, after: After) -> Tensor<4> {
    if !fused(layer, &x, &after) {
        let y = layer.forward(x);
        return match after {
            After::Nothing => y,
            After::Relu => relu(y),
            After::AddRelu(r) => relu(y + *r),
        };
    }
    let x = x.into_dispatch();
    let device = layer.gamma.device();
    let gamma = layer.gamma.val().into_dispatch();
    let beta = layer.beta.val().into_dispatch();
    let (out, mean, variance) = match after {
        After::Nothing | After::Relu => <Dispatch as NormOps>::archnet_batch_norm(
            x,
            gamma,
            beta,
            layer.epsilon,
            matches!(after, After::Relu),
        ),
        After::AddRelu(r) => <Dispatch as NormOps>::archnet_batch_norm_add_relu(
            x,
            gamma,
            beta,
            (*r).into_dispatch(),
            layer.epsilon,
        ),
    };
    // The running statistics, updated as burn's `BatchNorm::forward` updates them.
    let momentum = layer.momentum;
    for (state, batch) in [(&layer.running_mean, mean), (&layer.running_var, variance)] {
        let batch = Tensor::<1>::from_dispatch(batch).detach();
        let running = state
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum));
        state.update(running.detach());
    }
    Tensor::from_dispatch(out)
}

/// Whether [`forward`] runs the fused kernel: training (an autodiff device and a layer not
/// frozen, as burn decides), f32 on the CPU backend, and archnet's kernels selected.
fn fused(layer: &BatchNorm, x: &Tensor<4>, after: &After) -> bool {
    x.device().is_autodiff()
        && layer.training.is_enabled()
        && x.dtype() == DType::F32
        && layer.gamma.val().dtype() == DType::F32
        && match after {
            After::AddRelu(r) => r.dims() == x.dims() && r.dtype() == DType::F32,
            _ => true,
        }
        && kernels_run_on(&x.clone().into_dispatch())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    /// A fixed weighting of the output, so that both runs see the same output gradient.
    fn weighting(shape: Shape, device: &Device) -> Tensor<4> {
        let n = shape.num_elements();
        let w: Vec<f32> = (0..n).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        Tensor::from_data(TensorData::new(w, shape), device)
    }

    /// Output, every gradient (input, γ, β, residual) and the running statistics of ours and
    /// burn's, for each fused form, on late-stage (2×2) and early-stage planes, with γ and β
    /// away from their initial 1 and 0.
    #[test]
    fn matches_burn_forward_gradients_and_running_statistics() {
        let device = crate::device().autodiff();
        for shape in [[4, 3, 2, 2], [2, 5, 9, 7], [3, 2, 33, 17]] {
            for form in 0..3 {
                let x = Tensor::<4>::random(shape, Distribution::Normal(1.5, 2.0), &device)
                    .require_grad();
                let r = Tensor::<4>::random(shape, Distribution::Default, &device).require_grad();
                let gamma =
                    Tensor::<1>::random([shape[1]], Distribution::Uniform(0.5, 1.5), &device);
                let beta =
                    Tensor::<1>::random([shape[1]], Distribution::Uniform(-0.5, 0.5), &device);
                let run = |ours: bool| {
                    // A layer of its own per run: clones would share running statistics.
                    let mut layer = BatchNormConfig::new(shape[1]).init(&device);
                    layer.gamma = Param::from_tensor(gamma.clone());
                    layer.beta = Param::from_tensor(beta.clone());
                    let after = match form {
                        0 => After::Nothing,
                        1 => After::Relu,
                        _ => After::AddRelu(Box::new(r.clone())),
                    };
                    let out = if ours {
                        assert!(fused(&layer, &x, &after), "the fused kernel is not used");
                        forward(&layer, x.clone(), after)
                    } else {
                        let y = layer.forward(x.clone());
                        match after {
                            After::Nothing => y,
                            After::Relu => relu(y),
                            After::AddRelu(r) => relu(y + *r),
                        }
                    };
                    let grads = (out.clone() * weighting(out.shape(), &device))
                        .sum()
                        .backward();
                    let grad = |t: &Tensor<4>| t.grad(&grads).map(|g| g.into_data());
                    (
                        out.inner().into_data(),
                        [
                            grad(&x),
                            grad(&r),
                            layer.gamma.val().grad(&grads).map(|g| g.into_data()),
                            layer.beta.val().grad(&grads).map(|g| g.into_data()),
                        ],
                        [
                            layer.running_mean.value_sync().into_data(),
                            layer.running_var.value_sync().into_data(),
                        ],
                    )
                };
                let (out, grads, stats) = run(true);
                let (ref_out, ref_grads, ref_stats) = run(false);
                let what = format!("{shape:?} form {form}");
                out.assert_approx_eq::<f32>(&ref_out, Tolerance::rel_abs(1e-4, 1e-5));
                for (i, (g, r)) in grads.iter().zip(&ref_grads).enumerate() {
                    match (g, r) {
                        (Some(g), Some(r)) => {
                            g.assert_approx_eq::<f32>(r, Tolerance::rel_abs(1e-4, 1e-5))
                        }
                        (None, None) => {}
                        _ => panic!("{what}: gradient {i} present in one run only"),
                    }
                }
                for (s, r) in stats.iter().zip(&ref_stats) {
                    s.assert_approx_eq::<f32>(r, Tolerance::rel_abs(1e-4, 1e-5));
                }
            }
        }
    }

    /// Outside training (no autodiff device) the layer runs burn's inference batch norm on
    /// its running statistics, which the fused path must not have skipped updating.
    #[test]
    fn inference_uses_running_statistics() {
        let device = crate::device();
        let layer = BatchNormConfig::new(2).init(&device.clone().autodiff());
        let x = Tensor::<4>::random([2, 2, 3, 3], Distribution::Normal(3.0, 1.0), &device);
        let _ = forward(&layer, x.clone().autodiff(), After::Nothing);
        let mean = layer
            .running_mean
            .value_sync()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert!(
            mean.iter().all(|&m| m > 0.1),
            "running mean not updated: {mean:?}"
        );
        let inference = layer.valid();
        let expected = inference.forward(x.clone());
        forward(&inference, x, After::Nothing)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::default());
    }
}
