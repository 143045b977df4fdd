//! `PocoClient::hub_events` against a node that limits `eth_getLogs` to a few blocks, as public
//! endpoints do: a proxy in front of anvil refuses wider ranges with a public node's message,
//! and the events are read in chunks, each once.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use alloy::{primitives::U256, providers::Provider, rpc::types::Filter};
use poco_chain::{bindings::hub::IPoco, devchain::DevPoco, ClientConfig, PocoClient};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{admin, registered_app};

/// The widest `eth_getLogs` range the proxy lets through.
const MAX_RANGE: u64 = 4;

/// What the proxy saw: `eth_getLogs` requests passed on and refused.
#[derive(Default)]
struct Seen {
    passed: AtomicUsize,
    refused: AtomicUsize,
}

/// A block number of a filter (`latest` and other tags are the head).
fn block(value: &Value, head: u64) -> u64 {
    value
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or(head)
}

/// The answer to one JSON-RPC request: refused when it reads logs over more than
/// [`MAX_RANGE`] blocks, else anvil's.
async fn answer(body: Value, upstream: &str, seen: &Seen) -> Value {
    let http = alloy::transports::http::reqwest::Client::new();
    let forward = |body: Value| {
        let http = http.clone();
        async move {
            http.post(upstream)
                .json(&body)
                .send()
                .await
                .expect("anvil answers")
                .json::<Value>()
                .await
                .expect("anvil answers JSON")
        }
    };
    if body["method"] == "eth_getLogs" {
        let head = forward(json!({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"})).await;
        let head = block(&head["result"], 0);
        let filter = &body["params"][0];
        let (from, to) = (
            block(&filter["fromBlock"], 0),
            block(&filter["toBlock"], head),
        );
        if to.saturating_sub(from) + 1 > MAX_RANGE {
            seen.refused.fetch_add(1, Ordering::SeqCst);
            return json!({
                "jsonrpc": "2.0",
                "id": body["id"],
                "error": {"code": -32005, "message": format!(
                    "block range is too wide: at most {MAX_RANGE} blocks per eth_getLogs"
                )},
            });
        }
        seen.passed.fetch_add(1, Ordering::SeqCst);
    }
    forward(body).await
}

/// Serves one connection: HTTP/1.1 requests with a JSON body, one after the other.
async fn serve(mut socket: TcpStream, upstream: String, seen: Arc<Seen>) {
    let mut buffer = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < end + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&buffer[end..end + length]).unwrap_or_default();
        buffer.drain(..end + length);
        let reply = answer(body, &upstream, &seen).await.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Starts the proxy in front of `upstream`; returns its URL.
async fn limiting_proxy(upstream: String, seen: Arc<Seen>) -> eyre::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, upstream.clone(), seen.clone()));
        }
    });
    Ok(url)
}

#[tokio::test]
async fn a_node_limiting_log_ranges_is_read_in_chunks() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let owner = admin(&dev).await?;
    // Deposits (the hub's Transfer events) spread over many blocks, with registrations in
    // between (one block per transaction on this anvil).
    for i in 0..6u8 {
        registered_app(&owner, &format!("app{i}"), i + 1).await?;
        owner.deposit(U256::from(u64::from(i) + 1)).await?;
    }
    let head = owner.provider().get_block_number().await?;
    assert!(
        head > 4 * MAX_RANGE,
        "too few blocks ({head}) to need chunks"
    );
    let direct = owner
        .hub_events::<IPoco::Transfer>(Filter::new().from_block(0))
        .await?;
    assert_eq!(direct.len(), 6, "one Transfer per deposit");

    let seen = Arc::new(Seen::default());
    let url = limiting_proxy(dev.anvil.endpoint(), seen.clone()).await?;
    let limited = PocoClient::connect(ClientConfig::new(url, dev.deployment.hub), None).await?;
    let through = limited
        .hub_events::<IPoco::Transfer>(Filter::new().from_block(0))
        .await?;
    // The same events, each once, in chain order.
    let key = |l: &alloy::rpc::types::Log<IPoco::Transfer>| {
        (l.block_number, l.log_index, l.inner.data.value)
    };
    assert_eq!(
        through.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>()
    );
    let (refused, passed) = (
        seen.refused.load(Ordering::SeqCst),
        seen.passed.load(Ordering::SeqCst),
    );
    // Each refusal halves the chunk (and is not retried as a rate limit would be): a few.
    assert!(
        (1..=2 + head.ilog2() as usize).contains(&refused),
        "{refused} refusals for {head} blocks"
    );
    // Chunks of at least half the limit: a bounded number of requests.
    assert!(
        passed as u64 <= 2 * (head + 1).div_ceil(MAX_RANGE) + 1,
        "{passed} chunks for {head} blocks"
    );
    // A range within the limit is one request, refused none.
    let before = seen.refused.load(Ordering::SeqCst);
    limited
        .hub_events::<IPoco::Transfer>(Filter::new().from_block(head - 1).to_block(head))
        .await?;
    assert_eq!(seen.refused.load(Ordering::SeqCst), before);
    Ok(())
}
