//! `archnet bench market`: the marketplace under load, on SQLite and (optionally) PostgreSQL.
//! `archnet bench workload`: one tensor workload's throughput and peak memory.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions, BenchReport};
use archnet_market::db::fresh_postgres_database;

use super::market::block_on;
use crate::market_cli::{BenchMarketArgs, BenchWorkloadArgs};

/// `archnet bench workload NAME`: one JSON line with samples/s, peak RSS and threads.
pub fn workload(args: &BenchWorkloadArgs) -> anyhow::Result<()> {
    let batch = args.batch_size.max(1);
    let measurement = if args.name == "validate-onnx-cnn" {
        validate_onnx(args, batch)?
    } else {
        archnet_lab::bench::run(&args.name, batch, args.warmup, args.steps)?
    };
    let mut line = serde_json::to_value(&measurement)?;
    line["peak_rss_mib"] = serde_json::json!(peak_rss_mib());
    line["threads"] = serde_json::json!(threads());
    line["engine"] = serde_json::json!("archnet");
    println!("{line}");
    Ok(())
}

/// The server's validation path: tract running an exported `cnn` on batches of ciphertexts.
fn validate_onnx(
    args: &BenchWorkloadArgs,
    batch: usize,
) -> anyhow::Result<archnet_lab::bench::Measurement> {
    use archnet_lab::bench::{CIPHER_SHAPE, synthetic_batch, time_steps, untrained_cnn};
    use archnet_onnx::{ModelPolicy, OnnxClassifier, ValidationLimits};
    let (model, spec) = untrained_cnn()?;
    let info = archnet_onnx::ExportInfo {
        key_id: None,
        class_names: (0..10).map(|i| i.to_string()).collect(),
    };
    let bytes = archnet_onnx::export_model(&model, &spec, &info)?;
    if let Some(path) = &args.onnx_out {
        std::fs::write(path, &bytes)?;
    }
    let limits = ValidationLimits {
        batch_size: batch,
        threads: threads(),
        ..ValidationLimits::default()
    };
    let classifier =
        OnnxClassifier::load(&bytes, &ModelPolicy::default(), &limits, CIPHER_SHAPE, 10)?;
    let x = synthetic_batch(batch * CIPHER_SHAPE.iter().product::<usize>());
    Ok(time_steps(
        &args.name,
        batch,
        args.warmup,
        args.steps,
        &mut || {
            classifier
                .logits(&x, batch)
                .map(|_| ())
                .map_err(|e| archnet_model::ModelError::Config(e.to_string()))
        },
    )?)
}

/// The thread count the workloads run with: `RAYON_NUM_THREADS` (burn's pool reads it too), else
/// every core.
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The process's peak resident memory (VmHWM), in MiB; 0 where /proc is unavailable.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

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
