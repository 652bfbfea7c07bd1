//! Instance-level leakage: what an attacker learns about *which* image a ciphertext holds.
//!
//! Every party that holds ciphertexts also holds their labels (a node trains on them, the
//! server validates with them), so a reconstruction that only shows the right class tells them
//! nothing new: the class-mean image, which anyone builds from public images of that class,
//! shows it too. What must stay hidden is the instance. Three measures say how much of it leaks:
//!
//! - **re-identification** ([`Reidentification`]): the share of victims whose reconstruction is
//!   nearer (pixel L2) to its own true image than to any other victim's — among all victims, and
//!   among victims of the same class, each with its chance rate;
//! - **gain over the label-aware baseline** ([`Baseline`], [`QualityGain`]): PSNR and SSIM of
//!   the reconstructions minus those of the class-mean image, computed from the attacker's own
//!   non-victim images of the victim's class;
//! - **linkability** ([`tpr_at_fpr`]): the true-positive rate at 1% false positives of telling
//!   whether two ciphertexts hold the same image.

use archnet_model::metrics::QualityMeans;

/// Squared L2 distance of two equally long rows.
fn distance2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// How often reconstructions point back at their own image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reidentification {
    /// Share of victims whose reconstruction is strictly nearer to their own image than to any
    /// other victim's.
    pub all: f64,
    /// What a guess achieves among all victims: 1/m.
    pub chance: f64,
    /// The same among the victims of the victim's own class (`None` without labels).
    pub same_class: Option<f64>,
    /// What a guess achieves there: the mean of 1/(victims in the class).
    pub chance_same_class: Option<f64>,
}

impl Reidentification {
    /// Measures `reconstructions` of `originals` (both `m × len`; `labels` per victim).
    pub fn measure(
        len: usize,
        originals: &[f32],
        reconstructions: &[f32],
        labels: Option<&[u16]>,
    ) -> Reidentification {
        let m = originals.len() / len.max(1);
        let rows = |v: &[f32]| -> Vec<Vec<f32>> { v.chunks(len).map(<[f32]>::to_vec).collect() };
        let (orig, rec) = (rows(originals), rows(reconstructions));
        let (mut hits, mut class_hits, mut class_chance) = (0usize, 0usize, 0f64);
        for i in 0..m {
            let own = distance2(&rec[i], &orig[i]);
            let (mut nearest_other, mut nearest_same) = (f64::INFINITY, f64::INFINITY);
            let mut same = 1usize;
            for j in (0..m).filter(|&j| j != i) {
                let d = distance2(&rec[i], &orig[j]);
                nearest_other = nearest_other.min(d);
                if let Some(l) = labels
                    && l[j] == l[i]
                {
                    nearest_same = nearest_same.min(d);
                    same += 1;
                }
            }
            hits += usize::from(own < nearest_other);
            class_hits += usize::from(own < nearest_same);
            class_chance += 1.0 / same as f64;
        }
        let share = |k: usize| k as f64 / m.max(1) as f64;
        Reidentification {
            all: share(hits),
            chance: 1.0 / m.max(1) as f64,
            same_class: labels.map(|_| share(class_hits)),
            chance_same_class: labels.map(|_| class_chance / m.max(1) as f64),
        }
    }
}

impl Reidentification {
    /// The 95% Wilson score interval of [`Reidentification::all`], reading the victims as a
    /// sample of the data (m = 1/chance of them): with 200 victims, 5% means 2.7%–9.0%.
    pub fn interval(&self) -> (f64, f64) {
        let n = (1.0 / self.chance).round().max(1.0);
        let (p, z) = (self.all, 1.959_963_984_540_054_f64);
        let d = 1.0 + z * z / n;
        let centre = (p + z * z / (2.0 * n)) / d;
        let half = z / d * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
        ((centre - half).max(0.0), (centre + half).min(1.0))
    }
}

/// What an attacker knows without breaking anything: for each victim, the mean of the
/// attacker's own (non-victim) images of the victim's class, or of all of them without labels.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// One baseline image per victim, `m × len`.
    pub images: Vec<f32>,
    /// Whether it knew the class (labels on both sides).
    pub label_aware: bool,
    /// Its PSNR and SSIM against the victims.
    pub quality: QualityMeans,
    /// Its own re-identification: the floor a label-aware attacker gets for nothing.
    pub reidentification: Reidentification,
}

impl Baseline {
    /// The class-mean baseline for `victims` (`m × len` in [0, 1]) from the attacker's `known`
    /// images; class means where both sides have labels, the overall mean otherwise (and for a
    /// class the attacker has no image of).
    pub fn class_means(
        shape: [usize; 3],
        known: &[f32],
        known_labels: Option<&[u16]>,
        victims: &[f32],
        victim_labels: Option<&[u16]>,
    ) -> Baseline {
        let len: usize = shape.iter().product();
        let mean_of = |rows: &mut dyn Iterator<Item = &[f32]>| -> Option<Vec<f32>> {
            let mut sum = vec![0f64; len];
            let mut n = 0usize;
            for row in rows {
                sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
                n += 1;
            }
            (n > 0).then(|| sum.into_iter().map(|s| (s / n as f64) as f32).collect())
        };
        let overall = mean_of(&mut known.chunks(len)).unwrap_or_else(|| vec![0.5; len]);
        let m = victims.len() / len.max(1);
        let (images, label_aware) = match (known_labels, victim_labels) {
            (Some(kl), Some(vl)) => {
                let classes = kl
                    .iter()
                    .chain(vl)
                    .copied()
                    .max()
                    .map_or(0, |c| c as usize + 1);
                let means: Vec<Vec<f32>> = (0..classes as u16)
                    .map(|c| {
                        mean_of(
                            &mut known
                                .chunks(len)
                                .zip(kl)
                                .filter(|(_, l)| **l == c)
                                .map(|(r, _)| r),
                        )
                        .unwrap_or_else(|| overall.clone())
                    })
                    .collect();
                (
                    vl.iter()
                        .flat_map(|&c| means[c as usize].iter().copied())
                        .collect::<Vec<f32>>(),
                    true,
                )
            }
            _ => (
                (0..m).flat_map(|_| overall.iter().copied()).collect(),
                false,
            ),
        };
        let quality = super::reconstruction_quality(shape, victims, &images);
        let reidentification = Reidentification::measure(len, victims, &images, victim_labels);
        Baseline {
            images,
            label_aware,
            quality,
            reidentification,
        }
    }
}

/// How much better than the baseline a reconstruction is.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QualityGain {
    /// Mean PSNR of the reconstructions minus the baseline's, dB.
    pub psnr_db: f64,
    /// Mean SSIM of the reconstructions minus the baseline's.
    pub ssim: f64,
}

impl QualityGain {
    /// `quality` relative to `baseline`.
    pub fn over(quality: &QualityMeans, baseline: &QualityMeans) -> QualityGain {
        QualityGain {
            psnr_db: quality.psnr_db - baseline.psnr_db,
            ssim: quality.ssim - baseline.ssim,
        }
    }
}

/// Linkability as a detector: rows `i` of `a` and `b` hold the same image. Each pair is scored
/// by cosine similarity after removing each set's mean row; the threshold lets through `fpr` of
/// the pairs of different images (i ≠ j), and the result is the share of same-image pairs that
/// pass it. 1.0 for a deterministic encryption, about `fpr` when nothing links.
pub fn tpr_at_fpr(len: usize, a: &[f32], b: &[f32], fpr: f64) -> f64 {
    let (a, b) = (
        super::ciphertext_only::centred_unit_rows(len, a),
        super::ciphertext_only::centred_unit_rows(len, b),
    );
    let m = a.len().min(b.len());
    if m < 2 {
        return f64::NAN;
    }
    let score = |i: usize, j: usize| -> f64 { a[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum() };
    let mut negatives = Vec::with_capacity(m * (m - 1));
    let mut positives = Vec::with_capacity(m);
    for i in 0..m {
        for j in 0..m {
            if i == j {
                positives.push(score(i, j));
            } else {
                negatives.push(score(i, j));
            }
        }
    }
    negatives.sort_by(|x, y| y.total_cmp(x));
    // The threshold: at most `fpr` of the negatives score strictly above it.
    let allowed = ((negatives.len() as f64) * fpr).floor() as usize;
    let threshold = negatives[allowed.min(negatives.len() - 1)];
    positives.iter().filter(|&&s| s > threshold).count() as f64 / m as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wilson intervals against their closed forms: 0 of n has upper bound z²/(n + z²), and
    /// 10 of 200 is 2.74%–8.96% (the figure every binomial calculator gives).
    #[test]
    fn the_interval_of_a_rate_is_wilsons() {
        let at = |all: f64| Reidentification {
            all,
            chance: 1.0 / 200.0,
            same_class: None,
            chance_same_class: None,
        };
        let (lo, hi) = at(0.0).interval();
        let z2 = 1.959_963_984_540_054_f64.powi(2);
        assert_eq!(lo, 0.0);
        assert!((hi - z2 / (200.0 + z2)).abs() < 1e-12, "{hi}");
        let (lo, hi) = at(0.05).interval();
        assert!(
            (lo - 0.027_38).abs() < 5e-5 && (hi - 0.089_58).abs() < 5e-5,
            "{lo} {hi}"
        );
    }

    /// Four distinct 4-pixel images, two of class 0 and two of class 1.
    fn four() -> (Vec<f32>, Vec<u16>) {
        (
            vec![
                0.0, 0.1, 0.0, 0.1, //
                0.3, 0.0, 0.2, 0.0, //
                1.0, 0.9, 1.0, 0.8, //
                0.6, 1.0, 0.7, 1.0,
            ],
            vec![0, 0, 1, 1],
        )
    }

    #[test]
    fn perfect_reconstructions_reidentify_everyone() {
        let (x, l) = four();
        let r = Reidentification::measure(4, &x, &x, Some(&l));
        assert_eq!(r.all, 1.0);
        assert_eq!(r.same_class, Some(1.0));
        assert_eq!(r.chance, 0.25);
        assert_eq!(r.chance_same_class, Some(0.5));
    }

    #[test]
    fn a_constant_guess_reidentifies_at_most_one_victim() {
        let (x, l) = four();
        let guess: Vec<f32> = (0..4).flat_map(|_| [0.5f32; 4]).collect();
        let r = Reidentification::measure(4, &x, &guess, Some(&l));
        assert!(r.all <= 0.25, "{}", r.all);
        // Class means reidentify at most one victim per class.
        let b = Baseline::class_means([1, 2, 2], &x, Some(&l), &x, Some(&l));
        assert!(b.label_aware);
        assert!(b.reidentification.all <= 0.5);
        assert_eq!(&b.images[..4], &[0.15, 0.05, 0.1, 0.05]);
        // Swapping two victims' reconstructions makes both wrong.
        let mut swapped = x.clone();
        swapped[..4].copy_from_slice(&x[4..8]);
        swapped[4..8].copy_from_slice(&x[..4]);
        let r = Reidentification::measure(4, &x, &swapped, Some(&l));
        assert_eq!(r.all, 0.5);
        assert_eq!(r.same_class, Some(0.5));
    }

    #[test]
    fn baseline_without_labels_is_the_overall_mean() {
        let (x, _) = four();
        let b = Baseline::class_means([1, 2, 2], &x, None, &x, None);
        assert!(!b.label_aware);
        assert!((b.images[0] - 0.475).abs() < 1e-6);
        assert_eq!(b.reidentification.same_class, None);
        let gain = QualityGain::over(&b.quality, &b.quality);
        assert_eq!((gain.psnr_db, gain.ssim), (0.0, 0.0));
    }

    #[test]
    fn linkability_is_total_for_copies_and_near_the_rate_for_noise() {
        let len = 16;
        let a: Vec<f32> = (0..64 * len)
            .map(|i| ((i * 7919) % 101) as f32 / 100.0)
            .collect();
        assert_eq!(tpr_at_fpr(len, &a, &a, 0.01), 1.0);
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let noise = archnet_model::privacy::gaussian_from(&mut rng, a.len(), 1.0);
        let unrelated = archnet_model::privacy::gaussian_from(&mut rng, a.len(), 1.0);
        let tpr = tpr_at_fpr(len, &noise, &unrelated, 0.01);
        assert!(tpr < 0.1, "independent noise links {tpr}");
    }
}
