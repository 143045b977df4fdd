//! Integration tests: real wasmtime, real modules (the example apps from
//! `apps/` and tiny WAT modules).

mod apps;
mod check;
mod common;
mod fuzz_parsers;
mod limits;
mod nan;
mod process;
mod sandbox;
