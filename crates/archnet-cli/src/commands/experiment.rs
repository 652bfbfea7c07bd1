//! `archnet experiment …`

use archnet_lab::experiment::{Table1Settings, run_table1};
use archnet_lab::outputs::{Written, write_curve, write_table1};
use archnet_lab::privacy_curve::{CurveConfig, run_curve};

use crate::cli::{PrivacyUtilityArgs, Table1Args};

/// `archnet experiment table1`
pub fn table1(args: &Table1Args) -> anyhow::Result<()> {
    let common = &args.common;
    let settings = Table1Settings::for_budget(&common.dataset, args.budget, args.seeds)?;
    let work = (common.work_dir.clone()).unwrap_or_else(|| settings.default_work_dir());
    let result = run_table1(
        &settings,
        &common.data_root,
        &work,
        args.key.as_deref(),
        &mut |line| eprintln!("{line}"),
    )?;
    let command = archnet_lab::outputs::invocation();
    let written = write_table1(&result, &common.out, &command)?;
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
        ..CurveConfig::full(&args.common.dataset)
    };
    let common = &args.common;
    let work = (common.work_dir.clone()).unwrap_or_else(|| config.default_work_dir());
    let report = run_curve(&config, &common.data_root, &work, &mut |line| {
        eprintln!("{line}")
    })?;
    let command = archnet_lab::outputs::invocation();
    let written = write_curve(&report, &common.out, &command)?;
    print!("{}", report.to_markdown(&command));
    println!("\n{}", Written(&written));
    Ok(())
}
