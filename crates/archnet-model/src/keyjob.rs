//! `archnet key train` as one workflow: read the images, train an ArchNet key (E1 + D1) or a
//! `private` one (E1 with a Gaussian mechanism), measure it on the release's test split when it
//! has one, and write the key file. Each step is told as a [`KeyEvent`]; the written key's
//! metadata is the report. [`KeyInfo`] says what a key file holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use archnet_data::DataSource;
use archnet_data::encrypted::PrivacyGuarantee;
use archnet_data::fsutil::human_bytes;

use crate::arch::{KeyArchitecture, PRIVATE_CODE_SIDE};
use crate::error::{ModelError, Result};
use crate::keyfile::{KeyFile, KeyMetadata, ProxyRecord, ReconstructionRecord};
use crate::metrics::QualityMeans;
use crate::privacy::reidentification_bound;
use crate::private_key::{PrivateKeyConfig, train_private_key};
use crate::train::{KeyTrainConfig, Loss, Progress, Recipe, evaluate_reconstruction, train_key};

/// The preset that trains a `private` key instead of an ArchNet one.
pub const PRIVATE_PRESET: &str = "private";

/// Which key to train, on what, and where to write it.
#[derive(Debug, Clone)]
pub struct KeyJob {
    /// An ArchNet preset (`auto`, the paper's), or [`PRIVATE_PRESET`].
    pub preset: String,
    /// `private`: the per-image ε of the Gaussian mechanism, its δ, and the code's channels.
    pub epsilon: f64,
    /// See `epsilon`.
    pub delta: f64,
    /// See `epsilon`.
    pub code_channels: usize,
    /// The training images.
    pub data: DataSource,
    /// The key file to write.
    pub out: PathBuf,
    /// ArchNet keys: the recipe and loss; `learning_rate` overrides the recipe's (and the
    /// private default).
    pub recipe: Recipe,
    /// See `recipe`.
    pub loss: Loss,
    /// See `recipe`.
    pub learning_rate: Option<f64>,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// ArchNet keys: stop after this many samples.
    pub max_samples: Option<u64>,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// ArchNet keys: checkpoints go here (default `OUT.ckpt`), every this many steps, and a run
    /// with `resume` continues from the last one.
    pub checkpoint_dir: Option<PathBuf>,
    /// See `checkpoint_dir`.
    pub checkpoint_every: usize,
    /// See `checkpoint_dir`.
    pub resume: bool,
    /// Test images to measure the key on (0: none).
    pub eval_limit: usize,
}

/// One step of a [`KeyJob`], in the order they happen. Each displays as the line `archnet key
/// train` prints for it, except `Step`, which feeds a progress bar.
#[derive(Debug)]
pub enum KeyEvent<'a> {
    /// An ArchNet preset fitted to the data.
    Preset(&'a KeyArchitecture),
    /// ArchNet training starts.
    Training {
        /// Images trained on.
        images: usize,
        /// Their release.
        source: &'a Path,
        /// The settings.
        config: &'a KeyTrainConfig,
        /// Where checkpoints go.
        checkpoints: &'a Path,
    },
    /// Private training starts.
    PrivateTraining {
        /// Images trained on.
        images: usize,
        /// Their release.
        source: &'a Path,
        /// The settings.
        config: &'a PrivateKeyConfig,
    },
    /// One training step.
    Step(&'a Progress),
    /// ArchNet training ended.
    Trained {
        /// Samples seen over the run.
        samples_seen: u64,
        /// Whether it continued from a checkpoint.
        resumed: bool,
        /// The last step's loss.
        final_loss: f64,
        /// Wall seconds.
        seconds: f64,
    },
    /// Private training ended.
    PrivateTrained {
        /// The key's shapes.
        architecture: &'a KeyArchitecture,
        /// The code's L2 norm bound (the mechanism's sensitivity).
        clip_norm: f64,
        /// The noise's standard deviation.
        sigma: f64,
        /// Wall seconds.
        seconds: f64,
    },
    /// The proxy head measured on held-out noisy codes, or `None` with no test split.
    Proxy(Option<&'a ProxyRecord>, &'a Path),
    /// The key's per-image guarantee, if it has one.
    Privacy(Option<&'a PrivacyGuarantee>),
    /// D1(E1(x)) on the test split, or `None` with no test split.
    Reconstruction(Option<(&'a QualityMeans, f64)>, &'a Path),
    /// The key file was written.
    Written(&'a KeyMetadata, &'a Path),
}

impl std::fmt::Display for KeyEvent<'_> {
    // Why one function: one line of text per event, in one `match`, so that the wording of `archnet
    // key train` reads in one place.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyEvent::Preset(arch) => {
                let (enc, dec) = arch.num_params();
                write!(
                    f,
                    "key preset {}: {:?} → {:?}, E1 {enc} + D1 {dec} = {} parameters (key file ≈ {})",
                    arch.preset,
                    arch.plain_shape,
                    arch.cipher_shape,
                    enc + dec,
                    human_bytes(((enc + dec) * 4) as u64)
                )
            }
            KeyEvent::Training {
                images,
                source,
                config,
                checkpoints,
            } => write!(
                f,
                "training on {images} images of {}: recipe {}, {} loss, lr {}, batch {}, {} epoch(s), seed {}; checkpoints in {}",
                source.display(),
                config.recipe,
                config.loss,
                config.learning_rate,
                config.batch_size,
                config.epochs,
                config.seed,
                checkpoints.display()
            ),
            KeyEvent::PrivateTraining {
                images,
                source,
                config,
            } => write!(
                f,
                "training a private key on {images} images of {}: per-image ε {} (δ {}), lr {}, batch {}, {} epoch(s), seed {}",
                source.display(),
                config.epsilon,
                config.delta,
                config.learning_rate,
                config.batch_size,
                config.epochs,
                config.seed
            ),
            KeyEvent::Step(p) => write!(f, "{p}"),
            KeyEvent::Trained {
                samples_seen,
                resumed,
                final_loss,
                seconds,
            } => write!(
                f,
                "trained: {samples_seen} samples seen{}, final loss {final_loss:.5}, {seconds:.0} s",
                if *resumed {
                    " (resumed from a checkpoint)"
                } else {
                    ""
                }
            ),
            KeyEvent::PrivateTrained {
                architecture: arch,
                clip_norm,
                sigma,
                seconds,
            } => write!(
                f,
                "private key: {:?} → code of {} values (L2 norm {clip_norm}), noise σ {sigma:.4} → ciphertext {:?}; E1 {} parameters, no D1; {seconds:.0} s",
                arch.plain_shape,
                arch.cipher_shape[0] * PRIVATE_CODE_SIDE.pow(2),
                arch.cipher_shape,
                arch.num_params().0
            ),
            KeyEvent::Proxy(Some(p), _) => write!(
                f,
                "proxy classifier on noisy codes of {} held-out images: {:.2}% (a node's model must beat this to add anything)",
                p.images,
                100.0 * p.accuracy
            ),
            KeyEvent::Proxy(None, source) => write!(
                f,
                "proxy classifier: no test split in {}, not measured",
                source.display()
            ),
            KeyEvent::Privacy(g) => write!(f, "privacy: {}", PrivacyLine(*g)),
            KeyEvent::Reconstruction(Some((q, seconds)), _) => write!(
                f,
                "reconstruction on {} test images: mean PSNR {:.2} dB, mean SSIM {:.4} ({seconds:.0} s)",
                q.count, q.psnr_db, q.ssim
            ),
            KeyEvent::Reconstruction(None, source) => write!(
                f,
                "reconstruction: no test split in {}, not measured",
                source.display()
            ),
            KeyEvent::Written(meta, path) => write!(
                f,
                "key {} written to {} (mode 0600)",
                meta.key_id,
                path.display()
            ),
        }
    }
}

/// The background-log line of a training step.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}/{} step {}/{}: {}/{} samples, loss {:.5}, {:.1} samples/s{}",
            self.epoch + 1,
            self.epochs,
            self.step_in_epoch + 1,
            self.steps_per_epoch,
            self.samples_seen,
            self.samples_total,
            self.loss,
            self.samples_per_second,
            if self.checkpoint.is_some() {
                ", checkpoint written"
            } else {
                ""
            }
        )
    }
}

/// One line on a key's or dataset's per-image guarantee (`None`: it has none).
pub struct PrivacyLine<'a>(pub Option<&'a PrivacyGuarantee>);

impl std::fmt::Display for PrivacyLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(g) => write!(
                f,
                "each image's ciphertext is ({:.3}, {:e})-differentially private (Gaussian mechanism, sensitivity {}, σ {:.4}; {} encryption(s) per image; re-encrypting composes); an attacker names which of 200 images a ciphertext holds with probability at most {:.1}%",
                g.epsilon,
                g.delta,
                g.sensitivity,
                g.sigma,
                g.releases,
                100.0 * reidentification_bound(g.epsilon, g.delta, 200)
            ),
            None => write!(
                f,
                "no formal guarantee (no calibrated noise); see results/security.md for what attacks recover"
            ),
        }
    }
}

/// Runs `job`: trains the key, measures it, writes the key file; returns its metadata.
// Why one function: the two kinds of key (ArchNet's identity map, `private`) share the data, the
// output and the measurement, and differ in one call each; the branches are short.
pub fn run(job: &KeyJob, on_event: &mut dyn FnMut(KeyEvent)) -> Result<KeyMetadata> {
    let data = job.data.load()?;
    let source = job.data.path.as_path();
    let (key, metadata) = if job.preset == PRIVATE_PRESET {
        let config = PrivateKeyConfig {
            epsilon: job.epsilon,
            delta: job.delta,
            code_channels: job.code_channels,
            learning_rate: job
                .learning_rate
                .unwrap_or(PrivateKeyConfig::default().learning_rate),
            batch_size: job.batch_size,
            epochs: job.epochs,
            seed: job.seed,
            ..PrivateKeyConfig::default()
        };
        let test = job.data.test_split(job.eval_limit.max(1));
        on_event(KeyEvent::PrivateTraining {
            images: data.len(),
            source,
            config: &config,
        });
        let holdout = test.as_ref().map(|t| (t, job.data.describe_test(t.len())));
        let outcome = train_private_key(&data, &config, holdout, &mut |p| {
            on_event(KeyEvent::Step(p))
        })?;
        on_event(KeyEvent::PrivateTrained {
            architecture: &outcome.architecture,
            clip_norm: outcome.mechanism.clip_norm,
            sigma: outcome.mechanism.sigma,
            seconds: outcome.wall_seconds,
        });
        on_event(KeyEvent::Proxy(outcome.proxy.as_ref(), source));
        let metadata = outcome.key_metadata(&data, &config, job.data.describe(data.len()));
        on_event(KeyEvent::Privacy(metadata.privacy.as_ref()));
        (outcome.key, metadata)
    } else {
        let arch = KeyArchitecture::preset(&job.preset, data.shape)?;
        on_event(KeyEvent::Preset(&arch));
        let mut config = KeyTrainConfig::from_recipe(job.recipe);
        config.loss = job.loss;
        if let Some(lr) = job.learning_rate {
            config.learning_rate = lr;
        }
        config.batch_size = job.batch_size;
        config.epochs = job.epochs;
        config.max_samples = job.max_samples;
        config.seed = job.seed;
        config.checkpoint_every = job.checkpoint_every;
        let checkpoints = job
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.ckpt", job.out.display())));
        on_event(KeyEvent::Training {
            images: data.len(),
            source,
            config: &config,
            checkpoints: &checkpoints,
        });
        let outcome = train_key(
            &arch,
            &data,
            &config,
            Some(&checkpoints),
            job.resume,
            &mut |p| on_event(KeyEvent::Step(p)),
        )?;
        on_event(KeyEvent::Trained {
            samples_seen: outcome.samples_seen,
            resumed: outcome.resumed,
            final_loss: outcome.final_loss,
            seconds: outcome.wall_seconds,
        });
        let reconstruction = if job.eval_limit > 0 {
            measure_reconstruction(job, &outcome.key, on_event)
        } else {
            None
        };
        let mut metadata =
            outcome.key_metadata(&arch, &data, &config, job.data.describe(data.len()));
        metadata.reconstruction = reconstruction;
        (outcome.key, metadata)
    };
    let written = KeyFile::save(&job.out, &key, metadata)?;
    on_event(KeyEvent::Written(&written, &job.out));
    Ok(written)
}

/// D1(E1(x)) on the release's test split, when it has one.
fn measure_reconstruction(
    job: &KeyJob,
    key: &crate::ArchNetKey,
    on_event: &mut dyn FnMut(KeyEvent),
) -> Option<ReconstructionRecord> {
    let source = job.data.path.as_path();
    let Some(test) = job.data.test_split(usize::MAX) else {
        on_event(KeyEvent::Reconstruction(None, source));
        return None;
    };
    let started = Instant::now();
    let quality = evaluate_reconstruction(key, &test, job.eval_limit, 64);
    on_event(KeyEvent::Reconstruction(
        Some((&quality, started.elapsed().as_secs_f64())),
        source,
    ));
    Some(ReconstructionRecord {
        data_source: job.data.describe_test(quality.count),
        quality,
    })
}

/// What a key file holds, as `archnet key info` prints it.
pub struct KeyInfo {
    /// The key file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its metadata.
    pub meta: KeyMetadata,
}

impl KeyInfo {
    /// Reads the metadata of the key file at `path` (not its weights).
    pub fn read(path: &Path) -> Result<KeyInfo> {
        let meta = KeyFile::read_metadata(path)?;
        let size = std::fs::metadata(path)
            .map_err(|e| ModelError::Data(archnet_data::DataError::io(path, e)))?
            .len();
        Ok(KeyInfo {
            path: path.to_path_buf(),
            size,
            meta,
        })
    }
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.meta;
        writeln!(f, "key id:        {}", m.key_id)?;
        writeln!(
            f,
            "file:          {} ({})",
            self.path.display(),
            human_bytes(self.size)
        )?;
        writeln!(f, "preset:        {}", m.architecture.preset)?;
        writeln!(
            f,
            "shapes:        plain {:?} → ciphertext {:?}",
            m.architecture.plain_shape, m.architecture.cipher_shape
        )?;
        writeln!(
            f,
            "parameters:    E1 {} + D1 {}",
            m.encoder_params, m.decoder_params
        )?;
        let t = &m.training;
        writeln!(
            f,
            "training:      recipe {}, {} loss, lr {}, batch {}, {} epoch(s), seed {}",
            t.recipe, t.loss, t.learning_rate, t.batch_size, t.epochs, t.seed
        )?;
        writeln!(
            f,
            "               {} samples seen in {:.0} s, final loss {:.5}",
            t.samples_seen, t.wall_seconds, t.final_loss
        )?;
        writeln!(f, "training data: {}", t.data_source)?;
        writeln!(f, "fingerprint:   {}", t.data_fingerprint)?;
        match &m.reconstruction {
            Some(r) => writeln!(
                f,
                "reconstruction: mean PSNR {:.2} dB, mean SSIM {:.4} on {}",
                r.quality.psnr_db, r.quality.ssim, r.data_source
            )?,
            None if !m.architecture.has_decoder() => {
                writeln!(f, "reconstruction: none possible (no decoder D1)")?
            }
            None => writeln!(f, "reconstruction: not measured")?,
        }
        if let Some(p) = &m.proxy {
            writeln!(
                f,
                "proxy head:    {:.2}% on noisy codes of {} images of {}",
                100.0 * p.accuracy,
                p.images,
                p.data_source
            )?;
        }
        writeln!(f, "privacy:       {}", PrivacyLine(m.privacy.as_ref()))?;
        write!(f, "created:       {}", m.created_at)
    }
}
