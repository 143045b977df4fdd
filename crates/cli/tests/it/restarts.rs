//! Issue 11, restarts: a devnet keeps its RPC URL across `poco devnet stop` and `start` (even
//! started with `--port 0`, as the README does), a service whose chain moved says so and exits
//! with the fix, and a restarted scheduler leaves one open workerpool order on the market.

use std::{
    io::Read,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;

use poco_testkit::cli::Service;

use crate::{deploy_pool, start_market, start_scheduler, text, Poco};

/// A port nobody listens on (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[test]
fn devnet_keeps_its_url_and_services_say_when_it_moves() {
    let poco = Poco::new(crate::POCO);
    let first = poco.json(&["devnet", "start", "--port", "0"]);
    let url = text(&first, "rpcUrl");
    // Its log goes to a file (a pipe nobody reads could fill up and stall it).
    let log_path = poco.project().join("market.log");
    let log = std::fs::File::create(&log_path).expect("create the log");
    let (mut market, market_url, mut market_out) = start_market(&poco, Stdio::from(log));

    // Stopped and started again as the README does: the same URL, the same deployment.
    poco.json(&["devnet", "stop"]);
    let again = poco.json(&["devnet", "start", "--port", "0"]);
    assert_eq!(text(&again, "rpcUrl"), url);
    assert_eq!(again["resumed"], true, "{again}");
    assert_eq!(again["hub"], first["hub"]);
    // And without --port.
    poco.json(&["devnet", "stop"]);
    assert_eq!(text(&poco.json(&["devnet", "start"]), "rpcUrl"), url);
    // The market started before it still runs and reads the chain.
    assert!(
        market.0.try_wait().expect("market status").is_none(),
        "the market exited"
    );
    let version: Value = reqwest::blocking::get(format!("{market_url}/version"))
        .and_then(|r| r.json())
        .expect("the market answers");
    assert_eq!(
        version["hub"].as_str().map(str::to_lowercase),
        first["hub"].as_str().map(str::to_lowercase)
    );

    // While the chain is down, the market says so, naming the URL.
    poco.json(&["devnet", "stop"]);
    let outage = format!("the chain at {url} does not answer");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains(&outage)
    {
        assert!(
            Instant::now() < deadline,
            "the market never said {outage:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The port taken by another process while the devnet is stopped: a clear refusal.
    let squatter =
        std::net::TcpListener::bind(("127.0.0.1", port_of(&url))).expect("take the port");
    let error = poco.error(&["devnet", "start", "--port", "0"]);
    assert!(
        error.contains(&format!("port {} of the devnet", port_of(&url)))
            && error.contains("is taken by another process")
            && error.contains("--port N"),
        "{error}"
    );

    // Moved to another port on purpose: the running market says so and exits with the fix,
    // instead of retrying the old URL forever.
    let other = free_port();
    let moved = poco.json(&["devnet", "start", "--port", &other.to_string()]);
    let moved_url = text(&moved, "rpcUrl");
    assert_eq!(port_of(&moved_url), other);
    drop(squatter);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = market.0.try_wait().expect("market status") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the market still runs on the old URL"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!status.success(), "the market exited with success");
    let stderr = std::fs::read_to_string(&log_path).expect("read the log");
    let mut stdout = String::new();
    market_out.read_to_string(&mut stdout).expect("read stdout");
    let end: Value = serde_json::from_str(stdout.trim()).expect("the JSON error");
    assert_eq!(end["ok"], false, "{stdout}");
    assert!(
        stderr.contains(&format!("is now {moved_url}"))
            && stderr.contains(&format!("started on {url}"))
            && stderr.contains("restart `poco market`"),
        "{stderr}"
    );
    // The new port is kept from now on.
    poco.json(&["devnet", "stop"]);
    assert_eq!(text(&poco.json(&["devnet", "start"]), "rpcUrl"), moved_url);
}

#[test]
fn a_devnet_whose_sms_cannot_start_leaves_nothing_running() {
    let poco = Poco::new(crate::POCO);
    // The SMS's key file is a folder: `poco sms` exits at start, after anvil and the deployment.
    let key = poco.home().join("sms").join("sms.key");
    std::fs::create_dir_all(&key).expect("create the folder");
    let error = poco.error(&["devnet", "start", "--port", "0"]);
    assert!(
        error.contains("the devnet did not start, and what it had started was stopped")
            && error.contains("the devnet's SMS exited"),
        "{error}"
    );
    assert_eq!(poco.json(&["devnet", "status"])["running"], false);
    // anvil is gone: its port is free.
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(poco.home().join("devnet").join("port.json"))
            .expect("the port anvil listened on"),
    )
    .expect("port.json");
    let port = saved["port"].as_u64().expect("a port") as u16;
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("anvil still holds its port");

    // Once the cause is fixed, the next start works (and resumes the saved deployment).
    std::fs::remove_dir(&key).expect("remove the folder");
    let started = poco.json(&["devnet", "start"]);
    assert_eq!(started["started"], true, "{started}");
    assert!(started["sms"].is_string(), "{started}");
    poco.json(&["devnet", "stop"]);
}

/// The open workerpool orders of `pool` on the market.
fn open_pool_orders(market: &str, pool: &str) -> Vec<Value> {
    let url =
        format!("{market}/workerpoolorders?workerpool={pool}&app=any&dataset=any&requester=any");
    let answer: Value = reqwest::blocking::get(url)
        .and_then(|r| r.json())
        .expect("the market answers");
    answer["orders"].as_array().cloned().unwrap_or_default()
}

fn scheduler_log(poco: &Poco) -> String {
    std::fs::read_to_string(poco.project().join("scheduler.log")).unwrap_or_default()
}

fn run_scheduler(poco: &Poco, market: &str, price: &str) -> Service {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(poco.project().join("scheduler.log"))
        .expect("the scheduler's log");
    let extra = [
        "--publish-price",
        price,
        // 30 % of 10 tasks at 0.2 RLC is within the 10 RLC of stake.
        "--publish-volume",
        "10",
        "--market",
        market,
    ];
    // The start line comes once the order is on the market.
    start_scheduler(poco, &extra, Stdio::from(log)).0
}

#[test]
fn a_restarted_scheduler_leaves_one_open_workerpool_order() {
    let poco = Poco::new(crate::POCO);
    poco.json(&["devnet", "start", "--port", "0"]);
    let (_market, market_url, _market_out) = start_market(&poco, Stdio::null());
    poco.json(&["account", "deposit", "10 RLC", "--account", "scheduler"]);
    let pool = text(&deploy_pool(&poco), "address");

    let mut hashes = Vec::new();
    for _ in 0..4 {
        // Started, then killed without a chance to clean up.
        drop(run_scheduler(&poco, &market_url, "0.1 RLC"));
        let open = open_pool_orders(&market_url, &pool);
        assert_eq!(open.len(), 1, "{open:?}\n{}", scheduler_log(&poco));
        hashes.push(text(&open[0], "orderHash"));
    }
    hashes.dedup();
    assert_eq!(hashes.len(), 1, "the order was not reused: {hashes:?}");

    // Restarted with another price: the new offer replaces the earlier one.
    let _scheduler = run_scheduler(&poco, &market_url, "0.2 RLC");
    let open = open_pool_orders(&market_url, &pool);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["order"]["workerpoolprice"], "200000000", "{open:?}");
    assert!(open[0]["workerpoolApi"].is_string(), "{open:?}");
}
