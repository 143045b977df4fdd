#![doc = include_str!("../README.md")]

pub mod auth;
pub mod client;
pub mod dataset;
mod error;
pub mod result_crypto;
pub mod tee;

pub use client::{Pushed, SmsClient};
pub use error::{Error, Result};

/// The secret name of a beneficiary's result encryption public key (as the iExec SDK names
/// it).
pub const RESULT_KEY_NAME: &str = "iexec-result-encryption-public-key";
