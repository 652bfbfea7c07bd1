//! `archnet bench market`: the marketplace under load, on SQLite and (optionally) PostgreSQL.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions, BenchReport};
use archnet_market::db::fresh_postgres_database;

use super::market::block_on;
use crate::market_cli::BenchMarketArgs;

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
    print_report(&reports[0]);
    if let Some(server) = &args.postgres {
        let report = block_on(async {
            let url = fresh_postgres_database(server, "archnet_bench").await?;
            bench::run(Some(url), &options).await
        })??;
        print_report(&report);
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

fn print_report(r: &BenchReport) {
    println!(
        "\n{}: {} leases granted in {:.1} s = {:.1} leases/s; all {} tasks validated and decided in {:.1} s ({:.1}/s)",
        r.backend,
        r.leases,
        r.leasing_seconds,
        r.leases_per_second,
        r.tasks,
        r.seconds,
        r.tasks as f64 / r.seconds.max(1e-9)
    );
    println!(
        "  {} completed, {} payments, {} request errors",
        r.completed, r.payments, r.errors
    );
    println!(
        "  {:<13} {:>7} {:>9} {:>9} {:>9}",
        "request", "count", "p50 ms", "p99 ms", "max ms"
    );
    for (what, l) in &r.latency {
        println!(
            "  {what:<13} {:>7} {:>9.1} {:>9.1} {:>9.1}",
            l.count, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    for p in &r.problems {
        println!("  PROBLEM: {p}");
    }
}
