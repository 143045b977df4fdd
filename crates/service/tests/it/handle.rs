//! The service handle: a graceful shutdown, by the handle or by SIGTERM, lets a request in
//! flight finish; the metrics route speaks Prometheus text.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{routing::get, Router};
use poco_service::{ServeOptions, ServiceHandle};
use tokio::{net::TcpListener, sync::oneshot};

/// A service whose `/slow` answers "done" after 500 ms; the receiver fires once the request
/// is being handled.
async fn slow_service() -> (ServiceHandle<String>, oneshot::Receiver<()>) {
    let (entered_tx, entered) = oneshot::channel();
    let entered_tx = Arc::new(Mutex::new(Some(entered_tx)));
    let router = Router::new().route(
        "/slow",
        get(move || {
            let entered_tx = entered_tx.clone();
            async move {
                if let Some(tx) = entered_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = ServiceHandle::spawn(
        listener,
        url,
        router,
        ServeOptions::default(),
        std::future::pending::<Result<(), String>>(),
        |e| e.to_string(),
    )
    .unwrap();
    (handle, entered)
}

fn request(url: &str) -> tokio::task::JoinHandle<reqwest::Result<String>> {
    let url = format!("{url}/slow");
    tokio::spawn(async move { reqwest::get(url).await?.text().await })
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_then_closes_the_port() {
    let (handle, entered) = slow_service().await;
    let url = handle.url.clone();
    let answer = request(&url);
    entered.await.unwrap();
    let stopped = handle.shutdown().await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    assert_eq!(answer.await.unwrap().unwrap(), "done");
    assert!(reqwest::get(format!("{url}/slow")).await.is_err());
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish() {
    let (handle, entered) = slow_service().await;
    let url = handle.url.clone();
    // What `poco market` and `poco scheduler` do: shut down gracefully on SIGINT or SIGTERM.
    let service = tokio::spawn(async move {
        let signal = poco_service::shutdown_signal().await.unwrap();
        (signal, handle.shutdown().await)
    });
    // The handlers are installed at the first poll of the signal future.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = request(&url);
    entered.await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (signal, stopped) = service.await.unwrap();
    assert_eq!(signal, "SIGTERM");
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    assert_eq!(answer.await.unwrap().unwrap(), "done");
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let registry = prometheus::Registry::new();
    poco_service::metrics::counter(&registry, "poco_test_total", "A test counter.").inc_by(3);
    poco_service::metrics::gauge(&registry, "poco_test_level", "A test gauge.", 7);
    let text = poco_service::metrics::encode(&registry.gather());
    for line in [
        "# TYPE poco_test_total counter",
        "poco_test_total 3",
        "# TYPE poco_test_level gauge",
        "poco_test_level 7",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let response = poco_service::metrics::response(text);
    assert_eq!(
        response.headers()["content-type"],
        poco_service::metrics::CONTENT_TYPE
    );
}
