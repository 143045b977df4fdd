#![doc = include_str!("../README.md")]

mod chain;
pub mod cli;
mod error;
mod orders;
mod roles;
mod services;
mod wait;

pub use chain::{Chain, STAKE};
pub use error::{Error, Result};
pub use orders::Orders;
pub use roles::{Role, ACCOUNTS, OTHERS, WORKERS};
pub use services::{wasm_executor, Market, Scheduler, Store, Worker};
pub use wait::{wait_for, WAIT};

/// One RLC in nRLC, the unit of every amount on chain.
pub const RLC: u64 = poco_types::NRLC_PER_RLC;
