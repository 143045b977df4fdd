#![doc = include_str!("../README.md")]

pub mod artifacts;
pub mod assets;
pub mod bindings;
pub mod client;
pub mod convert;
pub mod deals;
pub mod deploy;
pub mod devchain;
mod error;
pub mod fast;
mod fault;
pub mod pool;
pub mod revert;
pub mod settle;
pub mod watch;

pub use assets::{AppView, AssetKind, DatasetView, WorkerpoolView};
pub use client::{AppSpec, ClientConfig, PocoClient, DEFAULT_REQUEST_TIMEOUT};
pub use deals::{task_ids, task_status, task_status_name, MatchTransaction, MatchedDeal, TaskView};
pub use deploy::{deploy_poco, Deployment};
pub use error::{deadline_in_words, duration_in_words, utc_time, Error, Result};
pub use fast::{fast_status_name, fast_task_status, FastDealRecord};
pub use fault::classify_chain_error;
pub use pool::ContributionView;
pub use revert::Revert;
pub use settle::{ContributionStatus, Enclave, WorkerResult};
pub use watch::LogWatcher;
