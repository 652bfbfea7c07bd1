//! The marketplace commands: `serve`, `admin`, `publish`, `tasks`, `status`, `fetch-model`,
//! `node`, `balance`, `ledger`.

use std::future::Future;

use anyhow::Context;
use archnet_lab::attack::audit::LeakageThresholds;
use archnet_market::admin::{self, AccountStore};
use archnet_market::client::Client;
use archnet_market::node::{self, NodeOptions, Trainer};
use archnet_market::publisher::{
    self, AuditGate, ContestOptions, PublishEvent, PublishOptions, Published,
};
use archnet_market::server::{self, ServerConfig};
use archnet_market::types::{CreateAccountRequest, Requirements, TaskInfo, TaskMode, TaskTable};

use crate::cli::{
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
    // The address is printed for scripts and tests that start the server on port 0.
    block_on(server::run(config, |address| {
        println!("listening on http://{address}")
    }))??;
    Ok(())
}

/// `archnet admin create-account`
pub fn create_account(args: &CreateAccountArgs) -> anyhow::Result<()> {
    let (database, data_dir) = (args.database.clone(), args.data_dir.clone());
    let store =
        AccountStore::from_flags(database, data_dir, args.server.clone(), args.token.clone())?;
    let request = CreateAccountRequest {
        name: args.name.clone(),
        role: args.role,
        credit: args.credit,
    };
    println!("{}", block_on(admin::create_account(&store, &request))??);
    Ok(())
}

/// `archnet publish`: returns the opened task.
pub fn publish(args: &PublishArgs) -> anyhow::Result<TaskInfo> {
    let options = PublishOptions {
        key: args.key.clone(),
        data: args.data.clone(),
        limit: args.limit,
        work_dir: args.work_dir.clone(),
        name: (args.name.clone()).unwrap_or_else(|| publisher::default_task_name(&args.data)),
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
        contest: (args.mode == TaskMode::Contest).then_some(ContestOptions {
            max_nodes: args.max_nodes,
            submission_limit: args.submission_limit,
        }),
        share_audit_picture: args.share_audit_picture,
    };
    let client = client(&args.connect)?;
    let mut printer = PublishPrinter::new();
    let published = publisher::publish(&client, &options, &mut |e| printer.event(e));
    printer.finish();
    let task = match published? {
        Published::Opened(task) => *task,
        Published::Refused(refusal) => anyhow::bail!("{refusal}"),
    };
    println!("{}", publisher::Opened(&task, &args.work_dir));
    Ok(task)
}

/// Shows a publish as it goes: the audit's stages on a spinner, the encryption and the upload
/// on bars, the audit and t1 as lines.
pub struct PublishPrinter {
    spinner: indicatif::ProgressBar,
    bar: Option<indicatif::ProgressBar>,
}

impl PublishPrinter {
    pub fn new() -> Self {
        PublishPrinter {
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
            PublishEvent::Uploaded(n) => self.bar.iter().for_each(|b| b.inc(n)),
            line => {
                self.spinner.finish_and_clear();
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                println!("{line}");
                if let PublishEvent::Prepared { .. } = line {
                    self.bar = Some(crate::progress::bytes_bar("upload"));
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

/// `archnet leaderboard TASK`
pub fn leaderboard(args: &StatusArgs) -> anyhow::Result<()> {
    let board = block_on(client(&args.connect)?.leaderboard(&args.task))??;
    println!("{board}");
    Ok(())
}

/// `archnet fetch-model TASK --out FILE`
pub fn fetch_model(args: &FetchModelArgs) -> anyhow::Result<()> {
    let client = client(&args.connect)?;
    println!(
        "{}",
        block_on(publisher::fetch_model(&client, &args.task, &args.out))??
    );
    Ok(())
}

/// `archnet node`
pub fn node(args: &NodeArgs) -> anyhow::Result<()> {
    let trainer = match &args.trainer {
        Some(cmd) => Trainer::External(cmd.clone()),
        None => Trainer::Builtin {
            model: args.model.clone(),
            config: args.recipe.config(0, None),
        },
    };
    let options = NodeOptions {
        work_dir: args.work_dir.clone(),
        capabilities: node::capabilities(args.cores, args.memory_mb, &args.backend),
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
    println!("{}", block_on(client(args)?.me())??);
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
