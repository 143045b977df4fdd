//! The market through the binary: `poco market`, `poco order publish|unpublish`,
//! `poco orderbook`, a deal seen by the market, and the web UI in headless Chromium
//! (crates/market/web/test/ui.test.mjs, Playwright) against that market.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::{address, deploy_hello, deploy_pool, start_market, text, Poco};

const PRICE_CAT0: &str = "100000000";
const PRICE_CAT1: &str = "200000000";

/// Sets the order templates of iexec.json.
fn edit_orders(poco: &Poco, edit: impl FnOnce(&mut Value)) {
    let path = poco.project().join("iexec.json");
    let mut iexec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut iexec["order"]);
    std::fs::write(&path, serde_json::to_string_pretty(&iexec).unwrap()).unwrap();
}

fn get(url: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(url).expect("market answers");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn published_hash(answer: &Value) -> String {
    text(&answer["published"][0], "orderHash")
}

#[test]
fn market_cli_and_web_ui() {
    let poco = Poco::new(crate::POCO);
    let devnet = poco.json(&["devnet", "start", "--port", "0"]);
    let rpc_url = text(&devnet, "rpcUrl");
    let requester = address(&devnet, "requester");
    let (_market, url, _) = start_market(&poco, Stdio::null());
    let m = ["--market", url.as_str()];

    poco.json(&["account", "deposit", "10 RLC", "--account", "requester"]);
    poco.json(&["account", "deposit", "10 RLC", "--account", "scheduler"]);
    let app = text(&deploy_hello(&poco, "app-owner"), "address");
    deploy_pool(&poco);

    // Orders: an app order, a workerpool order per category, request orders.
    poco.json(&["order", "init", "--account", "requester"]);
    edit_orders(&poco, |o| {
        o["apporder"]["volume"] = json!("10");
        o["workerpoolorder"]["workerpoolprice"] = json!(PRICE_CAT0);
        o["workerpoolorder"]["volume"] = json!("10");
        o["workerpoolorder"]["trust"] = json!("1");
        o["requestorder"]["workerpoolmaxprice"] = json!(PRICE_CAT0);
        o["requestorder"]["volume"] = json!("1");
        o["requestorder"]["params"] = json!({ "iexec_args": "from the market" });
    });
    let publish = |kind: &str, account: &str| -> Value {
        poco.json(&["order", "sign", kind, "--account", account]);
        let mut args = vec!["order", "publish", kind, "--account", account];
        args.extend_from_slice(&m);
        poco.json(&args)
    };
    publish("--app", "app-owner");
    let pool0 = published_hash(&publish("--workerpool", "scheduler"));
    let first_request = published_hash(&publish("--request", "requester"));

    let mut book_args = vec!["orderbook", "workerpool", "--category", "0"];
    book_args.extend_from_slice(&m);
    let book = poco.json(&book_args);
    assert_eq!(book["count"], 1, "{book}");
    assert_eq!(book["orders"][0]["orderHash"], pool0.as_str());
    let mut bids = vec!["orderbook", "requester", "--category", "0"];
    bids.extend_from_slice(&m);
    assert_eq!(
        poco.json(&bids)["orders"][0]["orderHash"],
        first_request.as_str()
    );

    // A deal from the published orders; the market sees it and updates the book.
    let deal = poco.json(&["order", "fill", "--account", "requester"]);
    let dealid = text(&deal, "dealid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{url}/deals/{dealid}")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the market never saw deal {dealid}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, pool) = get(&format!("{url}/workerpoolorders/{pool0}"));
    assert_eq!(pool["remaining"], 9, "{pool}");
    let (_, request) = get(&format!("{url}/requestorders/{first_request}"));
    assert_eq!(request["status"], "filled", "{request}");

    // A second workerpool order in category 1, and a new bid.
    edit_orders(&poco, |o| {
        o["workerpoolorder"]["category"] = json!("1");
        o["workerpoolorder"]["workerpoolprice"] = json!(PRICE_CAT1);
    });
    let pool1 = published_hash(&publish("--workerpool", "scheduler"));
    let bid = published_hash(&publish("--request", "requester"));

    // Refusals come back with the check that failed.
    let mut again = vec!["order", "publish", "--request", "--account", "requester"];
    again.extend_from_slice(&m);
    let err = poco.error(&again);
    assert!(err.contains("duplicate"), "{err}");

    // The web UI in headless Chromium. Its wallet (anvil's unlocked `requester` behind an
    // injected window.ethereum) fills one more task at the cheapest category-0 offer: pool0 at
    // PRICE_CAT0, the app order at its template price 0; the requester's free stake covers it.
    let (_, account) = get(&format!("{url}/addresses/{requester}"));
    let stake: u128 = account["account"]["stake"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no stake in {account}"));
    assert!(stake >= PRICE_CAT0.parse().unwrap(), "{account}");
    let deals_of_requester =
        || get(&format!("{url}/deals?requester={requester}")).1["count"].clone();
    assert_eq!(deals_of_requester(), 1);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("market-ui");
    std::fs::create_dir_all(&out).unwrap();
    let expect = out.join("expect.json");
    std::fs::write(
        &expect,
        json!({
            "category": 0,
            "workerpoolOrderHash": pool0,
            "requestOrderHash": bid,
            "dealid": dealid,
            "otherCategory": 1,
            "otherCategoryOrderHash": pool1,
            "app": app,
            "rpcUrl": rpc_url,
            "requester": requester,
        })
        .to_string(),
    )
    .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../market/web/test/ui.test.mjs"
    );
    let ui = Command::new("node")
        .arg(script)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("MARKET_URL", &url)
        .env("UI_EXPECT", &expect)
        .env("UI_OUT", &out)
        .output()
        .expect("run node (install Node.js and `npm ci`)");
    assert!(
        ui.status.success(),
        "the web UI test failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&ui.stdout),
        String::from_utf8_lossy(&ui.stderr)
    );
    assert!(out.join("market-desktop.png").is_file());
    // The wallet flow ran (the script skips it without rpcUrl and requester) and made a deal.
    assert_eq!(
        deals_of_requester(),
        2,
        "the web UI's wallet flow made no deal of requester {requester}"
    );

    // Unpublishing takes the order out of the book.
    let mut unpublish = vec![
        "order",
        "unpublish",
        "--workerpool",
        "--hash",
        &pool1,
        "--account",
        "scheduler",
    ];
    unpublish.extend_from_slice(&m);
    assert_eq!(poco.json(&unpublish)["unpublished"][0], pool1.as_str());
    let mut cat1 = vec!["orderbook", "workerpool", "--category", "1"];
    cat1.extend_from_slice(&m);
    assert_eq!(poco.json(&cat1)["count"], 0);
}
