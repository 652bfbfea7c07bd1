//! The ONNX hand-off end to end: a model trained on encrypted data is exported, validated by
//! tract on the encrypted test images, and used by the publisher on the plain images.

mod common;

use common::{archnet_err, archnet_ok};

fn accuracy_line(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("accuracy: "))
        .unwrap_or_else(|| panic!("an accuracy line in:\n{stdout}"))
        .to_string()
}

#[test]
fn export_validate_and_predict_agree() {
    let t = tempfile::tempdir().unwrap();
    let path = |name: &str| t.path().join(name).to_str().unwrap().to_string();
    let sample = common::sample();
    let s = sample.to_str().unwrap();
    let key = path("k.key");
    common::train_auto_key(
        &sample,
        t.path().join("k.key").as_path(),
        &["--epochs", "2", "--eval-limit", "0"],
    );

    // The node's side: train on the encrypted training images, export.
    archnet_ok(&["encrypt", "--key", &key, "--data", s, "--out", &path("enc")]);
    archnet_ok(&[
        "train",
        "--model",
        "cnn",
        "--data",
        &path("enc"),
        "--out",
        &path("model"),
        "--epochs",
        "2",
    ]);
    let out = archnet_ok(&[
        "export",
        "--model",
        &path("model"),
        "--out",
        &path("m.onnx"),
    ]);
    assert!(
        out.contains("taking input [N, 4, 56, 56] f32, giving logits [N, 10]"),
        "{out}"
    );

    // The server's side: tract on the 200 encrypted test images; burn must agree.
    let enc_test = path("enc-test");
    archnet_ok(&[
        "encrypt",
        "--key",
        &key,
        "--data",
        s,
        "--data-split",
        "test",
        "--split",
        "none",
        "--out",
        &enc_test,
    ]);
    let validated = archnet_ok(&[
        "validate",
        "--onnx",
        &path("m.onnx"),
        "--data",
        &enc_test,
        "--split",
        "train",
    ]);
    assert!(validated.contains("producer `archnet"), "{validated}");
    assert!(validated.contains("samples/s"), "{validated}");
    let evaluated = archnet_ok(&[
        "evaluate",
        "--model",
        &path("model"),
        "--data",
        &enc_test,
        "--split",
        "train",
    ]);
    assert_eq!(accuracy_line(&validated), accuracy_line(&evaluated));
    assert!(accuracy_line(&validated).ends_with("on 200 samples"));

    // The publisher's side: plain test images through E1 and the model, same accuracy.
    let predicted = archnet_ok(&[
        "predict",
        "--key",
        &key,
        "--onnx",
        &path("m.onnx"),
        "--data",
        s,
        "--data-split",
        "test",
        "--show",
        "3",
    ]);
    assert_eq!(accuracy_line(&predicted), accuracy_line(&validated));
    assert_eq!(
        predicted
            .lines()
            .filter(|l| l.starts_with("image "))
            .count(),
        3
    );
    assert!(predicted.contains("with confidence"), "{predicted}");
    let accuracy: f64 = accuracy_line(&predicted)["accuracy: ".len()..]
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(accuracy > 30.0, "well above the 10% of chance: {accuracy}");

    // Misuse is named: plain images to a model of ciphertexts, another key, a broken file.
    let err = archnet_err(&["validate", "--onnx", &path("m.onnx"), "--data", s]);
    assert!(err.contains("[N, 1, 28, 28]"), "{err}");
    let other_key = path("other.key");
    common::train_auto_key(
        &sample,
        t.path().join("other.key").as_path(),
        &[
            "--epochs",
            "1",
            "--limit",
            "64",
            "--eval-limit",
            "0",
            "--seed",
            "5",
        ],
    );
    let err = archnet_err(&[
        "predict",
        "--key",
        &other_key,
        "--onnx",
        &path("m.onnx"),
        "--data",
        s,
        "--data-split",
        "test",
    ]);
    assert!(err.contains("trained on data of key"), "{err}");
    let bytes = std::fs::read(path("m.onnx")).unwrap();
    std::fs::write(path("cut.onnx"), &bytes[..bytes.len() / 3]).unwrap();
    let err = archnet_err(&[
        "validate",
        "--onnx",
        &path("cut.onnx"),
        "--data",
        &enc_test,
        "--split",
        "train",
    ]);
    assert!(err.contains("not a valid ONNX model"), "{err}");
    let err = archnet_err(&[
        "validate",
        "--onnx",
        &path("m.onnx"),
        "--data",
        &enc_test,
        "--split",
        "train",
        "--max-model-mib",
        "0",
    ]);
    assert!(err.contains("refused"), "{err}");
}
