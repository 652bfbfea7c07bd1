//! The linear known-plaintext inverter: ridge regression from ciphertexts to images.

use archnet_model::error::{ModelError, Result};

/// A linear inverse of E1, `x ≈ x̄ + (c − c̄)·W`, fitted by ridge regression in its dual form
/// (an N×N system, so ciphertexts of any size and up to a few thousand pairs are cheap).
pub struct RidgeInverse {
    cipher_len: usize,
    plain_len: usize,
    cipher_mean: Vec<f64>,
    plain_mean: Vec<f64>,
    /// The centred training ciphertexts, `n × cipher_len`.
    train: Vec<f64>,
    /// `(K + λI)⁻¹ (Y − Ȳ)`, `n × plain_len`.
    alpha: Vec<f64>,
}

impl RidgeInverse {
    /// Fits on `n` pairs: `ciphers` is `n × cipher_len`, `plains` `n × plain_len` (pixels in
    /// [0, 1]). `lambda` is relative to the mean squared norm of a centred ciphertext.
    pub fn fit(ciphers: &[f32], plains: &[f32], n: usize, lambda: f64) -> Result<RidgeInverse> {
        if n == 0 || !ciphers.len().is_multiple_of(n) || !plains.len().is_multiple_of(n) {
            return Err(ModelError::Fit {
                attack: "ridge",
                reason: "inconsistent pair counts".into(),
            });
        }
        let (cipher_len, plain_len) = (ciphers.len() / n, plains.len() / n);
        let mean = |v: &[f32], len: usize| -> Vec<f64> {
            let mut m = vec![0.0; len];
            for row in v.chunks(len) {
                for (a, b) in m.iter_mut().zip(row) {
                    *a += *b as f64 / n as f64;
                }
            }
            m
        };
        let cipher_mean = mean(ciphers, cipher_len);
        let plain_mean = mean(plains, plain_len);
        let train: Vec<f64> = ciphers
            .chunks(cipher_len)
            .flat_map(|row| row.iter().zip(&cipher_mean).map(|(a, m)| *a as f64 - m))
            .collect();
        let mut gram = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let dot = dot(
                    &train[i * cipher_len..(i + 1) * cipher_len],
                    &train[j * cipher_len..(j + 1) * cipher_len],
                );
                gram[i * n + j] = dot;
                gram[j * n + i] = dot;
            }
        }
        let scale = (0..n).map(|i| gram[i * n + i]).sum::<f64>() / n as f64;
        for i in 0..n {
            gram[i * n + i] += lambda * scale.max(1e-12);
        }
        let targets: Vec<f64> = plains
            .chunks(plain_len)
            .flat_map(|row| row.iter().zip(&plain_mean).map(|(a, m)| *a as f64 - m))
            .collect();
        let alpha = cholesky_solve(&gram, n, &targets, plain_len)?;
        Ok(RidgeInverse {
            cipher_len,
            plain_len,
            cipher_mean,
            plain_mean,
            train,
            alpha,
        })
    }

    /// Reconstructions of `ciphers` (`m × cipher_len`), pixels clamped to [0, 1].
    pub fn predict(&self, ciphers: &[f32]) -> Vec<f32> {
        let n = self.train.len() / self.cipher_len;
        let mut out = Vec::with_capacity(ciphers.len() / self.cipher_len * self.plain_len);
        for c in ciphers.chunks(self.cipher_len) {
            let centred: Vec<f64> = c
                .iter()
                .zip(&self.cipher_mean)
                .map(|(a, m)| *a as f64 - m)
                .collect();
            let mut y = self.plain_mean.clone();
            for i in 0..n {
                let k = dot(
                    &self.train[i * self.cipher_len..(i + 1) * self.cipher_len],
                    &centred,
                );
                for (out, a) in y
                    .iter_mut()
                    .zip(&self.alpha[i * self.plain_len..(i + 1) * self.plain_len])
                {
                    *out += k * a;
                }
            }
            out.extend(y.iter().map(|v| v.clamp(0.0, 1.0) as f32));
        }
        out
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `A X = B` for symmetric positive definite `A` (`n × n`) and `B` (`n × k`).
fn cholesky_solve(a: &[f64], n: usize, b: &[f64], k: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - (0..j).map(|p| l[i * n + p] * l[j * n + p]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return Err(ModelError::Fit {
                        attack: "ridge",
                        reason: "the system is not positive definite".into(),
                    });
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut x = b.to_vec();
    for col in 0..k {
        // L y = b, then Lᵀ x = y.
        for i in 0..n {
            let s = x[i * k + col] - (0..i).map(|p| l[i * n + p] * x[p * k + col]).sum::<f64>();
            x[i * k + col] = s / l[i * n + i];
        }
        for i in (0..n).rev() {
            let s = x[i * k + col]
                - (i + 1..n)
                    .map(|p| l[p * n + i] * x[p * k + col])
                    .sum::<f64>();
            x[i * k + col] = s / l[i * n + i];
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_an_exactly_linear_map() {
        // plain = A · cipher for a random A: with more pairs than unknowns' rank the fit is
        // near exact on unseen ciphertexts.
        let (d, p, n) = (12, 4, 40);
        let a: Vec<f32> = (0..d * p)
            .map(|i| ((i * 7919 % 97) as f32 / 97.0 - 0.5) * 0.2)
            .collect();
        // A small xorshift generator: deterministic, and its vectors are in general position.
        let cipher = |seed: usize| -> Vec<f32> {
            let mut state = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            (0..d)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 10_000) as f32 / 10_000.0
                })
                .collect()
        };
        let plain_of = |c: &[f32]| -> Vec<f32> {
            (0..p)
                .map(|o| 0.5 + (0..d).map(|j| c[j] * a[j * p + o]).sum::<f32>())
                .collect()
        };
        let ciphers: Vec<f32> = (0..n).flat_map(cipher).collect();
        let plains: Vec<f32> = ciphers.chunks(d).flat_map(plain_of).collect();
        let inverse = RidgeInverse::fit(&ciphers, &plains, n, 1e-9).unwrap();
        let test = cipher(1000);
        let got = inverse.predict(&test);
        for (g, w) in got.iter().zip(plain_of(&test)) {
            assert!((g - w).abs() < 1e-3, "{g} vs {w}");
        }
    }
}
