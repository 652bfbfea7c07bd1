//! The Python package (`python/`, `pip install ./python`) as a compute node against a live
//! server: `examples/logistic_node.py` leases a task, downloads its training split through
//! `archnet.Node` (resumable, checked), fits a logistic regression in numpy, writes it as ONNX
//! with `onnx.helper`, uploads it, hands it in, is validated in the sandbox and paid. The
//! PyTorch trainer example runs under `archnet node --trainer` where torch is installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use archnet_market::client::Client;
use archnet_market::publisher::{self, PublishOptions};
use archnet_market::testkit;
use common::{Serve, account, skip_outside_ci};

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python")
}

fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Opens a tiny two-class task (fee 10) through `url` as `token`; returns its id.
fn publish_tiny(url: &str, token: &str, work: &Path) -> String {
    testkit::tiny_dataset(work, 40, 20).unwrap();
    let options = PublishOptions {
        name: "for python".into(),
        ..testkit::tiny_publish_options(work)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(url, token).unwrap();
    runtime
        .block_on(publisher::upload_and_open(&client, &options, &mut |_| {}))
        .unwrap()
        .id
}

#[test]
fn the_python_package_works_as_a_node_and_is_paid() {
    if !python_has("numpy, safetensors, onnx") {
        skip_outside_ci(
            "install numpy, safetensors and onnx (.ci/run does)",
            "python3 with numpy, safetensors and onnx is not available",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    std::fs::create_dir_all(&data_dir).unwrap();
    let publisher = account("publisher", "publisher", 100, &data_dir, None);
    let node = account("python-node", "node", 0, &data_dir, None);
    let server = Serve::start(&data_dir, &dir.path().join("server.log"), &[]);
    let url = server.url.clone();
    let task = publish_tiny(&url, &publisher, &dir.path().join("publish"));

    let out = Command::new("python3")
        .arg(python_dir().join("examples/logistic_node.py"))
        .args(["--server", &url, "--token", &node, "--work-dir"])
        .arg(dir.path().join("python-node"))
        .env("PYTHONPATH", python_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
    );
    let verdict: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verdict["task"], task.as_str(), "{verdict}");
    assert_eq!(verdict["state"], "accepted", "{verdict}");
    assert_eq!(verdict["balance"], 10, "paid once: {verdict}");

    // The PyTorch trainer, run by `archnet node --trainer` on a second task.
    if !python_has("torch") {
        eprintln!("SKIPPED: the PyTorch trainer example (torch is not installed)");
        return;
    }
    publish_tiny(&url, &publisher, &dir.path().join("publish-2"));
    let trainer = format!(
        "PYTHONPATH={} python3 {} --epochs 1",
        python_dir().display(),
        python_dir().join("examples/pytorch_trainer.py").display()
    );
    let out = common::archnet_ok(&[
        "node",
        "--once",
        "--trainer",
        &trainer,
        "--server",
        &url,
        "--token",
        &node,
        "--work-dir",
        dir.path().join("torch-node").to_str().unwrap(),
    ]);
    assert!(out.contains("accepted"), "{out}");
}
