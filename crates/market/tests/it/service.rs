//! The service routes: the OpenAPI document against the routes served, the web UI, categories,
//! version and the explorer pages.

use std::collections::BTreeSet;

use alloy::primitives::{Address, U256};
use poco_types::{Category, OrderKind, RequestOrder, SignedOrder};
use serde_json::{json, Value};

use crate::fixture::*;

/// `/apporders/{orderHash}` → `/apporders/{}`.
fn template(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_served() -> R {
    let env = Env::start().await?;
    // What the routes need: orders of each type, one more to unpublish, and a deal.
    let mut served: BTreeSet<(String, &str)> = BTreeSet::new();
    for (kind, key) in [
        (OrderKind::App, APP_OWNER),
        (OrderKind::Dataset, DATASET_OWNER),
        (OrderKind::Workerpool, SCHEDULER),
        (OrderKind::Request, REQUESTER),
    ] {
        let mut published = Vec::new();
        for _ in 0..2 {
            let order = fresh_order(&env, kind, key)?;
            let (status, body) = env
                .post_order(kind, Some(key), &json!({ "order": order }))
                .await?;
            assert_eq!(status, 200, "POST {}: {body}", kind.key());
            published.push(body["published"]["orderHash"].clone());
        }
        served.insert((format!("/{}s", kind.key()), "post"));
        let (status, body) = env
            .unpublish(
                kind,
                key,
                &json!({"target": "unpublish_orderHash", "orderHash": published[1]}),
            )
            .await?;
        assert_eq!(status, 200, "PUT {}: {body}", kind.key());
        served.insert((format!("/{}s", kind.key()), "put"));
        let first = published[0].as_str().ok_or("orderHash")?;
        env.get_ok(&format!("/{}s/{first}", kind.key())).await?;
        served.insert((format!("/{}s/{{}}", kind.key()), "get"));
    }
    for (kind, query) in [
        (OrderKind::App, format!("app={}", env.app)),
        (OrderKind::Dataset, format!("dataset={}", env.dataset)),
        (OrderKind::Workerpool, String::new()),
        (OrderKind::Request, String::new()),
    ] {
        let list = env.get_ok(&format!("/{}s?{query}", kind.key())).await?;
        assert_eq!(list["count"], 1, "{}: {list}", kind.key());
        served.insert((format!("/{}s", kind.key()), "get"));
    }

    // A deal through the fill helpers.
    let me = env.addr(REQUESTER);
    let offer = env
        .get_ok(&format!("/fill?app={}&requester={me}", env.app))
        .await?;
    served.insert(("/fill".into(), "get"));
    let request: RequestOrder = serde_json::from_value(offer["requestorder"].clone())?;
    let signed = SignedOrder::sign(request, &env.domain, env.key(REQUESTER))?;
    let (status, tx) = env
        .send(
            reqwest::Method::POST,
            "/fill/transaction",
            None,
            &json!({
                "apporder": offer["apporder"]["order"],
                "workerpoolorder": offer["workerpoolorder"]["order"],
                "requestorder": signed,
            }),
        )
        .await?;
    assert_eq!(status, 200, "{tx}");
    served.insert(("/fill/transaction".into(), "post"));
    let to: Address = serde_json::from_value(tx["to"].clone())?;
    let data: alloy::primitives::Bytes = serde_json::from_value(tx["data"].clone())?;
    use alloy::network::TransactionBuilder as _;
    env.chain_client(REQUESTER)
        .await?
        .send(
            alloy::rpc::types::TransactionRequest::default()
                .with_to(to)
                .with_input(data),
            "fill",
        )
        .await?;
    let deals = wait_for("the deal", || async {
        let deals = env.get_ok("/deals").await?;
        Ok((deals["count"] == 1).then_some(deals))
    })
    .await?;
    served.insert(("/deals".into(), "get"));
    let deal = &deals["deals"][0];
    env.get_ok(&format!(
        "/deals/{}",
        deal["dealid"].as_str().ok_or("dealid")?
    ))
    .await?;
    served.insert(("/deals/{}".into(), "get"));
    env.get_ok(&format!(
        "/tasks/{}",
        deal["tasks"][0].as_str().ok_or("task")?
    ))
    .await?;
    served.insert(("/tasks/{}".into(), "get"));
    let ohlc = env.get_ok("/ohlc?category=0").await?;
    assert_eq!(ohlc["ohlc"].as_array().map(Vec::len), Some(1));
    served.insert(("/ohlc".into(), "get"));

    // Service routes.
    let version = env.get_ok("/version").await?;
    assert_eq!(
        version,
        json!({
            "ok": true,
            "version": env!("CARGO_PKG_VERSION"),
            "chainId": env.chain_id,
            "hub": env.chain.hub(),
        })
    );
    served.insert(("/version".into(), "get"));
    env.metrics().await?;
    served.insert(("/metrics".into(), "get"));
    env.get_ok(&format!("/challenge?address={me}")).await?;
    served.insert(("/challenge".into(), "get"));
    let categories = env.get_ok("/categories").await?;
    let defaults = Category::defaults();
    assert_eq!(categories["count"], json!(defaults.len()));
    for (i, c) in defaults.iter().enumerate() {
        let listed = &categories["categories"][i];
        assert_eq!(listed["catid"], json!(i));
        assert_eq!(listed["name"], c.name);
        assert_eq!(listed["description"], c.description);
        assert_eq!(listed["workClockTimeRef"], json!(c.work_clock_time_ref));
        assert_eq!(listed["chainId"], json!(env.chain_id));
    }
    let long = env.get_ok("/categories?minWorkClockTimeRef=1000").await?;
    let expected = defaults
        .iter()
        .filter(|c| c.work_clock_time_ref >= 1000)
        .count();
    assert_eq!(long["count"], json!(expected));
    served.insert(("/categories".into(), "get"));
    let one = env.get_ok("/categories/1").await?;
    assert_eq!(one["name"], defaults[1].name);
    served.insert(("/categories/{}".into(), "get"));
    assert_refused(&env.get("/categories/99").await?, 404, "category 99");

    // Explorer pages.
    let app = env.get_ok(&format!("/apps/{}", env.app)).await?;
    assert_eq!(app["app"]["owner"], json!(env.addr(APP_OWNER)));
    assert_eq!(app["app"]["multiaddr"], "file:///apps/hello.wasm");
    served.insert(("/apps/{}".into(), "get"));
    let dataset = env.get_ok(&format!("/datasets/{}", env.dataset)).await?;
    assert_eq!(dataset["dataset"]["owner"], json!(env.addr(DATASET_OWNER)));
    assert_eq!(dataset["dataset"]["name"], "data");
    assert_eq!(dataset["orders"].as_array().map(Vec::len), Some(1));
    served.insert(("/datasets/{}".into(), "get"));
    let pool = env.get_ok(&format!("/workerpools/{}", env.pool)).await?;
    assert_eq!(pool["workerpool"]["owner"], json!(env.addr(SCHEDULER)));
    assert_eq!(pool["workerpool"]["description"], "pool");
    assert_eq!(pool["deals"].as_array().map(Vec::len), Some(1));
    served.insert(("/workerpools/{}".into(), "get"));
    let scheduler = env
        .get_ok(&format!("/addresses/{}", env.addr(SCHEDULER)))
        .await?;
    assert_eq!(scheduler["workerpools"], json!([env.pool]));
    assert_eq!(scheduler["apps"], json!([]));
    let (free, locked) = env
        .chain_client(SCHEDULER)
        .await?
        .account(env.addr(SCHEDULER))
        .await?;
    assert_eq!(
        scheduler["account"],
        json!({"stake": free.to_string(), "locked": locked.to_string()})
    );
    assert_eq!(free + locked, U256::from(STAKE));
    served.insert(("/addresses/{}".into(), "get"));
    for (path, needle) in [
        (format!("/apps/{}", env.pool), "is not a registered app"),
        (
            format!("/datasets/{}", env.app),
            "is not a registered dataset",
        ),
        (
            format!("/workerpools/{}", env.app),
            "is not a registered workerpool",
        ),
    ] {
        assert_refused(&env.get(&path).await?, 404, needle);
    }
    assert_refused(&env.get("/addresses/0x12").await?, 400, "is not an address");

    // The live feed upgrades.
    let ws = env.url.replacen("http://", "ws://", 1);
    let (_, response) = tokio_tungstenite::connect_async(format!("{ws}/ws")).await?;
    assert_eq!(response.status().as_u16(), 101);
    served.insert(("/ws".into(), "get"));

    // The web UI.
    let page = env.http.get(format!("{}/", env.url)).send().await?;
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(
        page.headers()["content-type"].to_str()?,
        "text/html; charset=utf-8"
    );
    let html = page.text().await?;
    assert!(
        html.to_ascii_lowercase().starts_with("<!doctype html"),
        "{html}"
    );
    assert!(html.contains("/web/app.js"), "{html}");
    served.insert(("/".into(), "get"));
    let script = env
        .http
        .get(format!("{}/web/app.js", env.url))
        .send()
        .await?;
    assert_eq!(script.status().as_u16(), 200);
    assert_eq!(
        script.headers()["content-type"].to_str()?,
        "text/javascript; charset=utf-8"
    );
    served.insert(("/web/{}".into(), "get"));
    assert_refused(&env.get("/web/nothing.js").await?, 404, "nothing.js");

    // The document.
    let doc = env.get("/openapi.json").await?.1;
    served.insert(("/openapi.json".into(), "get"));
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, &str)> = doc["paths"]
        .as_object()
        .ok_or("paths")?
        .iter()
        .flat_map(|(path, item)| {
            ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| item.get(m).is_some())
                .map(|m| (template(path), m))
        })
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not documented: {missing:?}; documented but not requested: {extra:?}"
    );
    // Every documented list parameter is one the list reads (an unknown value is refused).
    let pool_params: Vec<&str> = doc["paths"]["/workerpoolorders"]["get"]["parameters"]
        .as_array()
        .ok_or("parameters")?
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "category",
        "minTrust",
        "workerpoolOwner",
        "pageSize",
        "chainId",
    ] {
        assert!(pool_params.contains(&name), "{name} in {pool_params:?}");
    }
    Ok(())
}

/// A new signed order of `kind` by `key`, as JSON.
fn fresh_order(env: &Env, kind: OrderKind, key: poco_testkit::Role) -> R<Value> {
    Ok(match kind {
        OrderKind::App => serde_json::to_value(env.sign(key, env.app_order(1, 10)))?,
        OrderKind::Dataset => serde_json::to_value(env.sign(key, env.dataset_order(1, 10)))?,
        OrderKind::Workerpool => serde_json::to_value(env.sign(key, env.pool_order(1, 10, 1)))?,
        OrderKind::Request => serde_json::to_value(env.sign(key, env.request_order(1, 1, 1, 1)))?,
    })
}
