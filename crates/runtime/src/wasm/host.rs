//! [`Host`]: the engines, linkers and module cache of an executor, and one
//! execution on them. Shared by the in-process [`super::WasmExecutor`] and
//! the runner processes of [`crate::ProcessExecutor`].

use std::time::Instant;

use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};
use wasmtime::{Config, Engine, ExternType, Linker, Module, Store, Trap};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::{
    cache::{Compiled, Flavor, ModuleCache},
    canon::{self, Prepared},
    sandbox::{
        add_output_budget, clock_start_for, DeterministicMonotonicClock, DeterministicWallClock,
        Limiter, OutputBudget, StoreState, TaskRng,
    },
    WasmConfig, APP_ARGV0,
};
use crate::{
    args::split_args,
    error::{Error, Result},
    executor::{ExecutionOutput, ExecutionStats},
    logs::{self, Logs, TailPipe},
    request::{ExecutionRequest, Limits, IEXEC_IN, IEXEC_OUT},
    result::collect,
};

/// How a running app is stopped at its time limit or on cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// Engines compile epoch checks into loops and function entries; the
    /// caller installs a deadline callback in [`Host::run`]'s `before_start`.
    Epoch,
    /// No checks in the code: the process running it is killed from
    /// outside. Only for runner processes.
    KillProcess,
}

/// Why the epoch callback stopped the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    #[error("wall-time limit reached")]
    TimeLimit,
    #[error("execution cancelled")]
    Cancelled,
}

/// An engine and the linker apps on it link against.
struct EngineSet {
    engine: Engine,
    /// WASI plus the output-budget wrappers.
    linker: Linker<StoreState>,
}

impl EngineSet {
    fn new(config: &WasmConfig, interruption: Interruption, canonicalize: bool) -> Result<Self> {
        let mut wc = Config::new();
        wc.epoch_interruption(interruption == Interruption::Epoch)
            .consume_fuel(config.fuel_metering)
            .max_wasm_stack(config.max_wasm_stack)
            .wasm_threads(false)
            .cranelift_nan_canonicalization(canonicalize);
        if config.deterministic {
            wc.relaxed_simd_deterministic(true);
        }
        let engine = Engine::new(&wc).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut StoreState| &mut s.wasi)
            .map_err(engine_error)?;
        add_output_budget(&mut linker).map_err(engine_error)?;
        Ok(Self { engine, linker })
    }
}

/// Checks, without running it, that `bytes` is a module [`Host::run`] would start: a binary
/// WebAssembly module (not the text format), that compiles, exports `_start: () -> ()` and
/// imports nothing but WASI preview 1.
pub(crate) fn check_command(bytes: &[u8]) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidModule {
        reason: reason.to_owned(),
    };
    if !bytes.starts_with(b"\0asm") {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
        let text = text.trim_start();
        return Err(if text.starts_with("(module") || text.starts_with(";;") {
            invalid(
                "it is WebAssembly text (WAT), not a binary module; compile it first (e.g. \
                 `wasm-tools parse app.wat -o app.wasm`)",
            )
        } else {
            invalid("it does not start with the WebAssembly magic number (\\0asm)")
        });
    }
    let set = EngineSet::new(&WasmConfig::default(), Interruption::KillProcess, false)?;
    let module = Module::from_binary(&set.engine, bytes).map_err(invalid_module)?;
    match module.get_export("_start") {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
        _ => {
            return Err(invalid(
                "it has no `_start` function export (is it a library, or a reactor?)",
            ))
        }
    }
    set.linker
        .instantiate_pre(&module)
        .map_err(invalid_module)?;
    Ok(())
}

fn engine_error(e: wasmtime::Error) -> Error {
    Error::Engine {
        reason: format!("{e:#}"),
    }
}

fn invalid_module(e: wasmtime::Error) -> Error {
    Error::InvalidModule {
        reason: format!("{e:#}"),
    }
}

/// The engines, linkers and module cache of an executor.
pub(crate) struct Host {
    config: WasmConfig,
    /// Without Cranelift's NaN canonicalization: non-deterministic mode, and
    /// deterministic mode for rewritten modules.
    fast: EngineSet,
    /// With Cranelift's NaN canonicalization (deterministic mode only): for
    /// modules with float SIMD, which the rewrite cannot handle.
    canonicalizing: Option<EngineSet>,
    cache: ModuleCache,
}

impl Host {
    pub(crate) fn new(config: WasmConfig, interruption: Interruption) -> Result<Self> {
        let fast = EngineSet::new(&config, interruption, false)?;
        let (canonicalizing, flavors) = if config.deterministic {
            let canonicalizing = EngineSet::new(&config, interruption, true)?;
            let flavors = vec![
                (Flavor::Observed, fast.engine.clone()),
                (Flavor::FullCanonicalization, canonicalizing.engine.clone()),
            ];
            (Some(canonicalizing), flavors)
        } else {
            (None, vec![(Flavor::Plain, fast.engine.clone())])
        };
        let cache = ModuleCache::new(flavors, config.cache_dir.clone())?;
        Ok(Self {
            config,
            fast,
            canonicalizing,
            cache,
        })
    }

    pub(crate) fn config(&self) -> &WasmConfig {
        &self.config
    }

    /// Every engine, for the epoch ticker.
    pub(crate) fn engines(&self) -> Vec<Engine> {
        std::iter::once(&self.fast)
            .chain(&self.canonicalizing)
            .map(|set| set.engine.clone())
            .collect()
    }

    fn engine_set(&self, flavor: Flavor) -> &EngineSet {
        match (flavor, &self.canonicalizing) {
            (Flavor::FullCanonicalization, Some(set)) => set,
            _ => &self.fast,
        }
    }

    /// Compiles a module whose checksum matched, in the flavor this
    /// configuration calls for.
    fn compile(&self, bytes: &[u8]) -> Result<Compiled> {
        let Some(canonicalizing) = &self.canonicalizing else {
            let module = Module::from_binary(&self.fast.engine, bytes).map_err(invalid_module)?;
            return Ok(Compiled {
                module,
                flavor: Flavor::Plain,
            });
        };
        // Validate the app's own bytes first, so errors name its offsets.
        Module::validate(&self.fast.engine, bytes).map_err(invalid_module)?;
        let full = || {
            Module::from_binary(&canonicalizing.engine, bytes)
                .map(|module| Compiled {
                    module,
                    flavor: Flavor::FullCanonicalization,
                })
                .map_err(invalid_module)
        };
        match canon::prepare(bytes) {
            Ok(Prepared::Observed(code)) => match Module::from_binary(&self.fast.engine, &code) {
                Ok(module) => Ok(Compiled {
                    module,
                    flavor: Flavor::Observed,
                }),
                // The rewrite can push a valid module over an
                // implementation limit (e.g. locals per function).
                Err(e) => {
                    warn!(target: "poco::runtime", error = %format!("{e:#}"), "the rewritten module does not compile; canonicalizing every float operation instead");
                    full()
                }
            },
            Ok(Prepared::FullCanonicalization) => full(),
            Err(reason) => {
                warn!(target: "poco::runtime", %reason, "cannot rewrite the module; canonicalizing every float operation instead");
                full()
            }
        }
    }

    /// Runs `request` on the current thread. `stdout` and `stderr` receive
    /// the app's output; `before_start` is called with the store right before
    /// the app is instantiated (its start function may run then), after the
    /// module is compiled or found in the cache.
    pub(crate) fn run(
        &self,
        request: &ExecutionRequest,
        stdout: &TailPipe,
        stderr: &TailPipe,
        before_start: impl FnOnce(&mut Store<StoreState>),
    ) -> Result<ExecutionOutput> {
        let started = Instant::now();
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
        let (compiled, cache_hit) = self.cache.get_or_compile(actual, || self.compile(&bytes))?;
        drop(bytes);
        let module = &compiled.module;
        match module.get_export("_start") {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
            _ => {
                return Err(Error::InvalidModule {
                    reason: "it has no `_start` function export (is it a library, or a reactor?)"
                        .to_owned(),
                })
            }
        }
        debug!(target: "poco::runtime", cache_hit, flavor = ?compiled.flavor, "module ready");

        let set = self.engine_set(compiled.flavor);
        let mut store = self.new_store(&set.engine, request, &args, stdout, stderr)?;
        let fuel = if self.config.fuel_metering {
            let fuel = limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(fuel).map_err(engine_error)?;
            Some(fuel)
        } else {
            None
        };
        before_start(&mut store);

        let run = match set.linker.instantiate(&mut store, module) {
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
        let logs = logs::collect(stdout, stderr);

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
        engine: &Engine,
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
            limiter: Limiter::new(limits.memory_bytes, self.config.table_elements),
            output: OutputBudget {
                limit: limits.output_bytes,
                written: 0,
                hit: None,
                stdio_reassigned: false,
            },
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        Ok(store)
    }
}

/// Logs how an execution ended (the app's own failures are outcomes, not
/// worker trouble).
pub(crate) fn log_outcome(request: &ExecutionRequest, outcome: &Result<ExecutionOutput>) {
    match outcome {
        Ok(out) => info!(
            target: "poco::runtime",
            task_id = %request.task_id,
            digest = %out.result.digest,
            wall_ms = out.stats.wall_time.as_millis() as u64,
            cache_hit = out.stats.cache_hit,
            "task computed"
        ),
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

/// The error of an app stopped at its wall-time limit.
pub(crate) fn time_limit_exceeded(limits: &Limits, logs: Logs) -> Error {
    Error::TimeLimitExceeded {
        limit: limits.wall_time,
        logs: Box::new(logs),
    }
}

/// Maps how `_start` ended to `Ok(())` (exit status 0) or the error.
fn exit_status(
    e: wasmtime::Error,
    state: &FailureState,
    limits: &Limits,
    fuel: Option<u64>,
    logs: Logs,
) -> Result<()> {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => Ok(()),
            code => Err(Error::NonZeroExit {
                code,
                logs: Box::new(logs),
            }),
        };
    }
    if let Some(requested) = state.memory_hit {
        return Err(Error::MemoryLimitExceeded {
            limit_bytes: state.memory_limit,
            requested_bytes: requested,
            logs: Box::new(logs),
        });
    }
    if let Some(written) = state.output_hit {
        return Err(Error::OutputTooLarge {
            limit_bytes: limits.output_bytes,
            written_bytes: written,
            logs: Box::new(logs),
        });
    }
    match e.downcast_ref::<Stop>() {
        Some(Stop::TimeLimit) => return Err(time_limit_exceeded(limits, logs)),
        Some(Stop::Cancelled) => return Err(Error::Cancelled),
        None => {}
    }
    if let (Some(Trap::OutOfFuel), Some(fuel)) = (e.downcast_ref::<Trap>(), fuel) {
        return Err(Error::FuelExhausted {
            fuel,
            logs: Box::new(logs),
        });
    }
    Err(Error::Trap {
        message: format!("{e:#}"),
        logs: Box::new(logs),
    })
}
