//! The client's [`Error`].

use alloy::primitives::Address;

/// Why a call to a scheduler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call did not get an answer, or the answer was unreadable (the scheduler is down or
    /// restarting, the network cut, the URL wrong).
    #[error("scheduler request failed: {0}")]
    Transport(String),
    /// The scheduler answered with an error status.
    #[error("the scheduler refused the request ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The scheduler's message.
        message: String,
    },
    /// The scheduler sent a sign-in text that is not a sign-in challenge of the expected
    /// pool: the client refuses to sign it.
    #[error(
        "refusing to sign the scheduler's challenge {text:?}: a scheduler sign-in is exactly \
         \"poco scheduler <pool address> sign-in: <32 hex digits>\"{}; check the scheduler URL",
        expected.map(|p| format!(" with pool {p}")).unwrap_or_default()
    )]
    ForeignChallenge {
        /// The text received (cut to 200 characters).
        text: String,
        /// The pool the client expected.
        expected: Option<Address>,
    },
    /// The signer could not sign the challenge (a hardware or remote signer refused).
    #[error("cannot sign the scheduler's challenge: {0}; check the wallet")]
    Sign(String),
}

impl Error {
    /// Whether the same call may succeed later (network errors, 429, 5xx, and a sign-in
    /// refused with 401, whose challenge may have expired or been dropped): a worker retries
    /// those instead of stopping.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Sign(_) => true,
            Self::Refused { status, .. } => *status == 401 || *status == 429 || *status >= 500,
            Self::ForeignChallenge { .. } => false,
        }
    }

    /// Whether the scheduler refused the call for want of a valid session (`401`).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Refused { status: 401, .. })
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
