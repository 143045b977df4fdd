//! The service's [`Error`] (the client's is `poco_market_api::Error`).

/// Errors of the market service. Chain and database failures keep their typed cause
/// ([`poco_chain::Error`], [`sqlx::Error`]) as the error's source; their messages are the
/// cause's, prefixed with `chain: ` or `database: `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database holds something the market cannot read, or its writer stopped.
    #[error("database: {0}")]
    Database(String),
    /// The database cannot be opened.
    #[error("database: {0}")]
    DatabaseOpen(#[source] poco_service::db::DbError),
    /// A database query failed.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
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
