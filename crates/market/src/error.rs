//! The service's [`Error`] (the client's is `poco_market_api::Error`).

/// Errors of the market service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// A chain read failed.
    #[error("chain: {0}")]
    Chain(String),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The HTTP server failed.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<poco_chain::Error> for Error {
    fn from(e: poco_chain::Error) -> Self {
        Self::Chain(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
