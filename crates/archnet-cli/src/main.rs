//! The `archnet` binary: argument parsing and wiring only. Every subcommand is a function over
//! the library crates' types in `commands/`; errors travel up to `main`, which prints them once.

mod cli;
mod commands;
mod progress;

use clap::Parser;

/// mimalloc instead of the system allocator: tensor code allocates and frees large buffers every
/// step, and glibc's malloc returns them to the kernel and faults them back in (measured in
/// results/bench.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // Services log what they do; one-shot commands only warnings. RUST_LOG overrides both.
    let (default_filter, json) = match &cli.command {
        cli::Command::Serve(args) => ("info,sqlx=warn,tower_http=warn", args.log_json),
        cli::Command::Node(_) => ("info", false),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem, with its causes.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
