//! The errors of the SMS. None of them holds a secret value.

use std::path::PathBuf;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Why the SMS cannot start, or refuses a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key file cannot be read, created or parsed.
    #[error("the SMS key file {path}: {reason}; give the key file of this database (--key-file), or a path where a new one may be created")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file does not open the sealed values (another key, or altered data).
    #[error("the secrets in the database were not sealed with the key file {path} (or were altered); start the SMS with the key file it was first started with (--key-file), or give it a new database")]
    WrongKey {
        /// The key file.
        path: PathBuf,
    },
    /// The database failed.
    #[error("the SMS database failed: {0}")]
    Database(String),
    /// The configuration is unusable.
    #[error("invalid SMS configuration: {0}")]
    Config(String),
    /// The chain failed (an owner could not be read).
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The server failed.
    #[error("the SMS server failed: {0}")]
    Serve(#[from] std::io::Error),
    /// Something failed inside the SMS (500).
    #[error("{0}")]
    Internal(String),
    /// A request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// A request's authorization is missing, wrong or replayed, or its signer may not set this
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
    /// The request is not allowed for this deal (a TEE route for a deal that is not
    /// TEE-tagged) (403).
    #[error("{0}")]
    Forbidden(String),
    /// The task is over (completed, failed, revealing or past its deadline) (410).
    #[error("{0}")]
    Gone(String),
}

impl From<poco_sms_api::Error> for Error {
    fn from(e: poco_sms_api::Error) -> Self {
        use poco_sms_api::Error as Api;
        match e {
            Api::Unauthorized(m) => Self::Unauthorized(m),
            Api::NotFound(m) => Self::NotFound(m),
            Api::Conflict(m) => Self::Conflict(m),
            Api::Forbidden(m) => Self::Forbidden(m),
            Api::Gone(m) => Self::Gone(m),
            Api::BadRequest(m) => Self::BadRequest(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Gone(_) => StatusCode::GONE,
            Self::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(target: "poco::sms", "{self}");
        }
        (status, self.to_string()).into_response()
    }
}
