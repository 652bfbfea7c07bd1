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
    let command = command_line();
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

/// The command as typed, so the results say how to make them again.
fn command_line() -> String {
    std::iter::once("archnet".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `archnet experiment privacy-utility`
pub fn privacy_utility(args: &crate::cli::PrivacyUtilityArgs) -> anyhow::Result<()> {
    use archnet_model::privacy_curve::{CurveConfig, run_curve};
    let config = CurveConfig {
        epsilons: args.epsilons.clone(),
        pairs: args.pairs.clone(),
        train_images: args.train_images,
        test_images: args.test_images,
        cnn_epochs: args.cnn_epochs,
        seeds: (0..args.seeds.max(1)).collect(),
        key_epochs: args.key_epochs,
        inverter_steps: args.inverter_steps,
        code_channels: args.code_channels,
        ..CurveConfig::full(&args.dataset)
    };
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| format!("work/privacy-utility-{}", args.dataset).into());
    let report = run_curve(&config, &args.data_root, &work, &mut |line| {
        eprintln!("{line}")
    })?;
    let command = command_line();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let md = args
        .out
        .join(format!("privacy-utility-{}.md", args.dataset));
    archnet_data::fsutil::write_atomic(&md, report.to_markdown(&command).as_bytes(), 0o644)?;
    let json = args
        .out
        .join(format!("privacy-utility-{}.json", args.dataset));
    archnet_data::fsutil::write_atomic(
        &json,
        &serde_json::to_vec_pretty(&report).expect("serialises"),
        0o644,
    )?;
    let png = args
        .out
        .join(format!("privacy-utility-{}.png", args.dataset));
    draw_curve(&report, &png)?;
    print!("{}", report.to_markdown(&command));
    println!(
        "\nwritten: {}, {} and {}",
        md.display(),
        json.display(),
        png.display()
    );
    Ok(())
}

/// The curve as a chart: x is log2 ε (no noise one step right of the largest ε), y percent.
fn draw_curve(
    report: &archnet_model::privacy_curve::CurveReport,
    path: &Path,
) -> anyhow::Result<()> {
    let finite_max = report
        .points
        .iter()
        .map(|p| p.epsilon)
        .filter(|e| e.is_finite())
        .fold(1.0f64, f64::max);
    let x = |e: f64| {
        if e.is_finite() {
            e.log2()
        } else {
            finite_max.log2() + 1.0
        }
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let series =
        |name: &str, y: &dyn Fn(&archnet_model::privacy_curve::CurvePoint) -> Option<f64>| Series {
            name: name.into(),
            points: report
                .points
                .iter()
                .filter_map(|p| y(p).map(|v| (x(p.epsilon), 100.0 * v)))
                .collect(),
        };
    let strongest_at = |p: &archnet_model::privacy_curve::CurvePoint, n: usize| {
        p.attacks
            .iter()
            .filter(|a| a.pairs == n)
            .map(|a| a.reidentification.all)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let all = [
        series("original cnn (AO)", &|_| {
            Some(mean(&report.original_accuracy))
        }),
        series("node cnn on ciphertexts (AE)", &|p| {
            Some(mean(&p.node_accuracy))
        }),
        series("proxy head", &|p| {
            Some(p.proxy_accuracy).filter(|v| v.is_finite())
        }),
        series("re-identified, 1,000 pairs", &|p| strongest_at(p, 1_000)),
        series("re-identified, look-alike key + learned map", &|p| {
            p.lookalike
                .iter()
                .find(|a| a.method.contains("learned map"))
                .map(|a| a.reidentification.all)
        }),
        series("re-identified by the class mean", &|p| {
            Some(p.baseline.reidentification.all)
        }),
        series("re-identification bound (any attacker)", &|p| {
            p.reidentification_bound
        }),
    ];
    line_chart(
        path,
        &format!(
            "{}: private keys, utility and re-identification of {} victims",
            report.config.dataset, report.config.victims
        ),
        "log2 ε (the rightmost point: no noise, ε = ∞)",
        "percent",
        &all,
    )
    .with_context(|| format!("drawing {}", path.display()))
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
