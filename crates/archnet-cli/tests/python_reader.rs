//! Runs the Python reader of docs/encrypted-format.md on a freshly encrypted sample, so the
//! documented format and the snippet cannot drift from what archnet writes.

mod common;

use std::path::Path;
use std::process::Command;

use common::archnet_ok;

fn python_snippet() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/encrypted-format.md"),
    )
    .unwrap();
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

fn python_has_deps() -> bool {
    Command::new("python3")
        .args(["-c", "import numpy, safetensors"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn documented_python_reader_loads_an_encrypted_dataset() {
    if !python_has_deps() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must install numpy and safetensors for this test (see .ci/run)");
        }
        eprintln!("SKIPPED: python3 with numpy and safetensors is not available here");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sample = common::sample();
    let key = t.path().join("k.key");
    common::train_auto_key(&sample, &key, &["--limit", "70", "--eval-limit", "0"]);
    let script = t.path().join("reader.py");
    std::fs::write(&script, python_snippet()).unwrap();
    for storage in ["f32", "q8"] {
        let enc = t.path().join(format!("enc-{storage}"));
        archnet_ok(&[
            "encrypt",
            "--key",
            key.to_str().unwrap(),
            "--data",
            sample.to_str().unwrap(),
            "--limit",
            "70",
            "--storage",
            storage,
            "--out",
            enc.to_str().unwrap(),
        ]);
        let out = Command::new("python3")
            .arg(&script)
            .arg(&enc)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // 70 images at 6:1 → 60 train samples of 4×56×56.
        assert!(
            stdout.contains("train: x (60, 4, 56, 56) float32, y (60,), 10 classes"),
            "{stdout}"
        );
    }
    // A corrupted shard is caught by the snippet's checksum check too.
    let enc = t.path().join("enc-f32");
    let shard = enc.join("train-00000.safetensors");
    let mut bytes = std::fs::read(&shard).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&shard, bytes).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&enc)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
}
