//! Process isolation: the same outcomes as in-process execution, the time
//! limit and cancellation by killing the runner, replacement of dead
//! runners, concurrency.

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use poco_runtime::{Error, ExecutionOutput, Executor, ProcessConfig, ProcessExecutor, WasmConfig};

use crate::common::{
    app_module, executor, new_process_executor, process_executor, sha256, task_id, wasi_module,
    wat_str, Task,
};

/// Runs two copies of a task (own workspaces), one in process and one in a
/// runner.
async fn both(make: impl Fn() -> Task) -> [(Task, poco_runtime::Result<ExecutionOutput>); 2] {
    let in_process = make();
    let a = executor().execute(in_process.request.clone()).await;
    let isolated = make();
    let b = process_executor()
        .await
        .execute(isolated.request.clone())
        .await;
    [(in_process, a), (isolated, b)]
}

#[tokio::test]
async fn hello_gives_the_same_result_in_a_runner() {
    let make = || {
        let mut task = Task::new(task_id(0x70), app_module("hello"));
        task.input("a.txt", b"1");
        task.request.args = "process 'two words'".into();
        task.request.input_files = vec!["a.txt".into()];
        task
    };
    let [(ta, a), (tb, b)] = both(make).await;
    let (a, b) = (a.expect("in process"), b.expect("in a runner"));
    assert_eq!(a.result.digest, b.result.digest);
    assert_eq!(a.result.archive_sha256, b.result.archive_sha256);
    assert_eq!(a.result.computed, b.result.computed);
    assert_eq!(a.logs, b.logs);
    assert!(b.logs.stdout_lossy().contains("result.txt"), "{:?}", b.logs);
    let text = fs::read_to_string(tb.output_file("result.txt")).unwrap();
    assert_eq!(
        text,
        fs::read_to_string(ta.output_file("result.txt")).unwrap()
    );
    assert!(text.starts_with("Hello, process two words!\n"), "{text}");
    assert_eq!(b.result.archive, tb.request.workspace.archive_path());
}

/// Changes a test task before it runs.
type Tweak = dyn Fn(&mut Task);

/// Outcomes that must be identical (kind, message, logs) in both modes.
#[tokio::test]
async fn failures_are_the_same_in_a_runner() {
    let grow = "(loop $grow (drop (memory.grow (i32.const 1))) (br $grow))";
    let write_out = r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (local.set $i (i32.const 0))
        (block $done (loop $more
          (br_if $done (i32.ge_u (local.get $i) (i32.const 8)))
          (call $write (local.get $fd) (i32.const 65536) (i32.const 65536))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
        (call $write_computed)"#;
    let chatty = r#"(local.set $i (i32.const 0))
        (block $done (loop $more
          (br_if $done (i32.ge_u (local.get $i) (i32.const 50)))
          (call $write (i32.const 1) (i32.const 4096) (i32.const 1000))
          (call $write (i32.const 2) (i32.const 8192) (i32.const 5))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
        (unreachable)"#;
    let cases: Vec<(u8, String, Box<Tweak>)> = vec![
        (
            0x71,
            wasi_module(1, grow, ""),
            Box::new(|t: &mut Task| t.request.limits.memory_bytes = 2 * 1024 * 1024),
        ),
        (
            0x72,
            wasi_module(2, write_out, ""),
            Box::new(|t: &mut Task| t.request.limits.output_bytes = 200_000),
        ),
        (
            0x73,
            wasi_module(
                1,
                chatty,
                &format!(r#"(data (i32.const 8192) "{}")"#, wat_str(b"oops\n")),
            ),
            Box::new(|t: &mut Task| t.request.limits.log_tail_bytes = 777),
        ),
        (
            0x74,
            wasi_module(1, "(call $proc_exit (i32.const 3))", ""),
            Box::new(|_: &mut Task| {}),
        ),
        (
            0x75,
            wasi_module(1, "", ""),
            Box::new(|t: &mut Task| t.request.args = "'open".into()),
        ),
        (
            0x76,
            wasi_module(1, "", ""),
            Box::new(|t: &mut Task| t.request.app_checksum = task_id(9)),
        ),
    ];
    for (id, wat, tweak) in &cases {
        let [(_, a), (_, b)] = both(|| {
            let mut task = Task::wat(task_id(*id), wat);
            tweak(&mut task);
            task
        })
        .await;
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert_eq!(
            std::mem::discriminant(&a),
            std::mem::discriminant(&b),
            "{a:?} / {b:?}"
        );
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.logs(), b.logs());
        assert!(a.is_app_fault() && b.is_app_fault(), "{a}");
    }
}

/// Reads random bytes and both clocks into out.bin.
const ENTROPY_BODY: &str = r#"
    (drop (call $random_get (i32.const 4096) (i32.const 32)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4128)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 4136)))
    (local.set $fd (call $create (i32.const 2304) (i32.const 7)))
    (call $write (local.get $fd) (i32.const 4096) (i32.const 48))
    (call $write_computed)"#;

#[tokio::test]
async fn clocks_and_randomness_are_the_same_in_a_runner() {
    let [(ta, a), (tb, b)] =
        both(|| Task::wat(task_id(0x77), &wasi_module(1, ENTROPY_BODY, ""))).await;
    assert_eq!(a.unwrap().result.digest, b.unwrap().result.digest);
    let bytes = fs::read(tb.output_file("out.bin")).unwrap();
    assert_eq!(bytes, fs::read(ta.output_file("out.bin")).unwrap());
    assert_eq!(bytes.len(), 48);
}

/// Creates /iexec_out/out.bin (so a test knows the app runs), writes
/// "spinning" to stderr, then loops forever.
fn spinner() -> String {
    let body = r#"(local.set $fd (call $create (i32.const 2304) (i32.const 7)))
        (drop (call $fd_close (local.get $fd)))
        (call $write (i32.const 2) (i32.const 8192) (i32.const 9))
        (loop $spin (br $spin))"#;
    wasi_module(
        1,
        body,
        &format!(r#"(data (i32.const 8192) "{}")"#, wat_str(b"spinning\n")),
    )
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn time_limit_kills_the_runner_with_the_same_error() {
    let exec = new_process_executor(WasmConfig::default(), 1).await;
    let [first] = exec.runner_pids()[..] else {
        panic!("one runner")
    };
    let mut task = Task::wat(task_id(0x78), &spinner());
    task.request.limits.wall_time = Duration::from_millis(300);
    let err = exec.execute(task.request.clone()).await.unwrap_err();
    let Error::TimeLimitExceeded { limit, ref logs } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(limit, Duration::from_millis(300));
    assert_eq!(logs.stderr, b"spinning\n", "the tail survives the kill");
    assert!(err.is_app_fault());
    assert!(!exec.runner_pids().contains(&first));
    assert!(!process_exists(first), "the runner is gone");

    // In process, the same error, word for word.
    let mut same = Task::wat(task_id(0x78), &spinner());
    same.request.limits.wall_time = Duration::from_millis(300);
    let expected = executor().execute(same.request.clone()).await.unwrap_err();
    assert_eq!(err.to_string(), expected.to_string());
    assert_eq!(err.logs(), expected.logs());

    // A new runner takes the next task.
    let next = Task::new(task_id(0x79), app_module("hello"));
    exec.execute(next.request.clone())
        .await
        .expect("next task runs");
    assert_eq!(exec.runner_pids().len(), 1);
}

/// An executor with one runner, running [`spinner`] (started) on it.
async fn spinning_on_one_runner(
    id: u8,
) -> (
    ProcessExecutor,
    u32,
    tokio::task::JoinHandle<poco_runtime::Result<ExecutionOutput>>,
    Task,
) {
    let exec = new_process_executor(WasmConfig::default(), 1).await;
    let [pid] = exec.runner_pids()[..] else {
        panic!("one runner")
    };
    let mut task = Task::wat(task_id(id), &spinner());
    task.request.limits.wall_time = Duration::from_secs(600);
    let job = {
        let exec = exec.clone();
        let request = task.request.clone();
        tokio::spawn(async move { exec.execute(request).await })
    };
    let marker = task.output_file("out.bin");
    wait_for("the app to start", || marker.exists()).await;
    (exec, pid, job, task)
}

#[tokio::test]
async fn dropping_the_future_kills_the_runner() {
    let (exec, pid, job, _task) = spinning_on_one_runner(0x7a).await;
    assert_eq!(exec.running_jobs(), 1);
    job.abort();
    assert!(job.await.unwrap_err().is_cancelled());
    wait_for("the runner to go", || {
        exec.running_jobs() == 0 && !exec.runner_pids().contains(&pid) && !process_exists(pid)
    })
    .await;
}

#[tokio::test]
async fn a_runner_killed_while_idle_is_replaced() {
    let exec = new_process_executor(WasmConfig::default(), 1).await;
    let [pid] = exec.runner_pids()[..] else {
        panic!("one runner")
    };
    kill(pid);
    let task = Task::new(task_id(0x7b), app_module("hello"));
    let out = exec
        .execute(task.request.clone())
        .await
        .expect("runs on a new runner");
    let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
    assert_eq!(out.result.digest, sha256(text.as_bytes()));
    let pids = exec.runner_pids();
    assert_eq!(pids.len(), 1);
    assert_ne!(pids[0], pid);
}

#[tokio::test]
async fn a_runner_killed_while_busy_fails_its_task_and_is_replaced() {
    let (exec, pid, job, _task) = spinning_on_one_runner(0x7c).await;
    kill(pid);
    let err = job.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::RunnerFailed { .. }), "{err:?}");
    assert!(!err.is_app_fault(), "a dead runner is the worker's problem");
    assert!(err.to_string().contains("SIGKILL"), "{err}");

    let next = Task::new(task_id(0x7d), app_module("hello"));
    exec.execute(next.request.clone())
        .await
        .expect("next task runs");
    assert!(!exec.runner_pids().contains(&pid));
}

#[tokio::test]
async fn concurrent_executions_get_their_own_runners() {
    let exec = new_process_executor(WasmConfig::default(), 1).await;
    let tasks: Vec<Task> = (0..4u8)
        .map(|i| {
            let mut t = Task::new(task_id(0x80 + i), app_module("hello"));
            t.request.args = format!("runner{i}");
            t
        })
        .collect();
    let jobs: Vec<_> = tasks
        .iter()
        .map(|t| {
            let exec = exec.clone();
            let request = t.request.clone();
            tokio::spawn(async move { exec.execute(request).await })
        })
        .collect();
    for (i, (task, job)) in tasks.iter().zip(jobs).enumerate() {
        let out = job.await.unwrap().expect("hello runs");
        let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
        assert!(text.starts_with(&format!("Hello, runner{i}!\n")), "{text}");
        assert_eq!(out.result.digest, sha256(text.as_bytes()));
    }
    assert_eq!(exec.running_jobs(), 0);
    // Only the configured idle runners stay (the others are stopped in the
    // background).
    wait_for("surplus runners to stop", || exec.runner_pids().len() == 1).await;
}

#[tokio::test]
async fn runners_share_the_module_cache_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = WasmConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..WasmConfig::default()
    };
    let exec = new_process_executor(config.clone(), 1).await;
    let task = Task::new(task_id(0x84), app_module("hello"));
    let out = exec.execute(task.request.clone()).await.unwrap();
    assert!(!out.stats.cache_hit, "first use compiles");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

    // Another executor: its runners find the compiled module.
    let other = new_process_executor(config, 1).await;
    let task = Task::new(task_id(0x85), app_module("hello"));
    assert!(
        other
            .execute(task.request.clone())
            .await
            .unwrap()
            .stats
            .cache_hit
    );
}

#[tokio::test]
async fn a_program_that_is_not_a_runner_is_refused_at_start() {
    for program in ["/bin/true", "/bin/cat"] {
        let err = ProcessExecutor::start(ProcessConfig {
            program: Some(program.into()),
            runners: 1,
            ..ProcessConfig::default()
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::RunnerFailed { .. }),
            "{program}: {err:?}"
        );
        assert!(!err.is_app_fault());
    }
    let err = ProcessExecutor::start(ProcessConfig {
        program: Some("/nonexistent/poco".into()),
        ..ProcessConfig::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/poco"), "{err}");
}
