//! [`WasmExecutor`]: runs WASI preview 1 command modules on wasmtime.
//!
//! # Sandbox
//!
//! - /iexec_in is preopened read-only and /iexec_out read-write; nothing
//!   else of the host's file system is visible, stdin is empty, and there is
//!   no network (no socket is preopened and every address is denied).
//! - Memory: a [`wasmtime::ResourceLimiter`] caps linear memory at
//!   [`Limits::memory_bytes`]; growing past it traps at once.
//! - Time: epoch interruption. A ticker thread advances the engine's epoch
//!   every [`WasmConfig::epoch_tick`]; on each tick the store checks the
//!   wall-time deadline and whether the job was cancelled. Time spent blocked
//!   in a host call (e.g. a WASI sleep) is only noticed when the app returns
//!   to wasm code.
//! - Fuel (optional, [`WasmConfig::fuel_metering`]): a deterministic
//!   instruction budget, for billing and reproducible limits.
//! - Output: writes to files are counted against [`Limits::output_bytes`]
//!   as they happen, and the size of /iexec_out is checked again at the end.
//! - stdout and stderr: the last [`Limits::log_tail_bytes`] of each are kept.
//!
//! # Determinism ([`WasmConfig::deterministic`], on by default)
//!
//! Honest replicas of a task must produce identical bytes, so:
//! - NaN results are canonicalized and relaxed SIMD uses its deterministic
//!   lowering; wasm threads are disabled;
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

mod cache;
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

use sha2::{Digest, Sha256};
use tracing::{debug, info, info_span, warn};
use wasmtime::{Config, Engine, ExternType, Linker, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use self::{
    cache::ModuleCache,
    sandbox::{
        add_output_budget, clock_start_for, DeterministicMonotonicClock, DeterministicWallClock,
        Limiter, OutputBudget, StoreState, TaskRng,
    },
};
use crate::{
    args::split_args,
    error::{Error, Result},
    executor::{BoxFuture, ExecutionOutput, ExecutionStats, Executor},
    logs::{self, Logs, TailPipe},
    request::{ExecutionRequest, IEXEC_IN, IEXEC_OUT},
    result::collect,
};

/// `argv[0]` of every app (the same on every worker, so apps that print it
/// stay deterministic).
pub const APP_ARGV0: &str = "app";
/// Default period of the epoch ticker.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);
/// Default maximum wasm stack (fixed, so stack overflows are reproducible).
pub const DEFAULT_MAX_WASM_STACK: usize = 1024 * 1024;
/// Default cap on table elements.
pub const DEFAULT_TABLE_ELEMENTS: usize = 1 << 20;

/// Configuration of a [`WasmExecutor`] (per worker, not per task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmConfig {
    /// Deterministic execution (see the module docs). Default: on.
    pub deterministic: bool,
    /// Meter fuel, so requests can carry a fuel budget. Costs some speed.
    /// Default: off.
    pub fuel_metering: bool,
    /// Folder of the on-disk compiled-module cache; `None`: memory only.
    pub cache_dir: Option<PathBuf>,
    /// Period of the epoch ticker: the precision of the wall-time limit and
    /// of cancellation.
    pub epoch_tick: Duration,
    /// Maximum wasm stack in bytes.
    pub max_wasm_stack: usize,
    /// Cap on the elements of each table.
    pub table_elements: usize,
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
        }
    }
}

/// Why the epoch callback stopped the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Stop {
    #[error("wall-time limit reached")]
    TimeLimit,
    #[error("execution cancelled")]
    Cancelled,
}

/// Advances the engine's epoch until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("poco-epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(tick);
                    engine.increment_epoch();
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
    config: WasmConfig,
    engine: Engine,
    /// WASI plus the output-budget wrappers: what apps link against.
    linker: Linker<StoreState>,
    cache: ModuleCache,
    running: AtomicUsize,
    // Last field: dropped after the rest.
    _ticker: EpochTicker,
}

/// Runs WASI preview 1 command modules on wasmtime; see the module docs.
///
/// Cheap to clone; clones share the engine, the module cache and the ticker.
#[derive(Clone)]
pub struct WasmExecutor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WasmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmExecutor")
            .field("config", &self.inner.config)
            .field("running", &self.running_jobs())
            .finish_non_exhaustive()
    }
}

impl WasmExecutor {
    /// Builds the engine, the linker and the cache.
    pub fn new(config: WasmConfig) -> Result<Self> {
        let engine_err = |e: wasmtime::Error| Error::Engine {
            reason: format!("{e:#}"),
        };
        let mut wc = Config::new();
        wc.epoch_interruption(true)
            .consume_fuel(config.fuel_metering)
            .max_wasm_stack(config.max_wasm_stack)
            .wasm_threads(false);
        if config.deterministic {
            wc.cranelift_nan_canonicalization(true)
                .relaxed_simd_deterministic(true);
        }
        let engine = Engine::new(&wc).map_err(engine_err)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut StoreState| &mut s.wasi)
            .map_err(engine_err)?;
        add_output_budget(&mut linker).map_err(engine_err)?;

        let cache = ModuleCache::new(engine.clone(), config.cache_dir.clone())?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                engine,
                linker,
                cache,
                running: AtomicUsize::new(0),
                _ticker: ticker,
            }),
        })
    }

    /// The configuration this executor was built with.
    pub fn config(&self) -> &WasmConfig {
        &self.inner.config
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
        self.inner.run(request, Arc::new(AtomicBool::new(false)))
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
            let job = tokio::task::spawn_blocking(move || {
                let _entered = span.entered();
                inner.run(request, cancel)
            });
            match job.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(Error::Panicked {
                    reason: e.to_string(),
                }),
                Err(_) => Err(Error::Cancelled),
            }
        })
    }
}

impl Inner {
    fn run(&self, request: ExecutionRequest, cancel: Arc<AtomicBool>) -> Result<ExecutionOutput> {
        self.running.fetch_add(1, Ordering::Relaxed);
        let _running = RunningGuard(&self.running);
        let started = Instant::now();
        let outcome = self.run_inner(&request, cancel, started);
        match &outcome {
            Ok(out) => info!(
                target: "poco::runtime",
                task_id = %request.task_id,
                digest = %out.result.digest,
                wall_ms = out.stats.wall_time.as_millis() as u64,
                cache_hit = out.stats.cache_hit,
                "task computed"
            ),
            // The app's own failures are outcomes, not worker trouble.
            Err(e) if e.is_app_fault() => info!(
                target: "poco::runtime",
                task_id = %request.task_id,
                error = %e,
                "task failed (app fault)"
            ),
            Err(e) => warn!(
                target: "poco::runtime",
                task_id = %request.task_id,
                error = %e,
                "task failed (worker side)"
            ),
        }
        outcome
    }

    fn run_inner(
        &self,
        request: &ExecutionRequest,
        cancel: Arc<AtomicBool>,
        started: Instant,
    ) -> Result<ExecutionOutput> {
        let limits = &request.limits;
        request.validate()?;
        request.workspace.check_output_empty()?;
        let args = split_args(&request.args)?;
        if limits.fuel.is_some() && !self.config.fuel_metering {
            return Err(Error::FuelMeteringDisabled);
        }

        // Checksum first: nothing of the app is parsed before it matches.
        let bytes = request.app.load()?;
        let actual = alloy_primitives::B256::from_slice(&Sha256::digest(&bytes));
        if actual != request.app_checksum {
            return Err(Error::ChecksumMismatch {
                expected: request.app_checksum,
                actual,
            });
        }
        let (module, cache_hit) = self.cache.get_or_compile(actual, &bytes)?;
        drop(bytes);
        match module.get_export("_start") {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
            _ => {
                return Err(Error::InvalidModule {
                    reason: "it has no `_start` function export (is it a library, or a reactor?)"
                        .to_owned(),
                })
            }
        }
        debug!(target: "poco::runtime", cache_hit, "module ready");

        let stdout = TailPipe::new(limits.log_tail_bytes);
        let stderr = TailPipe::new(limits.log_tail_bytes);
        let mut store = self.new_store(request, &args, &stdout, &stderr)?;

        let deadline = Instant::now() + limits.wall_time;
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
        let fuel = if self.config.fuel_metering {
            let fuel = limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(fuel).map_err(|e| Error::Engine {
                reason: format!("{e:#}"),
            })?;
            Some(fuel)
        } else {
            None
        };

        let run = match self.linker.instantiate(&mut store, &module) {
            Ok(instance) => instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .and_then(|start| start.call(&mut store, ())),
            Err(e) if !is_runtime_failure(&e, store.data()) => {
                return Err(Error::InvalidModule {
                    reason: format!("{e:#}"),
                });
            }
            Err(e) => Err(e),
        };

        let fuel_consumed = fuel.map(|f| f - store.get_fuel().unwrap_or(0));
        let peak_memory_bytes = store.data().limiter.peak_memory;
        let state_for_errors = FailureState::of(store.data());
        // Drop the store (closing the app's files) before reading the output.
        drop(store);
        let logs = logs::collect(&stdout, &stderr);

        if let Err(e) = run {
            exit_status(e, &state_for_errors, limits, fuel, logs.clone())?;
        }
        let result = collect(&request.workspace, limits.output_bytes)
            .map_err(|p| p.into_error(limits.output_bytes, logs.clone()))?;
        Ok(ExecutionOutput {
            result,
            logs,
            stats: ExecutionStats {
                wall_time: started.elapsed(),
                fuel_consumed,
                peak_memory_bytes,
                cache_hit,
            },
        })
    }

    fn new_store(
        &self,
        request: &ExecutionRequest,
        args: &[String],
        stdout: &TailPipe,
        stderr: &TailPipe,
    ) -> Result<Store<StoreState>> {
        let limits = &request.limits;
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true)
            .arg(APP_ARGV0)
            .args(args)
            .envs(&request.environment())
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let input_dir = request.workspace.input_dir();
        let output_dir = request.workspace.output_dir();
        wasi.preopened_dir(&input_dir, IEXEC_IN, FsPerms::ReadOnly)
            .map_err(|e| {
                Error::io(
                    "cannot open the input folder",
                    &input_dir,
                    std::io::Error::other(e),
                )
            })?;
        wasi.preopened_dir(&output_dir, IEXEC_OUT, FsPerms::ReadWrite)
            .map_err(|e| {
                Error::io(
                    "cannot open the output folder",
                    &output_dir,
                    std::io::Error::other(e),
                )
            })?;
        if self.config.deterministic {
            let task_id = request.task_id;
            let start = request
                .clock_start
                .unwrap_or_else(|| clock_start_for(&task_id));
            wasi.wall_clock(DeterministicWallClock::new(start))
                .monotonic_clock(DeterministicMonotonicClock::default())
                .secure_random(TaskRng::new(b"poco/random/v1", task_id))
                .insecure_random(TaskRng::new(b"poco/insecure-random/v1", task_id))
                .insecure_random_seed(TaskRng::seed_u128(b"poco/insecure-seed/v1", &task_id));
        }

        let state = StoreState {
            wasi: wasi.build_p1(),
            limiter: Limiter {
                memory_limit: limits.memory_bytes,
                table_elements: self.config.table_elements,
                peak_memory: 0,
                memory_hit: None,
            },
            output: OutputBudget {
                limit: limits.output_bytes,
                written: 0,
                hit: None,
                stdio_reassigned: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        Ok(store)
    }
}

/// What the store knew when the app stopped.
struct FailureState {
    memory_limit: u64,
    memory_hit: Option<u64>,
    output_hit: Option<u64>,
}

impl FailureState {
    fn of(state: &StoreState) -> Self {
        Self {
            memory_limit: state.limiter.memory_limit,
            memory_hit: state.limiter.memory_hit,
            output_hit: state.output.hit,
        }
    }
}

/// Whether an instantiation error comes from running the app (its start
/// function or a limit) rather than from the module not fitting the sandbox.
fn is_runtime_failure(e: &wasmtime::Error, state: &StoreState) -> bool {
    state.limiter.memory_hit.is_some()
        || e.downcast_ref::<Trap>().is_some()
        || e.downcast_ref::<I32Exit>().is_some()
        || e.downcast_ref::<Stop>().is_some()
}

/// Maps how `_start` ended to `Ok(())` (exit status 0) or the error.
fn exit_status(
    e: wasmtime::Error,
    state: &FailureState,
    limits: &crate::request::Limits,
    fuel: Option<u64>,
    logs: Logs,
) -> Result<()> {
    let logs = Box::new(logs);
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => Ok(()),
            code => Err(Error::NonZeroExit { code, logs }),
        };
    }
    if let Some(requested) = state.memory_hit {
        return Err(Error::MemoryLimitExceeded {
            limit_bytes: state.memory_limit,
            requested_bytes: requested,
            logs,
        });
    }
    if let Some(written) = state.output_hit {
        return Err(Error::OutputTooLarge {
            limit_bytes: limits.output_bytes,
            written_bytes: written,
            logs,
        });
    }
    match e.downcast_ref::<Stop>() {
        Some(Stop::TimeLimit) => {
            return Err(Error::TimeLimitExceeded {
                limit: limits.wall_time,
                logs,
            })
        }
        Some(Stop::Cancelled) => return Err(Error::Cancelled),
        None => {}
    }
    if let (Some(Trap::OutOfFuel), Some(fuel)) = (e.downcast_ref::<Trap>(), fuel) {
        return Err(Error::FuelExhausted { fuel, logs });
    }
    Err(Error::Trap {
        message: format!("{e:#}"),
        logs,
    })
}
