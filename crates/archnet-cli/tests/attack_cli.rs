//! `archnet attack known-plaintext` on a small `auto` key: the linear inverse from known pairs
//! recovers the victims far better than guessing, and the numbers and picture come out.

mod common;

use common::{archnet_ok, sample, train_auto_key};

#[test]
fn known_plaintext_ridge_attack_beats_guessing() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    train_auto_key(&sample(), &key, &["--epochs", "1", "--eval-limit", "50"]);
    let picture = dir.path().join("attack.png");
    let out = archnet_ok(&[
        "attack",
        "known-plaintext",
        "--key",
        key.to_str().unwrap(),
        "--data",
        sample().to_str().unwrap(),
        "--pairs",
        "300",
        "--victims",
        "50",
        "--picture",
        picture.to_str().unwrap(),
    ]);
    // "  50 victim images: A dB PSNR, SSIM s (guessing the mean image: B dB, SSIM t)"
    let line = out
        .lines()
        .find(|l| l.contains("victim images:"))
        .expect(&out);
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect();
    let (attack_db, guess_db) = (numbers[1], numbers[3]);
    assert!(attack_db > guess_db + 3.0, "{line}");
    assert!(picture.is_file());
}
