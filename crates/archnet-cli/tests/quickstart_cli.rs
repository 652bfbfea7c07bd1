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

/// `GET path` over a plain socket on `url` (`http://127.0.0.1:PORT`): the whole answer.
fn get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// The contest variant: two nodes compete, the leaderboard shows both (private scores hidden
/// from a node before the deadline), the best private score is paid once, the dashboard answers
/// while the server runs, and `--keep-serving` keeps it up until Ctrl-C (SIGINT).
#[test]
fn quickstart_contest_shows_the_leaderboard_and_keeps_serving_until_ctrl_c() {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_archnet"))
        .args(["quickstart", "--contest", "--keep-serving", "--work-dir"])
        .arg(work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(work.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    let mut dashboard = None;
    let mut lines = stdout.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("dashboard: ") {
            dashboard = rest.split_whitespace().next().map(str::to_string);
        }
        if line.contains("press Ctrl-C to stop") {
            break;
        }
    }
    let url = dashboard.unwrap_or_else(|| panic!("a dashboard line:\n{out}"));
    let url = url.trim_end_matches('/').to_string();
    assert!(out.contains("press Ctrl-C to stop"), "{out}");
    // Still serving: the sign-in page answers.
    let page = get(&url, "/");
    let status_line = page.lines().next().unwrap_or("");
    assert!(status_line.ends_with(" 200 OK"), "{page}");
    assert!(page.contains("name=\"token\""), "{page}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for line in lines {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{out}");

    // Before the deadline a node sees public scores only; after it, the publisher sees both
    // nodes ranked and the winner accepted.
    let (before, after) = out
        .split_once("as the publisher sees it:")
        .unwrap_or_else(|| panic!("two leaderboards:\n{out}"));
    let node_view = &before[before.find("as node A sees it:").expect("a node's view")..];
    assert!(
        node_view.contains("private scores hidden until"),
        "{node_view}"
    );
    for node in ["node-a", "node-b"] {
        assert!(node_view.contains(node), "{node_view}");
        assert!(after.contains(node), "{after}");
    }
    assert!(after.contains("settled"), "{after}");
    assert!(after.contains("accepted"), "{after}");
    // Exactly one payment of the fee, to the node the summary names.
    let paid = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("two nodes competed; ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("the summary names the winner:\n{out}"));
    assert!(
        out.contains(&format!("balance of {paid}: 10 credits")),
        "{out}"
    );
    assert!(out.contains("balance of publisher: 90 credits"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("pay:")).count(),
        2,
        "{out}"
    );
    assert!(work.path().join("delivered.onnx").is_file());
}
