//! `archnet audit`: what an attacker would recover from the ciphertexts, judged against
//! thresholds (the audit `archnet publish` runs before uploading).

use std::path::Path;

use archnet_lab::attack::audit::{AuditConfig, KeyAudit, LeakageThresholds, audit_key};

use crate::cli::AuditArgs;

/// `archnet audit`: fails when the thresholds are exceeded.
pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let (key, meta, data) =
        archnet_model::KeyFile::load_with_images(&args.key, &super::data::source(&args.data))?;
    let bar = crate::progress::spinner("audit");
    let audit = audit_key(
        &key,
        &meta,
        &data,
        &AuditConfig::default(),
        &LeakageThresholds {
            max_reidentification: args.leakage.max_reidentification,
            max_ssim_gain: args.leakage.max_ssim_gain,
        },
        &mut |stage| bar.set_message(stage.to_string()),
    )?;
    bar.finish_and_clear();
    show(&audit, args.picture.as_deref())?;
    if !audit.violations.is_empty() {
        anyhow::bail!(
            "the leakage audit exceeds the thresholds:\n  {}",
            audit.violations.join("\n  ")
        );
    }
    Ok(())
}

/// Prints the audit and draws its picture.
fn show(audit: &KeyAudit, picture: Option<&Path>) -> anyhow::Result<()> {
    println!("{audit}");
    if let Some(path) = picture {
        audit.draw(path)?;
        println!("  picture: {}", path.display());
    }
    Ok(())
}
