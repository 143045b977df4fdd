//! The scheduler's [`Error`] (the client's is `poco_scheduler_api::Error`).

/// Whose fault a refusal of the chain is (moved to `poco-chain`, where the worker reads it too).
pub use poco_chain::classify_chain_error;

/// Errors of the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (a query, a transaction).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be opened or created.
    #[error(
        "{source}; check the --database URL, that its folder exists and is writable, or that \
         the PostgreSQL server is up"
    )]
    OpenDatabase {
        /// Why.
        #[source]
        source: poco_service::db::DbError,
    },
    /// A row holds a value this scheduler cannot read: written by another program or another
    /// version.
    #[error(
        "the database's table {table}, column {column} holds {value:?}, which is not {expected}; \
         the database was written by another version of the scheduler: run the version that \
         wrote it or start from an empty database"
    )]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
        /// What the column should hold.
        expected: &'static str,
    },
    /// The database follows another chain than the scheduler's (its message names the fix).
    #[error(transparent)]
    ChainHistory(poco_service::db::DbError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The TLS certificate or key cannot be used, or serving failed (its message names the
    /// fix).
    #[error(transparent)]
    Service(poco_service::Error),
    /// The workerpool order cannot be signed with the scheduler's wallet.
    #[error("cannot sign the workerpool order: {0}; check the scheduler's wallet")]
    Sign(#[source] poco_types::Error),
    /// The result store failed to start.
    #[error("result store: {0}")]
    Store(#[from] poco_store::Error),
    /// The HTTP server failed.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
