//! Differential privacy accounting for DP-SGD: the Rényi-DP accountant of the sampled Gaussian
//! mechanism (Mironov, Talwar, Zhang 2019, §3.3) and the RDP → (ε, δ) conversion of Balle et
//! al. 2020 (Theorem 21), as in Opacus and TF Privacy.
//!
//! Orders are the integers 2..=255, where the closed form needs no special functions; the tests
//! pin the results to Opacus's own computation at the same orders.

/// The RDP orders this accountant evaluates.
pub const ORDERS: std::ops::RangeInclusive<u32> = 2..=255;

/// ln(e^a + e^b) without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// RDP of one step of the sampled Gaussian mechanism at integer order `alpha`: sampling rate
/// `q`, noise multiplier `sigma` (noise std / clipping norm).
pub fn rdp_per_step(q: f64, sigma: f64, alpha: u32) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    let a = f64::from(alpha);
    if q == 1.0 {
        return a / (2.0 * sigma * sigma);
    }
    // log A_α = log Σ_i C(α, i) q^i (1−q)^(α−i) exp((i² − i) / 2σ²)
    let mut log_a = f64::NEG_INFINITY;
    let mut log_binom = 0.0f64; // ln C(α, 0)
    for i in 0..=alpha {
        if i > 0 {
            log_binom += (a - f64::from(i) + 1.0).ln() - f64::from(i).ln();
        }
        let fi = f64::from(i);
        let term = log_binom
            + fi * q.ln()
            + (a - fi) * (1.0 - q).ln()
            + (fi * fi - fi) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, term);
    }
    log_a / (a - 1.0)
}

/// The privacy spent by DP-SGD.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivacySpent {
    /// ε of the (ε, δ) guarantee.
    pub epsilon: f64,
    /// δ of the (ε, δ) guarantee.
    pub delta: f64,
    /// The RDP order that gave the tightest ε.
    pub order: u32,
}

/// (ε, δ) after `steps` steps of the sampled Gaussian mechanism with sampling rate `q` and noise
/// multiplier `sigma`, minimised over [`ORDERS`].
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> PrivacySpent {
    let mut best = PrivacySpent {
        epsilon: f64::INFINITY,
        delta,
        order: *ORDERS.start(),
    };
    for alpha in ORDERS {
        let a = f64::from(alpha);
        let rdp = rdp_per_step(q, sigma, alpha) * steps as f64;
        let eps = rdp - (delta.ln() + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln();
        if eps < best.epsilon {
            best = PrivacySpent {
                epsilon: eps,
                delta,
                order: alpha,
            };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (q, σ, steps, δ, ε, best order) printed by `tests/data/rdp_reference.py`, which runs
    /// Opacus 1.6.0's `accountants/analysis/rdp.py` at orders 2..=255.
    const OPACUS: [(f64, f64, u64, f64, f64, u32); 5] = [
        (0.004266666666666667, 1.1, 14062, 1e-05, 2.5969811785953, 8),
        (0.01, 1.0, 1000, 1e-05, 2.107753075451561, 8),
        (0.001, 4.0, 10000, 1e-06, 0.1008115633952052, 164),
        (0.1, 0.8, 100, 1e-05, 13.828010209476966, 2),
        (0.02, 2.0, 5000, 1e-05, 3.4912904417062824, 7),
    ];

    #[test]
    fn matches_opacus() {
        for (q, sigma, steps, delta, eps, order) in OPACUS {
            let got = epsilon(q, sigma, steps, delta);
            assert!(
                (got.epsilon - eps).abs() < 1e-9 * eps.max(1.0),
                "q {q} σ {sigma}: {} vs {eps}",
                got.epsilon
            );
            assert_eq!(got.order, order, "q {q} σ {sigma}");
        }
    }

    #[test]
    fn more_noise_or_fewer_steps_spend_less() {
        let base = epsilon(0.01, 1.0, 1000, 1e-5).epsilon;
        assert!(epsilon(0.01, 2.0, 1000, 1e-5).epsilon < base);
        assert!(epsilon(0.01, 1.0, 100, 1e-5).epsilon < base);
        assert_eq!(rdp_per_step(0.0, 1.0, 4), 0.0);
        assert_eq!(rdp_per_step(1.0, 2.0, 4), 4.0 / 8.0);
    }
}
