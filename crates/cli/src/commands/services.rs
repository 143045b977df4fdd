//! `poco scheduler` and `poco worker`: the workerpool's services, in the foreground until
//! Ctrl-C.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::primitives::{Address, U256};
use clap::Args;
use eyre::{eyre, Result, WrapErr};
use poco_runtime::{Executor, ProcessConfig, ProcessExecutor, WasmConfig, WasmExecutor};
use poco_scheduler::{PublishConfig, SchedulerConfig};
use poco_worker::WorkerConfig;
use serde_json::{json, Value};

use super::parse_amount;
use crate::{config::poco_home, context::Context, files};

/// `poco scheduler`
#[derive(Args, Debug)]
pub(crate) struct SchedulerArgs {
    /// The workerpool to run (owned by the wallet) [default: the last one in deployed.json].
    #[arg(long, value_name = "ADDRESS")]
    workerpool: Option<Address>,
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:7001", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// The URL workers and requesters reach the API at [default: http://<listen>].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// The database: sqlite://PATH?mode=rwc or postgres://... [default: a SQLite file in
    /// $POCO_HOME/scheduler/].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The folder of the pool's result store [default: $POCO_HOME/scheduler/<pool>/results].
    #[arg(long, value_name = "PATH")]
    store_dir: Option<PathBuf>,
    /// Milliseconds between two looks at the chain.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    poll_interval_ms: u64,
    /// Seconds a worker keeps a replicate without a heartbeat.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    lease: u64,
    /// Publish a workerpool order at this price per task (e.g. "0.1 RLC"); `poco run` finds
    /// it in $POCO_HOME/orders/.
    #[arg(long, value_name = "AMOUNT")]
    publish_price: Option<String>,
    /// Tasks the published order offers.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    publish_volume: u64,
    /// Category of the published order.
    #[arg(long, default_value_t = 0, value_name = "N")]
    publish_category: u64,
    /// Highest trust the published order accepts.
    #[arg(long, default_value_t = 100, value_name = "N")]
    publish_trust: u64,
    /// Also publish the order on this market (with the scheduler's URL) [default: $POCO_MARKET,
    /// else the chain's `iexecGateway`; skipped with a warning when no market answers].
    #[command(flatten)]
    market: super::market::MarketOpt,
    #[command(flatten)]
    tls: super::market::TlsArgs,
}

/// `poco worker`
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    /// The scheduler's URL.
    #[arg(long, default_value = "http://127.0.0.1:7001", value_name = "URL")]
    scheduler: String,
    /// Tasks run at once [default: one per core].
    #[arg(long, value_name = "N")]
    slots: Option<usize>,
    /// Where tasks and apps are kept [default: $POCO_HOME/worker/<address>].
    #[arg(long, value_name = "PATH")]
    work_dir: Option<PathBuf>,
    /// Run apps inside the worker process, stopped at their time limit by checks compiled into
    /// their loops (slower), instead of in runner processes that are killed at the limit.
    #[arg(long)]
    in_process: bool,
    /// Development only: read apps, datasets and input files from local files (regular files,
    /// never /proc, /sys or /dev) and download them from loopback and private addresses. Devnet
    /// apps are file:// URLs; a worker of a public pool never sets this, since requesters and
    /// app owners choose those URLs (cloud metadata addresses stay refused).
    #[arg(long)]
    allow_local_fetch: bool,
    /// The largest worker stake locked for a replicated task (e.g. "0.5 RLC"); tasks asking
    /// for more are declined before anything is fetched [default: 3 times the task's worker
    /// reward, so that a pool raising its stake ratio cannot make the worker risk much more
    /// than it earns].
    #[arg(long, value_name = "AMOUNT")]
    max_stake: Option<String>,
}

async fn until_ctrl_c<
    F: std::future::Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
>(
    service: F,
) -> Result<()> {
    tokio::select! {
        r = service => r.map_err(|e| eyre!("{e}")),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

impl SchedulerArgs {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        let client = ctx.sender().await?;
        let signer = client
            .signer()
            .cloned()
            .ok_or_else(|| eyre!("the scheduler needs the workerpool owner's wallet"))?;
        let workerpool = match self.workerpool {
            Some(pool) => pool,
            None => files::last_deployed("workerpool", client.chain_id())?.ok_or_else(|| {
                eyre!("which workerpool? pass --workerpool (none in deployed.json)")
            })?,
        };
        let home = poco_home()?.join("scheduler");
        std::fs::create_dir_all(&home)
            .wrap_err_with(|| format!("cannot create {}", home.display()))?;
        let mut config =
            SchedulerConfig::new(client.rpc_url(), client.deployment().hub, workerpool);
        config.database_url = match self.database {
            Some(url) => url,
            None => super::default_database(&client, &home, &format!("{workerpool:x}")).await?,
        };
        config.store_dir = self
            .store_dir
            .unwrap_or_else(|| home.join(format!("{workerpool:x}")).join("results"));
        config.listen = self.listen;
        config.public_url = self.public_url;
        config.tls = self.tls.files();
        config.poll_interval = Duration::from_millis(self.poll_interval_ms.max(50));
        config.lease = Duration::from_secs(self.lease.max(2));
        config.confirmations = ctx.opts.confirms.saturating_sub(1);
        if let Some(price) = self.publish_price {
            config.publish = Some(PublishConfig {
                price: parse_amount(&price, None)?,
                volume: U256::from(self.publish_volume),
                category: U256::from(self.publish_category),
                trust: U256::from(self.publish_trust),
                tag: Default::default(),
                orders_file: Some(
                    poco_home()?
                        .join("orders")
                        .join(format!("workerpool-{workerpool:x}.json")),
                ),
            });
        }
        let orders_file = config.publish.as_ref().and_then(|p| p.orders_file.clone());
        let running = poco_scheduler::start(config, signer.clone())
            .await
            .map_err(|e| eyre!("{e}"))?;
        if let (Some(path), Some(url)) = (orders_file, self.market.configured(ctx)) {
            publish_on_market(&path, client.chain_id(), &url, &signer, &running.url).await;
        }
        ctx.out
            .print_line(&json!({ "scheduler": running.url, "workerpool": workerpool }));
        let mut running = running;
        until_ctrl_c(async {
            (&mut running.task)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        })
        .await?;
        Ok(json!({ "stopped": true }))
    }
}

/// Publishes the scheduler's signed workerpool order on a market, retrying while the market
/// catches up with the chain; failures are warnings (the order stays in the local file).
async fn publish_on_market(
    orders_file: &std::path::Path,
    chain_id: u64,
    market: &str,
    signer: &alloy::signers::local::PrivateKeySigner,
    api: &str,
) {
    let order = std::fs::read_to_string(orders_file)
        .ok()
        .and_then(|text| serde_json::from_str::<poco_types::OrdersFile>(&text).ok())
        .and_then(|mut file| file.remove(&chain_id))
        .and_then(|orders| orders.workerpoolorder);
    let (Some(order), Ok(client)) = (order, poco_market::MarketClient::new(market)) else {
        tracing::warn!("no workerpool order to publish on the market {market}");
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client.publish(signer, &order, Some(api)).await {
            Ok(entry) => {
                tracing::info!(hash = %entry.order_hash, %market, "workerpool order published on the market");
                return;
            }
            Err(poco_market::Error::Refused { status: 503, .. })
                if std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::warn!("cannot publish the workerpool order on the market {market}: {e}");
                return;
            }
        }
    }
}

impl WorkerArgs {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        let client = ctx.sender().await?;
        let signer = client
            .signer()
            .cloned()
            .ok_or_else(|| eyre!("the worker needs a wallet"))?;
        // The signer is loaded: no key or password stays in the environment, where the
        // worker's runners or /proc/<pid>/environ would show it.
        poco_worker::forget_secret_env();
        let work_dir = match self.work_dir {
            Some(dir) => dir,
            None => poco_home()?
                .join("worker")
                .join(format!("{:x}", signer.address())),
        };
        let wasm = WasmConfig {
            cache_dir: Some(work_dir.join("compiled")),
            ..WasmConfig::default()
        };
        let slots = self.slots.map(|n| n.max(1));
        let executor: Arc<dyn Executor> = if self.in_process {
            Arc::new(
                WasmExecutor::new(wasm).map_err(|e| eyre!("cannot start the WASM runtime: {e}"))?,
            )
        } else {
            let defaults = ProcessConfig::default();
            Arc::new(
                ProcessExecutor::start(ProcessConfig {
                    wasm,
                    runners: slots.unwrap_or(defaults.runners),
                    ..defaults
                })
                .await
                .map_err(|e| eyre!("cannot start the WASM runners: {e}"))?,
            )
        };
        let mut config = WorkerConfig::new(
            self.scheduler.clone(),
            client.rpc_url(),
            client.deployment().hub,
            work_dir,
            executor,
        );
        if let Some(slots) = slots {
            config.slots = slots;
        }
        config.allow_local_fetch = self.allow_local_fetch;
        config.max_stake = self
            .max_stake
            .as_deref()
            .map(poco_types::parse_rlc)
            .transpose()
            .map_err(|e| eyre!("--max-stake: {e}"))?;
        ctx.out.print_line(&json!({ "worker": signer.address(), "scheduler": self.scheduler, "slots": config.slots }));
        until_ctrl_c(poco_worker::run(config, signer)).await?;
        Ok(json!({ "stopped": true }))
    }
}
