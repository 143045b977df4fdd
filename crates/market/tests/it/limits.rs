//! The security review's market findings, played as attacks: wrapping stake arithmetic and
//! unbounded memory (M5), no connection or time limits (L5), an unmetered `eth_call` per
//! anonymous body (L9), and result encryption silently ignored (M1).

use std::time::Duration;

use alloy::primitives::{Address, U256};
use futures::{SinkExt, StreamExt};
use poco_types::{OrderKind, RequestOrder};
use serde_json::{json, Value};
use tokio_tungstenite::{connect_async, tungstenite::Message};

use crate::fixture::*;

fn body<T: serde::Serialize>(order: &T) -> Value {
    json!({ "order": order })
}

/// M5: `(2^256 − 1) + 0 + 1` wraps to 0 in `U256` `+`: the request needed no stake.
#[tokio::test]
async fn m5_request_with_wrapping_max_prices_is_unfundable() -> R {
    let env = Env::start().await?;
    // A counterpart, so that only the stake check can refuse the request.
    env.publish(APP_OWNER, env.app_order(0, 10)).await?;
    let request = RequestOrder {
        appmaxprice: U256::MAX,
        workerpoolmaxprice: U256::from(1),
        ..env.request_order(0, 0, 1, 1)
    };
    let answer = env
        .post_order(
            OrderKind::Request,
            Some(REQUESTER),
            &body(&env.sign(REQUESTER, request)),
        )
        .await?;
    assert_refused(&answer, 402, "stake: unfundable");
    assert!(env.listed(OrderKind::Request, "").await?.is_empty());
    Ok(())
}

/// M5: `2^255 × 2 × 30` wraps to 0: the workerpool order needed no stake.
#[tokio::test]
async fn m5_workerpool_order_with_wrapping_price_is_unfundable() -> R {
    let env = Env::start().await?;
    let order = poco_types::WorkerpoolOrder {
        workerpoolprice: U256::from(1) << 255,
        ..env.pool_order(0, 2, 1)
    };
    let answer = env
        .post_order(
            OrderKind::Workerpool,
            Some(SCHEDULER),
            &body(&env.sign(SCHEDULER, order)),
        )
        .await?;
    assert_refused(&answer, 402, "stake: unfundable");
    assert!(env.listed(OrderKind::Workerpool, "").await?.is_empty());
    Ok(())
}

/// M5: a 10 MB publication is refused at the 64 KiB body limit, in the JSON envelope.
#[tokio::test]
async fn m5_ten_megabyte_publish_is_413_with_json() -> R {
    let env = Env::start().await?;
    let request = RequestOrder {
        params: "x".repeat(10 << 20),
        ..env.request_order(0, 0, 1, 1)
    };
    let signed = env.sign(REQUESTER, request);
    let answer = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&signed))
        .await?;
    assert_refused(&answer, 413, "limit of 65536 bytes");
    Ok(())
}

/// M5: `params` are capped at 4 KiB (the review's 100 MB of book per key came from 2 MB each).
#[tokio::test]
async fn m5_params_over_4_kib_refused() -> R {
    let env = Env::start().await?;
    env.publish(APP_OWNER, env.app_order(0, 10)).await?;
    let args = "a".repeat(5 * 1024);
    let request = RequestOrder {
        params: json!({ "iexec_args": args }).to_string(),
        ..env.request_order(0, 0, 1, 1)
    };
    let answer = env
        .post_order(
            OrderKind::Request,
            Some(REQUESTER),
            &body(&env.sign(REQUESTER, request)),
        )
        .await?;
    assert_refused(&answer, 413, "limit of 4096 bytes");
    // Right under the cap is fine.
    let args = "a".repeat(4000);
    let request = RequestOrder {
        params: json!({ "iexec_args": args }).to_string(),
        ..env.request_order(0, 0, 1, 1)
    };
    env.publish(REQUESTER, request).await?;
    Ok(())
}

/// M5: challenges for ever new addresses (no signature needed to ask) stay under the cap;
/// the newest still work.
#[tokio::test]
async fn m5_challenge_flood_stays_bounded() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("flood.db");
    config.max_challenges = 50;
    env.start_market(config).await?;
    for i in 0..300u64 {
        let address = Address::from_word(U256::from(i + 1).into());
        env.get_ok(&format!("/challenge?address={address}")).await?;
        // The same address asking again does not add any.
        if i % 50 == 0 {
            env.get_ok(&format!("/challenge?address={address}")).await?;
        }
    }
    let metrics = env.metrics().await?;
    let live = metrics["challenges"].as_u64().ok_or("no challenge count")?;
    assert!(live <= 50, "{live} live challenges, over the cap of 50");
    // A sign-in after the flood works.
    env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    Ok(())
}

/// M5: the whole book has a cap, with a clear refusal beyond it.
#[tokio::test]
async fn m5_book_is_capped_globally() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("full.db");
    config.max_book_orders = 2;
    env.start_market(config).await?;
    env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    env.publish(SCHEDULER, env.pool_order(1, 10, 1)).await?;
    let third = env.sign(DATASET_OWNER, env.dataset_order(1, 10));
    let answer = env
        .post_order(OrderKind::Dataset, Some(DATASET_OWNER), &body(&third))
        .await?;
    assert_refused(&answer, 503, "book full: the market holds its limit of 2");
    Ok(())
}

/// M5: feed events are summaries of a few hundred bytes, whatever the order's params; the
/// ring of 4096 events holds about a megabyte, not 4096 × 2 MB.
#[tokio::test]
async fn m5_feed_events_are_small_summaries() -> R {
    let env = Env::start().await?;
    let url = format!("{}/ws", env.url.replacen("http://", "ws://", 1));
    let (mut socket, _) = connect_async(url).await?;
    env.publish(APP_OWNER, env.app_order(0, 10)).await?;
    let request = RequestOrder {
        params: json!({ "iexec_args": "a".repeat(4000) }).to_string(),
        ..env.request_order(0, 0, 1, 1)
    };
    let (_, entry) = env.publish(REQUESTER, request).await?;
    let text = loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await?
            .ok_or("the feed closed")??;
        if let Message::Text(text) = message {
            if text.contains("requestorder_published") {
                break text.to_string();
            }
        }
    };
    assert!(
        text.len() < 512,
        "a feed event of {} bytes: {text}",
        text.len()
    );
    let event: Value = serde_json::from_str(&text)?;
    assert_eq!(event["data"]["orderHash"], json!(entry.order_hash));
    assert_eq!(event["data"]["remaining"], 1);
    // The order itself is one GET away.
    let full = env.entry(OrderKind::Request, entry.order_hash).await?;
    assert_eq!(full["order"]["params"], json!(entry.order["params"]));
    Ok(())
}

/// L5: `/ws` has a listener cap, and a client message over the small size limit closes its
/// connection (and frees its slot).
#[tokio::test]
async fn l5_ws_listeners_are_capped_and_oversize_messages_close() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("ws.db");
    config.max_feed_listeners = 2;
    env.start_market(config).await?;
    let url = format!("{}/ws", env.url.replacen("http://", "ws://", 1));
    let (mut first, _) = connect_async(url.as_str()).await?;
    let (_second, _) = connect_async(url.as_str()).await?;
    let third = connect_async(url.as_str()).await;
    let err = third.err().ok_or("a third listener was accepted")?;
    let tokio_tungstenite::tungstenite::Error::Http(response) = err else {
        return Err(format!("the third listener got {err}, not an HTTP refusal").into());
    };
    assert_eq!(response.status(), 503);
    let refusal: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default())?;
    assert!(
        message(&refusal).contains("feed: 2 listeners are already connected"),
        "{refusal}"
    );

    // 64 KiB from a client that should say nothing: the market closes the connection.
    first
        .send(Message::Text("x".repeat(64 * 1024).into()))
        .await?;
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match first.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the oversize sender is still connected");
    // Its slot is free again.
    wait_for("a listener slot to be free", || async {
        Ok(connect_async(url.as_str()).await.ok().map(drop))
    })
    .await?;
    Ok(())
}

/// L5: every route has a time limit; past it the answer is a 503 in the JSON envelope.
#[tokio::test]
async fn l5_requests_have_a_time_limit() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("slow.db");
    config.request_time_limit = Duration::from_nanos(1);
    let market = env.chain.start_market(config).await?;
    env.url = market.url.clone();
    env.market = Some(market);
    // A route that reads the chain cannot answer within a nanosecond.
    let answer = env
        .get(&format!("/addresses/{}", env.addr(REQUESTER)))
        .await?;
    assert_refused(&answer, 503, "time limit");
    Ok(())
}

/// L9: `/fill/transaction` (an `eth_call` per anonymous body) is rated per client: a burst
/// beyond the bucket gets 429 in the JSON envelope.
#[tokio::test]
async fn l9_fill_transaction_burst_gets_429() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("rated.db");
    config.fill_transaction_rate = poco_market::limits::Rate {
        burst: 5,
        per_second: 0.001,
    };
    env.start_market(config).await?;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, body) = env
            .send(reqwest::Method::POST, "/fill/transaction", None, &json!({}))
            .await?;
        assert_eq!(body["ok"], false, "{body}");
        if status == 429 {
            assert!(
                message(&body).contains("rate limit: POST /fill/transaction allows 5 calls"),
                "{body}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], [400; 5], "{statuses:?}");
    assert_eq!(&statuses[5..], [429; 15], "{statuses:?}");
    Ok(())
}

/// M1: a request asking for result encryption is refused at publication (results are not
/// encrypted yet; before, the flag was silently ignored).
#[tokio::test]
async fn m1_request_asking_result_encryption_refused() -> R {
    let env = Env::start().await?;
    env.publish(APP_OWNER, env.app_order(0, 10)).await?;
    let request = RequestOrder {
        params: r#"{"iexec_args":"x","iexec_result_encryption":true}"#.into(),
        ..env.request_order(0, 0, 1, 1)
    };
    let answer = env
        .post_order(
            OrderKind::Request,
            Some(REQUESTER),
            &body(&env.sign(REQUESTER, request)),
        )
        .await?;
    assert_refused(&answer, 400, "iexec_result_encryption is not supported yet");
    // `false` is fine.
    let request = RequestOrder {
        params: r#"{"iexec_args":"x","iexec_result_encryption":false}"#.into(),
        ..env.request_order(0, 0, 1, 1)
    };
    env.publish(REQUESTER, request).await?;
    Ok(())
}

/// M5: a zero-price self-deal costs one transaction whatever its volume; the market lists at
/// most 10,000 of its task ids instead of building (and storing) one per task.
#[tokio::test]
async fn m5_huge_deal_lists_a_bounded_task_list() -> R {
    let env = Env::start().await?;
    let volume = 25_000;
    let app = env.sign(APP_OWNER, env.app_order(0, volume));
    let pool = env.sign(SCHEDULER, env.pool_order(0, volume, 1));
    let request = env.sign(REQUESTER, env.request_order(0, 0, volume, 1));
    let (deal, _) = env
        .chain_client(REQUESTER)
        .await?
        .match_orders_fast(&app, None, &pool, &request)
        .await?;
    let recorded = wait_for("the deal to be recorded", || async {
        let (status, body) = env.get(&format!("/deals/{}", deal.dealid)).await?;
        Ok((status == 200).then_some(body))
    })
    .await?;
    assert_eq!(recorded["volume"], volume);
    let tasks = recorded["tasks"].as_array().ok_or("tasks")?;
    assert_eq!(tasks.len(), 10_000);
    assert_eq!(tasks[0], json!(deal.tasks[0]));
    Ok(())
}

/// L5: connections are capped, and a client trickling its headers (slowloris) is disconnected
/// after the header time limit, which frees its slot for others.
#[tokio::test]
async fn l5_connections_are_capped_and_slow_headers_cut() -> R {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut env = Env::chain().await?;
    let mut config = env.market_config("conns.db");
    config.max_connections = 2;
    env.start_market(config).await?;
    // `start_market` polled /metrics with keep-alive: start from fresh connections.
    env.http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let addr = env.market.as_ref().ok_or("market")?.addr;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut socket = tokio::net::TcpStream::connect(addr).await?;
        socket
            .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n")
            .await?;
        slow.push(socket);
    }
    // Both slots are held: a third client waits.
    let url = format!("{}/version", env.url);
    let third = tokio::spawn(async move { reqwest::get(url).await?.json::<Value>().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served");
    // The trickling clients are cut off (the read ends), then the third is served.
    for socket in &mut slow {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(90), socket.read(&mut buf)).await;
        let read = read.map_err(|_| "a slow client is still connected after 90 s")?;
        let ended = match read {
            Ok(0) | Err(_) => true,
            // hyper may answer 408 before closing.
            Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        };
        assert!(ended, "the slow client got {read:?}");
    }
    let answer = tokio::time::timeout(Duration::from_secs(30), third).await???;
    assert_eq!(answer["ok"], true, "{answer}");
    Ok(())
}
