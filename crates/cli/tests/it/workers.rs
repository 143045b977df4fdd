//! `poco scheduler workers add|remove|list|exclude|readmit`, and a closed pool's gate seen by
//! `poco worker`, and `poco scheduler --tag` refused without an SMS.

use std::{
    io::Read,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::*;

const HONEST: &str = "0x1111111111111111111111111111111111111111";
const OTHER: &str = "0x2222222222222222222222222222222222222222";

/// `poco --json scheduler workers <args> --database <url>`.
fn workers(poco: &Poco, url: &str, args: &[&str]) -> Value {
    let mut all = vec!["scheduler", "workers"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--database", url]);
    poco.json(&all)
}

/// The record of `address` in `poco scheduler workers list`.
fn listed(list: &Value, address: &str) -> Value {
    list["workers"]
        .as_array()
        .expect("a list of workers")
        .iter()
        .find(|w| text(w, "address").eq_ignore_ascii_case(address))
        .cloned()
        .unwrap_or_else(|| panic!("{address} is not listed in {list}"))
}

#[test]
fn the_operator_manages_the_allowlist_marks_and_exclusions() {
    let poco = Poco::new(crate::POCO);
    let url = format!(
        "sqlite://{}?mode=rwc",
        poco.project().join("pool.db").display()
    );
    assert_eq!(
        workers(&poco, &url, &["list"])["workers"],
        serde_json::json!([])
    );

    let added = workers(&poco, &url, &["add", HONEST, "--trusted", "--slots", "2"]);
    let added = &added["added"];
    assert_eq!(
        (&added["allowed"], &added["trusted"], &added["slots"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::from(2))
    );
    assert!(added["admitted_at"].as_i64().is_some_and(|t| t > 0));
    workers(&poco, &url, &["add", OTHER]);
    let list = workers(&poco, &url, &["list"]);
    assert_eq!(list["workers"].as_array().map(Vec::len), Some(2));
    let other = listed(&list, OTHER);
    assert_eq!(
        (&other["trusted"], &other["slots"], &other["excluded"]),
        (&Value::Bool(false), &Value::Null, &Value::Null)
    );

    // Exclusion by hand, then only readmit lifts it.
    let nothing = poco.error(&["scheduler", "workers", "readmit", OTHER, "--database", &url]);
    assert!(nothing.contains("is not excluded"), "{nothing}");
    workers(
        &poco,
        &url,
        &["exclude", OTHER, "--reason", "copied results"],
    );
    let again = poco.error(&[
        "scheduler",
        "workers",
        "exclude",
        OTHER,
        "--reason",
        "x",
        "--database",
        &url,
    ]);
    assert!(again.contains("excluded already"), "{again}");
    let excluded = listed(&workers(&poco, &url, &["list"]), OTHER);
    assert!(
        text(&excluded["excluded"], "reason").contains("copied results"),
        "{excluded}"
    );
    assert_eq!(
        workers(&poco, &url, &["readmit", OTHER])["readmitted"]
            .as_str()
            .map(str::to_lowercase),
        Some(OTHER.to_string())
    );
    assert_eq!(
        listed(&workers(&poco, &url, &["list"]), OTHER)["excluded"],
        Value::Null
    );

    // Off the allowlist: the record stays, unmarked.
    workers(&poco, &url, &["remove", HONEST]);
    let removed = listed(&workers(&poco, &url, &["list"]), HONEST);
    assert_eq!(
        (&removed["allowed"], &removed["trusted"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    let twice = poco.error(&["scheduler", "workers", "remove", HONEST, "--database", &url]);
    assert!(twice.contains("not on this pool's allowlist"), "{twice}");

    // Refused before anything is written.
    for bad in [
        vec!["scheduler", "workers", "add", "0x12", "--database", &url],
        vec![
            "scheduler",
            "workers",
            "add",
            HONEST,
            "--slots",
            "0",
            "--database",
            &url,
        ],
    ] {
        poco.error(&bad);
    }
}

/// Reads a child's stderr until it exits or `timeout` passes (then kills it).
fn stderr_until_exit(mut child: Child, timeout: Duration) -> (Option<bool>, String) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the worker") {
            break Some(status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    (status, without_colors(&text))
}

/// `text` without its ANSI color sequences (the logs are colored).
fn without_colors(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `poco --json worker` of `worker1` for `api`, its stderr piped.
fn worker1(poco: &Poco, api: &str) -> Child {
    crate::worker1_command(poco, api)
        .env("POCO_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker")
}

/// A closed pool refuses a worker off its allowlist with the fix; once the operator adds it
/// (the same database `poco scheduler` resolves), the worker signs in and is told its
/// standing: the pool's mode, its mark, its score and weight in the hub.
#[test]
fn a_closed_pool_admits_its_allowlist_only() {
    let poco = Poco::new(crate::POCO);
    let devnet = funded_devnet(&poco, &["scheduler", "worker1"]);
    deploy_pool(&poco);
    let (_scheduler, api) = start_scheduler(&poco, &["--admission", "closed"], Stdio::null());
    let (status, stderr) = stderr_until_exit(worker1(&poco, &api), Duration::from_secs(60));
    assert_eq!(status, Some(false), "the worker should stop: {stderr}");
    let worker = address(&devnet, "worker1");
    assert!(
        stderr.contains("not on this pool's allowlist") && stderr.contains("workers add"),
        "{stderr}"
    );

    let added = poco.json(&["scheduler", "workers", "add", &worker, "--trusted"]);
    assert_eq!(added["added"]["trusted"], Value::Bool(true));
    let (status, stderr) = stderr_until_exit(worker1(&poco, &api), Duration::from_secs(10));
    assert_eq!(status, None, "the worker should keep running: {stderr}");
    let signed_in = stderr
        .lines()
        .find(|l| l.contains("worker signed in"))
        .unwrap_or_else(|| panic!("no sign-in line in {stderr}"));
    for part in ["score=0", "weight=2", "trusted=true", "admission=closed"] {
        assert!(signed_in.contains(part), "{part} missing in {signed_in}");
    }
    let record = listed(&poco.json(&["scheduler", "workers", "list"]), &worker);
    assert_eq!(record["ip_prefix"], Value::from("127.0.0.0/24"), "{record}");
    assert!(record["first_seen"].as_i64().is_some(), "{record}");
}

/// A scheduler offering TEE without an SMS refuses to start, naming both fixes; a bad tag is
/// refused by the flag's parser.
#[test]
fn a_tee_scheduler_without_an_sms_refuses_to_start() {
    let poco = Poco::new(crate::POCO);
    let err = poco.error(&["scheduler", "--tag", "tee,tdx", "--publish-price", "1 RLC"]);
    assert!(
        err.contains("offers TEE") && err.contains("--sms") && err.contains("drop tee"),
        "{err}"
    );
    let err = poco.error(&["scheduler", "--tag", "teee"]);
    assert!(err.contains("teee"), "{err}");
}
