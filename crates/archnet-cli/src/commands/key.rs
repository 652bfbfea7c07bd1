//! `archnet key …`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use archnet_data::{Split, open_dataset};
use archnet_model::keyfile::ReconstructionRecord;
use archnet_model::train::{KeyTrainConfig, evaluate_reconstruction, train_key};
use archnet_model::{KeyArchitecture, KeyFile, KeyMetadata};

use super::human_bytes;
use crate::cli::KeyTrainArgs;
use crate::progress::samples_bar;

/// `archnet key train`: returns the written key's metadata.
pub fn train(args: &KeyTrainArgs) -> anyhow::Result<KeyMetadata> {
    let data = super::data::load(&args.data)?;
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
        None => println!("reconstruction: not measured"),
    }
    println!("created:       {}", m.created_at);
    Ok(())
}
