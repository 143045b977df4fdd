#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::{
    future::Future,
    io::BufReader,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::Router;
use axum_server::{tls_rustls::RustlsAcceptor, Handle};
use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tracing::info;

/// How long requests in flight may take to finish once a shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a client may take to send its first request (and, over HTTPS, its TLS handshake)
/// after connecting: a connection that says nothing is closed then (slow-loris).
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

/// Serves `router` on `listener` (HTTPS when `tls` is given) until `shutdown` completes, then
/// lets requests in flight finish for at most [`SHUTDOWN_GRACE`]. Handlers may extract
/// `ConnectInfo<SocketAddr>`. A client that sends no request within
/// [`FIRST_REQUEST_TIMEOUT`] of connecting is dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = listener.into_std()?;
    let addr = listener.local_addr()?;
    let handle: Handle<SocketAddr> = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum_server::from_tcp(listener)?
        .handle(handle)
        .first_request_timeout(FIRST_REQUEST_TIMEOUT);
    match tls {
        Some(tls) => {
            info!(target: "poco::service", %addr, cert = %tls.files.cert.display(), "serving HTTPS");
            let acceptor = RustlsAcceptor::new(axum_server::tls_rustls::RustlsConfig::from_config(
                tls.server,
            ))
            .handshake_timeout(FIRST_REQUEST_TIMEOUT);
            server.acceptor(acceptor).serve(app).await?;
        }
        None => server.serve(app).await?,
    }
    Ok(())
}
