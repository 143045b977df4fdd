//! The official iExec SDK's command line (`iexec` 9.0.1 from node_modules, pinned in the root
//! package.json) against a poco devnet: `iexec orderbook workerpool --tag tee,tdx` finds the
//! order a TEE pool's scheduler published on the poco market, and `iexec app run --tag tee,tdx
//! --watch` matches it (the SDK's own request order and `matchOrders`) and follows the task a
//! poco TEE worker (development attestation) completes.
//!
//! The SDK reads a chain.json of its own format (it refuses unknown keys such as poco's
//! `accounts`), so the test writes one for it in the SDK's working folder, naming the devnet's
//! RPC, hub, SMS and market (`iexecGateway`).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::{json, Value};

use super::{address, deploy_pool, start_market, start_scheduler, text, Poco};

/// The SDK's command, installed by `npm ci` at the repository root.
fn iexec_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/iexec");
    assert!(
        bin.exists(),
        "the iExec SDK is not installed: run `npm ci` at the repository root"
    );
    bin
}

/// Runs `iexec <args> --raw` in `dir`; its JSON answer (`ok` true or false).
fn iexec(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(iexec_bin())
        .args(args)
        .arg("--raw")
        .current_dir(dir)
        // no update check, no telemetry, no colours
        .env("NO_UPDATE_NOTIFIER", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("node runs the iexec command");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "iexec {args:?} printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The devnet's named account `name`'s private key, from poco's chain.json.
fn private_key(chain_config: &str, name: &str) -> String {
    let chains: Value =
        serde_json::from_str(&std::fs::read_to_string(chain_config).unwrap()).unwrap();
    chains["chains"]["devnet"]["accounts"][name]["privateKey"]
        .as_str()
        .unwrap_or_else(|| panic!("no private key of {name} in {chains}"))
        .to_owned()
}

#[test]
fn the_official_sdk_runs_a_tee_task_on_a_poco_pool() {
    let poco = Poco::new(crate::POCO);
    // the devnet's SMS accepts the development attestation
    let devnet = poco.json(&["devnet", "start", "--port", "0"]);
    // the market wants 30 % of the pool order's price × volume staked (0.1 RLC × 1000 tasks)
    for (account, amount) in [
        ("requester", "10 RLC"),
        ("scheduler", "100 RLC"),
        ("worker1", "10 RLC"),
        ("worker2", "10 RLC"),
    ] {
        poco.json(&["account", "deposit", amount, "--account", account]);
    }
    let sms = text(&devnet, "sms");
    let (_market, market, _) = start_market(&poco, Stdio::null());
    let pool = text(&deploy_pool(&poco), "address");
    let (_scheduler, api) = start_scheduler(
        &poco,
        &[
            "--publish-price",
            "0.1 RLC",
            "--market",
            &market,
            "--tag",
            "tee,tdx",
            "--sms",
            &sms,
        ],
        Stdio::null(),
    );
    // one TEE worker (development attestation) and one standard worker, which must not get
    // the TEE task
    let worker = |account: &str, tee: bool| {
        let mut args = vec![
            "worker",
            "--account",
            account,
            "--scheduler",
            &api,
            "--slots",
            "1",
            "--allow-local-fetch",
        ];
        if tee {
            args.extend(["--tee", "dev"]);
        }
        let mut command = poco.command(&[&["--json"], args.as_slice()].concat());
        command.stdout(Stdio::null()).stderr(Stdio::null());
        poco_testkit::cli::Service(command.spawn().expect("start a worker"))
    };
    let _tee_worker = worker("worker1", true);
    let _standard_worker = worker("worker2", false);

    // the app: hello, registered by the requester (the SDK then signs its app order itself)
    let app = text(
        &poco.json(&[
            "app",
            "deploy",
            "--name",
            "hello",
            "--file",
            crate::HELLO,
            "--account",
            "requester",
        ]),
        "address",
    );

    // the SDK's folder: its own chain.json, and the requester's key in its keystore format
    let sdk = tempfile::tempdir().unwrap();
    let chain_config = text(&devnet, "chainConfig");
    let sdk_chain = json!({
        "default": "poco",
        "chains": {
            "poco": {
                "id": devnet["chainId"].to_string(),
                "host": text(&devnet, "rpcUrl"),
                "hub": text(&devnet, "hub"),
                "sms": sms,
                "iexecGateway": market,
            }
        }
    });
    std::fs::write(sdk.path().join("chain.json"), sdk_chain.to_string()).unwrap();
    let keystore = sdk.path().join("keystore");
    let imported = iexec(
        sdk.path(),
        &[
            "wallet",
            "import",
            &private_key(&chain_config, "requester"),
            "--password",
            "sdk test",
            "--keystoredir",
            keystore.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(imported["ok"], true, "{imported}");
    let requester = address(&devnet, "requester");
    assert!(
        imported["address"]
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case(&requester)),
        "{imported}"
    );
    let wallet_file = text(&imported, "fileName");
    let wallet_args = [
        "--keystoredir",
        keystore.to_str().unwrap(),
        "--wallet-file",
        Path::new(&wallet_file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap(),
        "--password",
        "sdk test",
    ];

    // the SDK finds the TEE pool's order on the poco market
    let book = iexec(
        sdk.path(),
        &["orderbook", "workerpool", &pool, "--tag", "tee,tdx"],
    );
    assert_eq!(book["ok"], true, "{book}");
    assert_eq!(
        book["count"], 1,
        "the scheduler's order, published before it served: {book}"
    );
    let orders = book["workerpoolOrders"]
        .as_array()
        .unwrap_or_else(|| panic!("no workerpoolOrders in {book}"));
    assert!(!orders.is_empty(), "{book}");
    let tag = &orders[0]["tag"];
    assert_eq!(
        tag,
        &json!(format!("0x{}09", "0".repeat(62))),
        "the pool offers tee and tdx: {book}"
    );

    // `iexec app run`: the SDK's request order, matched with the pool's order, followed to
    // completion
    let mut run = vec![
        "app",
        "run",
        &app,
        "--workerpool",
        &pool,
        "--tag",
        "tee,tdx",
        "--args",
        "from the iExec SDK",
        "--watch",
        "--force",
    ];
    run.extend_from_slice(&wallet_args);
    let ran = iexec(sdk.path(), &run);
    assert_eq!(ran["ok"], true, "{ran}");
    let deals = ran["deals"].as_array().expect("the deal");
    assert_eq!(deals.len(), 1, "{ran}");
    let tasks = ran["tasks"].as_array().expect("the tasks");
    assert_eq!(tasks.len(), 1, "{ran}");
    assert_eq!(tasks[0]["status"], 3, "the task completed: {ran}");
    assert!(ran.get("failedTasks").is_none(), "{ran}");

    // on chain: a TEE-tagged deal, completed by the TEE worker
    let dealid = text(&deals[0], "dealid");
    let deal = poco.json(&["deal", "show", &dealid]);
    assert_eq!(
        deal["tag"],
        json!(format!("0x{}09", "0".repeat(62))),
        "{deal}"
    );
    let taskid = text(&tasks[0], "taskid");
    let task = poco.json(&["task", "show", &taskid, "--deal", &dealid]);
    assert_eq!(task["status"], "COMPLETED", "{task}");
    let worker1 = address(&devnet, "worker1");
    let contributors = task.to_string().to_lowercase();
    assert!(contributors.contains(&worker1.to_lowercase()), "{task}");
    assert!(
        !contributors.contains(&address(&devnet, "worker2").to_lowercase()),
        "the standard worker never gets a TEE task: {task}"
    );
}
