//! The runner side: what a program does when started as a runner.

use std::{
    any::Any,
    ffi::OsStr,
    fs::File,
    io::{self, Write},
    os::fd::AsFd,
    panic::{self, AssertUnwindSafe},
    sync::{mpsc, Arc, Mutex, PoisonError},
    thread,
};

use tracing::{info_span, level_filters::LevelFilter};

use super::protocol::{
    decode, encode, read_frame, write_frame, FromRunner, ToRunner, EXECUTOR_GREETING, RUNNER_ARG,
    RUNNER_GREETING,
};
use crate::{
    error::Error,
    logs::TailPipe,
    wasm::{Host, Interruption},
};

/// Turns this process into a runner of a [`crate::ProcessExecutor`] when it
/// was started as one, and returns otherwise.
///
/// Call it first thing in `main` of every program a `ProcessExecutor` may
/// start (by default the program that creates the executor, see
/// [`crate::ProcessConfig::program`]): the executor starts that program with
/// a reserved first argument, and this function then serves requests on
/// stdin and stdout and exits the process without returning. For any other
/// command line it returns at once and does nothing.
///
/// At the top of `main`:
///
/// ```no_run
/// poco_runtime::run_as_runner_if_requested();
/// // ... the program's own work ...
/// ```
// the runner is its own process: its stderr is the only channel left to the parent
#[allow(clippy::disallowed_macros)]
pub fn run_as_runner_if_requested() {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(RUNNER_ARG)) {
        return;
    }
    let code = match serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("poco-runtime runner {}: {e}", std::process::id());
            1
        }
    };
    std::process::exit(code);
}

/// The protocol's output: the original stdout, shared by the thread running
/// the app and the threads that write its output.
#[derive(Clone)]
struct Output(Arc<Mutex<File>>);

impl Output {
    /// Takes stdout for the protocol and points file descriptor 1 at stderr,
    /// so that nothing else written to "stdout" in this process can corrupt
    /// the frames.
    fn take_stdout() -> io::Result<Self> {
        let protocol = io::stdout().as_fd().try_clone_to_owned()?;
        let stderr = io::stderr().as_fd().try_clone_to_owned()?;
        // SAFETY: dup2 on descriptors this process owns (the duplicate of
        // stderr stays open for the call); fd 1 is not used through any Rust
        // object whose state depends on which file it names.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&stderr), 1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(Arc::new(Mutex::new(File::from(protocol)))))
    }

    fn raw(&self, payload: &[u8]) -> io::Result<()> {
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        write_frame(&mut *out, payload)
    }

    fn send(&self, message: &FromRunner) -> io::Result<()> {
        self.raw(&encode(message)?)
    }

    /// Sends or, if the executor is gone, ends the process: nobody is left
    /// to run for.
    fn send_or_exit(&self, message: &FromRunner) {
        if self.send(message).is_err() {
            std::process::exit(0);
        }
    }
}

fn init_logging(level: &str) {
    let level = level.parse::<LevelFilter>().unwrap_or(LevelFilter::WARN);
    let _ = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(level)
        .without_time()
        .try_init();
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn protocol_error(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn serve() -> io::Result<()> {
    let output = Output::take_stdout()?;
    let mut input = io::stdin().lock();

    let first = read_frame(&mut input)?.ok_or_else(|| protocol_error("no handshake"))?;
    output.raw(RUNNER_GREETING.as_bytes())?;
    if first != EXECUTOR_GREETING.as_bytes() {
        return Err(protocol_error(format!(
            "the executor greets with {:?}, this runner expects {EXECUTOR_GREETING:?}",
            String::from_utf8_lossy(&first)
        )));
    }
    let hello = read_frame(&mut input)?.ok_or_else(|| protocol_error("no hello"))?;
    let ToRunner::Hello { config, log_level } = decode(&hello)? else {
        return Err(protocol_error("expected a hello"));
    };
    init_logging(&log_level);
    let host = match Host::new(config, Interruption::KillProcess) {
        Ok(host) => host,
        Err(e) => return output.send(&FromRunner::Refused(e)),
    };
    output.send(&FromRunner::Ready)?;
    drop(input);

    // Requests are read on their own thread, so that the end of stdin (the
    // executor closed it, or died) ends the process even while an app runs.
    let (requests, next) = mpsc::sync_channel::<Vec<u8>>(1);
    thread::Builder::new()
        .name("poco-runner-input".into())
        .spawn(move || {
            let mut input = io::stdin().lock();
            loop {
                let Ok(Some(frame)) = read_frame(&mut input) else {
                    std::process::exit(0)
                };
                if requests.send(frame).is_err() {
                    std::process::exit(0)
                }
            }
        })?;

    for frame in next {
        let ToRunner::Run(request) = decode(&frame)? else {
            return Err(protocol_error("expected a request"));
        };
        let _span =
            info_span!(target: "poco::runtime", "wasm_task", task_id = %request.task_id).entered();
        let cap = request.limits.log_tail_bytes;
        let stdout_sink = output.clone();
        let stdout = TailPipe::with_tee(
            cap,
            Arc::new(move |b: &[u8]| stdout_sink.send_or_exit(&FromRunner::Stdout(b.to_vec()))),
        );
        let stderr_sink = output.clone();
        let stderr = TailPipe::with_tee(
            cap,
            Arc::new(move |b: &[u8]| stderr_sink.send_or_exit(&FromRunner::Stderr(b.to_vec()))),
        );
        // A panic is reported as it is in process (the runner stays usable:
        // the host's locks tolerate poisoning).
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            host.run(&request, &stdout, &stderr, |_| {
                output.send_or_exit(&FromRunner::Started);
            })
        }))
        .unwrap_or_else(|panic| {
            Err(Error::Panicked {
                reason: panic_message(&*panic),
            })
        });
        output.send(&FromRunner::Finished(Box::new(outcome)))?;
        let _ = io::stderr().flush();
    }
    Ok(())
}
