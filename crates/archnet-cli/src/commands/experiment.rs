//! `archnet experiment …`

use anyhow::Context;
use std::path::Path;

use archnet_figures::{Series, bar_chart, line_chart};
use archnet_model::experiment::{ARMS, Table1Result, Table1Settings, mean_std, run_table1};

use crate::cli::Table1Args;

/// `archnet experiment table1`
pub fn table1(args: &Table1Args) -> anyhow::Result<()> {
    let settings = Table1Settings::for_budget(&args.dataset, args.budget, args.seeds)?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| format!("work/table1-{}-{}", args.dataset, args.budget).into());
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
    let curves = args.out.join(format!("table1-{}-curves.png", args.dataset));
    let ec = args.out.join(format!("table1-{}-ec.png", args.dataset));
    draw_figures(&result, &curves, &ec)?;
    print!("{}", result.to_markdown(&command));
    println!(
        "\nwritten: {}, {}, {} and {}",
        md.display(),
        csv.display(),
        curves.display(),
        ec.display()
    );
    Ok(())
}

/// Learning curves (test accuracy per epoch, mean over seeds) and the EC bar chart (Fig. 6).
fn draw_figures(result: &Table1Result, curves: &Path, ec: &Path) -> anyhow::Result<()> {
    let series: Vec<Series> = ARMS
        .iter()
        .map(|arm| {
            let runs: Vec<_> = result.runs.iter().filter(|r| r.arm == *arm).collect();
            let epochs = runs.iter().map(|r| r.history.len()).min().unwrap_or(0);
            let points = (0..epochs)
                .map(|e| {
                    let accs: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.history[e].validation_accuracy)
                        .collect();
                    ((e + 1) as f64, 100.0 * mean_std(&accs).0)
                })
                .collect();
            Series {
                name: (*arm).to_string(),
                points,
            }
        })
        .collect();
    let title = format!(
        "{}: test accuracy while training ({} seed(s))",
        result.settings.dataset,
        result.settings.seeds.len()
    );
    line_chart(curves, &title, "epoch", "test accuracy (%)", &series)?;
    let bars: Vec<(String, f64)> = ARMS[1..]
        .iter()
        .map(|arm| ((*arm).to_string(), 100.0 * result.encryption_cost(arm)))
        .collect();
    let title = format!(
        "{}: EC = (AO - AE) / AO per method (lower is better)",
        result.settings.dataset
    );
    bar_chart(ec, &title, "EC (%)", &bars)?;
    Ok(())
}
