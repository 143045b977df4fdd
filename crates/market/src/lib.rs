#![doc = include_str!("../README.md")]

mod book;
mod chain;
mod db;
mod error;
mod feed;
mod fill;
mod http;
pub mod limits;
mod metrics;
mod openapi;
mod publish;
mod recover;

use std::{
    net::SocketAddr,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use alloy::primitives::{Address, U256};
use poco_chain::{ClientConfig, PocoClient};
use poco_types::Domain;
use tokio::{net::TcpListener, sync::Notify};
use tracing::info;

pub use error::{Error, Result};
pub use fill::{best_offer, Offer, OfferQuery};
/// The API's types and client, from `poco-market-api` (at their old paths).
pub use poco_market_api as api;
pub use poco_market_api::{challenge_hash, Action, MarketClient, CHALLENGE_PREFIX};

/// Entry points of the fuzz targets (`fuzz/`) and the parsers' property tests; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::fuzz_order_query as order_query;
}

use crate::{api::CategoryEntry, book::Book, chain::ChainIndex, db::Db, feed::Feed};

/// The market's configuration.
#[derive(Clone, Debug)]
pub struct MarketConfig {
    /// JSON-RPC URL of the chain.
    pub rpc_url: String,
    /// The hub.
    pub hub: Address,
    /// The database: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    pub database_url: String,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Blocks a log must be under before it counts.
    pub confirmations: u64,
    /// How often the chain is polled.
    pub poll_interval: Duration,
    /// The first block to read on a fresh database (the hub's deployment block).
    pub start_block: u64,
    /// Open orders of one type a wallet may have.
    pub max_open_orders: usize,
    /// Open orders the whole book may hold, all types and signers together.
    pub max_book_orders: usize,
    /// Sign-in challenges held at once (the oldest is dropped beyond that).
    pub max_challenges: usize,
    /// WebSocket listeners of `/ws` connected at once.
    pub max_feed_listeners: usize,
    /// TCP connections served at once (more wait to be accepted).
    pub max_connections: usize,
    /// The longest any HTTP request may take, body included.
    pub request_time_limit: Duration,
    /// `POST /fill/transaction` (one `eth_call` each): the rate allowed per client IP.
    pub fill_transaction_rate: limits::Rate,
    /// Serve HTTPS with this certificate and key (PEM files) instead of plain HTTP.
    pub tls: Option<poco_service::TlsFiles>,
}

impl MarketConfig {
    /// Defaults: an SQLite file `market.db`, port 3000, no confirmations, 1 s polling, from
    /// block 0, 50 open orders per wallet and type (iExec's limit), 100,000 open orders in all,
    /// 100,000 live challenges, 256 feed listeners, 1024 connections, 30 s per request (30 s for
    /// the headers), and `/fill/transaction`
    /// at 10 calls in a burst then 1 per second per client IP.
    pub fn new(rpc_url: impl Into<String>, hub: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            hub,
            database_url: "sqlite://market.db?mode=rwc".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            confirmations: 0,
            poll_interval: Duration::from_secs(1),
            start_block: 0,
            max_open_orders: 50,
            max_book_orders: 100_000,
            max_challenges: 100_000,
            max_feed_listeners: 256,
            max_connections: 1024,
            request_time_limit: Duration::from_secs(30),
            fill_transaction_rate: limits::Rate {
                burst: 10,
                per_second: 1.0,
            },
            tls: None,
        }
    }
}

/// What the handlers and the watcher share.
pub(crate) struct Shared {
    pub(crate) config: MarketConfig,
    pub(crate) client: PocoClient,
    pub(crate) domain: Domain,
    pub(crate) chain_id: u64,
    pub(crate) db: Db,
    book: RwLock<Book>,
    pub(crate) index: ChainIndex,
    categories: RwLock<Vec<CategoryEntry>>,
    pub(crate) challenges: publish::Challenges,
    pub(crate) feed: Feed,
    /// Who may call `/fill/transaction` now.
    pub(crate) fill_limiter: limits::Limiter,
    /// Wakes the watcher (after a publication that found the index behind).
    pub(crate) poke: Notify,
}

impl Shared {
    pub(crate) fn book(&self) -> RwLockReadGuard<'_, Book> {
        self.book.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn book_mut(&self) -> RwLockWriteGuard<'_, Book> {
        self.book.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn categories(&self) -> Vec<CategoryEntry> {
        self.categories
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn categories_mut(&self) -> RwLockWriteGuard<'_, Vec<CategoryEntry>> {
        self.categories
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running market: where it listens, and the task of its server and chain watcher;
/// [`ServiceHandle::shutdown`](poco_service::ServiceHandle::shutdown) stops it gracefully,
/// dropping it aborts it.
pub type Running = poco_service::ServiceHandle<Error>;

/// A client that has not sent its request headers within this time is disconnected (idle
/// keep-alive connections included).
const HEADER_READ_TIME: Duration = Duration::from_secs(30);

/// Opens the database, loads the book, starts the chain watcher and serves the API and the
/// web UI.
pub async fn start(config: MarketConfig) -> Result<Running> {
    if config.max_open_orders == 0 || config.max_book_orders == 0 {
        return Err(Error::Config(
            "max open orders (per wallet and in all) must be at least 1".to_string(),
        ));
    }
    if config.max_challenges == 0 || config.max_feed_listeners == 0 || config.max_connections == 0 {
        return Err(Error::Config(
            "max challenges, feed listeners and connections must be at least 1".to_string(),
        ));
    }
    if config.fill_transaction_rate.burst == 0
        || config.fill_transaction_rate.per_second.is_nan()
        || config.fill_transaction_rate.per_second <= 0.0
    {
        return Err(Error::Config(
            "the /fill/transaction rate needs a burst of at least 1 and a positive refill per second"
                .to_string(),
        ));
    }
    let tls = config
        .tls
        .as_ref()
        .map(poco_service::TlsConfig::load)
        .transpose()
        .map_err(Error::Service)?;
    let listener = TcpListener::bind(config.listen).await?;
    let url = format!(
        "{}://{}",
        poco_service::scheme(tls.as_ref()),
        listener.local_addr()?
    );
    let client =
        PocoClient::connect(ClientConfig::new(config.rpc_url.clone(), config.hub), None).await?;
    let chain_id = client.chain_id();
    let db = Db::open(&config.database_url).await?;
    // The genesis hash tells a chain restarted from scratch (same id, same hub address) from
    // the one the database was built from.
    let chain_key = client.history_key().await?;
    let known = db.meta("chain").await?;
    if poco_service::db::check_chain(
        &config.database_url,
        "holds the book of",
        known.as_deref(),
        &chain_key,
    )
    .map_err(Error::ChainHistory)?
    {
        db.write(vec![db::Write::Meta("chain", chain_key)]).await?;
    }
    let block = match db.meta("last_block").await? {
        Some(b) => b
            .parse()
            .map_err(|_| Error::Database(format!("unreadable last block {b:?}")))?,
        None => 0,
    };
    let mut book = Book::default();
    let open = db.open_orders().await?;
    let loaded = open.len();
    for stored in open {
        book.insert(stored);
    }
    book.seq_floor(db.max_seq().await?);
    let index = ChainIndex::load(db.index().await?, block);

    let mut categories = Vec::new();
    let count: u64 = client.category_count().await?.saturating_to();
    for catid in 0..count {
        let c = client.category(U256::from(catid)).await?;
        categories.push(CategoryEntry {
            catid,
            name: c.name,
            description: c.description,
            work_clock_time_ref: c.work_clock_time_ref,
            chain_id,
        });
    }

    let shared = Arc::new(Shared {
        domain: client.domain(),
        chain_id,
        client,
        db,
        book: RwLock::new(book),
        index,
        categories: RwLock::new(categories),
        challenges: publish::Challenges::new(config.max_challenges),
        feed: Feed::new(config.max_feed_listeners),
        fill_limiter: limits::Limiter::new(config.fill_transaction_rate),
        poke: Notify::new(),
        config,
    });
    info!(%url, orders = loaded, from_block = block, "market started");
    let router = http::router(shared.clone());
    let options = poco_service::ServeOptions {
        tls,
        max_connections: shared.config.max_connections,
        header_read_timeout: HEADER_READ_TIME,
    };
    let watcher = chain::watch(shared);
    let running = poco_service::ServiceHandle::spawn(
        listener,
        url,
        router,
        options,
        async move {
            watcher.await;
            Ok(())
        },
        Error::Service,
    )?;
    Ok(running)
}
