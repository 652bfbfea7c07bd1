//! `archnet experiment …`

use anyhow::Context;
use archnet_model::experiment::{Table1Settings, run_table1};

use crate::cli::Table1Args;

/// `archnet experiment table1`
pub fn table1(args: &Table1Args) -> anyhow::Result<()> {
    let settings = Table1Settings::for_budget(&args.dataset, args.budget, args.seeds)?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| format!("work/table1-{}", args.dataset).into());
    let result = run_table1(
        &settings,
        &args.data_root,
        &work,
        args.key.as_deref(),
        &mut |line| eprintln!("{line}"),
    )?;
    // The command as typed, so the results say how to make them again.
    let command = std::iter::once("archnet".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let md = args.out.join(format!("table1-{}.md", args.dataset));
    let csv = args.out.join(format!("table1-{}.csv", args.dataset));
    archnet_data::fsutil::write_atomic(&md, result.to_markdown(&command).as_bytes(), 0o644)?;
    archnet_data::fsutil::write_atomic(&csv, result.to_csv().as_bytes(), 0o644)?;
    print!("{}", result.to_markdown(&command));
    println!("\nwritten: {} and {}", md.display(), csv.display());
    Ok(())
}
