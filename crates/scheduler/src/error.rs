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
    Refused {
        /// The HTTP status.
        status: u16,
        /// The scheduler's message.
        message: String,
    },
    /// The scheduler sent a sign-in text that is not a sign-in challenge of the expected
    /// pool: the client refuses to sign it (client side).
    #[error(
        "refusing to sign the scheduler's challenge {text:?}: a scheduler sign-in is exactly \
         \"poco scheduler <pool address> sign-in: <32 hex digits>\"{}; check the scheduler URL",
        expected.map(|p| format!(" with pool {p}")).unwrap_or_default()
    )]
    ForeignChallenge {
        /// The text received (cut to 200 characters).
        text: String,
        /// The pool the client expected.
        expected: Option<alloy::primitives::Address>,
    },
}

impl Error {
    /// Whether the same call may succeed later (network errors, 429, 5xx, and a sign-in
    /// refused with 401, whose challenge may have expired or been dropped): a worker retries
    /// those instead of stopping.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Client(_) => true,
            Self::Refused { status, .. } => *status == 401 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
