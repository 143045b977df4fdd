//! The issue's flow through the binary: devnet, wallets, deposit, assets, four orders, fill,
//! deal and tasks, claim after the deadline, withdraw, and a devnet restart that keeps state.

use serde_json::{json, Value};

use crate::{address, all_tasks, deploy_hello, deploy_pool, text, DevPool, Poco, HELLO};

const RLC: u64 = 1_000_000_000;

#[test]
fn whole_flow_through_the_binary() {
    let poco = Poco::new(crate::POCO);
    let started = poco.json(&["devnet", "start", "--port", "0"]);
    assert_eq!(started["started"], true);
    assert_eq!(started["resumed"], false);
    assert_eq!(started["chainId"], 31337);
    let info = poco.json(&["info"]);
    assert_eq!(info["chain"], "devnet");
    assert_eq!(info["hub"], started["hub"]);
    assert_eq!(info["categories"], "5");
    assert_eq!(info["owner"], address(&started, "admin"));

    // A new wallet, funded by the devnet's admin.
    let password = poco.write("password.txt", "correct horse\n");
    let keystore = poco.home().join("keystore");
    let wallet_args = [
        "--keystoredir",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
    ];
    let with_wallet = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&wallet_args);
        poco.json(&all)
    };
    let created = with_wallet(&["wallet", "create"]);
    let me = text(&created, "address");
    assert!(std::path::Path::new(&text(&created, "file")).is_file());
    let sent = poco.json(&[
        "wallet",
        "send-rlc",
        "100",
        "RLC",
        "--to",
        &me,
        "--account",
        "admin",
    ]);
    assert_eq!(sent["amount"], (100 * RLC).to_string());
    poco.json(&[
        "wallet",
        "send-ether",
        "1.5",
        "--to",
        &me,
        "--account",
        "admin",
    ]);
    let shown = with_wallet(&["wallet", "show"]);
    assert_eq!(shown["address"], me.as_str());
    assert_eq!(shown["eth"], "1.5");
    assert_eq!(shown["walletRlc"], (100 * RLC).to_string());

    let deposit = with_wallet(&["account", "deposit", "40 RLC"]);
    assert_eq!(deposit["free"], (40 * RLC).to_string());
    poco.json(&["account", "deposit", "10RLC", "--account", "scheduler"]);

    // Assets, deployed by their owners.
    let app = deploy_hello(&poco, "app-owner");
    let expected_checksum = poco_types::sha256_digest(&std::fs::read(HELLO).unwrap());
    assert_eq!(app["checksum"], expected_checksum.to_string());
    let dataset = poco.json(&[
        "dataset",
        "deploy",
        "--name",
        "words",
        "--multiaddr",
        "https://example.org/words.txt",
        "--checksum",
        "0x0101010101010101010101010101010101010101010101010101010101010101",
        "--account",
        "dataset-owner",
    ]);
    let pool = deploy_pool(&poco);
    let shown = poco.json(&["app", "show", &text(&app, "address")]);
    assert_eq!(shown["owner"], address(&started, "app-owner"));
    assert_eq!(shown["type"], "WASM");
    let by_index = poco.json(&["app", "show", "0", "--account", "app-owner"]);
    assert_eq!(by_index["address"], app["address"]);
    assert_eq!(
        poco.json(&["app", "count", "--account", "app-owner"])["count"],
        "1"
    );
    assert_eq!(
        poco.json(&["dataset", "show"])["address"],
        dataset["address"]
    );
    let policy = poco.json(&[
        "workerpool",
        "set-policy",
        "--worker-stake-ratio",
        "20",
        "--scheduler-reward-ratio",
        "10",
        "--account",
        "scheduler",
    ]);
    assert_eq!(policy["workerpool"], pool["address"]);
    assert_eq!(
        poco.json(&["workerpool", "show"])["schedulerRewardRatio"],
        "10"
    );

    // Four orders: templates, prices, signatures.
    with_wallet(&["order", "init"]);
    let mut iexec: Value =
        serde_json::from_str(&std::fs::read_to_string(poco.project().join("iexec.json")).unwrap())
            .unwrap();
    let order = &mut iexec["order"];
    assert_eq!(order["apporder"]["app"], app["address"]);
    assert_eq!(order["requestorder"]["requester"], me.as_str());
    order["apporder"]["appprice"] = json!(RLC.to_string());
    order["datasetorder"]["datasetprice"] = json!((RLC / 2).to_string());
    order["workerpoolorder"]["workerpoolprice"] = json!((2 * RLC).to_string());
    order["requestorder"]["dataset"] = dataset["address"].clone();
    order["requestorder"]["appmaxprice"] = json!(RLC.to_string());
    order["requestorder"]["datasetmaxprice"] = json!((RLC / 2).to_string());
    order["requestorder"]["workerpoolmaxprice"] = json!((2 * RLC).to_string());
    order["requestorder"]["volume"] = json!("2");
    order["requestorder"]["params"] = json!({ "iexec_args": "hello poco" });
    poco.write("iexec.json", &serde_json::to_string_pretty(&iexec).unwrap());
    poco.json(&["order", "sign", "--app", "--account", "app-owner"]);
    poco.json(&["order", "sign", "--dataset", "--account", "dataset-owner"]);
    poco.json(&["order", "sign", "--workerpool", "--account", "scheduler"]);
    let signed = with_wallet(&["order", "sign", "--request"]);
    let request_hash = text(&signed["requestorder"], "orderHash");
    let orders = poco.json(&["order", "show"]);
    assert_eq!(orders["orders"].as_array().unwrap().len(), 4);
    assert!(orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["status"] == "open"));

    // Not enough free RLC: the revert is decoded and says how to fix it.
    with_wallet(&["account", "withdraw", "38 RLC"]);
    let err = poco.error(&[
        "order",
        "fill",
        "--keystoredir",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(
        err,
        format!(
            "error: matchOrders refused: account {me} has 2 RLC free in its poco account but 7 RLC \
             is needed; deposit at least 5 RLC more with `poco account deposit \"5 RLC\"`\n"
        )
    );
    with_wallet(&["account", "deposit", "38000000000"]);

    let deal = with_wallet(&["order", "fill"]);
    let dealid = text(&deal, "dealid");
    assert_eq!(deal["volume"], "2");
    let tasks = deal["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for (i, task) in tasks.iter().enumerate() {
        let expected = poco_types::task_id(dealid.parse().unwrap(), alloy_u256(i as u64));
        assert_eq!(task["taskid"], expected.to_string());
    }
    let request_row = poco.json(&["order", "show", "--request"]);
    assert_eq!(request_row["orders"][0]["orderHash"], request_hash.as_str());
    assert_eq!(request_row["orders"][0]["remaining"], "0");
    assert_eq!(request_row["orders"][0]["status"], "closed");

    // The deal and its tasks; the requester's money is locked.
    let shown = poco.json(&["deal", "show", &dealid]);
    assert_eq!(shown["requester"], me.as_str());
    assert_eq!(shown["params"], r#"{"iexec_args":"hello poco"}"#);
    assert_eq!(shown["workerpoolPrice"], (2 * RLC).to_string());
    assert!(all_tasks(&shown, "UNSET"), "{shown}");
    let cost = 2 * (RLC + RLC / 2 + 2 * RLC);
    let account = with_wallet(&["account", "show"]);
    assert_eq!(account["locked"], cost.to_string());
    assert_eq!(account["free"], (40 * RLC - cost).to_string());
    let err = poco.error(&["task", "show", &text(&tasks[0], "taskid")]);
    assert!(err.contains("is not initialized"), "{err}");

    // Too early to claim; after the final deadline, the claim refunds everything.
    let err = poco.error(&["deal", "claim", &dealid, "--account", "requester"]);
    assert!(err.contains("nothing to claim"), "{err}");
    poco.json(&["devnet", "advance-time", "3001"]);
    // Past the final deadline, watching returns at once.
    let watched = poco.json(&["deal", "show", &dealid, "--watch"]);
    assert!(all_tasks(&watched, "UNSET"), "{watched}");
    let claimed = with_wallet(&["deal", "claim", &dealid]);
    assert_eq!(claimed["claimed"].as_array().unwrap().len(), 2);
    let shown = poco.json(&["deal", "show", &dealid]);
    assert!(all_tasks(&shown, "FAILED"), "{shown}");
    let task = poco.json(&["task", "show", &text(&tasks[1], "taskid")]);
    assert_eq!(task["status"], "FAILED");
    assert_eq!(task["dealid"], dealid.as_str());
    let account = with_wallet(&["account", "show"]);
    assert_eq!(account["locked"], "0");
    assert_eq!(account["free"], (40 * RLC).to_string());

    let withdrawn = with_wallet(&["account", "withdraw", "40", "RLC"]);
    assert_eq!(withdrawn["free"], "0");
    assert_eq!(
        with_wallet(&["wallet", "show"])["walletRlc"],
        (100 * RLC).to_string()
    );

    // Cancelling: the app order can no longer be used.
    poco.json(&["order", "cancel", "--app", "--account", "app-owner"]);
    assert_eq!(
        poco.json(&["order", "show", "--app"])["orders"][0]["status"],
        "closed"
    );

    // Stop and start again: the chain resumes from its saved state.
    let stopped = poco.json(&["devnet", "stop"]);
    assert_eq!(stopped["stopped"], true);
    assert_eq!(poco.json(&["devnet", "status"])["running"], false);
    let resumed = poco.json(&["devnet", "start", "--port", "0"]);
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["hub"], started["hub"]);
    assert_eq!(
        poco.json(&["app", "count", "--account", "app-owner"])["count"],
        "1"
    );
    assert_eq!(poco.json(&["deal", "show", &dealid])["volume"], "2");
    let status = poco.json(&["devnet", "status"]);
    assert_eq!(status["running"], true);
    poco.json(&["devnet", "stop"]);
}

fn alloy_u256(n: u64) -> alloy::primitives::U256 {
    alloy::primitives::U256::from(n)
}

#[test]
fn poco_run_with_a_scheduler_and_a_worker() {
    let pool = DevPool::with_worker();
    let poco = &pool.poco;

    let run = poco.json(&[
        "run",
        HELLO,
        "--args",
        "from the binary",
        "--account",
        "requester",
    ]);
    assert_eq!(run["fast"], true);
    let result = &run["results"][0];
    assert_eq!(result["status"], "COMPLETED", "{run}");
    let folder = poco.project().join(text(result, "folder"));
    let output = std::fs::read_to_string(folder.join("result.txt")).expect("result.txt");
    assert!(output.contains("from the binary"), "{output}");

    // Any task's result can be fetched again and checked, by its requester (signed in).
    let taskid = text(result, "taskid");
    let dealid = text(&run, "dealid");
    let shown = poco.json(&[
        "task",
        "show",
        &taskid,
        "--deal",
        &dealid,
        "--download",
        "again",
        "--account",
        "requester",
    ]);
    assert_eq!(shown["status"], "COMPLETED");
    assert_eq!(shown["resultDigest"], result["resultDigest"]);
    let again = std::fs::read_to_string(poco.project().join("again/result.txt")).unwrap();
    assert_eq!(again, output);

    // Not enough money: refused before anything is sent, with the fix.
    let err = poco.error(&["run", HELLO, "--volume", "500", "--account", "requester"]);
    assert!(err.contains("poco account deposit"), "{err}");

    // M1: a request for encrypted results outside a TEE deal is refused before any
    // transaction (only an enclave gets the beneficiary's key from the SMS).
    let err = poco.error(&[
        "run",
        HELLO,
        "--params",
        r#"{"iexec_result_encryption":true}"#,
        "--account",
        "requester",
    ]);
    assert!(
        err.contains("result encryption are for TEE runs") && err.contains("--tag tee"),
        "{err}"
    );
}
