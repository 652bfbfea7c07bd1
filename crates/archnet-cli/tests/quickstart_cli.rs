//! `archnet quickstart`, the README's main command, runs the whole story on the embedded sample:
//! a marketplace with a publisher and two nodes, one of which dies mid-task.

mod common;

#[test]
fn quickstart_tells_the_whole_story() {
    let work = tempfile::tempdir().unwrap();
    let out = common::archnet_ok(&["quickstart", "--work-dir", work.path().to_str().unwrap()]);
    for step in 1..=10 {
        assert!(
            out.contains(&format!("== {step}. ")),
            "step {step} missing:\n{out}"
        );
    }
    assert!(out.contains("node A killed (SIGKILL) mid-task"), "{out}");
    assert!(out.contains("node B's model accepted"), "{out}");
    // One payment, to the node that finished; the publisher paid the fee once.
    assert!(out.contains("balance of node-b: 10 credits"), "{out}");
    assert!(out.contains("balance of node-a: 0 credits"), "{out}");
    assert!(out.contains("balance of publisher: 90 credits"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("pay:")).count(),
        2,
        "{out}"
    );
    // The t0 breakdown, with the dead node's lease counted as lost time.
    assert!(out.contains("t0 = t1 + 4·t2 + t3 + t4"), "{out}");
    assert!(out.contains(": expired"), "{out}");
    // The publisher's prediction with the delivered model.
    let accuracies: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("accuracy: "))
        .collect();
    assert_eq!(accuracies.len(), 1, "{out}");
    assert!(out.contains("with confidence"), "{out}");
    assert!(out.contains("What it does not"), "{out}");
    assert!(
        out.contains("leakage audit of key"),
        "the audit before publishing: {out}"
    );
    assert!(work.path().join("delivered.onnx").is_file());
}
