//! poco-market against a real anvil and a real SQLite file: the HTTP API of `API.md` end to end,
//! the chain watcher keeping the book true, restarts, the live feed and the fill helpers.
//!
//! Each test starts its own anvil (deployed in under a second) and its own market, so tests
//! share no state and run in parallel; conditions are awaited by polling with a deadline.
#![allow(clippy::disallowed_macros)] // prints its report

mod book;
mod errors;
mod feed;
mod fill;
mod fixture;
mod fuzz_query;
mod limits;
mod postgres;
mod publish;
mod query;
mod rejections;
mod restart;
mod service;
mod signin;
mod tls;
mod unpublish;
