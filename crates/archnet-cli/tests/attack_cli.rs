//! The attack suite and the leakage audit on small `auto` keys trained on the committed sample:
//! known-plaintext inverters recover the victims far better than guessing and a judge recognises
//! them; the ciphertext-only attacks run and report linkability; `archnet audit` fails when its
//! thresholds are exceeded and passes when they are not.

mod common;

use common::{archnet_err, archnet_ok, sample, train_auto_key};

/// `archnet attack KIND --key KEY --data <the sample> EXTRA…` as arguments.
fn attack_args<'a>(kind: &'a str, key: &'a std::path::Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "attack",
        kind,
        "--key",
        key.to_str().unwrap(),
        "--data",
        SAMPLE.as_str(),
    ];
    args.extend_from_slice(extra);
    args
}

/// The committed sample's path, as a string the argument lists can borrow.
static SAMPLE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sample().to_str().unwrap().to_string());

/// The numbers of the attack line that starts with `name` (after the name itself):
/// PSNR, SSIM, recognised %, seconds.
fn attack_numbers(out: &str, name: &str) -> Vec<f64> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(name))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{out}"));
    line.trim_start()[name.len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The first number after `marker` on the line containing it.
fn number_after(out: &str, marker: &str) -> f64 {
    let at = out
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{out}"))
        + marker.len();
    out[at..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|t| t.parse().ok())
        .unwrap()
}

#[test]
fn known_plaintext_inverters_recover_recognisable_images() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    train_auto_key(&sample(), &key, &["--epochs", "2", "--eval-limit", "50"]);
    let picture = dir.path().join("attack.png");
    let out = archnet_ok(&attack_args(
        "known-plaintext",
        &key,
        &[
            "--pairs",
            "10,100",
            "--victims",
            "100",
            "--inverter-steps",
            "300",
            "--judge-epochs",
            "8",
            "--picture",
            picture.to_str().unwrap(),
        ],
    ));
    let guess_db = number_after(&out, "guessing the mean image: ");
    let truth = number_after(&out, "the judge recognises ");
    let ridge = attack_numbers(&out, "ridge map, 100 pairs");
    let net = attack_numbers(&out, "inverter net, 100 pairs");
    assert!(ridge[0] > guess_db + 3.0, "ridge: {out}");
    assert!(net[0] > guess_db + 8.0, "inverter: {out}");
    // The inverter's reconstructions are recognised about as often as the true images.
    assert!(net[2] > 0.8 * truth, "inverter recognition: {out}");
    assert!(
        attack_numbers(&out, "inverter net, 10 pairs")[0] > guess_db + 3.0,
        "{out}"
    );
    // What must stay hidden leaks: the inverter's reconstructions point back at their own
    // victims far above chance (1%) and above the class-mean image's floor.
    let floor = number_after(&out, "image (free to anyone holding the labels): ");
    assert!(floor > 0.0, "{out}");
    let reidentified = number_after(
        out.lines()
            .rev()
            .find(|l| l.trim_start().starts_with("inverter net, 100 pairs"))
            .unwrap(),
        "re-identified ",
    );
    assert!(reidentified > 50.0, "inverter re-identification: {out}");
    assert!(
        out.contains("chance: re-identification 1.0% among all 100 victims"),
        "{out}"
    );
    assert!(picture.is_file());

    // Randomised encryption (noise) is measured by the same command.
    let noisy = archnet_ok(&attack_args(
        "known-plaintext",
        &key,
        &[
            "--pairs",
            "100",
            "--methods",
            "ridge",
            "--victims",
            "100",
            "--judge-epochs",
            "1",
            "--noise",
            "3",
        ],
    ));
    assert!(noisy.contains("randomised encryption"), "{noisy}");
    assert!(
        attack_numbers(&noisy, "ridge map, 100 pairs")[0] < ridge[0],
        "noise should cost the ridge attack some quality:\n{noisy}"
    );

    let err = archnet_err(&attack_args("known-plaintext", &key, &["--pairs", "5000"]));
    assert!(err.contains("5000 pairs"), "{err}");
}

#[test]
fn ciphertext_only_attacks_and_linkability_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("victim.key");
    let lookalike = dir.path().join("attacker.key");
    train_auto_key(&sample(), &key, &["--epochs", "1", "--eval-limit", "0"]);
    train_auto_key(
        &sample(),
        &lookalike,
        &[
            "--epochs",
            "1",
            "--eval-limit",
            "0",
            "--seed",
            "7",
            "--limit",
            "500",
        ],
    );
    let out = archnet_ok(&attack_args(
        "ciphertext-only",
        &key,
        &[
            "--victims",
            "60",
            "--judge-epochs",
            "1",
            "--lookalike",
            lookalike.to_str().unwrap(),
            "--public-data",
            SAMPLE.as_str(),
            "--public-limit",
            "300",
        ],
    ));
    // E1 is deterministic: the same image encrypts to the same ciphertext.
    assert_eq!(
        number_after(&out, "encrypted twice with this key: "),
        100.0,
        "{out}"
    );
    assert!(
        out.contains("under the attacked key and the look-alike key"),
        "{out}"
    );
    for name in [
        "probe (best of 8)",
        "look-alike, as is",
        "look-alike, cycle-aligned",
    ] {
        assert!(out.contains(name), "no `{name}` in:\n{out}");
    }
    let err = archnet_err(&attack_args(
        "ciphertext-only",
        &key,
        &[
            "--lookalike",
            key.to_str().unwrap(),
            "--public-data",
            SAMPLE.as_str(),
        ],
    ));
    assert!(err.contains("is the attacked key itself"), "{err}");
}

#[test]
fn the_audit_fails_above_its_thresholds_and_passes_below() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    train_auto_key(&sample(), &key, &["--epochs", "1", "--eval-limit", "0"]);
    let picture = dir.path().join("audit.png");
    let data = sample();
    let base = [
        "audit",
        "--key",
        key.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit",
        "400",
    ];
    let mut strict = base.to_vec();
    strict.extend(["--picture", picture.to_str().unwrap()]);
    let err = archnet_err(&strict);
    assert!(err.contains("exceeds the thresholds"), "{err}");
    let full = common::archnet(&strict);
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(stderr.contains("inverter net, 100 pairs: "), "{stderr}");
    assert!(picture.is_file());
    let mut lenient = base.to_vec();
    lenient.extend(["--max-reidentification", "100", "--max-ssim-gain", "1"]);
    let out = archnet_ok(&lenient);
    assert!(out.contains("leakage audit of key"), "{out}");
    assert!(out.contains("guarantee: none"), "{out}");
}

#[test]
fn a_strongly_noised_private_key_passes_the_default_gate() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.key");
    let data = sample();
    let trained = archnet_ok(&[
        "key",
        "train",
        "--preset",
        "private",
        "--epsilon",
        "1",
        "--epochs",
        "2",
        "--data",
        data.to_str().unwrap(),
        "--out",
        key.to_str().unwrap(),
    ]);
    assert!(trained.contains("noise σ"), "{trained}");
    let info = archnet_ok(&["key", "info", key.to_str().unwrap()]);
    assert!(
        info.contains("(1.000, 1e-5)-differentially private"),
        "{info}"
    );
    assert!(info.contains("no decoder D1"), "{info}");
    let out = archnet_ok(&[
        "audit",
        "--key",
        key.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit",
        "400",
    ]);
    assert!(
        out.contains("guarantee: (1.000, 1e-5)-DP per image"),
        "{out}"
    );
    assert!(out.contains("inverter net, 100 pairs"), "{out}");
}
