#![doc = include_str!("../README.md")]

pub mod artifacts;
pub mod bindings;
pub mod convert;
pub mod deploy;
pub mod devchain;
mod error;

pub use deploy::{deploy_poco, Deployment};
pub use error::{Error, Result};
