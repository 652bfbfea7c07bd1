//! The marketplace commands: `serve`, `admin`, `publish`, `tasks`, `status`, `fetch-model`,
//! `node`, `balance`, `ledger`.

use std::future::Future;

use anyhow::Context;
use archnet_lab::attack::audit::LeakageThresholds;
use archnet_market::admin::{self, AccountStore};
use archnet_market::client::Client;
use archnet_market::node::{self, NodeOptions, Trainer};
use archnet_market::publisher::{self, AuditGate, PublishEvent, PublishOptions, Published};
use archnet_market::server::{self, ServerConfig};
use archnet_market::types::{CreateAccountRequest, Requirements, Role, TaskInfo, TaskTable};

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

/// `archnet serve`
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    if args.print_openapi {
        println!("{}", server::openapi::document());
        return Ok(());
    }
    let config = ServerConfig::layered(args.config.as_deref(), args)?;
    block_on(server::run(config, |address, state| {
        tracing::info!(
            %address,
            database = state.db.backend().as_str(),
            store = state.store.describe(),
            "archnet server listening"
        );
        // Printed for scripts and tests that start the server on port 0.
        println!("listening on http://{address}");
    }))??;
    tracing::info!("archnet server stopped");
    Ok(())
}

/// `archnet admin create-account`
pub fn create_account(args: &CreateAccountArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
    let store = match (&args.database, &args.data_dir) {
        (Some(url), data_dir) => AccountStore::Database {
            url: url.clone(),
            data_dir: data_dir.clone(),
        },
        (None, Some(dir)) => AccountStore::data_dir(dir.clone()),
        (None, None) => AccountStore::Server {
            url: args.server.clone().unwrap_or_else(|| "http://127.0.0.1:8750".into()),
            token: args.token.clone().context(
                "give --data-dir or --database to write the database directly, or --token with an admin token",
            )?,
        },
    };
    let request = CreateAccountRequest {
        name: args.name.clone(),
        role,
        credit: args.credit,
    };
    let created = block_on(admin::create_account(&store, &request))??;
    println!(
        "created {} account `{}` ({}) with {} credits",
        created.account.role, created.account.name, created.account.id, created.account.balance
    );
    println!("token (shown once, store it now): {}", created.token);
    Ok(())
}

/// `archnet publish`: returns the opened task.
pub fn publish(args: &PublishArgs) -> anyhow::Result<TaskInfo> {
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
        min_accuracy: args.min_accuracy,
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
            thresholds: LeakageThresholds {
                max_reidentification: args.leakage.max_reidentification,
                max_ssim_gain: args.leakage.max_ssim_gain,
            },
            accept_leakage: args.accept_leakage,
            ..AuditGate::default()
        },
    };
    let client = client(&args.connect)?;
    let mut printer = PublishPrinter::new(args.accept_leakage);
    let published = publisher::publish(&client, &options, &mut |e| printer.event(e));
    printer.finish();
    let task = match published? {
        Published::Opened(task) => *task,
        Published::Refused(audit) => {
            let picture = args.work_dir.join(publisher::AUDIT_PICTURE);
            return Err(super::audit::refused(&audit, &picture));
        }
    };
    println!("{}", publisher::Opened(&task, &args.work_dir));
    Ok(task)
}

/// Shows a publish as it goes: the audit's stages on a spinner, the encryption and the upload
/// on bars, the audit and t1 as lines.
pub struct PublishPrinter {
    accept_leakage: bool,
    spinner: indicatif::ProgressBar,
    bar: Option<indicatif::ProgressBar>,
}

impl PublishPrinter {
    pub fn new(accept_leakage: bool) -> Self {
        PublishPrinter {
            accept_leakage,
            spinner: crate::progress::spinner("audit"),
            bar: None,
        }
    }

    pub fn event(&mut self, event: PublishEvent) {
        match event {
            PublishEvent::AuditStage(stage) => self.spinner.set_message(stage.to_string()),
            PublishEvent::Encrypted(n) => {
                let spinner = &self.spinner;
                self.bar
                    .get_or_insert_with(|| {
                        spinner.finish_and_clear();
                        samples_bar(0, "encrypt")
                    })
                    .inc(n as u64)
            }
            PublishEvent::Audited(audit) => {
                self.spinner.finish_and_clear();
                super::audit::show_publish_audit(audit, self.accept_leakage);
            }
            PublishEvent::Prepared { t1_ms, work_dir } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                println!(
                    "encrypted locally into {} (t1 = key training + encryption = {:.1} s); the key stays here",
                    work_dir.display(),
                    t1_ms as f64 / 1000.0
                );
                self.bar = Some(
                    indicatif::ProgressBar::new(0).with_style(
                        indicatif::ProgressStyle::with_template("upload {bytes} {bytes_per_sec}")
                            .expect("valid template"),
                    ),
                );
            }
            PublishEvent::Uploaded(n) => {
                if let Some(b) = &self.bar {
                    b.inc(n)
                }
            }
        }
    }

    pub fn finish(self) {
        self.spinner.finish_and_clear();
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// `archnet tasks`
pub fn tasks(args: &ConnectArgs) -> anyhow::Result<()> {
    let tasks = block_on(client(args)?.tasks())??;
    println!("{}", TaskTable(&tasks));
    Ok(())
}

/// `archnet status TASK`
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let task = block_on(client(&args.connect)?.task(&args.task))??;
    println!("{task}");
    Ok(())
}

/// `archnet fetch-model TASK --out FILE`
pub fn fetch_model(args: &FetchModelArgs) -> anyhow::Result<()> {
    let client = client(&args.connect)?;
    let (bytes, task) = block_on(publisher::fetch_model(&client, &args.task, &args.out))??;
    let delivered = publisher::Delivered {
        out: &args.out,
        bytes,
        task: &task,
    };
    println!("{delivered}");
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
            epochs: args.recipe.epochs,
            batch_size: args.recipe.batch_size.max(1),
            learning_rate: args.recipe.lr,
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
        "node offering {} to {}",
        options.capabilities,
        client.base()
    );
    let outcomes = block_on(node::run(&client, &options))??;
    for o in &outcomes {
        println!("{o}");
    }
    Ok(())
}

/// `archnet balance`
pub fn balance(args: &ConnectArgs) -> anyhow::Result<()> {
    let client = client(args)?;
    let (me, balance) =
        block_on(async { anyhow::Ok((client.me().await?, client.balance().await?)) })??;
    println!(
        "{} `{}` ({}): {} credits",
        me.role, me.name, me.id, balance.balance
    );
    Ok(())
}

/// `archnet ledger`
pub fn ledger(args: &LedgerArgs) -> anyhow::Result<()> {
    let entries = block_on(client(&args.connect)?.ledger(args.wallet.as_deref()))??;
    for e in &entries {
        println!("{e}");
    }
    Ok(())
}
