//! Issue 11: no task is dispatched in a loop. Failed replicates are classified (the app's,
//! the deal's, the worker's, passing): a deal fault gives the task up at once, the worker's
//! moves the task to another worker, passing ones back off, and failed attempts are bounded.
//! The requester reads each run's stdout and stderr, bounded, and nobody else does.

use std::time::Duration;

use poco_scheduler::api::{AppLogs, Assignment, Fault, Report, MAX_LOG_BYTES};

use poco_testkit::Role;

use crate::{failed_report, Pool, TestWorker};

/// A failed report of `fault`, with `logs`.
async fn fail(
    w: &TestWorker,
    a: &Assignment,
    fault: Fault,
    error: &str,
    logs: Option<AppLogs>,
) -> eyre::Result<()> {
    w.api
        .report(
            a.taskid,
            &Report {
                app_fault: fault == Fault::App,
                fault: Some(fault),
                logs,
                ..failed_report(error)
            },
        )
        .await?;
    Ok(())
}

/// A pool that gives a task up after `max_attempts` failed attempts and holds a task back
/// `backoff` (growing) after a failure.
async fn retrying_pool(max_attempts: u32, backoff: Duration) -> eyre::Result<Pool> {
    Pool::start_with(|c| {
        c.max_attempts = max_attempts;
        c.retry_backoff = backoff;
    })
    .await
}

/// How many replicates the scheduler handed out.
async fn assignments(pool: &Pool) -> eyre::Result<u64> {
    pool.metric("poco_scheduler_assignments_total").await
}

/// The callback loop of issue 11, as the scheduler sees it: a replicate failed because the
/// deal cannot be settled by anyone gives the task up with that reason once a second worker
/// met the same refusal; neither gets the task again. And a hostile worker cannot end a task
/// alone by claiming the deal's fault: the task goes to another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_fault_confirmed_by_a_second_worker_gives_the_task_up() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(1, 1, "").await?;
    let first = pool.worker(0, 1).await?;
    let second = pool.worker(1, 1).await?;
    let a = first.take().await?;
    let reason = "the app wrote no callback data but the deal has a callback";
    fail(&first, &a, Fault::Deal, reason, None).await?;
    // One worker's word is not enough: the task stays active and goes to the other worker,
    // never back to the first.
    assert!(first.api.next_work(Duration::ZERO).await?.is_none());
    let b = second.take().await?;
    assert_eq!(b.taskid, deal.tasks[0]);
    let info = poco_scheduler::SchedulerClient::new(pool.url())?
        .task(deal.tasks[0])
        .await?;
    assert_eq!(info.status, "ACTIVE", "{info:#?}");
    fail(&second, &b, Fault::Deal, reason, None).await?;
    let info = pool.wait_given_up(deal.tasks[0]).await?;
    assert_eq!(info.failure.as_deref(), Some(reason));
    assert_eq!(info.replicas[0].error.as_deref(), Some("deal-fault"));
    assert!(second
        .api
        .next_work(Duration::from_secs(2))
        .await?
        .is_none());
    assert!(first.api.next_work(Duration::ZERO).await?.is_none());
    assert_eq!(assignments(&pool).await?, 2);
    Ok(())
}

/// A pool with one worker: its deal fault cannot be confirmed by anyone, and the task is
/// given up at once rather than handed back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_fault_with_no_other_worker_gives_the_task_up_at_once() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(1, 1, "").await?;
    let only = pool.worker(0, 1).await?;
    let a = only.take().await?;
    let reason = "the app wrote no callback data but the deal has a callback";
    fail(&only, &a, Fault::Deal, reason, None).await?;
    let info = pool.wait_given_up(deal.tasks[0]).await?;
    assert_eq!(info.failure.as_deref(), Some(reason));
    assert!(only.api.next_work(Duration::ZERO).await?.is_none());
    assert_eq!(assignments(&pool).await?, 1);
    Ok(())
}

/// A worker's own failure moves the task to another live worker (not back to the same one
/// while another has not tried), and after `--max-attempts` failed attempts the task is given
/// up with the last reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_fault_moves_to_another_worker_a_bounded_number_of_times() -> eyre::Result<()> {
    let mut pool = retrying_pool(3, Duration::from_secs(1)).await?;
    let deal = pool.deal(1, 1, "").await?;
    let taskid = deal.tasks[0];
    let first = pool.worker(0, 1).await?;
    let second = pool.worker(1, 1).await?;

    let a = first.take().await?;
    fail(
        &first,
        &a,
        Fault::Worker,
        "insufficient stake (first)",
        None,
    )
    .await?;
    // Past the backoff, the first worker still does not get it back: the second has not
    // tried yet.
    assert!(
        first.api.next_work(Duration::from_secs(3)).await?.is_none(),
        "the failing worker got its task back while another worker was free"
    );
    let a = second.take().await?;
    assert_eq!(a.taskid, taskid);
    fail(
        &second,
        &a,
        Fault::Worker,
        "insufficient stake (second)",
        None,
    )
    .await?;
    // Both tried: either may take it again; the third failure gives it up.
    let a = first.take().await?;
    fail(&first, &a, Fault::Worker, "insufficient stake (last)", None).await?;
    let info = pool.wait_given_up(taskid).await?;
    let failure = info.failure.unwrap_or_default();
    assert!(
        failure.contains("3 failed attempts") && failure.contains("insufficient stake (last)"),
        "{failure}"
    );
    assert!(second
        .api
        .next_work(Duration::from_secs(2))
        .await?
        .is_none());
    assert_eq!(assignments(&pool).await?, 3);
    Ok(())
}

/// A passing failure (the worker's RPC down) holds the task back before it is handed out
/// again, longer at each failure, and the attempts stay bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passing_failure_backs_off_before_the_task_is_tried_again() -> eyre::Result<()> {
    let mut pool = retrying_pool(2, Duration::from_secs(3)).await?;
    let deal = pool.deal(1, 1, "").await?;
    let taskid = deal.tasks[0];
    let worker = pool.worker(0, 1).await?;
    let a = worker.take().await?;
    let reason = "the worker could not send contributeAndFinalize: its chain endpoint failed";
    fail(&worker, &a, Fault::Transient, reason, None).await?;
    // Held back: not handed out at once (the old scheduler did).
    assert!(
        worker.api.next_work(Duration::ZERO).await?.is_none(),
        "a task that failed for a passing reason was handed out again at once"
    );
    let info = pool.wait_task(taskid, "report", |_| true).await?;
    assert_eq!(info.status, "ACTIVE");
    assert_eq!(info.replicas[0].error.as_deref(), Some("transient"));
    // After the backoff, the same worker gets it again (no other worker is live).
    let a = worker.take().await?;
    assert_eq!(a.taskid, taskid);
    fail(&worker, &a, Fault::Transient, reason, None).await?;
    let info = pool.wait_given_up(taskid).await?;
    assert!(info.failure.unwrap_or_default().contains(reason));
    assert_eq!(assignments(&pool).await?, 2);
    Ok(())
}

/// The requester (and the beneficiary) reads the full stdout and stderr of each run, bounded
/// to their last `MAX_LOG_BYTES` with the truncation flagged; another address and an anonymous
/// reader are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_bounded_and_served_to_the_requester_only() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(1, 1, "").await?;
    let taskid = deal.tasks[0];
    let worker = pool.worker(0, 1).await?;
    let a = worker.take().await?;
    // A chatty app: 200 KiB of stdout (ending in a marker), a short stderr.
    let mut stdout = "x".repeat(200 * 1024);
    stdout.push_str("the end of stdout\n");
    let logs = AppLogs {
        stdout,
        stderr: "line 1\nerror: boom\n".into(),
        ..AppLogs::default()
    };
    fail(
        &worker,
        &a,
        Fault::App,
        "the app exited with code 1",
        Some(logs),
    )
    .await?;
    let info = pool.wait_given_up(taskid).await?;
    // The public view has the reason, not the app's output.
    let public = serde_json::to_string(&info)?;
    assert!(!public.contains("error: boom"), "{public}");

    let requester = pool.signed_in(pool.chain.key(Role::Requester)).await?;
    let logs = requester.task_logs(taskid).await?;
    let r = &logs.replicas[0];
    assert_eq!(r.fault, Some(Fault::App));
    let stdout = r.stdout.as_deref().unwrap_or_default();
    assert_eq!(stdout.len(), MAX_LOG_BYTES);
    assert!(stdout.ends_with("the end of stdout\n"));
    assert!(r.stdout_truncated && !r.stderr_truncated);
    assert_eq!(r.stderr.as_deref(), Some("line 1\nerror: boom\n"));
    assert!(logs.failure.is_some());

    let stranger = pool.signed_in(pool.chain.key(Role::Other(0))).await?;
    let refused = stranger.task_logs(taskid).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    let anonymous = poco_scheduler::SchedulerClient::new(pool.url())?;
    let refused = anonymous.task_logs(taskid).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    Ok(())
}
