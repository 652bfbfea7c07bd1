//! `archnet quickstart`, the README's main command, runs the whole story on the embedded sample.

mod common;

#[test]
fn quickstart_tells_the_whole_story() {
    let work = tempfile::tempdir().unwrap();
    let out = common::archnet_ok(&["quickstart", "--work-dir", work.path().to_str().unwrap()]);
    for step in 1..=8 {
        assert!(
            out.contains(&format!("== {step}. ")),
            "step {step} missing:\n{out}"
        );
    }
    // The server's validation and the publisher's prediction each print an accuracy line.
    let accuracies: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("accuracy: "))
        .collect();
    assert_eq!(accuracies.len(), 2, "{out}");
    assert!(accuracies.iter().all(|l| l.ends_with("samples")), "{out}");
    assert!(out.contains("with confidence"), "{out}");
    assert!(out.contains("What it does not"), "{out}");
    assert!(work.path().join("node-model.onnx").is_file());
}
