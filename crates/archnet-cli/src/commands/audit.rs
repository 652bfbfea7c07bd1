//! `archnet audit` and the audit `archnet publish` runs before uploading: what an attacker
//! would recover from the ciphertexts, shown to the publisher, judged against thresholds.

use std::path::Path;

use anyhow::Context;
use archnet_lab::attack::audit::{AuditConfig, AuditReport, LeakageThresholds, run_audit};
use archnet_model::{ArchNetKey, KeyMetadata};

use crate::cli::{AuditArgs, LeakageArgs};

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

/// What `publish`'s audit found, printed and drawn; t1 (ms) when the data is ready to upload,
/// an error when the audit refused it.
pub fn after_publish_audit(
    prepared: archnet_market::publisher::Prepared,
    picture: &Path,
) -> anyhow::Result<u64> {
    use archnet_market::publisher::Prepared;
    let (audit, t1_ms) = match prepared {
        Prepared::Ready { t1_ms, audit: None } => {
            println!("audit: passed when this work folder was prepared (an earlier run)");
            return Ok(t1_ms);
        }
        Prepared::Ready {
            t1_ms,
            audit: Some(audit),
        } => (audit, Some(t1_ms)),
        Prepared::Refused { audit } => (audit, None),
    };
    show(&audit.report, &audit.key, Some(picture))?;
    if let Some(t1_ms) = t1_ms {
        if audit.violations.is_empty() {
            println!("audit: within your thresholds");
        } else {
            println!(
                "audit: above your thresholds ({} finding(s)); publishing anyway because of --accept-leakage",
                audit.violations.len()
            );
        }
        return Ok(t1_ms);
    }
    anyhow::bail!(
        "not published: the leakage audit exceeds your thresholds:\n  {}\n\
         Look at {} and the numbers above; publish anyway with --accept-leakage, or raise \
         --max-reidentification / --max-ssim-gain (or use a `private` key)",
        audit.violations.join("\n  "),
        picture.display()
    )
}

/// The thresholds `--max-reidentification` and `--max-ssim-gain` set.
pub fn thresholds(leakage: &LeakageArgs) -> LeakageThresholds {
    LeakageThresholds {
        max_reidentification: fraction(leakage.max_reidentification),
        max_ssim_gain: leakage.max_ssim_gain,
    }
}

/// Runs and prints the audit; returns the thresholds exceeded, in words.
fn audit(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    data: &archnet_data::ImageDataset,
    leakage: &LeakageArgs,
    picture: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
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
    show(&report, meta, picture)?;
    Ok(report.violations(&thresholds(leakage)))
}

/// Prints the audit and draws its picture.
fn show(report: &AuditReport, meta: &KeyMetadata, picture: Option<&Path>) -> anyhow::Result<()> {
    print(report, meta);
    if let Some(path) = picture {
        super::attack::draw(
            path,
            &format!("leakage audit of key {}", meta.key_id),
            &report.victims,
            &report.attacks,
        )?;
    }
    Ok(())
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
