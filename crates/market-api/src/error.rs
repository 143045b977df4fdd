//! The client's [`Error`].

/// Why a call to a market failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call did not get an answer or the answer is not what the API defines (the market is
    /// down, the URL is wrong or names another service).
    #[error("market request failed: {0}")]
    Client(String),
    /// The call cannot be made as asked (a URL that is not HTTP, an unpublish without a
    /// target): fix the call.
    #[error("invalid market request: {0}")]
    Invalid(String),
    /// The market answered with an error.
    #[error("the market refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The market's message.
        message: String,
    },
}

impl Error {
    /// Whether the same call may succeed later: no answer, `429` or `5xx`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Client(_) => true,
            Self::Refused { status, .. } => *status == 429 || *status >= 500,
            Self::Invalid(_) => false,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
