//! `archnet attack …`: how much of the images a party without the key recovers from ciphertexts,
//! with known (image, ciphertext) pairs or with ciphertexts alone.

use std::path::Path;

use anyhow::Context;
use archnet_lab::attack::suite::{
    self, AttackReport, JudgeSource, KnownPlaintextConfig, KnownPlaintextMethod, Lookalike, Target,
};
use archnet_lab::attack::{AttackResult, Victims};
use archnet_model::metrics::QualityMeans;

use crate::cli::{AttackTargetArgs, CiphertextOnlyArgs, KnownPlaintextArgs};

fn target(args: &AttackTargetArgs, scratch: &Path) -> anyhow::Result<Target> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    let judge = match &args.judge {
        Some(dir) => JudgeSource::Trained(
            Box::new(
                archnet_model::trained::TrainedModel::load(dir, &archnet_model::device())
                    .with_context(|| format!("loading the judge {}", dir.display()))?,
            ),
            dir.clone(),
        ),
        None => JudgeSource::Train {
            epochs: args.judge_epochs,
        },
    };
    let t = Target::new(key, meta, data, args.victims, args.noise, judge, scratch)?;
    if let Some(j) = t.judge_training {
        println!(
            "judge: a cnn trained {} epoch(s) on the {} non-victim plain images ({:.0} s)",
            j.epochs, j.images, j.seconds
        );
    }
    Ok(t)
}

/// `archnet attack known-plaintext`
pub fn known_plaintext(args: &KnownPlaintextArgs) -> anyhow::Result<()> {
    let methods = args
        .methods
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<KnownPlaintextMethod>, _>>()?;
    let scratch = tempfile::tempdir()?;
    let t = target(&args.target, scratch.path())?;
    let config = KnownPlaintextConfig {
        pairs: args.pairs.clone(),
        methods,
        lambda: args.lambda,
        inverter_steps: args.inverter_steps,
    };
    let report = suite::known_plaintext(&t, &config, &mut print_result)?;
    for n in &report.ridge_skipped {
        println!("ridge map, {n} pairs: skipped (its dual system is n × n)");
    }
    finish(&t, &args.target, &report)
}

/// `archnet attack ciphertext-only`
pub fn ciphertext_only(args: &CiphertextOnlyArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let t = target(&args.target, scratch.path())?;
    let own = match &args.lookalike {
        Some(path) => {
            let (key, meta) = archnet_model::KeyFile::load(path, &archnet_model::device())
                .with_context(|| format!("loading the look-alike key {}", path.display()))?;
            let public = match &args.public_data {
                Some(p) => super::data::load(&crate::cli::DataArgs {
                    data: p.clone(),
                    data_split: args.public_split,
                    limit: Some(args.public_limit),
                })?,
                None => {
                    anyhow::bail!("--lookalike needs --public-data (what the attacker encrypts)")
                }
            };
            Some((key, meta, path, public))
        }
        None => None,
    };
    let lookalike = own.as_ref().map(|(key, meta, path, public)| Lookalike {
        key,
        meta,
        path,
        public,
    });
    let report = suite::ciphertext_only(&t, lookalike, &mut print_result)?;
    if let Some(link) = report.same_key {
        println!(
            "linkability, same image encrypted twice with this key: {:.1}% matched (chance {:.1}%), true positives at 1% false positives {:.1}%",
            100.0 * link.match_rate,
            100.0 / t.victims.len() as f64,
            100.0 * link.tpr_at_1pct_fpr
        );
    }
    if let Some(l) = &report.lookalike {
        println!(
            "look-alike key {}: cycle error {:.3} as is, {:.3} after aligning channels ({:.0} s)",
            l.key_id, l.cycle_error_as_is, l.cycle_error_aligned, l.fit_seconds
        );
        let (ka, kb, inverted) = l.link_channels;
        println!(
            "linkability, same image under the attacked key and the look-alike key: {:.1}% matched by channel probes \
             (channels {ka} and {kb}{}, chosen without labels; {:.1}% true positives at 1% false positives), {:.1}% through the aligned decoder (chance {:.1}%)",
            100.0 * l.link_by_probes,
            if inverted { " inverted" } else { "" },
            100.0 * l.link_tpr_at_1pct_fpr,
            100.0 * l.link_by_decoder,
            100.0 / t.victims.len() as f64
        );
    }
    finish(&t, &args.target, &report)
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

/// Prints the summary of a report and draws the picture when one is asked for.
fn finish(t: &Target, args: &AttackTargetArgs, report: &AttackReport) -> anyhow::Result<()> {
    let kind = report.kind;
    println!();
    print_report(
        &format!(
            "{kind} attacks on key {} ({}){}",
            t.meta.key_id,
            t.meta.architecture.preset,
            noise_note(args.noise)
        ),
        t,
        report.guess,
        &report.results,
    );
    if let Some(path) = &args.picture {
        let title = format!("{kind}, key {}", t.meta.key_id);
        draw(path, &title, &t.victims, &report.results)?;
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

/// Draws the victims and each attack's reconstructions ([`archnet_lab::outputs::draw_attacks`]).
pub(crate) fn draw(
    path: &Path,
    title: &str,
    victims: &Victims,
    results: &[AttackResult],
) -> anyhow::Result<()> {
    archnet_lab::outputs::draw_attacks(path, title, victims, results)?;
    println!("  picture: {}", path.display());
    Ok(())
}
