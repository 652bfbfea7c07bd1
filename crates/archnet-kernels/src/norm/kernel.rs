//! Batch norm over contiguous `[N, C, S]` values (S = H·W): the batch statistics per channel,
//! the normalisation with an optional residual and ReLU in the same pass, and the gradients.
//!
//! Statistics and gradient sums run one channel per task (its N planes, read twice while they
//! are in cache); the element-wise passes run over planes. Sums are taken in 16 f32 lanes per
//! plane and added up in f64 ([`crate::sum`]), so a channel of 200,000 values loses no precision that matters.

use rayon::prelude::*;

use crate::relu::{passes, relu};
use crate::sum::{sum_map, sum_pairs3};

/// The shape of the values: `batch` planes of `channels` channels, `size` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    /// N.
    pub batch: usize,
    /// C.
    pub channels: usize,
    /// H·W.
    pub size: usize,
}

impl Planes {
    /// Values per channel (N·H·W): what the statistics average over.
    pub fn per_channel(&self) -> usize {
        self.batch * self.size
    }

    fn len(&self) -> usize {
        self.batch * self.channels * self.size
    }

    /// Channel `c`'s planes of `values`, one per sample.
    fn channel<'a>(&self, values: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (channels, size) = (self.channels, self.size);
        (0..self.batch).map(move |n| &values[(n * channels + c) * size..][..size])
    }

    /// Planes per parallel task in the element-wise passes: about 16k values, so that the
    /// small feature maps of late stages are not split into a task per 16 values.
    fn planes_per_task(&self) -> usize {
        (16_384 / self.size.max(1)).max(1)
    }
}

/// Each channel's mean and biased variance (two passes over the channel: the mean, then the
/// squared deviations from it).
pub fn statistics(p: Planes, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(
        x.len(),
        p.len(),
        "batch norm statistics: {p:?} vs {} values",
        x.len()
    );
    let count = p.per_channel() as f64;
    (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = p.channel(x, c).map(|s| sum_map(s, |v| v)).sum();
            let mean = (sum / count) as f32;
            let squares: f64 = p
                .channel(x, c)
                .map(|s| {
                    sum_map(s, |v| {
                        let d = v - mean;
                        d * d
                    })
                })
                .sum();
            (mean, (squares / count) as f32)
        })
        .unzip()
}

/// `out = act(x · scale[c] + shift[c] (+ residual))`, with `act` ReLU or the identity.
pub fn normalize(
    p: Planes,
    x: &[f32],
    (scale, shift): (&[f32], &[f32]),
    residual: Option<&[f32]>,
    relu_after: bool,
    out: &mut [f32],
) {
    assert_eq!(x.len(), p.len(), "batch norm: {p:?} vs {} values", x.len());
    assert_eq!(out.len(), x.len(), "batch norm output size");
    if let Some(r) = residual {
        assert_eq!(r.len(), x.len(), "batch norm residual size");
    }
    let per_task = p.planes_per_task();
    out.par_chunks_mut(p.size)
        .zip(x.par_chunks(p.size))
        .enumerate()
        .with_min_len(per_task)
        .for_each(|(plane, (out, x))| {
            let c = plane % p.channels;
            let (a, b) = (scale[c], shift[c]);
            match (residual, relu_after) {
                (None, false) => out.iter_mut().zip(x).for_each(|(o, &v)| *o = v * a + b),
                (None, true) => out
                    .iter_mut()
                    .zip(x)
                    .for_each(|(o, &v)| *o = relu(v * a + b)),
                (Some(r), act) => {
                    let r = &r[plane * p.size..][..p.size];
                    out.iter_mut().zip(x).zip(r).for_each(|((o, &v), &r)| {
                        let y = v * a + b + r;
                        *o = if act { relu(y) } else { y };
                    })
                }
            }
        });
}

/// The gradient that reaches the batch norm through a ReLU: `dy` where the ReLU's output
/// passes it, else 0.
pub fn relu_backward(out: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(out.len(), dy.len(), "relu backward sizes");
    let mut dz = vec![0.0f32; dy.len()];
    dz.par_chunks_mut(16_384)
        .zip(out.par_chunks(16_384).zip(dy.par_chunks(16_384)))
        .for_each(|(dz, (out, dy))| {
            dz.iter_mut()
                .zip(out.iter().zip(dy))
                .for_each(|(z, (&o, &g))| *z = if passes(o) { g } else { 0.0 });
        });
    dz
}

/// The gradients of the batch norm with batch statistics: `(dx, dγ, dβ)`.
///
/// `dy` is the gradient of the normalised output; with `relu_out`, of the ReLU after it, whose
/// output (`relu_out`) masks it in the same passes.
pub fn backward(
    p: Planes,
    x: &[f32],
    (gamma, mean, variance): (&[f32], &[f32], &[f32]),
    epsilon: f64,
    dy: &[f32],
    relu_out: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(
        x.len(),
        p.len(),
        "batch norm backward: {p:?} vs {} values",
        x.len()
    );
    assert_eq!(dy.len(), x.len(), "batch norm backward: gradient size");
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect();
    // Per channel: Σ dy' (dβ) and Σ dy'·(x − mean), dγ = that · inv_std.
    let (beta_grad, centred_sum): (Vec<f64>, Vec<f64>) = (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c];
            let (mut sum, mut centred) = (0.0, 0.0);
            for (n, (x, dy)) in p.channel(x, c).zip(p.channel(dy, c)).enumerate() {
                let (s, t) = match relu_out {
                    // x stands in for the mask it does not have.
                    None => sum_pairs3((x, dy, x), |x, g, _| (g, g * (x - m))),
                    Some(o) => {
                        let o = &o[(n * p.channels + c) * p.size..][..p.size];
                        sum_pairs3((x, dy, o), |x, g, o| {
                            let g = if passes(o) { g } else { 0.0 };
                            (g, g * (x - m))
                        })
                    }
                };
                sum += s;
                centred += t;
            }
            (sum, centred)
        })
        .unzip();
    let count = p.per_channel() as f64;
    let gamma_grad: Vec<f32> = centred_sum
        .iter()
        .zip(&inv_std)
        .map(|(&s, &r)| (s * f64::from(r)) as f32)
        .collect();
    // dx = γ·r·(dy' − dβ/M − (x − mean)·r·dγ/M) = a·dy' + b·x + k per channel.
    let coefficients: Vec<[f32; 3]> = (0..p.channels)
        .map(|c| {
            let (g, r) = (f64::from(gamma[c]), f64::from(inv_std[c]));
            let a = g * r;
            let b = -g * r * r * f64::from(gamma_grad[c]) / count;
            let k = -a * beta_grad[c] / count - b * f64::from(mean[c]);
            [a as f32, b as f32, k as f32]
        })
        .collect();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(p.size)
        .zip(x.par_chunks(p.size).zip(dy.par_chunks(p.size)))
        .enumerate()
        .with_min_len(p.planes_per_task())
        .for_each(|(plane, (dx, (x, dy)))| {
            let [a, b, k] = coefficients[plane % p.channels];
            match relu_out {
                None => dx
                    .iter_mut()
                    .zip(x.iter().zip(dy))
                    .for_each(|(d, (&x, &g))| *d = a * g + b * x + k),
                Some(o) => {
                    let o = &o[plane * p.size..][..p.size];
                    dx.iter_mut()
                        .zip(x.iter().zip(dy).zip(o))
                        .for_each(|(d, ((&x, &g), &o))| {
                            let g = if passes(o) { g } else { 0.0 };
                            *d = a * g + b * x + k;
                        })
                }
            }
        });
    let beta_grad = beta_grad.into_iter().map(|s| s as f32).collect();
    (dx, gamma_grad, beta_grad)
}

/// The scale and shift that [`normalize`] applies per channel: `γ / √(var + ε)` and
/// `β − mean · scale`.
pub fn scale_and_shift(
    (gamma, beta): (&[f32], &[f32]),
    (mean, variance): (&[f32], &[f32]),
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>) {
    gamma
        .iter()
        .zip(beta)
        .zip(mean.iter().zip(variance))
        .map(|((&g, &b), (&m, &v))| {
            let scale = f64::from(g) / (f64::from(v) + epsilon).sqrt();
            (scale as f32, (f64::from(b) - f64::from(m) * scale) as f32)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Channel statistics against a direct f64 computation, on values far from zero (where
    /// a one-pass E[x²] − mean² in f32 would lose the variance).
    #[test]
    fn statistics_match_a_direct_computation() {
        let p = Planes {
            batch: 3,
            channels: 2,
            size: 37,
        };
        let x: Vec<f32> = (0..p.len())
            .map(|i| 1000.0 + ((i * 7919) % 101) as f32 / 10.0)
            .collect();
        let (mean, var) = statistics(p, &x);
        for c in 0..2 {
            let vals: Vec<f64> = p.channel(&x, c).flatten().map(|&v| f64::from(v)).collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let v = vals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / vals.len() as f64;
            assert!((f64::from(mean[c]) - m).abs() < 1e-3, "mean {c}");
            assert!(
                (f64::from(var[c]) - v).abs() / v < 1e-3,
                "variance {c}: {} vs {v}",
                var[c]
            );
        }
    }
}
