//! `archnet bench workload`: each workload runs and reports its throughput and peak memory as one
//! JSON line (what bench/compare reads); an unknown name is refused.

mod common;

use common::{archnet_err, archnet_ok};

#[test]
fn workloads_print_one_json_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("cnn.onnx");
    for name in [
        "key-train-paper-cifar",
        "train-cnn-encrypted",
        "validate-onnx-cnn",
        "validate-sandboxed-cnn",
    ] {
        let out = archnet_ok(&[
            "bench",
            "workload",
            name,
            "--steps",
            "1",
            "--warmup",
            "0",
            "--batch-size",
            "4",
            "--onnx-out",
            onnx.to_str().unwrap(),
        ]);
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
        assert_eq!(line["workload"], name);
        assert_eq!(line["samples"], 4);
        assert!(line["samples_per_second"].as_f64().unwrap() > 0.0, "{line}");
        assert!(line["peak_rss_mib"].as_f64().unwrap() > 1.0, "{line}");
    }
    assert!(onnx.is_file(), "the ONNX workload writes the model it runs");
    let err = archnet_err(&["bench", "workload", "nope"]);
    assert!(err.contains("unknown workload"), "{err}");
}

/// The onnxruntime variants need the library: without one the workload says how to give it.
#[test]
fn an_onnxruntime_workload_without_the_library_says_how_to_give_it() {
    let err = std::process::Command::new(env!("CARGO_BIN_EXE_archnet"))
        .args([
            "bench",
            "workload",
            "validate-onnx-cnn-onnxruntime",
            "--steps",
            "1",
        ])
        .env_remove("ARCHNET_ONNXRUNTIME")
        .output()
        .unwrap();
    assert!(!err.status.success());
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(text.contains("--onnxruntime"), "{text}");
}
