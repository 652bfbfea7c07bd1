//! `archnet quickstart`: the whole story on the embedded sample
//! ([`archnet_market::quickstart`]), told as it happens.

use anyhow::Context;
use archnet_market::quickstart::{self, QuickstartOptions, Scene};

use super::key::KeyPrinter;
use super::market::PublishPrinter;
use crate::cli::QuickstartArgs;

/// `archnet quickstart`
pub fn run(args: &QuickstartArgs) -> anyhow::Result<()> {
    let options = QuickstartOptions {
        work_dir: args.work_dir.clone(),
        data: args.data.clone(),
        node_program: std::env::current_exe().context("finding the archnet executable")?,
        contest: args.contest,
        keep_serving: args.keep_serving,
    };
    let mut key = KeyPrinter::new();
    let mut publish: Option<PublishPrinter> = None;
    quickstart::run(&options, &mut |scene| match scene {
        Scene::Key(e) => key.event(e),
        Scene::Publish(e) => publish.get_or_insert_with(PublishPrinter::new).event(e),
        Scene::Opened(..) => {
            if let Some(p) = publish.take() {
                p.finish();
            }
            println!("{scene}");
        }
        other => println!("{other}"),
    })?;
    Ok(())
}
