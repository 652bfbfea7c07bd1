//! Exported base models run in tract (and, where python has them, onnx + onnxruntime) with the
//! logits burn computes.

mod common;

use std::process::Command;

use archnet_onnx::export::metadata;
use archnet_onnx::{ModelPolicy, OnnxClassifier, ValidationLimits, inspect};

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Loads `bytes` in tract and returns the logits of `x`, flattened.
fn tract_logits(bytes: &[u8], x: &[f32], shape: [usize; 3], classes: usize) -> Vec<f32> {
    let n = x.len() / shape.iter().product::<usize>();
    let limits = ValidationLimits {
        batch_size: 64,
        ..ValidationLimits::default()
    };
    let runner = OnnxClassifier::load(bytes, &ModelPolicy::default(), &limits, shape, classes)
        .expect("tract loads the export");
    runner.logits(x, n).unwrap().concat()
}

/// Asserts that `bytes` (the export of `model`) gives burn's logits of `x` within 1e-4 in tract.
fn assert_tract_matches_burn(
    name: &str,
    model: &archnet_model::base::BaseModel,
    bytes: &[u8],
    x: &[f32],
    shape: [usize; 3],
) {
    let burn = common::burn_logits(model, x, shape);
    let classes = burn.len() / (x.len() / shape.iter().product::<usize>());
    let diff = max_difference(&burn, &tract_logits(bytes, x, shape, classes));
    assert!(diff < 1e-4, "{name}: burn and tract differ by {diff}");
}

#[test]
fn cnn_and_resnet18_match_burn_on_256_samples() {
    for (kind, shape) in [
        ("cnn", [1, 28, 28]),
        ("cnn", [10, 56, 56]),
        ("cnn", [3, 32, 32]),
        ("resnet18", [3, 32, 32]),
    ] {
        let (model, spec) = common::model(kind, shape, 10);
        let bytes = common::export(&model, &spec);
        let x = common::inputs(256, shape);
        assert_tract_matches_burn(&format!("{kind} {shape:?}"), &model, &bytes, &x, shape);
    }
}

#[test]
fn every_resnet_depth_exports_and_runs() {
    // Small inputs keep the deep nets quick; 256-sample agreement is covered above.
    for kind in ["resnet34", "resnet50", "resnet101", "resnet152"] {
        let shape = [1, 16, 16];
        let (model, spec) = common::model(kind, shape, 4);
        let bytes = common::export(&model, &spec);
        assert_tract_matches_burn(kind, &model, &bytes, &common::inputs(3, shape), shape);
    }
}

#[test]
fn exported_interface_and_metadata_are_archnets() {
    let (model, spec) = common::model("cnn", [1, 28, 28], 10);
    let bytes = common::export(&model, &spec);
    let (_, summary) = inspect(&bytes, &ModelPolicy::default()).unwrap();
    assert!(summary.ir_version >= 8, "IR {}", summary.ir_version);
    assert!(summary.opset >= 13, "opset {}", summary.opset);
    assert_eq!(summary.input_name, "input");
    assert_eq!(summary.output_name, "logits");
    assert_eq!(summary.input_dims, vec![None, Some(1), Some(28), Some(28)]);
    assert_eq!(summary.metadata(metadata::KEY_ID), Some("0123456789abcdef"));
    assert_eq!(summary.metadata(metadata::BASE_MODEL), Some("cnn"));
    let names: Vec<String> =
        serde_json::from_str(summary.metadata(metadata::CLASS_NAMES).unwrap()).unwrap();
    assert_eq!(names.len(), 10);
    assert_eq!(
        summary.metadata(metadata::VERSION),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

fn python_has_onnx() -> bool {
    Command::new("python3")
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether onnx and onnxruntime can be used; CI must have them (`.ci/run` installs them).
fn onnxruntime_available() -> bool {
    if python_has_onnx() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must install onnx, onnxruntime and numpy for this test (see .ci/run)");
    }
    eprintln!("SKIPPED: python3 with onnx, onnxruntime and numpy is not available here");
    false
}

/// Runs onnx's full checker on `bytes` and compares onnxruntime's logits of `x` with tract's.
fn check_with_onnxruntime(name: &str, bytes: &[u8], x: &[f32], shape: [usize; 3], classes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let logits = tract_logits(bytes, x, shape, classes);
    let path = |file: &str| dir.path().join(file);
    std::fs::write(path("model.onnx"), bytes).unwrap();
    let raw = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(path("x.f32"), raw(x)).unwrap();
    std::fs::write(path("logits.f32"), raw(&logits)).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/onnxruntime_check.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args([path("model.onnx"), path("x.f32"), path("logits.f32")])
        .args(shape.map(|d| d.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn onnx_checker_and_onnxruntime_agree_with_tract() {
    if !onnxruntime_available() {
        return;
    }
    for (kind, shape) in [("cnn", [10, 56, 56]), ("resnet18", [3, 32, 32])] {
        let (model, spec) = common::model(kind, shape, 10);
        let bytes = common::export(&model, &spec);
        check_with_onnxruntime(kind, &bytes, &common::inputs(32, shape), shape, 10);
    }
}

#[test]
fn a_trained_resnet_with_real_batch_norm_statistics_matches_burn() {
    // Freshly initialised batch norms hold mean 0 and variance 1, which would hide a mistake in
    // exporting running statistics; a few training steps move them.
    use archnet_data::ImageDataset;
    use archnet_model::classify::{ClassifierTrainConfig, Samples, train_classifier};

    let shape = [3, 16, 16];
    let (_, spec) = common::model("resnet18", shape, 4);
    let n = 96;
    let pixels: Vec<u8> = common::inputs(n, shape)
        .iter()
        .map(|v| (v * 255.0) as u8)
        .collect();
    let data = ImageDataset {
        shape,
        pixels,
        labels: Some((0..n as u16).map(|i| i % 4).collect()),
        class_names: (0..4).map(|i| i.to_string()).collect(),
    };
    let config = ClassifierTrainConfig {
        batch_size: 32,
        epochs: 1,
        ..ClassifierTrainConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let trained = train_classifier(
        &spec,
        &Samples::Plain(data),
        None,
        &config,
        out.path(),
        false,
        &mut |_, _, _| {},
    )
    .unwrap()
    .model;
    let bytes = common::export(&trained, &spec);
    let x = common::inputs(256, shape);
    assert_tract_matches_burn("trained resnet18", &trained, &bytes, &x, shape);
}
