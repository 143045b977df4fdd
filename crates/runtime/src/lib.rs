#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod args;
mod error;
mod executor;
mod logs;
mod process;
mod request;
mod result;
mod wasm;

pub use self::{
    args::{split_args, ArgsError},
    error::{Error, Result},
    executor::{BoxFuture, ExecutionOutput, ExecutionStats, Executor, NoopExecutor},
    logs::{Logs, DEFAULT_LOG_TAIL_BYTES},
    process::{
        run_as_runner_if_requested, ProcessConfig, ProcessExecutor, DEFAULT_RUNNER_START_TIMEOUT,
    },
    request::{
        AppSecrets, AppSource, BagOfTasks, Dataset, ExecutionRequest, Limits, TaskWorkspace,
        COMPUTED_JSON, DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES, DEFAULT_WALL_TIME, IEXEC_IN,
        IEXEC_OUT,
    },
    result::{
        archive_digest, archive_digest_with_limits, callback_digest, output_digest, ArchiveLimits,
        ComputedJson, TaskResult,
    },
    wasm::{
        check_module, WasmConfig, WasmExecutor, APP_ARGV0, DEFAULT_EPOCH_TICK,
        DEFAULT_MAX_COMPILE_TIME, DEFAULT_MAX_WASM_STACK, DEFAULT_TABLE_ELEMENTS,
    },
};

/// Entry points of the fuzz targets (`fuzz/`) and the parsers' property tests; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::process::fuzz_frames as runner_frames;
}
