#![doc = include_str!("../README.md")]

pub mod consensus;
pub mod policy;
pub mod sim;

pub use consensus::{ConsensusError, Task, TaskStatus};
pub use policy::{
    decide, Admission, Asked, Candidate, Config, Decision, Hints, Record, Shortfall, TaskView,
};
