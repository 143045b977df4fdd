//! A market stopped and started again on the same database.

use poco_market::MarketConfig;
use poco_testkit::Chain;
use poco_types::OrderKind;
use serde_json::json;

use crate::fixture::*;

#[tokio::test]
async fn a_restarted_market_has_its_book_and_catches_up_with_the_chain() -> R {
    let mut env = Env::start().await?;
    let requester = env.chain_client(REQUESTER).await?;
    let (app, app_entry) = env.publish(APP_OWNER, env.app_order(2, 10)).await?;
    let (pool, pool_entry) = env.publish(SCHEDULER, env.pool_order(10, 6, 3)).await?;
    // A match the market sees before it stops: after the restart it must not count it twice.
    let (early, _) = env
        .publish(REQUESTER, env.request_order(2, 10, 1, 3))
        .await?;
    requester.match_orders(&app, None, &pool, &early).await?;
    env.wait_remaining(OrderKind::App, app_entry.order_hash, 9)
        .await?;
    let (request, request_entry) = env
        .publish(REQUESTER, env.request_order(2, 10, 2, 3))
        .await?;
    let (_, waiting_entry) = env
        .publish(REQUESTER, env.request_order(2, 10, 1, 3))
        .await?;
    let before = env.metrics().await?;
    let old_url = env.url.clone();

    env.stop_market().await;
    // Its port is closed.
    let answer = reqwest::Client::new()
        .get(format!("{old_url}/metrics"))
        .send()
        .await;
    assert!(
        answer.is_err(),
        "the stopped market still answers: {answer:?}"
    );

    // A match while the market is down.
    let deal = requester.match_orders(&app, None, &pool, &request).await?;

    // Another chain's market cannot take this database.
    let other = Chain::start_unfunded().await?;
    let foreign = MarketConfig {
        rpc_url: other.endpoint(),
        hub: other.hub(),
        ..env.market_config("market.db")
    };
    let err = poco_market::start(foreign).await.unwrap_err();
    assert!(err.to_string().contains("holds the book of"), "{err}");

    let config = env.market_config("market.db");
    env.start_market(config).await?;
    let after = env.metrics().await?;
    assert!(
        after["lastBlock"].as_u64() > before["lastBlock"].as_u64(),
        "{before} {after}"
    );

    // The open orders are back, with the match made while it was down applied (once, and the
    // one before not again).
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        [app_entry.order_hash]
    );
    assert_eq!(
        env.entry(OrderKind::App, app_entry.order_hash).await?["remaining"],
        7
    );
    assert_eq!(
        env.entry(OrderKind::Workerpool, pool_entry.order_hash)
            .await?["remaining"],
        3
    );
    let filled = env
        .entry(OrderKind::Request, request_entry.order_hash)
        .await?;
    assert_eq!(
        (&filled["status"], &filled["remaining"]),
        (&json!("filled"), &json!(0))
    );
    assert_eq!(
        env.listed(OrderKind::Request, "").await?,
        [waiting_entry.order_hash]
    );
    let recorded = env.get_ok(&format!("/deals/{}", deal.dealid)).await?;
    assert_eq!(recorded["tasks"], json!(deal.tasks));
    assert_eq!(
        [
            &after["apporders"],
            &after["workerpoolorders"],
            &after["requestorders"],
            &after["deals"]
        ],
        [&json!(1), &json!(1), &json!(1), &json!(2)]
    );

    // New publications still list after the older ones at the same price, and the restarted
    // market keeps following the chain.
    let (_, later) = env.publish(APP_OWNER, env.app_order(2, 10)).await?;
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        [app_entry.order_hash, later.order_hash]
    );
    let (_, more) = env
        .publish(REQUESTER, env.request_order(2, 10, 1, 3))
        .await?;
    let more_order = env
        .client
        .order(OrderKind::Request, more.order_hash)
        .await?;
    requester
        .match_orders(&app, None, &pool, &more_order.typed()?)
        .await?;
    env.wait_status(OrderKind::Request, more.order_hash, "filled")
        .await?;
    env.wait_remaining(OrderKind::App, app_entry.order_hash, 6)
        .await?;
    Ok(())
}
