//! The look-alike attack with a learned map, for keys whose ciphertexts come with labels.
//!
//! The attacker holds no (image, ciphertext) pair under the victim's key K1, but the preset is
//! public: it trains its own key K2 of the same preset on public images, so it can make as many
//! pairs under K2 as it likes and train an inverter on them. What is missing is a way from K1's
//! ciphertexts to K2's. Every party holding ciphertexts holds their labels, so the attacker learns
//! that way from the labels: an affine map `x ↦ x + Wx + b` (starting at the identity, the right
//! map for two keys that happen to agree) trained so that, class by class, the mapped K1
//! ciphertexts and K2's own ciphertexts have the same distribution, measured by the maximum mean
//! discrepancy (MMD) under Gaussian kernels of three widths around the median distance.
//!
//! Matching distributions class by class is all the labels allow; which direction inside a class
//! holds what identifies an image is left for the kernels to find where the two keys' spreads
//! differ in shape. The map is judged like every attack: by re-identification and by the gain
//! over the class-mean image ([`crate::attack::instance`]).

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::IndexedRandom;

use archnet_model::error::{ModelError, Result};

/// How the map is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnedMapConfig {
    /// Optimiser steps; each step draws `per_class` ciphertexts of every class from both keys.
    pub steps: usize,
    /// See `steps`.
    pub per_class: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed of the initialisation and the draws.
    pub seed: u64,
}

impl Default for LearnedMapConfig {
    fn default() -> Self {
        LearnedMapConfig {
            steps: 400,
            per_class: 64,
            learning_rate: 3e-3,
            seed: 0,
        }
    }
}

/// The learned affine map from the victim key's ciphertexts into the attacker's own key's.
pub struct LearnedMap {
    residual: Linear,
    len: usize,
}

/// Ciphertexts (`n × len`) grouped by label (`classes` groups, some maybe empty).
fn by_class<'a>(
    len: usize,
    ciphers: &'a [f32],
    labels: &[u16],
    classes: usize,
) -> Vec<Vec<&'a [f32]>> {
    let mut groups = vec![Vec::new(); classes];
    for (c, &l) in ciphers.chunks(len).zip(labels) {
        if let Some(g) = groups.get_mut(l as usize) {
            g.push(c);
        }
    }
    groups
}

/// The median Euclidean distance between up to 300 of `samples` (`len` values each).
fn median_distance(len: usize, samples: &[f32]) -> f64 {
    let rows: Vec<&[f32]> = samples.chunks(len).take(300).collect();
    let mut d = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let s: f64 = a
                .iter()
                .zip(*b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            d.push(s.sqrt());
        }
    }
    if d.is_empty() {
        return 1.0;
    }
    d.sort_by(f64::total_cmp);
    d[d.len() / 2].max(1e-6)
}

/// Biased MMD² between the rows of `x` `[n, d]` and `y` `[m, d]`, summed over Gaussian kernels
/// of the given widths.
fn mmd2(x: Tensor<2>, y: Tensor<2>, widths: &[f64]) -> Tensor<1> {
    let sq = |a: Tensor<2>, b: Tensor<2>| -> Tensor<2> {
        let [n, _] = a.dims();
        let [m, _] = b.dims();
        let aa = a.clone().powi_scalar(2).sum_dim(1).expand([n, m]);
        let bb = b
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .transpose()
            .expand([n, m]);
        aa + bb - a.matmul(b.transpose()).mul_scalar(2.0)
    };
    let (dxx, dyy, dxy) = (sq(x.clone(), x.clone()), sq(y.clone(), y.clone()), sq(x, y));
    let mut total: Option<Tensor<1>> = None;
    for &h in widths {
        let k = |d: Tensor<2>| d.div_scalar(-2.0 * h * h).exp().mean();
        let term = k(dxx.clone()) + k(dyy.clone()) - k(dxy.clone()).mul_scalar(2.0);
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.expect("at least one kernel width")
}

impl LearnedMap {
    /// Learns the map from the victim key's labelled ciphertexts (`victim`, `victim_labels`) to
    /// the attacker's own key's (`own`, `own_labels`); both `n × len`, labels below `classes`.
    pub fn fit(
        len: usize,
        (victim, victim_labels): (&[f32], &[u16]),
        (own, own_labels): (&[f32], &[u16]),
        classes: usize,
        config: &LearnedMapConfig,
    ) -> Result<LearnedMap> {
        if len == 0
            || victim.len() != victim_labels.len() * len
            || own.len() != own_labels.len() * len
        {
            return Err(ModelError::Fit {
                attack: "learned map",
                reason: "ciphertext and label counts do not match".into(),
            });
        }
        let a = by_class(len, victim, victim_labels, classes);
        let b = by_class(len, own, own_labels, classes);
        let shared: Vec<usize> = (0..classes)
            .filter(|&k| !a[k].is_empty() && !b[k].is_empty())
            .collect();
        if shared.is_empty() {
            return Err(ModelError::Fit {
                attack: "learned map",
                reason: "no class has ciphertexts under both keys".into(),
            });
        }
        let median = median_distance(len, own);
        let widths = [0.5 * median, median, 2.0 * median];
        let device = archnet_model::device().autodiff();
        let _rng = archnet_model::seeded_run(&device, config.seed);
        let mut residual = LinearConfig::new(len, len)
            .with_initializer(Initializer::Zeros)
            .init(&device);
        let mut optim: ModuleOptimizer = AdamConfig::new().init();
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let draw = |group: &[&[f32]], rng: &mut rand::rngs::StdRng| -> Tensor<2> {
            let rows: Vec<f32> = (0..config.per_class.max(2))
                .flat_map(|_| group.choose(rng).expect("non-empty").iter().copied())
                .collect();
            let n = rows.len() / len;
            Tensor::<2>::from_data(TensorData::new(rows, [n, len]), &device)
        };
        for _ in 0..config.steps {
            let mut loss: Option<Tensor<1>> = None;
            for &k in &shared {
                let x = draw(&a[k], &mut rng);
                let y = draw(&b[k], &mut rng);
                let mapped = x.clone() + residual.forward(x);
                let term = mmd2(mapped, y, &widths);
                loss = Some(match loss {
                    Some(l) => l + term,
                    None => term,
                });
            }
            let loss = loss.expect("a shared class");
            let grads = GradientsParams::from_grads(loss.backward(), &residual);
            residual = optim.step(config.learning_rate, residual, grads);
        }
        Ok(LearnedMap {
            residual: residual.valid(),
            len,
        })
    }

    /// The victim key's ciphertexts (`m × len`) carried into the attacker's key's space.
    pub fn apply(&self, ciphers: &[f32]) -> Vec<f32> {
        let device = archnet_model::device();
        let m = ciphers.len() / self.len.max(1);
        if m == 0 {
            return Vec::new();
        }
        let x = Tensor::<2>::from_data(TensorData::new(ciphers.to_vec(), [m, self.len]), &device);
        (x.clone() + self.residual.forward(x))
            .into_data()
            .try_to_vec::<f32>()
            .expect("the map outputs f32")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two "keys" whose ciphertexts differ by a fixed shift and a swap of two coordinates; the map
    /// learned from labels alone should undo most of it.
    #[test]
    fn learns_a_map_that_brings_one_keys_classes_onto_the_others() {
        use rand::Rng;
        let (len, classes, n) = (4usize, 3usize, 600usize);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let centre = |k: usize| -> [f32; 4] {
            let mut c = [0f32; 4];
            c[k] = 2.0;
            c
        };
        let mut own = Vec::new();
        let mut victim = Vec::new();
        let labels: Vec<u16> = (0..n).map(|i| (i % classes) as u16).collect();
        for &l in &labels {
            let c = centre(l as usize);
            let noise: Vec<f32> = (0..len).map(|_| rng.random::<f32>() - 0.5).collect();
            let y: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.3 * b).collect();
            own.extend_from_slice(&y);
            // The victim key: coordinates 0 and 1 swapped, everything shifted by 1.
            let noise: Vec<f32> = (0..len).map(|_| rng.random::<f32>() - 0.5).collect();
            let x: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.3 * b).collect();
            victim.extend_from_slice(&[x[1] + 1.0, x[0] + 1.0, x[2] + 1.0, x[3] + 1.0]);
        }
        let class_mean_gap = |mapped: &[f32]| -> f64 {
            let a = by_class(len, mapped, &labels, classes);
            let b = by_class(len, &own, &labels, classes);
            (0..classes)
                .map(|k| {
                    (0..len)
                        .map(|j| {
                            let ma =
                                a[k].iter().map(|r| r[j] as f64).sum::<f64>() / a[k].len() as f64;
                            let mb =
                                b[k].iter().map(|r| r[j] as f64).sum::<f64>() / b[k].len() as f64;
                            (ma - mb).powi(2)
                        })
                        .sum::<f64>()
                })
                .sum()
        };
        let before = class_mean_gap(&victim);
        let map = LearnedMap::fit(
            len,
            (&victim, &labels),
            (&own, &labels),
            classes,
            &LearnedMapConfig {
                steps: 300,
                per_class: 64,
                learning_rate: 1e-2,
                seed: 0,
            },
        )
        .unwrap();
        let after = class_mean_gap(&map.apply(&victim));
        assert!(
            after < 0.1 * before,
            "class means {before:.3} apart before the map, {after:.3} after"
        );
    }

    #[test]
    fn refuses_mismatched_counts_and_disjoint_classes() {
        let cfg = LearnedMapConfig::default();
        assert!(LearnedMap::fit(2, (&[0.0; 3], &[0]), (&[0.0; 2], &[0]), 1, &cfg).is_err());
        assert!(LearnedMap::fit(1, (&[0.0], &[0]), (&[0.0], &[1]), 2, &cfg).is_err());
    }
}
