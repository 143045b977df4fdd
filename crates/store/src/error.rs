//! The crate's error type.

use alloy_primitives::B256;
use std::path::PathBuf;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `poco-store`: configuration, the storage backend, and the
/// client's requests. Each message says what went wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is not valid TOML or has unknown or mistyped fields.
    #[error("cannot read the store configuration: {0}")]
    ConfigToml(#[source] toml::de::Error),
    /// A configuration value is unusable.
    #[error("invalid store configuration: {reason}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The local backend's folder cannot be created.
    #[error("cannot create the result folder {}: {source}; check the path and its permissions", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The storage backend failed.
    #[error("result storage backend failed: {0}")]
    Backend(#[source] object_store::Error),
    /// An upload could not be spooled to (or read back from) a temporary file.
    #[error(
        "cannot spool the upload to a temporary file: {0}; check the free space and the \
         permissions of the temporary folder (TMPDIR)"
    )]
    Spool(#[source] std::io::Error),
    /// A task already holds the most distinct archives the store keeps per task.
    #[error(
        "task {task_id} already has {limit} different result archives, the most this store keeps \
         per task: upload one of the stored archives again, or ask the operator to raise \
         max_objects_per_task"
    )]
    TooManyObjects {
        /// The task.
        task_id: B256,
        /// The cap.
        limit: usize,
    },
    /// One worker already stored its share of a task's archives.
    #[error(
        "worker {worker} already stored {limit} different archives for task {task_id}: upload \
         the same result again, or ask the pool operator to raise max_objects_per_worker"
    )]
    TooManyWorkerObjects {
        /// The task.
        task_id: B256,
        /// The worker.
        worker: alloy_primitives::Address,
        /// The cap.
        limit: usize,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("result store server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// A store or download URL cannot be used.
    #[error("invalid result store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The authorization handed to [`crate::StoreClient::upload`] does not match the upload.
    #[error(
        "the authorization is for {what} {found}, not {expected}: ask the scheduler for an \
         authorization of this worker for this task (enclave 0x0)"
    )]
    AuthorizationMismatch {
        /// What differs: `task`, `worker` or `enclave`.
        what: &'static str,
        /// The value of the upload.
        expected: String,
        /// The value in the authorization.
        found: String,
    },
    /// Signing the upload failed.
    #[error("cannot sign the upload: {0}")]
    Signing(#[source] poco_types::Error),
    /// The request did not reach the store or its answer was cut (network, timeout, TLS).
    #[error("request to the result store failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The store answered with an error; `message` is the store's own explanation.
    #[error("the result store refused the request (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The store's `{"error": ..}` message, or the raw body if it sent no JSON.
        message: String,
    },
    /// A download is larger than the caller's cap.
    #[error(
        "the result at {url} is larger than the {limit}-byte download limit; raise the limit if \
         this archive is expected"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// A downloaded archive does not hash to the digest in its name.
    #[error(
        "the result at {url} has sha256 {actual}, not the {expected} its name promises: the store \
         served corrupt or substituted data, do not use it"
    )]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The digest in the URL.
        expected: B256,
        /// The digest of the bytes received.
        actual: B256,
    },
    /// The store's answer to an accepted request cannot be read.
    #[error("unexpected answer from the result store: {0}")]
    BadResponse(String),
    /// Writing a download to disk failed.
    #[error("cannot write the result to {}: {source}", path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid_config(reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            reason: reason.into(),
        }
    }

    pub(crate) fn authorization_mismatch(
        what: &'static str,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) -> Self {
        Self::AuthorizationMismatch {
            what,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// Whether trying the same request again later may succeed: network failures, timeouts
    /// and 5xx answers. A 4xx answer (bad signature, limit, …) fails again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(err) => !err.is_builder() && !err.is_redirect(),
            Self::Rejected { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
