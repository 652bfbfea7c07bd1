//! `archnet encrypt` and `archnet decrypt`

use std::time::Instant;

use anyhow::Context;
use archnet_data::encrypted::{DEFAULT_SHARD_BYTES, EncryptedDataset, Manifest};
use archnet_data::open_dataset;
use archnet_model::pipeline::{
    DecryptOptions, DecryptReport, EncryptOptions, SplitRatio, check_key_matches, decrypt_dataset,
    encrypt_dataset,
};
use archnet_model::{KeyFile, device};

use super::human_bytes;
use crate::cli::{DecryptArgs, EncryptArgs};
use crate::progress::samples_bar;

/// `archnet encrypt`: returns the written manifest.
pub fn encrypt(args: &EncryptArgs) -> anyhow::Result<Manifest> {
    let (key, meta) = KeyFile::load(&args.key, &device())?;
    let data = super::data::load(&args.data)?;
    let split = args.split.unwrap_or(SplitRatio::paper_default(data.shape));
    let options = EncryptOptions {
        split,
        storage: args.storage,
        batch_size: args.batch_size.max(1),
        shard_bytes: DEFAULT_SHARD_BYTES,
        source_fingerprint: data.fingerprint(),
        noise: args.noise,
    };
    let bar = samples_bar(data.len() as u64, "encrypt");
    let started = Instant::now();
    let manifest = encrypt_dataset(&key, &meta, &data, &args.out, &options, &mut |n| {
        bar.inc(n as u64)
    })
    .with_context(|| {
        format!(
            "encrypting {} into {}",
            args.data.data.display(),
            args.out.display()
        )
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let plain_bytes = data.pixels.len() as u64;
    println!(
        "encrypted {} images with key {} in {:.1} s ({:.0} samples/s)",
        data.len(),
        meta.key_id,
        seconds,
        data.len() as f64 / seconds.max(1e-9)
    );
    for (name, info) in &manifest.splits {
        println!(
            "  {name}: {} samples in {} shard(s)",
            info.count,
            info.shards.len()
        );
    }
    println!(
        "  {} storage: {} on disk, {:.1}× the {} of plain u8 pixels → {}",
        manifest.storage,
        human_bytes(manifest.total_bytes()),
        manifest.total_bytes() as f64 / plain_bytes.max(1) as f64,
        human_bytes(plain_bytes),
        args.out.display()
    );
    println!(
        "  privacy: {}",
        super::key::privacy_line(manifest.privacy.as_ref())
    );
    Ok(manifest)
}

/// `archnet decrypt`
pub fn decrypt(args: &DecryptArgs) -> anyhow::Result<DecryptReport> {
    let dataset = EncryptedDataset::open(&args.data)?;
    // Check the key id from the header before loading hundreds of MB of weights.
    let header = KeyFile::read_metadata(&args.key)?;
    check_key_matches(&header, &dataset)?;
    let (key, meta) = KeyFile::load(&args.key, &device())?;
    let reference = match &args.reference {
        Some(path) => Some(
            open_dataset(path, args.reference_split)
                .with_context(|| format!("reading the reference dataset {}", path.display()))?,
        ),
        None => None,
    };
    let total: usize = dataset
        .manifest()
        .splits
        .iter()
        .filter(|(name, _)| args.splits.is_empty() || args.splits.contains(name))
        .map(|(_, s)| s.count.min(args.limit.unwrap_or(usize::MAX)))
        .sum();
    let options = DecryptOptions {
        splits: args.splits.clone(),
        limit: args.limit,
        batch_size: args.batch_size.max(1),
    };
    let bar = samples_bar(total as u64, "decrypt");
    let started = Instant::now();
    let report = decrypt_dataset(
        &key,
        &meta,
        &dataset,
        &args.out,
        reference.as_ref(),
        &options,
        &mut |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    println!(
        "decrypted {} images to {} in {:.1} s",
        report.images_written,
        report.out.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(q) = &report.quality {
        println!(
            "against the reference: mean PSNR {:.2} dB, mean SSIM {:.4} over {} images",
            q.psnr_db, q.ssim, q.count
        );
    }
    Ok(report)
}
