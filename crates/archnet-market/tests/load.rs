//! The load test's machinery at a small scale, as a test: simulated nodes against one server
//! on SQLite (and PostgreSQL when `ARCHNET_TEST_POSTGRES` is set) must leave no task leased
//! twice at once, none lost, one payment per completed task and a balanced ledger. The full
//! run (`archnet bench market`, 200 nodes) is a benchmark, not a test.

use std::time::Duration;

use archnet_market::bench::{self, BenchOptions};

fn options() -> BenchOptions {
    BenchOptions {
        nodes: 24,
        tasks: 40,
        heartbeats: 1,
        max_duration: Duration::from_secs(240),
        replicas: 1,
    }
}

fn check(report: &bench::BenchReport) {
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.completed, 40);
    assert_eq!(report.payments, 40);
    assert_eq!(
        report.leases, 40,
        "one lease per task: no submission was rejected"
    );
    assert!(report.latency.contains_key("lease") && report.latency.contains_key("submit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_nodes_on_sqlite_lose_nothing_and_pay_once() {
    check(&bench::run(None, &options()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_nodes_on_postgres_lose_nothing_and_pay_once() {
    let Ok(server) = std::env::var("ARCHNET_TEST_POSTGRES") else {
        eprintln!("SKIPPED: ARCHNET_TEST_POSTGRES is not set (CI starts PostgreSQL and sets it)");
        return;
    };
    let url = archnet_market::db::fresh_postgres_database(&server, "archnet_load_test")
        .await
        .unwrap();
    check(&bench::run(Some(url), &options()).await.unwrap());
    // The same load through two replicas sharing the database and the blobs.
    let url = archnet_market::db::fresh_postgres_database(&server, "archnet_load_test")
        .await
        .unwrap();
    let two = BenchOptions {
        replicas: 2,
        ..options()
    };
    let report = bench::run(Some(url), &two).await.unwrap();
    assert_eq!(report.backend, "postgres, 2 replicas");
    check(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_without_postgres_are_refused_by_name() {
    let two = BenchOptions {
        replicas: 2,
        ..options()
    };
    let err = bench::run(None, &two).await.err().unwrap();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
}
