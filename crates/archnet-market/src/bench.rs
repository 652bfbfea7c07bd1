//! `archnet bench market`: one server on loopback driven by many simulated compute nodes that
//! lease tiny tasks, send heartbeats, list the training files and hand in a model, as fast as
//! the server lets them. Reports leases per second and latency percentiles per request, and
//! audits the outcome: no task leased twice at once, none lost, one payment per completed task,
//! a balanced ledger. Bounded in nodes, tasks and time; traffic stays on 127.0.0.1.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::client::Client;
use crate::db::Db;
use crate::error::{ClientError, Result};
use crate::publisher::{self, PublishOptions};
use crate::server::{AppState, LocalServer, ServerConfig};
use crate::states::TaskState;
use crate::testkit;
use crate::types::*;

/// The load to generate.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Simulated nodes, each a client with a token of its own.
    pub nodes: usize,
    /// Tiny tasks published and completed.
    pub tasks: usize,
    /// Heartbeats each node sends per lease.
    pub heartbeats: usize,
    /// The run stops after this long whatever its state.
    pub max_duration: Duration,
    /// Servers sharing the database and a blob folder, the nodes spread over them evenly (more
    /// than one needs PostgreSQL: SQLite is one process's file).
    pub replicas: usize,
}

/// `N simulated nodes, N tiny tasks, N heartbeats per lease, one server on 127.0.0.1`.
impl std::fmt::Display for BenchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} simulated nodes, {} tiny tasks, {} heartbeats per lease, {} on 127.0.0.1",
            self.nodes,
            self.tasks,
            self.heartbeats,
            match self.replicas {
                0 | 1 => "one server".to_string(),
                n => format!("{n} server replicas"),
            }
        )
    }
}

/// Latency percentiles of one kind of request, milliseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Requests timed.
    pub count: usize,
    /// The median.
    pub p50_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
}

/// What one run measured and found.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The set-up: the database engine (`sqlite`, `postgres`), with the replicas when more
    /// than one (`postgres, 2 replicas`).
    pub backend: String,
    /// Simulated nodes.
    pub nodes: usize,
    /// Tasks published.
    pub tasks: usize,
    /// Wall seconds until every task was decided.
    pub seconds: f64,
    /// Leases granted.
    pub leases: usize,
    /// From the start to the last lease granted.
    pub leasing_seconds: f64,
    /// Leases granted per second while leasing went on.
    pub leases_per_second: f64,
    /// Tasks completed.
    pub completed: usize,
    /// Payments in the ledger.
    pub payments: usize,
    /// Requests that failed.
    pub errors: usize,
    /// Latency per kind of request.
    pub latency: BTreeMap<&'static str, Latency>,
    /// Every broken invariant; empty when the run is sound.
    pub problems: Vec<String>,
}

/// The report as `archnet bench market` prints it: throughput, then latency per request.
impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self;
        writeln!(
            f,
            "{}: {} leases granted in {:.1} s = {:.1} leases/s; all {} tasks validated and decided in {:.1} s ({:.1}/s)",
            r.backend,
            r.leases,
            r.leasing_seconds,
            r.leases_per_second,
            r.tasks,
            r.seconds,
            r.tasks as f64 / r.seconds.max(1e-9)
        )?;
        writeln!(
            f,
            "  {} completed, {} payments, {} request errors",
            r.completed, r.payments, r.errors
        )?;
        write!(
            f,
            "  {:<13} {:>7} {:>9} {:>9} {:>9}",
            "request", "count", "p50 ms", "p99 ms", "max ms"
        )?;
        for (what, l) in &r.latency {
            write!(
                f,
                "\n  {what:<13} {:>7} {:>9.1} {:>9.1} {:>9.1}",
                l.count, l.p50_ms, l.p99_ms, l.max_ms
            )?;
        }
        for p in &r.problems {
            write!(f, "\n  PROBLEM: {p}")?;
        }
        Ok(())
    }
}

type Samples = Arc<Mutex<BTreeMap<&'static str, Vec<f64>>>>;

async fn timed<T>(
    samples: &Samples,
    what: &'static str,
    f: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let out = f.await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    samples.lock().await.entry(what).or_default().push(ms);
    out
}

/// Runs the load on SQLite, then, when `postgres` names a PostgreSQL server, on a fresh database
/// `archnet_bench` there (emptied first) with one server and again with two replicas. Hands
/// each report to `on_report` as it is made.
pub async fn run_backends(
    postgres: Option<&str>,
    options: &BenchOptions,
    on_report: &mut dyn FnMut(&BenchReport),
) -> Result<Vec<BenchReport>> {
    let one = BenchOptions {
        replicas: 1,
        ..options.clone()
    };
    let mut reports = vec![run(None, &one).await?];
    on_report(&reports[0]);
    if let Some(server) = postgres {
        for replicas in [1, 2] {
            let url = crate::db::fresh_postgres_database(server, "archnet_bench").await?;
            let these = BenchOptions {
                replicas,
                ..options.clone()
            };
            reports.push(run(Some(url), &these).await?);
            on_report(reports.last().expect("just pushed"));
        }
    }
    Ok(reports)
}

/// The reports of several runs as one Markdown table, a row per set-up and node count, with how
/// leases/s and p99 lease latency grow from the smallest node count of the same set-up.
pub fn markdown_table(reports: &[BenchReport]) -> String {
    let lat = |r: &BenchReport, what: &str, f: fn(&Latency) -> f64| {
        r.latency
            .get(what)
            .map_or("–".to_string(), |l| format!("{:.0}", f(l)))
    };
    let mut md = String::from(
        "| set-up | nodes | tasks | leases/s | validated/s | lease p50 / p99 ms | heartbeat p50 / p99 ms | submit p50 / p99 ms | p99 lease vs fewest nodes | invariants |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let base = reports
            .iter()
            .filter(|b| b.backend == r.backend)
            .min_by_key(|b| b.nodes)
            .expect("r itself");
        let p99 = |b: &BenchReport| b.latency.get("lease").map(|l| l.p99_ms);
        let growth = match (p99(r), p99(base)) {
            (Some(a), Some(b)) if b > 0.0 && base.nodes != r.nodes => format!(
                "{:.1}× at {:.1}× the nodes",
                a / b,
                r.nodes as f64 / base.nodes as f64
            ),
            _ => "–".into(),
        };
        md += &format!(
            "| {} | {} | {} | {:.1} | {:.1} | {} / {} | {} / {} | {} / {} | {growth} | {} |\n",
            r.backend,
            r.nodes,
            r.tasks,
            r.leases_per_second,
            r.tasks as f64 / r.seconds.max(1e-9),
            lat(r, "lease", |l| l.p50_ms),
            lat(r, "lease", |l| l.p99_ms),
            lat(r, "heartbeat", |l| l.p50_ms),
            lat(r, "heartbeat", |l| l.p99_ms),
            lat(r, "submit", |l| l.p50_ms),
            lat(r, "submit", |l| l.p99_ms),
            if r.problems.is_empty() {
                "clean".to_string()
            } else {
                format!("{} broken", r.problems.len())
            }
        );
    }
    md
}

/// Runs the load against a fresh server on `database` (`None`: SQLite in a temporary folder;
/// a PostgreSQL URL is used as given, so pass an empty database).
// Why one function: one load test, set up, run and audited against the same database; its pieces
// (`publish_first`, `simulated_node`, the database audits) are functions of their own.
pub async fn run(database: Option<String>, options: &BenchOptions) -> Result<BenchReport> {
    let dir = tempfile::tempdir().map_err(|e| ClientError::io(std::env::temp_dir(), e))?;
    let replicas = options.replicas.max(1);
    if replicas > 1 && database.is_none() {
        return Err(ClientError::Options(
            "replicas share a PostgreSQL database: pass its URL".into(),
        ));
    }
    let blobs = dir.path().join("blobs");
    std::fs::create_dir_all(&blobs).map_err(|e| ClientError::io(&blobs, e))?;
    let mut servers = Vec::new();
    let mut db = None;
    for r in 0..replicas {
        let config = ServerConfig {
            data_dir: dir.path().join(format!("server-{r}")),
            database: database.clone(),
            // One blob folder for every replica, as a shared bucket would be.
            store: Some(format!("file://{}", blobs.display())),
            // The load test measures the server, not the per-token limit.
            rate_per_second: 100_000,
            rate_burst: 100_000,
            lease_ttl_s: 30,
            reaper_interval_ms: 200,
            ..ServerConfig::default()
        };
        let state = AppState::open(config).await?;
        db.get_or_insert_with(|| state.db.clone());
        servers.push(LocalServer::start(state).await?);
    }
    let db = db.expect("at least one replica");
    let backend = match replicas {
        1 => db.backend().as_str().to_string(),
        n => format!("{}, {n} replicas", db.backend().as_str()),
    };
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let url = urls[0].clone();

    let publisher_token = db
        .create_account("bench-publisher", Role::Publisher, options.tasks as i64)
        .await?
        .token;
    let publisher_client = Client::new(&url, &publisher_token)?;
    let first = publish_first(&publisher_client, dir.path()).await?;
    let train_files = db.task_files(&first.id, "train").await?;
    let validation_files = db.task_files(&first.id, "validation").await?;
    for i in 1..options.tasks {
        let req = CreateTaskRequest {
            name: format!("tiny-{i}"),
            fee: 1,
            min_accuracy: 0.01,
            max_attempts: Some(1),
            deadline_s: None,
            requirements: Requirements::default(),
            mode: TaskMode::First,
            max_nodes: None,
            submission_limit: None,
            train_files: train_files.clone(),
            validation_files: validation_files.clone(),
            t1_ms: 0,
            upload_ms: 0,
            audit: None,
            audit_picture: None,
        };
        publisher_client.create_task(&req).await?;
    }

    let model = dir.path().join("model.onnx");
    let bytes = tokio::task::spawn_blocking(testkit::tiny_model)
        .await
        .map_err(|source| ClientError::Stopped {
            what: "exporting the tiny model",
            source,
        })??;
    std::fs::write(&model, bytes).map_err(|e| ClientError::io(&model, e))?;

    let started = Instant::now();
    let shared = Shared {
        samples: Arc::default(),
        leases: Arc::new(AtomicUsize::new(0)),
        last_lease: Arc::new(Mutex::new(started)),
        errors: Arc::new(AtomicUsize::new(0)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let mut nodes = Vec::new();
    for i in 0..options.nodes {
        let token = db
            .create_account(&format!("bench-node-{i}"), Role::Node, 0)
            .await?
            .token;
        let mut client = Client::new(&urls[i % urls.len()], &token)?;
        client.retry_for = Duration::from_secs(10);
        nodes.push(tokio::spawn(simulated_node(
            client,
            model.clone(),
            options.heartbeats,
            shared.clone(),
        )));
    }
    // Wait until every task is decided, or the time is up.
    let deadline = started + options.max_duration;
    let mut decided = 0;
    while Instant::now() < deadline {
        decided = count_tasks(&db, &[TaskState::Completed, TaskState::Failed]).await?;
        if decided == options.tasks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::SeqCst);
    for n in nodes {
        let _ = n.await;
    }

    let mut problems = db.overlapping_leases().await?;
    problems.extend(db.audit_ledger().await?);
    let all = db.tasks(None).await?;
    if all.len() != options.tasks {
        problems.push(format!(
            "{} tasks published, {} in the database",
            options.tasks,
            all.len()
        ));
    }
    if decided < options.tasks {
        problems.push(format!(
            "{} of {} tasks undecided after {seconds:.0} s",
            options.tasks - decided,
            options.tasks
        ));
    }
    let completed = count_tasks(&db, &[TaskState::Completed]).await?;
    let payments = db
        .ledger(None)
        .await?
        .iter()
        .filter(|e| e.tx_id.starts_with("pay:") && e.amount > 0)
        .count();
    if payments != completed {
        problems.push(format!(
            "{completed} tasks completed but {payments} payments made"
        ));
    }
    // The audit above is the verdict; how the servers shut down does not change it.
    for server in servers {
        let _ = server.stop().await;
    }
    db.close().await;

    let latency = shared
        .samples
        .lock()
        .await
        .iter_mut()
        .map(|(k, v)| (*k, percentiles(v)))
        .collect();
    let leases = shared.leases.load(Ordering::SeqCst);
    let leasing_seconds = (*shared.last_lease.lock().await - started).as_secs_f64();
    Ok(BenchReport {
        backend,
        nodes: options.nodes,
        tasks: options.tasks,
        seconds,
        leases,
        leasing_seconds,
        leases_per_second: leases as f64 / leasing_seconds.max(1e-9),
        completed,
        payments,
        errors: shared.errors.load(Ordering::SeqCst),
        latency,
        problems,
    })
}

async fn publish_first(client: &Client, dir: &std::path::Path) -> Result<TaskInfo> {
    let work = dir.join("publish");
    testkit::tiny_dataset(&work, 64, 32)?;
    let options = PublishOptions {
        name: "tiny-0".into(),
        fee: 1,
        max_attempts: Some(1),
        ..testkit::tiny_publish_options(&work)
    };
    publisher::upload_and_open(client, &options, &mut |_| {}).await
}

async fn count_tasks(db: &Db, states: &[TaskState]) -> Result<usize> {
    Ok(db
        .tasks(None)
        .await?
        .iter()
        .filter(|t| states.contains(&t.state))
        .count())
}

/// What the simulated nodes share: latency samples, counters and the stop flag.
#[derive(Clone)]
struct Shared {
    samples: Samples,
    leases: Arc<AtomicUsize>,
    last_lease: Arc<Mutex<Instant>>,
    errors: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

// Why one function: one simulated node's loop (lease, heartbeat, list, submit, wait) with its
// timings, as a real node does it.
async fn simulated_node(
    client: Client,
    model: std::path::PathBuf,
    heartbeats: usize,
    shared: Shared,
) {
    let Shared {
        samples,
        leases,
        last_lease,
        errors,
        stop,
    } = shared;
    let caps = LeaseRequest {
        capabilities: Capabilities {
            cores: 1,
            memory_mb: 1024,
            backends: vec!["flex".into()],
        },
    };
    let upload = match timed(
        &samples,
        "upload model",
        client.upload_file(&model, "model.onnx", None, &mut |_| {}),
    )
    .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!("bench node: upload: {e}");
            errors.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let asked = Instant::now();
        let grant = client.lease(&caps).await;
        let ms = asked.elapsed().as_secs_f64() * 1000.0;
        let kind = if matches!(grant, Ok(Some(_))) {
            "lease"
        } else {
            "lease (none)"
        };
        samples.lock().await.entry(kind).or_default().push(ms);
        let grant = match grant {
            Ok(Some(g)) => g,
            Ok(None) => {
                // An idle node polls about once a second, as `archnet node` does.
                tokio::time::sleep(Duration::from_millis(1000)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("bench node: lease: {e}");
                errors.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        };
        leases.fetch_add(1, Ordering::SeqCst);
        *last_lease.lock().await = Instant::now();
        let lease = grant.lease_id;
        let outcome: Result<()> = async {
            for _ in 0..heartbeats {
                timed(&samples, "heartbeat", client.heartbeat(&lease)).await?;
            }
            timed(&samples, "list files", client.lease_files(&lease)).await?;
            let req = SubmitRequest {
                upload_id: upload.id.clone(),
                download_ms: 0,
                train_ms: 0,
                upload_ms: 0,
            };
            timed(&samples, "submit", client.submit(&lease, &req)).await?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!("bench node: lease {lease}: {e}");
            errors.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn percentiles(v: &mut [f64]) -> Latency {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Latency {
        count: v.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: *v.last().unwrap_or(&0.0),
    }
}
