//! Helpers shared by the CLI tests: run the built `archnet`, find the shared datasets.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `archnet` with `args`; returns the output.
pub fn archnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archnet"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("archnet runs")
}

/// Runs `archnet` and asserts success; returns stdout.
pub fn archnet_ok(args: &[&str]) -> String {
    let out = archnet(args);
    assert!(
        out.status.success(),
        "archnet {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `archnet`, asserts failure with one `error:` line on stderr, and returns that line.
pub fn archnet_err(args: &[&str]) -> String {
    let out = archnet(args);
    assert!(!out.status.success(), "archnet {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected, got:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    errors[0].to_string()
}

/// `../shared/datasets/<name>` from the repository root, or `None` (after saying why the test
/// skips) when the shared datasets are absent.
pub fn shared_dataset(name: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let path = root.join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared datasets are not on this machine)",
            path.display()
        );
        None
    }
}

/// The MNIST sample committed in the repository.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/mnist-sample")
}

/// Arguments of `archnet key train --preset auto --data DATA --out OUT` followed by `extra`.
pub fn auto_key_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "key",
        "train",
        "--preset",
        "auto",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

/// Trains a small `auto` key (see [`auto_key_args`]), asserting success; returns stdout.
pub fn train_auto_key(data: &Path, out: &Path, extra: &[&str]) -> String {
    archnet_ok(&auto_key_args(data, out, extra))
}

/// Creates an account straight in the database; returns its token.
pub fn account(
    name: &str,
    role: &str,
    credit: i64,
    data_dir: &Path,
    database: Option<&str>,
) -> String {
    let credit = credit.to_string();
    let mut args = vec![
        "admin",
        "create-account",
        "--name",
        name,
        "--role",
        role,
        "--credit",
        &credit,
    ];
    let data_dir = data_dir.to_str().unwrap();
    match database {
        Some(db) => args.extend(["--database", db]),
        None => args.extend(["--data-dir", data_dir]),
    }
    let out = archnet_ok(&args);
    out.lines()
        .find_map(|l| l.strip_prefix("token (shown once, store it now): "))
        .expect("a token line")
        .to_string()
}
