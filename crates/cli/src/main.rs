//! `poco`: the command-line tool of the poco marketplace.
// the CLI prints its output; the doc comments of its clap arguments are help text, where
// `[default: <x>]` is neither a link nor an HTML tag
#![allow(
    clippy::disallowed_macros,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]

mod commands;
mod config;
mod context;
mod files;
mod hints;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::{Context, GlobalOpts};

/// poco: a decentralized marketplace for computing. Requesters buy task executions from
/// workerpools and pay in RLC; app and dataset owners are paid per use. Orders are signed with
/// EIP-712 and matched on chain by the hub.
///
/// Start with `poco devnet start`: a local chain with poco deployed, funded named accounts
/// (use them with --account NAME) and a chain configuration every other command reads.
#[derive(Parser, Debug)]
#[command(
    name = "poco",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Environment:\n  POCO_HOME             poco's folder: chain.json, the devnet's state [default: ~/.poco]\n  \
                  POCO_WALLET_PASSWORD  the keystore password (else --password-file, else a prompt)\n  \
                  POCO_PRIVATE_KEY      a raw private key instead of a keystore (automation)\n  \
                  POCO_LOG              log filter on stderr, e.g. debug or poco_chain=trace"
)]
struct Cli {
    #[command(flatten)]
    opts: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A local chain with poco deployed: start, stop, status, advance-time.
    #[command(subcommand)]
    Devnet(commands::devnet::DevnetCommand),
    /// Wallets (Ethereum V3 keystores): create, import, show, send-rlc, send-ether.
    #[command(subcommand)]
    Wallet(commands::wallet::WalletCommand),
    /// Your poco account (RLC held by the hub for stakes and payments): deposit, withdraw,
    /// show.
    #[command(subcommand)]
    Account(commands::account::AccountCommand),
    /// Applications: deploy, show, count, push-secret, check-secret.
    #[command(subcommand)]
    App(commands::assets::AppCommand),
    /// Datasets: deploy, show, count, encrypt, decrypt, push-secret, check-secret.
    #[command(subcommand)]
    Dataset(commands::assets::DatasetCommand),
    /// Workerpools: deploy, show, count, set-policy.
    #[command(subcommand)]
    Workerpool(commands::assets::WorkerpoolCommand),
    /// Orders: init (templates in iexec.json), sign (into orders.json), show, cancel, fill,
    /// publish and unpublish (on the market).
    #[command(subcommand)]
    Order(commands::order::OrderCommand),
    /// The market's order book: app, dataset, workerpool and requester orders.
    #[command(subcommand)]
    Orderbook(commands::market::OrderbookCommand),
    /// Deals: show, claim, follow.
    #[command(subcommand)]
    Deal(commands::deal::DealCommand),
    /// Tasks: show, claim.
    #[command(subcommand)]
    Task(commands::deal::TaskCommand),
    /// Categories (time limits of tasks): show, count, create.
    #[command(subcommand)]
    Category(commands::info::CategoryCommand),
    /// The chain and the poco deployment in use.
    Info,
    /// Run an app: find orders, match, follow the tasks, download and check the results.
    Run(commands::run::RunArgs),
    /// Run a workerpool's scheduler (its owner's wallet) until Ctrl-C or SIGTERM.
    Scheduler(Box<commands::services::SchedulerArgs>),
    /// Run a worker for a scheduler until Ctrl-C or SIGTERM.
    Worker(commands::services::WorkerArgs),
    /// Run the market (order book API, chain watcher, web UI) until Ctrl-C or SIGTERM.
    Market(commands::market::MarketArgs),
    /// Run the secret management service (iExec's SMS API) until Ctrl-C or SIGTERM.
    Sms(commands::sms::SmsArgs),
    /// Requester secrets held by the SMS: push, check.
    #[command(subcommand)]
    Requester(commands::sms::RequesterCommand),
    /// Result encryption: make the beneficiary's keypair, push or check its public key on the SMS, decrypt a result.
    #[command(subcommand)]
    Result(commands::sms::ResultCommand),
}

fn main() -> ExitCode {
    // `poco worker` runs apps in runner processes started from this binary.
    poco_runtime::run_as_runner_if_requested();
    let cli = Cli::parse();
    // Services log what they do; commands only their warnings.
    let default_level = match cli.command {
        Command::Scheduler(_) | Command::Worker(_) | Command::Market(_) | Command::Sms(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("POCO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .without_time()
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Context::new(cli.opts);
    let json = ctx.opts.json;
    match runtime.block_on(run(&ctx, cli.command)) {
        Ok(value) => {
            ctx.out.print(&value);
            ExitCode::SUCCESS
        }
        Err(error) => {
            if let Some(exit) = error.downcast_ref::<output::Exit>() {
                match &exit.value {
                    Some(value) => ctx.out.print(value),
                    None if json => println!(
                        "{}",
                        serde_json::json!({ "ok": false, "error": exit.message })
                    ),
                    None => {}
                }
                eprintln!("error: {}", exit.message);
                return ExitCode::from(exit.code);
            }
            let message = format!("{error:#}");
            if json {
                println!("{}", serde_json::json!({ "ok": false, "error": message }));
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(ctx: &Context, command: Command) -> eyre::Result<serde_json::Value> {
    match command {
        Command::Devnet(c) => c.run(ctx).await,
        Command::Wallet(c) => c.run(ctx).await,
        Command::Account(c) => c.run(ctx).await,
        Command::App(c) => c.run(ctx).await,
        Command::Dataset(c) => c.run(ctx).await,
        Command::Workerpool(c) => c.run(ctx).await,
        Command::Order(c) => c.run(ctx).await,
        Command::Orderbook(c) => c.run(ctx).await,
        Command::Deal(c) => c.run(ctx).await,
        Command::Task(c) => c.run(ctx).await,
        Command::Category(c) => c.run(ctx).await,
        Command::Info => commands::info::info(ctx).await,
        Command::Run(c) => c.run(ctx).await,
        Command::Scheduler(c) => c.run(ctx).await,
        Command::Worker(c) => c.run(ctx).await,
        Command::Market(c) => c.run(ctx).await,
        Command::Sms(c) => c.run(ctx).await,
        Command::Requester(c) => c.run(ctx).await,
        Command::Result(c) => c.run(ctx).await,
    }
}
