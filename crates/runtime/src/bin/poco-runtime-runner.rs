//! `poco-runtime-runner`: a standalone runner program for a
//! `poco_runtime::ProcessExecutor`, for programs that would rather not be
//! started as runners themselves (set `ProcessConfig::program` to this
//! binary; it must be the same build of poco-runtime).
#![allow(clippy::disallowed_macros)] // a binary: it tells its user on stderr

use std::process::ExitCode;

fn main() -> ExitCode {
    poco_runtime::run_as_runner_if_requested();
    eprintln!(
        "poco-runtime-runner only runs as the runner of a poco-runtime ProcessExecutor, which \
         starts it itself"
    );
    ExitCode::from(2)
}
