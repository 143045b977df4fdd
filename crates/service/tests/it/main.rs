//! Serving over plain HTTP and HTTPS, the peer address, shutdown, and refused TLS files.

mod handle;

use std::{net::SocketAddr, path::Path};

use axum::{extract::ConnectInfo, routing::get, Router};
use poco_service::{serve, Error, ServeOptions, TlsConfig, TlsFiles};
use tokio::{net::TcpListener, sync::oneshot};

fn router() -> Router {
    Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    )
}

/// A self-signed certificate for `localhost` written to `dir`: (files, certificate PEM).
fn self_signed(dir: &Path) -> (TlsFiles, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (TlsFiles { cert, key }, certified.cert.pem())
}

async fn start(
    options: ServeOptions,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, router(), options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, task)
}

#[tokio::test]
async fn plain_http_serves_with_the_peer_address_and_stops() {
    let (addr, stop, task) = start(ServeOptions::default()).await;
    let body = reqwest::get(format!("http://{addr}/peer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "127.0.0.1");
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn https_serves_to_a_client_that_trusts_the_certificate_only() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pem) = self_signed(dir.path());
    let tls = TlsConfig::load(&files).unwrap();
    let (addr, stop, task) = start(ServeOptions {
        tls: Some(tls),
        ..Default::default()
    })
    .await;
    let url = format!("https://localhost:{}/peer", addr.port());

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let body = trusting
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "127.0.0.1");

    // A client that does not trust the certificate fails the handshake; plain HTTP gets no page.
    let default = reqwest::Client::builder()
        .resolve("localhost", addr)
        .build()
        .unwrap();
    assert!(default.get(&url).send().await.is_err());
    let plain = reqwest::get(format!("http://{addr}/peer")).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[test]
fn tls_files_are_checked_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = self_signed(dir.path());

    let missing = TlsFiles {
        cert: dir.path().join("nope.pem"),
        key: files.key.clone(),
    };
    let e = TlsConfig::load(&missing).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Read {
                what: "certificate",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("nope.pem"), "{e}");

    let not_pem = dir.path().join("garbage.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let e = TlsConfig::load(&TlsFiles {
        cert: not_pem,
        key: files.key.clone(),
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Pem {
                what: "certificate",
                ..
            }
        ),
        "{e}"
    );

    // A key of another certificate.
    let other = tempfile::tempdir().unwrap();
    let (other_files, _) = self_signed(other.path());
    let e = TlsConfig::load(&TlsFiles {
        cert: files.cert.clone(),
        key: other_files.key,
    })
    .unwrap_err();
    assert!(matches!(e, Error::Pair { .. }), "{e}");
    assert!(e.to_string().contains("give the key"), "{e}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_and_silent_clients_are_dropped() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let options = ServeOptions {
        max_connections: 1,
        header_read_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let (addr, stop, task) = start(options).await;
    // A client that connects and says nothing holds the only slot...
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...so a second client waits, until the first is dropped for not sending its headers.
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), second.read_to_string(&mut answer))
        .await
        .expect("the second client is served once the silent one is dropped")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The silent client was closed by the server.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buf))
        .await
        .expect("the silent client is disconnected")
        .unwrap_or(0);
    let _ = n;
    stop.send(()).unwrap();
    task.await.unwrap();
}
