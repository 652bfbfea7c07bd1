//! Helpers shared by the CLI tests: run the built `archnet`, find the shared datasets.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// For a test whose tool is missing: fails under CI, which must have it (`ci_needs` says what
/// CI must do), and elsewhere prints `SKIPPED: {skipped}` so the test can return.
pub fn skip_outside_ci(ci_needs: &str, skipped: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must {ci_needs}");
    eprintln!("SKIPPED: {skipped}");
}

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

/// `archnet serve` on a free loopback port over `data_dir` (its log in `log`), with `extra`
/// flags; stopped when dropped.
pub struct Serve {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Serve {
    /// Starts the server and waits until it takes connections.
    pub fn start(data_dir: &Path, log: &Path, extra: &[&str]) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_archnet"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the server did not start: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Serve {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
