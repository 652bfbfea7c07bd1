//! The protocols of `archnet attack known-plaintext` and `archnet attack ciphertext-only`: a
//! [`Target`] (key, data, victims, judge) and the attacks run on it, returned as an
//! [`AttackReport`] for the caller to print or draw.
//!
//! The victims are the data's last images; the images before them are what an attacker may know
//! (pairs, the judge's training set, the mean image). Every attack is scored with the instance
//! metrics of [`super::instance`] against the class-mean baseline.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use archnet_data::{DataSource, ImageDataset};

use super::audit::{best_channel_probe, mean_image_guess, sort_strongest_first, victims_of};
use super::ciphertext_only::{
    ChannelAlignment, cycle_cost, link_across_keys, match_rate, stretch_contrast,
};
use super::instance::tpr_at_fpr;
use super::{
    AttackResult, Inverter, InverterConfig, Judge, RidgeInverse, Victims, add_noise,
    decrypt_images, encrypt_images, reconstruction_quality,
};
use archnet_model::error::{ModelError, Result};
use archnet_model::metrics::QualityMeans;
use archnet_model::trained::TrainedModel;
use archnet_model::{ArchNetKey, KeyFile, KeyMetadata, device};

/// Seeds of the noise added to the pairs' and the victims' ciphertexts (randomised encryption).
const PAIR_NOISE_SEED: u64 = 1;
const VICTIM_NOISE_SEED: u64 = 2;
/// The ridge map's dual system is N × N: it is fitted up to this many pairs.
pub const RIDGE_MAX_PAIRS: usize = 4_000;

/// Where the judge (a plain-image classifier) comes from.
pub enum JudgeSource {
    /// The folder of a model trained on plain images of the data's shape (`archnet train` on
    /// plain data).
    Saved(PathBuf),
    /// A cnn trained for this many epochs on the non-victim images (none without labels).
    Train {
        /// Passes over the non-victim images.
        epochs: usize,
    },
}

impl JudgeSource {
    /// The model folder `saved` when given, else a cnn trained for `epochs` epochs.
    pub fn saved_or_trained(saved: Option<PathBuf>, epochs: usize) -> JudgeSource {
        saved.map_or(JudgeSource::Train { epochs }, JudgeSource::Saved)
    }
}

/// How a judge was trained for this run, to say so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeTraining {
    /// Passes over the images.
    pub epochs: usize,
    /// Images it was trained on (the non-victim ones).
    pub images: usize,
    /// Wall seconds of its training.
    pub seconds: f64,
}

/// What every attack protocol sets up: the key, the data, the victims and the judge.
pub struct Target {
    /// The key under attack (it only makes the pairs and the victims' ciphertexts).
    pub key: ArchNetKey,
    /// Its metadata.
    pub meta: KeyMetadata,
    /// The plain images: pairs and judge first, victims last.
    pub data: ImageDataset,
    /// The victims, their ciphertexts noised by `noise` when it is above 0.
    pub victims: Victims,
    /// Randomised encryption under test: noise × the ciphertexts' std added afresh.
    pub noise: f32,
    /// The plain-image classifier that says whether reconstructions are recognisable (none for unlabelled data).
    pub judge: Option<Judge>,
    /// The judge's accuracy on the true victim images.
    pub judge_accuracy: Option<f64>,
    /// Set when the judge was trained here.
    pub judge_training: Option<JudgeTraining>,
    /// Images before this index are available as known pairs.
    pub pair_limit: usize,
    /// Indices of the victim images in `data` (the rest).
    pub victim_idx: Vec<usize>,
}

impl Target {
    /// The last `victims` images of `data` as victims under `key`; `scratch` holds a judge
    /// trained here.
    pub fn new(
        key: ArchNetKey,
        meta: KeyMetadata,
        data: ImageDataset,
        victims: usize,
        noise: f32,
        judge: JudgeSource,
        scratch: &Path,
    ) -> Result<Target> {
        if victims == 0 || victims >= data.len() {
            return Err(ModelError::Config(format!(
                "--victims {victims} must be at least 1 and below the {} images of the data",
                data.len()
            )));
        }
        let pair_limit = data.len() - victims;
        let victim_idx: Vec<usize> = (pair_limit..data.len()).collect();
        let known: Vec<usize> = (0..pair_limit).collect();
        let mut target_victims = victims_of(&key, &data, &victim_idx, &known);
        add_noise(&mut target_victims.ciphers, noise, VICTIM_NOISE_SEED);
        let (judge, judge_training) = match judge {
            JudgeSource::Saved(path) => {
                let trained = TrainedModel::load(&path, &device())?;
                (Some(judge_from(trained, &path, data.shape)?), None)
            }
            JudgeSource::Train { .. } if data.labels.is_none() => (None, None),
            JudgeSource::Train { epochs } => {
                let started = Instant::now();
                let judge = Judge::train(data.select(&known), epochs, 0, scratch)?;
                let training = JudgeTraining {
                    epochs,
                    images: known.len(),
                    seconds: started.elapsed().as_secs_f64(),
                };
                (Some(judge), Some(training))
            }
        };
        let judge_accuracy = match (&judge, &target_victims.labels) {
            (Some(j), Some(labels)) => Some(j.recognised(&target_victims.images, labels)?),
            _ => None,
        };
        Ok(Target {
            key,
            meta,
            data,
            victims: target_victims,
            noise,
            judge,
            judge_accuracy,
            judge_training,
            pair_limit,
            victim_idx,
        })
    }

    fn score(&self, name: String, out: Vec<f32>, seconds: f64) -> Result<AttackResult> {
        AttackResult::score(name, &self.victims, out, self.judge.as_ref(), seconds)
    }
}

/// A judge from a trained model, refused unless it takes plain images of `shape`.
fn judge_from(trained: TrainedModel, path: &Path, shape: [usize; 3]) -> Result<Judge> {
    if trained.card.key_id.is_some() || trained.card.spec.input_shape != shape {
        return Err(ModelError::Mismatch {
            path: path.to_path_buf(),
            reason: format!(
                "the judge must be trained on plain {:?} images (this one takes {:?}{})",
                shape,
                trained.card.spec.input_shape,
                if trained.card.key_id.is_some() {
                    " ciphertexts"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(Judge::from_model(trained.model, shape))
}

/// A known-plaintext inverter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownPlaintextMethod {
    /// A linear map fitted on the pairs ([`RidgeInverse`]).
    Ridge,
    /// A network with D1's architecture trained on the pairs ([`Inverter`]).
    Inverter,
}

impl FromStr for KnownPlaintextMethod {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ridge" => Ok(KnownPlaintextMethod::Ridge),
            "inverter" => Ok(KnownPlaintextMethod::Inverter),
            other => Err(ModelError::Config(format!(
                "unknown attack method `{other}` (known: ridge, inverter)"
            ))),
        }
    }
}

/// What the known-plaintext protocol runs.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownPlaintextConfig {
    /// Known pairs: the data's first N images, for each N.
    pub pairs: Vec<usize>,
    /// The inverters to fit for each N.
    pub methods: Vec<KnownPlaintextMethod>,
    /// Ridge strength, relative to the mean squared norm of a ciphertext.
    pub lambda: f64,
    /// Inverter training steps.
    pub inverter_steps: usize,
}

/// Which protocol made a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackKind {
    /// Inverses of E1 fitted on known (image, ciphertext) pairs.
    KnownPlaintext,
    /// Probes, a look-alike key and linkability, from ciphertexts alone.
    CiphertextOnly,
}

impl std::fmt::Display for AttackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttackKind::KnownPlaintext => "known-plaintext",
            AttackKind::CiphertextOnly => "ciphertext-only",
        })
    }
}

/// The same images encrypted twice under the attacked key, matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SameKeyLinkability {
    /// Fraction matched to their own second encryption.
    pub match_rate: f64,
    /// True positives at 1% false positives.
    pub tpr_at_1pct_fpr: f64,
}

/// What the look-alike key recovered beyond its attack rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LookalikeSummary {
    /// The look-alike key's id.
    pub key_id: String,
    /// The look-alike key's cycle error (E1 ∘ D1) on victim ciphertexts as they are.
    pub cycle_error_as_is: f64,
    /// … and after aligning channels.
    pub cycle_error_aligned: f64,
    /// Seconds to align.
    pub fit_seconds: f64,
    /// The victims under both keys, matched by channel probes.
    pub link_by_probes: f64,
    /// The channels the probes chose (attacked key's, look-alike's, inverted).
    pub link_channels: (usize, usize, bool),
    /// True-positive rate of the cross-key link at a 1% false-positive rate.
    pub link_tpr_at_1pct_fpr: f64,
    /// … and through the aligned decoder.
    pub link_by_decoder: f64,
}

/// One protocol's outcome.
pub struct AttackReport {
    /// Which protocol ran.
    pub kind: AttackKind,
    /// Strongest first for ciphertext-only; in run order for known-plaintext.
    pub results: Vec<AttackResult>,
    /// Guessing the mean image.
    pub guess: QualityMeans,
    /// Pair counts whose ridge map was not fitted (over [`RIDGE_MAX_PAIRS`]).
    pub ridge_skipped: Vec<usize>,
    /// Ciphertext-only: the same images encrypted twice, matched.
    pub same_key: Option<SameKeyLinkability>,
    /// Ciphertext-only with a look-alike key.
    pub lookalike: Option<LookalikeSummary>,
}

impl AttackReport {
    fn new(kind: AttackKind, results: Vec<AttackResult>, guess: QualityMeans) -> Self {
        AttackReport {
            kind,
            results,
            guess,
            ridge_skipped: Vec::new(),
            same_key: None,
            lookalike: None,
        }
    }
}

impl std::fmt::Display for JudgeTraining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "judge: a cnn trained {} epoch(s) on the {} non-victim plain images ({:.0} s)",
            self.epochs, self.images, self.seconds
        )
    }
}

impl AttackReport {
    /// The report on `target` as `archnet attack` prints it once every attack has run.
    pub fn summary<'a>(&'a self, target: &'a Target) -> Summary<'a> {
        Summary {
            report: self,
            target,
        }
    }
}

/// A report with its target, displayed as the closing summary of `archnet attack`.
pub struct Summary<'a> {
    report: &'a AttackReport,
    target: &'a Target,
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, t) = (self.report, self.target);
        let chance = 100.0 / t.victims.len().max(1) as f64;
        for n in &r.ridge_skipped {
            writeln!(
                f,
                "ridge map, {n} pairs: skipped (its dual system is n × n)"
            )?;
        }
        if let Some(link) = r.same_key {
            writeln!(
                f,
                "linkability, same image encrypted twice with this key: {:.1}% matched (chance {chance:.1}%), true positives at 1% false positives {:.1}%",
                100.0 * link.match_rate,
                100.0 * link.tpr_at_1pct_fpr
            )?;
        }
        if let Some(l) = &r.lookalike {
            writeln!(
                f,
                "look-alike key {}: cycle error {:.3} as is, {:.3} after aligning channels ({:.0} s)",
                l.key_id, l.cycle_error_as_is, l.cycle_error_aligned, l.fit_seconds
            )?;
            let (ka, kb, inverted) = l.link_channels;
            writeln!(
                f,
                "linkability, same image under the attacked key and the look-alike key: {:.1}% matched by channel probes \
                 (channels {ka} and {kb}{}, chosen without labels; {:.1}% true positives at 1% false positives), {:.1}% through the aligned decoder (chance {chance:.1}%)",
                100.0 * l.link_by_probes,
                if inverted { " inverted" } else { "" },
                100.0 * l.link_tpr_at_1pct_fpr,
                100.0 * l.link_by_decoder,
            )?;
        }
        writeln!(f)?;
        let noise = if t.noise > 0.0 {
            format!(
                ", randomised encryption (noise {} × the ciphertexts' std)",
                t.noise
            )
        } else {
            String::new()
        };
        writeln!(
            f,
            "{} attacks on key {} ({}){noise}, {} victim images:",
            r.kind,
            t.meta.key_id,
            t.meta.architecture.preset,
            t.victims.len()
        )?;
        if let Some(acc) = t.judge_accuracy {
            writeln!(
                f,
                "  the judge recognises {:.1}% of the true victim images",
                100.0 * acc
            )?;
        }
        writeln!(
            f,
            "  guessing the mean image: {:.2} dB, SSIM {:.3}",
            r.guess.psnr_db, r.guess.ssim
        )?;
        write!(f, "{}", t.victims.baseline_lines())?;
        if let Some(rec) = &t.meta.reconstruction {
            write!(
                f,
                "\n  the key's own decoder D1: {:.2} dB, SSIM {:.3}",
                rec.quality.psnr_db, rec.quality.ssim
            )?;
        }
        for a in &r.results {
            write!(f, "\n{a}")?;
        }
        Ok(())
    }
}

/// Known plaintext: each method fitted on each N pairs, applied to the victims' ciphertexts.
/// `on_result` sees each attack as it finishes.
pub fn known_plaintext(
    t: &Target,
    config: &KnownPlaintextConfig,
    on_result: &mut dyn FnMut(&AttackResult),
) -> Result<AttackReport> {
    if let Some(&n) = config.pairs.iter().find(|&&n| n == 0 || n > t.pair_limit) {
        return Err(ModelError::Config(format!(
            "{n} pairs: between 1 and {} (the images before the {} victims)",
            t.pair_limit,
            t.victims.len()
        )));
    }
    let max_pairs = config.pairs.iter().copied().max().unwrap_or(0);
    let known: Vec<usize> = (0..max_pairs).collect();
    let mut ciphers = encrypt_images(&t.key, &t.data, &known, 64);
    add_noise(&mut ciphers, t.noise, PAIR_NOISE_SEED);
    let plains = t.data.batch_f32(&known);
    let cipher_len: usize = t.meta.architecture.cipher_shape.iter().product();
    let plain_len = t.data.image_len();
    let mut results = Vec::new();
    let mut ridge_skipped = Vec::new();
    for &n in &config.pairs {
        let (c, p) = (&ciphers[..n * cipher_len], &plains[..n * plain_len]);
        for method in &config.methods {
            let started = Instant::now();
            let (name, out) = match method {
                KnownPlaintextMethod::Ridge if n > RIDGE_MAX_PAIRS => {
                    ridge_skipped.push(n);
                    continue;
                }
                KnownPlaintextMethod::Ridge => {
                    let ridge = RidgeInverse::fit(c, p, n, config.lambda)?;
                    (
                        format!("ridge map, {n} pairs"),
                        ridge.predict(&t.victims.ciphers),
                    )
                }
                KnownPlaintextMethod::Inverter => {
                    let inverter_config = InverterConfig {
                        steps: config.inverter_steps,
                        ..InverterConfig::default()
                    };
                    let inverter =
                        Inverter::train(&t.meta.architecture, c, p, n, &inverter_config)?;
                    (
                        format!("inverter net, {n} pairs"),
                        inverter.predict(&t.victims.ciphers),
                    )
                }
            };
            let result = t.score(name, out, started.elapsed().as_secs_f64())?;
            on_result(&result);
            results.push(result);
        }
    }
    let guess = mean_image_guess(t.data.shape, &plains, t.victims.len());
    let guess = reconstruction_quality(t.data.shape, &t.victims.images, &guess);
    let mut report = AttackReport::new(AttackKind::KnownPlaintext, results, guess);
    report.ridge_skipped = ridge_skipped;
    Ok(report)
}

/// The attacker's own key and public images, for the look-alike attack.
pub struct Lookalike {
    /// The attacker's key.
    pub key: ArchNetKey,
    /// Its metadata.
    pub meta: KeyMetadata,
    /// Where the key was read from, for errors.
    pub path: PathBuf,
    /// What the attacker encrypts with its own key.
    pub public: ImageDataset,
}

impl Lookalike {
    /// Reads the attacker's key at `path` (of the attacked key's preset, trained on public data)
    /// and the public images it learns its channel statistics on.
    pub fn load(path: &Path, public: &DataSource) -> Result<Lookalike> {
        let (key, meta) = KeyFile::load(path, &device())?;
        Ok(Lookalike {
            key,
            meta,
            path: path.to_path_buf(),
            public: public.load()?,
        })
    }
}

/// Ciphertext only: the best channel probe, linkability under the key, and with `lookalike` the
/// attacker's own key decoding the victims (as is, by channel statistics, cycle-aligned; each
/// also inverted) and linking them across keys.
pub fn ciphertext_only(
    t: &Target,
    lookalike: Option<&Lookalike>,
    on_result: &mut dyn FnMut(&AttackResult),
) -> Result<AttackReport> {
    let arch = &t.meta.architecture;
    let cipher_len: usize = arch.cipher_shape.iter().product();
    let probe = best_channel_probe(arch, &t.victims, t.judge.as_ref())?;
    on_result(&probe);
    let mut results = vec![probe];

    // Linkability under the same key: E1 is deterministic, so without noise a repeated image
    // repeats its ciphertext exactly.
    let again = {
        let mut c = encrypt_images(&t.key, &t.data, &t.victim_idx, 64);
        add_noise(&mut c, t.noise, VICTIM_NOISE_SEED + 1);
        c
    };
    let same_key = SameKeyLinkability {
        match_rate: match_rate(cipher_len, &t.victims.ciphers, &again),
        tpr_at_1pct_fpr: tpr_at_fpr(cipher_len, &t.victims.ciphers, &again, 0.01),
    };
    let lookalike = match lookalike {
        Some(own) => Some(lookalike_attack(t, own, &mut results, on_result)?),
        None => None,
    };
    sort_strongest_first(&mut results);
    // The blind guess: the victims' own mean image (generous to the guess: an attacker would
    // only have a public dataset's mean).
    let guess = reconstruction_quality(
        t.data.shape,
        &t.victims.images,
        &mean_image_guess(t.data.shape, &t.victims.images, t.victims.len()),
    );
    let mut report = AttackReport::new(AttackKind::CiphertextOnly, results, guess);
    report.same_key = Some(same_key);
    report.lookalike = lookalike;
    Ok(report)
}

/// The look-alike key's attacks, appended to `results`.
// Why one function: the look-alike protocol is one chain (check the keys, align channels, decode
// the victims three ways, link across keys) over the same ciphertexts.
fn lookalike_attack(
    t: &Target,
    own: &Lookalike,
    results: &mut Vec<AttackResult>,
    on_result: &mut dyn FnMut(&AttackResult),
) -> Result<LookalikeSummary> {
    let arch = &t.meta.architecture;
    let refuse = |reason: String| ModelError::Mismatch {
        path: own.path.to_path_buf(),
        reason,
    };
    if own.meta.architecture != *arch {
        return Err(refuse(
            "the look-alike key must have the attacked key's preset and shapes".into(),
        ));
    }
    if !arch.has_decoder() {
        return Err(refuse(format!(
            "a `{}` key has no decoder D1 to decode with; the look-alike attack on such keys is the privacy-utility protocol's",
            arch.preset
        )));
    }
    if own.meta.key_id == t.meta.key_id {
        return Err(refuse(
            "the look-alike key is the attacked key itself".into(),
        ));
    }
    if own.public.shape != t.data.shape {
        return Err(ModelError::Shape {
            expected: t.data.shape,
            found: own.public.shape,
            reason: "the public data must have the victims' image shape".into(),
        });
    }
    let cipher_len: usize = arch.cipher_shape.iter().product();
    let started = Instant::now();
    let all: Vec<usize> = (0..own.public.len()).collect();
    let own_ciphers = encrypt_images(&own.key, &own.public, &all, 64);
    let statistics = ChannelAlignment::fit(arch.cipher_shape, &t.victims.ciphers, &own_ciphers);
    // The attacker picks the assignment of channels without labels: by the look-alike key's
    // cycle error on a few victim ciphertexts, starting from the statistics and from "as is".
    let sample = &t.victims.ciphers[..cipher_len * t.victims.len().min(32)];
    let mut cost = |c: &[f32]| cycle_cost(&own.key, arch.cipher_shape, c);
    let by_statistics = statistics.apply(&t.victims.ciphers);
    let (searched, searched_cost) = [statistics.in_place(), statistics]
        .into_iter()
        .map(|start| start.refine(sample, &mut cost, 4))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("two starting points");
    let aligned = searched.apply(&t.victims.ciphers);
    // The attacker stretches each decoded image's contrast, as for the channel probes.
    let decode = |c: &[f32]| -> Vec<f32> {
        let mut images = decrypt_images(&own.key, arch.cipher_shape, c, 64);
        stretch_contrast(&mut images, t.data.image_len());
        images
    };
    let fit_seconds = started.elapsed().as_secs_f64();
    let cycle_error_as_is = cost(sample);
    for (name, input) in [
        ("look-alike, as is", &t.victims.ciphers),
        ("look-alike, channel statistics", &by_statistics),
        ("look-alike, cycle-aligned", &aligned),
    ] {
        let out = decode(input);
        let inverted: Vec<f32> = out.iter().map(|v| 1.0 - v).collect();
        for (suffix, images) in [("", out), (", inverted", inverted)] {
            let r = t.score(format!("{name}{suffix}"), images, fit_seconds)?;
            on_result(&r);
            results.push(r);
        }
    }
    // Linkability across keys: the same images under the attacked key and the look-alike key,
    // matched from the ciphertexts alone (channel probes), and through the aligned decoder as a
    // second try.
    let theirs = encrypt_images(&own.key, &t.data, &t.victim_idx, 64);
    let link = link_across_keys(arch.cipher_shape, t.data.shape, &t.victims.ciphers, &theirs);
    Ok(LookalikeSummary {
        key_id: own.meta.key_id.clone(),
        cycle_error_as_is,
        cycle_error_aligned: searched_cost,
        fit_seconds,
        link_by_probes: link.match_rate,
        link_channels: link.channels,
        link_tpr_at_1pct_fpr: link.tpr_at_1pct_fpr,
        link_by_decoder: match_rate(t.data.image_len(), &decode(&aligned), &decode(&theirs)),
    })
}
