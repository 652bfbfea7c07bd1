//! One function per subcommand, over library types.

mod attack;
mod audit;
mod bench;
mod classify;
mod crypt;
mod data;
mod experiment;
mod key;
pub mod market;
mod onnx;
mod quickstart;
mod visualize;

use crate::cli::{
    AdminCommand, AttackCommand, BenchCommand, Cli, Command, DataCommand, ExperimentCommand,
    KeyCommand,
};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Data(DataCommand::Inspect { path, split }) => data::inspect(&path, split),
        Command::Key(KeyCommand::Train(args)) => key::train(&key::job(&args)).map(|_| ()),
        Command::Key(KeyCommand::Info { key }) => key::info(&key),
        Command::Encrypt(args) => crypt::encrypt(&args).map(|_| ()),
        Command::Decrypt(args) => crypt::decrypt(&args).map(|_| ()),
        Command::Visualize(args) => visualize::run(&args),
        Command::Train(args) => classify::train(&args),
        Command::Evaluate(args) => classify::evaluate(&args),
        Command::Export(args) => onnx::export(&args),
        Command::Validate(args) => onnx::validate(&args),
        Command::Predict(args) => onnx::predict(&args),
        Command::Experiment(ExperimentCommand::Table1(args)) => experiment::table1(&args),
        Command::Experiment(ExperimentCommand::PrivacyUtility(args)) => {
            experiment::privacy_utility(&args)
        }
        Command::Quickstart(args) => quickstart::run(&args),
        Command::Serve(args) => market::serve(&args),
        Command::Admin(AdminCommand::CreateAccount(args)) => market::create_account(&args),
        Command::Publish(args) => market::publish(&args).map(|_| ()),
        Command::Tasks(args) => market::tasks(&args),
        Command::Status(args) => market::status(&args),
        Command::Leaderboard(args) => market::leaderboard(&args),
        Command::FetchModel(args) => market::fetch_model(&args),
        Command::Node(args) => market::node(&args),
        Command::Balance(args) => market::balance(&args),
        Command::Ledger(args) => market::ledger(&args),
        Command::Bench(BenchCommand::Market(args)) => bench::market(&args),
        Command::Bench(BenchCommand::Workload(args)) => bench::workload(&args),
        Command::Attack(AttackCommand::KnownPlaintext(args)) => attack::known_plaintext(&args),
        Command::Attack(AttackCommand::CiphertextOnly(args)) => attack::ciphertext_only(&args),
        Command::Audit(args) => audit::run(&args),
        Command::SandboxValidate { job } => {
            std::process::exit(archnet_market::server::sandbox::child_main(&job))
        }
    }
}
