//! Fast deals (trust 1, the default) through `deal show`, `task show`, `task claim` and
//! `deal claim`: a failed fast task's money comes back, the pool's reason and the replicates'
//! logs are shown to the requester, and a claim before the deadline says when, and how to move
//! a devnet's clock.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{all_tasks, text, DevPool, Poco};

/// `poco task show` until the pool gave the task up (bounded).
fn wait_given_up(poco: &Poco, taskid: &str) -> Value {
    let started = Instant::now();
    loop {
        // A classic task is unknown to `task show` without `--deal` until the pool
        // initialized it.
        let out = poco.output(&["--json", "task", "show", taskid]);
        let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if out.status.success() && shown["poolStatus"] == "FAILED" {
            return shown;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pool did not give task {taskid} up: {shown}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn account(poco: &Poco, address: &str) -> (u128, u128) {
    let shown = poco.json(&["account", "show", address]);
    let n = |key: &str| text(&shown, key).parse::<u128>().expect("an amount");
    (n("free"), n("locked"))
}

#[test]
fn failed_fast_tasks_are_shown_and_refunded() {
    let pool = DevPool::with_worker();
    let (poco, api) = (&pool.poco, &pool.api);
    let (requester, scheduler) = (pool.address("requester"), pool.address("scheduler"));
    let kitty = poco_types::KITTY_ADDRESS.to_string();
    let before = (
        account(poco, &requester),
        account(poco, &scheduler),
        account(poco, &kitty),
    );

    // wordcount without a dataset fails (the app's fault) on every task.
    let wasm = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../apps/wordcount/wordcount.wasm"
    );
    let run = poco.json(&[
        "run",
        wasm,
        "--volume",
        "2",
        "--no-watch",
        "--account",
        "requester",
    ]);
    assert_eq!(run["fast"], true);
    let dealid = text(&run, "dealid");
    let tasks: Vec<String> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tasks.len(), 2);

    // The deal is read from its match event; the money is locked meanwhile.
    let shown = poco.json(&["deal", "show", &dealid]);
    assert_eq!(shown["fast"], true, "{shown}");
    assert_eq!(shown["requester"], requester.as_str());
    assert_eq!(shown["volume"], "2");
    assert_eq!(shown["tasks"][1]["taskid"], tasks[1].as_str());
    assert!(all_tasks(&shown, "ACTIVE"), "{shown}");
    let price: u128 = text(&shown, "appPrice").parse::<u128>().unwrap()
        + text(&shown, "datasetPrice").parse::<u128>().unwrap()
        + text(&shown, "workerpoolPrice").parse::<u128>().unwrap();
    let stake = text(&shown, "workerpoolPrice").parse::<u128>().unwrap() * 30 / 100;
    assert_eq!(account(poco, &requester).1, before.0 .1 + 2 * price);
    assert_eq!(account(poco, &scheduler).1, before.1 .1 + 2 * stake);

    // The task, found without its deal id, and the pool's reason for giving it up.
    let given_up = wait_given_up(poco, &tasks[0]);
    assert_eq!(given_up["fast"], true);
    assert_eq!(given_up["dealid"], dealid.as_str());
    assert_eq!(given_up["status"], "ACTIVE", "{given_up}");
    assert!(
        given_up["failure"].as_str().is_some_and(|f| !f.is_empty()),
        "{given_up}"
    );
    wait_given_up(poco, &tasks[1]);

    // The full logs, for the requester only.
    let logs_args = [
        "task",
        "show",
        &tasks[0],
        "--logs",
        "--account",
        "requester",
    ];
    let logs = poco.json(&logs_args);
    assert_eq!(logs["logs"]["taskid"], tasks[0].as_str());
    let replicas = logs["logs"]["replicas"]
        .as_array()
        .expect("the replicates' logs");
    assert!(!replicas.is_empty(), "{logs}");
    assert!(
        logs["logs"].to_string().contains("no dataset"),
        "the app's stderr is in the logs: {logs}"
    );
    let text_logs = poco.output(&logs_args);
    assert!(text_logs.status.success());
    let printed = String::from_utf8_lossy(&text_logs.stdout);
    assert!(
        printed.contains("replicate 1") && printed.contains("no dataset"),
        "{printed}"
    );
    // The pool named by its URL, and the logs refused to an address that is not the deal's.
    let named = poco.json(&[
        "task",
        "show",
        &tasks[1],
        "--logs",
        "--scheduler",
        api,
        "--account",
        "requester",
    ]);
    assert!(named["logs"].to_string().contains("no dataset"), "{named}");
    let err = poco.error(&["task", "show", &tasks[0], "--logs", "--account", "worker2"]);
    assert!(
        err.contains("neither the requester nor the beneficiary"),
        "{err}"
    );

    // Too early: the claim says when, in words, and how to move the devnet's clock.
    let err = poco.error(&["deal", "claim", &dealid, "--account", "requester"]);
    assert!(err.contains("nothing to claim"), "{err}");
    assert!(err.contains(" UTC, in "), "{err}");
    let hint = "poco devnet advance-time ";
    let at = err.find(hint).unwrap_or_else(|| panic!("no hint: {err}"));
    let seconds: String = err[at + hint.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let seconds: u64 = seconds.parse().expect("seconds in the hint");
    assert!((1..=3000).contains(&seconds), "{err}");
    let err = poco.error(&["task", "claim", &tasks[0], "--account", "requester"]);
    assert!(err.contains("is not reached yet"), "{err}");
    assert!(err.contains(hint), "{err}");

    // Moved by the hint's seconds, the deadline is reached: one task claimed by itself, the
    // other by the deal's claim.
    poco.json(&["devnet", "advance-time", &seconds.to_string()]);
    let claimed = poco.json(&["task", "claim", &tasks[0], "--account", "requester"]);
    assert_eq!(claimed["taskid"], tasks[0].as_str());
    let claimed = poco.json(&["deal", "claim", &dealid, "--account", "requester"]);
    assert_eq!(claimed["claimed"], serde_json::json!([tasks[1]]));

    // The requester's price is back and the pool's stake is no longer locked (it went to the
    // kitty, as a classic claim's).
    assert_eq!(account(poco, &requester), before.0);
    let (pool_free, pool_locked) = account(poco, &scheduler);
    assert_eq!(pool_locked, before.1 .1);
    assert_eq!(pool_free, before.1 .0 - 2 * stake);
    assert_eq!(account(poco, &kitty).1, before.2 .1 + 2 * stake);

    let shown = poco.json(&["deal", "show", &dealid]);
    assert!(all_tasks(&shown, "FAILED"), "{shown}");
    let task = poco.json(&["task", "show", &tasks[1]]);
    assert_eq!(task["status"], "FAILED");
    assert_eq!(task["fast"], true);
    let err = poco.error(&["deal", "claim", &dealid, "--account", "requester"]);
    assert!(
        err.contains("every task is completed, failed or already claimed"),
        "{err}"
    );
    let err = poco.error(&[
        "task",
        "claim",
        &tasks[1],
        "--deal",
        &dealid,
        "--account",
        "requester",
    ]);
    assert!(err.contains("already"), "{err}");

    // A classic task the pool gave up is ACTIVE on chain: `task show` gives the pool's reason.
    let run = poco.json(&[
        "run",
        wasm,
        "--trust",
        "2",
        "--no-watch",
        "--account",
        "requester",
    ]);
    assert_eq!(run["fast"], false);
    let taskid = run["tasks"][0].as_str().unwrap().to_string();
    let given_up = wait_given_up(poco, &taskid);
    assert_eq!(given_up["fast"], false);
    assert_eq!(given_up["status"], "ACTIVE", "{given_up}");
    assert!(
        given_up["failure"].as_str().is_some_and(|f| !f.is_empty()),
        "{given_up}"
    );
    let logs = poco.json(&["task", "show", &taskid, "--logs", "--account", "requester"]);
    assert!(logs["logs"].to_string().contains("no dataset"), "{logs}");
}
