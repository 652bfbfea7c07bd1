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

/// `mi_option_purge_delay` in mimalloc's `mimalloc.h` (the same in its versions 2 and 3; the
/// Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Training allocates the same large activation buffers every step. By default mimalloc hands
/// freed memory back to the kernel after a delay, and the next step faults it back in as zeroed
/// pages: 18.6% of resnet-18's training time (results/bench.md). The commands that run tensor
/// work keep freed memory for reuse instead, as PyTorch's caching allocator does (resnet-18
/// 10.7–11.7 → 12.9 samples/s, results/bench.md). The server and the sandboxed validator keep
/// the default, so what one validation used goes back to the system.
fn keep_freed_memory(command: &cli::Command) {
    if matches!(
        command,
        cli::Command::Serve(_) | cli::Command::SandboxValidate { .. }
    ) {
        return;
    }
    // SAFETY: sets one of mimalloc's integer options; -1 is its documented "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    keep_freed_memory(&cli.command);
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
