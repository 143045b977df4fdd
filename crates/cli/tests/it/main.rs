//! The `poco` binary: the whole flow against a real devnet with `--json`, and snapshots of the
//! help texts and of the error messages.

mod deals;
mod flow;
mod market;
mod restarts;
mod run;
mod sms;
mod snapshots;
mod worker;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Output, Stdio},
};

use serde_json::Value;
use tempfile::TempDir;

/// The hello app (WASI), built in the repository.
const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps/hello/hello.wasm");

/// Environment variables that would change what the binary does.
const CLEARED_ENV: &[&str] = &[
    "POCO_CHAIN",
    "POCO_RPC_URL",
    "POCO_HUB",
    "POCO_CHAIN_CONFIG",
    "POCO_ACCOUNT",
    "POCO_WALLET_PASSWORD",
    "POCO_PRIVATE_KEY",
    "POCO_LOG",
];

/// A `poco` home and a project folder of its own; stops its devnet when dropped.
struct Poco {
    home: TempDir,
    project: TempDir,
}

impl Poco {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp home"),
            project: tempfile::tempdir().expect("temp project"),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn project(&self) -> &Path {
        self.project.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_poco"));
        for var in CLEARED_ENV {
            command.env_remove(var);
        }
        command
            .env("POCO_HOME", self.home())
            .current_dir(self.project())
            .args(args);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run poco")
    }

    /// Runs `poco --json <args>`, expects success and returns the JSON on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.output(&all);
        assert!(
            out.status.success(),
            "poco {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "poco {args:?} printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `poco <args>`, expects failure and returns stderr with the folders and ports
    /// replaced by placeholders.
    fn error(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            !out.status.success(),
            "poco {args:?} succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.stdout.is_empty(),
            "an error printed on stdout without --json"
        );
        self.redact(&String::from_utf8_lossy(&out.stderr))
    }

    fn redact(&self, text: &str) -> String {
        let text = text
            .replace(&self.home().display().to_string(), "[HOME]")
            .replace(&self.project().display().to_string(), "[PROJECT]");
        // Ports of local chains change from run to run.
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..at + 10]);
            rest = rest[at + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push_str("[PORT]");
        }
        out.push_str(rest);
        out
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.project().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Poco {
    fn drop(&mut self) {
        let running = self.home().join("devnet/devnet.json");
        if running.exists() {
            let _ = self.output(&["devnet", "stop"]);
        }
    }
}

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

/// Kills a background `poco` service when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `poco --json <args>` in the background (stdout piped, stderr to `stderr`): the
/// service, its start record (the first line on stdout) and the rest of its stdout.
fn start_service(
    poco: &Poco,
    args: &[&str],
    stderr: Stdio,
) -> (Service, Value, BufReader<ChildStdout>) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let mut child = poco
        .command(&all)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start poco {args:?}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let service = Service(child);
    let started = start_record(&mut stdout);
    (service, started, stdout)
}

/// The first line a service prints on stdout (its `--json` start record).
fn first_line(child: &mut Child) -> Value {
    start_record(&mut BufReader::new(
        child.stdout.take().expect("piped stdout"),
    ))
}

/// Reads a service's `--json` start record, one line.
fn start_record(stdout: &mut impl BufRead) -> Value {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a start line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
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

/// `poco --json worker` of the devnet's `worker1` account, one slot, for the scheduler at `api`.
fn start_worker(poco: &Poco, api: &str) -> Service {
    let worker = poco
        .command(&[
            "--json",
            "worker",
            "--account",
            "worker1",
            "--scheduler",
            api,
            "--slots",
            "1",
            // `poco run` registers the app at a file:// URL (devnet).
            "--allow-local-fetch",
        ])
        .stdout(Stdio::null())
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
        let poco = Poco::new();
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
