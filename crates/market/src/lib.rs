#![doc = include_str!("../README.md")]

pub mod api;
mod book;
mod chain;
mod client;
mod db;
mod error;
mod feed;
mod fill;
mod http;
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

pub use client::MarketClient;
pub use error::{Error, Result};
pub use fill::{best_offer, Offer, OfferQuery};
pub use publish::{challenge_hash, CHALLENGE_PREFIX};

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
}

impl MarketConfig {
    /// Defaults: an SQLite file `market.db`, port 3000, no confirmations, 1 s polling, from
    /// block 0, 50 open orders per wallet and type (iExec's limit).
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

/// A running market.
#[derive(Debug)]
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The base URL of the API.
    pub url: String,
    /// The watcher and server task.
    pub task: tokio::task::JoinHandle<Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the database, loads the book, starts the chain watcher and serves the API and the
/// web UI.
pub async fn start(config: MarketConfig) -> Result<Running> {
    if config.max_open_orders == 0 {
        return Err(Error::Config(
            "max open orders must be at least 1".to_string(),
        ));
    }
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let client =
        PocoClient::connect(ClientConfig::new(config.rpc_url.clone(), config.hub), None).await?;
    let chain_id = client.chain_id();
    let db = Db::open(&config.database_url).await?;
    // The genesis hash tells a chain restarted from scratch (same id, same hub address) from
    // the one the database was built from.
    let chain_key = client.history_key().await?;
    match db.meta("chain").await? {
        Some(known) if known != chain_key => {
            return Err(Error::Config(format!(
                "the database {} holds the book of {known} (chain id:hub:genesis), not of \
                 {chain_key}; the chain was reset or is another one: give it its own database \
                 (--database) or remove this one",
                config.database_url
            )))
        }
        Some(_) => {}
        None => db.write(vec![db::Write::Meta("chain", chain_key)]).await?,
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
        challenges: publish::Challenges::default(),
        feed: Feed::new(),
        poke: Notify::new(),
        config,
    });
    info!(%url, orders = loaded, from_block = block, "market started");
    let router = http::router(shared.clone());
    let watcher = chain::watch(shared);
    let task = tokio::spawn(async move {
        let server = async { axum::serve(listener, router).await.map_err(Error::Serve) };
        tokio::select! {
            r = server => r,
            () = watcher => Ok(()),
        }
    });
    Ok(Running { addr, url, task })
}
