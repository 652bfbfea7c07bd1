//! `archnet bench market`: the marketplace under load, on SQLite and (optionally) PostgreSQL.
//! `archnet bench workload`: one tensor workload's throughput and peak memory.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions};

use super::market::block_on;
use crate::cli::{BenchMarketArgs, BenchWorkloadArgs};

/// `archnet bench workload NAME`: one JSON line with samples/s, peak RSS and threads.
pub fn workload(args: &BenchWorkloadArgs) -> anyhow::Result<()> {
    let line = archnet_lab::bench::workload(
        &args.name,
        args.batch_size,
        args.warmup,
        args.steps,
        args.onnx_out.as_deref(),
    )?;
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}

/// `archnet bench market`
pub fn market(args: &BenchMarketArgs) -> anyhow::Result<()> {
    let options = BenchOptions {
        nodes: args.nodes.max(1),
        tasks: args.tasks.max(1),
        heartbeats: args.heartbeats,
        max_duration: Duration::from_secs(args.max_seconds),
    };
    println!("{options}");
    let mut print = |r: &bench::BenchReport| println!("\n{r}");
    let reports = block_on(bench::run_backends(
        args.postgres.as_deref(),
        &options,
        &mut print,
    ))??;
    let problems: Vec<&String> = reports.iter().flat_map(|r| &r.problems).collect();
    anyhow::ensure!(
        problems.is_empty(),
        "the run broke {} invariant(s): {problems:?}",
        problems.len()
    );
    println!(
        "checks: no task leased twice at once, none lost, one payment per completed task, ledger balanced"
    );
    Ok(())
}
