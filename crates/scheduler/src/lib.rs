#![doc = include_str!("../README.md")]

mod challenges;
mod db;
mod decide;
mod engine;
mod error;
mod http;
mod metrics;
pub mod workers;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use poco_chain::{ClientConfig, PocoClient};
use poco_types::SignedWorkerpoolOrder;
use tokio::net::TcpListener;

pub use error::{classify_chain_error, Error, Result};
/// The HTTP API's types and client, from `poco-scheduler-api` (at their old paths).
pub use poco_scheduler_api as api;
pub use poco_scheduler_api::SchedulerClient;

/// What the scheduler publishes as its workerpool order.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// Price per task, in nRLC.
    pub price: U256,
    /// Number of tasks the order offers.
    pub volume: U256,
    /// The category.
    pub category: U256,
    /// The highest trust the pool accepts.
    pub trust: U256,
    /// The tags it serves.
    pub tag: B256,
    /// The salt to sign the order with [default: a random one]: the salt of an order an
    /// earlier run published with the same offer, so that a restarted scheduler signs that
    /// order again (same hash) instead of adding one more to the market.
    pub salt: Option<B256>,
}

/// The scheduler's configuration.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// JSON-RPC URL of the chain.
    pub rpc_url: String,
    /// The hub.
    pub hub: Address,
    /// The workerpool this scheduler runs (owned by `signer`).
    pub workerpool: Address,
    /// The database: `sqlite://path?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The base URL workers and requesters reach the API at (default: `http://<listen>`).
    pub public_url: Option<String>,
    /// Where the pool's result store keeps archives (a folder; served under `/store`), when
    /// `store` is not set.
    pub store_dir: PathBuf,
    /// The pool's result store in the store's own format (a local folder, an S3 bucket, the
    /// limits), instead of the folder `store_dir`; its trusted schedulers and public URL are
    /// the scheduler's own (set at start).
    pub store: Option<poco_store::StoreConfig>,
    /// Blocks a log must be under before it counts.
    pub confirmations: u64,
    /// How often the chain is polled and tasks driven.
    pub poll_interval: Duration,
    /// How long a worker keeps a replicate without a heartbeat.
    pub lease: Duration,
    /// Replicates failed by the app itself (time limit, memory, checksum), or refused for the
    /// deal's own fault, before the task is given up (fewer when no other worker is free).
    pub app_fault_limit: u32,
    /// Failed or lost attempts of a task (the worker's fault, a passing chain or RPC
    /// problem) before it is given up with the last reason.
    pub max_attempts: u32,
    /// The wait before a task that failed is handed out again, doubled at each further
    /// failure (at most 5 minutes).
    pub retry_backoff: Duration,
    /// The first block to read on a fresh database [default: the current block].
    pub start_block: Option<u64>,
    /// The workerpool order to publish, if any.
    pub publish: Option<PublishConfig>,
    /// Serve the API (and the store under it) over HTTPS with this certificate and key.
    pub tls: Option<poco_service::TlsFiles>,
    /// Who may sign in and which tasks each worker takes (see [`workers`]).
    pub admission: workers::Admission,
    /// The reverse proxies in front of the API whose `X-Forwarded-For` header names the
    /// worker's address (its network prefix is recorded at sign-in); without them the
    /// connection's peer is the worker.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds within which two workers first seen are taken as one party's (never asked for
    /// one replicated task together), in open admission only; 0 turns it off. Workers on the
    /// scheduler's own host (loopback) are exempt.
    pub registration_window: u64,
    /// The SMS (`http://host:port`) that makes the enclave challenge of each TEE task and
    /// holds its secrets; given to the workers with their TEE assignments. Required when the
    /// published order offers TEE; without one, TEE tasks are not handed out.
    pub sms_url: Option<String>,
    /// How long the SMS may take to answer for a TEE task's enclave challenge before it counts
    /// as down (the TEE tasks then wait a few seconds) [default: 10 s].
    pub sms_timeout: Duration,
}

impl SchedulerConfig {
    /// Defaults: SQLite file `scheduler.db` in `store_dir`'s parent is not assumed; the
    /// caller sets the paths. 1 confirmation, 1 s polling, 30 s leases, 2 app faults, 5
    /// attempts, a 2 s first backoff, no trusted proxy, a 60 s registration window, and
    /// [`Admission::Unrestricted`](workers::Admission::Unrestricted): the behaviour from before
    /// admission, so that embedders and their tests are unchanged; a public pool sets
    /// `Closed` or `Open` (`poco scheduler` defaults to `closed` off a local devnet).
    pub fn new(rpc_url: impl Into<String>, hub: Address, workerpool: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            hub,
            workerpool,
            database_url: "sqlite://scheduler.db?mode=rwc".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7001)),
            public_url: None,
            store_dir: PathBuf::from("results"),
            store: None,
            confirmations: 0,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            app_fault_limit: 2,
            max_attempts: 5,
            retry_backoff: Duration::from_secs(2),
            start_block: None,
            publish: None,
            tls: None,
            admission: workers::Admission::Unrestricted,
            trusted_proxies: Vec::new(),
            registration_window: 60,
            sms_url: None,
            sms_timeout: Duration::from_secs(10),
        }
    }
}

/// Refuses a configuration whose published order offers TEE without an SMS: its TEE tasks
/// could never be handed out.
pub fn check_tee(config: &SchedulerConfig) -> Result<()> {
    let offered = config.publish.as_ref().map(|p| poco_types::Tag(p.tag));
    match offered {
        Some(tag) if tag.is_tee() && config.sms_url.is_none() => Err(Error::Config(format!(
            "the pool's order offers TEE (tag {tag}) but no SMS is configured, so its TEE tasks \
             could never be handed out: give the SMS's URL (--sms, or `sms` in the chain \
             configuration), or offer a tag without tee (--tag)"
        ))),
        _ => Ok(()),
    }
}

/// A running scheduler: where it listens, and the task of its server and engine;
/// [`ServiceHandle::shutdown`](poco_service::ServiceHandle::shutdown) stops it gracefully
/// (requests in flight finish), dropping it aborts it.
pub type Running = poco_service::ServiceHandle<Error>;

/// A started scheduler: its service handle and the workerpool order it signed.
pub struct Started {
    /// The running service.
    pub running: Running,
    /// The workerpool order it signed ([`SchedulerConfig::publish`]), for its starter to
    /// publish (on a market, in an order file).
    pub workerpool_order: Option<SignedWorkerpoolOrder>,
}

/// Starts the scheduler: opens the database, checks the chain and the workerpool, binds the
/// API, then drives the pool until it is shut down, aborted or fails.
pub async fn start(config: SchedulerConfig, signer: PrivateKeySigner) -> Result<Started> {
    check_tee(&config)?;
    let tls = config
        .tls
        .as_ref()
        .map(poco_service::TlsConfig::load)
        .transpose()
        .map_err(Error::Service)?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{addr}", poco_service::scheme(tls.as_ref())));
    let mut chain = ClientConfig::new(config.rpc_url.clone(), config.hub);
    chain.confirmations = 1;
    let client = PocoClient::connect(chain, Some(signer.clone())).await?;
    let owner = client.view_workerpool(config.workerpool).await?.owner;
    if owner != signer.address() {
        return Err(Error::Config(format!(
            "workerpool {} is owned by {owner}, but the scheduler's wallet is {}; run the \
             scheduler with the owner's wallet",
            config.workerpool,
            signer.address()
        )));
    }
    let db = db::Db::open(&config.database_url).await?;
    // The genesis hash tells a chain restarted from scratch (same id, same addresses) from the
    // one the database followed: its cursor and tasks would be meaningless there.
    let chain_key = client.history_key().await?;
    let known = db.meta("chain").await?;
    if poco_service::db::check_chain(
        &config.database_url,
        "follows",
        known.as_deref(),
        &chain_key,
    )
    .map_err(Error::ChainHistory)?
    {
        db.set_meta("chain", &chain_key).await?;
    }
    let shared = Arc::new(engine::Shared::new(config, client, signer, db, url.clone()).await?);
    let workerpool_order = shared.published.clone();
    let router = http::router(shared.clone())?;
    // The engine, and beside it the loop asking the SMS for TEE tasks' enclave challenges.
    let engine = {
        let shared = shared.clone();
        async move {
            tokio::select! {
                result = engine::run(shared.clone()) => result,
                () = challenges::run(shared) => Ok(()),
            }
        }
    };
    let options = poco_service::ServeOptions {
        tls,
        ..Default::default()
    };
    let running =
        poco_service::ServiceHandle::spawn(listener, url, router, options, engine, Error::Service)?;
    Ok(Started {
        running,
        workerpool_order,
    })
}
