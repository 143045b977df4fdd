//! iExec's encryption formats against implementations that are not ours.

mod dataset;
mod result;
