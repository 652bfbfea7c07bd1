//! The HTTP contract, checked from outside by schemathesis: it reads the server's OpenAPI
//! document and sends generated requests (valid and invalid) to every operation with each
//! role's token, checking every answer against the document: no server error, only declared
//! statuses, bodies and content types as declared, invalid requests refused and valid ones not.
//!
//! `.ci/run` installs schemathesis from PyPI; elsewhere the test prints SKIPPED without it. The
//! run is bounded (a fixed example count per operation and a fixed seed, printed) and talks to
//! a server on loopback only.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Serve, account, skip_outside_ci};

/// Test cases per operation and phase.
const EXAMPLES: &str = "25";
/// The generator's seed: the same requests on every run.
const SEED: &str = "17";

/// Checks left out, each with its reason:
/// - `ignored_auth`: it sends requests without the token and with a made-up one and expects a
///   refusal; the server refuses them (401, tested in tests/api.rs), but the check also flags
///   the public operations (`/healthz`), which need no token by design.
const EXCLUDED_CHECKS: &str = "ignored_auth";

fn schemathesis() -> Option<&'static str> {
    let found = Command::new("st")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then_some("st")
}

#[test]
fn every_role_keeps_the_openapi_contract_under_schemathesis() {
    let Some(st) = schemathesis() else {
        skip_outside_ci(
            "install schemathesis (.ci/run does)",
            "schemathesis is not installed (pip install schemathesis)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    std::fs::create_dir_all(&data_dir).unwrap();
    let tokens = [
        (
            "publisher",
            account("contract-publisher", "publisher", 1000, &data_dir, None),
        ),
        (
            "node",
            account("contract-node", "node", 1000, &data_dir, None),
        ),
        (
            "admin",
            account("contract-admin", "admin", 1000, &data_dir, None),
        ),
    ];
    let log = dir.path().join("server.log");
    // The generator sends far more than a client would; the rate limit has its own test.
    let server = Serve::start(&data_dir, &log, &["--rate-per-second", "100000"]);
    let url = server.url.clone();
    let mut failures = Vec::new();
    for (role, token) in &tokens {
        eprintln!("schemathesis as {role}: --max-examples {EXAMPLES} --seed {SEED}");
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
        let out = Command::new(st)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{url}/openapi.json")])
            .args(["--url", &url])
            .args(["--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
            .args(["--max-examples", EXAMPLES, "--seed", SEED])
            .args([
                "--workers",
                "1",
                "--no-color",
                "--generation-database",
                "none",
            ])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--request-timeout", "30"])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{text}");
        if !out.status.success() {
            failures.push(format!("as {role}: exit {}", out.status));
        }
    }
    assert!(
        failures.is_empty(),
        "schemathesis found contract violations ({}); server log: {}",
        failures.join(", "),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
