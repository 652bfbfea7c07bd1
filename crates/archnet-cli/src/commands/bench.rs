//! `archnet bench market`: the marketplace under load, on SQLite and (optionally) PostgreSQL.
//! `archnet bench workload`: one tensor workload's throughput and peak memory.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions};

use super::market::block_on;
use crate::cli::{BenchMarketArgs, BenchWorkloadArgs};

/// `archnet bench workload NAME`: one JSON line with samples/s, peak RSS and threads.
pub fn workload(args: &BenchWorkloadArgs) -> anyhow::Result<()> {
    let line = match args.name.strip_prefix("validate-sandboxed-") {
        Some(rest) => {
            let (kind, engine) =
                archnet_lab::bench::validation_engine(rest, args.onnxruntime.as_deref())?;
            let measurement = block_on(archnet_market::sandbox_bench::sandboxed_validation(
                &args.name,
                kind,
                engine,
                args.batch_size.max(1),
                args.warmup,
                args.steps,
                args.onnx_out.as_deref(),
            ))??;
            archnet_lab::bench::line(measurement)
        }
        None => archnet_lab::bench::workload(
            &args.name,
            args.batch_size,
            args.warmup,
            args.steps,
            args.onnx_out.as_deref(),
            args.onnxruntime.as_deref(),
        )?,
    };
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}

/// `archnet bench market`
pub fn market(args: &BenchMarketArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for &nodes in &args.nodes {
        let options = BenchOptions {
            nodes: nodes.max(1),
            tasks: args.tasks.unwrap_or(2 * nodes).max(1),
            heartbeats: args.heartbeats,
            max_duration: Duration::from_secs(args.max_seconds),
            replicas: 1,
        };
        println!("{options}");
        let mut print = |r: &bench::BenchReport| println!("\n{r}\n");
        reports.extend(block_on(bench::run_backends(
            args.postgres.as_deref(),
            &options,
            &mut print,
        ))??);
    }
    println!("{}", bench::markdown_table(&reports));
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
