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
    /// A call to a scheduler failed (client side).
    #[error("scheduler request failed: {0}")]
    Client(String),
    /// The scheduler answered with an error (client side).
    #[error("the scheduler refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
