//! What can go wrong while setting a test up.

/// A harness step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The chain refused or lost a call (anvil, deployment, a transaction).
    #[error("chain: {0} (is anvil installed? set POCO_ANVIL or run `npm ci`)")]
    Chain(#[from] poco_chain::Error),
    /// A node RPC failed outside [`poco_chain::PocoClient`].
    #[error("anvil RPC: {0} (is the test's anvil still running?)")]
    Rpc(String),
    /// The scheduler did not start.
    #[error("scheduler: {0} (check the test's SchedulerConfig)")]
    Scheduler(#[from] poco_scheduler::Error),
    /// The market did not start.
    #[error("market: {0} (check the test's MarketConfig)")]
    Market(#[from] poco_market::Error),
    /// The market's client refused the market's URL.
    #[error("market client: {0} (the market's URL should be http:// or https://)")]
    MarketClient(String),
    /// The result store did not start or stopped with an error.
    #[error("result store: {0} (check the test's StoreConfig)")]
    Store(#[from] poco_store::Error),
    /// An order could not be signed.
    #[error("signing an order: {0}")]
    Sign(String),
    /// A temporary directory or file could not be made.
    #[error("file system: {0} (is the temporary directory writable?)")]
    Io(#[from] std::io::Error),
    /// A service handle was used after it was stopped.
    #[error("the {0} is stopped: restart it before using it")]
    Stopped(&'static str),
}

/// The harness's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
