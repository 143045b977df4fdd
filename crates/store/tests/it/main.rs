//! Integration tests of `poco-store`: a real server on `127.0.0.1:0` over a real folder.

mod client;
mod config;
mod harness;
mod server;
