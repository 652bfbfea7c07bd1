//! ONNX from outside archnet: a PyTorch-made model validates, and hostile or unfitting models
//! are refused with a message naming the problem.

use std::path::Path;
use std::time::{Duration, Instant};

use archnet_data::{Split, open_dataset};
use archnet_model::classify::Samples;
use archnet_onnx::{ModelPolicy, OnnxClassifier, OnnxError, ValidationLimits, inspect, pb};
use prost::Message;

const MNIST: [usize; 3] = [1, 28, 28];

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/pytorch-mnist-cnn.onnx"
    ))
    .unwrap()
}

fn sample_test_split() -> Samples {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/mnist-sample");
    Samples::Plain(open_dataset(&root, Split::Test).unwrap())
}

fn load(bytes: &[u8], shape: [usize; 3], classes: usize) -> Result<OnnxClassifier, OnnxError> {
    OnnxClassifier::load(
        bytes,
        &ModelPolicy::default(),
        &ValidationLimits::default(),
        shape,
        classes,
    )
}

/// The error of a load that must fail, as text.
fn refusal(result: Result<OnnxClassifier, OnnxError>) -> String {
    match result {
        Ok(_) => panic!("the model was accepted"),
        Err(e) => e.to_string(),
    }
}

/// The fixture with `edit` applied to its protobuf.
fn edited(edit: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let mut proto = pb::ModelProto::decode(fixture().as_slice()).unwrap();
    edit(&mut proto);
    proto.encode_to_vec()
}

#[test]
fn pytorch_fixture_validates_with_the_accuracy_pytorch_measured() {
    let model = load(&fixture(), MNIST, 10).unwrap();
    assert_eq!(model.summary().input_name, "image");
    let report = model
        .validate(
            &sample_test_split(),
            &ValidationLimits::default(),
            Instant::now(),
        )
        .unwrap();
    assert_eq!(report.evaluation.count, 200);
    // make_pytorch_fixture.py printed 87.00% for PyTorch on these 200 images; allow one image
    // to fall the other way on float rounding.
    assert!(
        (report.evaluation.accuracy - 0.87).abs() <= 0.005 + 1e-9,
        "accuracy {}",
        report.evaluation.accuracy
    );
    let rows: usize = report.evaluation.confusion.iter().flatten().sum();
    assert_eq!(rows, 200);
}

#[test]
fn wrong_input_shape_is_named() {
    let message = refusal(load(&fixture(), [10, 56, 56], 10));
    assert!(
        message.contains("input `image` is [?, 1, 28, 28] but the samples are [N, 10, 56, 56]"),
        "{message}"
    );
}

#[test]
fn wrong_class_count_is_named() {
    let message = refusal(load(&fixture(), MNIST, 5));
    assert!(
        message.contains("expected [64, 5] (5 classes)"),
        "{message}"
    );
}

#[test]
fn truncated_empty_and_garbage_files_are_malformed() {
    let bytes = fixture();
    for (what, data) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("empty", Vec::new()),
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
    ] {
        match load(&data, MNIST, 10) {
            Err(OnnxError::Malformed(m)) => assert!(!m.is_empty(), "{what}"),
            Err(other) => panic!("{what}: wrong error {other}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
}

#[test]
fn oversized_model_is_refused_before_decoding() {
    let policy = ModelPolicy {
        max_bytes: 1000,
        ..ModelPolicy::default()
    };
    let message = inspect(&fixture(), &policy).unwrap_err().to_string();
    assert!(message.contains("the limit is 1000"), "{message}");
}

#[test]
fn operators_off_the_allow_list_are_refused() {
    let renamed = |op: &'static str, domain: &'static str| {
        edited(move |m| {
            let node = m
                .graph
                .as_mut()
                .unwrap()
                .node
                .iter_mut()
                .find(|n| n.op_type == "Relu");
            let node = node.unwrap();
            node.op_type = op.into();
            node.domain = domain.into();
        })
    };
    let message = refusal(load(&renamed("Loop", ""), MNIST, 10));
    assert!(message.contains("operator `Loop`"), "{message}");
    let message = refusal(load(&renamed("Relu", "com.example"), MNIST, 10));
    assert!(message.contains("custom domain"), "{message}");
}

#[test]
fn external_data_is_refused() {
    let bytes = edited(|m| {
        let weight = &mut m.graph.as_mut().unwrap().initializer[0];
        weight.data_location = Some(1);
        weight.external_data.push(pb::StringStringEntryProto {
            key: "location".into(),
            value: "/etc/passwd".into(),
        });
    });
    let message = refusal(load(&bytes, MNIST, 10));
    assert!(message.contains("refers to external data"), "{message}");
}

#[test]
fn time_and_memory_limits_stop_validation() {
    let limits = ValidationLimits {
        max_activation_bytes: 10_000,
        ..ValidationLimits::default()
    };
    let message = refusal(OnnxClassifier::load(
        &fixture(),
        &ModelPolicy::default(),
        &limits,
        MNIST,
        10,
    ));
    assert!(message.contains("intermediate tensors"), "{message}");

    let model = load(&fixture(), MNIST, 10).unwrap();
    let limits = ValidationLimits {
        max_duration: Duration::ZERO,
        ..ValidationLimits::default()
    };
    match model.validate(&sample_test_split(), &limits, Instant::now()) {
        Err(OnnxError::Timeout {
            done: 0,
            total: 200,
            ..
        }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn fuzz_found_zero_kernel_is_refused_before_tract() {
    // fuzz/ found this mutation of the PyTorch fixture: MaxPool kernel_shape [2, 0], on which
    // tract 0.23's padding arithmetic subtracts with overflow.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fuzz-maxpool-zero-kernel.onnx"
    ))
    .unwrap();
    let message = refusal(load(&bytes, MNIST, 10));
    assert!(
        message.contains("kernel_shape = 0, outside 1..=65536"),
        "{message}"
    );
}

#[test]
fn fuzz_found_dangling_outputs_are_malformed() {
    // fuzz/ found the fixture with its last node's output renamed, and with the graph output's
    // name emptied: either way the graph output names a tensor nothing produces, and tract 0.23
    // panics on a map lookup there.
    let renamed = edited(|m| {
        let graph = m.graph.as_mut().unwrap();
        graph.node.last_mut().unwrap().output[0] = "skores".into();
    });
    let emptied = edited(|m| m.graph.as_mut().unwrap().output[0].name.clear());
    for (bytes, name) in [(renamed, "scores"), (emptied, "")] {
        match load(&bytes, MNIST, 10) {
            Err(OnnxError::Malformed(m)) => assert!(
                m.contains(&format!("graph output `{name}` is not produced")),
                "{m}"
            ),
            other => panic!("expected a malformed-model error, got {:?}", other.err()),
        }
    }
}

#[test]
fn more_threads_give_the_same_logits() {
    let x: Vec<f32> = (0..64 * 784)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let logits = |threads: usize| {
        let limits = ValidationLimits {
            threads,
            ..ValidationLimits::default()
        };
        OnnxClassifier::load(&fixture(), &ModelPolicy::default(), &limits, MNIST, 10)
            .unwrap()
            .logits(&x, 64)
            .unwrap()
            .concat()
    };
    let (one, two) = (logits(1), logits(2));
    for (a, b) in one.iter().zip(&two) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}
