//! The scheduler's decisions on a task, as pure functions of what it knows (the task's row,
//! its replicates, the hub's view of it, the live workers, the time) and its policy, to a
//! list of [`Action`]s. Nothing here reads or writes anything: the engine reads, decides here,
//! and applies the actions (see the engine's module documentation for the order of the
//! writes and the transactions).
//!
//! What is decided here:
//! - [`decide`]: a task being driven. An ACTIVE one with contributions: give it up when the
//!   app failed too often (or no other worker is left), hand out one more replica when every
//!   replica voted without consensus (give up at [`MAX_REPLICAS`]), follow the hub into
//!   REVEALING. A REVEALING one: reveal with the candidates agreeing with the consensus, and
//!   reopen it once the reveal deadline passed; follow the hub when it completed or failed.
//! - [`after_failure`]: a failed replicate reported, by whose fault: give up (the deal's fault,
//!   confirmed), wait for another worker to confirm, or count a failed attempt and back off.
//! - [`exhausted`]: a task that used up its attempts is given up with the last reason.
//! - [`after_reopen`]: the hub reopened a task: one more replica, or give up at the cap.
//! - [`after_unchecked`], [`after_reveal_error`], [`after_reopen_refused`]: the outcome of the
//!   engine's checks and transactions, to set a candidate aside or give the task up.
//! - [`replicas_for`] and [`settle_mode`]: a new deal's replicas per task, and how its
//!   workers settle.
//! - [`expire_tasks`] and [`expire_leases`]: the ACTIVE tasks past their contribution deadline
//!   become EXPIRED; the replicates still assigned past their lease are lost, a lost attempt of
//!   their task.

use std::time::Duration;

use alloy::primitives::{B256, U256};
use poco_types::{result_hash, Fault, PoolTaskState, ReplicateState, TaskStatus};

use crate::{
    api::Mode,
    db::{LeaseRow, ReplicateRow, TaskRow, Write},
    SchedulerConfig,
};

/// The most replicas one task is given (the hub accepts at most 64 contributors): when the
/// votes still disagree at this count, the task is given up.
pub(crate) const MAX_REPLICAS: i64 = 16;
/// revealAndFinalize calls sent with one replicate's result before it is set aside.
pub(crate) const REVEAL_ATTEMPTS: i64 = 3;
/// The longest wait before a failed task is handed out again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the scheduler's configuration says about its decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Replicates failed by the app (or refused for the deal's fault) before a task is given
    /// up.
    pub(crate) app_fault_limit: u32,
    /// Failed or lost attempts of a task before it is given up.
    pub(crate) max_attempts: u32,
    /// The first wait before a failed task is handed out again.
    pub(crate) retry_backoff: Duration,
}

impl Policy {
    /// The policy of a configuration.
    pub(crate) fn new(config: &SchedulerConfig) -> Self {
        Self {
            app_fault_limit: config.app_fault_limit,
            max_attempts: config.max_attempts,
            retry_backoff: config.retry_backoff,
        }
    }

    /// Failed attempts that give a task up (at least one).
    pub(crate) fn max_failures(&self) -> i64 {
        i64::from(self.max_attempts.max(1))
    }
}

/// The hub's view of a task, as far as the decisions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainTask {
    /// Its status (`None`: a value this scheduler does not know).
    pub(crate) status: Option<TaskStatus>,
    /// The consensus value (`result_hash` of the agreed digest) once REVEALING.
    pub(crate) consensus: B256,
    /// The reveal deadline once REVEALING.
    pub(crate) reveal_deadline: U256,
}

/// What the scheduler knows of a task when it decides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    /// The task.
    pub(crate) task: &'a TaskRow,
    /// Its replicates, in the order they were reported.
    pub(crate) replicates: &'a [ReplicateRow],
    /// The hub's view, once [`Action::ReadChain`] asked for it.
    pub(crate) chain: Option<&'a ChainTask>,
    /// The workers seen within a lease (with or without a replicate of this task).
    pub(crate) live_workers: i64,
    /// The chain's time (unix seconds).
    pub(crate) now: i64,
    /// The machine's time (unix seconds): backoffs.
    pub(crate) unix: i64,
}

impl View<'_> {
    /// Live workers without a replicate of this task.
    fn others(&self) -> i64 {
        self.live_workers - self.replicates.len() as i64
    }

    fn count(&self, state: ReplicateState) -> i64 {
        self.replicates.iter().filter(|r| r.state == state).count() as i64
    }
}

/// A replicate whose result agrees with the consensus: the engine checks it and reveals with
/// it, in the order given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Its index in [`View::replicates`].
    pub(crate) replicate: usize,
    /// Its result digest.
    pub(crate) digest: B256,
}

/// What to do with a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Read the hub's view of the task and decide again with it.
    ReadChain,
    /// Write to the task's rows (all writes of a decision in one transaction).
    Write(Write),
    /// Give the task up (FAILED) with a reason the requester reads; `detail` is logged only.
    GiveUp {
        reason: String,
        detail: Option<String>,
    },
    /// Wake the workers waiting for work.
    NotifyWork,
    /// Reveal and finalize with the first candidate that passes its checks; when none does
    /// and `reopen`, reopen the task (its reveal deadline passed).
    Reveal {
        candidates: Vec<Candidate>,
        reopen: bool,
    },
}

impl Action {
    /// The write of an action, if it writes.
    pub(crate) fn write(&self) -> Option<Write> {
        match self {
            Self::Write(w) => Some(w.clone()),
            Self::GiveUp { reason, .. } => Some(Write::Status {
                status: PoolTaskState::Failed,
                failure: Some(reason.clone()),
                results: None,
            }),
            _ => None,
        }
    }
}

fn give_up(reason: String) -> Action {
    Action::GiveUp {
        reason,
        detail: None,
    }
}

fn status(status: PoolTaskState) -> Action {
    Action::Write(Write::Status {
        status,
        failure: None,
        results: None,
    })
}

/// Why a task whose votes still disagree at [`MAX_REPLICAS`] is given up.
fn no_consensus() -> String {
    format!(
        "no consensus after {MAX_REPLICAS} replicas (this pool's cap): the app's result may not \
         be deterministic"
    )
}

/// The wait before a task is handed out again after its `failures`-th failure: the
/// configured backoff, doubled at each further failure, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, failures: i64) -> Duration {
    let doublings = failures.saturating_sub(1).clamp(0, 16) as u32;
    base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// Replicas needed for `trust` with fresh workers (weight 2 each): the smallest k with
/// 2^k · trust > (1 + 2^k) · (trust − 1), the hub's consensus test with k agreeing votes.
pub(crate) fn replicas_for(trust: u64) -> u64 {
    if trust <= 1 {
        return 1;
    }
    let t = u128::from(trust);
    let mut k = 1u32;
    while k < 64 {
        let g = 1u128 << k;
        if g * t > (1 + g) * (t - 1) {
            break;
        }
        k += 1;
    }
    u64::from(k)
}

/// How a worker settles a replicate of a deal: a fast deal with `pushResultFast`, a classic
/// deal of trust 1 with `contributeAndFinalize`, a replicated one with `contribute` (the
/// scheduler reveals and finalizes).
pub(crate) fn settle_mode(fast: bool, trust: i64) -> Mode {
    if fast {
        Mode::Fast
    } else if trust <= 1 {
        Mode::ContributeAndFinalize
    } else {
        Mode::Contribute
    }
}

/// Why a task past its contribution deadline is EXPIRED.
pub(crate) const DEADLINE_PASSED: &str = "the contribution deadline passed";

/// Task expiry: each of `tasks` still ACTIVE whose deadline is at or before `now` (chain
/// time) becomes EXPIRED; any other task (not yet due, or in another state, final or not) is
/// left alone. The writes, by task, are applied in one transaction
/// ([`Db::apply_all`](crate::db::Db::apply_all)).
pub(crate) fn expire_tasks(tasks: &[TaskRow], now: i64) -> Vec<(B256, Vec<Write>)> {
    tasks
        .iter()
        .filter(|t| t.status == PoolTaskState::Active && t.deadline <= now)
        .map(|t| {
            let expire = Write::Expire {
                now,
                failure: DEADLINE_PASSED.to_owned(),
            };
            (t.taskid, vec![expire])
        })
        .collect()
}

/// Lease expiry: each of `leases` still assigned whose lease ended before `now` (the
/// machine's clock) is lost, and its task counts one lost attempt however many of its
/// replicates were lost at once. A replicate that contributed (or ended otherwise) keeps its
/// state whatever its lease. The writes, by task in the order of `leases`, are applied in one
/// transaction ([`Db::apply_all`](crate::db::Db::apply_all)).
pub(crate) fn expire_leases(leases: &[LeaseRow], now: i64) -> Vec<(B256, Vec<Write>)> {
    let mut decisions: Vec<(B256, Vec<Write>)> = Vec::new();
    for lease in leases
        .iter()
        .filter(|l| l.state == ReplicateState::Assigned && l.lease_until < now)
    {
        let lose = Write::Lose {
            worker: lease.worker,
            now,
        };
        match decisions
            .iter_mut()
            .find(|(taskid, _)| *taskid == lease.taskid)
        {
            Some((_, writes)) => writes.push(lose),
            None => decisions.push((lease.taskid, vec![Write::CountLoss { now }, lose])),
        }
    }
    decisions
}

/// Decides on a task being driven (ACTIVE with a contributed or failed replicate, or
/// REVEALING). Returns `[ReadChain]` when the decision needs the hub's view and `view.chain`
/// is `None`.
pub(crate) fn decide(view: &View<'_>, policy: &Policy) -> Vec<Action> {
    if view.task.status == PoolTaskState::Active {
        decide_active(view, policy)
    } else {
        decide_revealing(view)
    }
}

fn decide_active(view: &View<'_>, policy: &Policy) -> Vec<Action> {
    let faults: Vec<_> = view
        .replicates
        .iter()
        .filter(|r| r.state == ReplicateState::Failed && r.app_fault)
        .collect();
    if !faults.is_empty() && (faults.len() as u32 >= policy.app_fault_limit || view.others() <= 0) {
        // The workers' error texts hold the app's output: they stay behind the requester's
        // sign-in (GET /tasks/{id}/logs).
        return vec![Action::GiveUp {
            reason: format!(
                "the app failed on {} worker(s); the requester reads why at GET /tasks/{}/logs",
                faults.len(),
                view.task.taskid
            ),
            detail: faults.last().and_then(|r| r.error.clone()),
        }];
    }
    let live = view.replicates.iter().filter(|r| r.state.is_live()).count() as i64;
    let contributed = view.count(ReplicateState::Contributed);
    let assigned = view.count(ReplicateState::Assigned);
    if contributed == 0 || assigned > 0 || live < view.task.replicas_needed {
        return Vec::new();
    }
    // Every replica voted and there is no consensus: one more, unless the hub moved on.
    let Some(chain) = view.chain else {
        return vec![Action::ReadChain];
    };
    match chain.status {
        Some(TaskStatus::Active) if live + 1 > MAX_REPLICAS => vec![give_up(no_consensus())],
        Some(TaskStatus::Active) => {
            vec![Action::Write(Write::Replicas(live + 1)), Action::NotifyWork]
        }
        Some(TaskStatus::Revealing) => vec![status(PoolTaskState::Revealing)],
        _ => Vec::new(),
    }
}

fn decide_revealing(view: &View<'_>) -> Vec<Action> {
    let Some(chain) = view.chain else {
        return vec![Action::ReadChain];
    };
    match chain.status {
        Some(TaskStatus::Revealing) => {
            let candidates = candidates(view.task.taskid, chain.consensus, view.replicates);
            let reopen = U256::from(view.now) >= chain.reveal_deadline;
            if candidates.is_empty() && !reopen {
                Vec::new()
            } else {
                vec![Action::Reveal { candidates, reopen }]
            }
        }
        Some(TaskStatus::Completed) => vec![status(PoolTaskState::Completed)],
        Some(TaskStatus::Failed) => vec![status(PoolTaskState::Claimed)],
        _ => Vec::new(),
    }
}

/// The replicates that may reveal `consensus`, in the order they were reported: contributed,
/// not set aside, with a digest whose result hash is the consensus.
fn candidates(taskid: B256, consensus: B256, replicates: &[ReplicateRow]) -> Vec<Candidate> {
    replicates
        .iter()
        .enumerate()
        .filter(|(_, r)| r.state == ReplicateState::Contributed && r.rejected.is_none())
        .filter_map(|(i, r)| {
            let digest = r.result_digest?;
            (result_hash(taskid, digest) == consensus).then_some(Candidate {
                replicate: i,
                digest,
            })
        })
        .collect()
}

/// What follows a failed replicate of the task, by whose fault it is: the deal's gives the
/// task up with the worker's reason (every worker would meet it again) once another worker
/// confirmed it or none is free to; the app's is left to the app-fault limit ([`decide`]);
/// the worker's and a passing one count as a failed attempt and hold the task back for a
/// growing [`backoff`] (the worker's goes to another worker first, see `Db::next_tasks_for`).
/// The attempt that reaches `--max-attempts` gives it up ([`exhausted`], which the engine
/// runs next).
pub(crate) fn after_failure(
    view: &View<'_>,
    policy: &Policy,
    fault: Fault,
    error: Option<&str>,
) -> Vec<Action> {
    if view.task.status != PoolTaskState::Active {
        return Vec::new();
    }
    let reason = error.unwrap_or("the worker gave no reason");
    match fault {
        Fault::App => Vec::new(),
        Fault::Deal => {
            let settled = view
                .replicates
                .iter()
                .any(|r| matches!(r.state, ReplicateState::Contributed | ReplicateState::Done));
            if settled {
                // Others contributed already (a late contribution refused once the task
                // reached consensus): the task goes on with them.
                return Vec::new();
            }
            // A worker's word alone does not end a task: a hostile worker could otherwise
            // give up any task it is handed. Another worker confirms (it never gets the task
            // back, see `Db::next_tasks_for`), unless none is free to.
            let confirmations = view
                .replicates
                .iter()
                .filter(|r| r.state == ReplicateState::Failed && r.fault == Some(Fault::Deal))
                .count() as u32;
            if confirmations < policy.app_fault_limit && view.others() > 0 {
                vec![Action::NotifyWork]
            } else {
                vec![give_up(reason.to_string())]
            }
        }
        Fault::Worker | Fault::Transient => {
            let wait = backoff(policy.retry_backoff, view.task.failures + 1);
            vec![Action::Write(Write::CountFailure {
                not_before: view.unix + wait.as_secs().max(1) as i64,
            })]
        }
    }
}

/// Gives up a task that used up `--max-attempts` failed attempts, with the last reason.
pub(crate) fn exhausted(task: &TaskRow, replicates: &[ReplicateRow]) -> Action {
    let last = replicates
        .iter()
        .rev()
        .find_map(|r| match r.state {
            ReplicateState::Failed => r.error.clone(),
            ReplicateState::Lost => Some("the worker stopped answering".into()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".into());
    give_up(format!(
        "given up after {} failed attempts (this pool's --max-attempts); the last: {last}",
        task.failures
    ))
}

/// The hub reopened the task (nobody revealed): ACTIVE again with one more replica, or given
/// up when that is over [`MAX_REPLICAS`].
pub(crate) fn after_reopen(task: &TaskRow) -> Vec<Action> {
    if task.replicas_needed + 1 > MAX_REPLICAS {
        return vec![give_up(no_consensus())];
    }
    vec![
        status(PoolTaskState::Active),
        Action::Write(Write::Replicas(task.replicas_needed + 1)),
        Action::NotifyWork,
    ]
}

/// A reveal candidate could not be checked (the chain or the store failed): the attempt
/// counts, and the last allowed one sets it aside.
pub(crate) fn after_unchecked(r: &ReplicateRow, reason: &str) -> Vec<Write> {
    let mut writes = vec![Write::CountRevealAttempt { worker: r.worker }];
    if r.reveal_attempts + 1 >= REVEAL_ATTEMPTS {
        writes.push(Write::SetAside {
            worker: r.worker,
            reason: format!("could not be checked: {reason}"),
        });
    }
    writes
}

/// revealAndFinalize with a candidate failed (its attempt was counted before the call): it
/// is set aside when the refusal is one every call would meet (`deterministic`) or at its
/// last allowed attempt.
pub(crate) fn after_reveal_error(
    r: &ReplicateRow,
    deterministic: bool,
    error: &str,
) -> Option<Write> {
    let reason = if deterministic {
        format!("revealAndFinalize with its result is refused: {error}")
    } else if r.reveal_attempts + 1 >= REVEAL_ATTEMPTS {
        format!("revealAndFinalize with its result failed {REVEAL_ATTEMPTS} times: {error}")
    } else {
        return None;
    };
    Some(Write::SetAside {
        worker: r.worker,
        reason,
    })
}

/// The hub refuses to reopen the task for a reason every call would meet: asking again each
/// tick would be refused the same way, so the task is given up.
pub(crate) fn after_reopen_refused(error: &str) -> Action {
    give_up(format!(
        "nobody revealed the consensus and the chain refuses to reopen the task: {error}"
    ))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, U256};
    use poco_types::{result_hash, Fault, PoolTaskState, ReplicateState, TaskStatus};

    use super::*;

    const TASK: B256 = B256::repeat_byte(0x7a);

    fn policy() -> Policy {
        Policy {
            app_fault_limit: 2,
            max_attempts: 5,
            retry_backoff: Duration::from_secs(2),
        }
    }

    fn task(status: PoolTaskState, replicas_needed: i64) -> TaskRow {
        TaskRow {
            taskid: TASK,
            dealid: B256::repeat_byte(0xde),
            idx: 0,
            status,
            replicas_needed,
            deadline: 1_000,
            failure: None,
            results: None,
            failures: 0,
            enclave_challenge: None,
        }
    }

    fn rep(worker: u8, state: ReplicateState) -> ReplicateRow {
        ReplicateRow {
            taskid: TASK,
            worker: Address::repeat_byte(worker),
            state,
            result_digest: None,
            location: None,
            callback_data: None,
            error: None,
            app_fault: false,
            reveal_attempts: 0,
            rejected: None,
            fault: None,
            logs: None,
        }
    }

    fn contributed(worker: u8, digest: u8) -> ReplicateRow {
        ReplicateRow {
            result_digest: Some(B256::repeat_byte(digest)),
            ..rep(worker, ReplicateState::Contributed)
        }
    }

    fn failed(worker: u8, fault: Fault) -> ReplicateRow {
        ReplicateRow {
            error: Some(format!("worker {worker} failed")),
            app_fault: fault == Fault::App,
            fault: Some(fault),
            ..rep(worker, ReplicateState::Failed)
        }
    }

    fn chain(status: TaskStatus) -> ChainTask {
        ChainTask {
            status: Some(status),
            consensus: result_hash(TASK, B256::repeat_byte(1)),
            reveal_deadline: U256::from(500u64),
        }
    }

    fn view<'a>(
        task: &'a TaskRow,
        replicates: &'a [ReplicateRow],
        chain: Option<&'a ChainTask>,
    ) -> View<'a> {
        View {
            task,
            replicates,
            chain,
            live_workers: 10,
            now: 100,
            unix: 1_000,
        }
    }

    fn is_give_up(actions: &[Action], with: &str) -> bool {
        matches!(actions, [Action::GiveUp { reason, .. }] if reason.contains(with))
    }

    #[test]
    fn active_tasks_wait_for_their_replicas() {
        let t = task(PoolTaskState::Active, 2);
        let cases: Vec<(&str, Vec<ReplicateRow>)> = vec![
            ("nothing reported", vec![rep(1, ReplicateState::Assigned)]),
            (
                "one replica still running",
                vec![contributed(1, 1), rep(2, ReplicateState::Assigned)],
            ),
            ("fewer live replicas than needed", vec![contributed(1, 1)]),
            (
                "a lost replica does not count",
                vec![contributed(1, 1), rep(2, ReplicateState::Lost)],
            ),
            (
                "one app fault under the limit",
                vec![failed(1, Fault::App), rep(2, ReplicateState::Assigned)],
            ),
        ];
        for (case, replicates) in cases {
            assert_eq!(
                decide(&view(&t, &replicates, None), &policy()),
                [],
                "{case}"
            );
        }
    }

    #[test]
    fn every_replica_voted_without_consensus_reads_the_chain_then_adds_one() {
        let t = task(PoolTaskState::Active, 2);
        let replicates = [contributed(1, 1), contributed(2, 2)];
        assert_eq!(
            decide(&view(&t, &replicates, None), &policy()),
            [Action::ReadChain]
        );
        let active = chain(TaskStatus::Active);
        assert_eq!(
            decide(&view(&t, &replicates, Some(&active)), &policy()),
            [Action::Write(Write::Replicas(3)), Action::NotifyWork]
        );
        let revealing = chain(TaskStatus::Revealing);
        assert_eq!(
            decide(&view(&t, &replicates, Some(&revealing)), &policy()),
            [status(PoolTaskState::Revealing)]
        );
        for other in [TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Unset] {
            let c = chain(other);
            assert_eq!(
                decide(&view(&t, &replicates, Some(&c)), &policy()),
                [],
                "{other:?}"
            );
        }
        let unknown = ChainTask {
            status: None,
            ..active
        };
        assert_eq!(
            decide(&view(&t, &replicates, Some(&unknown)), &policy()),
            []
        );
    }

    #[test]
    fn no_consensus_at_the_replica_cap_gives_up() {
        let n = MAX_REPLICAS as u8;
        let t = task(PoolTaskState::Active, MAX_REPLICAS);
        let replicates: Vec<_> = (1..=n).map(|w| contributed(w, w)).collect();
        let active = chain(TaskStatus::Active);
        let actions = decide(&view(&t, &replicates, Some(&active)), &policy());
        assert!(
            is_give_up(&actions, "no consensus after 16 replicas"),
            "{actions:?}"
        );
        // One under the cap: one more.
        let t = task(PoolTaskState::Active, MAX_REPLICAS - 1);
        let actions = decide(&view(&t, &replicates[1..], Some(&active)), &policy());
        assert_eq!(actions[0], Action::Write(Write::Replicas(MAX_REPLICAS)));
    }

    #[test]
    fn app_faults_give_up_at_the_limit_or_without_other_workers() {
        let t = task(PoolTaskState::Active, 1);
        let two = [failed(1, Fault::App), failed(2, Fault::App)];
        let actions = decide(&view(&t, &two, None), &policy());
        assert!(
            is_give_up(&actions, "the app failed on 2 worker(s)"),
            "{actions:?}"
        );
        assert!(
            matches!(&actions[0], Action::GiveUp { detail: Some(d), .. } if d == "worker 2 failed")
        );
        // One fault, other workers free: wait for another worker.
        let one = [failed(1, Fault::App)];
        assert_eq!(decide(&view(&t, &one, None), &policy()), []);
        // One fault and no other live worker: give up.
        let alone = View {
            live_workers: 1,
            ..view(&t, &one, None)
        };
        let actions = decide(&alone, &policy());
        assert!(
            is_give_up(&actions, "the app failed on 1 worker(s)"),
            "{actions:?}"
        );
        // A higher limit waits.
        let lenient = Policy {
            app_fault_limit: 3,
            ..policy()
        };
        assert_eq!(decide(&view(&t, &two, None), &lenient), []);
        // Failures that are not the app's do not count here.
        let worker = [failed(1, Fault::Worker), failed(2, Fault::Transient)];
        assert_eq!(decide(&view(&t, &worker, None), &policy()), []);
    }

    #[test]
    fn revealing_tasks_follow_the_chain() {
        let t = task(PoolTaskState::Revealing, 2);
        let replicates = [contributed(1, 1), contributed(2, 1)];
        assert_eq!(
            decide(&view(&t, &replicates, None), &policy()),
            [Action::ReadChain]
        );
        let cases = [
            (
                TaskStatus::Completed,
                vec![status(PoolTaskState::Completed)],
            ),
            (TaskStatus::Failed, vec![status(PoolTaskState::Claimed)]),
            (TaskStatus::Active, vec![]),
            (TaskStatus::Unset, vec![]),
        ];
        for (on_chain, expected) in cases {
            let c = chain(on_chain);
            assert_eq!(
                decide(&view(&t, &replicates, Some(&c)), &policy()),
                expected,
                "{on_chain:?}"
            );
        }
    }

    #[test]
    fn reveal_candidates_agree_with_the_consensus_in_report_order() {
        let t = task(PoolTaskState::Revealing, 3);
        let mut aside = contributed(4, 1);
        aside.rejected = Some("bad archive".into());
        let replicates = [
            contributed(1, 2),                // another digest
            contributed(2, 1),                // agrees
            rep(3, ReplicateState::Failed),   // failed
            aside,                            // set aside
            rep(5, ReplicateState::Assigned), // no digest
            contributed(6, 1),                // agrees
        ];
        let c = chain(TaskStatus::Revealing);
        assert_eq!(
            decide(&view(&t, &replicates, Some(&c)), &policy()),
            [Action::Reveal {
                candidates: vec![
                    Candidate {
                        replicate: 1,
                        digest: B256::repeat_byte(1)
                    },
                    Candidate {
                        replicate: 5,
                        digest: B256::repeat_byte(1)
                    },
                ],
                reopen: false,
            }]
        );
    }

    #[test]
    fn reveal_deadline_reopens_and_nothing_to_do_waits() {
        let t = task(PoolTaskState::Revealing, 2);
        let none = [contributed(1, 2)];
        let c = chain(TaskStatus::Revealing);
        // No candidate, before the deadline: wait.
        assert_eq!(decide(&view(&t, &none, Some(&c)), &policy()), []);
        // At the deadline: reopen (with no candidate to try first).
        let late = View {
            now: 500,
            ..view(&t, &none, Some(&c))
        };
        assert_eq!(
            decide(&late, &policy()),
            [Action::Reveal {
                candidates: vec![],
                reopen: true
            }]
        );
    }

    #[test]
    fn deal_faults_need_a_confirmation_unless_nobody_can_give_it() {
        let t = task(PoolTaskState::Active, 1);
        let one = [failed(1, Fault::Deal)];
        assert_eq!(
            after_failure(
                &view(&t, &one, None),
                &policy(),
                Fault::Deal,
                Some("refused")
            ),
            [Action::NotifyWork]
        );
        let two = [failed(1, Fault::Deal), failed(2, Fault::Deal)];
        assert!(is_give_up(
            &after_failure(
                &view(&t, &two, None),
                &policy(),
                Fault::Deal,
                Some("refused")
            ),
            "refused"
        ));
        let alone = View {
            live_workers: 1,
            ..view(&t, &one, None)
        };
        assert!(is_give_up(
            &after_failure(&alone, &policy(), Fault::Deal, None),
            "the worker gave no reason"
        ));
        // Others contributed: a late refusal changes nothing.
        let late = [
            contributed(1, 1),
            failed(2, Fault::Deal),
            failed(3, Fault::Deal),
        ];
        assert_eq!(
            after_failure(&view(&t, &late, None), &policy(), Fault::Deal, None),
            []
        );
    }

    #[test]
    fn worker_and_passing_faults_count_an_attempt_with_backoff() {
        let mut t = task(PoolTaskState::Active, 1);
        let replicates = [failed(1, Fault::Worker)];
        for (failures, wait) in [(0, 2), (1, 4), (2, 8), (10, 300)] {
            t.failures = failures;
            for fault in [Fault::Worker, Fault::Transient] {
                assert_eq!(
                    after_failure(&view(&t, &replicates, None), &policy(), fault, None),
                    [Action::Write(Write::CountFailure {
                        not_before: 1_000 + wait
                    })],
                    "{failures} {fault:?}"
                );
            }
        }
        // A zero backoff still holds the task back one second.
        let quick = Policy {
            retry_backoff: Duration::ZERO,
            ..policy()
        };
        t.failures = 0;
        assert_eq!(
            after_failure(&view(&t, &replicates, None), &quick, Fault::Worker, None),
            [Action::Write(Write::CountFailure { not_before: 1_001 })]
        );
    }

    #[test]
    fn failures_of_app_or_of_tasks_not_active_decide_nothing_here() {
        let replicates = [failed(1, Fault::Deal)];
        let t = task(PoolTaskState::Active, 1);
        assert_eq!(
            after_failure(&view(&t, &replicates, None), &policy(), Fault::App, None),
            []
        );
        for s in [
            PoolTaskState::Revealing,
            PoolTaskState::Failed,
            PoolTaskState::Expired,
            PoolTaskState::Completed,
        ] {
            let t = task(s, 1);
            for fault in [Fault::Deal, Fault::Worker, Fault::Transient] {
                assert_eq!(
                    after_failure(&view(&t, &replicates, None), &policy(), fault, None),
                    [],
                    "{s} {fault:?}"
                );
            }
        }
    }

    #[test]
    fn l1_replica_cap_is_under_the_hub_cap() {
        const { assert!(MAX_REPLICAS <= 64 && MAX_REPLICAS >= 2) };
        // Every trust the pool can take needs fewer replicas than the cap.
        assert!(replicas_for(100) < MAX_REPLICAS as u64);
    }

    #[test]
    fn replicas_follow_the_hub_consensus_rule() {
        for (trust, replicas) in [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (100, 7)] {
            assert_eq!(replicas_for(trust), replicas, "trust {trust}");
        }
    }

    #[test]
    fn settle_modes_follow_the_deal() {
        let cases = [
            (true, 1, Mode::Fast),
            (true, 0, Mode::Fast),
            (false, 0, Mode::ContributeAndFinalize),
            (false, 1, Mode::ContributeAndFinalize),
            (false, 2, Mode::Contribute),
            (false, 100, Mode::Contribute),
        ];
        for (fast, trust, mode) in cases {
            assert_eq!(settle_mode(fast, trust), mode, "{fast} {trust}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(2);
        let waits: Vec<u64> = (0..12).map(|f| backoff(base, f).as_secs()).collect();
        assert_eq!(waits, [2, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(base, i64::MAX), MAX_BACKOFF);
    }

    #[test]
    fn exhausted_tasks_give_up_with_the_last_reason() {
        let mut t = task(PoolTaskState::Active, 1);
        t.failures = 5;
        let cases = [
            (vec![failed(1, Fault::Worker)], "the last: worker 1 failed"),
            (
                vec![failed(1, Fault::Worker), rep(2, ReplicateState::Lost)],
                "the last: the worker stopped answering",
            ),
            (vec![], "the last: unknown"),
        ];
        for (replicates, with) in cases {
            let action = exhausted(&t, &replicates);
            assert!(
                is_give_up(std::slice::from_ref(&action), with),
                "{action:?}"
            );
            assert!(is_give_up(
                std::slice::from_ref(&action),
                "after 5 failed attempts"
            ));
        }
        assert_eq!(policy().max_failures(), 5);
        let zero = Policy {
            max_attempts: 0,
            ..policy()
        };
        assert_eq!(zero.max_failures(), 1);
    }

    #[test]
    fn a_reopened_task_takes_one_more_replica_up_to_the_cap() {
        assert_eq!(
            after_reopen(&task(PoolTaskState::Revealing, 2)),
            [
                status(PoolTaskState::Active),
                Action::Write(Write::Replicas(3)),
                Action::NotifyWork
            ]
        );
        assert!(is_give_up(
            &after_reopen(&task(PoolTaskState::Revealing, MAX_REPLICAS)),
            "no consensus"
        ));
    }

    #[test]
    fn candidates_are_set_aside_after_their_attempts() {
        let mut r = contributed(1, 1);
        let w = r.worker;
        assert_eq!(
            after_unchecked(&r, "store down"),
            [Write::CountRevealAttempt { worker: w }]
        );
        assert_eq!(after_reveal_error(&r, false, "timeout"), None);
        let refused = after_reveal_error(&r, true, "RevealHappened");
        assert!(
            matches!(&refused, Some(Write::SetAside { reason, .. }) if reason.contains("is refused: RevealHappened"))
        );
        r.reveal_attempts = REVEAL_ATTEMPTS - 1;
        assert_eq!(
            after_unchecked(&r, "store down"),
            [
                Write::CountRevealAttempt { worker: w },
                Write::SetAside {
                    worker: w,
                    reason: "could not be checked: store down".into()
                }
            ]
        );
        let last = after_reveal_error(&r, false, "timeout");
        assert!(
            matches!(&last, Some(Write::SetAside { reason, .. }) if reason.contains("failed 3 times: timeout"))
        );
    }

    /// Each row: the task's status, its deadline, and whether it expires at chain time 100.
    #[test]
    fn tasks_expire_when_active_past_their_deadline() {
        use PoolTaskState::*;
        let cases = [
            (Active, 99, true),
            (Active, 100, true),
            (Active, 101, false),
            (Pending, 50, false),
            (Revealing, 50, false),
            (Completed, 50, false),
            (Failed, 50, false),
            (Expired, 50, false),
        ];
        for (status, deadline, expires) in cases {
            let t = TaskRow {
                deadline,
                ..task(status, 1)
            };
            let expected = if expires {
                vec![(
                    TASK,
                    vec![Write::Expire {
                        now: 100,
                        failure: DEADLINE_PASSED.to_owned(),
                    }],
                )]
            } else {
                vec![]
            };
            assert_eq!(
                expire_tasks(&[t], 100),
                expected,
                "{status:?}, deadline {deadline}"
            );
        }
    }

    fn lease(task: u8, worker: u8, state: ReplicateState, lease_until: i64) -> LeaseRow {
        LeaseRow {
            taskid: B256::repeat_byte(task),
            worker: Address::repeat_byte(worker),
            state,
            lease_until,
        }
    }

    /// Each row: the replicate's state, its lease's end, and whether it is lost at 100.
    #[test]
    fn leases_are_lost_when_assigned_past_their_end() {
        use ReplicateState::*;
        let cases = [
            (Assigned, 99, true),
            (Assigned, 100, false),
            (Assigned, 150, false),
            // A contribution, a result or a failure is kept whatever the lease.
            (Contributed, 50, false),
            (Done, 50, false),
            (Failed, 50, false),
            (Lost, 50, false),
        ];
        for (state, until, lost) in cases {
            let expected = if lost {
                vec![(
                    B256::repeat_byte(1),
                    vec![
                        Write::CountLoss { now: 100 },
                        Write::Lose {
                            worker: Address::repeat_byte(9),
                            now: 100,
                        },
                    ],
                )]
            } else {
                vec![]
            };
            assert_eq!(
                expire_leases(&[lease(1, 9, state, until)], 100),
                expected,
                "{state:?}, lease until {until}"
            );
        }
    }

    #[test]
    fn a_task_losing_several_replicates_counts_one_attempt() {
        let leases = [
            lease(1, 8, ReplicateState::Assigned, 10),
            lease(2, 8, ReplicateState::Assigned, 10),
            lease(1, 9, ReplicateState::Assigned, 20),
            lease(1, 7, ReplicateState::Contributed, 20),
        ];
        let lose = |worker: u8| Write::Lose {
            worker: Address::repeat_byte(worker),
            now: 100,
        };
        let count = Write::CountLoss { now: 100 };
        assert_eq!(
            expire_leases(&leases, 100),
            vec![
                (B256::repeat_byte(1), vec![count.clone(), lose(8), lose(9)]),
                (B256::repeat_byte(2), vec![count, lose(8)]),
            ]
        );
        assert_eq!(expire_leases(&[], 100), vec![]);
    }

    #[test]
    fn a_refused_reopen_gives_up_and_writes_failed() {
        let action = after_reopen_refused("TaskNotActive");
        assert!(is_give_up(
            std::slice::from_ref(&action),
            "refuses to reopen"
        ));
        assert!(matches!(
            action.write(),
            Some(Write::Status {
                status: PoolTaskState::Failed,
                failure: Some(_),
                results: None
            })
        ));
        assert_eq!(Action::NotifyWork.write(), None);
    }
}
