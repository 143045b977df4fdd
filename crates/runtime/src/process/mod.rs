//! [`ProcessExecutor`]: runs each execution in a runner process, stopped by
//! being killed.
//!
//! The in-process [`crate::WasmExecutor`] stops an app at its time limit
//! through epoch checks that wasmtime compiles into every loop and function
//! entry (about 18 % of a CPU-bound app's time). Here the app's code has no
//! such checks: the execution runs in a child process, and the executor
//! kills it (SIGKILL) at the deadline or when the execution is cancelled
//! (its future dropped). The rest of the sandbox (memory cap, output cap,
//! deterministic clocks and randomness, NaN canonicalization, module cache)
//! is the same code, run in the child.
//!
//! Runners are persistent: each runs one execution at a time and then waits
//! for the next, so a task costs no process start. The executor keeps up to
//! [`ProcessConfig::runners`] idle runners (started by
//! [`ProcessExecutor::start`]), starts more when more executions run at
//! once, and replaces a runner that was killed or died. A runner that dies
//! while idle is noticed at its next use and the execution moves to a fresh
//! runner.
//!
//! The runner program is a binary that embeds this crate and calls
//! [`crate::run_as_runner_if_requested`] first in its `main` (by default the
//! current executable). Runners are in their own process group, so a Ctrl-C
//! in a terminal reaches only the executor's process, and they exit when
//! their stdin closes, which includes the executor's process dying.
//!
//! Timing: the compile budget ([`WasmConfig::max_compile_time`]) runs from
//! when the request is sent until the runner reports that the module is
//! compiled or loaded and the app is about to start; the runner is killed
//! if it runs out. The wall time starts then, as in-process. The app's
//! stdout and stderr are streamed to the executor as they are written, so an
//! app killed at its time limit still reports the tail of its output.
//!
//! Compiled modules are shared by the runners through the module cache's
//! folder ([`crate::WasmConfig::cache_dir`]); without one the executor makes
//! a private temporary folder.

mod protocol;
mod runner;

use std::{
    collections::BTreeSet,
    io::{BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use tracing::{debug, info_span, warn, Instrument};

#[doc(hidden)]
pub use self::protocol::fuzz_frames;
use self::protocol::{
    decode, encode, read_frame, write_frame, FromRunner, ToRunner, EXECUTOR_GREETING, RUNNER_ARG,
    RUNNER_GREETING,
};
pub use self::runner::run_as_runner_if_requested;
use crate::{
    error::{Error, Result},
    executor::{BoxFuture, ExecutionOutput, Executor},
    logs::{self, TailPipe},
    request::ExecutionRequest,
    wasm::{log_outcome, time_limit_exceeded, WasmConfig},
};

/// Default of [`ProcessConfig::start_timeout`].
pub const DEFAULT_RUNNER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration of a [`ProcessExecutor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    /// The sandbox of every runner ([`WasmConfig::epoch_tick`] is unused:
    /// runners have no epoch checks).
    pub wasm: WasmConfig,
    /// The program started as a runner; its `main` must call
    /// [`crate::run_as_runner_if_requested`] first. `None`: the current
    /// executable.
    pub program: Option<PathBuf>,
    /// Idle runners kept ready between executions (at least one is started
    /// by [`ProcessExecutor::start`]). More run when more executions run at
    /// once; those beyond this number exit when their execution ends.
    pub runners: usize,
    /// How long a new runner may take to start and build its engines.
    pub start_timeout: Duration,
}

impl Default for ProcessConfig {
    /// The default sandbox, the current executable, one runner per core.
    fn default() -> Self {
        Self {
            wasm: WasmConfig::default(),
            program: None,
            runners: std::thread::available_parallelism().map_or(1, |n| n.get()),
            start_timeout: DEFAULT_RUNNER_START_TIMEOUT,
        }
    }
}

/// Runs WASI preview 1 command modules in runner processes; see the module
/// docs.
///
/// Cheap to clone; clones share the runners. Dropping the last clone stops
/// the idle runners (busy ones stop when their execution ends or is
/// dropped).
#[derive(Clone)]
pub struct ProcessExecutor {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for ProcessExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessExecutor")
            .field("config", &self.pool.config)
            .field("program", &self.pool.program)
            .field("running", &self.running_jobs())
            .finish_non_exhaustive()
    }
}

struct Pool {
    config: ProcessConfig,
    program: PathBuf,
    /// The greeting and the hello frame every runner is sent first.
    hello: Arc<Vec<u8>>,
    idle: Mutex<Vec<Runner>>,
    pids: Arc<Mutex<BTreeSet<u32>>>,
    running: AtomicUsize,
    // Last field: removed after the runners stopped using it.
    _cache_dir: Option<tempfile::TempDir>,
}

impl ProcessExecutor {
    /// Starts `max(1, config.runners)` runners and waits until they are
    /// ready, so a wrong program or configuration fails here rather than on
    /// the first task.
    pub async fn start(config: ProcessConfig) -> Result<Self> {
        let program = match &config.program {
            Some(program) => program.clone(),
            None => std::env::current_exe().map_err(|e| Error::RunnerFailed {
                reason: format!("cannot find the current executable to start runners: {e}"),
            })?,
        };
        let mut wasm = config.wasm.clone();
        let cache_dir = match &wasm.cache_dir {
            Some(_) => None,
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("poco-modules-")
                    .tempdir()
                    .map_err(|e| Error::io("cannot create the module cache", "$TMPDIR", e))?;
                wasm.cache_dir = Some(dir.path().to_owned());
                Some(dir)
            }
        };
        let hello = hello_frames(wasm).map_err(|e| Error::RunnerFailed {
            reason: format!("cannot encode the runner configuration: {e}"),
        })?;
        let pool = Arc::new(Pool {
            config,
            program,
            hello: Arc::new(hello),
            idle: Mutex::new(Vec::new()),
            pids: Arc::default(),
            running: AtomicUsize::new(0),
            _cache_dir: cache_dir,
        });
        for _ in 0..pool.config.runners.max(1) {
            let runner = pool.start_runner().await?;
            pool.idle().push(runner);
        }
        Ok(Self { pool })
    }

    /// Number of executions in progress.
    pub fn running_jobs(&self) -> usize {
        self.pool.running.load(Ordering::Relaxed)
    }

    /// Process ids of the live runners, idle or busy.
    pub fn runner_pids(&self) -> Vec<u32> {
        self.pool
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// The program runners are started from.
    pub fn program(&self) -> &std::path::Path {
        &self.pool.program
    }
}

fn hello_frames(config: WasmConfig) -> std::io::Result<Vec<u8>> {
    let mut frames = Vec::new();
    write_frame(&mut frames, EXECUTOR_GREETING.as_bytes())?;
    let hello = ToRunner::Hello {
        config,
        log_level: tracing::level_filters::LevelFilter::current().to_string(),
    };
    write_frame(&mut frames, &encode(&hello)?)?;
    Ok(frames)
}

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "wasm-process"
    }

    fn execute(&self, request: ExecutionRequest) -> BoxFuture<'_, Result<ExecutionOutput>> {
        let span = info_span!(target: "poco::runtime", "wasm_task", task_id = %request.task_id);
        Box::pin(
            async move {
                self.pool.running.fetch_add(1, Ordering::Relaxed);
                let _running = Running(&self.pool.running);
                let outcome = self.pool.execute(&request).await;
                log_outcome(&request, &outcome);
                outcome
            }
            .instrument(span),
        )
    }
}

struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A live runner process and its pipes.
struct Runner {
    pid: u32,
    child: Arc<Mutex<Child>>,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    pids: Arc<Mutex<BTreeSet<u32>>>,
}

/// Kills a runner from another thread than the one using its pipes.
#[derive(Clone)]
struct Killer(Arc<Mutex<Child>>);

impl Killer {
    fn kill(&self) {
        // Does nothing once the child was reaped, so it never hits a reused
        // process id.
        let _ = self.0.lock().unwrap_or_else(PoisonError::into_inner).kill();
    }
}

/// Kills the runner when dropped, unless disarmed: a dropped execution
/// future (cancellation) stops its app at once.
struct KillOnDrop(Option<Killer>);

impl KillOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(killer) = self.0.take() {
            killer.kill();
        }
    }
}

impl Runner {
    fn spawn(program: &std::path::Path, pids: Arc<Mutex<BTreeSet<u32>>>) -> Result<Self> {
        use std::os::unix::process::CommandExt as _;

        // A clean environment: the runner needs none, and the executor's may hold secrets
        // (a worker's key or wallet password) that an app must never reach.
        let mut child = Command::new(program)
            .arg(RUNNER_ARG)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::RunnerFailed {
                reason: format!("cannot start the runner program {}: {e}", program.display()),
            })?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::RunnerFailed {
                reason: "the runner's pipes were not created".to_owned(),
            });
        };
        let pid = child.id();
        pids.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pid);
        Ok(Self {
            pid,
            child: Arc::new(Mutex::new(child)),
            input,
            output: BufReader::new(output),
            pids,
        })
    }

    fn killer(&self) -> Killer {
        Killer(self.child.clone())
    }

    /// Whether the process has exited (it is then reaped).
    fn has_exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(child.try_wait(), Ok(None))
    }

    /// How the process ended, once its output closed: waits a little for it
    /// to exit by itself, then kills it.
    fn end_status(&self) -> String {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    return match child.wait() {
                        Ok(status) => format!("closed its output, then was killed ({status})"),
                        Err(e) => format!("closed its output and cannot be waited for: {e}"),
                    };
                }
                Err(e) => return format!("cannot be waited for: {e}"),
            }
        }
    }

    fn read(&mut self) -> std::io::Result<Option<FromRunner>> {
        match read_frame(&mut self.output)? {
            Some(frame) => decode(&frame).map(Some),
            None => Ok(None),
        }
    }

    /// Sends the greeting and hello frames, and waits for the answer.
    fn handshake(&mut self, hello: &[u8]) -> Result<()> {
        let pid = self.pid;
        let broken = move |what: String| Error::RunnerFailed {
            reason: format!("runner {pid} {what}"),
        };
        self.input
            .write_all(hello)
            .and_then(|()| self.input.flush())
            .map_err(|e| broken(format!("does not take the handshake: {e}")))?;
        match read_frame(&mut self.output) {
            Ok(Some(frame)) if frame == RUNNER_GREETING.as_bytes() => {}
            Ok(Some(frame)) => {
                return Err(broken(format!(
                    "greets with {:?}, not {RUNNER_GREETING:?}: the runner program must be a \
                     runner of the same build",
                    String::from_utf8_lossy(&frame[..frame.len().min(200)])
                )))
            }
            Ok(None) | Err(_) => {
                return Err(broken(format!(
                    "ended ({}) without answering: does the program's main call \
                     poco_runtime::run_as_runner_if_requested() first?",
                    self.end_status()
                )))
            }
        }
        match self.read() {
            Ok(Some(FromRunner::Ready)) => Ok(()),
            Ok(Some(FromRunner::Refused(e))) => Err(e),
            Ok(Some(other)) => Err(broken(format!("answered {other:?} to the hello"))),
            Ok(None) => Err(broken(format!("ended ({})", self.end_status()))),
            Err(e) => Err(broken(format!("sent an unreadable answer: {e}"))),
        }
    }

    /// Sends a request and passes what the runner says on to `events`,
    /// until the run is finished. Runs on a blocking thread.
    fn exchange(
        &mut self,
        request: &[u8],
        events: &mpsc::Sender<FromRunner>,
    ) -> std::result::Result<(), Broken> {
        let mut answered = false;
        let pid = self.pid;
        let broken = move |answered: bool, what: String| Broken {
            answered,
            reason: format!("runner {pid} {what}"),
        };
        if let Err(e) = write_frame(&mut self.input, request) {
            let status = self.end_status();
            return Err(broken(
                false,
                format!("did not take the request ({e}; {status})"),
            ));
        }
        loop {
            let message = match self.read() {
                Ok(Some(message)) => message,
                Ok(None) => {
                    let status = self.end_status();
                    return Err(broken(answered, format!("ended ({status})")));
                }
                Err(e) => {
                    self.killer().kill();
                    return Err(broken(answered, format!("sent an unreadable message: {e}")));
                }
            };
            answered = true;
            let finished = matches!(message, FromRunner::Finished(_));
            if events.blocking_send(message).is_err() {
                // The execution was dropped (and the runner killed).
                return Err(broken(true, "was abandoned".to_owned()));
            }
            if finished {
                return Ok(());
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // An idle runner would exit on its own once its stdin closes; killing
        // it is as good and lets the wait below return at once.
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
        self.pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.pid);
    }
}

/// A runner that stopped following the protocol.
#[derive(Debug)]
struct Broken {
    /// Whether it said anything about the request first.
    answered: bool,
    reason: String,
}

impl Pool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Runner>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a runner and waits until it is ready.
    async fn start_runner(&self) -> Result<Runner> {
        let program = self.program.clone();
        let pids = self.pids.clone();
        let hello = self.hello.clone();
        let started = Instant::now();
        let mut runner = blocking(move || Runner::spawn(&program, pids)).await??;
        let mut kill_on_drop = KillOnDrop(Some(runner.killer()));
        let killer = runner.killer();
        let handshake = blocking(move || {
            let answer = runner.handshake(&hello);
            answer.map(|()| runner)
        });
        match tokio::time::timeout(self.config.start_timeout, handshake).await {
            Ok(runner) => {
                let runner = runner??;
                kill_on_drop.disarm();
                debug!(target: "poco::runtime", pid = runner.pid, ms = started.elapsed().as_millis() as u64, "runner ready");
                Ok(runner)
            }
            Err(_) => {
                killer.kill();
                Err(Error::RunnerFailed {
                    reason: format!(
                        "the runner program {} did not get ready within {:?}",
                        self.program.display(),
                        self.config.start_timeout
                    ),
                })
            }
        }
    }

    /// An idle live runner, or a new one. The bool says whether it was idle
    /// (it may have died since without anybody noticing).
    async fn checkout(&self) -> Result<(Runner, bool)> {
        loop {
            let Some(runner) = self.idle().pop() else {
                break;
            };
            if runner.has_exited() {
                warn!(target: "poco::runtime", pid = runner.pid, "an idle runner died; replacing it");
                continue;
            }
            return Ok((runner, true));
        }
        Ok((self.start_runner().await?, false))
    }

    fn checkin(&self, runner: Runner) {
        let surplus = {
            let mut idle = self.idle();
            if idle.len() < self.config.runners.max(1) {
                idle.push(runner);
                None
            } else {
                Some(runner)
            }
        };
        // Stopped (killed and reaped) outside the lock and off the async
        // threads.
        if let Some(runner) = surplus {
            tokio::task::spawn_blocking(move || drop(runner));
        }
    }

    async fn execute(&self, request: &ExecutionRequest) -> Result<ExecutionOutput> {
        let started = Instant::now();
        let frame = Arc::new(
            encode(&ToRunner::Run(Box::new(request.clone()))).map_err(|e| Error::RunnerFailed {
                reason: format!("cannot encode the request: {e}"),
            })?,
        );
        // One retry, for a runner that died while idle (or right when it was
        // handed the request); a request that kills fresh runners fails.
        let mut retried = false;
        loop {
            let (runner, was_idle) = self.checkout().await?;
            match self.session(runner, frame.clone(), request).await {
                Ok(mut outcome) => {
                    if let Ok(out) = &mut outcome {
                        out.stats.wall_time = started.elapsed();
                    }
                    return outcome;
                }
                Err(reason) if was_idle && !retried => {
                    warn!(target: "poco::runtime", %reason, "retrying on a new runner");
                    retried = true;
                }
                Err(reason) => return Err(Error::RunnerFailed { reason }),
            }
        }
    }

    /// One request on one runner: sends it, follows the run, enforces the
    /// time limit, and puts the runner back if it can serve again.
    async fn session(
        &self,
        mut runner: Runner,
        frame: Arc<Vec<u8>>,
        request: &ExecutionRequest,
    ) -> Session {
        let limits = &request.limits;
        let killer = runner.killer();
        let mut kill_on_drop = KillOnDrop(Some(killer.clone()));
        let (events, mut received) = mpsc::channel(64);
        let io = tokio::task::spawn_blocking(move || {
            let result = runner.exchange(&frame, &events);
            (runner, result)
        });
        let stdout = TailPipe::new(limits.log_tail_bytes);
        let stderr = TailPipe::new(limits.log_tail_bytes);

        // Until the app starts (or the request fails before it does), the compile budget
        // runs: loading, the NaN rewrite and compilation happen in the runner, which is
        // killed if they take longer. Then the app's wall time.
        let compile_limit = self.config.wasm.max_compile_time;
        let mut deadline = tokio::time::Instant::now() + compile_limit;
        let mut app_started = false;
        loop {
            let next = match tokio::time::timeout_at(deadline, received.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    killer.kill();
                    // Wait until the app is gone (its runner's output
                    // closes), so nothing writes to the task's folders
                    // after this returns.
                    drop(received);
                    let _ = io.await;
                    if !app_started {
                        return Ok(Err(Error::CompileTimeExceeded {
                            limit: compile_limit,
                        }));
                    }
                    return Ok(Err(time_limit_exceeded(
                        limits,
                        logs::collect(&stdout, &stderr),
                    )));
                }
            };
            match next {
                Some(FromRunner::Started) => {
                    app_started = true;
                    deadline = tokio::time::Instant::now() + limits.wall_time;
                }
                Some(FromRunner::Stdout(bytes)) => stdout.push(&bytes),
                Some(FromRunner::Stderr(bytes)) => stderr.push(&bytes),
                Some(FromRunner::Finished(outcome)) => {
                    let outcome = *outcome;
                    kill_on_drop.disarm();
                    match io.await {
                        Ok((runner, Ok(()))) => self.checkin(runner),
                        Ok((_, Err(broken))) => {
                            warn!(target: "poco::runtime", reason = %broken.reason, "runner discarded")
                        }
                        Err(e) => warn!(target: "poco::runtime", error = %e, "runner I/O failed"),
                    }
                    return Ok(outcome);
                }
                Some(other) => {
                    killer.kill();
                    drop(received);
                    let _ = io.await;
                    return Ok(Err(Error::RunnerFailed {
                        reason: format!("the runner sent {other:?} during a run"),
                    }));
                }
                None => {
                    return match io.await {
                        Ok((
                            _,
                            Err(Broken {
                                answered: false,
                                reason,
                            }),
                        )) => Err(reason),
                        Ok((_, Err(Broken { reason, .. }))) => {
                            Ok(Err(Error::RunnerFailed { reason }))
                        }
                        Ok((_, Ok(()))) => Ok(Err(Error::RunnerFailed {
                            reason: "the runner finished without an outcome".to_owned(),
                        })),
                        Err(e) => Ok(Err(Error::Panicked {
                            reason: e.to_string(),
                        })),
                    };
                }
            }
        }
    }
}

/// How a session ends: the execution's outcome, or (`Err`) the runner died
/// before saying anything about the request, for this reason.
type Session = std::result::Result<Result<ExecutionOutput>, String>;

/// Runs blocking work (process start, pipe I/O) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Panicked {
            reason: e.to_string(),
        })
}
