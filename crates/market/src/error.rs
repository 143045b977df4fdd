//! The service's [`Error`] (the client's is `poco_market_api::Error`).

/// Errors of the market service. Chain and database failures keep their typed cause
/// ([`poco_chain::Error`], [`sqlx::Error`], [`serde_json::Error`]) as the error's source; their
/// messages are the cause's, prefixed with `chain: ` or `database: `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database holds something the market cannot read, or its writer stopped.
    #[error("database: {0}")]
    Database(String),
    /// The database cannot be opened.
    #[error("database: {0}")]
    DatabaseOpen(#[source] poco_service::db::DbError),
    /// The database holds the book of another chain (its message names the fix).
    #[error("database: {0}")]
    ChainHistory(#[source] poco_service::db::DbError),
    /// A database query failed.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored JSON document (an order, a deal) cannot be read, or a deal cannot be encoded.
    #[error(
        "database: {what}: {source}; the database was written by another version of the \
         market: run the version that wrote it or start from an empty database"
    )]
    Json {
        /// What was read or written, in words.
        what: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// A batch of writes failed; each write of the batch gets this shared cause.
    #[error("database: cannot write: {0}")]
    Write(#[source] std::sync::Arc<Error>),
    /// A chain read or transaction failed (match on the source for a decoded revert:
    /// [`poco_chain::Error::revert`]).
    #[error("chain: {0}")]
    Chain(#[source] Box<poco_chain::Error>),
    /// A chain read failed; `what` names it (`viewAccount(0x…)`, `block 12`).
    #[error("chain: {what}: {source}")]
    ChainCall {
        /// The read, in words.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<poco_chain::Error>,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The TLS certificate or key cannot be used, or serving failed (its message names the
    /// fix).
    #[error(transparent)]
    Service(poco_service::Error),
    /// The HTTP server failed.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

impl From<poco_chain::Error> for Error {
    fn from(e: poco_chain::Error) -> Self {
        Self::Chain(Box::new(e))
    }
}

impl Error {
    /// A failed chain read named `what`.
    pub(crate) fn chain_call(what: impl Into<String>, source: poco_chain::Error) -> Self {
        Self::ChainCall {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
