#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "db")]
pub mod db;
mod handle;
pub mod metrics;
mod signal;

pub use handle::ServiceHandle;
pub use signal::shutdown_signal;

use std::{
    future::Future,
    io::BufReader,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request},
    Router,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio::{
    net::TcpListener,
    sync::{watch, Semaphore},
};
use tower::ServiceExt;
use tower_http::trace::TraceLayer;
use tracing::{debug, info, warn};

/// How long connections in flight may take to finish once a shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Default for [`ServeOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default for [`ServeOptions::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a service cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A TLS file cannot be read.
    #[error("cannot read the TLS {what} {path}: {source}; give the path of a PEM file this process can read")]
    Read {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A TLS file holds no usable PEM item.
    #[error("the TLS {what} {path} holds no {expected}: {reason}; give a PEM file (-----BEGIN {expected}-----)")]
    Pem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
        /// Why nothing was found.
        reason: String,
    },
    /// rustls refused the pair (for example a key that does not match the certificate).
    #[error("the TLS certificate {cert} and key {key} cannot be used together: {reason}; give the key the certificate was issued for")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
    /// The listener or the server failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a service finds its certificate chain and private key (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A checked TLS configuration, ready to serve.
#[derive(Clone)]
pub struct TlsConfig {
    files: TlsFiles,
    server: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads and checks the certificate chain and key.
    pub fn load(files: &TlsFiles) -> Result<Self> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| Error::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("certificate", &files.cert)?;
        let key_pem = read("private key", &files.key)?;
        let certs = CertificateDer::pem_reader_iter(&mut BufReader::new(cert_pem.as_slice()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Pem {
                what: "certificate",
                path: files.cert.clone(),
                expected: "CERTIFICATE",
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(Error::Pem {
                what: "certificate",
                path: files.cert.clone(),
                expected: "CERTIFICATE",
                reason: "the file has no certificate block".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_reader(&mut BufReader::new(key_pem.as_slice())).map_err(
            |e| Error::Pem {
                what: "private key",
                path: files.key.clone(),
                expected: "PRIVATE KEY",
                reason: e.to_string(),
            },
        )?;
        let pair = |reason: String| Error::Pair {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason,
        };
        let mut server =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| pair(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(|e| pair(e.to_string()))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            files: files.clone(),
            server: Arc::new(server),
        })
    }

    /// The files it was read from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

/// The scheme a service's URLs start with.
pub fn scheme(tls: Option<&TlsConfig>) -> &'static str {
    if tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// How a router is served.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// HTTPS with this certificate; plain HTTP without.
    pub tls: Option<TlsConfig>,
    /// Connections served at once; more wait to be accepted (so a flood of idle sockets cannot
    /// exhaust the process's file descriptors or memory).
    pub max_connections: usize,
    /// A client must finish its TLS handshake, and then each request's headers, within this
    /// time (idle keep-alive connections included): idle or trickling clients are disconnected.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` over HTTP/1.1 (WebSocket upgrades included), over HTTPS when
/// `options.tls` is set, with at most `options.max_connections` connections at once and
/// `options.header_read_timeout` on handshakes and request headers. Handlers may extract
/// `ConnectInfo<SocketAddr>`. Every request is traced (`tower_http`'s `TraceLayer`: a span per
/// request, at debug level). When `shutdown` completes, it stops accepting, asks every open
/// connection to finish its request in flight and close, and returns once they have (or after
/// [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    if options.max_connections == 0 {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "max_connections must be at least 1",
        )));
    }
    let addr = listener.local_addr()?;
    let acceptor = options
        .tls
        .as_ref()
        .map(|tls| tokio_rustls::TlsAcceptor::from(tls.server.clone()));
    info!(
        target: "poco::service",
        %addr,
        scheme = scheme(options.tls.as_ref()),
        max_connections = options.max_connections,
        "serving"
    );
    let router = router.layer(TraceLayer::new_for_http());
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    warn!(target: "poco::service", "cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        let header_read_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(header_read_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            connection(TokioIo::new(tls), service, header_read_timeout, stop, peer)
                                .await
                        }
                        Ok(Err(e)) => {
                            debug!(target: "poco::service", %peer, "TLS handshake failed: {e}")
                        }
                        Err(_) => debug!(target: "poco::service", %peer, "TLS handshake too slow"),
                    }
                }
                None => {
                    connection(
                        TokioIo::new(stream),
                        service,
                        header_read_timeout,
                        stop,
                        peer,
                    )
                    .await
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(options.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        warn!(target: "poco::service", %addr, "connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Serves one connection until it ends, or closes it gracefully once `stop` turns true.
async fn connection<I, S>(
    io: I,
    service: S,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    peer: SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = async {
            // The `Ref` wait_for returns holds a lock: drop it before awaiting anything else.
            let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
        } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        debug!(target: "poco::service", %peer, "connection ended: {e}");
    }
}
