//! Limits, isolation, determinism and failure modes, with tiny WAT modules.

use std::{
    fs,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use poco_runtime::{Error, Executor, WasmConfig, WasmExecutor};

use crate::common::{
    executor, non_deterministic_executor, sha256, task_id, wasi_module, wat_str, Task,
};

const LOOP_FOREVER: &str = "(loop $spin (br $spin))";

#[tokio::test]
async fn infinite_loop_is_stopped_at_the_time_limit() {
    let mut task = Task::wat(task_id(1), &wasi_module(1, LOOP_FOREVER, ""));
    task.request.limits.wall_time = Duration::from_millis(300);
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::TimeLimitExceeded { limit, .. } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(limit, Duration::from_millis(300));
    assert!(err.is_app_fault());
    assert!(err.to_string().contains("time limit"), "{err}");
}

#[tokio::test]
async fn growing_memory_past_the_cap_is_stopped() {
    // Grow one page (64 KiB) at a time, forever; the cap is 2 MiB.
    let body = "(loop $grow (drop (memory.grow (i32.const 1))) (br $grow))";
    let mut task = Task::wat(task_id(2), &wasi_module(1, body, ""));
    task.request.limits.memory_bytes = 2 * 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::MemoryLimitExceeded {
        limit_bytes,
        requested_bytes,
        ..
    } = err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(limit_bytes, 2 * 1024 * 1024);
    assert_eq!(requested_bytes, 2 * 1024 * 1024 + 65536);
}

#[tokio::test]
async fn initial_memory_above_the_cap_is_refused() {
    // 64 pages = 4 MiB declared up front; the cap is 1 MiB.
    let mut task = Task::wat(task_id(3), &wasi_module(64, "", ""));
    task.request.limits.memory_bytes = 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MemoryLimitExceeded {
                requested_bytes: 4194304,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_checksum_is_refused_before_running() {
    let mut task = Task::wat(task_id(4), &wasi_module(1, "(call $write_computed)", ""));
    let good = task.request.app_checksum;
    task.request.app_checksum = B256::repeat_byte(0xee);
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::ChecksumMismatch { expected, actual } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(expected, B256::repeat_byte(0xee));
    assert_eq!(actual, good);
    assert!(
        err.to_string()
            .contains("don't match the on-chain checksum"),
        "{err}"
    );
    assert!(!task.output_file("computed.json").exists(), "nothing ran");
}

/// Reads random bytes and clocks and writes them to out.bin:
/// [0..32) random_get, [32..40) realtime, [40..48) monotonic,
/// [48..56) realtime again.
const ENTROPY_BODY: &str = r#"
    (drop (call $random_get (i32.const 4096) (i32.const 32)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4128)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 4136)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4144)))
    (local.set $fd (call $create (i32.const 2304) (i32.const 7)))
    (call $write (local.get $fd) (i32.const 4096) (i32.const 56))
    (call $write_computed)"#;

async fn entropy(
    exec: &WasmExecutor,
    id: B256,
    clock_start: Option<SystemTime>,
) -> (Vec<u8>, B256) {
    let mut task = Task::wat(id, &wasi_module(1, ENTROPY_BODY, ""));
    task.request.clock_start = clock_start;
    let out = exec
        .execute(task.request.clone())
        .await
        .expect("entropy module runs");
    (
        fs::read(task.output_file("out.bin")).unwrap(),
        out.result.digest,
    )
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[tokio::test]
async fn random_and_clocks_are_derived_from_the_task_id() {
    let (a1, d1) = entropy(executor(), task_id(5), None).await;
    let (a2, d2) = entropy(executor(), task_id(5), None).await;
    assert_eq!(a1, a2, "two replicas read the same random bytes and times");
    assert_eq!(d1, d2);
    assert_eq!(d1, sha256(&a1));

    let (b, db) = entropy(executor(), task_id(6), None).await;
    assert_ne!(a1[..32], b[..32], "another task draws other random bytes");
    assert_ne!(
        u64_at(&a1, 32),
        u64_at(&b, 32),
        "and starts its clock elsewhere"
    );
    assert_ne!(d1, db);

    // Another worker (its own engine and caches) draws the same bytes.
    let other = WasmExecutor::new(WasmConfig::default()).unwrap();
    let (c, _) = entropy(&other, task_id(5), None).await;
    assert_eq!(a1, c);

    // The default clock start is in [2020, 2029), the monotonic clock starts
    // at 0, and each read advances a clock by 1 ms.
    let start_ns = u64_at(&a1, 32);
    assert!(
        (1_577_836_800_000_000_000..1_861_920_000_000_000_000).contains(&start_ns),
        "{start_ns}"
    );
    assert_eq!(u64_at(&a1, 40), 0);
    assert_eq!(u64_at(&a1, 48), start_ns + 1_000_000);
}

#[tokio::test]
async fn clock_start_can_be_given() {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (bytes, _) = entropy(executor(), task_id(7), Some(start)).await;
    assert_eq!(u64_at(&bytes, 32), 1_700_000_000_000_000_000);
}

#[tokio::test]
async fn non_deterministic_mode_uses_real_randomness() {
    let exec = non_deterministic_executor();
    let (a, _) = entropy(&exec, task_id(8), None).await;
    let (b, _) = entropy(&exec, task_id(8), None).await;
    assert_ne!(a[..32], b[..32]);
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let read = u64_at(&a, 32);
    assert!(
        read > now_ns - 3_600_000_000_000 && read <= now_ns,
        "real wall clock: {read}"
    );
}

/// Writes 64 KiB chunks to out.bin, `chunks` times.
fn writer_module(chunks: u32) -> String {
    let body = format!(
        r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (local.set $i (i32.const 0))
        (block $done (loop $more
          (br_if $done (i32.ge_u (local.get $i) (i32.const {chunks})))
          (call $write (local.get $fd) (i32.const 65536) (i32.const 65536))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
        (call $write_computed)"#
    );
    wasi_module(2, &body, "")
}

#[tokio::test]
async fn writes_past_the_output_cap_are_stopped() {
    let mut task = Task::wat(task_id(9), &writer_module(32)); // 2 MiB
    task.request.limits.output_bytes = 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::OutputTooLarge {
        limit_bytes,
        written_bytes,
        ..
    } = err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(limit_bytes, 1024 * 1024);
    assert_eq!(
        written_bytes,
        1024 * 1024 + 65536,
        "stopped at the first write past the cap"
    );
    let on_disk = fs::metadata(task.output_file("out.bin")).unwrap().len();
    assert_eq!(
        on_disk,
        1024 * 1024,
        "the write past the cap never happened"
    );
}

#[tokio::test]
async fn output_under_the_cap_is_accepted() {
    let mut task = Task::wat(task_id(10), &writer_module(4)); // 256 KiB
    task.request.limits.output_bytes = 1024 * 1024;
    let out = executor()
        .execute(task.request.clone())
        .await
        .expect("under the cap");
    assert_eq!(out.result.digest, sha256(&vec![0u8; 4 * 65536]));
}

#[tokio::test]
async fn files_extended_without_writing_count_at_the_end() {
    // ftruncate to 10 MiB: nothing written, but the result would be 10 MiB.
    let body = r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (drop (call $fd_filestat_set_size (local.get $fd) (i64.const 10485760)))
        (call $write_computed)"#;
    let mut task = Task::wat(task_id(11), &wasi_module(1, body, ""));
    task.request.limits.output_bytes = 1024 * 1024;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::OutputTooLarge { written_bytes, .. } if written_bytes > 10485760),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_computed_json_is_reported_like_iexec() {
    let body = r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (call $write (local.get $fd) (i32.const 2304) (i32.const 7))"#;
    let task = Task::wat(task_id(12), &wasi_module(1, body, ""));
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::MissingComputedJson { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("failed to produce /iexec_out/computed.json"),
        "{err}"
    );
    assert!(err.is_app_fault());
}

#[tokio::test]
async fn stdout_is_captured_and_bounded_and_not_counted_as_output() {
    // 200 writes of 1 KiB to stdout, then "END"; no computed.json.
    let data = format!(r#"(data (i32.const 8192) "{}")"#, wat_str(b"END"));
    let body = r#"(local.set $i (i32.const 0))
        (block $done (loop $more
          (br_if $done (i32.ge_u (local.get $i) (i32.const 200)))
          (call $write (i32.const 1) (i32.const 4096) (i32.const 1024))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
        (call $write (i32.const 1) (i32.const 8192) (i32.const 3))"#;
    let mut task = Task::wat(task_id(13), &wasi_module(1, body, &data));
    task.request.limits.log_tail_bytes = 1024;
    task.request.limits.output_bytes = 100;
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::MissingComputedJson { logs } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(logs.stdout.len(), 1024);
    assert!(logs.stdout.ends_with(b"END"));
    assert_eq!(logs.stdout_dropped, 200 * 1024 + 3 - 1024);
}

#[tokio::test]
async fn iexec_in_is_read_only_and_nothing_escapes_the_preopens() {
    let data = format!(
        r#"(data (i32.const 8192) "{}") (data (i32.const 8256) "{}")"#,
        wat_str(b"new.txt"),
        wat_str(b"../iexec_in/new.txt")
    );
    // Exit with the errno of the open if it fails (WASI errnos are 1..=76).
    let body = r#"(local.set $i (call $open_in (i32.const 3) (i32.const 8192) (i32.const 7) (i32.const 9)))
        (if (local.get $i) (then (call $proc_exit (local.get $i))))
        (call $proc_exit (i32.const 0))"#;
    let task = Task::wat(task_id(14), &wasi_module(1, body, &data));
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::NonZeroExit { code, .. } if code > 0 && code != 99),
        "create in /iexec_in: {err:?}"
    );
    assert!(!task.request.workspace.input_dir().join("new.txt").exists());

    let escape = r#"(local.set $i (call $open_in (i32.const 4) (i32.const 8256) (i32.const 19) (i32.const 9)))
        (if (local.get $i) (then (call $proc_exit (local.get $i))))
        (call $proc_exit (i32.const 0))"#;
    let task = Task::wat(task_id(15), &wasi_module(1, escape, &data));
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::NonZeroExit { code, .. } if code > 0 && code != 99),
        "escape via ..: {err:?}"
    );
    assert!(!task.request.workspace.input_dir().join("new.txt").exists());
}

#[tokio::test]
async fn traps_and_bad_modules_have_their_own_errors() {
    let task = Task::wat(task_id(16), &wasi_module(1, "unreachable", ""));
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::Trap { ref message, .. } = err else {
        panic!("unexpected {err:?}")
    };
    assert!(message.contains("unreachable"), "{message}");

    let task = Task::new(task_id(17), b"\0asm\x01\0\0\0garbage".to_vec());
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidModule { .. }), "{err:?}");

    let task = Task::wat(task_id(18), r#"(module (func (export "main")))"#);
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidModule { ref reason } if reason.contains("_start")),
        "{err:?}"
    );

    let task = Task::wat(
        task_id(19),
        r#"(module (import "env" "socket" (func)) (func (export "_start")))"#,
    );
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidModule { ref reason } if reason.contains("socket")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_quoting_in_args_is_refused() {
    let mut task = Task::wat(task_id(20), &wasi_module(1, "", ""));
    task.request.args = "'unterminated".into();
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgs(_)), "{err:?}");
}

#[tokio::test]
async fn fuel_budget_stops_the_app() {
    let exec = WasmExecutor::new(WasmConfig {
        fuel_metering: true,
        ..WasmConfig::default()
    })
    .unwrap();
    let mut task = Task::wat(task_id(21), &wasi_module(1, LOOP_FOREVER, ""));
    task.request.limits.fuel = Some(1_000_000);
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::FuelExhausted {
                fuel: 1_000_000,
                ..
            }
        ),
        "{err:?}"
    );

    let body =
        "(local.set $fd (call $create (i32.const 2304) (i32.const 7))) (call $write_computed)";
    let mut task = Task::wat(task_id(22), &wasi_module(1, body, ""));
    task.request.limits.fuel = Some(1_000_000);
    let out = exec
        .execute(task.request.clone())
        .await
        .expect("cheap app fits its budget");
    let used = out.stats.fuel_consumed.expect("metered");
    assert!(used > 0 && used < 1_000_000, "{used}");

    // Without metering a fuel budget cannot be honoured.
    let mut task = Task::wat(task_id(22), &wasi_module(1, body, ""));
    task.request.limits.fuel = Some(1_000_000);
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::FuelMeteringDisabled), "{err:?}");
    assert!(!err.is_app_fault());
}

#[tokio::test]
async fn dropping_the_future_cancels_the_job() {
    let exec = WasmExecutor::new(WasmConfig::default()).unwrap();
    let mut task = Task::wat(task_id(23), &wasi_module(1, LOOP_FOREVER, ""));
    task.request.limits.wall_time = Duration::from_secs(600);
    let job = exec.execute(task.request.clone());
    // Let the job start, then drop it.
    let waited = tokio::time::timeout(Duration::from_millis(500), job).await;
    assert!(waited.is_err(), "an endless loop does not finish");
    // The blocking job notices within a few epoch ticks; wait generously.
    for _ in 0..600 {
        if exec.running_jobs() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job still runs after its future was dropped");
}

/// f32 and f64 0/0 written as raw bits to out.bin.
fn nan_module() -> String {
    let body = r#"(i32.store (i32.const 4096) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
        (i64.store (i32.const 4100) (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
        (local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (call $write (local.get $fd) (i32.const 4096) (i32.const 12))
        (call $write_computed)"#;
    wasi_module(1, body, "")
}

async fn nan_bits(exec: &WasmExecutor) -> (u32, u64) {
    let task = Task::wat(task_id(24), &nan_module());
    exec.execute(task.request.clone())
        .await
        .expect("nan module runs");
    let bytes = fs::read(task.output_file("out.bin")).unwrap();
    (
        u32::from_le_bytes(bytes[..4].try_into().unwrap()),
        u64_at(&bytes, 4),
    )
}

#[tokio::test]
async fn nan_results_are_canonical() {
    assert_eq!(
        nan_bits(executor()).await,
        (0x7fc0_0000, 0x7ff8_0000_0000_0000)
    );
    if cfg!(target_arch = "x86_64") {
        // Without canonicalization x86 returns its own "default NaN", with the
        // sign bit set: the setting is what makes replicas agree.
        let exec = non_deterministic_executor();
        assert_eq!(nan_bits(&exec).await, (0xffc0_0000, 0xfff8_0000_0000_0000));
    }
}
