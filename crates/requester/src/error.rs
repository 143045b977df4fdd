//! The errors of the requester's workflow.

use alloy::primitives::Address;
#[cfg(feature = "follow")]
use alloy::primitives::B256;
use poco_types::Tag;

/// Why [`crate::best_offer`] found no combination of orders; each message says who can publish
/// the missing order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// No app order of the app is open to the requester with enough volume left.
    #[error(
        "no app order of {app} with {volume} task(s) left is open to {requester}; ask the app \
         owner to publish one"
    )]
    NoAppOrder {
        /// The app.
        app: Address,
        /// The tasks asked.
        volume: u64,
        /// Who asks.
        requester: Address,
    },
    /// No dataset order of the dataset is open to the requester and the app with enough volume
    /// left.
    #[error(
        "no dataset order of {dataset} with {volume} task(s) left is open to {requester} and app \
         {app}; ask the dataset owner to publish one"
    )]
    NoDatasetOrder {
        /// The dataset.
        dataset: Address,
        /// The app.
        app: Address,
        /// The tasks asked.
        volume: u64,
        /// Who asks.
        requester: Address,
    },
    /// No workerpool order fits the app and dataset orders and what was asked.
    #[error(
        "no workerpool order{} with {volume} task(s) left offers trust {trust}{} to app {app}{}; \
         try another category or a lower trust, or wait for a pool to publish",
        category.map(|c| format!(" in category {c}")).unwrap_or_default(),
        if tag.is_empty() { String::new() } else { format!(" and tag {tag}") },
        dataset.map(|d| format!(" with dataset {d}")).unwrap_or_default()
    )]
    NoWorkerpoolOrder {
        /// The category asked, if any.
        category: Option<u64>,
        /// The trust asked.
        trust: u64,
        /// The tags asked on top of the app's and dataset's.
        tag: Tag,
        /// The tasks asked.
        volume: u64,
        /// The app.
        app: Address,
        /// The dataset, if any.
        dataset: Option<Address>,
    },
}

/// The errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No combination of orders fits.
    #[error(transparent)]
    NoOffer(#[from] OfferError),
    /// A run was refused before anything was sent (its module, inputs, orders or deposit).
    #[cfg(feature = "follow")]
    #[error(transparent)]
    Plan(Box<crate::plan::PlanError>),
    /// The chain refused or did not answer.
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// An order could not be signed (the signer refused).
    #[error(transparent)]
    Sign(#[from] poco_types::Error),
    /// Waiting was given up: the chain, the scheduler or the store did not answer within the
    /// patience, or the tasks did not finish in time. A matched deal goes on without the
    /// caller and can be followed again.
    #[cfg(feature = "follow")]
    #[error("{0}")]
    GaveUp(String),
    /// Matching may or may not have been mined: the chain did not say.
    #[cfg(feature = "follow")]
    #[error(
        "{error}; the request {request_hash} may have been matched: look for its deal with \
         `poco order show --request` once the chain answers"
    )]
    MatchUnknown {
        /// The request's hash.
        request_hash: B256,
        /// Why the chain did not say.
        error: Box<Error>,
    },
    /// A result could not be downloaded or verified.
    #[cfg(feature = "follow")]
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// The scheduler URL is not usable.
    #[cfg(feature = "follow")]
    #[error(transparent)]
    Scheduler(poco_scheduler_api::Error),
}

#[cfg(feature = "follow")]
impl From<crate::plan::PlanError> for Error {
    fn from(error: crate::plan::PlanError) -> Self {
        Self::Plan(Box::new(error))
    }
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
