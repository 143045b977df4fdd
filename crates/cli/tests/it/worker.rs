//! `poco worker` keeps no key or password in its environment (security review C1).

use poco_testkit::cli::{first_line, Service};

use crate::Poco;

/// anvil's fifth well-known development key (never a real one).
const KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const PASSWORD: &str = "a-wallet-password-that-must-not-leak";

fn environ(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
        .into_owned()
}

/// The process's children, grandchildren and so on.
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                all.push(child);
                todo.push(child);
            }
        }
    }
    all
}

#[test]
fn c1_worker_environment_holds_no_key_or_password() {
    let poco = Poco::new(crate::POCO);
    poco.json(&["devnet", "start", "--port", "0"]);
    let mut worker = poco
        .command(&[
            "--json",
            "worker",
            // Nobody answers there: the worker keeps retrying its sign-in meanwhile.
            "--scheduler",
            "http://127.0.0.1:9",
            "--slots",
            "2",
        ])
        .env("POCO_PRIVATE_KEY", KEY)
        .env("POCO_WALLET_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the worker");
    let started = first_line(&mut worker);
    let pid = worker.id();
    let worker = Service(worker);
    assert!(started["worker"].is_string(), "{started}");
    let secret = KEY.trim_start_matches("0x");
    let env = environ(pid);
    assert!(
        env.contains("POCO_HOME="),
        "the test reads the worker's environment: {env}"
    );
    assert!(!env.contains(secret), "the key is in /proc/{pid}/environ");
    assert!(
        !env.contains(PASSWORD),
        "the password is in /proc/{pid}/environ"
    );
    // The runners (one per slot) started with a clean environment.
    let runners = descendants(pid);
    assert!(!runners.is_empty(), "the worker's runners are running");
    for runner in runners {
        let env = environ(runner);
        assert!(
            !env.contains(secret) && !env.contains(PASSWORD),
            "runner {runner}: {env}"
        );
    }
    drop(worker);
}
