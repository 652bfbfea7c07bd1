//! `archnet key …`

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use archnet_model::KeyMetadata;
use archnet_model::keyjob::{self, KeyEvent, KeyInfo, KeyJob};

use crate::cli::KeyTrainArgs;
use crate::progress::samples_bar;

/// The job `archnet key train` describes.
pub fn job(args: &KeyTrainArgs) -> KeyJob {
    KeyJob {
        preset: args.preset.clone(),
        epsilon: args.epsilon,
        delta: args.delta,
        code_channels: args.code_channels,
        data: super::data::source(&args.data),
        out: args.out.clone(),
        recipe: args.recipe,
        loss: args.loss,
        learning_rate: args.lr,
        batch_size: args.batch_size,
        epochs: args.epochs,
        max_samples: args.max_samples,
        seed: args.seed,
        checkpoint_dir: args.checkpoint_dir.clone(),
        checkpoint_every: args.checkpoint_every,
        resume: args.resume,
        eval_limit: args.eval_limit,
    }
}

/// `archnet key train`: returns the written key's metadata.
pub fn train(job: &KeyJob) -> anyhow::Result<KeyMetadata> {
    let mut printer = KeyPrinter::new();
    Ok(keyjob::run(job, &mut |e| printer.event(e))?)
}

/// Shows key training as it goes: steps on a bar (and, when stderr is a log file, a line every
/// 30 s and at each checkpoint), everything else as its line.
pub struct KeyPrinter {
    bar: indicatif::ProgressBar,
    log_lines: bool,
    last_log: Instant,
}

impl KeyPrinter {
    pub fn new() -> Self {
        KeyPrinter {
            bar: samples_bar(0, "key"),
            log_lines: !std::io::stderr().is_terminal(),
            last_log: Instant::now(),
        }
    }

    pub fn event(&mut self, event: KeyEvent) {
        match event {
            KeyEvent::Step(p) => {
                self.bar.set_length(p.samples_total);
                self.bar.set_position(p.samples_seen);
                self.bar.set_message(format!(
                    "loss {:.4}, {:.1} samples/s",
                    p.loss, p.samples_per_second
                ));
                if self.log_lines
                    && (self.last_log.elapsed().as_secs() >= 30 || p.checkpoint.is_some())
                {
                    eprintln!("{p}");
                    self.last_log = Instant::now();
                }
            }
            other => {
                if matches!(
                    other,
                    KeyEvent::Trained { .. } | KeyEvent::PrivateTrained { .. }
                ) {
                    self.bar.finish_and_clear();
                }
                self.bar.suspend(|| println!("{other}"));
            }
        }
    }
}

/// `archnet key info FILE`
pub fn info(path: &Path) -> anyhow::Result<()> {
    println!("{}", KeyInfo::read(path)?);
    Ok(())
}
