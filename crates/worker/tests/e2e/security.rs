//! The worker's findings of the security review, played against a real pool: C1 (fetching what
//! strangers name), M4 (workers reveal by themselves, bounded stakes), M6 (sign-in retried),
//! M7 (fetch time limit).

use std::time::Duration;

use alloy::{
    primitives::{Bytes, U256},
    providers::Provider,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use poco_testkit::Role;

use crate::Pool;

/// An HTTP server on 127.0.0.1 that sends its headers, then one body byte a second.
async fn tarpit() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                    .await;
                while socket.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    addr
}

/// A requester's app that would copy `/iexec_in` into its result names the worker's own
/// environment, a device, the cloud metadata service and a tarpit as input files: each task
/// fails with the reason, and neither the failure nor anything else the scheduler shows holds
/// a secret or a local path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c1_input_files_naming_local_files_or_internal_addresses_are_refused() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    // A development worker (devnet apps are file:// URLs), with a short fetch time limit.
    pool.start_worker_configured(0, |c| c.max_fetch_time = Duration::from_secs(3));
    let app = pool.app("apps/hello/hello.wasm").await?;
    let slow = tarpit().await;
    let environ = std::fs::read("/proc/self/environ")?;
    let secrets: Vec<String> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() >= 8)
        .collect();
    assert!(!secrets.is_empty());

    let cases = [
        ("file:///proc/self/environ".to_string(), "system file"),
        ("file:///proc/self/cmdline".to_string(), "system file"),
        ("file:///dev/zero".to_string(), "system file"),
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
            "cloud metadata",
        ),
        (format!("http://{slow}/slow.txt"), "took longer"),
    ];
    let mut deals = Vec::new();
    for (url, reason) in &cases {
        let params = serde_json::json!({ "iexec_input_files": [url] }).to_string();
        deals.push((pool.deal(app, 1, 1, &params).await?, reason));
    }
    let client = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
    // The reasons are served to the requester, signed in; the public view shows none.
    let requester = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
    requester.login(pool.chain.key(Role::Requester)).await?;
    for (deal, reason) in deals {
        let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
        assert_eq!(infos[0].status, "FAILED", "{infos:#?}");
        assert!(infos[0].results.is_none());
        let logs = serde_json::to_string(&requester.task_logs(deal.tasks[0]).await?)?;
        assert!(logs.contains(reason), "expected {reason:?} in {logs}");
        for secret in &secrets {
            assert!(!logs.contains(secret.as_str()), "{logs}");
        }
        assert!(
            !logs.contains(&pool.dir.path().display().to_string()),
            "{logs}"
        );
        // Everything the scheduler shows about the task.
        let shown = serde_json::to_string(&client.task(deal.tasks[0]).await?)?;
        for secret in &secrets {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
        assert!(
            !shown.contains("environ") && !shown.contains("cmdline"),
            "{shown}"
        );
        let worker_dir = pool.dir.path().display().to_string();
        assert!(!shown.contains(&worker_dir), "{shown}");
    }
    Ok(())
}

/// The scheduler never sends revealAndFinalize (its account is emptied of ether once the task
/// is handed out, so its transactions fail while its API and store keep working). The workers
/// reveal by themselves at half the reveal window, so `reopen` (which would reject them and
/// take their stakes) fails and `finalize` works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn m4_workers_reveal_when_the_scheduler_does_not() -> eyre::Result<()> {
    use alloy::providers::ext::AnvilApi;
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/pi/pi.wasm").await?;
    pool.start_worker(0);
    pool.start_worker(1);
    let deal = pool
        .deal(app, 3, 1, r#"{"iexec_args":"7 300000000"}"#)
        .await?;
    let taskid = deal.tasks[0];
    pool.wait_task(taskid, "two replicates", |i| i.replicas.len() == 2)
        .await?;
    let scheduler_address = pool.chain.address(Role::Scheduler);
    let ether = pool.chain.provider().get_balance(scheduler_address).await?;
    pool.chain
        .provider()
        .anvil_set_balance(scheduler_address, U256::ZERO)
        .await?;

    // Both contribute; the task reaches its consensus and waits for reveals.
    let started = std::time::Instant::now();
    let task = loop {
        let task = pool.requester.task(taskid).await?;
        if task.status == 2 {
            break task;
        }
        eyre::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "no consensus: status {}",
            task.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task.revealCounter, U256::ZERO, "nobody reveals early");
    // Half the reveal window (2 × timeref) passes.
    pool.advance(task.timeref.to::<u64>() + 1).await?;
    let started = std::time::Instant::now();
    loop {
        let task = pool.requester.task(taskid).await?;
        if task.revealCounter == U256::from(2u64) {
            break;
        }
        eyre::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the workers did not reveal: status {}, {} reveals",
            task.status,
            task.revealCounter
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in 0..2 {
        let c = pool
            .requester
            .hub()
            .viewContribution(taskid, pool.worker_address(n))
            .call()
            .await?;
        assert_eq!(c.status, 2, "worker {n} PROVED");
    }

    // The reveal deadline passes: the scheduler cannot reopen, it can finalize.
    pool.stop_scheduler().await;
    pool.chain
        .provider()
        .anvil_set_balance(scheduler_address, ether)
        .await?;
    pool.advance(task.timeref.to::<u64>() + 1).await?;
    let scheduler = pool.chain.client(Role::Scheduler).await?;
    let hub = scheduler.hub();
    let reopen = hub.reopen(taskid);
    assert!(
        scheduler
            .send(reopen.into_transaction_request(), "reopen")
            .await
            .is_err(),
        "reopen after the workers revealed"
    );
    let finalize = hub.finalize(taskid, Bytes::from_static(b"results"), Bytes::new());
    scheduler
        .send(finalize.into_transaction_request(), "finalize")
        .await?;
    let task = pool.requester.task(taskid).await?;
    assert_eq!(task.status, 3, "COMPLETED");
    Ok(())
}

/// The pool owner raises its worker stake ratio to 10,000 % before the deal: the stake is 100
/// times the price. The worker declines the task before fetching anything and sends no
/// transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn m4_a_task_whose_stake_is_too_high_is_declined() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let owner = pool.chain.client(Role::Scheduler).await?;
    let contract = poco_chain::bindings::workerpool::Workerpool::new(pool.pool, owner.provider());
    let call = contract.changePolicy(U256::from(10_000u64), U256::from(1u64));
    owner
        .send(call.into_transaction_request(), "changePolicy")
        .await?;
    let deal = pool
        .deal(app, 3, 1, r#"{"iexec_args":"greedy pool"}"#)
        .await?;
    let stake = pool.requester.deal(deal.dealid).await?.workerStake;
    assert!(
        stake >= U256::from(100u64 * 2 * crate::RLC),
        "stake {stake}"
    );
    let worker = pool.worker_address(0);
    let nonce = pool.chain.provider().get_transaction_count(worker).await?;
    pool.start_worker(0);
    let info = pool
        .wait_task(deal.tasks[0], "the worker's refusal", |i| {
            i.replicas.iter().any(|r| r.error.is_some())
        })
        .await?;
    // The public view gives the kind only (the text, "the worker declines the task…", is the
    // requester's to read once the task is over): not the app's fault.
    let error = info.replicas[0].error.clone().unwrap();
    assert_eq!(error, "worker-error", "{info:#?}");
    let c = pool
        .requester
        .hub()
        .viewContribution(deal.tasks[0], worker)
        .call()
        .await?;
    assert_eq!(c.status, 0, "no contribution");
    assert_eq!(
        pool.chain.provider().get_transaction_count(worker).await?,
        nonce,
        "the worker sent no transaction"
    );
    Ok(())
}

/// While the worker starts, a stranger keeps overwriting its challenge and deleting it with
/// failed logins: the worker retries and signs in once the stranger stops, then works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn m6_a_worker_whose_challenge_is_overwritten_still_signs_in() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let victim = pool.worker_address(0);
    let url = pool.scheduler_url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (url, stop) = (url.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut rounds = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http
                    .get(format!("{url}/challenge?address={victim}"))
                    .send()
                    .await;
                let _ = http
                    .post(format!("{url}/login"))
                    .json(&serde_json::json!({
                        "address": victim, "challenge": "x", "signature": "0x00"
                    }))
                    .send()
                    .await;
                rounds += 1;
            }
            rounds
        }));
    }
    let handle = pool.start_worker(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        assert!(a.await? > 0);
    }
    assert!(
        !pool.workers[handle].is_finished(),
        "the worker exited on a failed sign-in"
    );
    let deal = pool
        .fast_deal(app, 1, r#"{"iexec_args":"signed in"}"#)
        .await?;
    let infos = pool.wait_final(&deal, Duration::from_secs(60)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    Ok(())
}
