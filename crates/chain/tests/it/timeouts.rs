//! An RPC endpoint that accepts connections and never answers (a tarpit) cannot hold a client
//! forever: each request has a time limit, and connecting reports the endpoint unreachable.

use std::time::Duration;

use alloy::primitives::Address;
use poco_chain::{ClientConfig, Error, PocoClient};

#[tokio::test]
async fn a_silent_rpc_endpoint_is_reported_unreachable_within_the_request_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold every connection without ever writing a byte.
    let tarpit = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = ClientConfig::new(format!("http://{addr}"), Address::ZERO);
    config.request_timeout = Duration::from_millis(300);
    config.max_retries = 1;
    let outcome = tokio::time::timeout(Duration::from_secs(30), PocoClient::connect(config, None))
        .await
        .expect("the client gave up by itself, well before this outer bound");
    match outcome {
        Err(Error::Unreachable { url, .. }) => assert!(url.contains(&addr.to_string())),
        Err(other) => panic!("expected Unreachable, got {other}"),
        Ok(_) => panic!("a silent endpoint cannot be connected to"),
    }
    tarpit.abort();
}
