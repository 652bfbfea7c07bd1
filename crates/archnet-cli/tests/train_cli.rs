//! `archnet train` and `archnet evaluate` on plain and encrypted data.

mod common;

use common::{archnet_err, archnet_ok};

fn accuracy(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("accuracy: "))
        .expect("an accuracy line");
    line["accuracy: ".len()..]
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn trains_and_evaluates_on_plain_and_encrypted_data() {
    let t = tempfile::tempdir().unwrap();
    let sample = common::sample();
    let s = sample.to_str().unwrap();

    // Plain: 1,000 training images, validated on the 200 test images.
    let plain = t.path().join("plain");
    let out = archnet_ok(&[
        "train",
        "--model",
        "cnn",
        "--data",
        s,
        "--out",
        plain.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(out.contains("training cnn on 1000 plain samples of [1, 28, 28] (10 classes), validation: 200 samples"), "{out}");
    let csv = std::fs::read_to_string(plain.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let eval = archnet_ok(&["evaluate", "--model", plain.to_str().unwrap(), "--data", s]);
    assert!(eval.contains("on 200 samples"), "{eval}");
    assert!(
        accuracy(&eval) > 50.0,
        "well above the 10% of chance:\n{eval}"
    );

    // Encrypted: the same images through a small key.
    let key = t.path().join("k.key");
    common::train_auto_key(&sample, &key, &["--epochs", "2", "--eval-limit", "0"]);
    let enc = t.path().join("enc");
    archnet_ok(&[
        "encrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        s,
        "--out",
        enc.to_str().unwrap(),
    ]);
    let model = t.path().join("model-enc");
    let out = archnet_ok(&[
        "train",
        "--model",
        "cnn",
        "--data",
        enc.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(
        out.contains("857 encrypted samples of [4, 56, 56]"),
        "{out}"
    );
    let eval = archnet_ok(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        enc.to_str().unwrap(),
    ]);
    assert!(eval.contains("on 143 samples"), "{eval}");
    assert!(accuracy(&eval) > 30.0, "{eval}");

    // A model trained on ciphertexts refuses plain images (shape) …
    let e = archnet_err(&["evaluate", "--model", model.to_str().unwrap(), "--data", s]);
    assert!(
        e.contains("the model takes [4, 56, 56] samples but the data has [1, 28, 28]"),
        "{e}"
    );
    // … and an existing run is not overwritten without --resume.
    let e = archnet_err(&[
        "train",
        "--model",
        "cnn",
        "--data",
        s,
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert!(e.contains("pass --resume"), "{e}");
}
