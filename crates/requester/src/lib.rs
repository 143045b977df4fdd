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
pub use download::{
    download, is_encrypted_result, onchain_result, unpack, DownloadError, Unpacked,
};
pub use error::{Error, OfferError, Result};
#[cfg(feature = "follow")]
pub use follow::{
    is_outage, Event, Following, Observer, Outcome, Quiet, Requester, TaskOutcome, MAX_RETRY_WAIT,
};
pub use offer::{best_offer, Candidate, Offer, OfferQuery};
#[cfg(feature = "follow")]
pub use plan::{check_input_files, check_sms, AppInput, AppToRun, Plan, PlanError, Prepared};
pub use request::RequestBuilder;
#[cfg(feature = "follow")]
pub use source::{SourceError, Sourced};
