#![doc = include_str!("../README.md")]

pub mod artifacts;
pub mod bindings;
pub mod client;
pub mod convert;
pub mod deals;
pub mod deploy;
pub mod devchain;
mod error;
pub mod revert;
pub mod watch;

pub use client::{AppSpec, ClientConfig, PocoClient, DEFAULT_REQUEST_TIMEOUT};
pub use deals::{task_ids, task_status_name, MatchedDeal, TaskView};
pub use deploy::{deploy_poco, Deployment};
pub use error::{Error, Result};
pub use revert::Revert;
pub use watch::LogWatcher;
