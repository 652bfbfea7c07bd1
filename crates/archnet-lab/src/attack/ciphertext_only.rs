//! Attacks with no (image, ciphertext) pairs: what the published ciphertexts alone give away.
//!
//! - channel probes: one channel of a ciphertext, minus the mean ciphertext, resized to the
//!   image size and normalised — if E1 keeps the image's layout, the image shows;
//! - a look-alike key: the attacker trains a key of the same (public) preset on public data, then
//!   aligns the victim's channels to its own by their statistics and decodes with its own D1;
//! - linkability: whether ciphertexts of the same image can be matched (the same key twice, or
//!   two different keys).

use burn::prelude::*;

use archnet_model::ArchNetKey;

/// The mean ciphertext over `ciphers` (`m × len`).
pub fn mean_cipher(len: usize, ciphers: &[f32]) -> Vec<f32> {
    let m = (ciphers.len() / len.max(1)).max(1) as f64;
    let mut mean = vec![0f64; len];
    for c in ciphers.chunks(len) {
        for (a, &v) in mean.iter_mut().zip(c) {
            *a += v as f64;
        }
    }
    mean.into_iter().map(|v| (v / m) as f32).collect()
}

/// Scales each image (`len` values) to span [0, 1]: what an attacker does to a faint or offset
/// picture before looking at it.
pub fn stretch_contrast(images: &mut [f32], len: usize) {
    for image in images.chunks_mut(len) {
        let (lo, hi) = image
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let span = (hi - lo).max(1e-12);
        image.iter_mut().for_each(|v| *v = (*v - lo) / span);
    }
}

/// One probe: which ciphertext channel, and whether its values are negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelProbe {
    /// The ciphertext channel read as the image.
    pub channel: usize,
    /// Whether its values are read negated (bright as dark).
    pub inverted: bool,
}

impl ChannelProbe {
    /// All probes of a ciphertext with `channels` channels: each channel in both polarities.
    pub fn all(channels: usize) -> Vec<ChannelProbe> {
        (0..channels)
            .flat_map(|channel| [false, true].map(|inverted| ChannelProbe { channel, inverted }))
            .collect()
    }

    /// The probe images of `ciphers` (`m × cipher_len`): channel `self.channel` minus the same
    /// channel of `mean`, area-averaged down to the plain height and width, scaled per image to
    /// [0, 1] (negated first when `inverted`), repeated over the plain channels.
    pub fn images(
        &self,
        cipher_shape: [usize; 3],
        plain_shape: [usize; 3],
        ciphers: &[f32],
        mean: &[f32],
    ) -> Vec<f32> {
        let [c, h, w] = cipher_shape;
        let [pc, ph, pw] = plain_shape;
        let (fy, fx) = ((h / ph).max(1), (w / pw).max(1));
        let plane = h * w;
        let sign = if self.inverted { -1.0 } else { 1.0 };
        let mut out = Vec::with_capacity(ciphers.len() / (c * plane) * pc * ph * pw);
        let mean_plane = &mean[self.channel * plane..(self.channel + 1) * plane];
        for cipher in ciphers.chunks(c * plane) {
            let channel = &cipher[self.channel * plane..(self.channel + 1) * plane];
            let mut small = vec![0f32; ph * pw];
            for (y, row) in small.chunks_mut(pw).enumerate() {
                for (x, v) in row.iter_mut().enumerate() {
                    let mut sum = 0.0;
                    for dy in 0..fy {
                        for dx in 0..fx {
                            let p = (y * fy + dy).min(h - 1) * w + (x * fx + dx).min(w - 1);
                            sum += channel[p] - mean_plane[p];
                        }
                    }
                    *v = sign * sum / (fy * fx) as f32;
                }
            }
            stretch_contrast(&mut small, ph * pw);
            for _ in 0..pc {
                out.extend_from_slice(&small);
            }
        }
        out
    }
}

/// Maps the victim's ciphertext channels onto the channels of the attacker's own key of the same
/// preset, by statistics alone (no pairs): each of the attacker's channels takes the victim channel
/// whose mean and spread maps correlate best with its own, with the sign of the correlation, and is
/// rescaled to the attacker's mean map and spread.
pub struct ChannelAlignment {
    shape: [usize; 3],
    /// For each of the attacker's channels: (victim channel, sign).
    source: Vec<(usize, f32)>,
    victim_mean: Vec<f32>,
    victim_spread: Vec<f32>,
    own_mean: Vec<f32>,
    own_spread: Vec<f32>,
}

impl ChannelAlignment {
    /// Fits on ciphertexts of the victim's key and of the attacker's own key (of different images:
    /// the attacker encrypts public data), both shaped `shape`.
    pub fn fit(shape: [usize; 3], victim: &[f32], own: &[f32]) -> ChannelAlignment {
        let len: usize = shape.iter().product();
        let (victim_mean, victim_spread, victim_maps) = describe(shape, victim);
        let (own_mean, own_spread, own_maps) = describe(shape, own);
        let channels = shape[0];
        // Correlation of every (own, victim) pair of channel maps; greedy best-first assignment.
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (j, own) in own_maps.iter().enumerate() {
            for (k, victim) in victim_maps.iter().enumerate() {
                pairs.push((correlation(own, victim), j, k));
            }
        }
        pairs.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        let mut source = vec![None; channels];
        let mut used = vec![false; channels];
        for &(corr, j, k) in &pairs {
            if source[j].is_none() && !used[k] {
                source[j] = Some((k, if corr < 0.0 { -1.0 } else { 1.0 }));
                used[k] = true;
            }
        }
        let source = source.into_iter().map(|s| s.unwrap_or((0, 1.0))).collect();
        debug_assert_eq!(victim_mean.len(), len);
        ChannelAlignment {
            shape,
            source,
            victim_mean,
            victim_spread,
            own_mean,
            own_spread,
        }
    }

    /// The same statistics with each channel kept in place, unsigned: a starting point when the
    /// keys happen to order their channels alike.
    pub fn in_place(&self) -> ChannelAlignment {
        self.with_source((0..self.shape[0]).map(|k| (k, 1.0)).collect())
    }

    fn with_source(&self, source: Vec<(usize, f32)>) -> ChannelAlignment {
        ChannelAlignment {
            shape: self.shape,
            source,
            victim_mean: self.victim_mean.clone(),
            victim_spread: self.victim_spread.clone(),
            own_mean: self.own_mean.clone(),
            own_spread: self.own_spread.clone(),
        }
    }

    /// Improves the channel assignment by coordinate search — swapping two channels' sources or
    /// flipping one's sign — keeping each change that lowers `cost` of the aligned `sample`,
    /// until a pass changes nothing (at most `passes`). Returns the alignment and its cost.
    ///
    /// With `cost` the look-alike key's cycle error ([`cycle_cost`]) this needs no labels and no
    /// pairs: ciphertexts aligned right lie where the attacker's own key maps images.
    pub fn refine(
        self,
        sample: &[f32],
        cost: &mut dyn FnMut(&[f32]) -> f64,
        passes: usize,
    ) -> (ChannelAlignment, f64) {
        let mut best = self;
        let mut best_cost = cost(&best.apply(sample));
        let channels = best.shape[0];
        for _ in 0..passes {
            let mut improved = false;
            let mut moves: Vec<Vec<(usize, f32)>> = Vec::new();
            for a in 0..channels {
                let mut flipped = best.source.clone();
                flipped[a].1 = -flipped[a].1;
                moves.push(flipped);
                for b in a + 1..channels {
                    let mut swapped = best.source.clone();
                    swapped.swap(a, b);
                    moves.push(swapped);
                }
            }
            for source in moves {
                let candidate = best.with_source(source);
                let c = cost(&candidate.apply(sample));
                if c < best_cost {
                    (best, best_cost, improved) = (candidate, c, true);
                }
            }
            if !improved {
                break;
            }
        }
        (best, best_cost)
    }

    /// The victim's ciphertexts moved into the attacker's key's ciphertext space.
    pub fn apply(&self, victim: &[f32]) -> Vec<f32> {
        let len: usize = self.shape.iter().product();
        let plane = self.shape[1] * self.shape[2];
        let mut out = Vec::with_capacity(victim.len());
        for c in victim.chunks(len) {
            for (j, &(k, sign)) in self.source.iter().enumerate() {
                let scale = sign * self.own_spread[j] / self.victim_spread[k].max(1e-12);
                for p in 0..plane {
                    let deviation = c[k * plane + p] - self.victim_mean[k * plane + p];
                    out.push(self.own_mean[j * plane + p] + scale * deviation);
                }
            }
        }
        out
    }
}

/// The cycle error of ciphertexts under a key: ‖E1(D1(c)) − c‖² / ‖c − c̄‖², small when `ciphers`
/// look like that key's own ciphertexts.
pub fn cycle_cost(key: &ArchNetKey, shape: [usize; 3], ciphers: &[f32]) -> f64 {
    let device = archnet_model::device();
    let len: usize = shape.iter().product();
    let m = ciphers.len() / len.max(1);
    let x = Tensor::<4>::from_data(
        TensorData::new(ciphers.to_vec(), [m, shape[0], shape[1], shape[2]]),
        &device,
    );
    let back = key
        .encrypt(key.decrypt(x))
        .into_data()
        .try_to_vec::<f32>()
        .expect("E1 outputs f32");
    let mean = mean_cipher(len, ciphers);
    let (mut err, mut spread) = (0f64, 0f64);
    for (i, (a, b)) in ciphers.iter().zip(&back).enumerate() {
        err += ((a - b) as f64).powi(2);
        spread += ((a - mean[i % len]) as f64).powi(2);
    }
    err / spread.max(1e-12)
}

/// Mean map, per-channel spread (standard deviation around the mean map), and per-channel
/// description maps (the mean map followed by the per-position standard deviation map).
fn describe(shape: [usize; 3], samples: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<Vec<f64>>) {
    let len: usize = shape.iter().product();
    let plane = shape[1] * shape[2];
    let m = (samples.len() / len).max(1) as f64;
    let mean = mean_cipher(len, samples);
    let mut var = vec![0f64; len];
    for s in samples.chunks(len) {
        for ((a, &v), &mu) in var.iter_mut().zip(s).zip(&mean) {
            *a += ((v - mu) as f64).powi(2) / m;
        }
    }
    let spread = (0..shape[0])
        .map(|k| (var[k * plane..(k + 1) * plane].iter().sum::<f64>() / plane as f64).sqrt() as f32)
        .collect();
    let maps = (0..shape[0])
        .map(|k| {
            let mu = mean[k * plane..(k + 1) * plane].iter().map(|&v| v as f64);
            let sd = var[k * plane..(k + 1) * plane].iter().map(|v| v.sqrt());
            let mut map: Vec<f64> = standardised(mu.collect());
            map.extend(standardised(sd.collect()));
            map
        })
        .collect();
    (mean, spread, maps)
}

fn standardised(v: Vec<f64>) -> Vec<f64> {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    v.into_iter().map(|x| (x - mean) / sd).collect()
}

/// Pearson correlation of two equally long vectors.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(1) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    cov / (va * vb).sqrt().max(1e-12)
}

/// Linkability: the fraction of rows of `a` whose most similar row of `b` (cosine similarity after
/// removing each set's mean row) is the row with the same index — 1/m by chance.
pub fn match_rate(len: usize, a: &[f32], b: &[f32]) -> f64 {
    let hits = nearest(len, a, b)
        .iter()
        .enumerate()
        .filter(|(i, j)| *i == **j)
        .count();
    hits as f64 / (a.len() / len.max(1)).max(1) as f64
}

/// For each row of `a`, the index of its most similar row of `b` (cosine after centring).
fn nearest(len: usize, a: &[f32], b: &[f32]) -> Vec<usize> {
    let (a, b) = (centred_unit_rows(len, a), centred_unit_rows(len, b));
    a.iter()
        .map(|row| {
            b.iter()
                .enumerate()
                .map(|(j, other)| (j, row.iter().zip(other).map(|(x, y)| x * y).sum::<f64>()))
                .max_by(|x, y| x.1.total_cmp(&y.1))
                .map_or(0, |(j, _)| j)
        })
        .collect()
}

/// Each row of `v` (`m × len`) minus the mean row, scaled to unit length.
pub(crate) fn centred_unit_rows(len: usize, v: &[f32]) -> Vec<Vec<f64>> {
    let mean = mean_cipher(len, v);
    v.chunks(len)
        .map(|row| {
            let r: Vec<f64> = row.iter().zip(&mean).map(|(x, m)| (x - m) as f64).collect();
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            r.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Linking the same images across two keys with nothing but ciphertexts: every pair of channel
/// probes (one channel of each key, both relative polarities) matches the two sets by nearest
/// neighbour, and the pair whose matches are most often mutual wins — a choice that needs no
/// labels. Rows `i` of `a` and `b` are the same image.
pub fn link_across_keys(
    cipher_shape: [usize; 3],
    plain_shape: [usize; 3],
    a: &[f32],
    b: &[f32],
) -> CrossKeyLink {
    let len: usize = plain_shape.iter().product();
    let (mean_a, mean_b) = {
        let cipher_len: usize = cipher_shape.iter().product();
        (mean_cipher(cipher_len, a), mean_cipher(cipher_len, b))
    };
    let probes = |set: &[f32], mean: &[f32], channel: usize, inverted: bool| {
        ChannelProbe { channel, inverted }.images(cipher_shape, plain_shape, set, mean)
    };
    let mut best: Option<(usize, CrossKeyLink)> = None;
    for ka in 0..cipher_shape[0] {
        let pa = probes(a, &mean_a, ka, false);
        for kb in 0..cipher_shape[0] {
            for inverted in [false, true] {
                let pb = probes(b, &mean_b, kb, inverted);
                let (ab, ba) = (nearest(len, &pa, &pb), nearest(len, &pb, &pa));
                let mutual = ab.iter().enumerate().filter(|(i, j)| ba[**j] == *i).count();
                if best.as_ref().is_none_or(|(m, _)| mutual > *m) {
                    let hits = ab.iter().enumerate().filter(|(i, j)| *i == **j).count();
                    let link = CrossKeyLink {
                        match_rate: hits as f64 / ab.len().max(1) as f64,
                        tpr_at_1pct_fpr: super::instance::tpr_at_fpr(len, &pa, &pb, 0.01),
                        channels: (ka, kb, inverted),
                    };
                    best = Some((mutual, link));
                }
            }
        }
    }
    best.expect("a ciphertext has at least one channel").1
}

/// How well the same images were linked across two keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossKeyLink {
    /// Share of images whose nearest counterpart is their own (chance: 1/m).
    pub match_rate: f64,
    /// True-positive rate at 1% false positives of "same image" by probe similarity.
    pub tpr_at_1pct_fpr: f64,
    /// The probe pair chosen: (channel under the first key, channel under the second, inverted).
    pub channels: (usize, usize, bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_recovers_a_channel_that_copies_the_image() {
        // A "ciphertext" whose channel 1 is the image upsampled 2× (and channel 0 noise-free
        // constant): the probe of channel 1 is the image itself, up to min-max scaling.
        let plain = [1, 2, 2];
        let cipher = [2, 4, 4];
        let images = [[0.0f32, 1.0, 0.5, 0.25], [1.0, 0.0, 0.25, 0.5]];
        let mut ciphers = Vec::new();
        for img in &images {
            ciphers.extend([3.0f32; 16]);
            for y in 0..4 {
                for x in 0..4 {
                    ciphers.push(img[(y / 2) * 2 + x / 2]);
                }
            }
        }
        let zero = vec![0f32; 32];
        let probe = ChannelProbe {
            channel: 1,
            inverted: false,
        }
        .images(cipher, plain, &ciphers, &zero);
        assert_eq!(&probe[..4], &[0.0, 1.0, 0.5, 0.25]);
        let inverted = ChannelProbe {
            channel: 1,
            inverted: true,
        }
        .images(cipher, plain, &ciphers, &zero);
        assert_eq!(&inverted[4..], &[0.0, 1.0, 0.75, 0.5]);
    }

    #[test]
    fn alignment_undoes_a_channel_permutation_sign_and_scale() {
        // The victim's ciphertexts are the attacker's with channels swapped, one negated and
        // rescaled: aligning must give back the attacker's own ciphertexts.
        let shape = [2, 3, 3];
        let own: Vec<f32> = (0..40)
            .flat_map(|i| {
                let t = i as f32 / 40.0;
                let a: Vec<f32> = (0..9).map(|p| (p as f32 * 0.3 + t).sin()).collect();
                let b: Vec<f32> = (0..9)
                    .map(|p| (p as f32 * t + 1.0).cos() * 2.0 + p as f32)
                    .collect();
                [a, b].concat()
            })
            .collect();
        let victim: Vec<f32> = own
            .chunks(18)
            .flat_map(|s| {
                let b: Vec<f32> = s[9..].iter().map(|v| -3.0 * v + 1.0).collect();
                [b, s[..9].to_vec()].concat()
            })
            .collect();
        let aligned = ChannelAlignment::fit(shape, &victim, &own).apply(&victim);
        for (a, o) in aligned.iter().zip(&own) {
            assert!((a - o).abs() < 1e-3, "{a} vs {o}");
        }
    }

    #[test]
    fn identical_sets_match_and_a_shuffled_copy_does_not() {
        let len = 6;
        let a: Vec<f32> = (0..10 * len)
            .map(|i| ((i * 37 % 11) as f32).sin())
            .collect();
        assert_eq!(match_rate(len, &a, &a), 1.0);
        let mut shifted = a[len..].to_vec();
        shifted.extend_from_slice(&a[..len]);
        assert_eq!(match_rate(len, &a, &shifted), 0.0);
    }

    #[test]
    fn images_are_linked_across_keys_that_reorder_and_negate_channels() {
        // Key A copies the image into channel 0 (channel 1 noise-like); key B puts the negated
        // image into channel 1. The probes of A's channel 0 and B's inverted channel 1 match.
        let (plain, cipher) = ([1, 3, 3], [2, 3, 3]);
        let image = |i: usize| -> Vec<f32> {
            (0..9)
                .map(|p| ((i * 7 + p * 3) % 11) as f32 / 10.0)
                .collect()
        };
        let filler = |i: usize| -> Vec<f32> { (0..9).map(|p| ((i * p) % 5) as f32).collect() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        // Ten distinct images (image(i) repeats with period 11).
        for i in 0..10 {
            a.extend(image(i));
            a.extend(filler(i));
            b.extend(filler(i + 1));
            b.extend(image(i).iter().map(|v| -2.0 * v));
        }
        let link = link_across_keys(cipher, plain, &a, &b);
        assert_eq!(link.match_rate, 1.0);
        assert_eq!(link.channels, (0, 1, true));
        assert_eq!(link.tpr_at_1pct_fpr, 1.0);
    }
}
