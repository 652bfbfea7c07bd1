//! Key files, `key info`, and encrypt → decrypt runs, on the committed sample and on real MNIST.

mod common;

use std::path::Path;

use common::{archnet_err, archnet_ok, shared_dataset};

/// Trains a small `auto` key on `data`; returns its stdout.
fn train_key(data: &Path, out: &Path, epochs: &str, limit: &str) -> String {
    let extra = [
        "--limit",
        limit,
        "--epochs",
        epochs,
        "--batch-size",
        "32",
        "--eval-limit",
        "100",
    ];
    common::train_auto_key(data, out, &extra)
}

fn mean_psnr(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.contains("mean PSNR"))
        .expect("a PSNR line");
    let after = line.split("mean PSNR ").nth(1).unwrap();
    after.split(" dB").next().unwrap().parse().unwrap()
}

#[test]
fn key_file_is_private_and_described_by_key_info() {
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("k.key");
    let out = train_key(&common::sample(), &key, "1", "200");
    assert!(out.contains("written to"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let info = archnet_ok(&["key", "info", key.to_str().unwrap()]);
    for field in [
        "key id:",
        "preset:        auto",
        "shapes:        plain [1, 28, 28] → ciphertext [4, 56, 56]",
        "parameters:    E1 5060 + D1 2737",
        "recipe fast, bce loss, lr 0.001, batch 32",
        "fingerprint:",
        "reconstruction: mean PSNR",
        "created:",
    ] {
        assert!(info.contains(field), "missing `{field}` in:\n{info}");
    }
    // A file that is not a key is refused with a clear message.
    let e = archnet_err(&[
        "key",
        "info",
        common::sample().join("README.md").to_str().unwrap(),
    ]);
    assert!(e.contains("invalid key file"), "{e}");
    // An existing checkpoint is not silently overwritten.
    let sample = common::sample();
    let e = archnet_err(&common::auto_key_args(
        &sample,
        &key,
        &["--limit", "200", "--eval-limit", "0"],
    ));
    assert!(e.contains("pass --resume"), "{e}");
}

#[test]
fn encrypt_decrypt_round_trip_and_refusals() {
    let t = tempfile::tempdir().unwrap();
    let sample = common::sample();
    let key = t.path().join("k.key");
    train_key(&sample, &key, "3", "1000");
    let enc = t.path().join("enc");
    let out = archnet_ok(&[
        "encrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        sample.to_str().unwrap(),
        "--out",
        enc.to_str().unwrap(),
    ]);
    assert!(out.contains("train: 857 samples"), "{out}");
    assert!(out.contains("validation: 143 samples"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["splits"]["validation"]["source_offset"], 857);
    assert!(
        !std::fs::read_to_string(enc.join("manifest.json"))
            .unwrap()
            .contains("weight"),
        "the key never goes into the data"
    );

    let dec = t.path().join("dec");
    let out = archnet_ok(&[
        "decrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        enc.to_str().unwrap(),
        "--out",
        dec.to_str().unwrap(),
        "--reference",
        sample.to_str().unwrap(),
    ]);
    assert!(out.contains("decrypted 1000 images"), "{out}");
    assert!(mean_psnr(&out) > 15.0, "{out}");
    assert!(dec.join("validation/000142.png").exists());
    assert_eq!(
        std::fs::read_to_string(dec.join("labels.csv"))
            .unwrap()
            .lines()
            .count(),
        1001
    );

    // The picture of the encryption: 6 rows (original, 3 channels, RGB view, reconstruction) of 8.
    let vis = t.path().join("vis");
    archnet_ok(&[
        "visualize",
        "--key",
        key.to_str().unwrap(),
        "--data",
        sample.to_str().unwrap(),
        "--out",
        vis.to_str().unwrap(),
    ]);
    let grid = image::open(vis.join("encryption-grid.png")).unwrap();
    // 330 + 8 × (56·3 + 4) + 4 wide; 40 + 6 × (56·3 + 4) + 4 high.
    assert_eq!((grid.width(), grid.height()), (1710, 1076));

    // Wrong key: refused before anything is written.
    let other = t.path().join("other.key");
    common::train_auto_key(
        &sample,
        &other,
        &["--limit", "64", "--seed", "7", "--eval-limit", "0"],
    );
    let dec2 = t.path().join("dec2");
    let e = archnet_err(&[
        "decrypt",
        "--key",
        other.to_str().unwrap(),
        "--data",
        enc.to_str().unwrap(),
        "--out",
        dec2.to_str().unwrap(),
    ]);
    assert!(
        e.contains("wrong key: the data was encrypted with key"),
        "{e}"
    );
    assert!(!dec2.exists());

    // Corrupted shard: checksum error, nothing half-written.
    let shard = enc.join("validation-00000.safetensors");
    let mut bytes = std::fs::read(&shard).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&shard, bytes).unwrap();
    let e = archnet_err(&[
        "decrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        enc.to_str().unwrap(),
        "--out",
        dec2.to_str().unwrap(),
    ]);
    assert!(
        e.contains("validation-00000.safetensors: checksum mismatch"),
        "{e}"
    );
    assert!(!dec2.exists());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().ends_with(".partial")),
        "{leftovers:?}"
    );

    // Shape mismatch: a CIFAR-shaped image folder against an MNIST-shaped key.
    let rgb = t.path().join("rgb");
    std::fs::create_dir_all(rgb.join("cat")).unwrap();
    image::RgbImage::new(32, 32)
        .save(rgb.join("cat/1.png"))
        .unwrap();
    let e = archnet_err(&[
        "encrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        rgb.to_str().unwrap(),
        "--out",
        dec2.to_str().unwrap(),
    ]);
    assert!(
        e.contains("the key takes [1, 28, 28] images but the data is [3, 32, 32]"),
        "{e}"
    );
    assert!(!dec2.exists());
}

#[test]
fn real_mnist_encrypt_decrypt() {
    let Some(mnist) = shared_dataset("mnist") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("mnist.key");
    let out = train_key(&mnist, &key, "2", "3000");
    assert!(mean_psnr(&out) > 20.0, "held-out PSNR too low:\n{out}");
    let enc = t.path().join("enc");
    archnet_ok(&[
        "encrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        mnist.to_str().unwrap(),
        "--data-split",
        "test",
        "--limit",
        "700",
        "--storage",
        "f16",
        "--out",
        enc.to_str().unwrap(),
    ]);
    let dec = t.path().join("dec");
    let out = archnet_ok(&[
        "decrypt",
        "--key",
        key.to_str().unwrap(),
        "--data",
        enc.to_str().unwrap(),
        "--out",
        dec.to_str().unwrap(),
        "--reference",
        mnist.to_str().unwrap(),
        "--reference-split",
        "test",
    ]);
    assert!(out.contains("decrypted 700 images"), "{out}");
    assert!(mean_psnr(&out) > 20.0, "{out}");
}
