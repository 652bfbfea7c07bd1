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
