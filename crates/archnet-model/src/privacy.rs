//! The per-image privacy guarantee of a `private` key: the Gaussian mechanism, its exact
//! (ε, δ) accounting, and the noise it draws.
//!
//! A `private` key's E1 scales each image's code to L2 norm `clip_norm` and adds independent
//! Gaussian noise of standard deviation σ to every value. Any two images' codes then differ by at
//! most Δ = 2·`clip_norm` in L2, so one ciphertext is the Gaussian mechanism with sensitivity Δ,
//! and it is (ε, δ)-differentially private *per image* (local DP: any image against any other).
//!
//! The accounting is the analytic Gaussian mechanism (Balle and Wang, ICML 2018, Theorem 8),
//! which is exact, not a bound: with μ = Δ/σ,
//!
//! δ(ε) = Φ(μ/2 − ε/μ) − e^ε · Φ(−μ/2 − ε/μ).
//!
//! k encryptions of the same image compose exactly into one Gaussian mechanism with μ·√k (the
//! Gaussian-DP composition of Dong, Roth and Su, 2022), so [`GaussianMechanism::epsilon`] takes
//! the number of releases. The tests pin the results to Google's `dp_accounting` library (its
//! privacy-loss-distribution accountant) and to the classical bound σ = Δ·√(2 ln(1.25/δ))/ε.
//!
//! What a guarantee implies for the attacks archnet measures: an attacker who must say which of
//! m candidate images a ciphertext came from succeeds with probability at most e^ε/m + δ
//! ([`reidentification_bound`]), whatever model, pairs or side knowledge it has.
//!
//! Noise for ciphertexts that leave the publisher comes from the operating system's entropy via
//! `rand`'s thread generator (ChaCha12, a cryptographic generator), sampled in f64 (Box–Muller)
//! and rounded to f32. Floating-point sampling is known to weaken DP guarantees in theory
//! (Mironov, CCS 2012, for the Laplace mechanism); the guarantee here is that of the ideal
//! real-valued mechanism, and docs/threat-model.md says so.

use archnet_data::encrypted::{PrivacyGuarantee, PrivacyMechanism};
use rand::Rng;

use crate::error::{ModelError, Result};

/// δ = 1e-5: the default δ of `archnet key train --preset private`.
pub const DEFAULT_DELTA: f64 = 1e-5;

/// The standard normal distribution function Φ.
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// δ(ε) of the Gaussian mechanism with μ = sensitivity / σ (analytic, exact).
pub fn gaussian_delta(mu: f64, epsilon: f64) -> f64 {
    if mu <= 0.0 {
        return 0.0;
    }
    if mu.is_infinite() {
        return 1.0;
    }
    let a = phi(mu / 2.0 - epsilon / mu);
    // e^ε · Φ(b) in log space: e^ε overflows long before the product does.
    let b = phi(-mu / 2.0 - epsilon / mu);
    let second = if b > 0.0 {
        (epsilon + b.ln()).exp()
    } else {
        0.0
    };
    (a - second).max(0.0)
}

/// Where a monotone test flips: `holds(x)` is true below some x* > 0 and false above it. Returns
/// `(lo, hi)` with `holds(lo)`, `!holds(hi)` and hi − lo within 1e-12 relative, or `None` when it
/// still holds at 1e6.
fn crossing(holds: impl Fn(f64) -> bool) -> Option<(f64, f64)> {
    let mut hi = 1.0;
    while holds(hi) {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if holds(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi {
            break;
        }
    }
    Some((lo, hi))
}

/// The smallest ε ≥ 0 with δ(ε) ≤ `delta` for the Gaussian mechanism with μ (∞ when μ is
/// infinite, i.e. no noise).
pub fn gaussian_epsilon(mu: f64, delta: f64) -> f64 {
    if mu.is_infinite() || delta <= 0.0 {
        return f64::INFINITY;
    }
    if gaussian_delta(mu, 0.0) <= delta {
        return 0.0;
    }
    // δ(ε) falls monotonically in ε; the upper end is the side where the guarantee holds.
    crossing(|eps| gaussian_delta(mu, eps) > delta).map_or(f64::INFINITY, |(_, hi)| hi)
}

/// The largest μ (so the smallest noise) whose Gaussian mechanism is (ε, δ)-DP.
pub fn gaussian_mu_for(epsilon: f64, delta: f64) -> f64 {
    if epsilon.is_infinite() {
        return f64::INFINITY;
    }
    // δ(ε) grows monotonically in μ; the lower end is the side where the guarantee holds.
    crossing(|mu| gaussian_delta(mu, epsilon) <= delta).map_or(f64::INFINITY, |(lo, _)| lo)
}

/// The Gaussian mechanism of a `private` key: codes scaled to L2 norm `clip_norm`, noise σ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianMechanism {
    /// L2 norm every code is scaled to (at most).
    pub clip_norm: f64,
    /// Noise standard deviation per value (0: no noise, no guarantee).
    pub sigma: f64,
}

impl GaussianMechanism {
    /// L2 sensitivity between any two images: twice the clipping norm.
    pub fn sensitivity(&self) -> f64 {
        2.0 * self.clip_norm
    }

    /// μ of `releases` encryptions of one image together (∞ without noise).
    pub fn mu(&self, releases: u64) -> f64 {
        if self.sigma <= 0.0 {
            return f64::INFINITY;
        }
        self.sensitivity() / self.sigma * (releases.max(1) as f64).sqrt()
    }

    /// ε at `delta` of `releases` encryptions of one image together.
    pub fn epsilon(&self, delta: f64, releases: u64) -> f64 {
        gaussian_epsilon(self.mu(releases), delta)
    }

    /// The mechanism with the least noise that is (ε, δ)-DP per image for one encryption
    /// (ε = ∞: no noise).
    pub fn calibrate(epsilon: f64, delta: f64, clip_norm: f64) -> Result<GaussianMechanism> {
        if epsilon.is_nan() || epsilon <= 0.0 {
            return Err(ModelError::Config(format!(
                "ε must be positive (or inf for no noise), got {epsilon}"
            )));
        }
        if !(delta > 0.0 && delta < 1.0) {
            return Err(ModelError::Config(format!(
                "δ must lie strictly between 0 and 1, got {delta}"
            )));
        }
        let mu = gaussian_mu_for(epsilon, delta);
        let sigma = if mu.is_infinite() {
            0.0
        } else {
            2.0 * clip_norm / mu
        };
        Ok(GaussianMechanism { clip_norm, sigma })
    }

    /// The guarantee of `releases` encryptions per image at `delta` (`None` without noise).
    pub fn guarantee(&self, delta: f64, releases: u64) -> Option<PrivacyGuarantee> {
        (self.sigma > 0.0).then(|| PrivacyGuarantee {
            mechanism: PrivacyMechanism::Gaussian,
            clip_norm: self.clip_norm,
            sigma: self.sigma,
            sensitivity: self.sensitivity(),
            epsilon: self.epsilon(delta, releases),
            delta,
            releases: releases.max(1),
        })
    }
}

/// The most an attacker can re-identify: the probability of naming, from one ciphertext, which
/// of `candidates` equally likely images it came from, under (ε, δ)-DP per image: e^ε/m + δ.
pub fn reidentification_bound(epsilon: f64, delta: f64, candidates: usize) -> f64 {
    let m = candidates.max(1) as f64;
    (epsilon.exp() / m + delta).min(1.0)
}

/// `n` independent draws of N(0, σ²) from the operating system's entropy (a cryptographic
/// generator): the noise of ciphertexts that leave the publisher.
pub fn secure_gaussian(n: usize, sigma: f64) -> Vec<f32> {
    let mut rng = rand::rng();
    gaussian_from(&mut rng, n, sigma)
}

/// `n` draws of N(0, σ²) from `rng` (Box–Muller in f64).
pub fn gaussian_from(rng: &mut impl Rng, n: usize, sigma: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // u1 in (0, 1]: ln never sees 0.
        let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
        let r = (-2.0 * u1.ln()).sqrt() * sigma;
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Adds Gaussian noise of standard deviation `std` to every value (seeded), drawn as
/// [`gaussian_from`] draws it.
pub fn add_absolute_noise(values: &mut [f32], std: f64, seed: u64) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let noise = gaussian_from(&mut rng, values.len(), std);
    for (v, z) in values.iter_mut().zip(noise) {
        *v += z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ε of the Gaussian mechanism with sensitivity 1 and noise multiplier σ (so μ = 1/σ),
    /// composed k times, at δ, from Google's `dp_accounting` 0.4 (PLD accountant,
    /// `value_discretization_interval=1e-5`, `GaussianDpEvent(σ)` composed k times). The two agree
    /// to about 1e-9 relative; the PLD accountant's discretisation makes it pessimistic by up to
    /// its interval, so the exact value lies at most a little below.
    const DP_ACCOUNTING: [(f64, u64, f64, f64); 6] = [
        (1.0, 1, 1e-5, 4.37717809586992),
        (2.0, 1, 1e-5, 1.9930914044622023),
        (0.5, 1, 1e-5, 9.997256146762485),
        (4.0, 1, 1e-5, 0.9263415040965012),
        (1.0, 4, 1e-5, 9.997256146762485),
        (0.25, 1, 1e-6, 26.35696392297121),
    ];

    #[test]
    fn epsilon_matches_google_dp_accounting() {
        for (sigma, k, delta, reference) in DP_ACCOUNTING {
            // Sensitivity 1 = 2·clip_norm.
            let m = GaussianMechanism {
                clip_norm: 0.5,
                sigma,
            };
            let eps = m.epsilon(delta, k);
            assert!(
                eps <= reference * (1.0 + 1e-8) && eps > reference - 2e-3,
                "σ {sigma}, k {k}, δ {delta}: ε {eps}, dp_accounting {reference}"
            );
        }
    }

    #[test]
    fn calibration_inverts_the_accountant_and_beats_the_classical_bound() {
        for eps in [0.1, 0.5, 0.9, 2.0, 8.0, 32.0] {
            let m = GaussianMechanism::calibrate(eps, 1e-5, 1.0).unwrap();
            let back = m.epsilon(1e-5, 1);
            assert!((back - eps).abs() < 1e-6 * eps.max(1.0), "{eps} → {back}");
            // The δ of the calibrated mechanism is the one asked for (it is exact, not a bound).
            let delta = gaussian_delta(m.mu(1), eps);
            assert!((delta - 1e-5).abs() < 1e-9, "δ {delta}");
            if eps < 1.0 {
                // Dwork and Roth, Theorem A.1 (ε < 1): σ = Δ·√(2 ln(1.25/δ))/ε suffices, so the
                // exact σ is smaller.
                let classical = 2.0 * (2.0 * (1.25f64 / 1e-5).ln()).sqrt() / eps;
                assert!(m.sigma < classical, "{} vs {classical}", m.sigma);
            }
        }
        let none = GaussianMechanism::calibrate(f64::INFINITY, 1e-5, 1.0).unwrap();
        assert_eq!(none.sigma, 0.0);
        assert!(none.guarantee(1e-5, 1).is_none());
        assert!(GaussianMechanism::calibrate(0.0, 1e-5, 1.0).is_err());
        assert!(GaussianMechanism::calibrate(1.0, 0.0, 1.0).is_err());
    }

    #[test]
    fn re_encryption_composes_as_one_mechanism_with_root_k_mu() {
        let m = GaussianMechanism::calibrate(2.0, 1e-5, 1.0).unwrap();
        let four = m.epsilon(1e-5, 4);
        let same = GaussianMechanism {
            clip_norm: 1.0,
            sigma: m.sigma / 2.0,
        }
        .epsilon(1e-5, 1);
        assert!((four - same).abs() < 1e-9);
        assert!(four > 2.0, "composition costs: {four}");
        let g = m.guarantee(1e-5, 4).unwrap();
        assert_eq!(g.releases, 4);
        assert_eq!(g.sensitivity, 2.0);
    }

    #[test]
    fn reidentification_bound_is_e_to_the_epsilon_over_m() {
        assert!((reidentification_bound(0.0, 0.0, 200) - 0.005).abs() < 1e-12);
        assert!(
            (reidentification_bound(2.0, 1e-5, 200) - (2f64.exp() / 200.0 + 1e-5)).abs() < 1e-12
        );
        assert_eq!(reidentification_bound(50.0, 1e-5, 200), 1.0);
    }

    #[test]
    fn gaussian_noise_has_the_requested_spread() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let v = gaussian_from(&mut rng, 100_001, 2.0);
        assert_eq!(v.len(), 100_001);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.03, "std {}", var.sqrt());
        let (a, b) = (secure_gaussian(64, 1.0), secure_gaussian(64, 1.0));
        assert_ne!(a, b, "two secure draws differ");
    }
}
