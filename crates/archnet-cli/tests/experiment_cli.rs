//! `archnet experiment table1 --budget quick` on the real MNIST.

mod common;

use common::{archnet_ok, shared_dataset};

/// A scratch folder and the folder holding the shared MNIST, or `None` without it.
fn scratch_with_mnist() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let mnist = shared_dataset("mnist")?;
    let root = mnist.parent().unwrap().to_path_buf();
    Some((tempfile::tempdir().unwrap(), root))
}

#[test]
fn table1_quick_on_mnist_writes_all_arms() {
    let Some((t, root)) = scratch_with_mnist() else {
        return;
    };
    let (out, work) = (t.path().join("results"), t.path().join("work"));
    let args = [
        "experiment",
        "table1",
        "--dataset",
        "mnist",
        "--budget",
        "quick",
        "--data-root",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ];
    archnet_ok(&args);
    let md = std::fs::read_to_string(out.join("table1-mnist.md")).unwrap();
    assert!(
        md.contains("Made by `archnet experiment table1 --dataset mnist --budget quick"),
        "{md}"
    );
    for row in [
        "| ArchNet |",
        "| RC4, one keystream over the dataset |",
        "| RC4, keystream restarted per image |",
        "| DP-SGD on original data, ε = ",
    ] {
        assert!(md.contains(row), "missing {row}:\n{md}");
    }
    assert!(
        md.contains("| 97.31% | 97.26% | 0.05% |"),
        "the paper's numbers beside ours:\n{md}"
    );
    let csv = std::fs::read_to_string(out.join("table1-mnist.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // 5 arms × 1 seed × epochs (2 for the trained arms, 1 for DP-SGD).
    assert_eq!(rows.len(), 4 * 2 + 1, "{csv}");
    let last_original: f64 = rows.iter().rfind(|r| r[2] == "original").unwrap()[6]
        .parse()
        .unwrap();
    assert!(
        last_original > 0.6,
        "AO {last_original} should be well above the 10% of chance"
    );
    let rc4: f64 = rows
        .iter()
        .find(|r| r[2] == "rc4-continuous" && r[4] == "2")
        .unwrap()[6]
        .parse()
        .unwrap();
    assert!(
        rc4 < 0.3,
        "continuous RC4 should leave near-chance accuracy, got {rc4}"
    );

    for figure in ["table1-mnist-curves.png", "table1-mnist-ec.png"] {
        let img = image::open(out.join(figure)).unwrap();
        assert_eq!((img.width(), img.height()), (900, 560), "{figure}");
    }

    // Run again: the key, ciphertexts and finished trainings are reused.
    let again = archnet_ok(&args);
    assert!(again.contains("| ArchNet |"));
    // Reused runs keep their training time (summed from their epochs), not the 0 s of reuse.
    let archnet_row = again
        .lines()
        .find(|l| l.starts_with("| archnet | 0 |"))
        .unwrap();
    let seconds: f64 = archnet_row
        .split('|')
        .nth(4)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(seconds > 0.0, "{archnet_row}");
    assert_eq!(
        std::fs::read_dir(work.join("archnet-seed0"))
            .unwrap()
            .count(),
        std::fs::read_dir(work.join("original-seed0"))
            .unwrap()
            .count()
    );
}

/// The privacy–utility curve on a tiny budget: every column is there, noise breaks linkability,
/// the look-alike attacker runs, and a rerun reuses the finished points.
#[test]
fn privacy_utility_tiny_on_mnist_measures_and_resumes() {
    let Some((t, root)) = scratch_with_mnist() else {
        return;
    };
    let (out, work) = (t.path().join("results"), t.path().join("work"));
    let args = [
        "experiment",
        "privacy-utility",
        "--dataset",
        "mnist",
        "--epsilons",
        "inf,4",
        "--pairs",
        "10,100",
        "--train-images",
        "600",
        "--test-images",
        "200",
        "--cnn-epochs",
        "1",
        "--seeds",
        "1",
        "--key-epochs",
        "2",
        "--inverter-steps",
        "40",
        "--data-root",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ];
    archnet_ok(&args);
    let md = std::fs::read_to_string(out.join("privacy-utility-mnist.md")).unwrap();
    for needle in [
        "| ∞ | 0.000 | none |",
        "| 4 | ",
        "| ∞ | ridge | 100 |",
        "| 4 | inverter | 10 |",
        "| 4 | look-alike key, learned map | 0 |",
        "| ∞ | class mean | 0 |",
    ] {
        assert!(md.contains(needle), "missing {needle}:\n{md}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("privacy-utility-mnist.json")).unwrap())
            .unwrap();
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let link = |i: usize| points[i]["linkability_tpr"].as_f64().unwrap();
    assert_eq!(link(0), 1.0, "without noise two encryptions are equal");
    assert!(
        link(1) < 0.5,
        "at ε = 4 two encryptions rarely match: {}",
        link(1)
    );
    let bound = points[1]["reidentification_bound"].as_f64().unwrap();
    assert!(bound > 0.0 && bound <= 1.0, "{bound}");
    for p in points {
        assert_eq!(p["lookalike"].as_array().unwrap().len(), 2, "{p}");
        assert!(p["cross_key_linkability"].as_f64().is_some(), "{p}");
    }
    let img = image::open(out.join("privacy-utility-mnist.png")).unwrap();
    assert!(img.width() > 0);

    // A rerun reuses both points and trains nothing.
    let again = common::archnet(&args);
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(log.matches("done earlier").count(), 2, "{log}");
    assert!(!log.contains("trained in"), "{log}");
}
