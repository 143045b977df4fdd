//! The live feed `/ws`.

use std::time::Duration;

use futures::StreamExt;
use poco_chain::convert::AnySignedOrder;
use poco_types::OrderKind;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::fixture::*;

/// A subscriber of the feed.
struct Feed {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every event name received, in order.
    seen: Vec<String>,
}

impl Feed {
    async fn connect(env: &Env, query: &str) -> R<Self> {
        let url = format!("{}/ws{query}", env.url.replacen("http://", "ws://", 1));
        let (socket, _) = connect_async(url).await?;
        Ok(Self {
            socket,
            seen: Vec::new(),
        })
    }

    /// The next message: `(event, data)`.
    async fn next(&mut self) -> R<(String, Value)> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .map_err(|_| "no feed message within 30 s")?
                .ok_or("the feed closed")??;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str())?;
                let event = value["event"].as_str().ok_or("no event name")?.to_owned();
                self.seen.push(event.clone());
                return Ok((event, value["data"].clone()));
            }
        }
    }

    /// Reads until the event `name` about `hash` (its data's `orderHash` or `dealid`).
    async fn until(&mut self, name: &str, id: impl serde::Serialize) -> R<Value> {
        let id = json!(id);
        loop {
            let (event, data) = self.next().await?;
            if event == name && (data["orderHash"] == id || data["dealid"] == id) {
                return Ok(data);
            }
        }
    }
}

#[tokio::test]
async fn the_feed_tells_publications_fills_deals_and_removals() -> R {
    let env = Env::start().await?;
    let mut feed = Feed::connect(&env, "").await?;
    let mut deals_only = Feed::connect(&env, "?topics=deals").await?;

    let (app, app_entry) = env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    // Events are summaries; the entry is one GET away.
    let data = feed
        .until("apporder_published", app_entry.order_hash)
        .await?;
    assert_eq!(
        data,
        json!({
            "orderHash": app_entry.order_hash,
            "signer": env.addr(APP_OWNER),
            "asset": env.app,
            "price": "1",
            "remaining": 10,
            "status": "open",
        })
    );
    let mut fetched = env.entry(OrderKind::App, app_entry.order_hash).await?;
    fetched.as_object_mut().ok_or("object")?.remove("ok");
    assert_eq!(fetched, serde_json::to_value(&app_entry)?);
    let pool = env.sign(SCHEDULER, env.pool_order(5, 2, 1));
    let pool_entry = env
        .client
        .publish(env.key(SCHEDULER), &pool, Some("https://pool.example"))
        .await?;
    let data = feed
        .until("workerpoolorder_published", pool_entry.order_hash)
        .await?;
    assert_eq!(data["remaining"], 2);
    assert_eq!(
        env.entry(OrderKind::Workerpool, pool_entry.order_hash)
            .await?["workerpoolApi"],
        "https://pool.example"
    );
    let (request, request_entry) = env
        .publish(REQUESTER, env.request_order(1, 5, 1, 1))
        .await?;
    feed.until("requestorder_published", request_entry.order_hash)
        .await?;

    // A match: the three orders' new volumes, then the deal.
    let (deal, _) = env
        .chain_client(REQUESTER)
        .await?
        .match_orders_fast(&app, None, &pool, &request)
        .await?;
    let mut filled = std::collections::HashMap::new();
    for _ in 0..4 {
        let (event, data) = feed.next().await?;
        filled.insert(event, data);
    }
    let app_filled = &filled["apporder_filled"];
    assert_eq!(app_filled["orderHash"], json!(app_entry.order_hash));
    assert_eq!(
        (&app_filled["remaining"], &app_filled["status"]),
        (&json!(9), &json!("open"))
    );
    let pool_filled = &filled["workerpoolorder_filled"];
    assert_eq!(pool_filled["orderHash"], json!(pool_entry.order_hash));
    assert_eq!(pool_filled["remaining"], 1);
    let request_filled = &filled["requestorder_filled"];
    assert_eq!(request_filled["orderHash"], json!(request_entry.order_hash));
    assert_eq!(
        (&request_filled["remaining"], &request_filled["status"]),
        (&json!(0), &json!("filled"))
    );
    let created = &filled["deal_created"];
    assert_eq!(created["dealid"], json!(deal.dealid));
    assert_eq!(created["fast"], true);
    assert_eq!(created["volume"], 1);
    assert_eq!(created["requestHash"], json!(request_entry.order_hash));
    // No task list nor params in the event: the deal has them.
    assert!(created.get("tasks").is_none(), "{created}");
    let recorded = env.get_ok(&format!("/deals/{}", deal.dealid)).await?;
    assert_eq!(recorded["tasks"], json!(deal.tasks));

    // Unpublished by its owner, closed on chain.
    env.unpublish(
        OrderKind::App,
        APP_OWNER,
        &json!({"target": "unpublish_orderHash", "orderHash": app_entry.order_hash}),
    )
    .await?;
    let data = feed
        .until("apporder_unpublished", app_entry.order_hash)
        .await?;
    assert_eq!(
        data,
        json!({"orderHash": app_entry.order_hash, "status": "open", "reason": "unpublished by its owner"})
    );
    env.chain_client(SCHEDULER)
        .await?
        .cancel_order(&AnySignedOrder::Workerpool(pool))
        .await?;
    let data = feed
        .until("workerpoolorder_unpublished", pool_entry.order_hash)
        .await?;
    assert_eq!(data["status"], "canceled");
    assert!(
        data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("closed on chain")),
        "{data}"
    );

    // The deals topic alone: nothing but the deal.
    let (event, data) = deals_only.next().await?;
    assert_eq!(event, "deal_created");
    assert_eq!(data["dealid"], json!(deal.dealid));
    assert_eq!(deals_only.seen, ["deal_created"]);

    // An unknown topic is refused before the upgrade.
    let refused = Feed::connect(&env, "?topics=trades").await;
    let err = refused.err().ok_or("topics=trades was accepted")?;
    assert!(err.to_string().contains("400"), "{err}");
    Ok(())
}
