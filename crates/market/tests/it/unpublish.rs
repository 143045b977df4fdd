//! Unpublishing: by hash, the last one, all of them; who may; and republishing.

use alloy::primitives::B256;
use poco_market::api::{UnpublishRequest, UnpublishTarget};
use poco_types::OrderKind;
use serde_json::json;

use crate::fixture::*;

#[tokio::test]
async fn orders_are_unpublished_by_hash_last_and_all() -> R {
    let env = Env::start().await?;
    let a = env.app;
    let (first, first_entry) = env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    let h1 = first_entry.order_hash;
    let h2 = env
        .publish(APP_OWNER, env.app_order(2, 10))
        .await?
        .1
        .order_hash;
    let h3 = env
        .publish(APP_OWNER, env.app_order(3, 10))
        .await?
        .1
        .order_hash;
    let h4 = env
        .publish(APP_OWNER, env.app_order(4, 10))
        .await?
        .1
        .order_hash;
    // A request, for unpublishing by requester.
    let request = env
        .publish(REQUESTER, env.request_order(5, 10, 1, 1))
        .await?
        .1
        .order_hash;
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        [h1, h2, h3, h4]
    );

    // Someone else cannot unpublish it.
    let by_hash = json!({"target": "unpublish_orderHash", "orderHash": h2});
    let answer = env.unpublish(OrderKind::App, REQUESTER, &by_hash).await?;
    assert_refused(&answer, 403, "signer");
    // Unknown, or of another type: 404.
    let unknown = json!({"target": "unpublish_orderHash", "orderHash": B256::repeat_byte(9)});
    let answer = env.unpublish(OrderKind::App, APP_OWNER, &unknown).await?;
    assert_refused(&answer, 404, "is not an open order");
    let answer = env
        .unpublish(
            OrderKind::Request,
            APP_OWNER,
            &json!({"target": "unpublish_orderHash", "orderHash": h2}),
        )
        .await?;
    assert_refused(&answer, 404, "is not an open order");
    // Malformed requests: 400.
    let answer = env
        .unpublish(OrderKind::App, APP_OWNER, &json!({"orderHash": h2}))
        .await?;
    assert_refused(&answer, 400, "target is required");
    let answer = env
        .unpublish(
            OrderKind::App,
            APP_OWNER,
            &json!({"target": "unpublish_orderHash"}),
        )
        .await?;
    assert_refused(&answer, 400, "orderHash is required");
    let answer = env
        .unpublish(
            OrderKind::App,
            APP_OWNER,
            &json!({"target": "unpublish_last"}),
        )
        .await?;
    assert_refused(&answer, 400, "app is required");
    // Without authorization: 401.
    let answer = env
        .send(reqwest::Method::PUT, "/apporders", None, &by_hash)
        .await?;
    assert_refused(&answer, 401, "authorization");
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        [h1, h2, h3, h4]
    );

    // By hash.
    let (status, body) = env.unpublish(OrderKind::App, APP_OWNER, &by_hash).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"ok": true, "unpublished": [h2]}));
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        [h1, h3, h4]
    );
    let answer = env.get(&format!("/apporders/{h2}")).await?;
    assert_refused(&answer, 404, "is not in the book");
    // Twice: it is gone.
    let answer = env.unpublish(OrderKind::App, APP_OWNER, &by_hash).await?;
    assert_refused(&answer, 404, "is not an open order");

    // The last published (h4, although h1 is cheaper and older).
    let hashes = env
        .client
        .unpublish(
            env.key(APP_OWNER),
            OrderKind::App,
            &UnpublishRequest {
                target: Some(UnpublishTarget::UnpublishLast),
                app: Some(a),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(hashes, [h4]);
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        [h1, h3]
    );

    // Somebody else's "all" finds nothing of theirs.
    let all = json!({"target": "unpublish_all", "app": a});
    let answer = env.unpublish(OrderKind::App, OTHER, &all).await?;
    assert_refused(&answer, 404, "no open apporder");
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        [h1, h3]
    );

    // All of them.
    let (status, body) = env.unpublish(OrderKind::App, APP_OWNER, &all).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unpublished"], json!([h1, h3]));
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={a}")).await?,
        Vec::<B256>::new()
    );
    let answer = env.unpublish(OrderKind::App, APP_OWNER, &all).await?;
    assert_refused(&answer, 404, "no open apporder");
    let metrics = env.metrics().await?;
    assert_eq!(metrics["apporders"], 0);
    assert_eq!(metrics["requestorders"], 1);

    // Request orders are unpublished by requester.
    let answer = env
        .unpublish(
            OrderKind::Request,
            REQUESTER,
            &json!({"target": "unpublish_all", "requester": env.addr(REQUESTER)}),
        )
        .await?;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["unpublished"], json!([request]));

    // A republished order is listed again, as new.
    let entry = env.client.publish(env.key(APP_OWNER), &first, None).await?;
    assert_eq!(entry.order_hash, h1);
    assert_eq!(entry.remaining, 10);
    assert_eq!(env.listed(OrderKind::App, &format!("app={a}")).await?, [h1]);
    assert_eq!(env.entry(OrderKind::App, h1).await?["status"], "open");
    Ok(())
}
