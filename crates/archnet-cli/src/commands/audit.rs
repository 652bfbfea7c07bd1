//! `archnet audit` and the audit `archnet publish` runs before uploading: what an attacker
//! would recover from the ciphertexts, shown to the publisher, judged against thresholds.

use std::path::Path;

use anyhow::Context;
use archnet_model::attack::audit::{AuditConfig, AuditReport, LeakageThresholds, run_audit};
use archnet_model::{ArchNetKey, KeyMetadata};

use crate::cli::{AuditArgs, DataArgs, LeakageArgs};

/// `archnet audit`: fails when the thresholds are exceeded.
pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    let verdict = audit(&key, &meta, &data, &args.leakage, args.picture.as_deref())?;
    if !verdict.is_empty() {
        anyhow::bail!(
            "the leakage audit exceeds the thresholds:\n  {}",
            verdict.join("\n  ")
        );
    }
    Ok(())
}

/// The audit `publish` runs: refuses (an error) when thresholds are exceeded and the publisher
/// has not passed `--accept-leakage`.
pub fn before_publishing(
    key_path: &Path,
    data: &DataArgs,
    leakage: &LeakageArgs,
    accept_leakage: bool,
    picture: &Path,
) -> anyhow::Result<()> {
    let (key, meta, images) = super::key_and_images(key_path, data)?;
    let verdict = audit(&key, &meta, &images, leakage, Some(picture))?;
    if verdict.is_empty() {
        println!("audit: within your thresholds");
        return Ok(());
    }
    if accept_leakage {
        println!(
            "audit: above your thresholds ({} finding(s)); publishing anyway because of --accept-leakage",
            verdict.len()
        );
        return Ok(());
    }
    anyhow::bail!(
        "not published: the leakage audit exceeds your thresholds:\n  {}\n\
         Look at {} and the numbers above; publish anyway with --accept-leakage, or raise \
         --max-reidentification / --max-ssim-gain (or use a `private` key)",
        verdict.join("\n  "),
        picture.display()
    )
}

/// Runs and prints the audit; returns the thresholds exceeded, in words.
fn audit(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    data: &archnet_data::ImageDataset,
    leakage: &LeakageArgs,
    picture: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let limits = LeakageThresholds {
        max_reidentification: fraction(leakage.max_reidentification),
        max_ssim_gain: leakage.max_ssim_gain,
    };
    let config = AuditConfig::default();
    let scratch = tempfile::tempdir().context("a scratch folder for the audit's judge")?;
    let bar = crate::progress::spinner("audit");
    let report = run_audit(
        key,
        &meta.architecture,
        meta.privacy.as_ref(),
        data,
        &config,
        scratch.path(),
        &mut |stage| bar.set_message(stage.to_string()),
    )?;
    bar.finish_and_clear();
    print(&report, meta);
    if let Some(path) = picture {
        super::attack::draw(
            path,
            &format!("leakage audit of key {}", meta.key_id),
            &report.victims,
            &report.attacks,
        )?;
    }
    Ok(report.violations(&limits))
}

fn print(report: &AuditReport, meta: &KeyMetadata) {
    println!(
        "leakage audit of key {} ({}): {} victim images, an attacker holding {} known (image, ciphertext) pairs, {:.0} s",
        meta.key_id,
        meta.architecture.preset,
        report.victims.len(),
        report.pairs,
        report.seconds
    );
    match report.judge_accuracy {
        Some(a) => println!(
            "  judge: a plain-image classifier trained on the other images recognises {:.1}% of the true victims",
            100.0 * a
        ),
        None => println!("  judge: none (the data has no labels or too few images)"),
    }
    println!(
        "  guessing the mean image gives {:.2} dB, SSIM {:.3}",
        report.guess.psnr_db, report.guess.ssim
    );
    super::attack::print_baseline(&report.victims);
    for a in &report.attacks {
        super::attack::print_result(a);
    }
    match &report.guarantee {
        Some((g, bound)) => println!(
            "  guarantee: ({:.3}, {:e})-DP per image bounds re-identification among these {} victims by any attacker at {:.1}%",
            g.epsilon,
            g.delta,
            report.victims.len(),
            100.0 * bound
        ),
        None => println!(
            "  guarantee: none (the key adds no calibrated noise); these measurements are all there is"
        ),
    }
    println!(
        "  not run here: look-alike keys and larger attacks (`archnet attack`), which can only \
         recover more; see docs/threat-model.md"
    );
}

/// Percent (20) or fraction (0.2) → fraction.
fn fraction(value: f64) -> f64 {
    if value > 1.0 { value / 100.0 } else { value }
}
