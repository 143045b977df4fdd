//! The `poco` binary: the whole flow against a real devnet with `--json`, and snapshots of the
//! help texts and of the error messages.

mod deals;
mod flow;
mod market;
mod restarts;
mod run;
mod sdk;
mod sms;
mod snapshots;
mod worker;
mod workers;

use std::{
    io::BufReader,
    process::{ChildStdout, Stdio},
};

use poco_testkit::cli::{Home, Service};
use serde_json::Value;

/// The binary under test.
const POCO: &str = env!("CARGO_BIN_EXE_poco");

/// The hello app (WASI), built in the repository.
const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps/hello/hello.wasm");

/// A `poco` home and a project folder of its own (the kit's); stops its devnet when dropped.
type Poco = Home;

/// `value[key]` as a string.
fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_string()
}

/// The address of one of the devnet's named accounts (`devnet start` lists them).
fn address(devnet: &Value, name: &str) -> String {
    devnet["accounts"]
        .as_array()
        .and_then(|accounts| accounts.iter().find(|a| a["name"] == name))
        .and_then(|a| a["address"].as_str())
        .unwrap_or_else(|| panic!("no account {name} in {devnet}"))
        .to_string()
}

/// Starts a devnet and deposits 10 RLC for each of `accounts`; returns `devnet start`'s record.
fn funded_devnet(poco: &Poco, accounts: &[&str]) -> Value {
    let devnet = poco.json(&["devnet", "start", "--port", "0"]);
    for account in accounts {
        poco.json(&["account", "deposit", "10 RLC", "--account", account]);
    }
    devnet
}

/// Deploys a workerpool owned by the devnet's `scheduler` account.
fn deploy_pool(poco: &Poco) -> Value {
    poco.json(&[
        "workerpool",
        "deploy",
        "--description",
        "pool",
        "--account",
        "scheduler",
    ])
}

/// Deploys the hello app as `account`; returns `poco app deploy`'s record.
fn deploy_hello(poco: &Poco, account: &str) -> Value {
    poco.json(&[
        "app",
        "deploy",
        "--name",
        "hello",
        "--file",
        HELLO,
        "--account",
        account,
    ])
}

/// Whether every task of a `poco deal show` record has `status`.
fn all_tasks(deal: &Value, status: &str) -> bool {
    deal["tasks"]
        .as_array()
        .expect("the deal's tasks")
        .iter()
        .all(|t| t["status"] == status)
}

/// Starts `poco --json <args>` in the background: the service, its start record and the rest
/// of its stdout.
fn start_service(
    poco: &Poco,
    args: &[&str],
    stderr: Stdio,
) -> (Service, Value, BufReader<ChildStdout>) {
    poco.start_service(args, stderr)
}

/// `poco --json scheduler` of the devnet's `scheduler` account on a free port, polling every
/// 100 ms, with `extra` arguments: the service and its API URL.
fn start_scheduler(poco: &Poco, extra: &[&str], stderr: Stdio) -> (Service, String) {
    let mut args = vec![
        "scheduler",
        "--account",
        "scheduler",
        "--listen",
        "127.0.0.1:0",
        "--poll-interval-ms",
        "100",
    ];
    args.extend_from_slice(extra);
    let (service, started, _) = start_service(poco, &args, stderr);
    (service, text(&started, "scheduler"))
}

/// `poco --json worker` of the devnet's `worker1` account, one slot, for the scheduler at `api`
/// (not started).
fn worker1_command(poco: &Poco, api: &str) -> std::process::Command {
    let mut command = poco.command(&[
        "--json",
        "worker",
        "--account",
        "worker1",
        "--scheduler",
        api,
        "--slots",
        "1",
    ]);
    command.stdout(Stdio::null());
    command
}

/// [`worker1_command`], started, fetching from file:// URLs (`poco run` registers the app at
/// one on the devnet).
fn start_worker(poco: &Poco, api: &str) -> Service {
    let worker = worker1_command(poco, api)
        .arg("--allow-local-fetch")
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker");
    Service(worker)
}

/// `poco --json market` on a free port, polling every 100 ms: the service, its URL and the
/// rest of its stdout.
fn start_market(poco: &Poco, stderr: Stdio) -> (Service, String, BufReader<ChildStdout>) {
    let args = [
        "market",
        "--listen",
        "127.0.0.1:0",
        "--poll-interval-ms",
        "100",
    ];
    let (service, started, stdout) = start_service(poco, &args, stderr);
    (service, text(&started, "market"), stdout)
}

/// A devnet whose `requester`, `scheduler` and `worker1` have 10 RLC deposited, with a
/// workerpool whose scheduler runs (publishing offers at 0.1 RLC), and a worker or not yet.
struct DevPool {
    // The services stop before the devnet does.
    _worker: Option<Service>,
    _scheduler: Service,
    poco: Poco,
    devnet: Value,
    /// The scheduler's API URL.
    api: String,
}

impl DevPool {
    /// The pool with no worker yet (see [`DevPool::worker`]).
    fn start() -> Self {
        let poco = Poco::new(POCO);
        let devnet = funded_devnet(&poco, &["requester", "scheduler", "worker1"]);
        deploy_pool(&poco);
        let (scheduler, api) =
            start_scheduler(&poco, &["--publish-price", "0.1 RLC"], Stdio::null());
        Self {
            _worker: None,
            _scheduler: scheduler,
            poco,
            devnet,
            api,
        }
    }

    /// The pool with a worker of `worker1`.
    fn with_worker() -> Self {
        let mut pool = Self::start();
        pool._worker = Some(pool.worker());
        pool
    }

    /// The address of one of the devnet's named accounts.
    fn address(&self, name: &str) -> String {
        address(&self.devnet, name)
    }

    /// A worker of `worker1` for this pool.
    fn worker(&self) -> Service {
        start_worker(&self.poco, &self.api)
    }
}
