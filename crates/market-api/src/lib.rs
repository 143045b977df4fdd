#![doc = include_str!("../README.md")]

mod auth;
mod client;
mod dto;
mod error;
mod query;
mod responses;

pub use auth::*;
pub use client::MarketClient;
pub use dto::*;
pub use error::{Error, Result};
pub use query::*;
pub use responses::*;
