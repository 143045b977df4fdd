//! Errors of the runtime crate.
//!
//! Every message says what happened and who should do what about it: the app
//! developer (fix or rebuild the app), the requester (change the deal's
//! arguments, inputs or category), or the worker operator (an I/O problem on
//! the worker's own machine). [`Error::is_app_fault`] tells the two apart.

use std::{borrow::Cow, path::PathBuf, time::Duration};

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{args::ArgsError, logs::Logs};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a task execution failed.
///
/// Serializable, so that runner processes can report it (an I/O error keeps
/// its OS error code, or else its message).
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The app module does not hash to the checksum registered on chain.
    #[error(
        "the app bytes don't match the on-chain checksum: expected sha256 {expected}, got \
         {actual}; the app owner must serve exactly the module whose sha256 is registered on \
         chain (or register the new checksum), this worker runs nothing else"
    )]
    ChecksumMismatch {
        /// Checksum from the app registry.
        expected: B256,
        /// sha256 of the bytes the worker got.
        actual: B256,
    },

    /// The app module file could not be read.
    #[error("cannot read the app module at {path}: {source}; check the worker's app download")]
    AppUnreadable {
        /// Where the module was expected.
        path: PathBuf,
        /// The I/O error.
        #[serde(with = "io_error")]
        source: std::io::Error,
    },

    /// The app is not a WASI preview 1 command module this runtime can run.
    #[error(
        "the app is not a runnable WASI preview 1 command module: {reason}; the app developer \
         should build it for wasm32-wasi (wasm32-wasip1) as a command with a `_start` export"
    )]
    InvalidModule {
        /// What is wrong with the module.
        reason: String,
    },

    /// `iexec_args` could not be split into arguments.
    #[error("invalid iexec_args: {0}; the requester should fix the quoting in iexec_args")]
    InvalidArgs(#[from] ArgsError),

    /// The request itself is inconsistent (bad input file name, missing
    /// workspace folder, ...). This is a bug or misconfiguration on the worker.
    #[error("invalid execution request: {reason}")]
    InvalidRequest {
        /// What is inconsistent.
        reason: String,
    },

    /// Fuel metering was asked for but the executor was built without it.
    #[error(
        "this request sets a fuel limit but the executor was built without fuel metering; the \
         worker operator should enable `fuel_metering` in the executor configuration"
    )]
    FuelMeteringDisabled,

    /// The app trapped (unreachable, out-of-bounds access, stack overflow, ...).
    #[error(
        "the app trapped: {message}; this is a bug in the app (or its input), the app developer \
         should reproduce it locally with the same arguments and inputs{}",
        logs.stderr_hint()
    )]
    Trap {
        /// The trap and the wasm backtrace.
        message: String,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The app ran longer than the wall-time limit of the deal's category.
    #[error(
        "the app exceeded its time limit of {:.1} s and was stopped; the requester should buy a \
         category with a longer maximum execution time, or the app developer should make the app \
         faster{}",
        limit.as_secs_f64(),
        logs.stderr_hint()
    )]
    TimeLimitExceeded {
        /// The wall-time limit that was reached.
        limit: Duration,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// Loading, rewriting and compiling the module took longer than the worker allows (a
    /// pathological module must not hold a slot).
    #[error(
        "the app's module did not compile within {:.1} s and was dropped; the app developer \
         should ship a smaller or simpler module",
        limit.as_secs_f64()
    )]
    CompileTimeExceeded {
        /// The compile budget that was reached.
        limit: Duration,
    },

    /// The app tried to grow its memory past the cap.
    #[error(
        "the app tried to use {requested_bytes} bytes of memory, above the limit of {limit_bytes} \
         bytes, and was stopped; the app developer should reduce the app's memory use (or the \
         worker operator raise the memory limit){}",
        logs.stderr_hint()
    )]
    MemoryLimitExceeded {
        /// The memory cap.
        limit_bytes: u64,
        /// The size the app asked to grow to.
        requested_bytes: u64,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The app used up its fuel (instruction budget).
    #[error(
        "the app used up its fuel budget of {fuel} units and was stopped; the requester should \
         buy a larger budget, or the app developer should make the app cheaper{}",
        logs.stderr_hint()
    )]
    FuelExhausted {
        /// The budget that was given.
        fuel: u64,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The app wrote more to /iexec_out than allowed.
    #[error(
        "the app wrote {written_bytes} bytes or more to /iexec_out, above the limit of \
         {limit_bytes} bytes; the app developer should write smaller results (compress them, or \
         keep only what the requester needs){}",
        logs.stderr_hint()
    )]
    OutputTooLarge {
        /// The output cap.
        limit_bytes: u64,
        /// How much the app wrote or tried to write.
        written_bytes: u64,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The app exited with a non-zero status.
    #[error(
        "the app exited with code {code}; the app developer should check the app's stderr \
         for the cause{}",
        logs.stderr_hint()
    )]
    NonZeroExit {
        /// The exit status.
        code: i32,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The app finished but did not write /iexec_out/computed.json.
    #[error(
        "the app failed to produce /iexec_out/computed.json; every iExec app must write it, \
         naming its result with \"deterministic-output-path\" (or giving \"callback-data\"){}",
        logs.stderr_hint()
    )]
    MissingComputedJson {
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// computed.json exists but cannot be used.
    #[error(
        "the app wrote an invalid /iexec_out/computed.json: {reason}; the app developer should \
         write {{\"deterministic-output-path\": \"/iexec_out/<file or folder>\"}} (optionally \
         with \"callback-data\": \"0x<abi-encoded bytes>\")"
    )]
    InvalidComputedJson {
        /// What is wrong with it.
        reason: String,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// /iexec_out holds something that cannot be part of a result.
    #[error(
        "the app left {path} in /iexec_out, which cannot be part of a result: {reason}; results \
         may only hold regular files and folders"
    )]
    InvalidOutput {
        /// Path relative to /iexec_out.
        path: String,
        /// What is wrong with it.
        reason: Cow<'static, str>,
        /// Captured stdout and stderr.
        logs: Box<Logs>,
    },

    /// The execution was cancelled (its future was dropped).
    #[error("the execution was cancelled before it finished")]
    Cancelled,

    /// An I/O error on the worker's side (workspace, cache, archive).
    #[error("{context} ({}): {source}; the worker operator should check the disk and permissions", path.display())]
    Io {
        /// What the worker was doing.
        context: Cow<'static, str>,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[serde(with = "io_error")]
        source: std::io::Error,
    },

    /// The engine failed for a reason that is not the app's fault.
    #[error("the WASM engine failed: {reason}; this is a worker problem, the task can be retried")]
    Engine {
        /// What failed.
        reason: String,
    },

    /// A runner process (see `ProcessExecutor`) died or stopped following
    /// the protocol while it ran the task, without the runtime killing it.
    #[error(
        "the runner process failed: {reason}; this is a worker problem (look for a crash or \
         the out-of-memory killer in the worker's logs), the task can be retried"
    )]
    RunnerFailed {
        /// What happened to the runner.
        reason: String,
    },

    /// The blocking job panicked.
    #[error("the execution job panicked: {reason}; this is a worker bug")]
    Panicked {
        /// The panic message, if any.
        reason: String,
    },
}

impl Error {
    /// Whether the failure is caused by the app, its inputs or the requested
    /// limits, so that any honest worker would fail the same way.
    ///
    /// These outcomes are results in their own right (iExec contributes an
    /// error result for them so the failure reaches consensus). A checksum
    /// mismatch counts here too, as iExec's app download failure does: the
    /// bytes served for the app are not the registered ones. The others
    /// (`false`) are problems of this worker: retry or hand the task to
    /// another worker.
    pub fn is_app_fault(&self) -> bool {
        match self {
            Self::ChecksumMismatch { .. }
            | Self::InvalidModule { .. }
            | Self::InvalidArgs(_)
            | Self::Trap { .. }
            | Self::TimeLimitExceeded { .. }
            | Self::CompileTimeExceeded { .. }
            | Self::MemoryLimitExceeded { .. }
            | Self::FuelExhausted { .. }
            | Self::OutputTooLarge { .. }
            | Self::NonZeroExit { .. }
            | Self::MissingComputedJson { .. }
            | Self::InvalidComputedJson { .. }
            | Self::InvalidOutput { .. } => true,
            Self::AppUnreadable { .. }
            | Self::InvalidRequest { .. }
            | Self::FuelMeteringDisabled
            | Self::Cancelled
            | Self::Io { .. }
            | Self::Engine { .. }
            | Self::RunnerFailed { .. }
            | Self::Panicked { .. } => false,
        }
    }

    /// The app's captured stdout and stderr, when the app ran.
    pub fn logs(&self) -> Option<&Logs> {
        match self {
            Self::Trap { logs, .. }
            | Self::TimeLimitExceeded { logs, .. }
            | Self::MemoryLimitExceeded { logs, .. }
            | Self::FuelExhausted { logs, .. }
            | Self::OutputTooLarge { logs, .. }
            | Self::NonZeroExit { logs, .. }
            | Self::MissingComputedJson { logs }
            | Self::InvalidComputedJson { logs, .. }
            | Self::InvalidOutput { logs, .. } => Some(logs),
            _ => None,
        }
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}

/// Serializes an I/O error as its OS error code, or else its message.
mod io_error {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Repr {
        Os(i32),
        Message(String),
    }

    pub(super) fn serialize<S: Serializer>(e: &std::io::Error, s: S) -> Result<S::Ok, S::Error> {
        match e.raw_os_error() {
            Some(code) => Repr::Os(code),
            None => Repr::Message(e.to_string()),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<std::io::Error, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Os(code) => std::io::Error::from_raw_os_error(code),
            Repr::Message(message) => std::io::Error::other(message),
        })
    }
}
