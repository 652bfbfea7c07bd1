//! `archnet key …`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use archnet_data::{Split, open_dataset};
use archnet_model::keyfile::ReconstructionRecord;
use archnet_model::private_key::{PrivateKeyConfig, train_private_key};
use archnet_model::train::{KeyTrainConfig, evaluate_reconstruction, train_key};
use archnet_model::{KeyArchitecture, KeyFile, KeyMetadata};

use super::human_bytes;
use crate::cli::KeyTrainArgs;
use crate::progress::samples_bar;

/// `archnet key train`: returns the written key's metadata.
pub fn train(args: &KeyTrainArgs) -> anyhow::Result<KeyMetadata> {
    let data = super::data::load(&args.data)?;
    if args.preset == "private" {
        return train_private(args, &data);
    }
    let arch = KeyArchitecture::preset(&args.preset, data.shape)?;
    let (enc, dec) = arch.num_params();
    println!(
        "key preset {}: {:?} → {:?}, E1 {enc} + D1 {dec} = {} parameters (key file ≈ {})",
        arch.preset,
        arch.plain_shape,
        arch.cipher_shape,
        enc + dec,
        human_bytes(((enc + dec) * 4) as u64)
    );
    let mut config = KeyTrainConfig::from_recipe(args.recipe);
    config.loss = args.loss;
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    config.batch_size = args.batch_size;
    config.epochs = args.epochs;
    config.max_samples = args.max_samples;
    config.seed = args.seed;
    config.checkpoint_every = args.checkpoint_every;
    let checkpoints = args
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.ckpt", args.out.display())));
    println!(
        "training on {} images of {}: recipe {}, {} loss, lr {}, batch {}, {} epoch(s), seed {}; checkpoints in {}",
        data.len(),
        args.data.data.display(),
        config.recipe,
        config.loss,
        config.learning_rate,
        config.batch_size,
        config.epochs,
        config.seed,
        checkpoints.display()
    );

    let total = config
        .max_samples
        .unwrap_or(u64::MAX)
        .min((data.len() * config.epochs) as u64);
    let bar = samples_bar(total, "key");
    let log_lines = !std::io::stderr().is_terminal();
    let mut last_log = Instant::now();
    let outcome = train_key(
        &arch,
        &data,
        &config,
        Some(&checkpoints),
        args.resume,
        &mut |p| {
            bar.set_position(p.samples_seen);
            bar.set_message(format!(
                "loss {:.4}, {:.1} samples/s",
                p.loss, p.samples_per_second
            ));
            // Background runs log to a file: a line every 30 s and at each checkpoint.
            if log_lines && (last_log.elapsed().as_secs() >= 30 || p.checkpoint.is_some()) {
                eprintln!(
                    "epoch {}/{} step {}/{}: {}/{} samples, loss {:.5}, {:.1} samples/s{}",
                    p.epoch + 1,
                    p.epochs,
                    p.step_in_epoch + 1,
                    p.steps_per_epoch,
                    p.samples_seen,
                    p.samples_total,
                    p.loss,
                    p.samples_per_second,
                    if p.checkpoint.is_some() {
                        ", checkpoint written"
                    } else {
                        ""
                    }
                );
                last_log = Instant::now();
            }
        },
    )?;
    bar.finish_and_clear();
    println!(
        "trained: {} samples seen{}, final loss {:.5}, {:.0} s",
        outcome.samples_seen,
        if outcome.resumed {
            " (resumed from a checkpoint)"
        } else {
            ""
        },
        outcome.final_loss,
        outcome.wall_seconds
    );

    let reconstruction = if args.eval_limit > 0 {
        evaluate_on_test_split(&args.data.data, &outcome.key, args.eval_limit)?
    } else {
        None
    };
    let data_source = format!(
        "{} ({} split, {} images)",
        args.data.data.display(),
        args.data.data_split,
        data.len()
    );
    let mut metadata = outcome.key_metadata(&arch, &data, &config, data_source);
    metadata.reconstruction = reconstruction;
    let written =
        KeyFile::save(&args.out, &outcome.key, metadata).context("writing the key file")?;
    println!(
        "key {} written to {} (mode 0600)",
        written.key_id,
        args.out.display()
    );
    Ok(written)
}

/// `archnet key train --preset private`: E1 with a Gaussian mechanism, trained against a proxy
/// classifier head; the proxy is measured on the release's test split when it has one.
fn train_private(
    args: &KeyTrainArgs,
    data: &archnet_data::ImageDataset,
) -> anyhow::Result<KeyMetadata> {
    let config = PrivateKeyConfig {
        epsilon: args.epsilon,
        delta: args.delta,
        code_channels: args.code_channels,
        learning_rate: args.lr.unwrap_or(PrivateKeyConfig::default().learning_rate),
        batch_size: args.batch_size,
        epochs: args.epochs,
        seed: args.seed,
        ..PrivateKeyConfig::default()
    };
    let test = open_dataset(&args.data.data, Split::Test)
        .ok()
        .map(|mut t| {
            t.truncate(args.eval_limit.max(1));
            t
        });
    println!(
        "training a private key on {} images of {}: per-image ε {} (δ {}), lr {}, batch {}, {} epoch(s), seed {}",
        data.len(),
        args.data.data.display(),
        config.epsilon,
        config.delta,
        config.learning_rate,
        config.batch_size,
        config.epochs,
        config.seed
    );
    let bar = samples_bar((data.len() * config.epochs) as u64, "key");
    let holdout = test.as_ref().map(|t| {
        (
            t,
            format!(
                "{} (test split, first {} images)",
                args.data.data.display(),
                t.len()
            ),
        )
    });
    let outcome = train_private_key(data, &config, holdout, &mut |p| {
        bar.set_position(p.samples_seen);
        bar.set_message(format!(
            "loss {:.4}, {:.0} samples/s",
            p.loss, p.samples_per_second
        ));
    })?;
    bar.finish_and_clear();
    let arch = &outcome.architecture;
    println!(
        "private key: {:?} → code of {} values (L2 norm {}), noise σ {:.4} → ciphertext {:?}; E1 {} parameters, no D1; {:.0} s",
        arch.plain_shape,
        arch.cipher_shape[0] * archnet_model::arch::PRIVATE_CODE_SIDE.pow(2),
        outcome.mechanism.clip_norm,
        outcome.mechanism.sigma,
        arch.cipher_shape,
        arch.num_params().0,
        outcome.wall_seconds
    );
    match &outcome.proxy {
        Some(p) => println!(
            "proxy classifier on noisy codes of {} held-out images: {:.2}% (a node's model must beat this to add anything)",
            p.images,
            100.0 * p.accuracy
        ),
        None => println!(
            "proxy classifier: no test split in {}, not measured",
            args.data.data.display()
        ),
    }
    let data_source = format!(
        "{} ({} split, {} images)",
        args.data.data.display(),
        args.data.data_split,
        data.len()
    );
    let metadata = outcome.key_metadata(data, &config, data_source);
    println!("privacy: {}", privacy_line(metadata.privacy.as_ref()));
    let written =
        KeyFile::save(&args.out, &outcome.key, metadata).context("writing the key file")?;
    println!(
        "key {} written to {} (mode 0600)",
        written.key_id,
        args.out.display()
    );
    Ok(written)
}

/// One line on a key's or dataset's per-image guarantee.
pub(crate) fn privacy_line(privacy: Option<&archnet_data::encrypted::PrivacyGuarantee>) -> String {
    match privacy {
        Some(g) => format!(
            "each image's ciphertext is ({:.3}, {:e})-differentially private (Gaussian mechanism, sensitivity {}, σ {:.4}; {} encryption(s) per image; re-encrypting composes); an attacker names which of 200 images a ciphertext holds with probability at most {:.1}%",
            g.epsilon,
            g.delta,
            g.sensitivity,
            g.sigma,
            g.releases,
            100.0 * archnet_model::privacy::reidentification_bound(g.epsilon, g.delta, 200)
        ),
        None => "no formal guarantee (no calibrated noise); see results/security.md for what attacks recover".into(),
    }
}

/// Measures D1(E1(x)) on the test split of the training data's release, when it has one.
fn evaluate_on_test_split(
    data: &Path,
    key: &archnet_model::ArchNetKey,
    limit: usize,
) -> anyhow::Result<Option<ReconstructionRecord>> {
    let Ok(test) = open_dataset(data, Split::Test) else {
        println!(
            "reconstruction: no test split in {}, not measured",
            data.display()
        );
        return Ok(None);
    };
    let started = Instant::now();
    let quality = evaluate_reconstruction(key, &test, limit, 64);
    println!(
        "reconstruction on {} test images: mean PSNR {:.2} dB, mean SSIM {:.4} ({:.0} s)",
        quality.count,
        quality.psnr_db,
        quality.ssim,
        started.elapsed().as_secs_f64()
    );
    Ok(Some(ReconstructionRecord {
        data_source: format!(
            "{} (test split, first {} images)",
            data.display(),
            quality.count
        ),
        quality,
    }))
}

/// `archnet key info FILE`
pub fn info(path: &Path) -> anyhow::Result<()> {
    let m = KeyFile::read_metadata(path)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!("key id:        {}", m.key_id);
    println!("file:          {} ({})", path.display(), human_bytes(size));
    println!("preset:        {}", m.architecture.preset);
    println!(
        "shapes:        plain {:?} → ciphertext {:?}",
        m.architecture.plain_shape, m.architecture.cipher_shape
    );
    println!(
        "parameters:    E1 {} + D1 {}",
        m.encoder_params, m.decoder_params
    );
    let t = &m.training;
    println!(
        "training:      recipe {}, {} loss, lr {}, batch {}, {} epoch(s), seed {}",
        t.recipe, t.loss, t.learning_rate, t.batch_size, t.epochs, t.seed
    );
    println!(
        "               {} samples seen in {:.0} s, final loss {:.5}",
        t.samples_seen, t.wall_seconds, t.final_loss
    );
    println!("training data: {}", t.data_source);
    println!("fingerprint:   {}", t.data_fingerprint);
    match &m.reconstruction {
        Some(r) => println!(
            "reconstruction: mean PSNR {:.2} dB, mean SSIM {:.4} on {}",
            r.quality.psnr_db, r.quality.ssim, r.data_source
        ),
        None if !m.architecture.has_decoder() => {
            println!("reconstruction: none possible (no decoder D1)")
        }
        None => println!("reconstruction: not measured"),
    }
    if let Some(p) = &m.proxy {
        println!(
            "proxy head:    {:.2}% on noisy codes of {} images of {}",
            100.0 * p.accuracy,
            p.images,
            p.data_source
        );
    }
    println!("privacy:       {}", privacy_line(m.privacy.as_ref()));
    println!("created:       {}", m.created_at);
    Ok(())
}
