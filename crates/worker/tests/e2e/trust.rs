//! Admission on a real chain: an open pool's saboteur is outvoted, slashed and excluded, a
//! fresh key gets no unreplicated task until the operator trusts it, a worker whose on-chain
//! weight reaches the deal's trust alone gets its task's only replica, and a replica made
//! useless by a heavier one is dropped before it contributes.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use alloy::primitives::U256;
use poco_scheduler::{
    api::ReplicateState,
    workers::{Admission, Workers},
    SchedulerClient,
};

use poco_testkit::Role;

use crate::Pool;

/// A worker's executor for tests only: runs the real app, but with other arguments (so a
/// wrong result digest) on a share `rate` of its runs, spread evenly (1.0: every run, 0.5:
/// every second run, 0: never).
struct Saboteur {
    inner: Arc<dyn poco_runtime::Executor>,
    rate: f64,
    runs: AtomicU64,
}

impl Saboteur {
    fn new(inner: Arc<dyn poco_runtime::Executor>, rate: f64) -> Self {
        Self {
            inner,
            rate: rate.clamp(0.0, 1.0),
            runs: AtomicU64::new(0),
        }
    }

    /// Whether run `n` (from 0) cheats: when it takes the count of cheats up a whole step.
    fn cheats(&self, n: u64) -> bool {
        ((n + 1) as f64 * self.rate).floor() > (n as f64 * self.rate).floor()
    }
}

impl poco_runtime::Executor for Saboteur {
    fn name(&self) -> &'static str {
        "saboteur"
    }

    fn execute(
        &self,
        mut request: poco_runtime::ExecutionRequest,
    ) -> poco_runtime::BoxFuture<'_, poco_runtime::Result<poco_runtime::ExecutionOutput>> {
        if self.cheats(self.runs.fetch_add(1, Ordering::Relaxed)) {
            request.args.push_str(" sabotaged");
        }
        self.inner.execute(request)
    }
}

/// A worker's executor for tests only: runs the real app once the test opens its gate.
struct Gated {
    inner: Arc<dyn poco_runtime::Executor>,
    gate: Arc<tokio::sync::Notify>,
}

impl poco_runtime::Executor for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn execute(
        &self,
        request: poco_runtime::ExecutionRequest,
    ) -> poco_runtime::BoxFuture<'_, poco_runtime::Result<poco_runtime::ExecutionOutput>> {
        Box::pin(async move {
            self.gate.notified().await;
            self.inner.execute(request).await
        })
    }
}

#[test]
fn the_saboteur_cheats_at_its_rate() {
    let count = |rate: f64| {
        let s = Saboteur::new(crate::wasm(), rate);
        (0..100).filter(|n| s.cheats(*n)).count()
    };
    assert_eq!(count(1.0), 100);
    assert_eq!(count(0.0), 0);
    assert_eq!(count(0.25), 25);
    assert_eq!(count(0.5), 50);
    let half = Saboteur::new(crate::wasm(), 0.5);
    assert_eq!(
        (0..4).map(|n| half.cheats(n)).collect::<Vec<_>>(),
        [false, true, false, true]
    );
}

/// Restarts the pool's scheduler (same port and database) in `admission` mode.
async fn restart_in(pool: &mut Pool, admission: Admission) -> eyre::Result<()> {
    let addr = pool.stop_scheduler().await;
    let mut config = pool.scheduler_config(Some(addr));
    config.admission = admission;
    let scheduler = pool.chain.start_scheduler(config).await?;
    pool.scheduler_url = scheduler.url.clone();
    pool.scheduler = Some(scheduler);
    Ok(())
}

/// The operator's view of the pool's workers (what `poco scheduler workers` opens).
async fn records(pool: &Pool) -> eyre::Result<Workers> {
    let url = pool.scheduler_config(None).database_url;
    Ok(Workers::open(&url).await?)
}

/// An open pool, a trust-3 deal, a saboteur that votes first and three honest workers. With
/// fresh workers (weight 2 each) two honest votes do not outweigh one wrong vote at trust 3
/// (group 4: 4·3 = 12 ≤ (1 + 6)·2 = 14), three do (8·3 = 24 > (1 + 10)·2 = 22): the
/// scheduler hands out replicas until the consensus, the saboteur loses its stake, the
/// requester reads the right result, and the pool excludes the saboteur (the operator trusts
/// one of the honest workers, so a qualified worker is among the winners: the consensus is
/// confirmed): its sessions end, it gets no more work, it shows in the records and on
/// `/metrics`, and only the operator re-admits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_pool_outvotes_slashes_and_excludes_a_saboteur() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    restart_in(&mut pool, Admission::Open).await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let saboteur = pool.worker_address(0);
    let (free_before, _) = pool.balance(saboteur).await?;
    pool.start_worker_with(0, Arc::new(Saboteur::new(crate::wasm(), 1.0)));
    let deal = pool.deal(app, 3, 1, r#"{"iexec_args":"honest"}"#).await?;
    let stake = pool.requester.deal(deal.dealid).await?.workerStake;
    assert!(stake > U256::ZERO, "the pool asks for a stake");
    pool.wait_task(deal.tasks[0], "the saboteur's contribution", |i| {
        i.replicas
            .iter()
            .any(|r| r.worker == saboteur && r.state == ReplicateState::Contributed)
    })
    .await?;
    let workers = records(&pool).await?;
    workers
        .add(pool.worker_address(1), true, None, "test operator", 1)
        .await?;
    for n in 1..=3 {
        pool.start_worker(n);
    }
    let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");

    // The requester's result is the honest one.
    let task = pool.requester.task(deal.tasks[0]).await?;
    let out = pool
        .result(infos[0].results.as_deref().unwrap(), task.resultDigest)
        .await?;
    let text = std::fs::read_to_string(out.join("result.txt"))?;
    assert!(
        text.contains("honest") && !text.contains("sabotaged"),
        "{text}"
    );
    // Slashed on chain.
    let (free, locked) = pool.balance(saboteur).await?;
    assert_eq!((free, locked), (free_before - stake, U256::ZERO));

    // Excluded in the pool's records once the scheduler counted the votes.
    let started = std::time::Instant::now();
    let record = loop {
        let record = workers.get(saboteur).await?.expect("the saboteur's record");
        if record.excluded.is_some() {
            break record;
        }
        eyre::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the saboteur is not excluded: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let exclusion = record.excluded.clone().unwrap();
    assert_eq!(exclusion.task, Some(deal.tasks[0]), "{record:?}");
    assert!(
        exclusion.reason.contains("against the consensus"),
        "{record:?}"
    );
    assert_eq!(
        (record.contributed, record.against, record.streak),
        (1, 1, 0)
    );
    for n in 1..=3 {
        let honest = workers.get(pool.worker_address(n)).await?.unwrap();
        assert!(honest.excluded.is_none(), "worker {n}: {honest:?}");
        assert_eq!(honest.against, 0, "worker {n}: {honest:?}");
    }
    let listed = workers.list().await?;
    assert!(listed
        .iter()
        .any(|w| w.address == saboteur && w.excluded.is_some()));
    assert_eq!(pool.metric("poco_scheduler_excluded_workers").await?, 1);
    assert_eq!(
        pool.metric("poco_scheduler_worker_exclusions_total")
            .await?,
        1
    );

    // Its key signs in again (requesters sign in too) but gets no work, with the reason.
    let client = SchedulerClient::new(&pool.scheduler_url)?;
    client.login(pool.chain.key(Role::Worker(0))).await?;
    let refused = client
        .next_work(Duration::ZERO)
        .await
        .expect_err("an excluded worker gets no work");
    assert!(
        refused.to_string().contains("excluded") && refused.to_string().contains("readmit"),
        "{refused}"
    );
    // Only the operator's hand lifts it.
    assert!(workers.readmit(saboteur).await?);
    assert!(client.next_work(Duration::ZERO).await.is_ok());
    assert_eq!(pool.metric("poco_scheduler_excluded_workers").await?, 0);
    Ok(())
}

/// An open pool gives a fresh key no trust-1 task (nobody would check its result): the task
/// waits while the worker polls; once the operator marks the worker trusted, it runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_pool_gives_a_fresh_key_no_trust_one_task() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    restart_in(&mut pool, Admission::Open).await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let fresh = pool.worker_address(0);
    pool.start_worker(0);
    let deal = pool.deal(app, 1, 1, r#"{"iexec_args":"trusted"}"#).await?;
    pool.wait_task(deal.tasks[0], "the task active", |i| i.status == "ACTIVE")
        .await?;
    let workers = records(&pool).await?;
    let started = std::time::Instant::now();
    while workers
        .get(fresh)
        .await?
        .is_none_or(|r| r.declared_slots == 0)
    {
        eyre::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the worker did not register"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The worker polls /work (long polls of 2 s, looked at again each second) meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let client = SchedulerClient::new(&pool.scheduler_url)?;
    let info = client.task(deal.tasks[0]).await?;
    assert!(info.replicas.is_empty(), "{info:#?}");
    assert_eq!(pool.metric("poco_scheduler_assignments_total").await?, 0);
    // A fresh key of its own asking directly gets nothing either.
    client.login(pool.chain.key(Role::Worker(1))).await?;
    assert!(client.next_work(Duration::ZERO).await?.is_none());

    workers.add(fresh, true, None, "test operator", 1).await?;
    let infos = pool.wait_final(&deal, Duration::from_secs(60)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    assert_eq!(infos[0].replicas.len(), 1, "{infos:#?}");
    assert_eq!(infos[0].replicas[0].worker, fresh);
    Ok(())
}

/// The replication policy counts on-chain weights: a trusted worker whose score is 12 (odds 3)
/// makes trust-3 consensus alone, so it gets the task's only replica and the scheduler hands
/// no second one to the fresh workers polling meanwhile (no useless contribution, no gas
/// spent on one); the task completes with its vote alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_heavy_enough_alone_gets_the_only_replica() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let heavy = pool.worker_address(0);
    pool.chain.set_score(heavy, 12).await?;
    let workers = records(&pool).await?;
    workers.add(heavy, true, None, "test operator", 1).await?;
    pool.start_worker(0);
    let deal = pool.deal(app, 3, 1, r#"{"iexec_args":"alone"}"#).await?;
    pool.wait_task(deal.tasks[0], "the heavy worker's replica", |i| {
        i.replicas.iter().any(|r| r.worker == heavy)
    })
    .await?;
    // Two fresh workers ask for work while the heavy one runs the task.
    for n in 1..=2 {
        pool.start_worker(n);
    }
    let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    assert_eq!(infos[0].replicas.len(), 1, "{infos:#?}");
    assert_eq!(infos[0].replicas[0].worker, heavy);
    assert_eq!(pool.metric("poco_scheduler_assignments_total").await?, 1);
    let task = pool.requester.task(deal.tasks[0]).await?;
    let out = pool
        .result(infos[0].results.as_deref().unwrap(), task.resultDigest)
        .await?;
    let text = std::fs::read_to_string(out.join("result.txt"))?;
    assert!(text.contains("alone"), "{text}");
    Ok(())
}

/// A consensus won by newcomers only may be a colluding majority of fresh keys outvoting an
/// honest worker: the pool counts the losing vote (its streak ends) but excludes nobody. Here
/// the "saboteur" votes first with a different value and three fresh workers outvote it:
/// nobody among the winners is qualified, so it stays admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consensus_of_newcomers_only_excludes_nobody() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    restart_in(&mut pool, Admission::Open).await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let loser = pool.worker_address(0);
    pool.start_worker_with(0, Arc::new(Saboteur::new(crate::wasm(), 1.0)));
    let deal = pool.deal(app, 3, 1, r#"{"iexec_args":"majority"}"#).await?;
    pool.wait_task(deal.tasks[0], "the first contribution", |i| {
        i.replicas
            .iter()
            .any(|r| r.worker == loser && r.state == ReplicateState::Contributed)
    })
    .await?;
    for n in 1..=3 {
        pool.start_worker(n);
    }
    let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    // Counted once the scheduler tallied the votes: against, streak 0, not excluded.
    let workers = records(&pool).await?;
    let started = std::time::Instant::now();
    let record = loop {
        let record = workers.get(loser).await?.expect("the loser's record");
        if record.contributed == 1 {
            break record;
        }
        eyre::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the votes are not counted: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((record.against, record.streak), (1, 0), "{record:?}");
    assert!(record.excluded.is_none(), "{record:?}");
    assert_eq!(pool.metric("poco_scheduler_excluded_workers").await?, 0);
    Ok(())
}

/// A fresh worker (odds 2) takes a trust-3 task first and runs it slowly; a trusted worker
/// whose score is 12 (odds 3) then asks: the policy asks it (its weight alone reaches the
/// trust), which makes the fresh replica useless. The fresh worker hears so before it uploads
/// or contributes: it drops its replica (nothing on chain, no gas, no stake frozen), the
/// scheduler counts no failure, and the task completes with the heavy vote alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_made_useless_is_dropped_before_it_contributes() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let fresh = pool.worker_address(1);
    let heavy = pool.worker_address(2);
    pool.chain.set_score(heavy, 12).await?;
    records(&pool)
        .await?
        .add(heavy, true, None, "test operator", 1)
        .await?;
    let gate = Arc::new(tokio::sync::Notify::new());
    pool.start_worker_with(
        1,
        Arc::new(Gated {
            inner: crate::wasm(),
            gate: gate.clone(),
        }),
    );
    let deal = pool.deal(app, 3, 1, r#"{"iexec_args":"heavy"}"#).await?;
    let taskid = deal.tasks[0];
    pool.wait_task(taskid, "the fresh worker's replica", |i| {
        i.replicas.iter().any(|r| r.worker == fresh)
    })
    .await?;
    pool.start_worker(2);
    pool.wait_task(taskid, "the heavy worker's replica", |i| {
        i.replicas.iter().any(|r| r.worker == heavy)
    })
    .await?;
    gate.notify_one();
    let infos = pool.wait_final(&deal, Duration::from_secs(90)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    let dropped = pool
        .wait_task(taskid, "the fresh replica dropped", |i| {
            i.replicas
                .iter()
                .any(|r| r.worker == fresh && r.state == ReplicateState::Failed)
        })
        .await?;
    let replica = dropped.replicas.iter().find(|r| r.worker == fresh).unwrap();
    // The public view names the fault only (the reason stays behind the requester's
    // sign-in): a passing one.
    assert_eq!(replica.error.as_deref(), Some("transient"), "{dropped:#?}");
    // Nothing on chain from the fresh worker, its stake untouched.
    let c = pool.requester.contribution(taskid, fresh).await?;
    assert_eq!(c.status, poco_chain::ContributionStatus::Unset);
    let (_, locked) = pool.balance(fresh).await?;
    assert_eq!(locked, U256::ZERO);
    Ok(())
}
