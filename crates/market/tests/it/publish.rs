//! Publishing the four order types and reading them back.

use std::collections::BTreeSet;

use alloy::primitives::{Address, U256};
use poco_market::api::iso8601;
use poco_types::{OrderKind, RequestOrder};
use serde_json::{json, Value};

use crate::fixture::*;

fn now_iso() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    iso8601(millis as i64)
}

/// Checks an entry against the signed order it lists.
#[track_caller]
fn assert_entry(entry: &Value, order: &Value, signer: Address, remaining: u64, env: &Env) {
    let keys: BTreeSet<&str> = entry
        .as_object()
        .expect("an entry is an object")
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "ok")
        .collect();
    let mut expected = BTreeSet::from([
        "orderHash",
        "chainId",
        "order",
        "remaining",
        "status",
        "signer",
        "publicationTimestamp",
    ]);
    if entry.get("workerpoolApi").is_some() {
        expected.insert("workerpoolApi");
    }
    if entry.get("workerpoolAdmission").is_some() {
        expected.insert("workerpoolAdmission");
    }
    assert_eq!(keys, expected, "{entry}");
    assert_eq!(entry["chainId"], json!(env.chain_id));
    assert_eq!(&entry["order"], order);
    assert_eq!(entry["remaining"], json!(remaining));
    assert_eq!(entry["status"], "open");
    assert_eq!(entry["signer"], json!(signer));
    let sign = entry["order"]["sign"].as_str().expect("sign is a string");
    assert!(sign.starts_with("0x") && sign.len() == 2 + 130, "{sign}");
    let stamp = entry["publicationTimestamp"].as_str().expect("a timestamp");
    assert_eq!(stamp.len(), "2026-11-24T10:00:00.000Z".len(), "{stamp}");
    assert!(stamp.ends_with('Z') && &stamp[10..11] == "T", "{stamp}");
}

#[tokio::test]
async fn the_four_order_types_are_published_and_read_back() -> R {
    let env = Env::start().await?;
    let before = now_iso();

    let (app, app_entry) = env.publish(APP_OWNER, env.app_order(3, 10)).await?;
    // The dataset order through the raw API, to see the answer's shape.
    let dataset = env.sign(DATASET_OWNER, env.dataset_order(2, 5));
    let (status, published) = env
        .post_order(
            OrderKind::Dataset,
            Some(DATASET_OWNER),
            &json!({ "order": dataset }),
        )
        .await?;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["ok"], true);
    let dataset_entry: poco_market::api::OrderEntry =
        serde_json::from_value(published["published"].clone())?;
    let pool = env.sign(SCHEDULER, env.pool_order(100, 4, 1));
    let pool_entry = env
        .client
        .publish_with(
            env.key(SCHEDULER),
            &pool,
            Some("http://127.0.0.1:7001"),
            Some("open"),
        )
        .await?;
    let request = RequestOrder {
        dataset: env.dataset,
        datasetmaxprice: U256::from(2),
        ..env.request_order(3, 100, 2, 1)
    };
    let (request, request_entry) = env.publish(REQUESTER, request).await?;
    let after = now_iso();

    let published = [
        (
            OrderKind::App,
            &app_entry,
            serde_json::to_value(&app)?,
            APP_OWNER,
            10,
        ),
        (
            OrderKind::Dataset,
            &dataset_entry,
            serde_json::to_value(&dataset)?,
            DATASET_OWNER,
            5,
        ),
        (
            OrderKind::Workerpool,
            &pool_entry,
            serde_json::to_value(&pool)?,
            SCHEDULER,
            4,
        ),
        (
            OrderKind::Request,
            &request_entry,
            serde_json::to_value(&request)?,
            REQUESTER,
            2,
        ),
    ];
    let hashes_of = [
        app.order_hash(&env.domain),
        dataset.order_hash(&env.domain),
        pool.order_hash(&env.domain),
        request.order_hash(&env.domain),
    ];
    let lists = [
        format!("app={}", env.app),
        format!("dataset={}", env.dataset),
        format!("workerpool={}", env.pool),
        format!("requester={}", env.addr(REQUESTER)),
    ];
    for (((kind, entry, order, key, volume), hash), query) in
        published.iter().zip(hashes_of).zip(&lists)
    {
        // What publishing answered.
        assert_eq!(entry.order_hash, hash, "{kind:?}");
        assert_eq!(&entry.order, order);
        assert_eq!(entry.signer, env.addr(*key));
        assert!(
            before <= entry.publication_timestamp && entry.publication_timestamp <= after,
            "{} not within {before}..{after}",
            entry.publication_timestamp
        );
        // The list.
        let list = env.get_ok(&format!("/{}s?{query}", kind.key())).await?;
        assert_eq!(list["count"], 1, "{list}");
        assert!(list.get("nextPage").is_none(), "{list}");
        let listed = &list["orders"][0];
        assert_entry(listed, order, env.addr(*key), *volume, &env);
        assert_eq!(listed["orderHash"], json!(hash));
        // One order by hash: the same entry, with `ok`.
        let one = env.entry(*kind, hash).await?;
        let mut without_ok = one.clone();
        without_ok.as_object_mut().expect("object").remove("ok");
        assert_eq!(&without_ok, listed);
        // The hash is not an order of another type.
        let other = if *kind == OrderKind::App {
            OrderKind::Request
        } else {
            OrderKind::App
        };
        let answer = env.get(&format!("/{}s/{hash}", other.key())).await?;
        assert_refused(&answer, 404, "is not in the book");
    }
    // Only the workerpool order carries a scheduler URL.
    assert_eq!(
        pool_entry.workerpool_api.as_deref(),
        Some("http://127.0.0.1:7001")
    );
    let listed_pool = env.entry(OrderKind::Workerpool, hashes_of[2]).await?;
    assert_eq!(listed_pool["workerpoolApi"], "http://127.0.0.1:7001");
    // And its admission mode, an extra field the iExec SDK ignores.
    assert_eq!(pool_entry.workerpool_admission.as_deref(), Some("open"));
    assert_eq!(listed_pool["workerpoolAdmission"], "open");
    assert!(env
        .entry(OrderKind::App, hashes_of[0])
        .await?
        .get("workerpoolApi")
        .is_none());

    let metrics = env.metrics().await?;
    for key in [
        "apporders",
        "datasetorders",
        "workerpoolorders",
        "requestorders",
    ] {
        assert_eq!(metrics[key], 1, "{key}: {metrics}");
    }
    assert_eq!(metrics["deals"], 0);
    let head = alloy::providers::Provider::get_block_number(env.chain.provider()).await?;
    assert!(metrics["lastBlock"]
        .as_u64()
        .is_some_and(|b| b <= head && b > 0));

    // The client reads the same.
    let page = env
        .client
        .orders(
            poco_market::api::AppOrderQuery {
                app: Some(env.app),
                ..Default::default()
            },
            Default::default(),
        )
        .await?;
    assert_eq!(page.count, 1);
    assert_eq!(page.orders[0].order_hash, hashes_of[0]);
    let typed = page.orders[0].typed::<poco_types::AppOrder>()?;
    assert_eq!(typed, app);
    let one = env.client.order(OrderKind::Request, hashes_of[3]).await?;
    assert_eq!(one.typed::<RequestOrder>()?, request);

    // Malformed hashes are a 400.
    let answer = env.get("/apporders/0x1234").await?;
    assert_refused(&answer, 400, "orderHash");
    Ok(())
}
