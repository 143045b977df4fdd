//! Restarts against a real chain: the scheduler keeps its cursor and its dispatch in its
//! database, so what happened on chain while it was down, and what it had handed out before
//! going down, both carry over.

use alloy::primitives::B256;
use poco_scheduler::api::{Assignment, ReplicateState};

use crate::{archive, Pool, TestWorker};

/// Runs a trust-1 replicate to its end as an honest worker: uploads the result, contributes
/// and finalizes on chain, reports it done. Returns the result digest.
async fn complete(worker: &TestWorker, a: &Assignment, text: &str) -> eyre::Result<B256> {
    let (bytes, digest) = archive(text)?;
    let location = worker.upload(a, bytes).await?;
    worker.contribute_and_finalize(a, digest, &location).await?;
    worker
        .report(a, ReplicateState::Done, Some(digest), Some(location), None)
        .await?;
    Ok(digest)
}

/// A deal matched while the scheduler is down is read from the chain when it comes back (from
/// the block it had reached, not from the configured start) and its task is dispatched and
/// completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_matched_while_the_scheduler_was_down_is_picked_up() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    // A first deal seen by the scheduler: its cursor is stored past that deal's block (the
    // cursor is written before the deal's tasks are).
    let seen = pool.deal(1, 1, "").await?;
    pool.wait_task(seen.tasks[0], "the first deal", |_| true)
        .await?;
    pool.scheduler.kill().await;

    let deal = pool.deal(1, 1, "").await?;
    // Started afresh, a scheduler without `start_block` reads from the head, after the deal:
    // it must resume from its stored cursor instead.
    pool.scheduler
        .restart_with(|c| c.start_block = None)
        .await?;

    let worker = pool.worker(0, 2).await?;
    let mut taken = [worker.take().await?, worker.take().await?];
    taken.sort_by_key(|a| a.taskid != deal.tasks[0]);
    let [a, other] = taken;
    assert_eq!(a.taskid, deal.tasks[0]);
    assert_eq!(other.taskid, seen.tasks[0]);
    let digest = complete(&worker, &a, "picked up").await?;
    let info = pool
        .wait_task(a.taskid, "completion", |i| i.status == "COMPLETED")
        .await?;
    assert_eq!(info.replicas.len(), 1, "{info:#?}");
    assert_eq!(info.replicas[0].worker, worker.address());
    let on_chain = pool.requester.task(a.taskid).await?;
    assert_eq!((on_chain.status, on_chain.resultDigest), (3, digest));
    Ok(())
}

/// A scheduler killed after handing out the first task of a two-task deal resumes it: the
/// first worker keeps its replicate (and its session) and finishes it, the second task goes
/// to a second worker, and nothing is handed out twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_resumes_a_half_dispatched_deal() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(1, 2, "").await?;
    let first = pool.worker(0, 1).await?;
    let a = first.take().await?;
    assert!(deal.tasks.contains(&a.taskid));

    pool.scheduler.restart().await?;

    // The first worker's session and replicate survived: it has no second slot, so nothing
    // more for it, and the other task goes to the second worker.
    let second = pool.worker(1, 1).await?;
    let b = second.take().await?;
    assert_ne!(
        b.taskid, a.taskid,
        "a task held by a live worker was handed out again"
    );
    assert!(deal.tasks.contains(&b.taskid));
    assert!(second
        .api
        .next_work(std::time::Duration::from_secs(1))
        .await?
        .is_none());

    let first_digest = complete(&first, &a, "first").await?;
    let second_digest = complete(&second, &b, "second").await?;
    for (taskid, worker, digest) in [
        (a.taskid, first.address(), first_digest),
        (b.taskid, second.address(), second_digest),
    ] {
        let info = pool
            .wait_task(taskid, "completion", |i| i.status == "COMPLETED")
            .await?;
        assert_eq!(info.replicas.len(), 1, "{info:#?}");
        assert_eq!(info.replicas[0].worker, worker);
        let on_chain = pool.requester.task(taskid).await?;
        assert_eq!((on_chain.status, on_chain.resultDigest), (3, digest));
    }
    Ok(())
}
