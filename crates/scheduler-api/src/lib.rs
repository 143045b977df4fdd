#![doc = include_str!("../README.md")]

mod client;
mod dto;
mod error;

pub use client::SchedulerClient;
pub use dto::*;
pub use error::{Error, Result};
