//! `archnet audit` and the audit `archnet publish` runs before uploading: what an attacker
//! would recover from the ciphertexts, shown to the publisher, judged against thresholds.

use std::path::Path;

use archnet_lab::attack::audit::{AuditConfig, KeyAudit, LeakageThresholds, audit_key};

use crate::cli::AuditArgs;

/// `archnet audit`: fails when the thresholds are exceeded.
pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
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

/// What `publish`'s audit found (already drawn into `picture`); `None`: an earlier run audited.
pub fn show_publish_audit(audit: Option<(&KeyAudit, &Path)>, accept_leakage: bool) {
    let Some((audit, picture)) = audit else {
        println!("audit: passed when this work folder was prepared (an earlier run)");
        return;
    };
    println!("{audit}");
    println!("  picture: {}", picture.display());
    if audit.violations.is_empty() {
        println!("audit: within your thresholds");
    } else if accept_leakage {
        println!(
            "audit: above your thresholds ({} finding(s)); publishing anyway because of --accept-leakage",
            audit.violations.len()
        );
    }
}

/// The error of a publish the audit refused.
pub fn refused(audit: &KeyAudit, picture: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "not published: the leakage audit exceeds your thresholds:\n  {}\n\
         Look at {} and the numbers above; publish anyway with --accept-leakage, or raise \
         --max-reidentification / --max-ssim-gain (or use a `private` key)",
        audit.violations.join("\n  "),
        picture.display()
    )
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
