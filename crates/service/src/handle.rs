//! [`ServiceHandle`]: a running service (its HTTP server and the work beside it) that stops
//! gracefully when its cancellation token is cancelled.

use std::{future::Future, net::SocketAddr};

use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{serve, Error, ServeOptions};

/// A running service: where it listens, and the task that serves its router and runs its work
/// (a chain watcher, an engine) beside it.
///
/// [`ServiceHandle::shutdown`] stops it gracefully: the server stops accepting, requests in
/// flight finish (for at most [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE)), then the work is
/// dropped. Dropping the handle instead cancels the token and aborts the task at once.
#[derive(Debug)]
pub struct ServiceHandle<E> {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The base URL of the API.
    pub url: String,
    /// The server and work task. It ends with the work's error, the server's error, or `Ok`
    /// once a shutdown has drained the server.
    pub task: JoinHandle<Result<(), E>>,
    cancel: CancellationToken,
}

impl<E: Send + 'static> ServiceHandle<E> {
    /// Spawns the task that serves `router` on `listener` with `options` and runs `work`
    /// beside it, until `work` ends, the server fails, or the handle's token is cancelled (the
    /// server then drains its requests in flight and the task ends with `Ok`). A server error
    /// is turned into `E` by `serve_error`.
    pub fn spawn<W>(
        listener: TcpListener,
        url: String,
        router: Router,
        options: ServeOptions,
        work: W,
        serve_error: fn(Error) -> E,
    ) -> std::io::Result<Self>
    where
        W: Future<Output = Result<(), E>> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let server = serve(listener, router, options, stop.cancelled_owned());
            tokio::select! {
                r = server => r.map_err(serve_error),
                r = work => r,
            }
        });
        Ok(Self {
            addr,
            url,
            task,
            cancel,
        })
    }

    /// The token that stops the service when cancelled (a clone: cancelling it is
    /// [`ServiceHandle::shutdown`] without the wait).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits until the service stops by itself (its work ended or failed, or its token was
    /// cancelled). `Err` when the task panicked or was aborted.
    pub async fn join(&mut self) -> Result<Result<(), E>, tokio::task::JoinError> {
        (&mut self.task).await
    }

    /// Stops the service gracefully: no new connection is accepted, requests in flight finish
    /// (for at most [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE)), then the task ends; returns
    /// how it ended. Nothing is aborted.
    pub async fn shutdown(mut self) -> Result<Result<(), E>, tokio::task::JoinError> {
        self.cancel.cancel();
        self.join().await
    }
}

impl<E> Drop for ServiceHandle<E> {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.task.abort();
    }
}
