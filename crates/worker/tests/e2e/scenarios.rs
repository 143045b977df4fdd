//! The scenarios of the issue.

use std::time::Duration;

use alloy::primitives::U256;

use poco_testkit::Role;

use crate::{Pool, RLC};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trust_one_by_the_fast_path_and_the_classic_path() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    pool.start_worker(0);
    let app = pool.app("apps/hello/hello.wasm").await?;

    let fast = pool
        .fast_deal(app, 1, r#"{"iexec_args":"fast path"}"#)
        .await?;
    let classic = pool
        .deal(app, 1, 1, r#"{"iexec_args":"classic path"}"#)
        .await?;
    for (deal, expected) in [(&fast, "fast path"), (&classic, "classic path")] {
        let infos = pool.wait_final(deal, Duration::from_secs(60)).await?;
        assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
        let link = infos[0].results.clone().expect("a result link");
        let digest = pool.onchain_digest(deal, 0).await?;
        let out = pool.result(&link, digest).await?;
        let text = std::fs::read_to_string(out.join("result.txt"))?;
        assert!(text.contains(expected), "{text}");
    }
    // The worker was paid by both: 2 RLC × 95 % per task (the pool keeps its reward ratio).
    let (free, _) = pool.balance(pool.worker_address(0)).await?;
    assert!(free > U256::from(1_000 * RLC), "worker balance {free}");
    Ok(())
}

/// Runs the real app with other arguments: a worker that returns a wrong result.
struct Tampering(std::sync::Arc<dyn poco_runtime::Executor>);

impl poco_runtime::Executor for Tampering {
    fn name(&self) -> &'static str {
        "tampering"
    }

    fn execute(
        &self,
        mut request: poco_runtime::ExecutionRequest,
    ) -> poco_runtime::BoxFuture<'_, poco_runtime::Result<poco_runtime::ExecutionOutput>> {
        request.args.push_str(" tampered");
        self.0.execute(request)
    }
}

/// With fresh workers (weight 2 each), a wrong vote cast before the consensus outweighs one
/// honest vote: at trust 3 the honest value needs three votes against one (8·3 > 11·2), and at
/// trust 2 the first vote wins alone. So the wrong worker, which votes first here, is slashed
/// when three honest workers outvote it: four workers in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicated_task_outvotes_and_slashes_a_wrong_worker() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/hello/hello.wasm").await?;
    let bad = pool.worker_address(0);
    let (bad_free, _) = pool.balance(bad).await?;
    pool.start_worker_with(0, std::sync::Arc::new(Tampering(crate::wasm())));
    let deal = pool
        .deal(app, 3, 1, r#"{"iexec_args":"replicated"}"#)
        .await?;
    let stake = pool.requester.deal(deal.dealid).await?.workerStake;
    assert!(stake > U256::ZERO, "the pool asks for a stake");

    // The wrong worker contributes first.
    pool.wait_task(deal.tasks[0], "the wrong worker's contribution", |i| {
        i.replicas
            .iter()
            .any(|r| r.state == poco_scheduler::api::ReplicateState::Contributed)
    })
    .await?;
    for n in 1..=3 {
        pool.start_worker(n);
    }
    let infos = pool.wait_final(&deal, Duration::from_secs(60)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    assert_eq!(infos[0].replicas.len(), 4, "{infos:#?}");

    let task = pool.requester.task(deal.tasks[0]).await?;
    let out = pool
        .result(infos[0].results.as_deref().unwrap(), task.resultDigest)
        .await?;
    let text = std::fs::read_to_string(out.join("result.txt"))?;
    assert!(
        text.contains("replicated") && !text.contains("tampered"),
        "{text}"
    );

    // The wrong worker lost its stake; the honest ones got theirs back, a reward and a point.
    let (free, locked) = pool.balance(bad).await?;
    assert_eq!((free, locked), (bad_free - stake, U256::ZERO));
    assert_eq!(pool.score(bad).await?, U256::ZERO);
    for n in 1..=3 {
        let who = pool.worker_address(n);
        assert_eq!(pool.score(who).await?, U256::from(1u64), "worker {n}");
        let (free, locked) = pool.balance(who).await?;
        assert!(
            free > U256::from(1_000 * RLC) && locked.is_zero(),
            "worker {n}: {free} {locked}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_worker_s_task_is_completed_by_another() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/pi/pi.wasm").await?;
    let first = pool.start_worker(0);
    let deal = pool
        .deal(app, 1, 1, r#"{"iexec_args":"7 400000000"}"#)
        .await?;
    let first_worker = pool.worker_address(0);
    pool.wait_task(deal.tasks[0], "an assignment", |i| {
        i.replicas.iter().any(|r| r.worker == first_worker)
    })
    .await?;
    // Killed mid-task: its heartbeats stop, its lease ends, the replicate goes elsewhere.
    pool.workers[first].abort();
    pool.start_worker(1);
    let infos = pool.wait_final(&deal, Duration::from_secs(120)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    let lost = infos[0]
        .replicas
        .iter()
        .find(|r| r.worker == pool.worker_address(0))
        .unwrap();
    assert_eq!(lost.state, poco_scheduler::api::ReplicateState::Lost);
    let task = pool.requester.task(deal.tasks[0]).await?;
    assert_eq!(task.contributors, vec![pool.worker_address(1)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_scheduler_finalizes_every_task_exactly_once() -> eyre::Result<()> {
    use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
    use poco_chain::bindings::hub::IPoco;

    let mut pool = Pool::start().await?;
    let app = pool.app("apps/pi/pi.wasm").await?;
    pool.start_worker(0);
    pool.start_worker(1);
    let deal = pool
        .deal(app, 3, 6, r#"{"iexec_args":"3 20000000"}"#)
        .await?;
    // Stop the scheduler once some tasks are done, and keep it down for a while.
    let started = std::time::Instant::now();
    loop {
        let done = pool
            .chain
            .provider()
            .get_logs(
                &Filter::new()
                    .address(pool.chain.hub())
                    .event_signature(IPoco::TaskFinalize::SIGNATURE_HASH)
                    .from_block(0),
            )
            .await?
            .len();
        if done >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing finalized"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = pool.stop_scheduler().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    pool.start_scheduler(Some(addr)).await?;

    let infos = pool.wait_final(&deal, Duration::from_secs(180)).await?;
    assert!(infos.iter().all(|i| i.status == "COMPLETED"), "{infos:#?}");
    let finals = pool
        .chain
        .provider()
        .get_logs(
            &Filter::new()
                .address(pool.chain.hub())
                .event_signature(IPoco::TaskFinalize::SIGNATURE_HASH)
                .from_block(0),
        )
        .await?;
    let mut finalized: Vec<_> = finals
        .iter()
        .map(|l| IPoco::TaskFinalize::decode_log(&l.inner).map(|e| e.taskid))
        .collect::<Result<_, _>>()?;
    finalized.sort();
    let mut expected = deal.tasks.clone();
    expected.sort();
    assert_eq!(finalized, expected, "each task finalized exactly once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_apps_are_stopped_refused_and_refunded() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    pool.start_worker(0);
    // A category whose tasks may run 2 s.
    let admin = pool.chain.client(Role::Admin).await?;
    let hub = admin.hub();
    let call = hub.createCategory("TEST".into(), "2 seconds".into(), U256::from(2u64));
    admin
        .send(call.into_transaction_request(), "createCategory")
        .await?;
    let category = admin.category_count().await?.to::<u64>() - 1;

    let dir = pool.dir.path().to_path_buf();
    let module = |name: &str, wat: &str| -> eyre::Result<(String, alloy::primitives::B256)> {
        let bytes = wat::parse_str(wat)?;
        let path = dir.join(name);
        std::fs::write(&path, &bytes)?;
        Ok((
            format!("file://{}", path.display()),
            poco_types::sha256_digest(&bytes),
        ))
    };
    let (url, sum) = module(
        "forever.wasm",
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    )?;
    let forever = pool.app_with(&url, sum).await?;
    let (url, sum) = module(
        "greedy.wasm",
        r#"(module (memory (export "memory") 1)
             (func (export "_start") (drop (memory.grow (i32.const 20000)))))"#,
    )?;
    let greedy = pool.app_with(&url, sum).await?;
    let (url, _) = module(
        "liar.wasm",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )?;
    let liar = pool
        .app_with(&url, alloy::primitives::B256::repeat_byte(0xab))
        .await?;

    let mut deals = Vec::new();
    for (app, reason) in [
        (forever, "time limit"),
        (greedy, "memory"),
        (liar, "do not match its on-chain checksum"),
    ] {
        let (a, w, r) = pool.orders(app, 1, 1, "", category).await?;
        deals.push((pool.requester.match_orders(&a, None, &w, &r).await?, reason));
    }
    let (free_before, locked) = pool.balance(pool.requester.sender()?).await?;
    assert_eq!(locked, U256::from(3 * 3 * RLC));
    // The workers' error texts are served to the requester, signed in (not in the public view).
    let logs = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
    logs.login(pool.chain.key(Role::Requester)).await?;
    for (deal, reason) in &deals {
        let infos = pool.wait_final(deal, Duration::from_secs(60)).await?;
        assert_eq!(infos[0].status, "FAILED", "{infos:#?}");
        let failure = logs
            .task_logs(deal.tasks[0])
            .await?
            .replicas
            .iter()
            .filter_map(|r| r.error.clone())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(
            failure.contains(reason),
            "expected {reason:?} in {failure:?}"
        );
    }
    // As the protocol says: the requester gets its money back after the final deadline.
    pool.advance(10 * 2 + 1).await?;
    for (deal, _) in &deals {
        pool.requester.claim_deal(deal.dealid).await?;
    }
    assert_eq!(
        pool.balance(pool.requester.sender()?).await?,
        (free_before + U256::from(9 * RLC), U256::ZERO)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bag_of_fifty_tasks_completes_with_every_result_downloadable() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    for n in 0..3 {
        pool.start_worker(n);
    }
    let app = pool.app("apps/hello/hello.wasm").await?;
    let deal = pool.fast_deal(app, 50, r#"{"iexec_args":"bag"}"#).await?;
    let infos = pool.wait_final(&deal, Duration::from_secs(180)).await?;
    assert!(infos.iter().all(|i| i.status == "COMPLETED"), "{infos:#?}");
    for (i, info) in infos.iter().enumerate() {
        let digest = pool.onchain_digest(&deal, i).await?;
        let out = pool
            .result(info.results.as_deref().unwrap(), digest)
            .await?;
        let text = std::fs::read_to_string(out.join("result.txt"))?;
        assert!(text.contains("bag"), "{text}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_worker_finishes_what_it_had_in_flight() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let app = pool.app("apps/pi/pi.wasm").await?;
    let first = pool.start_worker(0);
    let deal = pool
        .deal(app, 1, 1, r#"{"iexec_args":"9 300000000"}"#)
        .await?;
    pool.wait_task(deal.tasks[0], "an assignment", |i| !i.replicas.is_empty())
        .await?;
    // Stopped mid-task and started again within its lease: it resumes the same replicate.
    pool.workers[first].abort();
    pool.start_worker(0);
    let infos = pool.wait_final(&deal, Duration::from_secs(120)).await?;
    assert_eq!(infos[0].status, "COMPLETED", "{infos:#?}");
    // The scheduler reads COMPLETED from the chain and the replicate's state from the worker's
    // report, sent once the transaction is mined: either may come first.
    let info = pool
        .wait_task(deal.tasks[0], "report", |i| {
            i.replicas
                .iter()
                .all(|r| r.state != poco_scheduler::api::ReplicateState::Assigned)
        })
        .await?;
    assert_eq!(info.replicas.len(), 1, "{info:#?}");
    assert_eq!(
        info.replicas[0].state,
        poco_scheduler::api::ReplicateState::Done
    );
    let task = pool.requester.task(deal.tasks[0]).await?;
    assert_eq!(task.contributors, vec![pool.worker_address(0)]);
    Ok(())
}

/// The scheduler on PostgreSQL: a fresh database on the server at `POCO_TEST_POSTGRES_URL`
/// (e.g. `postgres://poco:poco@127.0.0.1/poco`, a user allowed to create databases). Without it
/// the test is skipped, except in CI (`CI` set), where it must run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_runs_on_postgresql() -> eyre::Result<()> {
    use sqlx::Connection;
    let Ok(server) = std::env::var("POCO_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide PostgreSQL in POCO_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: set POCO_TEST_POSTGRES_URL to run the scheduler on PostgreSQL");
        return Ok(());
    };
    let name = format!("poco_e2e_{}", alloy::primitives::hex::encode(rand_bytes()));
    let mut admin = sqlx::PgConnection::connect(&server).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let (base, _) = server.rsplit_once('/').expect("a database in the URL");
    let url = format!("{base}/{name}");

    let outcome = async {
        let mut pool = Pool::start_with_database(Some(url.clone())).await?;
        pool.start_worker(0);
        let app = pool.app("apps/hello/hello.wasm").await?;
        let fast = pool
            .fast_deal(app, 3, r#"{"iexec_args":"on postgres"}"#)
            .await?;
        let classic = pool
            .deal(app, 1, 2, r#"{"iexec_args":"on postgres"}"#)
            .await?;
        for deal in [&fast, &classic] {
            let infos = pool.wait_final(deal, Duration::from_secs(60)).await?;
            assert!(infos.iter().all(|i| i.status == "COMPLETED"), "{infos:#?}");
        }
        // A restart reads the state back from PostgreSQL.
        let addr = pool.stop_scheduler().await;
        pool.start_scheduler(Some(addr)).await?;
        let infos = pool.wait_final(&classic, Duration::from_secs(30)).await?;
        assert!(infos.iter().all(|i| i.status == "COMPLETED"), "{infos:#?}");
        // The app's output and a give-up's reason are kept there too.
        let requester = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
        requester.login(pool.chain.key(Role::Requester)).await?;
        let logs = requester.task_logs(classic.tasks[0]).await?;
        let stdout = logs.replicas[0].stdout.as_deref().unwrap_or_default();
        assert!(stdout.contains("hello: wrote"), "{logs:?}");
        let (a, w, r) = pool
            .orders_with(app, 1, 1, "", 0, |r| {
                r.callback = alloy::primitives::Address::repeat_byte(0x42)
            })
            .await?;
        let callback = pool.requester.match_orders(&a, None, &w, &r).await?;
        let infos = pool.wait_final(&callback, Duration::from_secs(60)).await?;
        assert_eq!(infos[0].status, "FAILED", "{infos:#?}");
        assert!(infos[0]
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("no callback data")));
        // The state is in PostgreSQL indeed.
        let mut db = sqlx::PgConnection::connect(&url).await?;
        let (completed,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE status = 'COMPLETED'")
                .fetch_one(&mut db)
                .await?;
        assert_eq!(completed, 5);
        db.close().await?;
        eyre::Ok(())
    }
    .await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}

fn rand_bytes() -> [u8; 6] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 6];
    out.copy_from_slice(&nanos.to_le_bytes()[..6]);
    out
}
