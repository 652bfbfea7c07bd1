//! The dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs) driven over WebDriver. A publisher opens a
//! contest named `<script>alert(1)</script>`, two nodes hand in models on loopback, and the
//! browser signs in as the publisher (the leaderboard shows both nodes, and after the deadline
//! the winner), as a node and as an admin; the name renders as text and no alert opens.
//!
//! `ARCHNET_UPDATE_SCREENSHOTS=1` writes the pages' screenshots to `docs/` (committed, shown in
//! the README). Without chromedriver the test says SKIPPED, except under CI, where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use archnet_market::client::Client;
use archnet_market::db::{Db, now_ms};
use archnet_market::server::{AppState, LocalServer, ServerConfig};
use archnet_market::types::*;
use archnet_market::{publisher, testkit};
use fantoccini::{ClientBuilder, Locator};

const XSS: &str = "<script>alert(1)</script>";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn start_driver(program: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            // Root in a container: no sandbox; a small /dev/shm: no shared memory.
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Where screenshots go: `docs/` when asked to update them, else a temporary folder.
fn shot(browser_png: Vec<u8>, name: &str, scratch: &Path) {
    let dir = if std::env::var_os("ARCHNET_UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
    } else {
        scratch.to_path_buf()
    };
    let path = dir.join(name);
    std::fs::write(&path, browser_png).unwrap();
    // A real picture: PNG magic and more than a blank page's few bytes.
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{}",
        path.display()
    );
}

/// Clicks the element at `css` and waits for the page to show `then`.
async fn click_then_wait(b: &fantoccini::Client, css: &str, then: &str) {
    let element = b.find(Locator::Css(css)).await;
    element
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css(then))
        .await
        .unwrap_or_else(|e| panic!("after clicking {css}, no {then}: {e}"));
}

async fn sign_in(b: &fantoccini::Client, server: &str, token: &str) {
    b.goto(&format!("{server}/")).await.unwrap();
    if b.find(Locator::Css("header form button")).await.is_ok() {
        // Signing out loads the sign-in page: wait for it rather than race the navigation.
        click_then_wait(b, "header form button", "input[name=token]").await;
    }
    let field = b.find(Locator::Css("input[name=token]")).await.unwrap();
    field.send_keys(token).await.unwrap();
    click_then_wait(b, "form.signin button", "header .who").await;
    assert!(
        !b.current_url().await.unwrap().as_str().contains(token),
        "the token never goes in a URL"
    );
}

async fn text(b: &fantoccini::Client, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn hand_in(c: &Client, dir: &Path) {
    let model = testkit::tiny_model().unwrap();
    let lease = testkit::hand_in(c, &model, dir).await.unwrap();
    assert!(lease.is_some(), "a contest slot");
}

async fn wait_board(c: &Client, task: &str, f: impl Fn(&Leaderboard) -> bool) {
    let mut board = c.leaderboard(task).await.unwrap();
    for _ in 0..1200 {
        if f(&board) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        board = c.leaderboard(task).await.unwrap();
    }
    panic!("the leaderboard never got there: {board}");
}

// Why one function: one browser session walks the three roles' pages in the order a contest
// makes them interesting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_headless_chromium() {
    let Some(program) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (.ci/run does)"
        );
        eprintln!("SKIPPED: no chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: dir.path().join("server"),
        reaper_interval_ms: 100,
        ..ServerConfig::default()
    };
    let state = AppState::open(config).await.unwrap();
    let db: Db = state.db.clone();
    let server = LocalServer::start(state).await.unwrap();
    let url = server.url.clone();
    let token = |name: &str, role: Role, credit: i64| {
        let db = db.clone();
        let name = name.to_string();
        async move { db.create_account(&name, role, credit).await.unwrap().token }
    };
    let publisher = token("lab-publisher", Role::Publisher, 50).await;
    let nodes = [
        token("node-a", Role::Node, 0).await,
        token("node-b", Role::Node, 0).await,
    ];
    let admin = token("operator", Role::Admin, 0).await;

    let work = dir.path().join("publish");
    testkit::tiny_dataset(&work, 40, 200).unwrap();
    testkit::tiny_audit(&work).unwrap();
    let options = publisher::PublishOptions {
        key: "unused".into(),
        data: "unused".into(),
        limit: None,
        work_dir: work.clone(),
        name: XSS.into(),
        fee: 10,
        min_accuracy: 0.01,
        deadline_s: Some(3600),
        max_attempts: None,
        requirements: Requirements::default(),
        storage: archnet_data::encrypted::Storage::F32,
        split: None,
        gate: Default::default(),
        contest: Some(publisher::ContestOptions {
            max_nodes: Some(4),
            submission_limit: Some(2),
        }),
        share_audit_picture: true,
    };
    let pc = Client::new(&url, &publisher).unwrap();
    let task = publisher::upload_and_open(&pc, &options, &mut |_| {})
        .await
        .unwrap();
    for n in &nodes {
        hand_in(&Client::new(&url, n).unwrap(), dir.path()).await;
    }
    wait_board(&pc, &task.id, |b| {
        b.entries.len() == 2 && b.entries.iter().all(|e| e.state == SubmissionState::Scored)
    })
    .await;

    let driver = start_driver(&program);
    let b = browser(&driver).await;
    let shots = dir.path();

    // The publisher: the XSS name as text, then the task page with both nodes on the board.
    sign_in(&b, &url, &publisher).await;
    assert_eq!(text(&b, "main table td a").await, XSS);
    assert!(b.get_alert_text().await.is_err(), "no alert opened");
    click_then_wait(&b, "main table td a", "#leaderboard").await;
    let board = text(&b, "#leaderboard").await;
    assert!(
        board.contains("node-a") && board.contains("node-b"),
        "{board}"
    );
    assert!(text(&b, "main h2").await.contains(XSS));
    assert!(b.get_alert_text().await.is_err(), "no alert opened");
    b.find(Locator::Id("timeline"))
        .await
        .expect("the t0 timeline");
    // The audit sent at publish: its numbers, and its picture loaded (an image that failed to
    // load would keep no size of its own).
    let audit = text(&b, "#audit").await;
    assert!(audit.contains("test data: ridge, 100 pairs"), "{audit}");
    assert!(audit.contains("class-mean image"), "{audit}");
    let picture = b.find(Locator::Id("audit-picture")).await.unwrap();
    let width = b
        .execute(
            "return arguments[0].naturalWidth",
            vec![serde_json::to_value(&picture).unwrap()],
        )
        .await
        .unwrap();
    assert!(
        width.as_u64().is_some_and(|w| w > 64),
        "the audit picture loads: naturalWidth {width}"
    );

    // The deadline comes (moved to now rather than waited for): the winner shows.
    sqlx::query("UPDATE tasks SET deadline_ms = $1 WHERE id = $2")
        .bind(now_ms() - 1)
        .bind(&task.id)
        .execute(db.pool())
        .await
        .unwrap();
    wait_board(&pc, &task.id, |b| b.settled).await;
    b.refresh().await.unwrap();
    b.wait()
        .for_element(Locator::Id("leaderboard"))
        .await
        .unwrap();
    let board = text(&b, "#leaderboard").await;
    assert!(
        board.contains("accepted") && board.contains("rejected"),
        "{board}"
    );
    let first_row = text(&b, "#leaderboard tr:nth-child(2)").await;
    assert!(
        first_row.starts_with('1') && first_row.contains("accepted"),
        "{first_row}"
    );
    shot(b.screenshot().await.unwrap(), "dashboard-task.png", shots);

    // A node: its submission, rank and balance.
    sign_in(&b, &url, &nodes[0]).await;
    let page = text(&b, "main").await;
    assert!(
        page.contains("Your submissions") && page.contains("Balance"),
        "{page}"
    );
    shot(b.screenshot().await.unwrap(), "dashboard-node.png", shots);

    // The admin: the ledger balanced, both nodes seen, the task listed.
    sign_in(&b, &url, &admin).await;
    let page = text(&b, "main").await;
    assert!(page.contains("Balanced"), "{page}");
    assert!(page.contains("node-a") && page.contains("node-b"), "{page}");
    assert!(page.contains(XSS), "{page}");
    shot(b.screenshot().await.unwrap(), "dashboard-admin.png", shots);

    b.close().await.unwrap();
    server.stop().await.unwrap();
}
