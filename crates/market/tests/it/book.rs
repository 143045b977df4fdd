//! The chain watcher keeping the book true: matches, cancellations, asset transfers and stake
//! withdrawals.

use alloy::primitives::{Address, B256, U256};
use poco_chain::convert::AnySignedOrder;
use poco_types::OrderKind;
use serde_json::{json, Value};

use crate::fixture::*;

/// The deal of `dealid`, once the market has recorded it.
async fn wait_deal(env: &Env, dealid: B256) -> R<Value> {
    wait_for(&format!("deal {dealid}"), || async {
        let (status, body) = env.get(&format!("/deals/{dealid}")).await?;
        Ok((status == 200).then_some(body))
    })
    .await
}

/// How many deals `GET /deals?{query}` counts.
async fn deal_count(env: &Env, query: &str) -> R<u64> {
    let deals = env.get_ok(&format!("/deals?{query}")).await?;
    Ok(deals["count"].as_u64().ok_or("no count")?)
}

#[tokio::test]
async fn matches_lower_remaining_volumes_fill_orders_and_record_deals() -> R {
    let env = Env::start().await?;
    let requester = env.chain_client(REQUESTER).await?;
    let (app, app_entry) = env.publish(APP_OWNER, env.app_order(2, 10)).await?;
    let (pool, pool_entry) = env.publish(SCHEDULER, env.pool_order(10, 3, 3)).await?;
    let (classic, classic_entry) = env
        .publish(REQUESTER, env.request_order(2, 10, 2, 3))
        .await?;
    let (app_hash, pool_hash, classic_hash) = (
        app_entry.order_hash,
        pool_entry.order_hash,
        classic_entry.order_hash,
    );

    // Classic path (trust 3): 2 tasks.
    let deal = requester.match_orders(&app, None, &pool, &classic).await?;
    let filled = env
        .wait_status(OrderKind::Request, classic_hash, "filled")
        .await?;
    assert_eq!(filled["remaining"], 0);
    assert_eq!(env.entry(OrderKind::App, app_hash).await?["remaining"], 8);
    let pool_now = env.entry(OrderKind::Workerpool, pool_hash).await?;
    assert_eq!(
        (&pool_now["remaining"], &pool_now["status"]),
        (&json!(1), &json!("open"))
    );
    assert_eq!(
        env.listed(OrderKind::Request, "").await?,
        Vec::<B256>::new(),
        "a filled order leaves the list"
    );
    assert_eq!(env.listed(OrderKind::Workerpool, "").await?, [pool_hash]);
    let listed_pool = env.get_ok("/workerpoolorders").await?;
    assert_eq!(listed_pool["orders"][0]["remaining"], 1);

    // Fast path (trust 1): the last task of the workerpool order.
    let (fast_request, fast_entry) = env
        .publish(REQUESTER, env.request_order(2, 10, 1, 1))
        .await?;
    let (fast, _) = requester
        .match_orders_fast(&app, None, &pool, &fast_request)
        .await?;
    let pool_filled = env
        .wait_status(OrderKind::Workerpool, pool_hash, "filled")
        .await?;
    assert_eq!(pool_filled["remaining"], 0);
    env.wait_status(OrderKind::Request, fast_entry.order_hash, "filled")
        .await?;
    assert_eq!(
        env.listed(OrderKind::Workerpool, "").await?,
        Vec::<B256>::new()
    );
    let app_now = env.entry(OrderKind::App, app_hash).await?;
    assert_eq!(
        (&app_now["remaining"], &app_now["status"]),
        (&json!(7), &json!("open"))
    );
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        [app_hash]
    );
    let metrics = env.metrics().await?;
    assert_eq!(
        [
            &metrics["apporders"],
            &metrics["workerpoolorders"],
            &metrics["requestorders"],
            &metrics["deals"]
        ],
        [&json!(1), &json!(0), &json!(0), &json!(2)]
    );

    // The deals.
    let classic_deal = wait_deal(&env, deal.dealid).await?;
    let fast_deal = wait_deal(&env, fast.dealid).await?;
    let side = |pointer: Address, owner: Address, price: &str| json!({"pointer": pointer, "owner": owner, "price": price});
    for (body, matched, request_hash, trust, volume, is_fast) in [
        (&classic_deal, &deal, classic_hash, 3, 2, false),
        (&fast_deal, &fast, fast_entry.order_hash, 1, 1, true),
    ] {
        assert_eq!(body["ok"], true);
        assert_eq!(body["dealid"], json!(matched.dealid));
        assert_eq!(body["chainId"], json!(env.chain_id));
        assert_eq!(body["app"], side(env.app, env.addr(APP_OWNER), "2"));
        assert_eq!(body["dataset"], side(Address::ZERO, Address::ZERO, "0"));
        assert_eq!(
            body["workerpool"],
            side(env.pool, env.addr(SCHEDULER), "10")
        );
        assert_eq!(body["appHash"], json!(app_hash));
        assert_eq!(body["datasetHash"], json!(B256::ZERO));
        assert_eq!(body["workerpoolHash"], json!(pool_hash));
        assert_eq!(body["requestHash"], json!(request_hash));
        assert_eq!(body["requester"], json!(env.addr(REQUESTER)));
        assert_eq!(body["beneficiary"], json!(env.addr(REQUESTER)));
        assert_eq!(body["callback"], json!(Address::ZERO));
        assert_eq!(body["category"], 0);
        assert_eq!(body["tag"], json!(B256::ZERO));
        assert_eq!(body["trust"], trust);
        assert_eq!(body["volume"], volume);
        assert_eq!(body["botFirst"], json!(matched.first_task.to::<u64>()));
        assert_eq!(body["botSize"], volume);
        assert_eq!(body["params"], r#"{"iexec_args":"hello"}"#);
        assert_eq!(body["fast"], is_fast);
        assert_eq!(body["transactionHash"], json!(matched.tx_hash));
        assert_eq!(body["tasks"], json!(matched.tasks));
        assert!(body["startTime"].as_u64().is_some_and(|t| t > 0), "{body}");
        assert!(
            body["blockNumber"].as_u64().is_some_and(|b| b > 0),
            "{body}"
        );
        let stamp = body["blockTimestamp"].as_str().unwrap_or_default();
        assert!(stamp.ends_with(".000Z") && stamp.len() == 24, "{stamp}");
    }
    let on_chain = requester.deal(deal.dealid).await?;
    assert_eq!(
        classic_deal["startTime"],
        json!(on_chain.startTime.to::<u64>())
    );

    // Lists of deals, newest first, and their filters.
    let all = env.get_ok("/deals").await?;
    assert_eq!(all["count"], 2);
    let ids: Vec<&Value> = all["deals"]
        .as_array()
        .ok_or("deals")?
        .iter()
        .map(|d| &d["dealid"])
        .collect();
    assert_eq!(ids, [&json!(fast.dealid), &json!(deal.dealid)]);
    assert_eq!(
        deal_count(&env, &format!("requestorderHash={classic_hash}")).await?,
        1
    );
    assert_eq!(
        deal_count(&env, &format!("apporderHash={app_hash}")).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("workerpoolorderHash={pool_hash}")).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("workerpoolOwner={}", env.addr(SCHEDULER))).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("appOwner={}", env.addr(APP_OWNER))).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("requester={}", env.addr(REQUESTER))).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("beneficiary={}", env.addr(REQUESTER))).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("requester={}", env.addr(OTHER))).await?,
        0
    );
    assert_eq!(
        deal_count(&env, &format!("app={}&workerpool={}", env.app, env.pool)).await?,
        2
    );
    assert_eq!(
        deal_count(&env, &format!("dataset={}", env.dataset)).await?,
        0
    );
    assert_eq!(deal_count(&env, "category=0").await?, 2);
    assert_eq!(deal_count(&env, "category=1").await?, 0);
    let page = env
        .client
        .deals(&[("requestorderHash", fast_entry.order_hash.to_string())])
        .await?;
    assert_eq!(page.deals.len(), 1);
    assert_eq!(page.deals[0].dealid, fast.dealid);
    assert!(page.deals[0].fast);
    let typed = env.client.deal(deal.dealid).await?;
    assert_eq!(typed.tasks, deal.tasks);
    assert_refused(
        &env.get("/deals?apporderHash=0x12").await?,
        400,
        "apporderHash",
    );
    assert_refused(
        &env.get(&format!("/deals/{}", B256::repeat_byte(7))).await?,
        404,
        "deal",
    );
    assert_refused(&env.get("/deals/0x12").await?, 400, "dealid");

    // Trades of the category, oldest first.
    let ohlc = env.get_ok("/ohlc?category=0").await?;
    assert_eq!(
        ohlc["ohlc"],
        json!([
            [classic_deal["blockTimestamp"], 10, 2],
            [fast_deal["blockTimestamp"], 10, 1]
        ])
    );
    assert_eq!(env.get_ok("/ohlc?category=1").await?["ohlc"], json!([]));
    assert_refused(&env.get("/ohlc").await?, 400, "category is required");

    // Tasks of both deals.
    let task = env.get_ok(&format!("/tasks/{}", deal.tasks[1])).await?;
    let t = &task["task"];
    assert_eq!(t["taskid"], json!(deal.tasks[1]));
    assert_eq!(t["dealid"], json!(deal.dealid));
    assert_eq!(t["idx"], 1);
    assert_eq!(t["status"], "UNSET");
    assert_eq!(t["results"], Value::Null);
    let task = env.get_ok(&format!("/tasks/{}", fast.tasks[0])).await?;
    assert_eq!(task["task"]["dealid"], json!(fast.dealid));
    assert_eq!(task["task"]["status"], "ACTIVE");
    assert_refused(
        &env.get(&format!("/tasks/{}", B256::repeat_byte(5))).await?,
        404,
        "is not a task of a deal",
    );

    // The explorer pages list the deals.
    let app_page = env.get_ok(&format!("/apps/{}", env.app)).await?;
    assert_eq!(app_page["app"]["owner"], json!(env.addr(APP_OWNER)));
    assert_eq!(app_page["app"]["name"], "hello");
    assert_eq!(hashes(&app_page["orders"])?, [app_hash]);
    assert_eq!(app_page["deals"].as_array().map(Vec::len), Some(2));
    let account = env
        .get_ok(&format!("/addresses/{}", env.addr(REQUESTER)))
        .await?;
    assert_eq!(account["deals"].as_array().map(Vec::len), Some(2));
    // Classic: app + workerpool price of 2 tasks locked; fast: 1 task locked.
    assert_eq!(account["account"]["locked"], "36");
    Ok(())
}

#[tokio::test]
async fn cancels_transfers_and_withdrawals_take_orders_out() -> R {
    let env = Env::start().await?;
    let (counterpart, counterpart_entry) = env.publish(APP_OWNER, env.app_order(0, 100)).await?;
    let (cancel_me, cancel_entry) = env.publish(APP_OWNER, env.app_order(1, 5)).await?;
    // The pool order needs 30 % of 100 RLC × 10 = 300 RLC of the scheduler's 1,000.
    let (big_pool, pool_entry) = env
        .publish(SCHEDULER, env.pool_order(100 * RLC, 10, 1))
        .await?;
    let small_pool = env.publish(SCHEDULER, env.pool_order(RLC, 10, 1)).await?.1;
    // The request needs 50 RLC × 10 = 500 RLC of the requester's 1,000.
    let (_, big_request) = env
        .publish(REQUESTER, env.request_order(0, 50 * RLC, 10, 1))
        .await?;
    let (small_request, small_request_entry) = env
        .publish(REQUESTER, env.request_order(0, RLC, 10, 1))
        .await?;

    // Stake withdrawn below what an order needs: that order dies, the others stay.
    env.chain_client(SCHEDULER)
        .await?
        .withdraw(U256::from(800 * RLC))
        .await?;
    let dead = env
        .wait_status(OrderKind::Workerpool, pool_entry.order_hash, "dead")
        .await?;
    assert_eq!(dead["remaining"], 10);
    assert_eq!(
        env.listed(OrderKind::Workerpool, "").await?,
        [small_pool.order_hash]
    );
    env.chain_client(REQUESTER)
        .await?
        .withdraw(U256::from(600 * RLC))
        .await?;
    env.wait_status(OrderKind::Request, big_request.order_hash, "dead")
        .await?;
    assert_eq!(
        env.listed(OrderKind::Request, "").await?,
        [small_request_entry.order_hash]
    );
    // Publishing it again is refused for the same reason.
    env.sync().await?;
    let answer = env
        .post_order(
            OrderKind::Workerpool,
            Some(SCHEDULER),
            &json!({ "order": big_pool }),
        )
        .await?;
    assert_refused(&answer, 402, "stake");

    // Closed on chain: canceled.
    let owner = env.chain_client(APP_OWNER).await?;
    owner
        .cancel_order(&AnySignedOrder::App(cancel_me.clone()))
        .await?;
    let canceled = env
        .wait_status(OrderKind::App, cancel_entry.order_hash, "canceled")
        .await?;
    assert_eq!(canceled["remaining"], 0);
    env.chain_client(REQUESTER)
        .await?
        .cancel_order(&AnySignedOrder::Request(small_request))
        .await?;
    env.wait_status(
        OrderKind::Request,
        small_request_entry.order_hash,
        "canceled",
    )
    .await?;
    assert_eq!(
        env.listed(OrderKind::Request, "").await?,
        Vec::<B256>::new()
    );
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        [counterpart_entry.order_hash]
    );
    // A canceled order cannot come back.
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({ "order": cancel_me }),
        )
        .await?;
    assert_refused(&answer, 409, "remaining volume");

    // The app changes owner: the previous owner's orders die.
    env.transfer_app(env.app, APP_OWNER, OTHER).await?;
    let dead = env
        .wait_status(OrderKind::App, counterpart_entry.order_hash, "dead")
        .await?;
    assert_eq!(dead["remaining"], 100);
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        Vec::<B256>::new()
    );
    // The new owner publishes; the old one no longer can.
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({ "order": counterpart }),
        )
        .await?;
    assert_refused(&answer, 403, "signer");
    let (_, new_entry) = env.publish(OTHER, env.app_order(3, 10)).await?;
    assert_eq!(new_entry.signer, env.addr(OTHER));
    assert_eq!(
        env.listed(OrderKind::App, &format!("appOwner={}", env.addr(OTHER)))
            .await?,
        [new_entry.order_hash]
    );
    assert_eq!(
        env.listed(OrderKind::App, &format!("appOwner={}", env.addr(APP_OWNER)))
            .await?,
        Vec::<B256>::new()
    );
    Ok(())
}
