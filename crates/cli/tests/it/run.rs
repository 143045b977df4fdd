//! `poco run` when things go wrong (issue 11): checks before money moves, exit codes, a chain
//! outage ridden out, and a run resumed after it was killed.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{deploy_hello, text, DevPool, Poco, HELLO};

/// The chain as the `poco run` tests see it.
impl DevPool {
    /// The devnet's RPC URL.
    fn rpc_url(&self) -> String {
        text(&self.devnet, "rpcUrl")
    }

    /// The pending nonce of an account, from the chain.
    fn nonce(&self, name: &str) -> u64 {
        let answer: Value = reqwest::blocking::Client::new()
            .post(self.rpc_url())
            .json(&serde_json::json!({
                "jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount",
                "params": [self.address(name), "pending"],
            }))
            .send()
            .expect("ask the nonce")
            .json()
            .expect("a JSON-RPC answer");
        u64::from_str_radix(text(&answer, "result").trim_start_matches("0x"), 16).unwrap()
    }

    fn wasm(&self, name: &str, wat: &str) -> String {
        let bytes = wat::parse_str(wat).expect("valid WAT");
        let path = self.poco.project().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }
}

/// Runs `poco <args>` and returns its exit code, its stdout parsed as JSON (or Null) and
/// stderr.
fn run(poco: &Poco, args: &[&str]) -> (i32, Value, String) {
    let out = poco.output(args);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().expect("an exit code"),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `poco --json deal follow <dealid> --account requester <extra>`, as [`run`].
fn follow(poco: &Poco, dealid: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["--json", "deal", "follow", dealid, "--account", "requester"];
    args.extend_from_slice(extra);
    run(poco, &args)
}

#[test]
fn preflight_refusals_send_nothing() {
    let pool = DevPool::start();
    let poco = &pool.poco;
    let nonce = pool.nonce("requester");
    let wat = poco.write("hello.wat", "(module (func (export \"_start\")))\n");
    let library = pool.wasm("library.wasm", "(module (func (export \"main\")))");
    let corrupt = poco.project().join("corrupt.wasm");
    std::fs::write(&corrupt, b"\0asm\x01\0\0\0this is not a module").unwrap();
    let wat = wat.display().to_string();
    let corrupt = corrupt.display().to_string();
    let unknown = "0x00000000000000000000000000000000000000aa";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&wat], "WebAssembly text (WAT)"),
        (vec![&library], "no `_start` function export"),
        (
            vec![&corrupt],
            "not a runnable WASI preview 1 command module",
        ),
        (
            vec![HELLO, "--input-files", "data.csv"],
            "the input file \"data.csv\" is not an http(s):// URL",
        ),
        (
            vec![HELLO, "--input-files", "https://example.org/a#sha256=12"],
            "#sha256= fragment that is not 64 hex digits",
        ),
        (
            vec![unknown],
            "there is no app at 0x00000000000000000000000000000000000000AA on chain 31337",
        ),
        (
            vec![HELLO, "--dataset", unknown],
            "there is no dataset at 0x00000000000000000000000000000000000000AA on chain 31337",
        ),
        (vec![HELLO, "--volume", "500"], "poco account deposit"),
        (vec![HELLO, "--secret", "1=api-key"], "add --tag tee"),
        (vec![HELLO, "--encrypt-result"], "add --tag tee"),
        (
            vec![HELLO, "--tag", "tee", "--trust", "3", "--encrypt-result"],
            "an encrypted TEE result cannot be replicated",
        ),
        (
            vec![HELLO, "--tag", "tee", "--secret", "api-key"],
            "is not INDEX=NAME",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["run"];
        all.extend(args.iter().copied());
        all.extend(["--account", "requester"]);
        let (code, _, stderr) = run(poco, &all);
        assert_eq!(code, 1, "poco {all:?}: {stderr}");
        assert!(stderr.contains(expected), "poco {all:?}: {stderr}");
        assert!(!stderr.contains("reverted without a reason"), "{stderr}");
        assert_eq!(
            pool.nonce("requester"),
            nonce,
            "poco {all:?} sent a transaction"
        );
    }
    assert_eq!(
        poco.json(&["app", "count", "--account", "requester"])["count"],
        "0",
        "an app was deployed"
    );
    // `poco app deploy` checks the module as well.
    let err = poco.error(&[
        "app",
        "deploy",
        "--name",
        "lib",
        "--file",
        &library,
        "--account",
        "requester",
    ]);
    assert!(err.contains("no `_start` function export"), "{err}");
    assert_eq!(pool.nonce("requester"), nonce);
    // The unknown app is named by `poco app show` too, with the fix.
    let err = poco.error(&["app", "show", unknown]);
    assert!(
        err.contains(
            "there is no app at 0x00000000000000000000000000000000000000AA on chain 31337"
        ) && err.contains("poco app deploy"),
        "{err}"
    );
}

#[test]
fn exit_codes_success_and_failed_task() {
    let pool = DevPool::with_worker();
    let poco = &pool.poco;
    let (code, out, stderr) = run(
        poco,
        &[
            "--json",
            "run",
            HELLO,
            "--args",
            "ok",
            "--account",
            "requester",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["results"][0]["status"], "COMPLETED", "{out}");
    assert_eq!(out["results"][0]["verified"], true, "{out}");

    // An app that exits with status 1: the task fails, and so does the command.
    let failing = pool.wasm(
        "fails.wasm",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit (i32.const 1))))"#,
    );
    let (code, out, stderr) = run(poco, &["--json", "run", &failing, "--account", "requester"]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(out["ok"], false, "{out}");
    assert_ne!(out["results"][0]["status"], "COMPLETED", "{out}");
    assert!(stderr.contains("poco deal claim"), "{stderr}");
    let (code, _, _) = run(poco, &["run", "--resume", "0x12", "--account", "requester"]);
    assert_eq!(code, 2, "a bad deal id is bad usage");

    // A result that is not the certified one: the pool's store serves another task's result.
    let first = &out_ok_result(poco, "first");
    let second = &out_ok_result(poco, "second");
    let stored_first = stored_copy(poco, &first.1);
    let stored_second = stored_copy(poco, &second.1);
    std::fs::copy(&stored_second, &stored_first).unwrap();
    std::fs::remove_file(&first.1).unwrap();
    let (code, out, stderr) = follow(poco, &first.0, &[]);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(out["results"][0]["verified"], false, "{out}");
    assert!(stderr.contains("do not trust"), "{stderr}");
}

/// Runs hello with `args`; returns the deal id and the downloaded archive.
fn out_ok_result(poco: &Poco, args: &str) -> (String, PathBuf) {
    let out = poco.json(&["run", HELLO, "--args", args, "--account", "requester"]);
    let folder = poco.project().join(text(&out["results"][0], "folder"));
    (text(&out, "dealid"), folder.with_extension("zip"))
}

/// The file of the pool's store holding the same bytes as `archive`.
fn stored_copy(poco: &Poco, archive: &std::path::Path) -> PathBuf {
    let bytes = std::fs::read(archive).unwrap();
    let mut todo = vec![poco.home().to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b == bytes) {
                return path;
            }
        }
    }
    panic!("no stored copy of {}", archive.display());
}

/// Starts `poco <args>` in the background (stdout to `stdout`); its stderr lines are read in a
/// thread.
fn spawn_poco(poco: &Poco, args: &[&str], stdout: Stdio) -> (Child, mpsc::Receiver<String>) {
    let mut child = poco
        .command(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start poco run");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (bounded) for a line starting with `prefix`; the lines read are kept in `seen`.
fn wait_line(rx: &mpsc::Receiver<String>, prefix: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.starts_with(prefix) {
                    return line;
                }
            }
            Err(e) => panic!("no line {prefix:?} ({e}); seen:\n{}", seen.join("\n")),
        }
    }
}

/// Waits (bounded) for a child to end.
fn wait_exit(child: &mut Child) -> (i32, Value) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            return (
                status.code().unwrap_or(-1),
                serde_json::from_str(&stdout).unwrap_or(Value::Null),
            );
        }
        assert!(Instant::now() < deadline, "the command did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP proxy to the chain that can be stopped (every connection cut, the port closed) and
/// started again on the same port.
struct Proxy {
    port: u16,
    /// Set: the answer to the next `eth_sendRawTransaction` is lost (its connection cut after
    /// the node got the transaction).
    lose_next_tx: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16, target: String) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lose_next_tx = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, conns, lose) = (stop.clone(), conns.clone(), lose_next_tx.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let Ok(server) = TcpStream::connect(&target) else {
                                continue;
                            };
                            let mut all = conns.lock().unwrap();
                            all.push(client.try_clone().unwrap());
                            all.push(server.try_clone().unwrap());
                            let mute = Arc::new(AtomicBool::new(false));
                            let watch = Some((lose.clone(), mute.clone()));
                            pipe(
                                client.try_clone().unwrap(),
                                server.try_clone().unwrap(),
                                watch,
                            );
                            pipe_answers(server, client, mute);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Self {
            port,
            lose_next_tx,
            stop,
            conns,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts every connection and closes the port.
    fn stop(mut self) -> u16 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        self.port
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// Copies requests to the node; a transaction sent while `lose` is set mutes its answer.
fn pipe(mut from: TcpStream, mut to: TcpStream, lose: Option<(Arc<AtomicBool>, Arc<AtomicBool>)>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some((lose, mute)) = &lose {
                        let chunk = String::from_utf8_lossy(&buf[..n]);
                        if chunk.contains("eth_sendRawTransaction")
                            && lose.swap(false, Ordering::SeqCst)
                        {
                            mute.store(true, Ordering::SeqCst);
                        }
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Copies answers back to the client, until `mute`: then the answer is dropped and the client's
/// connection cut.
fn pipe_answers(mut from: TcpStream, mut to: TcpStream, mute: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if mute.load(Ordering::SeqCst) => {
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[test]
fn run_rides_out_a_chain_outage() {
    let pool = DevPool::start();
    let poco = &pool.poco;
    let anvil = pool.rpc_url().trim_start_matches("http://").to_string();
    let proxy = Proxy::start(0, anvil.clone());
    let (mut child, lines) = spawn_poco(
        poco,
        &[
            "--json",
            "run",
            HELLO,
            "--args",
            "through an outage",
            "--account",
            "requester",
            "--rpc-url",
            &proxy.url(),
            "--rpc-patience",
            "3m",
        ],
        Stdio::piped(),
    );
    let mut seen = Vec::new();
    // The ids come as soon as the match is mined.
    let deal = wait_line(&lines, "deal 0x", &mut seen);
    let task = wait_line(&lines, "task 0x", &mut seen);
    // The chain goes away for 20 seconds; the task runs meanwhile (the worker reaches the
    // chain directly).
    let down = Instant::now();
    let port = proxy.stop();
    let _worker = pool.worker();
    wait_line(&lines, "warning: the chain at", &mut seen);
    std::thread::sleep(Duration::from_secs(20).saturating_sub(down.elapsed()));
    let _proxy = Proxy::start(port, anvil);
    let (code, out) = wait_exit(&mut child);
    let rest: Vec<String> = lines.try_iter().collect();
    seen.extend(rest);
    assert_eq!(code, 0, "stderr:\n{}", seen.join("\n"));
    assert_eq!(out["ok"], true, "{out}");
    assert!(deal.contains(&text(&out, "dealid")), "{deal}");
    assert!(task.contains(&text(&out["results"][0], "taskid")), "{task}");
    assert_eq!(out["results"][0]["verified"], true, "{out}");
    let folder = poco.project().join(text(&out["results"][0], "folder"));
    let result = std::fs::read_to_string(folder.join("result.txt")).unwrap();
    assert!(result.contains("through an outage"), "{result}");
}

#[test]
fn a_killed_run_is_resumed() {
    let pool = DevPool::start();
    let poco = &pool.poco;
    let args = ["run", HELLO, "--args", "resumed", "--account", "requester"];
    let (mut child, lines) = spawn_poco(poco, &args, Stdio::null());
    let mut seen = Vec::new();
    let deal = wait_line(&lines, "deal 0x", &mut seen);
    let dealid = deal.split_whitespace().nth(1).unwrap().to_string();
    wait_line(&lines, "if this command stops", &mut seen);
    // Killed while following (no worker yet: the task cannot have run).
    child.kill().unwrap();
    child.wait().unwrap();
    // A scheduler that does not answer is waited for up to --rpc-patience, then given up
    // with exit code 5, the deal's ids and how to resume.
    let (code, out, stderr) = follow(
        poco,
        &dealid,
        &["--scheduler", "http://127.0.0.1:9", "--rpc-patience", "2s"],
    );
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(out["dealid"], dealid.as_str(), "{out}");
    assert!(
        stderr.contains(&format!("poco run --resume {dealid}")),
        "{stderr}"
    );
    let _worker = pool.worker();
    let resumed = poco.json(&["run", "--resume", &dealid, "--account", "requester"]);
    assert_eq!(resumed["ok"], true, "{resumed}");
    let result = &resumed["results"][0];
    assert_eq!(result["status"], "COMPLETED", "{resumed}");
    assert_eq!(result["verified"], true, "{resumed}");
    let folder = PathBuf::from(text(result, "folder"));
    let output = std::fs::read_to_string(folder.join("result.txt")).unwrap();
    assert!(output.contains("resumed"), "{output}");
    // Following again finds nothing left to download: the result is verified where it is.
    let (code, again, stderr) = follow(poco, &dealid, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["results"][0]["verified"], true, "{again}");
    assert!(
        stderr.contains("already downloaded and verified"),
        "{stderr}"
    );
}

#[test]
fn a_match_whose_answer_was_lost_is_found_and_paid_once() {
    let pool = DevPool::with_worker();
    let poco = &pool.poco;
    // The app is registered first, so that the match is the run's only transaction.
    let app = deploy_hello(poco, "requester");
    let before = poco.json(&["account", "show", "--account", "requester"]);
    let anvil = pool.rpc_url().trim_start_matches("http://").to_string();
    let proxy = Proxy::start(0, anvil);
    proxy.lose_next_tx.store(true, Ordering::SeqCst);
    let (code, out, stderr) = run(
        poco,
        &[
            "--json",
            "run",
            &text(&app, "address"),
            "--account",
            "requester",
            "--rpc-url",
            &proxy.url(),
        ],
    );
    assert!(
        !proxy.lose_next_tx.load(Ordering::SeqCst),
        "no transaction went through the proxy"
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("finding out whether the match was mined"),
        "{stderr}"
    );
    assert_eq!(out["results"][0]["verified"], true, "{out}");
    // One deal, paid once: 0.1 RLC for the pool, the app is free.
    let after = poco.json(&["account", "show", "--account", "requester"]);
    let free = |v: &Value| text(v, "free").parse::<u64>().unwrap();
    assert_eq!(
        free(&before) - free(&after),
        100_000_000,
        "{before} {after}"
    );
    drop(proxy);
}
