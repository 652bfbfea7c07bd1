//! Reconstruction quality: PSNR and SSIM of images in `[0, 1]`.

/// Peak signal-to-noise ratio in dB of `reconstruction` against `reference`, both in `[0, 1]`.
/// Identical images give 100 dB (a cap instead of infinity, so means stay finite).
pub fn psnr(reference: &[f32], reconstruction: &[f32]) -> f64 {
    assert_eq!(
        reference.len(),
        reconstruction.len(),
        "PSNR needs images of one size"
    );
    let mse = reference
        .iter()
        .zip(reconstruction)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum::<f64>()
        / reference.len().max(1) as f64;
    if mse <= 1e-10 {
        100.0
    } else {
        -10.0 * mse.log10()
    }
}

/// Structural similarity (Wang et al. 2004) of two `[C, H, W]` images in `[0, 1]`: an 11×11
/// Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, averaged over valid windows and channels.
/// Images smaller than the window use one window covering the whole plane.
pub fn ssim(shape: [usize; 3], reference: &[f32], reconstruction: &[f32]) -> f64 {
    let [c, h, w] = shape;
    assert_eq!(reference.len(), c * h * w);
    assert_eq!(reconstruction.len(), c * h * w);
    let win = 11.min(h).min(w);
    let sigma = 1.5;
    let half = (win as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..win)
        .map(|i| (-((i as f64 - half).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let gsum: f64 = g.iter().sum();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for ch in 0..c {
        let a = &reference[ch * h * w..(ch + 1) * h * w];
        let b = &reconstruction[ch * h * w..(ch + 1) * h * w];
        for y0 in 0..=h - win {
            for x0 in 0..=w - win {
                let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for dy in 0..win {
                    for dx in 0..win {
                        let wgt = g[dy] * g[dx] / (gsum * gsum);
                        let i = (y0 + dy) * w + x0 + dx;
                        let (va, vb) = (f64::from(a[i]), f64::from(b[i]));
                        ma += wgt * va;
                        mb += wgt * vb;
                        saa += wgt * va * va;
                        sbb += wgt * vb * vb;
                        sab += wgt * va * vb;
                    }
                }
                let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                    / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}

/// Running mean of per-image PSNR and SSIM.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QualityMeans {
    /// Images averaged over.
    pub count: usize,
    /// Mean PSNR, dB.
    pub psnr_db: f64,
    /// Mean SSIM.
    pub ssim: f64,
}

impl QualityMeans {
    /// Adds one image pair.
    pub fn add(&mut self, shape: [usize; 3], reference: &[f32], reconstruction: &[f32]) {
        let n = self.count as f64;
        self.psnr_db = (self.psnr_db * n + psnr(reference, reconstruction)) / (n + 1.0);
        self.ssim = (self.ssim * n + ssim(shape, reference, reconstruction)) / (n + 1.0);
        self.count += 1;
    }
}

/// Standard deviation of all values.
pub fn std_dev(values: &[f32]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        // uniform error 0.1 → MSE 0.01 → 20 dB
        let a = vec![0.5f32; 16];
        let b = vec![0.6f32; 16];
        assert!((psnr(&a, &b) - 20.0).abs() < 1e-4);
        assert_eq!(psnr(&a, &a), 100.0);
    }

    #[test]
    fn ssim_is_one_for_identical_and_lower_for_noise() {
        let shape = [1, 16, 16];
        let a: Vec<f32> = (0..256).map(|i| ((i * 37) % 256) as f32 / 255.0).collect();
        assert!((ssim(shape, &a, &a) - 1.0).abs() < 1e-9);
        let b: Vec<f32> = a
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 2 == 0 { 1.0 - v } else { *v })
            .collect();
        assert!(ssim(shape, &a, &b) < 0.5);
    }
}
