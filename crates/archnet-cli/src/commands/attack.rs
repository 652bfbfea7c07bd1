//! `archnet attack …`: how much of the images a party without the key recovers from ciphertexts,
//! with known (image, ciphertext) pairs or with ciphertexts alone.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use archnet_data::ImageDataset;
use archnet_figures::{Row, Tile, image_grid};
use archnet_model::attack::audit::{
    best_channel_probe, mean_image_guess, sort_strongest_first, victims_of,
};
use archnet_model::attack::ciphertext_only::{
    ChannelAlignment, cycle_cost, link_across_keys, match_rate, stretch_contrast,
};
use archnet_model::attack::instance::tpr_at_fpr;
use archnet_model::attack::{
    AttackResult, Inverter, InverterConfig, Judge, RidgeInverse, Victims, add_noise,
    encrypt_images, reconstruction_quality,
};
use archnet_model::metrics::QualityMeans;
use archnet_model::{ArchNetKey, KeyMetadata};

use crate::cli::{AttackTargetArgs, CiphertextOnlyArgs, KnownPlaintextArgs};

/// Victims drawn in a picture.
const SHOWN: usize = 8;
/// Seeds of the noise added to the pairs' and the victims' ciphertexts (randomised encryption).
const PAIR_NOISE_SEED: u64 = 1;
const VICTIM_NOISE_SEED: u64 = 2;

/// What every attack command sets up: the key, the data, the victims and the judge.
struct Target {
    key: ArchNetKey,
    meta: KeyMetadata,
    data: ImageDataset,
    victims: Victims,
    judge: Option<Judge>,
    /// The judge's accuracy on the true victim images.
    judge_accuracy: Option<f64>,
    /// Images before this index are available as known pairs.
    pair_limit: usize,
    /// Indices of the victim images in `data` (the rest).
    victim_idx: Vec<usize>,
}

fn target(args: &AttackTargetArgs) -> anyhow::Result<Target> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    if args.victims == 0 || args.victims >= data.len() {
        anyhow::bail!(
            "--victims {} must be at least 1 and below the {} images of the data",
            args.victims,
            data.len()
        );
    }
    let pair_limit = data.len() - args.victims;
    let victim_idx: Vec<usize> = (pair_limit..data.len()).collect();
    let known: Vec<usize> = (0..pair_limit).collect();
    let mut victims = victims_of(&key, &data, &victim_idx, &known);
    add_noise(&mut victims.ciphers, args.noise, VICTIM_NOISE_SEED);
    let judge = load_or_train_judge(args, &data, pair_limit)?;
    let judge_accuracy = match (&judge, &victims.labels) {
        (Some(j), Some(labels)) => Some(j.recognised(&victims.images, labels)?),
        _ => None,
    };
    Ok(Target {
        key,
        meta,
        data,
        victims,
        judge,
        judge_accuracy,
        pair_limit,
        victim_idx,
    })
}

fn load_or_train_judge(
    args: &AttackTargetArgs,
    data: &ImageDataset,
    pair_limit: usize,
) -> anyhow::Result<Option<Judge>> {
    if let Some(dir) = &args.judge {
        let trained = archnet_model::trained::TrainedModel::load(dir, &archnet_model::device())
            .with_context(|| format!("loading the judge {}", dir.display()))?;
        if trained.card.key_id.is_some() || trained.card.spec.input_shape != data.shape {
            anyhow::bail!(
                "{}: the judge must be trained on plain {:?} images (this one takes {:?}{})",
                dir.display(),
                data.shape,
                trained.card.spec.input_shape,
                if trained.card.key_id.is_some() {
                    " ciphertexts"
                } else {
                    ""
                }
            );
        }
        return Ok(Some(Judge::from_model(trained.model, data.shape)));
    }
    if data.labels.is_none() {
        return Ok(None);
    }
    let scratch = tempfile::tempdir()?;
    let started = Instant::now();
    let rest: Vec<usize> = (0..pair_limit).collect();
    let judge = Judge::train(data.select(&rest), args.judge_epochs, 0, scratch.path())?;
    println!(
        "judge: a cnn trained {} epoch(s) on the {} non-victim plain images ({:.0} s)",
        args.judge_epochs,
        rest.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Some(judge))
}

pub fn known_plaintext(args: &KnownPlaintextArgs) -> anyhow::Result<()> {
    for method in &args.methods {
        if !["ridge", "inverter"].contains(&method.as_str()) {
            anyhow::bail!("unknown attack method `{method}` (known: ridge, inverter)");
        }
    }
    let t = target(&args.target)?;
    if let Some(&n) = args.pairs.iter().find(|&&n| n == 0 || n > t.pair_limit) {
        anyhow::bail!(
            "{n} pairs: between 1 and {} (the images before the {} victims)",
            t.pair_limit,
            t.victims.len()
        );
    }
    let max_pairs = args.pairs.iter().copied().max().unwrap_or(0);
    let known: Vec<usize> = (0..max_pairs).collect();
    let mut ciphers = encrypt_images(&t.key, &t.data, &known, 64);
    add_noise(&mut ciphers, args.target.noise, PAIR_NOISE_SEED);
    let plains = t.data.batch_f32(&known);
    let cipher_len: usize = t.meta.architecture.cipher_shape.iter().product();
    let plain_len = t.data.image_len();
    let mut results = Vec::new();
    for &n in &args.pairs {
        let (c, p) = (&ciphers[..n * cipher_len], &plains[..n * plain_len]);
        for method in &args.methods {
            let started = Instant::now();
            let (name, out) = if method == "ridge" {
                if n > 4000 {
                    println!("ridge map, {n} pairs: skipped (its dual system is n × n)");
                    continue;
                }
                let ridge = RidgeInverse::fit(c, p, n, args.lambda)?;
                (
                    format!("ridge map, {n} pairs"),
                    ridge.predict(&t.victims.ciphers),
                )
            } else {
                let config = InverterConfig {
                    steps: args.inverter_steps,
                    ..InverterConfig::default()
                };
                let inverter = Inverter::train(&t.meta.architecture, c, p, n, &config)?;
                (
                    format!("inverter net, {n} pairs"),
                    inverter.predict(&t.victims.ciphers),
                )
            };
            let result = AttackResult::score(
                name,
                &t.victims,
                out,
                t.judge.as_ref(),
                started.elapsed().as_secs_f64(),
            )?;
            print_result(&result);
            results.push(result);
        }
    }
    let guess = mean_image_guess(t.data.shape, &plains, t.victims.len());
    let guess = reconstruction_quality(t.data.shape, &t.victims.images, &guess);
    finish("known-plaintext", &t, &args.target, guess, &results)
}

pub fn ciphertext_only(args: &CiphertextOnlyArgs) -> anyhow::Result<()> {
    let t = target(&args.target)?;
    let arch = &t.meta.architecture;
    let cipher_len: usize = arch.cipher_shape.iter().product();
    let mut results = vec![best_channel_probe(arch, &t.victims, t.judge.as_ref())?];
    print_result(&results[0]);

    // Linkability under the same key: E1 is deterministic, so without noise a repeated image
    // repeats its ciphertext exactly.
    let again = {
        let mut c = encrypt_images(&t.key, &t.data, &t.victim_idx, 64);
        add_noise(&mut c, args.target.noise, VICTIM_NOISE_SEED + 1);
        c
    };
    let same_key = match_rate(cipher_len, &t.victims.ciphers, &again);
    println!(
        "linkability, same image encrypted twice with this key: {:.1}% matched (chance {:.1}%), true positives at 1% false positives {:.1}%",
        100.0 * same_key,
        100.0 / t.victims.len() as f64,
        100.0 * tpr_at_fpr(cipher_len, &t.victims.ciphers, &again, 0.01)
    );

    if let Some(path) = &args.lookalike {
        let (own_key, own_meta) = archnet_model::KeyFile::load(path, &archnet_model::device())
            .with_context(|| format!("loading the look-alike key {}", path.display()))?;
        if own_meta.architecture != *arch {
            anyhow::bail!(
                "{}: the look-alike key must have the attacked key's preset and shapes",
                path.display()
            );
        }
        if !arch.has_decoder() {
            anyhow::bail!(
                "{}: a `{}` key has no decoder D1 to decode with; the look-alike attack on such keys is the privacy-utility protocol's",
                path.display(),
                arch.preset
            );
        }
        if own_meta.key_id == t.meta.key_id {
            anyhow::bail!("the look-alike key is the attacked key itself");
        }
        let public = match &args.public_data {
            Some(p) => super::data::load(&crate::cli::DataArgs {
                data: p.clone(),
                data_split: args.public_split,
                limit: Some(args.public_limit),
            })?,
            None => anyhow::bail!("--lookalike needs --public-data (what the attacker encrypts)"),
        };
        if public.shape != t.data.shape {
            anyhow::bail!("the public data must have the victims' image shape");
        }
        let started = Instant::now();
        let all: Vec<usize> = (0..public.len()).collect();
        let own_ciphers = encrypt_images(&own_key, &public, &all, 64);
        let statistics = ChannelAlignment::fit(arch.cipher_shape, &t.victims.ciphers, &own_ciphers);
        // The attacker picks the assignment of channels without labels: by the look-alike key's
        // cycle error on a few victim ciphertexts, starting from the statistics and from "as is".
        let sample = &t.victims.ciphers[..cipher_len * t.victims.len().min(32)];
        let mut cost = |c: &[f32]| cycle_cost(&own_key, arch.cipher_shape, c);
        let by_statistics = statistics.apply(&t.victims.ciphers);
        let (searched, searched_cost) = [statistics.in_place(), statistics]
            .into_iter()
            .map(|start| start.refine(sample, &mut cost, 4))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("two starting points");
        let aligned = searched.apply(&t.victims.ciphers);
        // The attacker stretches each decoded image's contrast, as for the channel probes.
        let decode = |c: &[f32]| -> Vec<f32> {
            let mut images = decrypt(&own_key, arch.cipher_shape, c);
            stretch_contrast(&mut images, t.data.image_len());
            images
        };
        let fit_seconds = started.elapsed().as_secs_f64();
        println!(
            "look-alike key {}: cycle error {:.3} as is, {:.3} after aligning channels ({:.0} s)",
            own_meta.key_id,
            cost(sample),
            searched_cost,
            fit_seconds
        );
        for (name, input) in [
            ("look-alike, as is", &t.victims.ciphers),
            ("look-alike, channel statistics", &by_statistics),
            ("look-alike, cycle-aligned", &aligned),
        ] {
            let out = decode(input);
            let inverted: Vec<f32> = out.iter().map(|v| 1.0 - v).collect();
            for (suffix, images) in [("", out), (", inverted", inverted)] {
                let r = AttackResult::score(
                    format!("{name}{suffix}"),
                    &t.victims,
                    images,
                    t.judge.as_ref(),
                    fit_seconds,
                )?;
                print_result(&r);
                results.push(r);
            }
        }
        // Linkability across keys: the same images under the attacked key and the look-alike
        // key, matched from the ciphertexts alone (channel probes), and through the aligned
        // decoder as a second try.
        let theirs = encrypt_images(&own_key, &t.data, &t.victim_idx, 64);
        let link = link_across_keys(arch.cipher_shape, t.data.shape, &t.victims.ciphers, &theirs);
        let (by_probes, (ka, kb, inverted)) = (link.match_rate, link.channels);
        let by_decoder = match_rate(t.data.image_len(), &decode(&aligned), &decode(&theirs));
        println!(
            "linkability, same image under the attacked key and the look-alike key: {:.1}% matched by channel probes \
             (channels {ka} and {kb}{}, chosen without labels; {:.1}% true positives at 1% false positives), {:.1}% through the aligned decoder (chance {:.1}%)",
            100.0 * by_probes,
            if inverted { " inverted" } else { "" },
            100.0 * link.tpr_at_1pct_fpr,
            100.0 * by_decoder,
            100.0 / t.victims.len() as f64
        );
    }
    sort_strongest_first(&mut results);
    // The blind guess: the victims' own mean image (generous to the guess: an attacker would
    // only have a public dataset's mean).
    let guess = reconstruction_quality(
        t.data.shape,
        &t.victims.images,
        &mean_image_guess(t.data.shape, &t.victims.images, t.victims.len()),
    );
    finish("ciphertext-only", &t, &args.target, guess, &results)
}

/// D1 of `key` with its sigmoid over flat ciphertexts.
fn decrypt(key: &ArchNetKey, shape: [usize; 3], ciphers: &[f32]) -> Vec<f32> {
    use burn::prelude::*;
    let device = archnet_model::device();
    let len: usize = shape.iter().product();
    let mut out = Vec::new();
    for chunk in ciphers.chunks(64 * len) {
        let x = Tensor::<4>::from_data(
            TensorData::new(
                chunk.to_vec(),
                [chunk.len() / len, shape[0], shape[1], shape[2]],
            ),
            &device,
        );
        out.extend(
            key.decrypt(x)
                .into_data()
                .try_to_vec::<f32>()
                .expect("D1 outputs f32"),
        );
    }
    out
}

fn noise_note(noise: f32) -> String {
    if noise > 0.0 {
        format!(", randomised encryption (noise {noise} × the ciphertexts' std)")
    } else {
        String::new()
    }
}

/// Percent with one decimal, or `-`.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// One attack's line: PSNR, SSIM, recognition (information only) and seconds, then what must
/// stay hidden: re-identification, and the gain over the class-mean image.
pub(crate) fn print_result(r: &AttackResult) {
    println!(
        "  {:<44} {:>6.2} dB  SSIM {:.3}  recognised {:>6}  {:>6.1} s  re-identified {:>6} (same class {:>6}), over the class mean SSIM {:+.3} PSNR {:+.2} dB",
        r.attack,
        r.quality.psnr_db,
        r.quality.ssim,
        percent(r.recognised),
        r.seconds,
        percent(Some(r.reidentification.all)),
        percent(r.reidentification.same_class),
        r.gain.ssim,
        r.gain.psnr_db,
    );
}

/// The chance rates and the class-mean baseline every attack line is read against.
pub(crate) fn print_baseline(victims: &Victims) {
    let b = &victims.baseline;
    println!(
        "  chance: re-identification {} among all {} victims, {} within a class",
        percent(Some(b.reidentification.chance)),
        victims.len(),
        percent(b.reidentification.chance_same_class)
    );
    println!(
        "  the {} image (free to anyone holding the labels): {:.2} dB, SSIM {:.3}, re-identifies {} (same class {}); gains below are over it",
        if b.label_aware { "class-mean" } else { "mean" },
        b.quality.psnr_db,
        b.quality.ssim,
        percent(Some(b.reidentification.all)),
        percent(b.reidentification.same_class)
    );
}

/// Prints the summary of `kind` attacks and draws the picture when one is asked for.
fn finish(
    kind: &str,
    t: &Target,
    args: &AttackTargetArgs,
    guess: QualityMeans,
    results: &[AttackResult],
) -> anyhow::Result<()> {
    println!();
    print_report(
        &format!(
            "{kind} attacks on key {} ({}){}",
            t.meta.key_id,
            t.meta.architecture.preset,
            noise_note(args.noise)
        ),
        t,
        guess,
        results,
    );
    if let Some(path) = &args.picture {
        let title = format!("{kind}, key {}", t.meta.key_id);
        draw(path, &title, &t.victims, results)?;
    }
    Ok(())
}

fn print_report(title: &str, t: &Target, guess: QualityMeans, results: &[AttackResult]) {
    println!("{title}, {} victim images:", t.victims.len());
    if let Some(acc) = t.judge_accuracy {
        println!(
            "  the judge recognises {:.1}% of the true victim images",
            100.0 * acc
        );
    }
    println!(
        "  guessing the mean image: {:.2} dB, SSIM {:.3}",
        guess.psnr_db, guess.ssim
    );
    print_baseline(&t.victims);
    if let Some(r) = &t.meta.reconstruction {
        println!(
            "  the key's own decoder D1: {:.2} dB, SSIM {:.3}",
            r.quality.psnr_db, r.quality.ssim
        );
    }
    for r in results {
        print_result(r);
    }
}

/// Draws the victims and each attack's reconstructions of them, one row per attack.
pub(crate) fn draw(
    path: &Path,
    title: &str,
    victims: &Victims,
    results: &[AttackResult],
) -> anyhow::Result<()> {
    let len: usize = victims.shape.iter().product();
    let tiles = |values: &[f32]| -> Vec<Tile> {
        values
            .chunks(len)
            .take(SHOWN)
            .map(|v| Tile {
                shape: victims.shape,
                values: v.to_vec(),
                range: Some((0.0, 1.0)),
            })
            .collect()
    };
    let mut rows = vec![Row {
        label: "victim images".into(),
        tiles: tiles(&victims.images),
    }];
    rows.extend(results.iter().map(|r| Row {
        label: r.attack.clone(),
        tiles: tiles(&r.reconstructions),
    }));
    image_grid(path, title, &rows, 3).with_context(|| format!("drawing {}", path.display()))?;
    println!("  picture: {}", path.display());
    Ok(())
}
