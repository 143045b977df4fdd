//! Native vs WASM: runs the CPU-bound `pi` example app as WASM (its
//! committed apps/pi/pi.wasm, through `WasmExecutor`) and the same C source
//! built natively with `cc -O2`, and prints both times and their ratio.
//!
//! ```sh
//! cargo run --release -p poco-runtime --example bench_native_vs_wasm -- [--samples N] [--runs N]
//! ```
//!
//! Each figure is the best of `--runs` runs (default 5) of `pi 1 <samples>`
//! (default 300,000,000 samples). A WASM time is the whole execution as a
//! worker sees it (module from the warm cache, instantiation, run, digest
//! and archive); compilation is measured once, separately. The native build
//! uses the system C compiler (`$CC`, else `cc`) with the same -O2 as the
//! WASM build and no -march flag. Every run must print the same result.
//!
//! Rows: the worker default (what `poco worker` runs: deterministic, in a
//! runner process killed at the time limit, so no epoch checks, NaNs
//! canonicalized where the app can observe them; this benchmark binary is
//! its own runner program), then in-process execution with epoch checks
//! (what embedders and tests use), with fuel metering on top, in-process
//! without determinism, and bare wasmtime (no sandbox settings; not a
//! configuration a worker can use, it shows what the sandbox costs).
//! Target: worker default ≤ 1.3× native.
#![allow(clippy::disallowed_macros)] // prints its report

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use poco_runtime::{
    AppSource, ExecutionOutput, ExecutionRequest, Executor, Limits, ProcessConfig, ProcessExecutor,
    TaskWorkspace, WasmConfig, WasmExecutor,
};
use sha2::{Digest, Sha256};

struct Options {
    samples: u64,
    runs: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        samples: 300_000_000,
        runs: 5,
    };
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--samples" => {
                options.samples = value("--samples")?
                    .parse()
                    .map_err(|e| format!("--samples: {e}"))?
            }
            "--runs" => {
                options.runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "-h" | "--help" => {
                return Err("usage: bench_native_vs_wasm [--samples N] [--runs N]".to_owned());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.runs == 0 || options.samples == 0 {
        return Err("--runs and --samples must be at least 1".to_owned());
    }
    Ok(options)
}

fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps")
}

/// Builds apps/pi/pi.c natively, or says why it could not.
fn build_native(dir: &Path) -> Result<PathBuf, String> {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let apps = apps_dir();
    let exe = dir.join("pi-native");
    let status = Command::new(&cc)
        .args(["-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I"])
        .arg(apps.join("common"))
        .arg(apps.join("pi/pi.c"))
        .arg("-o")
        .arg(&exe)
        .status()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed to build pi.c ({status})"));
    }
    Ok(exe)
}

fn run_native(exe: &Path, samples: u64, out: &Path) -> (Duration, String) {
    fs::create_dir_all(out).expect("native output dir");
    let started = Instant::now();
    let status = Command::new(exe)
        .args(["1", &samples.to_string()])
        .env("IEXEC_OUT", out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("native pi runs");
    let elapsed = started.elapsed();
    assert!(status.success(), "native pi failed: {status}");
    (
        elapsed,
        fs::read_to_string(out.join("result.txt")).expect("native result"),
    )
}

/// An executor under test, with what drives it.
enum Wasm {
    InProcess(WasmExecutor),
    Process(ProcessExecutor, tokio::runtime::Runtime),
}

impl Wasm {
    fn run(&self, request: ExecutionRequest) -> ExecutionOutput {
        match self {
            Self::InProcess(exec) => exec.run_blocking(request),
            Self::Process(exec, rt) => rt.block_on(exec.execute(request)),
        }
        .expect("wasm pi runs")
    }
}

fn run_wasm(
    exec: &Wasm,
    module: &Path,
    checksum: B256,
    samples: u64,
    root: &Path,
) -> (Duration, String) {
    let workspace = TaskWorkspace::create(root).expect("workspace");
    let mut request = ExecutionRequest::new(
        B256::repeat_byte(0x5e),
        AppSource::Path(module.to_owned()),
        checksum,
        workspace,
    );
    request.args = format!("1 {samples}");
    request.limits = Limits::for_category(3600);
    let started = Instant::now();
    let out = exec.run(request);
    let elapsed = started.elapsed();
    let result = fs::read_to_string(out.result.deterministic_output.expect("file result"))
        .expect("wasm result");
    (elapsed, result)
}

/// The same module on wasmtime with no sandbox settings at all (no epoch
/// checks, no NaN canonicalization): what Cranelift's code costs by itself.
/// Workers never run like this (no time limit); it is only a reference.
fn run_bare_wasmtime(module: &Path, samples: u64, out: &Path) -> (Duration, String) {
    use wasmtime::{Engine, Linker, Module, Store};
    use wasmtime_wasi::{p1::WasiP1Ctx, FsPerms, WasiCtxBuilder};

    fs::create_dir_all(out).expect("bare output dir");
    let engine = Engine::default();
    let module = Module::from_file(&engine, module).expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("wasi");
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&["pi".to_owned(), "1".to_owned(), samples.to_string()]);
    wasi.preopened_dir(out, "/iexec_out", FsPerms::ReadWrite)
        .expect("preopen");
    let mut store = Store::new(&engine, wasi.build_p1());
    let started = Instant::now();
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .expect("_start");
    if let Err(e) = start.call(&mut store, ()) {
        let exit = e.downcast_ref::<wasmtime_wasi::I32Exit>().map(|e| e.0);
        assert_eq!(exit, Some(0), "bare run failed: {e:#}");
    }
    let elapsed = started.elapsed();
    (
        elapsed,
        fs::read_to_string(out.join("result.txt")).expect("bare result"),
    )
}

/// What `poco worker` runs by default: a process executor in the default
/// configuration.
fn worker_default() -> Wasm {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let exec = rt
        .block_on(ProcessExecutor::start(ProcessConfig {
            runners: 1,
            ..ProcessConfig::default()
        }))
        .expect("process executor");
    Wasm::Process(exec, rt)
}

/// One way of running pi, timed in turn with the others.
enum Variant {
    Native(PathBuf),
    Executor(Wasm),
    Bare,
}

struct Measured {
    label: &'static str,
    variant: Variant,
    best: Option<Duration>,
    result: Option<String>,
}

fn main() {
    // The worker-default row runs pi in runner processes started from this
    // very binary.
    poco_runtime::run_as_runner_if_requested();
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let module = apps_dir().join("pi/pi.wasm");
    let bytes = fs::read(&module).expect("apps/pi/pi.wasm (run apps/build.sh)");
    let checksum = B256::from_slice(&Sha256::digest(&bytes));
    println!(
        "pi 1 {}: best of {} runs, variants interleaved",
        options.samples, options.runs
    );

    let mut variants = Vec::new();
    match build_native(tmp.path()) {
        Ok(exe) => variants.push(("native (cc -O2)", Variant::Native(exe))),
        Err(reason) => println!("native build skipped: {reason}"),
    }
    let mut compile = Duration::ZERO;
    let in_process = |config| Wasm::InProcess(WasmExecutor::new(config).expect("executor"));
    let executors = [
        ("wasm, worker default (process isolation)", worker_default()),
        (
            "wasm, in-process (epoch checks)",
            in_process(WasmConfig::default()),
        ),
        (
            "wasm, in-process + fuel metering",
            in_process(WasmConfig {
                fuel_metering: true,
                ..WasmConfig::default()
            }),
        ),
        (
            "wasm, in-process, non-deterministic",
            in_process(WasmConfig {
                deterministic: false,
                ..WasmConfig::default()
            }),
        ),
    ];
    for (label, exec) in executors {
        // Compile (and warm the module cache) outside the timings.
        let (warm, _) = run_wasm(
            &exec,
            &module,
            checksum,
            1,
            &tmp.path().join(format!("warm-{label}")),
        );
        compile = compile.max(warm);
        variants.push((label, Variant::Executor(exec)));
    }
    variants.push(("wasm, bare wasmtime (no limits; reference)", Variant::Bare));
    let mut measured: Vec<Measured> = variants
        .into_iter()
        .map(|(label, variant)| Measured {
            label,
            variant,
            best: None,
            result: None,
        })
        .collect();

    // Round-robin, so that load from other processes hits every variant alike.
    for run in 0..options.runs {
        for (k, m) in measured.iter_mut().enumerate() {
            let out = tmp.path().join(format!("run{run}-{k}"));
            let (time, result) = match &m.variant {
                Variant::Native(exe) => run_native(exe, options.samples, &out),
                Variant::Executor(exec) => run_wasm(exec, &module, checksum, options.samples, &out),
                Variant::Bare => run_bare_wasmtime(&module, options.samples, &out),
            };
            if let Some(previous) = &m.result {
                assert_eq!(previous, &result, "{} gave two results", m.label);
            }
            m.result = Some(result);
            m.best = Some(m.best.map_or(time, |b| b.min(time)));
        }
    }

    let reference = measured[0].result.clone().expect("measured");
    for m in &measured {
        assert_eq!(m.result.as_ref(), Some(&reference), "{} disagrees", m.label);
    }
    let native = measured
        .iter()
        .find(|m| matches!(m.variant, Variant::Native(_)))
        .and_then(|m| m.best);
    println!(
        "{:<44} {:>8.3} s",
        "wasm compile + tiny run (once per module)",
        compile.as_secs_f64()
    );
    for m in &measured {
        let time = m.best.expect("measured");
        match native {
            Some(n) if !matches!(m.variant, Variant::Native(_)) => println!(
                "{:<44} {:>8.3} s   {:.2}x native",
                m.label,
                time.as_secs_f64(),
                time.as_secs_f64() / n.as_secs_f64()
            ),
            _ => println!("{:<44} {:>8.3} s", m.label, time.as_secs_f64()),
        }
    }
    if let Some(n) = native {
        let default = measured
            .iter()
            .find(|m| matches!(m.variant, Variant::Executor(_)))
            .and_then(|m| m.best)
            .expect("measured");
        let ratio = default.as_secs_f64() / n.as_secs_f64();
        println!(
            "target: worker default <= 1.30x native: {} ({ratio:.2}x)",
            if ratio <= 1.3 { "met" } else { "NOT met" }
        );
    }
    print!("result (every run agrees):\n{reference}");
}
