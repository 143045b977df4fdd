//! [`WasmExecutor`]: runs WASI preview 1 command modules on wasmtime, in
//! this process. [`crate::ProcessExecutor`] runs the same sandbox in runner
//! processes (the worker's default); everything below holds for both except
//! where it says otherwise.
//!
//! # Sandbox
//!
//! - /iexec_in is preopened read-only and /iexec_out read-write; nothing
//!   else of the host's file system is visible, stdin is empty, and there is
//!   no network (no socket is preopened and every address is denied).
//! - Memory: a [`wasmtime::ResourceLimiter`] caps the linear memories of the
//!   instance, all together, at [`crate::Limits::memory_bytes`]; growing past
//!   it traps at once. Table elements are capped the same way, all tables
//!   together ([`WasmConfig::table_elements`]).
//! - Compilation: loading, the NaN rewrite and compiling must end within
//!   [`WasmConfig::max_compile_time`], counted from when the execution is
//!   handed to the executor.
//! - Time: the wall-time limit counts from when the module is compiled (or
//!   found in the cache) and the app is about to start.
//!   - [`WasmExecutor`]: epoch interruption. Wasmtime compiles a check of
//!     the engine's epoch into every loop header and function entry; a
//!     ticker thread advances the epoch every [`WasmConfig::epoch_tick`],
//!     and on each tick the store checks the deadline and whether the job
//!     was cancelled. Time spent blocked in a host call (e.g. a WASI sleep)
//!     is only noticed when the app returns to wasm code. The checks cost
//!     about 18 % on CPU-bound code.
//!   - [`crate::ProcessExecutor`]: no checks in the code; the runner
//!     process is killed (SIGKILL) at the deadline or on cancellation,
//!     whatever the app is doing.
//! - Fuel (optional, [`WasmConfig::fuel_metering`]): a deterministic
//!   instruction budget, for billing and reproducible limits.
//! - Output: writes to files are counted against
//!   [`crate::Limits::output_bytes`] as they happen, and the size of
//!   /iexec_out is checked again at the end.
//! - stdout and stderr: the last [`crate::Limits::log_tail_bytes`] of each
//!   are kept.
//!
//! # Determinism ([`WasmConfig::deterministic`], on by default)
//!
//! Honest replicas of a task must produce identical bytes, so:
//! - NaN bits are canonical wherever the app can observe them: before
//!   compiling, the module is rewritten so that a NaN stored to memory as a
//!   float (`f32.store`, `f64.store`), reinterpreted as an integer, or used
//!   as the sign operand of `copysign` is the canonical positive NaN (see
//!   the `canon` module). Float arithmetic itself is compiled as written,
//!   without Cranelift's per-operation canonicalization (about 30 % on
//!   float-heavy code). One difference with canonicalizing every operation:
//!   a NaN written to memory as a float is always canonical, even one the
//!   app loaded or built on purpose, so NaN-boxing through `f64.store` loses
//!   the payload (the integer bits, stored with `i64.store`, keep it).
//!   Modules with float-lane SIMD operations are not rewritten (a `v128` is
//!   untyped) but compiled with Cranelift's canonicalization of every float
//!   operation. Fuel counts the rewritten code: six more instructions per
//!   observation point executed, the same on every worker;
//! - relaxed SIMD uses its deterministic lowering; wasm threads are
//!   disabled;
//! - the wall clock starts at [`ExecutionRequest::clock_start`] (by default a
//!   time derived from the task id, between 2020 and 2028) and the monotonic
//!   clock at 0; both advance by 1 ms on every read, whatever the real time;
//! - `random_get` returns a stream derived from the task id (sha256 in
//!   counter mode): reproducible by anyone, so not for secrets;
//! - arguments, environment and limits come only from the request.
//!
//! What remains host-dependent: the order in which `fd_readdir` lists
//! /iexec_in (apps that list a folder should sort the names), and whether a
//! run hits the wall-time limit.
//!
//! Trap messages of rewritten modules give code offsets in the rewritten
//! module (function names are kept).

mod cache;
mod canon;
mod host;
mod sandbox;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tracing::info_span;
use wasmtime::{Engine, UpdateDeadline};

use self::host::Stop;
pub(crate) use self::host::{log_outcome, time_limit_exceeded, Host, Interruption};
use crate::{
    error::{Error, Result},
    executor::{BoxFuture, ExecutionOutput, Executor},
    logs::TailPipe,
    request::ExecutionRequest,
};

/// `argv[0]` of every app (the same on every worker, so apps that print it
/// stay deterministic).
pub const APP_ARGV0: &str = "app";
/// Default period of the epoch ticker.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);
/// Default maximum wasm stack (fixed, so stack overflows are reproducible).
pub const DEFAULT_MAX_WASM_STACK: usize = 1024 * 1024;
/// Default cap on table elements (all the tables of an instance together).
pub const DEFAULT_TABLE_ELEMENTS: usize = 1 << 20;
/// Default of [`WasmConfig::max_compile_time`].
pub const DEFAULT_MAX_COMPILE_TIME: Duration = Duration::from_secs(120);

/// Configuration of a [`WasmExecutor`] or of the runners of a
/// [`crate::ProcessExecutor`] (per worker, not per task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmConfig {
    /// Deterministic execution (see the module docs). Default: on.
    pub deterministic: bool,
    /// Meter fuel, so requests can carry a fuel budget. Costs some speed.
    /// Default: off.
    pub fuel_metering: bool,
    /// Folder of the on-disk compiled-module cache; `None`: memory only.
    pub cache_dir: Option<PathBuf>,
    /// Period of the epoch ticker: the precision of the wall-time limit and
    /// of cancellation in a [`WasmExecutor`] (runner processes have no
    /// ticker: they are killed).
    pub epoch_tick: Duration,
    /// Maximum wasm stack in bytes.
    pub max_wasm_stack: usize,
    /// Cap on the elements of all the tables of an instance together.
    pub table_elements: usize,
    /// Longest time from when an execution is handed to the executor until the app starts:
    /// loading, the NaN rewrite and compilation (or a cache hit). A module that takes longer
    /// fails with [`Error::CompileTimeExceeded`], so a pathological module cannot hold a slot;
    /// the wall-time limit starts when the app starts. A runner process is killed at this
    /// deadline; in a [`WasmExecutor`] the execution returns and the compilation, which cannot
    /// be interrupted, finishes in the background and is discarded.
    #[serde(default = "default_max_compile_time")]
    pub max_compile_time: Duration,
}

fn default_max_compile_time() -> Duration {
    DEFAULT_MAX_COMPILE_TIME
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self {
            deterministic: true,
            fuel_metering: false,
            cache_dir: None,
            epoch_tick: DEFAULT_EPOCH_TICK,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            max_compile_time: DEFAULT_MAX_COMPILE_TIME,
        }
    }
}

/// Advances the epochs of engines until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engines: Vec<Engine>, tick: Duration) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("poco-epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(tick);
                    for engine in &engines {
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(|e| Error::Engine {
                reason: format!("cannot start the epoch ticker: {e}"),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Inner {
    host: Host,
    running: AtomicUsize,
    // Last field: dropped after the rest.
    _ticker: EpochTicker,
}

/// Runs WASI preview 1 command modules on wasmtime, in this process, with
/// epoch checks for the time limit and cancellation; see the module docs.
///
/// Cheap to clone; clones share the engines, the module cache and the
/// ticker.
#[derive(Clone)]
pub struct WasmExecutor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WasmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmExecutor")
            .field("config", self.config())
            .field("running", &self.running_jobs())
            .finish_non_exhaustive()
    }
}

/// Checks a module before anyone pays to run it: a binary WebAssembly module (not WAT text),
/// that compiles on this runtime's engine, a WASI preview 1 command exporting `_start`, with no
/// import but WASI's. [`Error::InvalidModule`] says what is wrong.
pub fn check_module(bytes: &[u8]) -> Result<()> {
    host::check_command(bytes)
}

impl WasmExecutor {
    /// Builds the engines, the linkers and the cache.
    pub fn new(config: WasmConfig) -> Result<Self> {
        let tick = config.epoch_tick;
        let host = Host::new(config, Interruption::Epoch)?;
        let ticker = EpochTicker::start(host.engines(), tick)?;
        Ok(Self {
            inner: Arc::new(Inner {
                host,
                running: AtomicUsize::new(0),
                _ticker: ticker,
            }),
        })
    }

    /// The configuration this executor was built with.
    pub fn config(&self) -> &WasmConfig {
        self.inner.host.config()
    }

    /// Number of executions in progress.
    pub fn running_jobs(&self) -> usize {
        self.inner.running.load(Ordering::Relaxed)
    }

    /// Runs a request on the current thread. It blocks for up to the
    /// request's wall-time limit: call it from a thread of your own or from
    /// `spawn_blocking`, never from async code ([`Executor::execute`] does
    /// that for you).
    pub fn run_blocking(&self, request: ExecutionRequest) -> Result<ExecutionOutput> {
        self.inner
            .run(request, Arc::new(AtomicBool::new(false)), None)
    }
}

/// Sets the flag when dropped: cancels the blocking job if the future
/// awaiting it goes away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct RunningGuard<'a>(&'a AtomicUsize);

impl<'a> RunningGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Executor for WasmExecutor {
    fn name(&self) -> &'static str {
        "wasm"
    }

    fn execute(&self, request: ExecutionRequest) -> BoxFuture<'_, Result<ExecutionOutput>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let cancel = Arc::new(AtomicBool::new(false));
            let _cancel_on_drop = CancelOnDrop(cancel.clone());
            let span = info_span!(target: "poco::runtime", "wasm_task", task_id = %request.task_id);
            let compile_limit = inner.host.config().max_compile_time;
            let (started, app_started) = tokio::sync::oneshot::channel();
            let mut job = tokio::task::spawn_blocking(move || {
                let _entered = span.entered();
                inner.run(request, cancel, Some(started))
            });
            // The compile budget runs from now until the app starts (compilation cannot be
            // interrupted: past the budget the job is left to finish, cancelled, in the
            // background).
            tokio::select! {
                biased;
                joined = &mut job => return joined_outcome(joined),
                signal = tokio::time::timeout(compile_limit, app_started) => {
                    if signal.is_err() {
                        return Err(Error::CompileTimeExceeded { limit: compile_limit });
                    }
                }
            }
            joined_outcome(job.await)
        })
    }
}

/// The outcome of the blocking job of an execution.
fn joined_outcome(
    joined: std::result::Result<Result<ExecutionOutput>, tokio::task::JoinError>,
) -> Result<ExecutionOutput> {
    match joined {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Error::Panicked {
            reason: e.to_string(),
        }),
        Err(_) => Err(Error::Cancelled),
    }
}

impl Inner {
    /// Runs `request`; `started` is told when the app is about to start (its module loaded).
    fn run(
        &self,
        request: ExecutionRequest,
        cancel: Arc<AtomicBool>,
        started: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<ExecutionOutput> {
        let _running = RunningGuard::enter(&self.running);
        let limits = &request.limits;
        let stdout = TailPipe::new(limits.log_tail_bytes);
        let stderr = TailPipe::new(limits.log_tail_bytes);
        let wall_time = limits.wall_time;
        let mut started = started;
        let outcome = self.host.run(&request, &stdout, &stderr, |store| {
            if let Some(started) = started.take() {
                let _ = started.send(());
            }
            let deadline = Instant::now() + wall_time;
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if cancel.load(Ordering::Relaxed) {
                    Err(wasmtime::Error::new(Stop::Cancelled))
                } else if Instant::now() >= deadline {
                    Err(wasmtime::Error::new(Stop::TimeLimit))
                } else {
                    Ok(UpdateDeadline::Continue(1))
                }
            });
        });
        log_outcome(&request, &outcome);
        outcome
    }
}
