//! Shared helpers: executors, requests, WAT modules.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use alloy_primitives::B256;
use poco_runtime::{
    AppSource, ExecutionRequest, ProcessConfig, ProcessExecutor, TaskWorkspace, WasmConfig,
    WasmExecutor,
};
use sha2::{Digest, Sha256};

pub(crate) fn sha256(bytes: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(bytes))
}

/// One executor per test binary, so each module compiles once.
pub(crate) fn executor() -> &'static WasmExecutor {
    static EXECUTOR: OnceLock<WasmExecutor> = OnceLock::new();
    EXECUTOR.get_or_init(|| WasmExecutor::new(WasmConfig::default()).expect("executor"))
}

/// An in-process executor without determinism.
pub(crate) fn non_deterministic_executor() -> WasmExecutor {
    WasmExecutor::new(WasmConfig {
        deterministic: false,
        ..WasmConfig::default()
    })
    .expect("executor")
}

/// A process-isolation executor on the crate's runner binary, with `runners`
/// idle runners.
pub(crate) async fn new_process_executor(config: WasmConfig, runners: usize) -> ProcessExecutor {
    ProcessExecutor::start(ProcessConfig {
        wasm: config,
        program: Some(env!("CARGO_BIN_EXE_poco-runtime-runner").into()),
        runners,
        ..ProcessConfig::default()
    })
    .await
    .expect("process executor")
}

/// One process-isolation executor per test binary (default configuration).
/// Statics are never dropped, so its module cache is a folder of cargo's
/// (a private temporary one would be left behind).
pub(crate) async fn process_executor() -> &'static ProcessExecutor {
    static EXECUTOR: tokio::sync::OnceCell<ProcessExecutor> = tokio::sync::OnceCell::const_new();
    EXECUTOR
        .get_or_init(|| {
            let config = WasmConfig {
                cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-it-modules")),
                ..WasmConfig::default()
            };
            new_process_executor(config, 2)
        })
        .await
}

/// The committed module of an example app.
pub(crate) fn app_module(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../apps/{name}/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run apps/build.sh)", path.display()))
}

pub(crate) fn app_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../apps/{name}/{name}.wasm"))
}

/// A task with its own workspace, running `module` (checksum set to match).
pub(crate) struct Task {
    // Kept alive: the workspace is deleted when the task is dropped.
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) request: ExecutionRequest,
}

impl Task {
    pub(crate) fn new(task_id: B256, module: Vec<u8>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = TaskWorkspace::create(dir.path().join("task")).expect("workspace");
        let checksum = sha256(&module);
        let request = ExecutionRequest::new(task_id, AppSource::Bytes(module), checksum, workspace);
        Self { _dir: dir, request }
    }

    pub(crate) fn wat(task_id: B256, wat: &str) -> Self {
        Self::new(task_id, wat::parse_str(wat).expect("valid WAT"))
    }

    pub(crate) fn input(&mut self, name: &str, bytes: &[u8]) -> &mut Self {
        std::fs::write(self.request.workspace.input_dir().join(name), bytes).expect("input");
        self
    }

    pub(crate) fn output_file(&self, rel: &str) -> PathBuf {
        self.request.workspace.output_dir().join(rel)
    }
}

pub(crate) fn task_id(byte: u8) -> B256 {
    B256::repeat_byte(byte)
}

/// Bytes as a WAT string literal body.
pub(crate) fn wat_str(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

pub(crate) const COMPUTED_OUT_BIN: &[u8] = br#"{"deterministic-output-path":"/iexec_out/out.bin"}"#;

/// A WASI command module: `body` is the body of `_start`. Helpers:
/// - `$create (path_ptr len) -> fd` creates /iexec_out/<path> (exits with
///   the errno on failure); `$open_in (dirfd path_ptr len oflags) -> errno`
///   tries an open and leaves the fd at address 0;
/// - `$write (fd ptr len)` writes all bytes (exits 99 on failure);
/// - `$write_computed` writes computed.json naming /iexec_out/out.bin;
/// - data: "out.bin" at 2304 (7 bytes); free memory from 4096.
///
/// Preopened descriptors: 3 = /iexec_in, 4 = /iexec_out.
pub(crate) fn wasi_module(memory_pages: u32, body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") {memory_pages})
  (data (i32.const 2048) "computed.json")
  (data (i32.const 2112) "{computed}")
  (data (i32.const 2304) "out.bin")
  (func $open_in (param $dir i32) (param $p i32) (param $l i32) (param $oflags i32) (result i32)
    (call $path_open (local.get $dir) (i32.const 0) (local.get $p) (local.get $l) (local.get $oflags)
      (i64.const 536870911) (i64.const 536870911) (i32.const 0) (i32.const 0)))
  (func $create (param $p i32) (param $l i32) (result i32)
    (local $err i32)
    (local.set $err (call $open_in (i32.const 4) (local.get $p) (local.get $l) (i32.const 9)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.load (i32.const 0)))
  (func $write (param $fd i32) (param $p i32) (param $l i32)
    (i32.store (i32.const 8) (local.get $p))
    (i32.store (i32.const 12) (local.get $l))
    (if (call $fd_write (local.get $fd) (i32.const 8) (i32.const 1) (i32.const 16))
      (then (call $proc_exit (i32.const 99)))))
  (func $write_computed
    (local $fd i32)
    (local.set $fd (call $create (i32.const 2048) (i32.const 13)))
    (call $write (local.get $fd) (i32.const 2112) (i32.const {computed_len}))
    (drop (call $fd_close (local.get $fd))))
  {extra}
  (func (export "_start")
    (local $fd i32) (local $i i32)
    {body}))"#,
        computed = wat_str(COMPUTED_OUT_BIN),
        computed_len = COMPUTED_OUT_BIN.len(),
    )
}
