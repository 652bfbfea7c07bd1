//! `archnet attack known-plaintext`: how much of the images a party without the key recovers
//! from ciphertexts when it also knows N (image, ciphertext) pairs.

use std::time::Instant;

use anyhow::Context;
use archnet_figures::{Row, Tile, image_grid};
use archnet_model::attack::{RidgeInverse, encrypt_images, reconstruction_quality};

use crate::cli::KnownPlaintextArgs;

/// Reconstructions drawn in the picture.
const SHOWN: usize = 8;

pub fn known_plaintext(args: &KnownPlaintextArgs) -> anyhow::Result<()> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    if args.pairs + args.victims > data.len() {
        anyhow::bail!(
            "{} pairs + {} victim images need {} images; the data has {}",
            args.pairs,
            args.victims,
            args.pairs + args.victims,
            data.len()
        );
    }
    // The attacker knows the first N images and their ciphertexts; the victims are others.
    let known: Vec<usize> = (0..args.pairs).collect();
    let victims: Vec<usize> = (args.pairs..args.pairs + args.victims).collect();
    let started = Instant::now();
    let known_ciphers = encrypt_images(&key, &data, &known, 64);
    let victim_ciphers = encrypt_images(&key, &data, &victims, 64);
    let fit_started = Instant::now();
    let inverse = RidgeInverse::fit(
        &known_ciphers,
        &data.batch_f32(&known),
        args.pairs,
        args.lambda,
    )?;
    let reconstructions = inverse.predict(&victim_ciphers);
    let attack_seconds = fit_started.elapsed().as_secs_f64();
    let originals = data.batch_f32(&victims);
    let quality = reconstruction_quality(data.shape, &originals, &reconstructions);
    // What knowing nothing gives: every victim guessed as the mean of the known images.
    let plain_len = data.image_len();
    let known_plain = data.batch_f32(&known);
    let mut mean = vec![0f32; plain_len];
    for row in known_plain.chunks(plain_len) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / args.pairs as f32;
        }
    }
    let guesses: Vec<f32> = (0..args.victims)
        .flat_map(|_| mean.iter().copied())
        .collect();
    let baseline = reconstruction_quality(data.shape, &originals, &guesses);
    println!(
        "known-plaintext attack on key {} ({}), linear (ridge, λ = {}) inverse from {} pairs:",
        meta.key_id, meta.architecture.preset, args.lambda, args.pairs
    );
    println!(
        "  {} victim images: {:.2} dB PSNR, SSIM {:.3} (guessing the mean image: {:.2} dB, SSIM {:.3})",
        quality.count, quality.psnr_db, quality.ssim, baseline.psnr_db, baseline.ssim
    );
    println!(
        "  the key's own decoder D1 reached {} on held-out images",
        meta.reconstruction
            .as_ref()
            .map(|r| format!("{:.2} dB, SSIM {:.3}", r.quality.psnr_db, r.quality.ssim))
            .unwrap_or_else(|| "(not recorded)".into())
    );
    println!(
        "  fitted and applied in {attack_seconds:.1} s ({:.1} s with encryption), on this machine's CPU",
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = &args.picture {
        let shown = args.victims.min(SHOWN);
        let tiles = |values: &[f32]| -> Vec<Tile> {
            values
                .chunks(plain_len)
                .take(shown)
                .map(|v| Tile {
                    shape: data.shape,
                    values: v.to_vec(),
                    range: Some((0.0, 1.0)),
                })
                .collect()
        };
        let rows = [
            Row {
                label: "victim images".into(),
                tiles: tiles(&originals),
            },
            Row {
                label: format!("attack, {} pairs", args.pairs),
                tiles: tiles(&reconstructions),
            },
        ];
        let title = format!(
            "known-plaintext (ridge) attack on key {}: {:.2} dB",
            meta.key_id, quality.psnr_db
        );
        image_grid(out, &title, &rows, 3).with_context(|| format!("drawing {}", out.display()))?;
        println!("  picture: {}", out.display());
    }
    Ok(())
}
