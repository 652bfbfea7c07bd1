//! `archnet experiment …`

use archnet_lab::experiment::{Table1Settings, run_table1};
use archnet_lab::outputs::{Written, write_curve, write_table1};
use archnet_lab::privacy_curve::{CurveConfig, run_curve};

use crate::cli::{PrivacyUtilityArgs, Table1Args};

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
    let written = write_table1(&result, &args.out, &command)?;
    print!("{}", result.to_markdown(&command));
    println!("\n{}", Written(&written));
    Ok(())
}

/// `archnet experiment privacy-utility`
pub fn privacy_utility(args: &PrivacyUtilityArgs) -> anyhow::Result<()> {
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
    let written = write_curve(&report, &args.out, &command)?;
    print!("{}", report.to_markdown(&command));
    println!("\n{}", Written(&written));
    Ok(())
}

/// The command as typed, so the results say how to make them again.
fn command_line() -> String {
    std::iter::once("archnet".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
