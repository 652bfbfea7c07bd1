//! Untrusted models run in the server's sandbox (`archnet sandbox-validate`, a child process
//! with an address-space limit, a CPU-time limit, a wall-clock kill and no network). Models
//! built to exhaust memory and to run for ever are refused with a report that says so, while
//! the server keeps serving and a sound model after them is validated and paid.

use std::time::Duration;

use archnet_market::client::Client;
use archnet_market::db::Db;
use archnet_market::publisher::{self, PublishOptions};
use archnet_market::server::{AppState, LocalServer, ServerConfig};
use archnet_market::testkit;
use archnet_market::types::*;
use archnet_onnx::pb;
use prost::Message;

const FLOAT: i32 = 1;

fn tensor(name: &str, dims: &[i64], fill: f32) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: vec![fill; dims.iter().product::<i64>() as usize],
        ..Default::default()
    }
}

fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => Value::DimValue(*n),
                None => Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A classifier of the tiny tasks' 1×8×8 samples into two classes: `body` maps `input` to a
/// tensor `features` of `width` channels; average pooling and a linear layer follow.
fn classifier(
    mut body: Vec<pb::NodeProto>,
    mut weights: Vec<pb::TensorProto>,
    width: i64,
) -> Vec<u8> {
    body.push(node("GlobalAveragePool", &["features"], "pooled", vec![]));
    body.push(node("Flatten", &["pooled"], "flat", vec![]));
    body.push(node("Gemm", &["flat", "head", "bias"], "logits", vec![]));
    weights.push(tensor("head", &[width, 2], 0.01));
    weights.push(tensor("bias", &[2], 0.0));
    let [c, h, w] = testkit::TINY_SHAPE.map(|d| Some(d as i64));
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "hostile".into(),
            node: body,
            initializer: weights,
            input: vec![value("input", &[None, c, h, w])],
            output: vec![value("logits", &[None, Some(2)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// One 1×1 convolution to 262,144 channels: a few MB of weights, but 4 GiB of activations for
/// one batch of 64 samples.
fn memory_blowup() -> Vec<u8> {
    let channels = 1 << 18;
    classifier(
        vec![node("Conv", &["input", "wide"], "features", vec![])],
        vec![tensor("wide", &[channels, 1, 1, 1], 0.5)],
        channels,
    )
}

/// 2,000 3×3 convolutions of 64 channels in a row, all sharing one small weight: about 600
/// GFLOP for the first batch, far past a second of CPU time.
fn endless() -> Vec<u8> {
    let conv = |input: &str, weight: &str, output: &str| {
        node(
            "Conv",
            &[input, weight],
            output,
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        )
    };
    let mut body = vec![conv("input", "first", "x0")];
    let depth = 2000;
    for i in 0..depth {
        let out = if i + 1 == depth {
            "features".to_string()
        } else {
            format!("x{}", i + 1)
        };
        body.push(conv(&format!("x{i}"), "shared", &out));
    }
    classifier(
        body,
        vec![
            tensor("first", &[64, 1, 3, 3], 0.1),
            tensor("shared", &[64, 64, 3, 3], 0.01),
        ],
        64,
    )
}

async fn hand_in(node: &Client, model: &[u8], dir: &std::path::Path) -> SubmissionInfo {
    let lease = testkit::hand_in(node, model, dir)
        .await
        .unwrap()
        .expect("a task to lease");
    for _ in 0..1200 {
        let s = node.submission(&lease).await.unwrap();
        if matches!(
            s.state,
            SubmissionState::Accepted | SubmissionState::Rejected
        ) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no verdict for lease {lease}");
}

fn refusal(s: &SubmissionInfo) -> String {
    match &s.report {
        Some(ValidationReport::Refused { refused }) => refused.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_models_are_refused_in_the_sandbox_while_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: dir.path().join("server"),
        reaper_interval_ms: 100,
        sandbox_program: Some(env!("CARGO_BIN_EXE_archnet").into()),
        validation_max_address_space_mib: 1024,
        // The run's own checks are loosened so that only the process limits can stop these
        // models: tract's estimate of its memory, and the time it checks between batches.
        validation_max_memory_mib: 1 << 20,
        validation_max_s: 1,
        validators: 1,
        ..ServerConfig::default()
    };
    let state = AppState::open(config).await.unwrap();
    let db: Db = state.db.clone();
    let server = LocalServer::start(state).await.unwrap();
    let publisher = db
        .create_account("pub", Role::Publisher, 100)
        .await
        .unwrap()
        .token;
    let node = db
        .create_account("node", Role::Node, 0)
        .await
        .unwrap()
        .token;
    let node = Client::new(&server.url, &node).unwrap();
    let work = dir.path().join("task");
    testkit::tiny_dataset(&work, 40, 200).unwrap();
    let options = PublishOptions {
        name: "hostile models".into(),
        max_attempts: Some(5),
        ..testkit::tiny_publish_options(&work)
    };
    let pc = Client::new(&server.url, &publisher).unwrap();
    let task = publisher::upload_and_open(&pc, &options, &mut |_| {})
        .await
        .unwrap();

    let blown = hand_in(&node, &memory_blowup(), dir.path()).await;
    let why = refusal(&blown);
    eprintln!("memory blow-up: {why}");
    assert!(
        why.contains("ran out of memory") && why.contains("1024 MiB"),
        "{why}"
    );
    assert!(node.me().await.is_ok(), "the server still answers");

    let slow = hand_in(&node, &endless(), dir.path()).await;
    let why = refusal(&slow);
    eprintln!("endless model: {why}");
    assert!(
        why.contains("CPU time") || why.contains("wall-clock"),
        "{why}"
    );
    assert!(node.me().await.is_ok(), "the server still answers");

    // A sound model after them is validated as usual, and paid once.
    let sound = hand_in(&node, &testkit::tiny_model().unwrap(), dir.path()).await;
    assert_eq!(sound.state, SubmissionState::Accepted, "{sound:?}");
    assert_eq!(node.balance().await.unwrap().balance, 10);
    let task = pc.task(&task.id).await.unwrap();
    assert_eq!(task.attempts, 2, "{task}");
    assert!(db.audit_ledger().await.unwrap().is_empty());
    server.stop().await.unwrap();
}
