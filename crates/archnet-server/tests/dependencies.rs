//! The server links no tensor library: its dependency tree (normal dependencies, this machine's
//! target) holds no burn crate at all, so neither burn's autodiff nor its training code. The
//! API crate it shares with the clients holds none either. Untrusted models run in tract
//! (`archnet-validate`), and encrypted splits are read with `archnet-data`.

use std::process::Command;

/// The package names in `cargo tree -p PACKAGE -e normal`, one per line.
fn tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_server_and_its_api_link_no_burn() {
    for package in ["archnet-server", "archnet-api"] {
        let names = tree(package);
        assert!(
            names.iter().any(|n| n == package),
            "cargo tree printed no {package}: {names:?}"
        );
        let burn: Vec<&String> = names.iter().filter(|n| n.starts_with("burn")).collect();
        assert!(
            burn.is_empty(),
            "{package} depends on {burn:?}; the server must not link burn (autodiff, train)"
        );
    }
}

#[test]
fn the_check_sees_burn_where_it_is() {
    // The same check on the trainer's crate finds burn, so a silent `cargo tree` cannot pass.
    assert!(tree("archnet-model").iter().any(|n| n == "burn-autodiff"));
}
