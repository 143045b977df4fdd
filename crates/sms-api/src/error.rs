//! The errors of the SMS's client and of the encryption formats. None of them holds a secret
//! value.

/// Why a request to the SMS, or an encryption format operation, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SMS does not answer, or the request could not be made (a transient failure).
    #[error("{0}")]
    Unreachable(String),
    /// The SMS failed (a 5xx answer) or answered something else than the API says: a
    /// failure of the SMS, not a refusal of this request (transient).
    #[error("{0}")]
    Failed(String),
    /// The wallet could not sign the request's challenge.
    #[error("cannot sign the SMS challenge: {0}")]
    Sign(String),
    /// The request is malformed (400, or another 4xx status).
    #[error("{0}")]
    BadRequest(String),
    /// The authorization is missing, wrong or replayed, or its signer may not set this
    /// secret (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The secret does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The secret exists and cannot be created again, or the task is not in a state that
    /// allows the request yet (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is not allowed for this deal (403).
    #[error("{0}")]
    Forbidden(String),
    /// The task is over (410).
    #[error("{0}")]
    Gone(String),
    /// A dataset key is not 32 bytes in base64.
    #[error("a dataset key must be 32 bytes in base64 (44 characters, as `iexec dataset encrypt` and `poco dataset encrypt` write it); give the key file written beside the encrypted dataset")]
    DatasetKey,
    /// An encrypted dataset does not decrypt.
    #[error("the dataset does not decrypt: {0}; give the file written by `dataset encrypt` and its own key file")]
    DatasetDecrypt(String),
    /// A result encryption key is unusable (not an RSA key in PEM, or generation failed).
    #[error("result encryption key: {0}")]
    ResultKey(String),
    /// An encrypted result does not decrypt (wrong key, altered or foreign archive).
    #[error("the encrypted result: {0}")]
    ResultDecrypt(String),
}

impl Error {
    /// Whether the SMS refused this very request (a 4xx answer), as opposed to being down or
    /// failing ([`Error::Unreachable`], [`Error::Failed`]): asking again for something else
    /// may succeed.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::BadRequest(_)
                | Self::Unauthorized(_)
                | Self::NotFound(_)
                | Self::Conflict(_)
                | Self::Forbidden(_)
                | Self::Gone(_)
        )
    }

    /// Whether the SMS is down or failing, so the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Failed(_))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
