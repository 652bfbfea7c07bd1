//! `archnet experiment table1`: the paper's Table 1 (AO, AE, EC) with the RC4 and DP-SGD
//! baselines, on real data, several seeds, written as Markdown and CSV.

use std::path::{Path, PathBuf};
use std::time::Instant;

use archnet_data::baselines::{Rc4Mode, rc4_encrypt};
use archnet_data::encrypted::{DEFAULT_SHARD_BYTES, EncryptedDataset, Storage};
use archnet_data::{ImageDataset, Split, open_dataset};
use serde::Serialize;

use crate::dp::PrivacySpent;
use crate::dp_sgd::{DpSgdConfig, train_dp_sgd};
use archnet_model::arch::KeyArchitecture;
use archnet_model::base::BaseModelSpec;
use archnet_model::classify::{ClassifierTrainConfig, EpochMetrics, Samples, train_classifier};
use archnet_model::error::{ModelError, Result};
use archnet_model::key::ArchNetKey;
use archnet_model::keyfile::{KeyFile, KeyMetadata};
use archnet_model::pipeline::{EncryptOptions, SplitRatio, encrypt_dataset};
use archnet_model::train::{KeyTrainConfig, Recipe, train_key};

/// How much compute an experiment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    /// Minutes: a subset, one seed, few epochs (used by the tests).
    Quick,
    /// What the committed results are made with.
    Full,
    /// The paper's CIFAR-10 setting with a ResNet: resnet-18 on every training image, the
    /// original and ArchNet arms only, 2 epochs each (3.2 hours an arm or more on 2 cores).
    Resnet,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Budget::Quick => "quick",
            Budget::Full => "full",
            Budget::Resnet => "resnet",
        })
    }
}

impl std::str::FromStr for Budget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quick" => Ok(Budget::Quick),
            "full" => Ok(Budget::Full),
            "resnet" => Ok(Budget::Resnet),
            o => Err(format!(
                "unknown budget `{o}` (expected quick, full or resnet)"
            )),
        }
    }
}

/// Every setting of a Table 1 run, written into the results.
#[derive(Debug, Clone, Serialize)]
pub struct Table1Settings {
    /// `mnist`, `fashion-mnist` or `cifar10`.
    pub dataset: String,
    /// The budget these settings belong to.
    pub budget: Budget,
    /// Training images of every arm.
    pub train_images: usize,
    /// Test images every arm is scored on.
    pub test_images: usize,
    /// The ArchNet preset of the key.
    pub key_preset: String,
    /// Samples the key was trained on (when trained here).
    pub key_samples: u64,
    /// The base model every arm trains (D2).
    pub base_model: String,
    /// Its epochs, …
    pub epochs: usize,
    /// … batch size …
    pub batch_size: usize,
    /// … and Adam learning rate.
    pub learning_rate: f64,
    /// One run of every arm per seed.
    pub seeds: Vec<u64>,
    /// How the ciphertexts are stored (f16 halves the 8 GB of 50,000 CIFAR-10 ciphertexts).
    pub storage: Storage,
    /// The RC4 arms' key.
    pub rc4_key: String,
    /// The DP-SGD arm's settings; `None` runs neither baseline (RC4 nor DP-SGD), only the
    /// original and ArchNet arms.
    pub dp: Option<DpSgdConfig>,
}

impl Table1Settings {
    /// The scratch folder of these settings unless one is given: `work/table1-DATASET-BUDGET`
    /// (git-ignored; keys, ciphertexts and checkpoints).
    pub fn default_work_dir(&self) -> std::path::PathBuf {
        format!("work/table1-{}-{}", self.dataset, self.budget).into()
    }

    /// The settings of `budget` for `dataset`.
    pub fn for_budget(dataset: &str, budget: Budget, seeds: Option<usize>) -> Result<Self> {
        let is_cifar = dataset == "cifar10";
        if !["mnist", "fashion-mnist", "cifar10"].contains(&dataset) {
            return Err(ModelError::Config(format!(
                "unknown dataset `{dataset}` (mnist, fashion-mnist, cifar10)"
            )));
        }
        let paper_key = if is_cifar {
            "paper-cifar"
        } else {
            "paper-mnist"
        };
        let key_samples = if is_cifar { 50_000 } else { 30_000 };
        let (train_images, test_images, key_preset, key_samples, epochs, n_seeds, dp_epochs) =
            match budget {
                Budget::Quick => (2000, 500, "auto", 6000, 2, 1, Some(1)),
                Budget::Full if is_cifar => (10_000, 2000, paper_key, key_samples, 10, 2, Some(5)),
                Budget::Full => (10_000, 2000, paper_key, key_samples, 10, 3, Some(10)),
                // Every training image for 2 epochs. bench/compare's 14 ciphertexts/s promised an
                // hour an epoch; the background run, sharing the 2 cores with CI and benchmarks,
                // took 3.2 hours for the original arm and 5.9 for the ArchNet arm
                // (results/table1-cifar10.md).
                Budget::Resnet => (usize::MAX, 10_000, paper_key, key_samples, 2, 1, None),
            };
        let resnet = budget == Budget::Resnet;
        Ok(Table1Settings {
            dataset: dataset.into(),
            budget,
            train_images,
            test_images,
            key_preset: key_preset.into(),
            key_samples,
            base_model: if resnet { "resnet18" } else { "cnn" }.into(),
            epochs,
            batch_size: 64,
            learning_rate: 1e-3,
            seeds: (0..seeds.unwrap_or(n_seeds) as u64).collect(),
            storage: if resnet { Storage::F16 } else { Storage::F32 },
            rc4_key: "archnet-table1-rc4-key".into(),
            dp: dp_epochs.map(|epochs| DpSgdConfig {
                epochs,
                batch_size: if budget == Budget::Quick { 64 } else { 256 },
                ..DpSgdConfig::default()
            }),
        })
    }
}

/// One trained model's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ArmRun {
    /// `original`, `archnet`, `rc4-…` or `dp-sgd`.
    pub arm: String,
    /// The run's seed.
    pub seed: u64,
    /// Test accuracy after the last epoch.
    pub accuracy: f64,
    /// Loss and accuracy per epoch.
    pub history: Vec<EpochMetrics>,
    /// Wall seconds of the run.
    pub seconds: f64,
}

/// Everything a Table 1 run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Table1Result {
    /// What ran.
    pub settings: Table1Settings,
    /// The id of the key the ArchNet arm used.
    pub key_id: String,
    /// Every run of every arm.
    pub runs: Vec<ArmRun>,
    /// What the DP-SGD arm spent (when it ran).
    pub privacy: Option<PrivacySpent>,
    /// Wall seconds of the whole experiment.
    pub wall_seconds: f64,
    /// When the experiment finished, and on which machine.
    pub made: crate::outputs::Provenance,
}

/// The arms, in table order.
pub const ARMS: [&str; 5] = [
    "original",
    "archnet",
    "rc4-continuous",
    "rc4-restart",
    "dp-sgd",
];

/// The paper's Table 1 for `dataset`: (AO, AE ArchNet, EC ArchNet, AE RC4, EC RC4), in percent.
pub fn paper_numbers(dataset: &str) -> Option<[f64; 5]> {
    match dataset {
        "mnist" => Some([97.31, 97.26, 0.05, 12.65, 87.00]),
        "fashion-mnist" => Some([82.31, 84.15, -2.23, 10.60, 87.49]),
        "cifar10" => Some([80.22, 79.80, 0.52, 10.65, 86.72]),
        _ => None,
    }
}

pub(crate) fn dataset_path(root: &Path, dataset: &str) -> PathBuf {
    match dataset {
        "cifar10" => root.join("cifar10-jpeg.tar.gz"),
        other => root.join(other),
    }
}

fn concat(a: &ImageDataset, b: &ImageDataset) -> ImageDataset {
    let mut out = a.clone();
    out.pixels.extend_from_slice(&b.pixels);
    if let (Some(x), Some(y)) = (out.labels.as_mut(), b.labels.as_ref()) {
        x.extend_from_slice(y);
    }
    out
}

/// Runs Table 1. `key` reuses a key file instead of training one; `log` receives progress lines.
pub fn run_table1(
    settings: &Table1Settings,
    data_root: &Path,
    work: &Path,
    key: Option<&Path>,
    log: &mut dyn FnMut(&str),
) -> Result<Table1Result> {
    let started = Instant::now();
    let path = dataset_path(data_root, &settings.dataset);
    let mut train = open_dataset(&path, Split::Train)?;
    train.truncate(settings.train_images);
    let mut settings = settings.clone();
    settings.train_images = train.len(); // `usize::MAX` means all of them: say how many
    let settings = &settings;
    let mut test = open_dataset(&path, Split::Test)?;
    test.truncate(settings.test_images);
    std::fs::create_dir_all(work).map_err(|e| archnet_data::DataError::io(work, e))?;

    // A run interrupted earlier resumes: its key, ciphertexts and finished epochs are reused.
    let saved_key = work.join("table1.key");
    let (archnet_key, meta) = match key.or_else(|| saved_key.exists().then_some(&saved_key)) {
        Some(k) => KeyFile::load(k, &archnet_model::device())?,
        None => train_table1_key(settings, &path, train.shape, work, &saved_key, log)?,
    };
    log(&format!(
        "key {} ({})",
        meta.key_id, meta.architecture.preset
    ));
    let arms = table1_arms(settings, &archnet_key, &meta, &train, &test, work)?;
    let classes = train.class_names.len();
    let mut runs = Vec::new();
    for &seed in &settings.seeds {
        for (arm, train_samples, test_samples) in &arms {
            runs.push(run_arm(
                settings,
                arm,
                seed,
                classes,
                train_samples,
                test_samples,
                work,
                log,
            )?);
        }
        if let Some(dp) = &settings.dp {
            runs.push(run_dp_arm(dp, seed, &train, &arms[0].2, log)?);
        }
    }
    let privacy = settings.dp.as_ref().map(|dp| {
        let q = dp.batch_size as f64 / train.len() as f64;
        let steps = (train.len() / dp.batch_size).max(1) as u64 * dp.epochs as u64;
        crate::dp::epsilon(q, dp.noise_multiplier, steps, dp.delta)
    });
    Ok(Table1Result {
        settings: settings.clone(),
        key_id: meta.key_id,
        runs,
        privacy,
        wall_seconds: started.elapsed().as_secs_f64(),
        made: crate::outputs::Provenance::now(),
    })
}

/// Trains the experiment's key on the (whole) training release with the budget's sample count,
/// checkpointed in `work` so that an interrupted experiment resumes it; writes it to `saved`.
fn train_table1_key(
    settings: &Table1Settings,
    path: &Path,
    shape: [usize; 3],
    work: &Path,
    saved: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<(ArchNetKey, KeyMetadata)> {
    let mut key_data = open_dataset(path, Split::Train)?;
    key_data.truncate(settings.key_samples as usize);
    log(&format!(
        "training a {} key on {} images",
        settings.key_preset,
        key_data.len()
    ));
    let arch = KeyArchitecture::preset(&settings.key_preset, shape)?;
    let config = KeyTrainConfig {
        epochs: (settings.key_samples as usize).div_ceil(key_data.len()),
        max_samples: Some(settings.key_samples),
        ..KeyTrainConfig::from_recipe(Recipe::Fast)
    };
    let checkpoints = work.join("table1.key.ckpt");
    let mut last_log = Instant::now();
    let outcome = train_key(
        &arch,
        &key_data,
        &config,
        Some(&checkpoints),
        true,
        &mut |p| {
            if last_log.elapsed().as_secs() >= 60 {
                last_log = Instant::now();
                log(&format!(
                    "key: {} samples, loss {:.5}, {:.1} samples/s",
                    p.samples_seen, p.loss, p.samples_per_second
                ));
            }
        },
    )?;
    let meta = outcome.key_metadata(&arch, &key_data, &config, "table1 experiment".into());
    let meta = KeyFile::save(saved, &outcome.key, meta)?;
    Ok((outcome.key, meta))
}

/// The arms that train the base model: original, ArchNet-encrypted, and (with the baselines) RC4
/// in both keystream modes, each as (name, train samples, test samples).
fn table1_arms(
    settings: &Table1Settings,
    key: &ArchNetKey,
    meta: &KeyMetadata,
    train: &ImageDataset,
    test: &ImageDataset,
    work: &Path,
) -> Result<Vec<(&'static str, Samples, Samples)>> {
    let storage = settings.storage;
    let enc_train = encrypt_to(key, meta, train, &work.join("encrypted-train"), storage)?;
    let enc_test = encrypt_to(key, meta, test, &work.join("encrypted-test"), storage)?;
    let mut arms = vec![
        (
            "original",
            Samples::Plain(train.clone()),
            Samples::Plain(test.clone()),
        ),
        ("archnet", enc_train, enc_test),
    ];
    if settings.dp.is_none() {
        return Ok(arms);
    }
    // RC4 over train followed by test, so the continuous keystream never repeats.
    let split_rc4 = |mode| {
        let both = rc4_encrypt(&concat(train, test), settings.rc4_key.as_bytes(), mode);
        let n = train.len();
        (
            Samples::Plain(both.select(&(0..n).collect::<Vec<_>>())),
            Samples::Plain(both.select(&(n..both.len()).collect::<Vec<_>>())),
        )
    };
    let (rc4c_train, rc4c_test) = split_rc4(Rc4Mode::Continuous);
    let (rc4r_train, rc4r_test) = split_rc4(Rc4Mode::RestartPerImage);
    arms.push(("rc4-continuous", rc4c_train, rc4c_test));
    arms.push(("rc4-restart", rc4r_train, rc4r_test));
    Ok(arms)
}

/// One seed of one arm: the base model trained (resuming a run left in `work`) and scored on
/// the arm's test samples.
#[allow(clippy::too_many_arguments)]
fn run_arm(
    settings: &Table1Settings,
    arm: &str,
    seed: u64,
    classes: usize,
    train: &Samples,
    test: &Samples,
    work: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<ArmRun> {
    let spec = BaseModelSpec {
        kind: settings.base_model.clone(),
        input_shape: train.shape(),
        classes,
    };
    let config = ClassifierTrainConfig {
        learning_rate: settings.learning_rate,
        batch_size: settings.batch_size,
        epochs: settings.epochs,
        seed,
        patience: None,
    };
    let out = work.join(format!("{arm}-seed{seed}"));
    let resume = out.join(archnet_model::checkpoint::STATE_FILE).exists();
    // A ResNet epoch on 50,000 images takes most of an hour here: say where it is now and then.
    let mut last_log = Instant::now();
    let outcome = train_classifier(
        &spec,
        train,
        Some(test),
        &config,
        &out,
        resume,
        &mut |epoch, percent, loss| {
            if last_log.elapsed().as_secs() >= 300 {
                last_log = Instant::now();
                log(&format!(
                    "{arm} seed {seed}: epoch {} of {}, {percent}% done, loss {loss:.4}",
                    epoch + 1,
                    settings.epochs
                ));
            }
        },
    )?;
    let accuracy = last_accuracy(&outcome.history);
    // Summed epoch times, so a run resumed from an earlier invocation counts fully.
    let seconds: f64 = outcome.history.iter().map(|m| m.seconds).sum();
    log(&format!(
        "{arm} seed {seed}: accuracy {:.2}% ({seconds:.0} s of training{})",
        100.0 * accuracy,
        if outcome.resumed { ", resumed" } else { "" }
    ));
    Ok(ArmRun {
        arm: arm.to_string(),
        seed,
        accuracy,
        history: outcome.history,
        seconds,
    })
}

/// One seed of the DP-SGD arm: a cnn trained with DP-SGD on the plain images.
fn run_dp_arm(
    settings: &DpSgdConfig,
    seed: u64,
    train: &ImageDataset,
    test: &Samples,
    log: &mut dyn FnMut(&str),
) -> Result<ArmRun> {
    let t = Instant::now();
    let spec = BaseModelSpec {
        kind: "cnn".into(),
        input_shape: train.shape,
        classes: train.class_names.len(),
    };
    let dp = DpSgdConfig {
        seed,
        ..settings.clone()
    };
    let outcome = train_dp_sgd(&spec, train, Some(test), &dp, &mut |_, _, _| {})?;
    let accuracy = last_accuracy(&outcome.history);
    log(&format!(
        "dp-sgd seed {seed}: accuracy {:.2}% at ε = {:.2} ({:.0} s)",
        100.0 * accuracy,
        outcome.privacy.epsilon,
        t.elapsed().as_secs_f64()
    ));
    Ok(ArmRun {
        arm: "dp-sgd".into(),
        seed,
        accuracy,
        history: outcome.history,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Test accuracy after the last epoch (NaN when none was measured).
fn last_accuracy(history: &[EpochMetrics]) -> f64 {
    history
        .last()
        .and_then(|m| m.validation_accuracy)
        .unwrap_or(f64::NAN)
}

pub(crate) fn encrypt_to(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    data: &ImageDataset,
    out: &Path,
    storage: Storage,
) -> Result<Samples> {
    if let Ok(existing) = EncryptedDataset::open(out) {
        let m = existing.manifest();
        if m.key_id == meta.key_id
            && m.source_fingerprint == data.fingerprint()
            && m.storage == storage
        {
            return Ok(Samples::Encrypted {
                dataset: existing,
                split: "train".into(),
            });
        }
        std::fs::remove_dir_all(out).map_err(|e| archnet_data::DataError::io(out, e))?;
    }
    let options = EncryptOptions {
        split: SplitRatio {
            train: 1,
            validation: 0,
        },
        storage,
        batch_size: 64,
        shard_bytes: DEFAULT_SHARD_BYTES,
        source_fingerprint: data.fingerprint(),
        noise: 0.0,
    };
    encrypt_dataset(key, meta, data, out, &options, &mut |_| {})?;
    Ok(Samples::Encrypted {
        dataset: EncryptedDataset::open(out)?,
        split: "train".into(),
    })
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

impl Table1Result {
    /// Accuracies of `arm` over the seeds.
    pub fn accuracies(&self, arm: &str) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|r| r.arm == arm)
            .map(|r| r.accuracy)
            .collect()
    }

    /// EC = (AO − AE) / AO of `arm`, from mean accuracies.
    pub fn encryption_cost(&self, arm: &str) -> f64 {
        let ao = mean_std(&self.accuracies("original")).0;
        (ao - mean_std(&self.accuracies(arm)).0) / ao
    }

    /// The results as Markdown; `command` is written as the way to reproduce them.
    pub fn to_markdown(&self, command: &str) -> String {
        let s = &self.settings;
        let pct = |v: f64| format!("{:.2}%", 100.0 * v);
        let cell = |arm: &str| {
            let (m, sd) = mean_std(&self.accuracies(arm));
            if s.seeds.len() > 1 {
                format!("{} ± {:.2}", pct(m), 100.0 * sd)
            } else {
                pct(m)
            }
        };
        let mut md = format!("# Table 1 on {} ({} budget)\n\n", s.dataset, s.budget);
        md += &format!(
            "Made by `{command}`, {} (burn flex backend): {:.0} minutes of training in all (this \
             invocation ran {:.0} minutes; runs it found finished were reused). Key {} ({}). ",
            self.made,
            self.runs.iter().map(|r| r.seconds).sum::<f64>() / 60.0,
            self.wall_seconds / 60.0,
            self.key_id,
            s.key_preset
        );
        md += &format!(
            "The base model is {} trained on {} images ({} ciphertexts). Accuracy on {} held-out \
             test images after {} epochs, mean ± sample std over {} seed(s).\n\n",
            s.base_model,
            s.train_images,
            s.storage,
            s.test_images,
            s.epochs,
            s.seeds.len()
        );
        let ao = cell("original");
        md += "| method | AO (original) | AE (encrypted) | EC = (AO − AE)/AO | paper AO | paper AE | paper EC |\n|---|---|---|---|---|---|---|\n";
        let paper = paper_numbers(&s.dataset);
        let p = |i: usize| paper.map(|v| format!("{:.2}%", v[i])).unwrap_or_default();
        let dp_label = self.privacy.as_ref().map(|spent| {
            format!(
                "DP-SGD on original data, ε = {:.2}, δ = {:e}",
                spent.epsilon, spent.delta
            )
        });
        let rows: [(&str, Option<String>, [String; 3]); 4] = [
            ("archnet", Some("ArchNet".into()), [p(0), p(1), p(2)]),
            (
                "rc4-continuous",
                Some("RC4, one keystream over the dataset".into()),
                [p(0), p(3), p(4)],
            ),
            (
                "rc4-restart",
                Some("RC4, keystream restarted per image".into()),
                Default::default(),
            ),
            ("dp-sgd", dp_label, Default::default()),
        ];
        for (arm, label, [pa, pe, pc]) in rows {
            // Only the arms this budget ran.
            let Some(label) = label.filter(|_| !self.accuracies(arm).is_empty()) else {
                continue;
            };
            md += &format!(
                "| {label} | {ao} | {} | {} | {pa} | {pe} | {pc} |\n",
                cell(arm),
                pct(self.encryption_cost(arm))
            );
        }
        md += "\n";
        md += "## Settings\n\n```json\n";
        md += &serde_json::to_string_pretty(s).expect("settings serialise");
        md += "\n```\n\n## Every run\n\n| arm | seed | accuracy | seconds |\n|---|---|---|---|\n";
        for r in &self.runs {
            md += &format!(
                "| {} | {} | {} | {:.0} |\n",
                r.arm,
                r.seed,
                pct(r.accuracy),
                r.seconds
            );
        }
        md
    }

    /// One CSV row per arm, seed and epoch (learning curves).
    pub fn to_csv(&self) -> String {
        let mut csv =
            String::from("dataset,budget,arm,seed,epoch,train_loss,test_accuracy,seconds\n");
        for r in &self.runs {
            for m in &r.history {
                csv += &format!(
                    "{},{},{},{},{},{:.6},{},{:.2}\n",
                    self.settings.dataset,
                    self.settings.budget,
                    r.arm,
                    r.seed,
                    m.epoch + 1,
                    m.train_loss,
                    m.validation_accuracy
                        .map(|v| format!("{v:.6}"))
                        .unwrap_or_default(),
                    m.seconds
                );
            }
        }
        csv
    }
}
