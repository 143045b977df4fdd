//! Issue 11, "when things go wrong": no task is dispatched in a loop, and the requester reads
//! the failure reason and the app's full (bounded) stdout and stderr.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use poco_scheduler::{
    api::{Fault, ReplicateState},
    SchedulerClient,
};

use poco_testkit::Role;

use crate::Pool;

const NO_CALLBACK_DATA: &str = "the app wrote no callback data but the deal has a callback";

/// The hot loop of issue 11: `poco run apps/hello/hello.wasm --callback <contract>` (hello
/// writes no callback data). The chain refuses such a settlement for every worker, and the
/// scheduler handed the task out again at once, thousands of times until the deadline. Now
/// the worker sees it before sending anything and reports it as the deal's fault: at most
/// one run per worker, one give-up, with the reason shown to anyone and the app's output to the requester.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_without_callback_data_ends_in_one_give_up() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    pool.start_worker(0);
    pool.start_worker(1);
    let app = pool.app("apps/hello/hello.wasm").await?;
    let callback = Address::repeat_byte(0x42);
    for fast in [true, false] {
        let (a, w, r) = pool
            .orders_with(app, 1, 1, r#"{"iexec_args":"cb"}"#, 0, |r| {
                r.callback = callback
            })
            .await?;
        let deal = if fast {
            pool.requester.match_orders_fast(&a, None, &w, &r).await?.0
        } else {
            pool.requester.match_orders(&a, None, &w, &r).await?
        };
        let infos = pool.wait_final(&deal, Duration::from_secs(60)).await?;
        let info = &infos[0];
        assert_eq!(info.status, "FAILED", "{info:#?}");
        let failure = info.failure.as_deref().unwrap_or_default();
        assert!(failure.contains(NO_CALLBACK_DATA), "{failure}");
        // The second worker confirms the first's refusal (no worker's word alone ends a task;
        // `retries.rs` in the scheduler's tests plays that), unless it was not free to.
        assert!(
            (1..=2).contains(&info.replicas.len()),
            "at most one run per worker: {info:#?}"
        );
        for replica in &info.replicas {
            assert_eq!(replica.error.as_deref(), Some("deal-fault"));
        }

        // The requester reads the app's output of that run; another address does not.
        let requester = SchedulerClient::new(&pool.scheduler_url)?;
        requester.login(pool.chain.key(Role::Requester)).await?;
        let logs = requester.task_logs(deal.tasks[0]).await?;
        let run = &logs.replicas[0];
        assert_eq!(run.fault, Some(Fault::Deal));
        let stdout = run.stdout.as_deref().unwrap_or_default();
        assert!(
            stdout.contains("hello: wrote /iexec_out/result.txt"),
            "{stdout:?}"
        );
        assert!(!run.stdout_truncated);
        assert!(
            !stdout.contains(&pool.dir.path().display().to_string()),
            "a local path leaked: {stdout}"
        );
        let stranger = SchedulerClient::new(&pool.scheduler_url)?;
        stranger.login(pool.chain.key(Role::Other(0))).await?;
        let refused = stranger.task_logs(deal.tasks[0]).await.unwrap_err();
        assert!(refused.to_string().contains("403"), "{refused}");
    }
    // Nothing was handed out again: at most one assignment per worker and deal.
    let assignments = pool.metric("poco_scheduler_assignments_total").await?;
    assert!((2..=4).contains(&assignments), "{assignments} assignments");
    // And the chain saw no settlement attempt: the workers' nonces did not move.
    for n in 0..2 {
        use alloy::providers::Provider;
        let nonce = pool
            .chain
            .provider()
            .get_transaction_count(pool.worker_address(n))
            .await?;
        assert_eq!(nonce, 2, "worker {n} sent only its funding transactions");
    }
    Ok(())
}

/// A refusal that is the worker's own (its poco account cannot lock the task's stake) moves
/// the task to another worker, which completes it; the failing worker's reason stays readable
/// by the requester. The logs of successful runs are kept too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_s_own_refusal_moves_the_task_to_another_worker() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    // Worker 0 empties its poco account: it cannot lock a stake.
    let poor = pool.chain.client(Role::Worker(0)).await?;
    let (free, _) = pool.balance(pool.worker_address(0)).await?;
    poor.withdraw(free).await?;
    pool.start_worker(0);
    let deal = pool
        .deal(app, 3, 1, r#"{"iexec_args":"replicated"}"#)
        .await?;
    assert!(pool.requester.deal(deal.dealid).await?.workerStake > U256::ZERO);
    let info = pool
        .wait_task(deal.tasks[0], "the poor worker's failure", |i| {
            i.replicas
                .iter()
                .any(|r| r.error.as_deref() == Some("worker-error"))
        })
        .await?;
    assert_eq!(info.status, "ACTIVE", "{info:#?}");
    pool.start_worker(1);
    pool.start_worker(2);
    let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
    let info = &infos[0];
    assert_eq!(info.status, "COMPLETED", "{info:#?}");
    let poor_runs = info
        .replicas
        .iter()
        .filter(|r| r.worker == pool.worker_address(0))
        .count();
    assert_eq!(poor_runs, 1, "{info:#?}");

    let requester = SchedulerClient::new(&pool.scheduler_url)?;
    requester.login(pool.chain.key(Role::Requester)).await?;
    let logs = requester.task_logs(deal.tasks[0]).await?;
    let mut successful = 0;
    for run in &logs.replicas {
        if run.worker == pool.worker_address(0) {
            assert_eq!(run.fault, Some(Fault::Worker), "{run:?}");
            let error = run.error.as_deref().unwrap_or_default();
            assert!(error.contains("free in its poco account"), "{error}");
        } else if matches!(
            run.state,
            ReplicateState::Contributed | ReplicateState::Done
        ) {
            // The successful runs' output (a spare replica may still be running when the task
            // completes: it has none yet).
            let stdout = run.stdout.as_deref().unwrap_or_default();
            assert!(stdout.contains("hello: wrote"), "{run:?}");
            successful += 1;
        }
    }
    assert!(successful >= 1, "no successful run's output: {logs:?}");
    Ok(())
}

/// A TCP proxy in front of anvil whose connections can be cut: the worker's chain endpoint
/// going down and coming back.
struct Outage {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Outage {
    async fn start(target: std::net::SocketAddr) -> eyre::Result<Self> {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, list) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed at once
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Ok(Self {
            addr,
            up,
            conns,
            accept,
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The worker's chain endpoint is down when it settles: a passing failure. The scheduler
/// holds the task back (it used to hand it out again at once) and hands it out again once the
/// backoff passed; the endpoint is back by then and the task completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passing_rpc_failure_backs_off_and_the_task_completes() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let port = reqwest::Url::parse(&pool.chain.endpoint())?
        .port_or_known_default()
        .ok_or_else(|| eyre::eyre!("anvil has no port"))?;
    let anvil = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let outage = Outage::start(anvil).await?;
    let url = outage.url();
    pool.start_worker_configured(0, |c| c.rpc_url = url);
    let app = pool.app("apps/hello/hello.wasm").await?;
    // A first task through the proxy: the worker is up and its endpoint works.
    let first = pool.fast_deal(app, 1, r#"{"iexec_args":"before"}"#).await?;
    let infos = pool.wait_final(&first, Duration::from_secs(60)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    outage.cut();
    let deal = pool.fast_deal(app, 1, r#"{"iexec_args":"outage"}"#).await?;
    let taskid = deal.tasks[0];
    let info = pool
        .wait_task(taskid, "a passing failure", |i| {
            i.replicas
                .iter()
                .any(|r| r.error.as_deref() == Some("transient"))
        })
        .await?;
    assert_eq!(info.status, "ACTIVE", "{info:#?}");
    // Held back: the failure did not send the task out again at once.
    assert_eq!(pool.metric("poco_scheduler_assignments_total").await?, 2);
    outage.restore();
    let infos = pool.wait_final(&deal, Duration::from_secs(60)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    // Bounded: a few runs during the outage, one after it.
    let runs = pool.metric("poco_scheduler_assignments_total").await? - 1;
    assert!((2..=5).contains(&runs), "{runs} runs");
    Ok(())
}
