#![doc = include_str!("../README.md")]

#[cfg(feature = "follow")]
mod download;
mod error;
#[cfg(feature = "follow")]
mod follow;
pub mod local;
mod offer;
mod request;

#[cfg(feature = "follow")]
pub use download::{download, onchain_result, DownloadError};
pub use error::{Error, OfferError, Result};
#[cfg(feature = "follow")]
pub use follow::{
    find_match, is_outage, Event, Following, Observer, Outcome, Quiet, Requester, TaskOutcome,
    MAX_RETRY_WAIT,
};
pub use offer::{best_offer, Candidate, Offer, OfferQuery};
pub use request::RequestBuilder;
