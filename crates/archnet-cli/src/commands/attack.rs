//! `archnet attack …`: how much of the images a party without the key recovers from ciphertexts,
//! with known (image, ciphertext) pairs or with ciphertexts alone.

use std::path::Path;

use anyhow::Context;
use archnet_data::DataSource;
use archnet_lab::attack::AttackResult;
use archnet_lab::attack::suite::{
    self, AttackReport, JudgeSource, KnownPlaintextConfig, KnownPlaintextMethod, Lookalike, Target,
};
use archnet_model::{KeyFile, device};

use crate::cli::{AttackTargetArgs, CiphertextOnlyArgs, KnownPlaintextArgs};

fn target(args: &AttackTargetArgs, scratch: &Path) -> anyhow::Result<Target> {
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    let judge = match &args.judge {
        Some(dir) => JudgeSource::Trained(
            Box::new(
                archnet_model::trained::TrainedModel::load(dir, &device())
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
        println!("{j}");
    }
    Ok(t)
}

/// Each attack's line as it finishes.
fn print_result(r: &AttackResult) {
    println!("{r}");
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
    finish(&t, &args.target, &report)
}

/// `archnet attack ciphertext-only`
pub fn ciphertext_only(args: &CiphertextOnlyArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let t = target(&args.target, scratch.path())?;
    let own = match (&args.lookalike, &args.public_data) {
        (Some(path), Some(public)) => {
            let (key, meta) = KeyFile::load(path, &device())
                .with_context(|| format!("loading the look-alike key {}", path.display()))?;
            let mut source = DataSource::new(public, args.public_split);
            source.limit = Some(args.public_limit);
            Some((key, meta, path, source.load()?))
        }
        _ => None,
    };
    let lookalike = own.as_ref().map(|(key, meta, path, public)| Lookalike {
        key,
        meta,
        path,
        public,
    });
    let report = suite::ciphertext_only(&t, lookalike, &mut print_result)?;
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
