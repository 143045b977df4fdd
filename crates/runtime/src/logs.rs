//! Bounded capture of the app's stdout and stderr.
//!
//! Only the last `capacity` bytes of each stream are kept, so a chatty app
//! cannot exhaust the worker's memory, and the end of the output (where the
//! error usually is) survives.

use std::{
    borrow::Cow,
    collections::VecDeque,
    io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Default number of bytes kept per stream.
pub const DEFAULT_LOG_TAIL_BYTES: usize = 64 * 1024;

/// The tail of the app's stdout and stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logs {
    /// Last bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Last bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Bytes of stdout dropped from the front because of the bound.
    pub stdout_dropped: u64,
    /// Bytes of stderr dropped from the front because of the bound.
    pub stderr_dropped: u64,
}

impl Logs {
    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// The last non-empty line of stderr, shortened, for error messages.
    pub fn last_stderr_line(&self) -> Option<String> {
        const MAX: usize = 200;
        let text = self.stderr_lossy();
        let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
        if line.chars().count() > MAX {
            let cut: String = line.chars().take(MAX).collect();
            Some(format!("{cut}..."))
        } else {
            Some(line.to_owned())
        }
    }

    /// `" (last stderr line: ...)"`, or nothing when stderr is empty.
    pub(crate) fn stderr_hint(&self) -> String {
        self.last_stderr_line()
            .map(|l| format!(" (last stderr line: {l:?})"))
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct Tail {
    buf: VecDeque<u8>,
    capacity: usize,
    dropped: u64,
}

/// Also receives every byte written to a [`TailPipe`], as it is written.
pub(crate) type Tee = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A [`StdoutStream`] that keeps the last `capacity` bytes written to it.
#[derive(Clone)]
pub(crate) struct TailPipe {
    inner: Arc<Mutex<Tail>>,
    tee: Option<Tee>,
}

impl std::fmt::Debug for TailPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailPipe")
            .field("inner", &self.inner)
            .field("tee", &self.tee.is_some())
            .finish()
    }
}

impl TailPipe {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Tail {
                buf: VecDeque::with_capacity(capacity.min(4096)),
                capacity,
                dropped: 0,
            })),
            tee: None,
        }
    }

    /// A pipe that also hands every write to `tee`, before keeping it.
    pub(crate) fn with_tee(capacity: usize, tee: Tee) -> Self {
        Self {
            tee: Some(tee),
            ..Self::new(capacity)
        }
    }

    pub(crate) fn push(&self, bytes: &[u8]) {
        if let Some(tee) = &self.tee {
            tee(bytes);
        }
        let mut tail = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let capacity = tail.capacity;
        let keep = bytes.len().min(capacity);
        let skipped = bytes.len() - keep;
        let overflow = (tail.buf.len() + keep).saturating_sub(capacity);
        tail.buf.drain(..overflow);
        tail.buf.extend(&bytes[skipped..]);
        tail.dropped += (skipped + overflow) as u64;
    }

    /// The bytes kept so far and how many were dropped.
    pub(crate) fn contents(&self) -> (Vec<u8>, u64) {
        let tail = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (tail.buf.iter().copied().collect(), tail.dropped)
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Collects both pipes into [`Logs`].
pub(crate) fn collect(stdout: &TailPipe, stderr: &TailPipe) -> Logs {
    let (stdout_bytes, stdout_dropped) = stdout.contents();
    let (stderr_bytes, stderr_dropped) = stderr.contents();
    Logs {
        stdout: stdout_bytes,
        stderr: stderr_bytes,
        stdout_dropped,
        stderr_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes() {
        let pipe = TailPipe::new(8);
        pipe.push(b"hello ");
        pipe.push(b"world");
        assert_eq!(pipe.contents(), (b"lo world".to_vec(), 3));
        pipe.push(b"0123456789abcdef");
        assert_eq!(pipe.contents(), (b"89abcdef".to_vec(), 3 + 8 + 8));
    }

    #[test]
    fn tee_sees_every_byte() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let pipe = TailPipe::with_tee(
            4,
            Arc::new(move |b: &[u8]| sink.lock().unwrap().extend_from_slice(b)),
        );
        pipe.push(b"abc");
        pipe.push(b"defgh");
        assert_eq!(pipe.contents(), (b"efgh".to_vec(), 4));
        assert_eq!(&*seen.lock().unwrap(), b"abcdefgh");
    }

    #[test]
    fn last_stderr_line_skips_blank_lines() {
        let logs = Logs {
            stderr: b"first\nerror: boom\n\n".to_vec(),
            ..Logs::default()
        };
        assert_eq!(logs.last_stderr_line().as_deref(), Some("error: boom"));
        assert_eq!(Logs::default().last_stderr_line(), None);
        assert_eq!(Logs::default().stderr_hint(), "");
    }
}
