//! Integration tests: real wasmtime, real modules (the example apps from
//! `apps/` and tiny WAT modules).

mod apps;
mod common;
mod limits;
mod nan;
mod process;
mod sandbox;
