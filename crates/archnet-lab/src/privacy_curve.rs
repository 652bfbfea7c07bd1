//! The privacy–utility curve of `private` keys (results/privacy-utility.md): for each ε, what a
//! node's model reaches on the ciphertexts and what attackers trained after the key is fixed
//! learn about *which* image a ciphertext holds.
//!
//! The protocol, per dataset:
//! - **the publisher's data**: the first `train_images` training images (Table 1's 10,000),
//!   tested on the first `test_images` test images (2,000);
//! - **original arm**: the cnn on the plain images, one run per seed (AO);
//! - **per ε**: a `private` key trained on the publisher's images, which are then encrypted (with
//!   fresh noise, through the product's own pipeline) for the node; the cnn trained on them per
//!   seed (AE, EC = AO − AE); the key's proxy head on the encrypted test images;
//! - **attackers, all trained after the key is fixed**, on 200 victims (the last of the
//!   publisher's images, which the node holds as ciphertexts):
//!   - known plaintext: N (image, ciphertext) pairs under the key, taken from training images
//!     after the publisher's (other data the same key encrypted); a ridge map (N ≤ 4,000) and an
//!     inverter larger than any D1 ([`crate::attack::inverter::attack_plan`]), for each N;
//!   - linkability: two encryptions of each victim, matched by similarity (TPR at 1% FPR);
//!   - a look-alike key: the attacker trains a `private` key of the same preset and ε on its own
//!     public images (the pair pool), an inverter on as many of its own pairs as the pool holds,
//!     and a map from the victim key's ciphertexts into its own learned from the labels of the
//!     node's ciphertexts ([`crate::attack::lookalike`]); scored as is and through the map, and
//!     the map's cross-key linkability (the victims under both keys, matched);
//! - every attack scored with the instance metrics of [`crate::attack::instance`] against the
//!   class-mean image of the attacker's own images.
//!
//! Each finished point is saved as JSON under the work folder, so an interrupted run resumes
//! where it stopped.

use std::path::Path;
use std::time::Instant;

use archnet_data::encrypted::Storage;
use archnet_data::{DataError, ImageDataset, Split, open_dataset};
use serde::{Deserialize, Serialize};

use crate::attack::{
    AttackResult, Inverter, InverterConfig, LearnedMap, LearnedMapConfig, QualityGain,
    Reidentification, RidgeInverse, Victims, audit::victims_of, encrypt_images,
    instance::tpr_at_fpr,
};
use crate::experiment::{dataset_path, encrypt_to};
use archnet_model::base::BaseModelSpec;
use archnet_model::classify::{ClassifierTrainConfig, Samples, train_classifier};
use archnet_model::error::{ModelError, Result};
use archnet_model::keyfile::KeyFile;
use archnet_model::metrics::QualityMeans;
use archnet_model::private_key::{PrivateKeyConfig, train_private_key};

/// What one curve run does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveConfig {
    /// `mnist`, `fashion-mnist` or `cifar10` (a folder under the data root).
    pub dataset: String,
    /// The ε of each point (∞ = no noise).
    #[serde(with = "non_finite::list")]
    pub epsilons: Vec<f64>,
    /// δ of every point's guarantee.
    pub delta: f64,
    /// Publisher's images (key training, the node's data) and test images.
    pub train_images: usize,
    /// See `train_images`.
    pub test_images: usize,
    /// Key training epochs.
    pub key_epochs: usize,
    /// Base-model (cnn) epochs and seeds, for the original arm and each ε.
    pub cnn_epochs: usize,
    /// See `cnn_epochs`.
    pub seeds: Vec<u64>,
    /// Victims attacked.
    pub victims: usize,
    /// Known pairs of the known-plaintext attacker.
    pub pairs: Vec<usize>,
    /// Inverter training steps (batch 64).
    pub inverter_steps: usize,
    /// The ridge map is fitted up to this many pairs (its dual system is N × N).
    pub ridge_max_pairs: usize,
    /// Channels of the private keys' 4×4 code (absent in runs saved before it was a setting: 1).
    #[serde(default = "one")]
    pub code_channels: usize,
}

fn one() -> usize {
    1
}

impl CurveConfig {
    /// The scratch folder of this curve unless one is given: `work/privacy-utility-DATASET`
    /// (git-ignored; resumable).
    pub fn default_work_dir(&self) -> std::path::PathBuf {
        format!("work/privacy-utility-{}", self.dataset).into()
    }

    /// The full protocol of the issue for `dataset` (10k/2k, 10 epochs, 2 seeds, N up to 10,000).
    pub fn full(dataset: &str) -> Self {
        CurveConfig {
            dataset: dataset.into(),
            epsilons: vec![f64::INFINITY, 512.0, 256.0, 128.0, 64.0, 16.0, 4.0],
            delta: archnet_model::privacy::DEFAULT_DELTA,
            train_images: 10_000,
            test_images: 2_000,
            key_epochs: 10,
            cnn_epochs: 10,
            seeds: vec![0, 1],
            victims: 200,
            pairs: vec![10, 100, 1_000, 10_000],
            inverter_steps: 3_000,
            ridge_max_pairs: 4_000,
            code_channels: 1,
        }
    }

    /// The `private` key of the point at `epsilon`: the victim key, or with another `seed` the
    /// attacker's look-alike of the same preset.
    pub fn key_config(&self, epsilon: f64, seed: u64) -> PrivateKeyConfig {
        PrivateKeyConfig {
            epsilon,
            delta: self.delta,
            epochs: self.key_epochs,
            code_channels: self.code_channels,
            seed,
            ..PrivateKeyConfig::default()
        }
    }
}

/// One attack's instance-level numbers at one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackRow {
    /// `ridge` or `inverter`.
    pub method: String,
    /// Known (image, ciphertext) pairs it was fitted on.
    pub pairs: usize,
    /// How many victims it re-identifies, against the class-mean baseline.
    pub reidentification: Reidentification,
    /// PSNR and SSIM of its reconstructions.
    pub quality: QualityMeans,
    /// Their gain over the class-mean image.
    pub gain: QualityGain,
    /// Wall seconds to fit and apply it.
    pub seconds: f64,
}

impl AttackRow {
    /// The attack in words: `inverter, 100 pairs`, or the method alone without pairs.
    pub fn label(&self) -> String {
        AttackRow::label_of(&self.method, self.pairs)
    }

    fn label_of(method: &str, pairs: usize) -> String {
        if pairs == 0 {
            method.into()
        } else {
            format!("{method}, {pairs} pairs")
        }
    }
}

/// One ε of the curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The per-image ε of the key's Gaussian mechanism (∞: no noise).
    #[serde(with = "non_finite")]
    pub epsilon: f64,
    /// The noise's standard deviation that ε gives.
    pub sigma: f64,
    /// The formal bound on re-identification among the victims (`None` without noise).
    pub reidentification_bound: Option<f64>,
    /// The key's proxy head on the encrypted test images.
    #[serde(with = "non_finite")]
    pub proxy_accuracy: f64,
    /// The node's cnn on the encrypted test images, per seed.
    #[serde(with = "non_finite::list")]
    pub node_accuracy: Vec<f64>,
    /// The attacks at this ε, one row per method and N.
    pub attacks: Vec<AttackRow>,
    /// The class-mean image's own numbers (the free floor).
    pub baseline: AttackRow,
    /// Two encryptions of each victim matched: true positives at 1% false positives.
    #[serde(with = "non_finite")]
    pub linkability_tpr: f64,
    /// The look-alike key's attacks (no pairs under the victim key); empty in a point saved
    /// before they were added, which a rerun fills in.
    #[serde(default)]
    pub lookalike: Vec<AttackRow>,
    /// The victims under the victim key (through the learned map) and under the look-alike key,
    /// matched: true positives at 1% false positives.
    #[serde(default)]
    pub cross_key_linkability: Option<f64>,
    /// Wall seconds of the key's training.
    pub key_seconds: f64,
    /// Wall seconds of the whole point.
    pub seconds: f64,
}

/// The whole curve of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveReport {
    /// What ran.
    pub config: CurveConfig,
    /// The cnn on plain images, per seed.
    #[serde(with = "non_finite::list")]
    pub original_accuracy: Vec<f64>,
    /// One point per ε.
    pub points: Vec<CurvePoint>,
    /// Wall seconds of the whole curve.
    pub seconds: f64,
    /// When the curve was finished, and on which machine; empty in reports older than this
    /// field.
    #[serde(default)]
    pub made: crate::outputs::Provenance,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

impl CurvePoint {
    /// EC in points: mean original accuracy minus mean node accuracy.
    pub fn ec_points(&self, original: &[f64]) -> f64 {
        100.0 * (mean(original) - mean(&self.node_accuracy))
    }

    /// The attack with the highest re-identification, then SSIM gain.
    pub fn strongest(&self) -> Option<&AttackRow> {
        self.attacks.iter().chain(&self.lookalike).max_by(|a, b| {
            (a.reidentification.all, a.gain.ssim)
                .partial_cmp(&(b.reidentification.all, b.gain.ssim))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }
}

/// Reads a saved JSON value, if a finished earlier run left one.
fn saved<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("serialises");
    archnet_data::fsutil::write_atomic(path, &bytes, 0o644)?;
    Ok(())
}

/// Trains the cnn on `train` and returns its accuracy on `test` after the last epoch.
fn cnn_accuracy(
    train: &Samples,
    test: &Samples,
    classes: usize,
    epochs: usize,
    seed: u64,
    out: &Path,
) -> Result<f64> {
    let spec = BaseModelSpec {
        kind: "cnn".into(),
        input_shape: train.shape(),
        classes,
    };
    let config = ClassifierTrainConfig {
        epochs,
        seed,
        ..ClassifierTrainConfig::default()
    };
    let resume = out.join("state.json").exists();
    let outcome = train_classifier(
        &spec,
        train,
        Some(test),
        &config,
        out,
        resume,
        &mut |_, _, _| {},
    )?;
    Ok(outcome
        .history
        .last()
        .and_then(|m| m.validation_accuracy)
        .unwrap_or(f64::NAN))
}

/// Runs the curve of `config.dataset` from `data_root`, working (and resuming) in `work`.
// Why one function: the curve's data split (publisher, attacker's pool, victims) is made once here
// and every point and the original arm use it; the points are `curve_point`.
pub fn run_curve(
    config: &CurveConfig,
    data_root: &Path,
    work: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<CurveReport> {
    let started = Instant::now();
    let path = dataset_path(data_root, &config.dataset);
    let full_train = open_dataset(&path, Split::Train)?;
    let mut test = open_dataset(&path, Split::Test)?;
    test.truncate(config.test_images);
    let max_pairs = config.pairs.iter().copied().max().unwrap_or(0);
    if full_train.len() < config.train_images + max_pairs.min(1)
        || config.victims * 2 > config.train_images
    {
        return Err(ModelError::Mismatch {
            reason: format!(
                "{} training images, the protocol needs {} for the publisher and some for the attacker's pairs",
                full_train.len(),
                config.train_images
            ),
            path,
        });
    }
    let train = full_train.select(&(0..config.train_images).collect::<Vec<_>>());
    // The attacker's known images: encrypted by the same key elsewhere, never the victims.
    let pool_end = (config.train_images + max_pairs).min(full_train.len());
    let pool: Vec<usize> = (config.train_images..pool_end).collect();
    let victim_idx: Vec<usize> =
        (config.train_images - config.victims..config.train_images).collect();
    let classes = train.class_names.len();
    std::fs::create_dir_all(work).map_err(|e| archnet_data::DataError::io(work, e))?;

    let original_path = work.join("original.json");
    let original_accuracy: Vec<f64> = match saved(&original_path) {
        Some(v) => v,
        None => {
            let mut accs = Vec::new();
            for &seed in &config.seeds {
                let acc = cnn_accuracy(
                    &Samples::Plain(train.clone()),
                    &Samples::Plain(test.clone()),
                    classes,
                    config.cnn_epochs,
                    seed,
                    &work.join(format!("original-seed{seed}")),
                )?;
                log(&format!("original seed {seed}: {:.2}%", 100.0 * acc));
                accs.push(acc);
            }
            save(&original_path, &accs)?;
            accs
        }
    };

    let mut points = Vec::new();
    for &epsilon in &config.epsilons {
        let point_path = work.join(format!("point-eps-{epsilon}.json"));
        let point_work = work.join(format!("eps-{epsilon}"));
        let mut point = match saved::<CurvePoint>(&point_path) {
            Some(p) => {
                log(&format!("ε {epsilon}: done earlier"));
                p
            }
            None => {
                let p = curve_point(
                    config,
                    epsilon,
                    &full_train,
                    &train,
                    &test,
                    (&pool, &victim_idx),
                    &point_work,
                    log,
                )?;
                save(&point_path, &p)?;
                p
            }
        };
        if point.lookalike.is_empty() {
            let t = Instant::now();
            let (rows, link) = lookalike_attacks(
                config,
                epsilon,
                (&full_train, &train),
                (&pool, &victim_idx),
                &point_work,
                log,
            )?;
            point.lookalike = rows;
            point.cross_key_linkability = Some(link);
            point.seconds += t.elapsed().as_secs_f64();
            save(&point_path, &point)?;
        }
        points.push(point);
    }
    Ok(CurveReport {
        config: config.clone(),
        original_accuracy,
        points,
        seconds: started.elapsed().as_secs_f64(),
        made: crate::outputs::Provenance::now(),
    })
}

/// One ε: key, node utility, attacks.
// Why one function: one ε's point is one protocol (key, utility arms, then every attacker against
// the same victims), and its parts share the key, the victims and the pairs; the attacks themselves
// are functions of `crate::attack`.
#[allow(clippy::too_many_arguments)]
fn curve_point(
    config: &CurveConfig,
    epsilon: f64,
    full_train: &ImageDataset,
    train: &ImageDataset,
    test: &ImageDataset,
    (pool, victim_idx): (&[usize], &[usize]),
    work: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<CurvePoint> {
    let started = Instant::now();
    std::fs::create_dir_all(work).map_err(|e| archnet_data::DataError::io(work, e))?;
    let key_path = work.join("private.key");
    let key_config = config.key_config(epsilon, PrivateKeyConfig::default().seed);
    let (key, meta, key_seconds) = match KeyFile::load(&key_path, &archnet_model::device()) {
        Ok((key, meta)) => {
            let s = meta.training.wall_seconds;
            (key, meta, s)
        }
        Err(_) => {
            let outcome = train_private_key(
                train,
                &key_config,
                Some((test, format!("{} test split", config.dataset))),
                &mut |_| {},
            )?;
            let meta = outcome.key_metadata(
                train,
                &key_config,
                format!("privacy curve, {}", config.dataset),
            );
            let meta = KeyFile::save(&key_path, &outcome.key, meta)?;
            let s = outcome.wall_seconds;
            (outcome.key, meta, s)
        }
    };
    let mechanism = meta
        .architecture
        .mechanism()
        .expect("a private key has a mechanism");
    log(&format!(
        "ε {epsilon}: key {} (σ {:.4}) trained in {key_seconds:.0} s",
        meta.key_id, mechanism.sigma
    ));

    // Utility: the node's cnn on the product's own encrypted datasets.
    let enc_train = encrypt_to(
        &key,
        &meta,
        train,
        &work.join("encrypted-train"),
        Storage::F32,
    )?;
    let enc_test = encrypt_to(
        &key,
        &meta,
        test,
        &work.join("encrypted-test"),
        Storage::F32,
    )?;
    let classes = train.class_names.len();
    let mut node_accuracy = Vec::new();
    for &seed in &config.seeds {
        let acc = cnn_accuracy(
            &enc_train,
            &enc_test,
            classes,
            config.cnn_epochs,
            seed,
            &work.join(format!("node-seed{seed}")),
        )?;
        log(&format!(
            "ε {epsilon}: node cnn seed {seed}: {:.2}%",
            100.0 * acc
        ));
        node_accuracy.push(acc);
    }
    // The proxy head's accuracy on noisy codes of the test images, measured at training.
    let proxy = meta.proxy.as_ref().map_or(f64::NAN, |p| p.accuracy);
    log(&format!("ε {epsilon}: proxy head {:.2}%", 100.0 * proxy));

    // Attacks on the victims (a subset of the node's data).
    let victims = victims_of(&key, full_train, victim_idx, pool);
    let len: usize = train.shape.iter().product();
    let baseline = AttackRow {
        method: "class mean".into(),
        pairs: 0,
        reidentification: victims.baseline.reidentification,
        quality: victims.baseline.quality,
        gain: QualityGain {
            psnr_db: 0.0,
            ssim: 0.0,
        },
        seconds: 0.0,
    };
    let pair_ciphers = encrypt_images(&key, full_train, pool, 256);
    let pair_plains = full_train.batch_f32(pool);
    let cipher_len: usize = meta.architecture.cipher_shape.iter().product();
    let mut attacks = Vec::new();
    for &n in &config.pairs {
        let n = n.min(pool.len());
        let (c, p) = (&pair_ciphers[..n * cipher_len], &pair_plains[..n * len]);
        let mut row = |method: &str, out: Vec<f32>, seconds: f64| -> Result<()> {
            let mut log = |line: &str| log(&format!("ε {epsilon}: {line}"));
            attacks.push(attack_row((method, n), &victims, out, seconds, &mut log)?);
            Ok(())
        };
        if n <= config.ridge_max_pairs {
            let t = Instant::now();
            let ridge = RidgeInverse::fit(c, p, n, 1e-3)?;
            row(
                "ridge",
                ridge.predict(&victims.ciphers),
                t.elapsed().as_secs_f64(),
            )?;
        }
        let t = Instant::now();
        let inverter = Inverter::train(
            &meta.architecture,
            c,
            p,
            n,
            &InverterConfig {
                steps: config.inverter_steps,
                batch_size: 64,
                ..InverterConfig::default()
            },
        )?;
        row(
            "inverter",
            inverter.predict(&victims.ciphers),
            t.elapsed().as_secs_f64(),
        )?;
    }
    let again = encrypt_images(&key, full_train, victim_idx, 256);
    let linkability_tpr = tpr_at_fpr(cipher_len, &victims.ciphers, &again, 0.01);
    log(&format!(
        "ε {epsilon}: linkability of two encryptions: {:.1}% true positives at 1% false positives",
        100.0 * linkability_tpr
    ));
    Ok(CurvePoint {
        epsilon,
        sigma: mechanism.sigma,
        reidentification_bound: meta.privacy.as_ref().map(|g| {
            archnet_model::privacy::reidentification_bound(g.epsilon, g.delta, victim_idx.len())
        }),
        proxy_accuracy: proxy,
        node_accuracy,
        attacks,
        baseline,
        linkability_tpr,
        lookalike: Vec::new(),
        cross_key_linkability: None,
        key_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Scores `reconstructions` of `victims` as one row, and logs it.
fn attack_row(
    label: (&str, usize),
    victims: &Victims,
    reconstructions: Vec<f32>,
    seconds: f64,
    log: &mut dyn FnMut(&str),
) -> Result<AttackRow> {
    let (method, pairs) = label;
    let r = AttackResult::score(
        AttackRow::label_of(method, pairs),
        victims,
        reconstructions,
        None,
        seconds,
    )?;
    log(&format!(
        "{}: re-identified {:.1}% (same class {:.1}%), SSIM gain {:+.3}, {:.2} dB",
        r.attack,
        100.0 * r.reidentification.all,
        100.0 * r.reidentification.same_class.unwrap_or(f64::NAN),
        r.gain.ssim,
        r.quality.psnr_db
    ));
    Ok(AttackRow {
        method: method.into(),
        pairs,
        reidentification: r.reidentification,
        quality: r.quality,
        gain: r.gain,
        seconds,
    })
}

/// The look-alike attacks on the key saved in `work` (see the module's docs): rows for the
/// attacker's own inverter on the victims' ciphertexts as they are and through the learned map,
/// and the map's cross-key linkability.
// Why one function: one attacker's protocol (its own key, the label-learned map, the decodings)
// over the same victims.
fn lookalike_attacks(
    config: &CurveConfig,
    epsilon: f64,
    (full_train, train): (&ImageDataset, &ImageDataset),
    (pool, victim_idx): (&[usize], &[usize]),
    work: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<(Vec<AttackRow>, f64)> {
    let (key, meta) = KeyFile::load(&work.join("private.key"), &archnet_model::device())?;
    let public = full_train.select(pool);
    let public_labels = (public.labels.clone()).ok_or_else(|| DataError::Unlabelled {
        what: "the look-alike attack needs labelled public images, and the pool".into(),
    })?;
    let own_path = work.join("lookalike.key");
    // Same preset and ε as the victim key, its own seed.
    let own_config = config.key_config(epsilon, 1);
    let own = match KeyFile::load(&own_path, &archnet_model::device()) {
        Ok((own, _)) => own,
        Err(_) => {
            let outcome = train_private_key(&public, &own_config, None, &mut |_| {})?;
            let own_meta = outcome.key_metadata(
                &public,
                &own_config,
                format!("look-alike attacker, {} public images", config.dataset),
            );
            KeyFile::save(&own_path, &outcome.key, own_meta)?;
            outcome.key
        }
    };
    let all: Vec<usize> = (0..public.len()).collect();
    let own_ciphers = encrypt_images(&own, &public, &all, 256);
    let t = Instant::now();
    let inverter = Inverter::train(
        &meta.architecture,
        &own_ciphers,
        &public.batch_f32(&all),
        public.len(),
        &InverterConfig {
            steps: config.inverter_steps,
            batch_size: 64,
            ..InverterConfig::default()
        },
    )?;
    let inverter_seconds = t.elapsed().as_secs_f64();
    let victims = victims_of(&key, full_train, victim_idx, pool);
    let mut log = |line: &str| log(&format!("ε {epsilon}: {line}"));
    let as_is = attack_row(
        ("look-alike key, as is", 0),
        &victims,
        inverter.predict(&victims.ciphers),
        inverter_seconds,
        &mut log,
    )?;
    // The node's ciphertexts and labels: all the victim key gives the attacker.
    let node: Vec<usize> = (0..train.len()).collect();
    let node_labels = train.labels.clone().unwrap_or_default();
    let t = Instant::now();
    let cipher_len: usize = meta.architecture.cipher_shape.iter().product();
    let map = LearnedMap::fit(
        cipher_len,
        (&encrypt_images(&key, train, &node, 256), &node_labels),
        (&own_ciphers, &public_labels),
        train.class_names.len(),
        &LearnedMapConfig::default(),
    )?;
    let mapped = map.apply(&victims.ciphers);
    let mapped_row = attack_row(
        ("look-alike key, learned map", 0),
        &victims,
        inverter.predict(&mapped),
        inverter_seconds + t.elapsed().as_secs_f64(),
        &mut log,
    )?;
    let under_own = encrypt_images(&own, full_train, victim_idx, 256);
    let link = tpr_at_fpr(cipher_len, &mapped, &under_own, 0.01);
    log(&format!(
        "cross-key linkability through the learned map: {:.1}% true positives at 1% false positives",
        100.0 * link
    ));
    Ok((vec![as_is, mapped_row], link))
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * v)
    }
}

fn eps_text(e: f64) -> String {
    if e.is_infinite() {
        "∞".into()
    } else {
        format!("{e}")
    }
}

impl CurveReport {
    /// Whether a point meets the target: EC ≤ 2 points and the inverter at 1,000 pairs
    /// re-identifies ≤ 5% of the victims with SSIM gain over the class mean ≤ 0.05.
    pub fn meets_target(&self, point: &CurvePoint) -> bool {
        let at_1000 = point
            .attacks
            .iter()
            .filter(|a| a.pairs == 1_000)
            .all(|a| a.reidentification.all <= 0.05 && a.gain.ssim <= 0.05);
        let any_1000 = point.attacks.iter().any(|a| a.pairs == 1_000);
        point.ec_points(&self.original_accuracy) <= 2.0 && any_1000 && at_1000
    }

    /// The curve as markdown: a summary row per ε, then every attack.
    // Why one function: it writes one report, table after table, in the order the results file
    // reads.
    pub fn to_markdown(&self, command: &str) -> String {
        let c = &self.config;
        let mut s = String::new();
        s.push_str(&format!(
            "Made by `{command}`, {} (the ε points took {:.0} min there, summed over the runs that made them; a rerun reuses finished points). `{}`: the publisher's first {} training images, tested on the first {} test images; cnn {} epochs, seeds {:?}; key {} epochs, a code of {} values; {} victims (the last of the publisher's images); known pairs from the training images after the publisher's; δ = {:e}.\n\n",
            self.made,
            self.points.iter().map(|p| p.seconds).sum::<f64>() / 60.0,
            c.dataset,
            c.train_images,
            c.test_images,
            c.cnn_epochs,
            c.seeds,
            c.key_epochs,
            16 * c.code_channels,
            c.victims,
            c.delta
        ));
        s.push_str(&format!(
            "Original arm (cnn on plain images): {} (per seed {}).\n\n",
            pct(mean(&self.original_accuracy)),
            self.original_accuracy
                .iter()
                .map(|&a| pct(a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s.push_str("| ε | σ | re-id bound (any attacker) | proxy head | node cnn (AE) | EC (points) | strongest attack | its re-id (95% interval; same class) | its SSIM gain | class-mean re-id | linkability TPR@1%: two encryptions / two keys | target met |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for p in &self.points {
            let strongest = p.strongest();
            s.push_str(&format!(
                "| {} | {:.3} | {} | {} | {} | {:.2} | {} | {} ({}; {}) | {} | {} | {} / {} | {} |\n",
                eps_text(p.epsilon),
                p.sigma,
                p.reidentification_bound.map_or("none".into(), pct),
                pct(p.proxy_accuracy),
                pct(mean(&p.node_accuracy)),
                p.ec_points(&self.original_accuracy),
                strongest.map_or("-".into(), AttackRow::label),
                strongest.map_or("-".into(), |a| pct(a.reidentification.all)),
                strongest.map_or("-".into(), |a| {
                    let (lo, hi) = a.reidentification.interval();
                    format!("{}–{}", pct(lo), pct(hi))
                }),
                strongest.map_or("-".into(), |a| pct(a
                    .reidentification
                    .same_class
                    .unwrap_or(f64::NAN))),
                strongest.map_or("-".into(), |a| format!("{:+.3}", a.gain.ssim)),
                pct(p.baseline.reidentification.all),
                pct(p.linkability_tpr),
                p.cross_key_linkability.map_or("-".into(), pct),
                if self.meets_target(p) { "yes" } else { "no" }
            ));
        }
        s.push_str("\nEvery attack (chance re-identification: ");
        if let Some(p) = self.points.first() {
            s.push_str(&format!(
                "{} among all victims, {} within a class):\n\n",
                pct(p.baseline.reidentification.chance),
                pct(p
                    .baseline
                    .reidentification
                    .chance_same_class
                    .unwrap_or(f64::NAN))
            ));
        }
        s.push_str("| ε | attack | pairs | re-identified | same class | PSNR | SSIM | PSNR gain | SSIM gain | seconds |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for p in &self.points {
            for a in std::iter::once(&p.baseline)
                .chain(&p.attacks)
                .chain(&p.lookalike)
            {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {:.2} | {:.3} | {:+.2} | {:+.3} | {:.0} |\n",
                    eps_text(p.epsilon),
                    a.method,
                    a.pairs,
                    pct(a.reidentification.all),
                    pct(a.reidentification.same_class.unwrap_or(f64::NAN)),
                    a.quality.psnr_db,
                    a.quality.ssim,
                    a.gain.psnr_db,
                    a.gain.ssim,
                    a.seconds
                ));
            }
        }
        s
    }
}

/// f64 values that may be ∞ or NaN in JSON (which has neither): written as the strings `inf`,
/// `-inf` and `nan`, read back from those or from numbers.
mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }

    fn parse<E: serde::de::Error>(v: Value) -> Result<f64, E> {
        match v {
            Value::Number(x) => Ok(x),
            Value::Text(t) => t.parse().map_err(E::custom),
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(Value::deserialize(d)?)
    }

    /// The same for a list.
    pub mod list {
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for x in v {
                if x.is_finite() {
                    seq.serialize_element(x)?;
                } else {
                    seq.serialize_element(&x.to_string())?;
                }
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Vec::<super::Value>::deserialize(d)?
                .into_iter()
                .map(super::parse)
                .collect()
        }
    }
}
