//! `poco scheduler` and `poco worker`: the workerpool's services, in the foreground until
//! SIGINT (Ctrl-C) or SIGTERM, and what every service (these and `poco market`) does when its chain moves: while
//! the chain does not answer it says so, naming the URL, and when chain.json names another RPC
//! URL or hub for its chain (a devnet restarted on another port, or redeployed) it exits with
//! the fix (restart the service) instead of retrying the old endpoint forever.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
};
use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use poco_market::{api::OrderEntry, MarketClient};
use poco_runtime::{Executor, ProcessConfig, ProcessExecutor, WasmConfig, WasmExecutor};
use poco_scheduler::{
    workers::{Admission, WorkerRecord, Workers},
    PublishConfig, SchedulerConfig,
};
use poco_types::{OrderKind, SignedWorkerpoolOrder, Tag, WorkerpoolOrder};
use poco_worker::WorkerConfig;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::parse_amount;
use crate::{config::poco_home, context::Context, files};

/// `poco scheduler`
#[derive(Args, Debug, Serialize)]
pub(crate) struct SchedulerArgs {
    /// A TOML file of the settings below (as snake_case keys) and of the result store (a
    /// [store] table: backend, path, [store.s3], limits) [default: $POCO_HOME/scheduler.toml,
    /// when it exists]; POCO_SCHEDULER_<SETTING> variables override the file, flags both.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The workerpool to run (owned by the wallet) [default: the last one in deployed.json].
    #[arg(long, value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    workerpool: Option<Address>,
    /// Where the API listens [default: 127.0.0.1:7001].
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    /// The URL workers and requesters reach the API at [default: http://<listen>].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// The database: sqlite://PATH?mode=rwc or postgres://... [default: a SQLite file in
    /// $POCO_HOME/scheduler/].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// The folder of the pool's result store (local backend) [default: the store table's
    /// path, else $POCO_HOME/scheduler/<pool>/results].
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    store_dir: Option<PathBuf>,
    /// Milliseconds between two looks at the chain [default: 500].
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_interval_ms: Option<u64>,
    /// Seconds a worker keeps a replicate without a heartbeat [default: 30].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<u64>,
    /// Failed or lost runs of a task (a worker's own fault, a passing chain or RPC failure)
    /// before the pool gives it up with the last reason [default: 5].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
    /// Seconds before a failed task is handed out again, doubled at each further failure (at
    /// most 5 minutes) [default: 2].
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_backoff: Option<u64>,
    /// Publish a workerpool order at this price per task (e.g. "0.1 RLC"); `poco run` finds
    /// it in $POCO_HOME/orders/.
    #[arg(long, value_name = "AMOUNT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_price: Option<String>,
    /// Tasks the published order offers [default: 1000].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_volume: Option<u64>,
    /// Category of the published order [default: 0].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_category: Option<u64>,
    /// Highest trust the published order accepts [default: 100].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_trust: Option<u64>,
    /// What the pool's published order offers: tag names (tee, tdx, gpu, ...) joined by
    /// commas, or a 0x hex bitmap [default: none]. A deal's tasks go only to workers that
    /// registered every bit of its tag; offering tee needs an SMS (--sms).
    #[arg(long, value_name = "TAGS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<Tag>,
    /// The SMS that makes the enclave challenge of each TEE task, given to the TEE workers
    /// [default: the chain's `sms` in chain.json].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<String>,
    /// Also publish the order on this market (with the scheduler's URL) [default: $POCO_MARKET,
    /// else the chain's `iexecGateway`; skipped with a warning when no market answers].
    #[command(flatten)]
    #[serde(skip)]
    market: super::market::MarketOpt,
    #[command(flatten)]
    #[serde(flatten)]
    tls: super::market::TlsArgs,
    /// Who may work for the pool: closed (only the workers on the allowlist, `poco scheduler
    /// workers add`), open (anyone, replicated tasks only, for the worker stake its account
    /// covers) or unrestricted (anyone, any task: development pools) [default: closed;
    /// unrestricted on a devnet of `poco devnet start`].
    #[arg(long, value_name = "MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    admission: Option<Admission>,
    /// The pool's workers: add, remove, list, exclude, readmit (without a subcommand, the
    /// scheduler runs).
    #[command(subcommand)]
    #[serde(skip)]
    command: Option<SchedulerCommand>,
}

/// `poco scheduler workers`
#[derive(clap::Subcommand, Debug)]
pub(crate) enum SchedulerCommand {
    /// The pool's workers, in the scheduler's database (the scheduler may be running): the
    /// allowlist of a closed pool, trusted marks, slots, votes and exclusions.
    #[command(subcommand)]
    Workers(WorkersCommand),
}

/// `poco scheduler workers ...`
#[derive(clap::Subcommand, Debug)]
pub(crate) enum WorkersCommand {
    /// Put a worker on the allowlist (again), optionally trusted, with the slots it may use.
    Add {
        /// The worker's address.
        address: Address,
        /// Trusted: it may take unreplicated tasks (trust 1, fast deals), whose result
        /// nobody checks.
        #[arg(long)]
        trusted: bool,
        /// The replicates it may hold at once (at most what it declares) [default: what it
        /// declares].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        slots: Option<u32>,
        #[command(flatten)]
        db: PoolDatabase,
    },
    /// Take a worker off the allowlist and end its sessions (its record stays).
    Remove {
        /// The worker's address.
        address: Address,
        #[command(flatten)]
        db: PoolDatabase,
    },
    /// The workers the pool knows: allowlist, marks, votes, exclusions.
    List {
        #[command(flatten)]
        db: PoolDatabase,
    },
    /// Exclude a worker by hand (as a vote against the consensus does): its sessions end
    /// and it gets no more work until `readmit`.
    Exclude {
        /// The worker's address.
        address: Address,
        /// Why (shown in `list`).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        db: PoolDatabase,
    },
    /// Lift the exclusion of a worker (caught voting against the consensus, or excluded by
    /// hand).
    Readmit {
        /// The worker's address.
        address: Address,
        #[command(flatten)]
        db: PoolDatabase,
    },
}

/// Which scheduler database `poco scheduler workers` opens: the scheduler's, resolved as
/// `poco scheduler` resolves it.
#[derive(Args, Debug, Serialize)]
pub(crate) struct PoolDatabase {
    /// The scheduler's TOML file [default: $POCO_HOME/scheduler.toml, when it exists];
    /// POCO_SCHEDULER_<SETTING> variables override it, flags both.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The workerpool [default: the last one in deployed.json].
    #[arg(long, value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    workerpool: Option<Address>,
    /// The scheduler's database [default: the scheduler's SQLite file in
    /// $POCO_HOME/scheduler/].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
}

/// The settings of `poco scheduler`, resolved by [`SchedulerArgs::settings`]: the defaults
/// here, then the TOML file, the `POCO_SCHEDULER_*` environment and the flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SchedulerSettings {
    pub(crate) workerpool: Option<Address>,
    pub(crate) listen: SocketAddr,
    pub(crate) public_url: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) store_dir: Option<PathBuf>,
    pub(crate) poll_interval_ms: u64,
    pub(crate) lease: u64,
    pub(crate) max_attempts: u32,
    pub(crate) retry_backoff: u64,
    pub(crate) publish_price: Option<String>,
    pub(crate) publish_volume: u64,
    pub(crate) publish_category: u64,
    pub(crate) publish_trust: u64,
    /// What the published order offers (tee, gpu, ...; `None`: no tag).
    pub(crate) tag: Option<Tag>,
    /// The SMS of the pool's TEE tasks (`None`: the chain's `sms` in chain.json).
    pub(crate) sms: Option<String>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    /// Who may work for the pool (`None`: closed, unrestricted on a devnet).
    pub(crate) admission: Option<Admission>,
    /// The reverse proxies in front of the API whose `X-Forwarded-For` names the worker.
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds within which two workers first seen are never asked for one replicated task
    /// together (open admission only; 0: off).
    pub(crate) registration_window: u64,
    /// The pool's result store, in the store's own format (`poco_store::StoreConfig`: backend,
    /// path, s3, limits); its trusted schedulers and public URL are the scheduler's.
    pub(crate) store: Option<poco_store::StoreConfig>,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            workerpool: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 7001)),
            public_url: None,
            database: None,
            store_dir: None,
            poll_interval_ms: 500,
            lease: 30,
            max_attempts: 5,
            retry_backoff: 2,
            publish_price: None,
            publish_volume: 1_000,
            publish_category: 0,
            publish_trust: 100,
            tag: None,
            sms: None,
            tls_cert: None,
            tls_key: None,
            admission: None,
            trusted_proxies: Vec::new(),
            registration_window: 60,
            store: None,
        }
    }
}

impl SchedulerSettings {
    /// The result store: the `store` table (its local folder: `store_dir` when given, else the
    /// table's path when it sets one, else `default_dir`), or a local folder (`store_dir`, else
    /// `default_dir`) without the table.
    pub(crate) fn store_config(
        &self,
        default_dir: PathBuf,
    ) -> (PathBuf, Option<poco_store::StoreConfig>) {
        match &self.store {
            None => (self.store_dir.clone().unwrap_or(default_dir), None),
            Some(store) => {
                let mut store = store.clone();
                if let Some(dir) = &self.store_dir {
                    store.path = dir.clone();
                } else if store.path == std::path::Path::new(poco_store::DEFAULT_PATH) {
                    store.path = default_dir;
                }
                (store.path.clone(), Some(store))
            }
        }
    }
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
    /// Run TEE tasks: `tsm` inside a TDX or SEV-SNP guest (attestation through the kernel's
    /// configfs-tsm; the work folder must be a tmpfs), `dev` without hardware (nothing is
    /// confidential; only an SMS started with its insecure development flag accepts it).
    /// Without it the worker takes no TEE task.
    #[arg(long, value_enum, value_name = "PROVIDER")]
    tee: Option<TeeProvider>,
    /// Where configfs-tsm is mounted (--tee tsm).
    #[arg(long, default_value = "/sys/kernel/config/tsm", value_name = "PATH")]
    tsm_path: PathBuf,
}

/// `poco worker --tee`: where the worker's attestation comes from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TeeProvider {
    // (Plain comments: documented values would turn `poco worker --help` into its long form;
    // the flag's help names them.)
    // The development provider: no hardware, nothing confidential.
    Dev,
    // The kernel's configfs-tsm interface of a TDX or SEV-SNP guest.
    Tsm,
}

/// Runs `service` until SIGINT (Ctrl-C) or SIGTERM, or until its chain endpoint moves
/// ([`watch_chain`]). `Ok(true)` when a signal stopped it, `Ok(false)` when it ended by itself.
async fn until_signal<
    F: std::future::Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
>(
    ctx: &Context,
    service_name: &str,
    chain: &poco_chain::PocoClient,
    service: F,
) -> Result<bool> {
    tokio::select! {
        r = service => r.map(|()| false).map_err(|e| eyre!("{e}")),
        e = watch_chain(ctx, service_name, chain.rpc_url(), chain.deployment().hub) => Err(e),
        signal = poco_service::shutdown_signal() => {
            let signal = signal.wrap_err("cannot listen for SIGINT and SIGTERM")?;
            tracing::info!("{service_name}: {signal} received, stopping");
            Ok(true)
        }
    }
}

/// Runs a started HTTP service (`poco market`, `poco scheduler`) until it stops by itself, its
/// chain endpoint moves, or SIGINT/SIGTERM arrives: it is then shut down gracefully (requests
/// in flight finish, see [`poco_service::ServiceHandle::shutdown`]).
pub(crate) async fn run_until_signal<E: std::fmt::Display + Send + 'static>(
    ctx: &Context,
    service_name: &str,
    chain: &poco_chain::PocoClient,
    mut running: poco_service::ServiceHandle<E>,
) -> Result<()> {
    let signalled = until_signal(ctx, service_name, chain, async {
        match running.join().await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the {service_name} stopped: {e}")),
        }
    })
    .await?;
    if signalled {
        match running.shutdown().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("{e}"),
            Err(e) => bail!("the {service_name} stopped: {e}"),
        }
    }
    Ok(())
}

/// How often a service looks at its chain endpoint and at chain.json.
const CHAIN_WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How often an outage is said again while it lasts.
const OUTAGE_REMINDER: Duration = Duration::from_secs(30);

/// Watches the chain endpoint of a running service (`poco <service>`): logs a warning naming
/// the URL while the chain does not answer, and returns (the service then exits non-zero) when
/// chain.json names another RPC URL or hub for the service's chain (a devnet restarted on
/// another port, or redeployed): the service would otherwise retry the old endpoint forever.
/// A chain given with `--rpc-url` is only watched for outages.
pub(crate) async fn watch_chain(
    ctx: &Context,
    service: &str,
    rpc_url: &str,
    hub: Address,
) -> eyre::Report {
    let follows_file = ctx.opts.rpc_url.is_none();
    let provider = match rpc_url.parse() {
        Ok(url) => Some(ProviderBuilder::new().connect_http(url)),
        Err(_) => None,
    };
    let mut down_since: Option<(Instant, Instant)> = None;
    loop {
        tokio::time::sleep(CHAIN_WATCH_INTERVAL).await;
        if follows_file {
            if let Ok((path, name, entry)) = ctx.chain_entry() {
                let moved_url = entry
                    .host
                    .as_deref()
                    .filter(|h| h.trim_end_matches('/') != rpc_url.trim_end_matches('/'));
                let moved_hub = entry.hub.filter(|h| *h != hub && ctx.opts.hub.is_none());
                if let Some(now) = moved_url {
                    return eyre!(
                        "the RPC URL of chain {name:?} in {} is now {now}, but this {service} \
                         was started on {rpc_url}, which it would retry forever; restart `poco \
                         {service}` to use the new URL",
                        path.display()
                    );
                }
                if let Some(now) = moved_hub {
                    return eyre!(
                        "the hub of chain {name:?} in {} is now {now} (the chain was \
                         redeployed), but this {service} was started on hub {hub}; restart \
                         `poco {service}` to use the new deployment",
                        path.display()
                    );
                }
            }
        }
        let Some(provider) = &provider else { continue };
        let answer = tokio::time::timeout(Duration::from_secs(5), provider.get_block_number())
            .await
            .map_err(|_| "no answer within 5 s".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match (answer, &mut down_since) {
            (Ok(_), Some((since, _))) => {
                tracing::info!(
                    "{service}: the chain at {rpc_url} answers again (after {} s)",
                    since.elapsed().as_secs()
                );
                down_since = None;
            }
            (Ok(_), None) => {}
            (Err(e), None) => {
                tracing::warn!(
                    "{service}: the chain at {rpc_url} does not answer ({e}); retrying (if it \
                     moved, restart `poco {service}` against the new URL)"
                );
                let now = Instant::now();
                down_since = Some((now, now));
            }
            (Err(e), Some((since, said))) => {
                if said.elapsed() >= OUTAGE_REMINDER {
                    tracing::warn!(
                        "{service}: the chain at {rpc_url} still does not answer after {} s \
                         ({e}); retrying",
                        since.elapsed().as_secs()
                    );
                    *said = Instant::now();
                }
            }
        }
    }
}

impl SchedulerArgs {
    /// The scheduler's settings: the defaults, then the TOML file, the `POCO_SCHEDULER_*`
    /// environment and the flags.
    pub(crate) fn settings(&self) -> Result<SchedulerSettings> {
        super::market::resolve_settings("scheduler", self.config.as_deref(), self)
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        if let Some(SchedulerCommand::Workers(command)) = self.command {
            return command.run(ctx).await;
        }
        let settings = self.settings()?;
        let tls = super::market::tls_files(&settings.tls_cert, &settings.tls_key)?;
        // Checked before anything connects: a TEE offer without an SMS is refused outright.
        let sms_url = settings.sms.clone().or_else(|| chain_sms(ctx));
        let tag = settings.tag.unwrap_or_default();
        if tag.is_tee() && sms_url.is_none() {
            bail!(
                "--tag {tag} offers TEE but no SMS is configured, so the pool's TEE tasks could \
                 never be handed out: pass --sms URL (or add \"sms\" to the chain in \
                 chain.json; run one with `poco sms`), or drop tee from --tag"
            );
        }
        if !tag.is_empty() && settings.publish_price.is_none() {
            tracing::warn!(
                "--tag {tag} is the tag of the published order: without --publish-price no \
                 order is published, and the pool's orders signed elsewhere offer their own tags"
            );
        }
        let client = ctx.sender().await?;
        let signer = client
            .signer()
            .cloned()
            .ok_or_else(|| eyre!("the scheduler needs the workerpool owner's wallet"))?;
        let workerpool = match settings.workerpool {
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
        config.database_url = match settings.database.clone() {
            Some(url) => url,
            None => super::default_database(&client, &home, &format!("{workerpool:x}")).await?,
        };
        (config.store_dir, config.store) =
            settings.store_config(home.join(format!("{workerpool:x}")).join("results"));
        config.listen = settings.listen;
        config.public_url = settings.public_url.clone();
        config.tls = tls;
        config.poll_interval = Duration::from_millis(settings.poll_interval_ms.max(50));
        config.lease = Duration::from_secs(settings.lease.max(2));
        config.max_attempts = settings.max_attempts.max(1);
        config.retry_backoff = Duration::from_secs(settings.retry_backoff.max(1));
        config.confirmations = ctx.opts.confirms.saturating_sub(1);
        config.admission = settings.admission.unwrap_or_else(|| default_admission(ctx));
        config.trusted_proxies = settings.trusted_proxies.clone();
        config.registration_window = settings.registration_window;
        config.sms_url = sms_url;
        if config.admission == Admission::Unrestricted {
            tracing::warn!(
                "admission is unrestricted: any wallet may work for this pool and take trust-1                  tasks; set --admission closed or open for a pool strangers can reach"
            );
        }
        let market = self
            .market
            .configured(ctx)
            .and_then(|url| MarketClient::new(&url).ok());
        if let Some(price) = &settings.publish_price {
            let mut publish = PublishConfig {
                price: parse_amount(price, None)?,
                volume: U256::from(settings.publish_volume),
                category: U256::from(settings.publish_category),
                trust: U256::from(settings.publish_trust),
                tag: tag.0,
                salt: None,
            };
            // A restarted scheduler signs its earlier order again (same salt, same hash)
            // instead of adding one more to the market.
            if let Some(market) = &market {
                match earlier_orders(market, workerpool, signer.address()).await {
                    Ok(earlier) => {
                        if let Some((entry, order)) = earlier
                            .iter()
                            .filter_map(|e| Some((e, e.typed::<WorkerpoolOrder>().ok()?)))
                            .find(|(_, o)| same_offer(&o.order, &publish))
                        {
                            tracing::info!(hash = %entry.order_hash, "reusing the workerpool order published by an earlier run");
                            publish.salt = Some(order.order.salt);
                        }
                    }
                    Err(e) => tracing::warn!(
                        "cannot read this pool's earlier orders on the market {}: {e}",
                        market.url()
                    ),
                }
            }
            config.publish = Some(publish);
        }
        let config_admission = config.admission;
        let poco_scheduler::Started {
            running,
            workerpool_order,
        } = poco_scheduler::start(config, signer.clone())
            .await
            .map_err(|e| eyre!("{e}"))?;
        if let Some(order) = &workerpool_order {
            // Where `poco run` looks without a market.
            files::publish_workerpool_order(
                &format!("workerpool-{workerpool:x}"),
                client.chain_id(),
                order,
                &running.url,
            )?;
            if let Some(market) = &market {
                publish_on_market(
                    order,
                    market,
                    &signer,
                    (workerpool, &running.url, config_admission),
                )
                .await;
            }
        }
        ctx.out
            .print_line(&json!({ "scheduler": running.url, "workerpool": workerpool, "admission": config_admission }));
        run_until_signal(ctx, "scheduler", &client, running).await?;
        Ok(json!({ "stopped": true }))
    }
}

/// The admission mode without a setting: closed, except on a local devnet (a chain whose
/// chain.json entry holds the named development accounts of `poco devnet start`), where the
/// devnet's own workers run unrestricted.
fn default_admission(ctx: &Context) -> Admission {
    match ctx.chain_entry() {
        Ok((_, _, entry)) if !entry.accounts.is_empty() => Admission::Unrestricted,
        _ => Admission::Closed,
    }
}

impl WorkersCommand {
    async fn run(self, ctx: &Context) -> Result<Value> {
        let (Self::Add { db, .. }
        | Self::Remove { db, .. }
        | Self::List { db }
        | Self::Exclude { db, .. }
        | Self::Readmit { db, .. }) = &self;
        let workers = db.open(ctx).await?;
        let fail = |e: poco_scheduler::Error| eyre!("{e}");
        match self {
            Self::Add {
                address,
                trusted,
                slots,
                ..
            } => {
                let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
                let record = workers
                    .add(address, trusted, slots, &by, unix_now())
                    .await
                    .map_err(fail)?;
                Ok(json!({ "added": record_json(&record) }))
            }
            Self::Remove { address, .. } => {
                if !workers.remove(address).await.map_err(fail)? {
                    bail!("{address} is not on this pool's allowlist: nothing to remove (see `poco scheduler workers list`)");
                }
                Ok(json!({ "removed": address }))
            }
            Self::List { .. } => {
                let list = workers.list().await.map_err(fail)?;
                let colluded = workers.colluded_with().await.map_err(fail)?;
                let list: Vec<Value> = list
                    .iter()
                    .map(|record| {
                        let mut value = record_json(record);
                        if let Value::Object(fields) = &mut value {
                            let others = colluded.get(&record.address).cloned().unwrap_or_default();
                            fields.insert("colluded_with".into(), json!(others));
                        }
                        value
                    })
                    .collect();
                Ok(json!({ "workers": list }))
            }
            Self::Exclude {
                address, reason, ..
            } => {
                let reason = format!("excluded by the operator: {reason}");
                if !workers
                    .exclude(address, &reason, unix_now())
                    .await
                    .map_err(fail)?
                {
                    bail!("{address} is excluded already (see `poco scheduler workers list`)");
                }
                Ok(json!({ "excluded": address, "reason": reason }))
            }
            Self::Readmit { address, .. } => {
                if !workers.readmit(address).await.map_err(fail)? {
                    bail!("{address} is not excluded from this pool: nothing to readmit (see `poco scheduler workers list`)");
                }
                Ok(json!({ "readmitted": address }))
            }
        }
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A worker's record as `poco scheduler workers` prints it.
fn record_json(record: &WorkerRecord) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

impl PoolDatabase {
    /// Opens the scheduler's database: the setting (flag, environment, file), else the
    /// scheduler's default SQLite file for the pool (the chain is read for its genesis and
    /// the pool in deployed.json).
    async fn open(&self, ctx: &Context) -> Result<Workers> {
        let settings: SchedulerSettings =
            super::market::resolve_settings("scheduler", self.config.as_deref(), self)?;
        let url = match settings.database {
            Some(url) => url,
            None => {
                let client = ctx.reader().await?;
                let workerpool =
                    match settings.workerpool {
                        Some(pool) => pool,
                        None => files::last_deployed("workerpool", client.chain_id())?.ok_or_else(
                            || eyre!("which workerpool? pass --workerpool (none in deployed.json)"),
                        )?,
                    };
                let home = poco_home()?.join("scheduler");
                super::default_database(&client, &home, &format!("{workerpool:x}")).await?
            }
        };
        Workers::open(&url).await.map_err(|e| eyre!("{e}"))
    }
}

/// The open workerpool orders of `pool` signed by `owner` on the market (those of earlier runs
/// of its scheduler, or published by hand).
async fn earlier_orders(
    market: &MarketClient,
    pool: Address,
    owner: Address,
) -> poco_market::api::Result<Vec<OrderEntry>> {
    use poco_market::api::{Restriction, WorkerpoolOrderQuery};
    let query = WorkerpoolOrderQuery {
        workerpool: Some(pool),
        app: Some(Restriction::Any),
        dataset: Some(Restriction::Any),
        requester: Some(Restriction::Any),
        ..Default::default()
    };
    Ok(market
        .all_orders(query, 10_000)
        .await?
        .into_iter()
        .filter(|e| e.signer == owner)
        .collect())
}

/// The chain's `sms` in chain.json, when present.
fn chain_sms(ctx: &Context) -> Option<String> {
    let (_, _, entry) = ctx.chain_entry().ok()?;
    entry.other.get("sms")?.as_str().map(str::to_owned)
}

/// An earlier order the scheduler can publish again: the same offer, open to everyone.
fn same_offer(order: &WorkerpoolOrder, p: &PublishConfig) -> bool {
    order.workerpoolprice == p.price
        && order.volume == p.volume
        && order.category == p.category
        && order.trust == p.trust
        && order.tag == p.tag
        && order.apprestrict.is_zero()
        && order.datasetrestrict.is_zero()
        && order.requesterrestrict.is_zero()
}

/// Publishes the scheduler's signed workerpool order on a market, retrying while the market
/// catches up with the chain, and unpublishes the pool's other open orders signed by the
/// scheduler (earlier runs', whose offer changed): one open order per pool. The order the
/// scheduler reuses stays published (again, if the scheduler's URL or admission mode
/// changed). `pool` is the workerpool, the scheduler's URL and its admission mode, published
/// with the order. Failures are warnings (the order stays in the local file).
async fn publish_on_market(
    order: &SignedWorkerpoolOrder,
    client: &MarketClient,
    signer: &alloy::signers::local::PrivateKeySigner,
    (pool, api, admission): (Address, &str, Admission),
) {
    let market = client.url();
    let hash = match client.domain().await {
        Ok(domain) => order.order_hash(&domain),
        Err(e) => {
            tracing::warn!("cannot publish the workerpool order on the market {market}: {e}");
            return;
        }
    };
    let earlier = earlier_orders(client, pool, signer.address())
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("cannot read this pool's earlier orders on the market {market}: {e}");
            Vec::new()
        });
    let mut listed = false;
    for entry in &earlier {
        let current = entry.order_hash == hash;
        if current
            && entry.workerpool_api.as_deref() == Some(api)
            && entry.workerpool_admission.as_deref() == Some(admission.as_str())
        {
            listed = true;
            continue;
        }
        // The earlier orders, and this one when it names the scheduler's former URL or mode.
        let request = poco_market::api::UnpublishRequest {
            target: Some(poco_market::api::UnpublishTarget::UnpublishOrderHash),
            order_hash: Some(entry.order_hash),
            ..Default::default()
        };
        match client
            .unpublish(signer, OrderKind::Workerpool, &request)
            .await
        {
            Ok(_) if current => {
                tracing::info!(hash = %entry.order_hash, "unpublished the workerpool order to publish it with the scheduler's new URL or admission mode")
            }
            Ok(_) => {
                tracing::info!(hash = %entry.order_hash, "unpublished an earlier workerpool order of this pool")
            }
            Err(e) => tracing::warn!(
                "cannot unpublish the earlier workerpool order {} on the market {market}: {e}",
                entry.order_hash
            ),
        }
    }
    if listed {
        tracing::info!(%hash, %market, "the workerpool order is already published on the market");
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .publish_with(signer, order, Some(api), Some(admission.as_str()))
            .await
        {
            Ok(entry) => {
                tracing::info!(hash = %entry.order_hash, %market, "workerpool order published on the market");
                return;
            }
            Err(poco_market::api::Error::Refused { status: 503, .. })
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
        config.tee = match self.tee {
            None => None,
            Some(TeeProvider::Dev) => {
                eprintln!("warning: {}", poco_worker::DEV_TEE_WARNING);
                Some(Arc::new(poco_attest::DevProvider))
            }
            Some(TeeProvider::Tsm) => Some(Arc::new(poco_attest::ConfigfsTsm::new(&self.tsm_path))),
        };
        let tee = self.tee.map(|t| match t {
            TeeProvider::Dev => "dev",
            TeeProvider::Tsm => "tsm",
        });
        ctx.out.print_line(&json!({ "worker": signer.address(), "scheduler": self.scheduler, "slots": config.slots, "tee": tee }));
        until_signal(ctx, "worker", &client, poco_worker::run(config, signer)).await?;
        Ok(json!({ "stopped": true }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SchedulerArgs,
    }

    /// The `[store]` table of the scheduler's file takes the store's S3 settings; the flags
    /// override the file; what is set nowhere keeps its default.
    #[test]
    fn the_store_table_reaches_s3() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scheduler.toml");
        std::fs::write(
            &file,
            r#"
listen = "127.0.0.1:7100"
lease = 40

[store]
backend = "s3"
max_upload_bytes = 1048576

[store.s3]
endpoint = "http://127.0.0.1:9000"
bucket = "results"
access_key_id = "minio"
secret_access_key = "minio123"
allow_http = true
"#,
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "scheduler",
            "--config",
            file.to_str().unwrap(),
            "--lease",
            "50",
        ])
        .unwrap();
        let settings = cli.args.settings().unwrap();
        assert_eq!(settings.listen, "127.0.0.1:7100".parse().unwrap());
        assert_eq!(settings.lease, 50);
        assert_eq!(settings.poll_interval_ms, 500);
        let (folder, store) = settings.store_config(PathBuf::from("/pool/results"));
        let mut store = store.expect("the store table");
        assert_eq!(folder, PathBuf::from("/pool/results"));
        assert_eq!(store.backend, poco_store::Backend::S3);
        assert_eq!(store.max_upload_bytes, 1_048_576);
        assert_eq!(store.s3.bucket, "results");
        assert_eq!(store.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        // What the scheduler sets, then the backend built from the parsed table (offline).
        store.trusted_schedulers = vec![Address::repeat_byte(1)];
        store.public_url = Some("http://127.0.0.1:7100/store".into());
        store.validate().unwrap();
        let objects = store.object_store().unwrap();
        assert!(objects.to_string().contains("results"), "{objects}");
    }

    /// The tag and the SMS: from the file, the environment's tag overridden by the flag; a
    /// tag parses from names or hex.
    #[test]
    fn the_tag_and_the_sms_layer_like_the_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scheduler.toml");
        std::fs::write(&file, "tag = \"tee,tdx\"\nsms = \"http://sms.example\"\n").unwrap();
        let cli = Cli::try_parse_from(["scheduler", "--config", file.to_str().unwrap()]).unwrap();
        let settings = cli.args.settings().unwrap();
        assert_eq!(settings.tag, Some(Tag::TEE | Tag::TDX));
        assert_eq!(settings.sms.as_deref(), Some("http://sms.example"));
        let cli = Cli::try_parse_from([
            "scheduler",
            "--config",
            file.to_str().unwrap(),
            "--tag",
            "0x101",
            "--sms",
            "http://other.example",
        ])
        .unwrap();
        let settings = cli.args.settings().unwrap();
        assert_eq!(settings.tag, Some(Tag::TEE | Tag::GPU));
        assert_eq!(settings.sms.as_deref(), Some("http://other.example"));
        assert!(Cli::try_parse_from(["scheduler", "--tag", "teee"]).is_err());
    }

    #[test]
    fn without_a_file_the_defaults_and_flags_hold() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.toml");
        std::fs::write(&file, "").unwrap();
        let cli = Cli::try_parse_from([
            "scheduler",
            "--config",
            file.to_str().unwrap(),
            "--store-dir",
            "/here",
        ])
        .unwrap();
        let settings = cli.args.settings().unwrap();
        assert_eq!(
            SchedulerSettings {
                store_dir: Some(PathBuf::from("/here")),
                ..SchedulerSettings::default()
            },
            settings
        );
        assert_eq!(
            settings.store_config(PathBuf::from("/pool/results")),
            (PathBuf::from("/here"), None)
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "leese = 3\n").unwrap();
        let cli = Cli::try_parse_from(["scheduler", "--config", bad.to_str().unwrap()]).unwrap();
        let err = cli.args.settings().unwrap_err().to_string();
        assert!(err.contains("leese"), "{err}");
    }
}
