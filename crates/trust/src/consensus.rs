//! The hub's consensus rule (Proof-of-Contribution) as `contracts/src/hub/TaskModule.sol`
//! computes it, in the same integer arithmetic and with the same rounding.
//!
//! - A worker's credibility odds `w = min(max(⌊score / 3⌋, 3) − 1, 65535)`, fixed when it
//!   contributes ([`credibility`]).
//! - The group of a value is the product of `w` over its voters that are not rejected; `total`
//!   is the sum of all groups. After each contribution the hub tests the value just voted:
//!   `group × trust > (total + 1) × (trust − 1)` ([`reaches_consensus`]). Products and sums are
//!   checked 256-bit arithmetic: an overflow reverts on chain and is an error here.
//! - At finalize, each proved worker gets its stake back and
//!   `workersReward × ⌊log₂ w⌋ / Σ⌊log₂ w⌋`, where `workersReward = (price + stake × losers) ×
//!   (100 − schedulerRatio) / 100`; its score rises by 1 when the task had more than one
//!   contributor. Every other contributor loses its stake and its score falls to
//!   `⌊score × 2 / 3⌋` ([`Task::finalize`]).
//!
//! Time is not modelled: the caller says whether the reveal deadline has passed.

use alloy_primitives::U256;

/// At most this many contributions per task, rejected ones included (`MAX_CONTRIBUTORS`).
pub const MAX_CONTRIBUTORS: usize = 64;
/// At most this many distinct result values per task (`Packing.MAX_VALUES`).
pub const MAX_VALUES: usize = 64;
/// The cap on a vote's credibility odds (`Packing.MAX_W`, 16 bits).
pub const MAX_W: u64 = 0xffff;

/// Why the hub would refuse a call on a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    /// Trust 0 has no consensus rule (the hub computes `trust − 1`).
    #[error("trust 0 is not a valid trust level: use 1 (one result accepted) or more")]
    ZeroTrust,
    /// The call needs an ACTIVE task.
    #[error("the task is {0:?}, not active: contributions are accepted only before consensus")]
    NotActive(TaskStatus),
    /// The call needs a REVEALING task.
    #[error("the task is {0:?}, not revealing: reveal, reopen and finalize come after consensus")]
    NotRevealing(TaskStatus),
    /// The worker already voted on this task.
    #[error("this worker already contributed to the task: a worker votes once per task")]
    AlreadyContributed,
    /// The task has [`MAX_CONTRIBUTORS`] contributions.
    #[error("the task already has {MAX_CONTRIBUTORS} contributions: ask no more replicas")]
    TooManyContributors,
    /// The task has [`MAX_VALUES`] distinct values and this vote is a new one.
    #[error("the task already has {MAX_VALUES} distinct values: a new value is refused")]
    TooManyValues,
    /// A group product or sum exceeds 2²⁵⁶ (the hub reverts with an arithmetic panic).
    #[error(
        "a consensus group exceeds 2^256 and the hub would revert: ask fewer high-weight replicas"
    )]
    Overflow,
    /// The worker is not a contributor of the task.
    #[error("this worker did not contribute to the task, so it has nothing to reveal")]
    NotAContributor,
    /// The worker's vote is not the consensus value, or it was already proved or rejected.
    #[error(
        "this contribution is not an unrevealed vote for the consensus value: only those reveal"
    )]
    NotInConsensus,
    /// `reopen` after a reveal.
    #[error("a voter already revealed, so the task cannot be reopened: finalize it instead")]
    RevealHappened,
    /// `finalize` before the reveals it needs.
    #[error("{reveals} of {winners} winners revealed: wait for all of them, or for the reveal deadline with at least one")]
    RevealsPending {
        /// Voters of the consensus proved so far.
        reveals: usize,
        /// Voters of the consensus.
        winners: usize,
    },
    /// A scheduler ratio above 100.
    #[error("scheduler reward ratio {0} is above 100: it is a percentage")]
    BadRatio(u8),
}

/// A task's state on the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Accepting contributions.
    Active,
    /// Consensus reached; reveals expected.
    Revealing,
    /// Finalized.
    Completed,
}

/// A contribution's state on the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContributionStatus {
    /// Voted, not revealed.
    Contributed,
    /// Revealed (or proved by the scheduler's `revealAndFinalize`).
    Proved,
    /// Rejected by `reopen`: its vote no longer counts.
    Rejected,
}

/// One vote on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution<W> {
    /// Who voted.
    pub worker: W,
    /// Index of the voted value in [`Task::values`].
    pub value: usize,
    /// The credibility odds the vote was weighed with.
    pub w: u64,
    /// Where the vote stands.
    pub status: ContributionStatus,
}

/// What one accepted contribution did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The voter's credibility odds.
    pub w: u64,
    /// The vote reached the consensus (the task is now REVEALING).
    pub consensus: bool,
}

/// The money terms of a deal that settlement needs, in nRLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The workerpool price per task.
    pub workerpool_price: u128,
    /// The stake each contribution locks.
    pub worker_stake: u128,
    /// The scheduler's share of the rewards, in percent.
    pub scheduler_ratio: u8,
}

/// One contributor's outcome at finalize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout<W> {
    /// The contributor.
    pub worker: W,
    /// Proved (stake returned, rewarded, score + 1 on a replicated task) or not (stake seized,
    /// score cut to two thirds).
    pub proved: bool,
    /// Its reward on top of the returned stake (0 when not proved).
    pub reward: u128,
    /// Its score after settlement.
    pub score: u64,
}

/// The result of finalizing a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement<W> {
    /// One entry per contribution, in contribution order.
    pub payouts: Vec<Payout<W>>,
    /// What the scheduler receives of the rewards (its ratio plus rounding; its own stake and
    /// the kitty share are not modelled).
    pub scheduler_reward: u128,
}

/// The credibility odds of a worker with `score`: `min(max(⌊score / 3⌋, 3) − 1, 65535)`.
pub fn credibility(score: u64) -> u64 {
    ((score / 3).max(3) - 1).min(MAX_W)
}

/// The reward weight of a vote with odds `w`: `⌊log₂ w⌋` (0 for `w ≤ 1`).
pub fn reward_weight(w: u64) -> u64 {
    if w <= 1 {
        0
    } else {
        u64::from(63 - w.leading_zeros())
    }
}

/// The hub's test: `group × trust > (total + 1) × (trust − 1)`, where `total` is the sum of
/// all groups (the vote's included). Errors on trust 0 and on 256-bit overflow.
pub fn reaches_consensus(group: U256, total: U256, trust: u64) -> Result<bool, ConsensusError> {
    if trust == 0 {
        return Err(ConsensusError::ZeroTrust);
    }
    let trust = U256::from(trust);
    let left = group.checked_mul(trust).ok_or(ConsensusError::Overflow)?;
    let right = total
        .checked_add(U256::from(1))
        .and_then(|t| t.checked_mul(trust - U256::from(1)))
        .ok_or(ConsensusError::Overflow)?;
    Ok(left > right)
}

/// Whether votes with odds `ws`, all for one value and with no other vote, reach `trust`
/// (false when the product overflows, as the hub would revert).
pub fn agreeing_reach(ws: impl IntoIterator<Item = u64>, trust: u64) -> bool {
    let mut group = U256::from(1);
    for w in ws {
        match group.checked_mul(U256::from(w)) {
            Some(g) => group = g,
            None => return false,
        }
    }
    reaches_consensus(group, group, trust).unwrap_or(false)
}

/// A classic task as the hub keeps it, generic over the worker id `W` and the result value `V`
/// (the result hash on chain).
#[derive(Debug, Clone)]
pub struct Task<W, V> {
    trust: u64,
    status: TaskStatus,
    values: Vec<V>,
    contributions: Vec<Contribution<W>>,
    consensus: Option<usize>,
    winners: usize,
    reveals: usize,
}

impl<W: Clone + PartialEq, V: Clone + PartialEq> Task<W, V> {
    /// An ACTIVE task of a deal with `trust` (at least 1).
    pub fn new(trust: u64) -> Result<Self, ConsensusError> {
        if trust == 0 {
            return Err(ConsensusError::ZeroTrust);
        }
        Ok(Self {
            trust,
            status: TaskStatus::Active,
            values: Vec::new(),
            contributions: Vec::new(),
            consensus: None,
            winners: 0,
            reveals: 0,
        })
    }

    /// The deal's trust.
    pub fn trust(&self) -> u64 {
        self.trust
    }

    /// The task's status.
    pub fn status(&self) -> TaskStatus {
        self.status
    }

    /// The distinct values voted, by value id (first vote first).
    pub fn values(&self) -> &[V] {
        &self.values
    }

    /// The contributions, in order.
    pub fn contributions(&self) -> &[Contribution<W>] {
        &self.contributions
    }

    /// The consensus value, once reached (kept after finalize).
    pub fn consensus(&self) -> Option<&V> {
        self.consensus.map(|id| &self.values[id])
    }

    /// The group of each value (product of the odds of its voters that are not rejected; 0 for
    /// a value with no such voter), by value id.
    pub fn groups(&self) -> Result<Vec<U256>, ConsensusError> {
        let mut groups = vec![U256::ZERO; self.values.len()];
        for c in &self.contributions {
            if c.status == ContributionStatus::Rejected {
                continue;
            }
            let g = &mut groups[c.value];
            *g = if g.is_zero() {
                U256::from(c.w)
            } else {
                g.checked_mul(U256::from(c.w))
                    .ok_or(ConsensusError::Overflow)?
            };
        }
        Ok(groups)
    }

    /// `worker`, whose score is `score` now, votes `value`. On success the vote is recorded
    /// (its stake is locked on chain) and the task moves to REVEALING when it reaches the
    /// consensus. On error nothing changes, as when the hub reverts.
    pub fn contribute(&mut self, worker: W, value: V, score: u64) -> Result<Vote, ConsensusError> {
        if self.status != TaskStatus::Active {
            return Err(ConsensusError::NotActive(self.status));
        }
        if self.contributions.len() >= MAX_CONTRIBUTORS {
            return Err(ConsensusError::TooManyContributors);
        }
        let id = self.values.iter().position(|v| *v == value);
        if id.is_none() && self.values.len() == MAX_VALUES {
            return Err(ConsensusError::TooManyValues);
        }
        if self.contributions.iter().any(|c| c.worker == worker) {
            return Err(ConsensusError::AlreadyContributed);
        }
        let id = id.unwrap_or(self.values.len());
        let w = credibility(score);
        let mut groups = self.groups()?;
        if id == groups.len() {
            groups.push(U256::ZERO);
        }
        let before = groups[id];
        let group = if before.is_zero() {
            U256::from(w)
        } else {
            before
                .checked_mul(U256::from(w))
                .ok_or(ConsensusError::Overflow)?
        };
        groups[id] = group;
        let mut total = U256::ZERO;
        for g in &groups {
            total = total.checked_add(*g).ok_or(ConsensusError::Overflow)?;
        }
        let consensus = reaches_consensus(group, total, self.trust)?;
        if id == self.values.len() {
            self.values.push(value);
        }
        self.contributions.push(Contribution {
            worker,
            value: id,
            w,
            status: ContributionStatus::Contributed,
        });
        if consensus {
            self.status = TaskStatus::Revealing;
            self.consensus = Some(id);
            self.reveals = 0;
            self.winners = self
                .contributions
                .iter()
                .filter(|c| c.value == id && c.status != ContributionStatus::Rejected)
                .count();
        }
        Ok(Vote { w, consensus })
    }

    /// `worker` reveals its vote for the consensus value (the hub also checks the digest
    /// against the value and the worker's seal; a caller models a mismatch by not revealing).
    pub fn reveal(&mut self, worker: &W) -> Result<(), ConsensusError> {
        if self.status != TaskStatus::Revealing {
            return Err(ConsensusError::NotRevealing(self.status));
        }
        let c = self
            .contributions
            .iter_mut()
            .find(|c| c.worker == *worker)
            .ok_or(ConsensusError::NotAContributor)?;
        if c.status != ContributionStatus::Contributed || Some(c.value) != self.consensus {
            return Err(ConsensusError::NotInConsensus);
        }
        c.status = ContributionStatus::Proved;
        self.reveals += 1;
        Ok(())
    }

    /// The scheduler's `reopen` after the reveal deadline with no reveal: every voter of the
    /// consensus value is rejected and the task is ACTIVE again.
    pub fn reopen(&mut self) -> Result<(), ConsensusError> {
        if self.status != TaskStatus::Revealing {
            return Err(ConsensusError::NotRevealing(self.status));
        }
        if self.reveals != 0 {
            return Err(ConsensusError::RevealHappened);
        }
        let id = self.consensus;
        for c in &mut self.contributions {
            if c.status == ContributionStatus::Contributed && Some(c.value) == id {
                c.status = ContributionStatus::Rejected;
            }
        }
        self.status = TaskStatus::Active;
        self.consensus = None;
        self.winners = 0;
        Ok(())
    }

    /// The scheduler's `finalize`: needs every winner revealed, or at least one and the reveal
    /// deadline passed. `score` gives each contributor's score at settlement time.
    pub fn finalize(
        &mut self,
        reveal_deadline_passed: bool,
        terms: &Terms,
        score: impl Fn(&W) -> u64,
    ) -> Result<Settlement<W>, ConsensusError> {
        if self.status != TaskStatus::Revealing {
            return Err(ConsensusError::NotRevealing(self.status));
        }
        if self.reveals != self.winners && (self.reveals == 0 || !reveal_deadline_passed) {
            return Err(ConsensusError::RevealsPending {
                reveals: self.reveals,
                winners: self.winners,
            });
        }
        self.settle(terms, score)
    }

    /// The scheduler's `revealAndFinalize`: proves every unrevealed voter of the consensus for
    /// which `seal_matches` (the others count as non-revealers), then settles. Needs at least
    /// one proved voter.
    pub fn reveal_and_finalize(
        &mut self,
        seal_matches: impl Fn(&W) -> bool,
        terms: &Terms,
        score: impl Fn(&W) -> u64,
    ) -> Result<Settlement<W>, ConsensusError> {
        if self.status != TaskStatus::Revealing {
            return Err(ConsensusError::NotRevealing(self.status));
        }
        if terms.scheduler_ratio > 100 {
            return Err(ConsensusError::BadRatio(terms.scheduler_ratio));
        }
        let id = self.consensus;
        let mut proved = 0;
        let mut promoted = Vec::new();
        for (i, c) in self.contributions.iter().enumerate() {
            let mut status = c.status;
            if status == ContributionStatus::Contributed
                && Some(c.value) == id
                && seal_matches(&c.worker)
            {
                promoted.push(i);
                status = ContributionStatus::Proved;
            }
            if status == ContributionStatus::Proved {
                proved += 1;
            }
        }
        if proved == 0 {
            return Err(ConsensusError::RevealsPending {
                reveals: 0,
                winners: self.winners,
            });
        }
        for i in promoted {
            self.contributions[i].status = ContributionStatus::Proved;
        }
        self.reveals = proved;
        self.settle(terms, score)
    }

    fn settle(
        &mut self,
        terms: &Terms,
        score: impl Fn(&W) -> u64,
    ) -> Result<Settlement<W>, ConsensusError> {
        if terms.scheduler_ratio > 100 {
            return Err(ConsensusError::BadRatio(terms.scheduler_ratio));
        }
        let count = self.contributions.len();
        let mut total_reward = terms.workerpool_price;
        let mut total_weight: u128 = 0;
        for c in &self.contributions {
            if c.status == ContributionStatus::Proved {
                total_weight += u128::from(reward_weight(c.w));
            } else {
                total_reward += terms.worker_stake;
            }
        }
        let workers_reward = total_reward * u128::from(100 - terms.scheduler_ratio) / 100;
        let mut paid = 0;
        let payouts = self
            .contributions
            .iter()
            .map(|c| {
                let before = score(&c.worker);
                if c.status == ContributionStatus::Proved {
                    // total_weight > 0: a proved vote has w ≥ 2, so weight ≥ 1.
                    let reward = workers_reward * u128::from(reward_weight(c.w)) / total_weight;
                    paid += reward;
                    let score = if count > 1 && before < u64::MAX {
                        before + 1
                    } else {
                        before
                    };
                    Payout {
                        worker: c.worker.clone(),
                        proved: true,
                        reward,
                        score,
                    }
                } else {
                    Payout {
                        worker: c.worker.clone(),
                        proved: false,
                        reward: 0,
                        // ⌊score × 2 / 3⌋ in 256 bits on chain: no overflow for a u64 score.
                        score: (u128::from(before) * 2 / 3) as u64,
                    }
                }
            })
            .collect();
        self.status = TaskStatus::Completed;
        Ok(Settlement {
            payouts,
            scheduler_reward: total_reward - paid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credibility_follows_the_protocol_table() {
        for (score, w) in [(0, 2), (11, 2), (12, 3), (100, 32), (300, 99), (303, 100)] {
            assert_eq!(credibility(score), w, "score {score}");
        }
        assert_eq!(credibility(u64::MAX), MAX_W);
        assert_eq!(reward_weight(2), 1);
        assert_eq!(reward_weight(3), 1);
        assert_eq!(reward_weight(4), 2);
        assert_eq!(reward_weight(99), 6);
    }

    #[test]
    fn fresh_agreeing_votes_needed_match_the_protocol_table() {
        for (trust, votes) in [
            (1, 1),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (8, 3),
            (9, 4),
            (16, 4),
            (100, 7),
        ] {
            let need = (1..=64).find(|&k| agreeing_reach(std::iter::repeat_n(2, k), trust));
            assert_eq!(need, Some(votes), "trust {trust}");
        }
    }

    #[test]
    fn a_dissent_delays_consensus_as_in_the_protocol_example() -> Result<(), ConsensusError> {
        let mut t = Task::new(3)?;
        assert!(!t.contribute('a', "v", 0)?.consensus);
        assert!(!t.contribute('b', "v2", 0)?.consensus);
        // 4 · 3 > 7 · 2 is false
        assert!(!t.contribute('c', "v", 0)?.consensus);
        // 8 · 3 > 11 · 2
        assert!(t.contribute('d', "v", 0)?.consensus);
        assert_eq!(t.consensus(), Some(&"v"));
        assert_eq!(
            t.contribute('e', "v", 0),
            Err(ConsensusError::NotActive(TaskStatus::Revealing))
        );
        Ok(())
    }

    #[test]
    fn settlement_matches_the_protocol_example() -> Result<(), ConsensusError> {
        const RLC: u128 = 1_000_000_000;
        let mut t = Task::new(3)?;
        // C's dissent comes second, so D's vote is needed (as in docs/protocol.md §7.2).
        for (w, v) in [('a', 1), ('c', 2), ('b', 1), ('d', 1)] {
            t.contribute(w, v, 0)?;
        }
        let terms = Terms {
            workerpool_price: 2 * RLC,
            worker_stake: 6 * RLC / 10,
            scheduler_ratio: 1,
        };
        let s = t.reveal_and_finalize(|_| true, &terms, |_| 7)?;
        let rewards: Vec<_> = s
            .payouts
            .iter()
            .map(|p| (p.worker, p.proved, p.reward, p.score))
            .collect();
        assert_eq!(
            rewards,
            vec![
                ('a', true, 858_000_000, 8),
                ('c', false, 0, 4),
                ('b', true, 858_000_000, 8),
                ('d', true, 858_000_000, 8)
            ]
        );
        assert_eq!(s.scheduler_reward, 26_000_000);
        Ok(())
    }

    #[test]
    fn reopen_rejects_the_unrevealed_consensus_and_its_weight() -> Result<(), ConsensusError> {
        let mut t = Task::new(2)?;
        assert!(t.contribute(1u8, 'x', 0)?.consensus);
        t.reopen()?;
        assert_eq!(t.status(), TaskStatus::Active);
        assert_eq!(t.groups()?, vec![U256::ZERO]);
        assert_eq!(
            t.contribute(1u8, 'y', 0),
            Err(ConsensusError::AlreadyContributed)
        );
        assert!(t.contribute(2u8, 'y', 0)?.consensus);
        t.reveal(&2)?;
        assert_eq!(t.reopen(), Err(ConsensusError::RevealHappened));
        assert_eq!(t.reveal(&1), Err(ConsensusError::NotInConsensus));
        let terms = Terms {
            workerpool_price: 100,
            worker_stake: 10,
            scheduler_ratio: 0,
        };
        let s = t.finalize(false, &terms, |_| 30)?;
        assert_eq!(
            s.payouts[0],
            Payout {
                worker: 1,
                proved: false,
                reward: 0,
                score: 20
            }
        );
        assert_eq!(
            s.payouts[1],
            Payout {
                worker: 2,
                proved: true,
                reward: 110,
                score: 31
            }
        );
        Ok(())
    }

    #[test]
    fn a_lone_winner_keeps_its_score_and_finalize_waits_for_reveals() -> Result<(), ConsensusError>
    {
        let mut t = Task::new(3)?;
        assert!(t.contribute(1u8, 'x', 12)?.consensus);
        let terms = Terms {
            workerpool_price: 100,
            worker_stake: 10,
            scheduler_ratio: 5,
        };
        assert_eq!(
            t.finalize(true, &terms, |_| 12).unwrap_err(),
            ConsensusError::RevealsPending {
                reveals: 0,
                winners: 1
            }
        );
        t.reveal(&1)?;
        let s = t.finalize(false, &terms, |_| 12)?;
        assert_eq!(s.payouts[0].score, 12);
        assert_eq!(s.payouts[0].reward, 95);
        assert_eq!(s.scheduler_reward, 5);
        Ok(())
    }

    #[test]
    fn huge_groups_overflow_like_the_hub() {
        let mut t = Task::new(u64::from(u32::MAX)).expect("trust");
        let mut err = None;
        for i in 0..40u8 {
            // Two values of equal weight: the test never passes at this trust, the groups grow.
            if let Err(e) = t.contribute(i, i % 2, u64::MAX) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ConsensusError::Overflow));
    }
}
