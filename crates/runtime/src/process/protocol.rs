//! What the executor and its runners say to each other over the runner's
//! stdin and stdout.
//!
//! Every message is a frame: its length (u32, little-endian) then its bytes.
//! The first frame each way is a greeting naming the protocol and the build
//! ([`EXECUTOR_GREETING`], [`RUNNER_GREETING`]) as plain bytes, so a runner
//! of another build is recognized before anything is decoded; every later
//! frame is a postcard-encoded [`ToRunner`] or [`FromRunner`].
//!
//! ```text
//! executor                              runner
//!   greeting, Hello{config}   ───▶
//!                             ◀───   greeting, Ready (or Refused{error})
//!   Run{request}              ───▶
//!                             ◀───   Started (module ready, app about to run)
//!                             ◀───   Stdout/Stderr{bytes} ... as the app writes
//!                             ◀───   Finished{outcome}
//!   Run{request}              ───▶   ...
//! ```
//!
//! A runner runs one request at a time. It exits when its stdin closes,
//! even in the middle of a run.

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    executor::ExecutionOutput,
    request::ExecutionRequest,
    wasm::WasmConfig,
};

/// The argument (`argv[1]`) that turns a program into a runner.
pub(crate) const RUNNER_ARG: &str = "--poco-runtime-runner";

/// Names the protocol and the build.
macro_rules! protocol {
    () => {
        concat!(
            "poco-runtime runner protocol 1, poco-runtime ",
            env!("CARGO_PKG_VERSION")
        )
    };
}

/// The executor's first frame. The two greetings differ, so a program that
/// echoes its input is not mistaken for a runner.
pub(crate) const EXECUTOR_GREETING: &str = concat!(protocol!(), ", executor");
/// A runner's first frame, when the executor's greeting is its own.
pub(crate) const RUNNER_GREETING: &str = concat!(protocol!(), ", runner");

/// Frames above this size are refused (a module sent as bytes is the
/// largest thing that travels).
const MAX_FRAME: usize = 1 << 30;

/// From the executor to a runner.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToRunner {
    /// Once, after the protocol frame: how to build the engines.
    Hello {
        config: WasmConfig,
        /// Most verbose log level the runner writes to its stderr
        /// (`tracing`'s names, or "off").
        log_level: String,
    },
    /// Run one request.
    Run(Box<ExecutionRequest>),
}

/// From a runner to the executor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromRunner {
    /// The engines are built; send requests.
    Ready,
    /// The engines could not be built; the runner exits.
    Refused(Error),
    /// The module is compiled or loaded and the app is about to be
    /// instantiated: its wall time starts now.
    Started,
    /// Bytes the app wrote to its stdout.
    Stdout(Vec<u8>),
    /// Bytes the app wrote to its stderr.
    Stderr(Vec<u8>),
    /// The run is over.
    Finished(Box<Result<ExecutionOutput>>),
}

/// Writes one frame (in one write, then flushes).
pub(crate) fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|n| (*n as usize) <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::other(format!("a frame of {} bytes is too large", payload.len()))
        })?;
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame; `None` at a clean end of stream (between frames).
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame announces {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(payload))
}

pub(crate) fn encode(message: &impl Serialize) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(message).map_err(io::Error::other)
}

pub(crate) fn decode<T: DeserializeOwned>(frame: &[u8]) -> io::Result<T> {
    postcard::from_bytes(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads `bytes` as the framed stream a runner or the executor reads, and decodes every frame
/// as a message of either direction: the entry point of the fuzz target and property tests
/// of the framing. A decoded message must encode again, and its encoding must decode to the
/// same encoding. Returns how many frames decoded as a message.
#[doc(hidden)]
pub fn fuzz_frames(bytes: &[u8]) -> usize {
    fn stable<T: Serialize + DeserializeOwned>(message: &T) {
        let once = encode(message).expect("a decoded message encodes");
        let back: T = decode(&once).expect("an encoded message decodes");
        assert_eq!(encode(&back).expect("encodes"), once, "encoding is stable");
    }
    let mut input = bytes;
    let mut decoded = 0;
    while let Ok(Some(frame)) = read_frame(&mut input) {
        if let Ok(message) = decode::<ToRunner>(&frame) {
            stable(&message);
            decoded += 1;
        }
        if let Ok(message) = decode::<FromRunner>(&frame) {
            stable(&message);
            decoded += 1;
        }
    }
    decoded
}

#[cfg(test)]
mod tests {
    use std::{path::PathBuf, time::Duration};

    use alloy_primitives::B256;

    use super::*;
    use crate::{
        logs::Logs,
        request::{AppSource, TaskWorkspace},
    };

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"one").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"one");
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"");
        assert!(read_frame(&mut r).unwrap().is_none());
        let mut cut = &buf[..5];
        assert!(
            read_frame(&mut cut).is_err(),
            "a truncated frame is an error"
        );
        let mut huge = &u32::MAX.to_le_bytes()[..];
        assert!(read_frame(&mut huge).is_err());
    }

    #[test]
    fn requests_and_errors_survive_the_trip() {
        let mut request = ExecutionRequest::new(
            B256::repeat_byte(3),
            AppSource::Bytes(vec![0, 97, 115, 109]),
            B256::repeat_byte(4),
            TaskWorkspace::open("/tmp/ws"),
        );
        request.args = "a 'b c'".into();
        request.limits.wall_time = Duration::from_millis(1500);
        let frame = encode(&ToRunner::Run(Box::new(request.clone()))).unwrap();
        let ToRunner::Run(back) = decode(&frame).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(back.task_id, request.task_id);
        assert_eq!(back.app, request.app);
        assert_eq!(back.args, request.args);
        assert_eq!(back.limits, request.limits);
        assert_eq!(back.workspace, request.workspace);
        // A TEE task's secrets reach the runner too.
        request.secrets.app_developer = Some("dev".into());
        request.secrets.requester.insert(1, "req".into());
        let frame = encode(&ToRunner::Run(Box::new(request.clone()))).unwrap();
        let ToRunner::Run(back) = decode(&frame).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(back.secrets, request.secrets);

        let logs = Logs {
            stderr: b"boom\n".to_vec(),
            ..Logs::default()
        };
        let errors = [
            Error::TimeLimitExceeded {
                limit: Duration::from_secs(3),
                logs: Box::new(logs.clone()),
            },
            Error::io(
                "cannot read the output folder",
                PathBuf::from("/x"),
                io::Error::from_raw_os_error(2),
            ),
            Error::Io {
                context: "custom".into(),
                path: PathBuf::from("/y"),
                source: io::Error::other("not an OS error"),
            },
            Error::InvalidArgs(crate::args::split_args("'x").unwrap_err()),
        ];
        for error in errors {
            let (text, app_fault) = (error.to_string(), error.is_app_fault());
            let kind = std::mem::discriminant(&error);
            let frame = encode(&FromRunner::Finished(Box::new(Err(error)))).unwrap();
            let FromRunner::Finished(outcome) = decode(&frame).unwrap() else {
                panic!("not an outcome")
            };
            let Err(back) = *outcome else {
                panic!("not an error")
            };
            assert_eq!(std::mem::discriminant(&back), kind);
            assert_eq!(back.to_string(), text);
            assert_eq!(back.is_app_fault(), app_fault);
            if let Error::Io {
                source, context, ..
            } = &back
            {
                if context == "cannot read the output folder" {
                    assert_eq!(source.raw_os_error(), Some(2));
                    assert_eq!(source.kind(), io::ErrorKind::NotFound);
                }
            }
        }
    }
}
