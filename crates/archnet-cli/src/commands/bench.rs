//! `archnet bench market`: the marketplace under load, on SQLite and (optionally) PostgreSQL.
//! `archnet bench workload`: one tensor workload's throughput and peak memory.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions};
use archnet_market::db::fresh_postgres_database;

use super::market::block_on;
use crate::market_cli::{BenchMarketArgs, BenchWorkloadArgs};

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
    println!(
        "{} simulated nodes, {} tiny tasks, {} heartbeats per lease, one server on 127.0.0.1",
        options.nodes, options.tasks, options.heartbeats
    );
    let mut reports = vec![block_on(bench::run(None, &options))??];
    println!("\n{}", reports[0]);
    if let Some(server) = &args.postgres {
        let report = block_on(async {
            let url = fresh_postgres_database(server, "archnet_bench").await?;
            bench::run(Some(url), &options).await
        })??;
        println!("\n{report}");
        reports.push(report);
    }
    let problems: Vec<&String> = reports.iter().flat_map(|r| &r.problems).collect();
    if !problems.is_empty() {
        anyhow::bail!(
            "the run broke {} invariant(s): {:?}",
            problems.len(),
            problems
        );
    }
    println!(
        "checks: no task leased twice at once, none lost, one payment per completed task, ledger balanced"
    );
    Ok(())
}
