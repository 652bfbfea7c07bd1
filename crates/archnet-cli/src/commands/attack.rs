//! `archnet attack …`: how much of the images a party without the key recovers from ciphertexts,
//! with known (image, ciphertext) pairs or with ciphertexts alone.

use std::path::Path;

use archnet_data::DataSource;
use archnet_lab::attack::suite::{
    self, AttackReport, JudgeSource, KnownPlaintextConfig, Lookalike, Target,
};
use archnet_model::KeyFile;

use crate::cli::{AttackTargetArgs, CiphertextOnlyArgs, KnownPlaintextArgs};

fn target(args: &AttackTargetArgs, scratch: &Path) -> anyhow::Result<Target> {
    let (key, meta, data) = KeyFile::load_with_images(&args.key, &super::data::source(&args.data))?;
    let judge = JudgeSource::saved_or_trained(args.judge.clone(), args.judge_epochs);
    let t = Target::new(key, meta, data, args.victims, args.noise, judge, scratch)?;
    if let Some(j) = t.judge_training {
        println!("{j}");
    }
    Ok(t)
}

/// `archnet attack known-plaintext`
pub fn known_plaintext(args: &KnownPlaintextArgs) -> anyhow::Result<()> {
    let config = KnownPlaintextConfig {
        pairs: args.pairs.clone(),
        methods: args.methods.clone(),
        lambda: args.lambda,
        inverter_steps: args.inverter_steps,
    };
    let scratch = tempfile::tempdir()?;
    let t = target(&args.target, scratch.path())?;
    let report = suite::known_plaintext(&t, &config, &mut |r| println!("{r}"))?;
    finish(&t, &args.target, &report)
}

/// `archnet attack ciphertext-only`
pub fn ciphertext_only(args: &CiphertextOnlyArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let t = target(&args.target, scratch.path())?;
    let lookalike = match (&args.lookalike, &args.public_data) {
        (Some(path), Some(public)) => {
            let mut source = DataSource::new(public, args.public_split);
            source.limit = Some(args.public_limit);
            Some(Lookalike::load(path, &source)?)
        }
        _ => None,
    };
    let report = suite::ciphertext_only(&t, lookalike.as_ref(), &mut |r| println!("{r}"))?;
    finish(&t, &args.target, &report)
}

/// Prints the summary of a report and draws the picture when one is asked for.
fn finish(t: &Target, args: &AttackTargetArgs, report: &AttackReport) -> anyhow::Result<()> {
    println!("{}", report.summary(t));
    if let Some(path) = &args.picture {
        let title = format!("{}, key {}", report.kind, t.meta.key_id);
        archnet_lab::outputs::draw_attacks(path, &title, &t.victims, &report.results)?;
        println!("  picture: {}", path.display());
    }
    Ok(())
}
