//! archnet's onnxruntime engine (the library of the onnxruntime wheel, loaded at run time) gives
//! tract's logits on exported models; a wrong library path is an error that names it.

mod common;

use std::path::PathBuf;
use std::process::Command;

use archnet_onnx::runner::Engine;
use archnet_onnx::{ModelPolicy, OnnxClassifier, ValidationLimits};

/// `libonnxruntime.so.*` of the onnxruntime wheel python3 imports; CI must have it (`.ci/run`
/// installs onnxruntime).
fn library() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import glob, os, onnxruntime; \
             print(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*'))[0])",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        }
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must install onnxruntime for this test (see .ci/run)")
        }
        _ => {
            eprintln!("SKIPPED: python3 with onnxruntime is not available here");
            None
        }
    }
}

fn logits(bytes: &[u8], engine: Engine, x: &[f32], shape: [usize; 3]) -> Vec<f32> {
    let limits = ValidationLimits {
        batch_size: 16,
        threads: 2,
        engine,
        ..ValidationLimits::default()
    };
    let n = x.len() / shape.iter().product::<usize>();
    OnnxClassifier::load(bytes, &ModelPolicy::default(), &limits, shape, 10)
        .unwrap()
        .logits(x, n)
        .unwrap()
        .concat()
}

#[test]
fn onnxruntime_gives_tracts_logits_on_exported_models() {
    let Some(library) = library() else { return };
    for (kind, shape) in [("cnn", [10, 56, 56]), ("resnet18", [3, 32, 32])] {
        let (model, spec) = common::model(kind, shape, 10);
        let bytes = common::export(&model, &spec);
        // 40 samples: two full batches of 16 and a padded one.
        let x = common::inputs(40, shape);
        let tract = logits(&bytes, Engine::Tract, &x, shape);
        let ort = logits(&bytes, Engine::OnnxRuntime(library.clone()), &x, shape);
        assert_eq!(tract.len(), 400);
        let diff = tract
            .iter()
            .zip(&ort)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-4,
            "{kind}: tract and onnxruntime differ by {diff}"
        );
    }
}

#[test]
fn a_missing_library_is_refused_by_its_path() {
    let (model, spec) = common::model("cnn", [1, 28, 28], 10);
    let bytes = common::export(&model, &spec);
    let limits = ValidationLimits {
        engine: Engine::OnnxRuntime("/nonexistent/libonnxruntime.so".into()),
        ..ValidationLimits::default()
    };
    let err = OnnxClassifier::load(&bytes, &ModelPolicy::default(), &limits, [1, 28, 28], 10)
        .err()
        .expect("no library, no engine");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/libonnxruntime.so"), "{text}");
}
