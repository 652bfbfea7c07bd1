//! Attacks on a key: how much of the plain images a party without the key recovers from
//! ciphertexts, measured rather than assumed.
//!
//! - [`ridge`]: known plaintext, a linear map fitted on N (image, ciphertext) pairs;
//! - [`inverter`]: known plaintext, a network with D1's (public) architecture trained on the pairs;
//! - [`ciphertext_only`]: no pairs at all: per-channel probes of the ciphertexts, a look-alike key
//!   the attacker trains on public data, and linkability of ciphertexts;
//! - [`lookalike`]: the look-alike key with a map into it learned from the labels every holder
//!   of ciphertexts has (for keys with no D1 to borrow, such as `private` keys);
//! - [`judge`]: a plain-image classifier that says whether a reconstruction shows the right class
//!   (information only: every party holding ciphertexts holds their labels too);
//! - [`instance`]: what must stay hidden, *which* image: re-identification, gain over the
//!   class-mean image, linkability;
//! - [`suite`]: the protocols of the `archnet attack` commands over a [`suite::Target`];
//! - [`audit`]: a bounded run of the above that `archnet publish` shows before any upload.
//!
//! Every attack returns an [`AttackResult`]: reconstructions of held-out *victim* images with
//! their re-identification rate, their PSNR and SSIM and the gain of both over the class-mean
//! baseline, and the judge's recognition rate.

pub mod audit;
pub mod ciphertext_only;
pub mod instance;
pub mod inverter;
pub mod judge;
pub mod lookalike;
pub mod ridge;
pub mod suite;

use archnet_data::ImageDataset;

pub use instance::{Baseline, QualityGain, Reidentification};
pub use inverter::{Inverter, InverterConfig};
pub use judge::Judge;
pub use lookalike::{LearnedMap, LearnedMapConfig};
pub use ridge::RidgeInverse;

pub use archnet_model::metrics::std_dev;
pub use archnet_model::privacy::add_absolute_noise;

use archnet_model::ArchNetKey;
use archnet_model::error::Result;
use archnet_model::metrics::QualityMeans;

/// E1 of `data`'s images at `indices`, flat (`n × cipher_len`), in batches of `batch`.
pub fn encrypt_images(
    key: &ArchNetKey,
    data: &ImageDataset,
    indices: &[usize],
    batch: usize,
) -> Vec<f32> {
    let mut out = Vec::new();
    for chunk in indices.chunks(batch.max(1)) {
        out.extend(key.encrypt_values(data.shape, &data.batch_f32(chunk), chunk.len()));
    }
    out
}

/// D1 of `key` with its sigmoid over flat ciphertexts of `cipher_shape`, in batches of `batch`.
pub fn decrypt_images(
    key: &ArchNetKey,
    cipher_shape: [usize; 3],
    ciphers: &[f32],
    batch: usize,
) -> Vec<f32> {
    key.decrypt_values(cipher_shape, ciphers, batch)
}

/// Randomised encryption, the first hardening tried: fresh Gaussian noise of standard deviation
/// `relative_std` × (the ciphertexts' own standard deviation) added to every value, so no fixed
/// map from images to ciphertexts exists. Deterministic for a given `seed`.
pub fn add_noise(ciphers: &mut [f32], relative_std: f32, seed: u64) {
    if relative_std > 0.0 {
        let std = std_dev(ciphers) * relative_std as f64;
        add_absolute_noise(ciphers, std, seed);
    }
}

/// Mean PSNR and SSIM of reconstructions against the originals (both `m × plain_len`).
pub fn reconstruction_quality(
    shape: [usize; 3],
    originals: &[f32],
    reconstructions: &[f32],
) -> QualityMeans {
    let len: usize = shape.iter().product();
    let mut q = QualityMeans::default();
    for (o, r) in originals.chunks(len).zip(reconstructions.chunks(len)) {
        q.add(shape, o, r);
    }
    q
}

/// The images an attack tries to recover, and what the attacker sees of them.
pub struct Victims {
    /// `[C, H, W]` of one plain image.
    pub shape: [usize; 3],
    /// The plain images, `m × plain_len` in [0, 1] (never shown to the attacker).
    pub images: Vec<f32>,
    /// Their true labels, for the judge.
    pub labels: Option<Vec<u16>>,
    /// Their ciphertexts, `m × cipher_len`: all the attacker gets.
    pub ciphers: Vec<f32>,
    /// What the attacker knows for nothing: the class-mean image of each victim, from the
    /// attacker's own images.
    pub baseline: Baseline,
}

impl Victims {
    /// Number of victim images.
    pub fn len(&self) -> usize {
        self.images.len() / self.shape.iter().product::<usize>().max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Percent with one decimal, or `-`.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// The lines every attack line is read against: the chance rates and the class-mean image.
pub struct BaselineLines<'a>(&'a Victims);

impl Victims {
    /// The chance rates and the class-mean baseline, as two printed lines.
    pub fn baseline_lines(&self) -> BaselineLines<'_> {
        BaselineLines(self)
    }
}

impl std::fmt::Display for BaselineLines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let victims = self.0;
        let b = &victims.baseline;
        writeln!(
            f,
            "  chance: re-identification {} among all {} victims, {} within a class",
            percent(Some(b.reidentification.chance)),
            victims.len(),
            percent(b.reidentification.chance_same_class)
        )?;
        write!(
            f,
            "  the {} image (free to anyone holding the labels): {:.2} dB, SSIM {:.3}, re-identifies {} (same class {}); gains below are over it",
            if b.label_aware { "class-mean" } else { "mean" },
            b.quality.psnr_db,
            b.quality.ssim,
            percent(Some(b.reidentification.all)),
            percent(b.reidentification.same_class)
        )
    }
}

/// One attack's line: PSNR, SSIM, recognition (information only) and seconds, then what must
/// stay hidden: re-identification, and the gain over the class-mean image.
impl std::fmt::Display for AttackResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  {:<44} {:>6.2} dB  SSIM {:.3}  recognised {:>6}  {:>6.1} s  re-identified {:>6} (same class {:>6}), over the class mean SSIM {:+.3} PSNR {:+.2} dB",
            self.attack,
            self.quality.psnr_db,
            self.quality.ssim,
            percent(self.recognised),
            self.seconds,
            percent(Some(self.reidentification.all)),
            percent(self.reidentification.same_class),
            self.gain.ssim,
            self.gain.psnr_db,
        )
    }
}

/// What one attack recovered.
#[derive(Debug, Clone)]
pub struct AttackResult {
    /// Which attack, in words (`ridge, 100 pairs`).
    pub attack: String,
    /// Mean PSNR / SSIM of the reconstructions against the victims.
    pub quality: QualityMeans,
    /// Re-identification: how often a reconstruction is nearest its own victim.
    pub reidentification: Reidentification,
    /// PSNR and SSIM above the class-mean baseline's.
    pub gain: QualityGain,
    /// Fraction of reconstructions the judge assigns the victim's true class (`None` without a
    /// judge or labels). Information only: the attacker holds the labels anyway.
    pub recognised: Option<f64>,
    /// Wall seconds the attack took (fitting and applying; not encrypting the victims).
    pub seconds: f64,
    /// The reconstructions, `m × plain_len` in [0, 1].
    pub reconstructions: Vec<f32>,
}

impl AttackResult {
    /// Scores `reconstructions` of `victims` (and asks `judge` where there is one).
    pub fn score(
        attack: String,
        victims: &Victims,
        reconstructions: Vec<f32>,
        judge: Option<&Judge>,
        seconds: f64,
    ) -> Result<AttackResult> {
        let quality = reconstruction_quality(victims.shape, &victims.images, &reconstructions);
        let recognised = match (judge, &victims.labels) {
            (Some(judge), Some(labels)) => Some(judge.recognised(&reconstructions, labels)?),
            _ => None,
        };
        let reidentification = Reidentification::measure(
            victims.shape.iter().product(),
            &victims.images,
            &reconstructions,
            victims.labels.as_deref(),
        );
        Ok(AttackResult {
            attack,
            gain: QualityGain::over(&quality, &victims.baseline.quality),
            quality,
            reidentification,
            recognised,
            seconds,
            reconstructions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_requested_scale_and_is_seeded() {
        let base: Vec<f32> = (0..20_000)
            .map(|i| ((i % 100) as f32 - 50.0) / 10.0)
            .collect();
        let own = std_dev(&base);
        let mut a = base.clone();
        add_noise(&mut a, 0.5, 7);
        let diff: Vec<f32> = a.iter().zip(&base).map(|(x, y)| x - y).collect();
        let got = std_dev(&diff) / own;
        assert!((got - 0.5).abs() < 0.02, "relative noise std {got}");
        let mut b = base.clone();
        add_noise(&mut b, 0.5, 7);
        assert_eq!(a, b, "same seed, same noise");
        let mut c = base.clone();
        add_noise(&mut c, 0.0, 7);
        assert_eq!(c, base, "zero noise changes nothing");
    }
}
