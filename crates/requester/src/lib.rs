#![doc = include_str!("../README.md")]

#[cfg(feature = "follow")]
mod download;
mod error;
#[cfg(feature = "follow")]
mod follow;
pub mod local;
mod offer;
#[cfg(feature = "follow")]
pub mod plan;
mod request;
#[cfg(feature = "follow")]
pub mod source;

#[cfg(feature = "follow")]
pub use download::{download, onchain_result, DownloadError};
pub use error::{Error, OfferError, Result};
#[cfg(feature = "follow")]
pub use follow::{
    is_outage, Event, Following, Observer, Outcome, Quiet, Requester, TaskOutcome, MAX_RETRY_WAIT,
};
pub use offer::{best_offer, Candidate, Offer, OfferQuery};
#[cfg(feature = "follow")]
pub use plan::{check_input_files, AppInput, AppToRun, Plan, PlanError, Prepared};
pub use request::RequestBuilder;
#[cfg(feature = "follow")]
pub use source::{SourceError, Sourced};
