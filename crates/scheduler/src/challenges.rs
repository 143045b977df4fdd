//! The enclave challenges of TEE tasks, asked of the SMS ahead of the workers.
//!
//! A TEE task is handed out only with its enclave challenge (the address of the key the SMS
//! makes for the task, which the worker's enclave gets from the SMS once attested). This loop
//! asks the SMS for the challenges of the ACTIVE TEE tasks that have none yet, beside the
//! engine and never under the assignment lock: an SMS that is slow, down or hostile holds back
//! only the TEE tasks, not the assignments of other tasks or the engine's tick.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::primitives::Address;
use poco_types::Tag;
use tracing::{debug, warn};

use crate::{
    db::TaskRow,
    engine::{secs, unix_now, Shared},
    Result,
};

/// The most tasks one round asks challenges for (the next round goes on).
const BATCH: i64 = 64;

/// Runs forever: a round each poll interval, or at once when woken (`Shared::tee`: a TEE task
/// without its challenge was passed over, or a TEE deal came in).
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut pacing = Pacing::default();
    loop {
        if let Err(e) = round(&shared, &mut pacing).await {
            warn!("cannot ask the SMS for enclave challenges: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = shared.tee.notified() => {}
        }
    }
}

/// What the loop keeps between rounds (it alone asks the SMS for challenges).
#[derive(Default)]
struct Pacing {
    /// Until when the SMS is not asked again after it failed (TEE tasks wait meanwhile).
    down_until: Option<Instant>,
    /// When the last warning of each [`Warning`] kind was logged.
    warned: [Option<Instant>; 2],
}

/// Asks challenges for the ACTIVE TEE tasks without one, until the SMS fails; wakes the
/// long-polling workers when one is recorded.
async fn round(s: &Shared, pacing: &mut Pacing) -> Result<()> {
    if pacing
        .down_until
        .is_some_and(|until| Instant::now() < until)
    {
        return Ok(());
    }
    let tee_tags: Vec<String> =
        s.db.deal_tags()
            .await?
            .into_iter()
            .filter(|text| text.parse::<Tag>().is_ok_and(|tag| tag.is_tee()))
            .collect();
    if tee_tags.is_empty() {
        return Ok(());
    }
    let now = s.chain_now.load(std::sync::atomic::Ordering::Relaxed);
    let tasks =
        s.db.tasks_awaiting_challenge(&tee_tags, now, unix_now(), BATCH)
            .await?;
    for task in tasks {
        match enclave_challenge(s, pacing, &task).await? {
            Asked::Recorded => s.work.notify_waiters(),
            Asked::Refused => {
                s.db.hold_back(task.taskid, unix_now() + secs(REFUSED_RETRY))
                    .await?
            }
            Asked::Unavailable => break,
        }
    }
    Ok(())
}

/// What asking the SMS for a task's challenge gave.
enum Asked {
    /// The task has its challenge.
    Recorded,
    /// The SMS refused this task (it is asked again after [`REFUSED_RETRY`]; the other tasks
    /// go on).
    Refused,
    /// No SMS, or it is down or answers beside the point: no task gets a challenge now.
    Unavailable,
}

/// How long a task the SMS refused waits before it is asked again.
const REFUSED_RETRY: Duration = Duration::from_secs(10);

/// How long TEE tasks wait after the SMS failed before it is asked again.
const SMS_RETRY: Duration = Duration::from_secs(3);

/// Asks the SMS for the enclave challenge of a TEE task and records it (once per task: the
/// first one recorded is kept). Without one, the reason is logged with its fix (at most once
/// per [`SMS_RETRY`]) and counted, and the task is tried again later.
async fn enclave_challenge(s: &Shared, pacing: &mut Pacing, task: &TaskRow) -> Result<Asked> {
    let taskid = task.taskid;
    let Some(sms) = &s.sms else {
        pacing.warn(
            Warning::Down,
            format!(
                "task {taskid} is a TEE task but this scheduler has no SMS to make its enclave \
                 challenge: restart it with --sms URL (the SMS serving the pool's TEE tasks)"
            ),
        );
        return Ok(Asked::Unavailable);
    };
    let request = poco_sms_api::tee::ChallengeRequest {
        dealid: task.dealid,
        idx: u64::try_from(task.idx).unwrap_or_default(),
    };
    let timeout = s.config.sms_timeout;
    let answer = tokio::time::timeout(timeout, sms.tee_challenge(&request)).await;
    let problem = match answer {
        Ok(Ok(r)) if r.taskid == taskid && r.enclave_challenge != Address::ZERO => {
            s.db.set_enclave_challenge(taskid, r.enclave_challenge)
                .await?;
            debug!(%taskid, challenge = %r.enclave_challenge, "enclave challenge from the SMS");
            return Ok(Asked::Recorded);
        }
        // A refusal of this task (an SMS that does not know its deal yet, or says it is no TEE
        // deal): the other tasks go on.
        Ok(Err(e)) if e.is_refusal() => {
            s.metrics.sms_errors.inc();
            pacing.warn(
                Warning::Refused,
                format!(
                    "the SMS at {} refused the enclave challenge of TEE task {taskid}: {e}; it \
                     is asked again in {}s (check that the SMS follows the pool's chain)",
                    sms.url(),
                    REFUSED_RETRY.as_secs()
                ),
            );
            return Ok(Asked::Refused);
        }
        Ok(Ok(r)) => format!(
            "answered the enclave challenge {} for task {} instead of a nonzero one for task \
             {taskid}; check that --sms names the SMS of this pool's chain",
            r.enclave_challenge, r.taskid
        ),
        Ok(Err(e)) => format!(
            "gave no enclave challenge for TEE task {taskid}: {e}; check that the SMS is up and \
             reachable at this URL (--sms) and follows the pool's chain"
        ),
        Err(_) => format!(
            "did not answer within {}s for the enclave challenge of TEE task {taskid}; check \
             that the SMS is up and reachable at this URL (--sms)",
            timeout.as_secs()
        ),
    };
    s.metrics.sms_errors.inc();
    pacing.down_until = Some(Instant::now() + SMS_RETRY);
    pacing.warn(
        Warning::Down,
        format!(
            "the SMS at {} {problem}; TEE tasks wait (no worker is charged) and the SMS is \
             asked again in {}s",
            sms.url(),
            SMS_RETRY.as_secs()
        ),
    );
    Ok(Asked::Unavailable)
}

/// Which of the two reasons TEE tasks wait a warning is about: each is logged at its own
/// pace, so that one does not hide the other.
#[derive(Clone, Copy)]
enum Warning {
    /// No SMS, or it is down or failing: every TEE task waits.
    Down = 0,
    /// The SMS refused a task: that task waits.
    Refused = 1,
}

impl Pacing {
    /// Logs a reason TEE tasks are not handed out: a warning at most once per [`SMS_RETRY`]
    /// for each kind, a debug line otherwise (every round would repeat it).
    fn warn(&mut self, kind: Warning, message: String) {
        let last = &mut self.warned[kind as usize];
        if last.is_some_and(|at| at.elapsed() < SMS_RETRY) {
            debug!("{message}");
        } else {
            *last = Some(Instant::now());
            warn!("{message}");
        }
    }
}
