//! The marketplace commands: `serve`, `admin`, `publish`, `tasks`, `status`, `fetch-model`,
//! `node`, `balance`, `ledger`.

use std::future::Future;

use anyhow::Context;
use archnet_market::client::Client;
use archnet_market::db::Db;
use archnet_market::node::{self, NodeOptions, Trainer};
use archnet_market::publisher::{self, AuditGate, PublishOptions};
use archnet_market::server::{self, AppState, ServerConfig};
use archnet_market::states::SubmissionState;
use archnet_market::timing;
use archnet_market::types::{
    AccountInfo, Balance, CreateAccountRequest, CreatedAccount, LedgerEntry, Requirements, Role,
    TaskInfo, ValidationReport,
};

use super::human_bytes;
use crate::market_cli::{
    ConnectArgs, CreateAccountArgs, FetchModelArgs, LedgerArgs, NodeArgs, PublishArgs, ServeArgs,
    StatusArgs,
};
use crate::progress::samples_bar;

/// Runs `future` to completion on a multi-threaded tokio runtime.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}

fn client(c: &ConnectArgs) -> anyhow::Result<Client> {
    Ok(Client::new(&c.server, &c.token)?)
}

/// The server settings: defaults, then the TOML file, then flags and variables.
pub fn server_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::from_toml_file(path)?,
        None => ServerConfig::default(),
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = &args.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &args.database {
        config.database = Some(v.clone());
    }
    if let Some(v) = &args.store {
        config.store = Some(v.clone());
    }
    if let Some(v) = args.lease_ttl_s {
        config.lease_ttl_s = v;
    }
    if let Some(v) = args.max_attempts {
        config.max_attempts = v;
    }
    if let Some(v) = args.rate_per_second {
        config.rate_per_second = v;
    }
    if let Some(v) = args.validation_claim_s {
        config.validation_claim_s = v;
    }
    config.check()?;
    Ok(config)
}

/// `archnet serve`
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    if args.print_openapi {
        println!("{}", server::openapi::document());
        return Ok(());
    }
    let config = server_config(args)?;
    block_on(async move {
        let listen = config.listen;
        let state = AppState::open(config).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(
            address = %listener.local_addr()?,
            database = state.db.backend().as_str(),
            store = state.store.describe(),
            "archnet server listening"
        );
        // Printed for scripts and tests that start the server on port 0.
        println!("listening on http://{}", listener.local_addr()?);
        server::serve(state, listener, shutdown_signal()).await?;
        tracing::info!("archnet server stopped");
        anyhow::Ok(())
    })?
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `archnet admin create-account`
pub fn create_account(args: &CreateAccountArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
    let created: CreatedAccount = block_on(async {
        if let Some(url) = args
            .database
            .clone()
            .or_else(|| args.data_dir.as_ref().map(|d| Db::sqlite_url(d)))
        {
            if let Some(dir) = &args.data_dir {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let db = Db::connect(&url).await?;
            let created = db.create_account(&args.name, role, args.credit).await?;
            db.close().await;
            anyhow::Ok(created)
        } else {
            let server = args.server.as_deref().unwrap_or("http://127.0.0.1:8750");
            let token = args.token.as_deref().context(
                "give --data-dir or --database to write the database directly, or --token with an admin token",
            )?;
            let request = CreateAccountRequest {
                name: args.name.clone(),
                role,
                credit: args.credit,
            };
            Ok(Client::new(server, token)?
                .post("/api/v1/accounts", &request)
                .await?)
        }
    })??;
    println!(
        "created {} account `{}` ({}) with {} credits",
        created.account.role, created.account.name, created.account.id, created.account.balance
    );
    println!("token (shown once, store it now): {}", created.token);
    Ok(())
}

/// `archnet publish`: returns the opened task.
pub fn publish(args: &PublishArgs) -> anyhow::Result<TaskInfo> {
    let min_accuracy = if args.min_accuracy > 1.0 {
        args.min_accuracy / 100.0
    } else {
        args.min_accuracy
    };
    let options = PublishOptions {
        key: args.key.clone(),
        data: args.data.clone(),
        limit: args.limit,
        work_dir: args.work_dir.clone(),
        name: args.name.clone().unwrap_or_else(|| {
            args.data
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "dataset".into())
        }),
        fee: args.fee,
        min_accuracy,
        deadline_s: args.deadline.map(|d| d.as_secs()),
        max_attempts: args.max_attempts,
        requirements: Requirements {
            min_cores: args.min_cores,
            min_memory_mb: args.min_memory_mb,
            backend: args.backend.clone(),
        },
        storage: args.storage,
        split: None,
        gate: AuditGate {
            thresholds: super::audit::thresholds(&args.leakage),
            accept_leakage: args.accept_leakage,
            ..AuditGate::default()
        },
    };
    // The audit's stages on a spinner, then the encryption on a bar once it starts.
    let spinner = crate::progress::spinner("audit");
    let mut bar = None;
    let prepared = publisher::prepare(
        &options,
        &mut |stage| spinner.set_message(stage.to_string()),
        &mut |n| {
            bar.get_or_insert_with(|| {
                spinner.finish_and_clear();
                samples_bar(0, "encrypt")
            })
            .inc(n as u64)
        },
    );
    spinner.finish_and_clear();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let t1_ms = super::audit::after_publish_audit(prepared?, &args.work_dir.join("audit.png"))?;
    println!(
        "encrypted locally into {} (t1 = key training + encryption = {:.1} s); the key stays here",
        args.work_dir.display(),
        t1_ms as f64 / 1000.0
    );
    let client = client(&args.connect)?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("upload {bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    let task = block_on(publisher::upload_and_open(&client, &options, &mut |n| {
        bar.inc(n)
    }))??;
    bar.finish_and_clear();
    println!(
        "task {} opened: `{}`, {} training / {} validation samples of {:?}, fee {} (in escrow), bar {:.1}%",
        task.id,
        task.name,
        task.train_samples,
        task.validation_samples,
        task.sample_shape,
        task.fee,
        100.0 * task.min_accuracy
    );
    println!(
        "the validation split stays on the server (nodes never receive it); a copy is in {}",
        publisher::split_dir(&args.work_dir, "validation").display()
    );
    Ok(task)
}

/// `archnet tasks`
pub fn tasks(args: &ConnectArgs) -> anyhow::Result<()> {
    let tasks: Vec<TaskInfo> = block_on(client(args)?.get("/api/v1/tasks"))??;
    println!(
        "{:<22} {:<11} {:>6} {:>7} {:>9}  name",
        "task", "state", "fee", "bar", "accuracy"
    );
    for t in &tasks {
        let accuracy = t
            .submissions
            .iter()
            .find(|s| s.state == SubmissionState::Accepted)
            .and_then(|s| s.accuracy)
            .map(|a| format!("{:.2}%", 100.0 * a))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<22} {:<11} {:>6} {:>6.1}% {:>9}  {}",
            t.id,
            t.state,
            t.fee,
            100.0 * t.min_accuracy,
            accuracy,
            t.name
        );
    }
    Ok(())
}

/// Prints a task with its leases, submissions and t0 breakdown.
pub fn print_task(t: &TaskInfo) {
    println!("task {} `{}`: {}", t.id, t.name, t.state);
    println!(
        "  fee {} credits, bar {:.2}%, attempts {}/{}, key {}, {} train / {} validation samples of {:?}",
        t.fee,
        100.0 * t.min_accuracy,
        t.attempts,
        t.max_attempts,
        t.key_id,
        t.train_samples,
        t.validation_samples,
        t.sample_shape
    );
    if let Some(f) = &t.failure {
        println!("  failed: {f}");
    }
    for l in &t.leases {
        let end = l.ended_ms.unwrap_or(l.expires_ms);
        println!(
            "  lease {} to node {}: {} ({:.1} s)",
            l.id,
            l.node_name,
            l.state,
            (end - l.created_ms) as f64 / 1000.0
        );
    }
    for s in &t.submissions {
        let detail = match (&s.accuracy, &s.report) {
            (Some(a), _) => format!("validation accuracy {:.2}%", 100.0 * a),
            (None, Some(ValidationReport::Refused { refused })) => format!("refused: {refused}"),
            (None, Some(ValidationReport::Ran(_))) => "ran, without an accuracy".into(),
            _ => "waiting for validation".into(),
        };
        let node = t
            .leases
            .iter()
            .find(|l| l.id == s.lease_id)
            .map_or(s.node.as_str(), |l| l.node_name.as_str());
        println!("  submission {} from {node}: {} ({detail})", s.id, s.state);
    }
    println!("time budget (§4.7):");
    println!("{}", timing::describe(&t.timing));
}

/// `archnet status TASK`
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let task: TaskInfo =
        block_on(client(&args.connect)?.get(&format!("/api/v1/tasks/{}", args.task)))??;
    print_task(&task);
    Ok(())
}

/// `archnet fetch-model TASK --out FILE`
pub fn fetch_model(args: &FetchModelArgs) -> anyhow::Result<()> {
    let client = client(&args.connect)?;
    let (bytes, task) = block_on(publisher::fetch_model(&client, &args.task, &args.out))??;
    println!(
        "wrote {} ({}): the model the server accepted",
        args.out.display(),
        human_bytes(bytes)
    );
    if let Some(s) = task
        .submissions
        .iter()
        .find(|s| s.state == SubmissionState::Accepted)
    {
        let run = match &s.report {
            Some(ValidationReport::Ran(run)) => Some(run),
            _ => None,
        };
        println!(
            "validation report: accuracy {:.2}% on {} encrypted validation samples ({} s)",
            100.0 * s.accuracy.unwrap_or(0.0),
            run.map_or(0, |r| r.samples),
            run.map(|r| format!("{:.1}", r.seconds))
                .unwrap_or_else(|| "?".into())
        );
    }
    Ok(())
}

/// `archnet node`
pub fn node(args: &NodeArgs) -> anyhow::Result<()> {
    let mut capabilities = node::detect_capabilities();
    if let Some(c) = args.cores {
        capabilities.cores = c;
    }
    if let Some(m) = args.memory_mb {
        capabilities.memory_mb = m;
    }
    capabilities.backends.extend(args.backend.iter().cloned());
    let trainer = match &args.trainer {
        Some(cmd) => Trainer::External(cmd.clone()),
        None => Trainer::Builtin {
            model: args.model.clone(),
            epochs: args.epochs,
            batch_size: args.batch_size.max(1),
            learning_rate: args.lr,
            seed: 0,
        },
    };
    let options = NodeOptions {
        work_dir: args.work_dir.clone(),
        capabilities,
        trainer,
        once: args.once,
        poll: std::time::Duration::from_secs(1),
        max_idle: args.max_idle,
    };
    let client = client(&args.connect)?;
    println!(
        "node offering {} cores, {} MiB, backends {:?} to {}",
        options.capabilities.cores,
        options.capabilities.memory_mb,
        options.capabilities.backends,
        client.base()
    );
    let outcomes = block_on(node::run(&client, &options))??;
    for o in &outcomes {
        match &o.submission {
            Some(s) => println!(
                "task {} (lease {}): submission {} {}{}",
                o.lease.task_id,
                o.lease.lease_id,
                s.id,
                s.state,
                s.accuracy
                    .map(|a| format!(" at {:.2}% validation accuracy", 100.0 * a))
                    .unwrap_or_default()
            ),
            None => println!(
                "task {} (lease {}): lease lost before the model was handed in",
                o.lease.task_id, o.lease.lease_id
            ),
        }
    }
    Ok(())
}

/// `archnet balance`
pub fn balance(args: &ConnectArgs) -> anyhow::Result<()> {
    let client = client(args)?;
    let (me, balance): (AccountInfo, Balance) = block_on(async {
        anyhow::Ok((
            client.get("/api/v1/me").await?,
            client.get("/api/v1/balance").await?,
        ))
    })??;
    println!(
        "{} `{}` ({}): {} credits",
        me.role, me.name, me.id, balance.balance
    );
    Ok(())
}

/// `archnet ledger`
pub fn ledger(args: &LedgerArgs) -> anyhow::Result<()> {
    let path = match &args.wallet {
        Some(w) => format!("/api/v1/ledger?wallet={w}"),
        None => "/api/v1/ledger".into(),
    };
    let entries: Vec<LedgerEntry> = block_on(client(&args.connect)?.get(&path))??;
    print_ledger(&entries);
    Ok(())
}

pub fn print_ledger(entries: &[LedgerEntry]) {
    for e in entries {
        println!(
            "{:<28} {:<32} {:>+8}  {}",
            e.tx_id, e.wallet, e.amount, e.memo
        );
    }
}
