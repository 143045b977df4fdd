//! The scheduler's [`Error`] (the client's is `poco_scheduler_api::Error`).

/// Whose fault a refusal of the chain is (moved to `poco-chain`, where the worker reads it too).
pub use poco_chain::classify_chain_error;

/// Errors of the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The result store failed to start.
    #[error("result store: {0}")]
    Store(#[from] poco_store::Error),
    /// The HTTP server failed.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
