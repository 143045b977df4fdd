//! The pool's choice of whom to ask for a task's replicas. The on-chain rule decides
//! consensus ([`crate::consensus`]); this module decides which workers vote.
//!
//! [`decide`] is a pure function of the task's trust, the replicas already asked (with their
//! odds and votes), the candidates (on-chain score, pool record, operator hints) and the pairs
//! the pool has seen agree on a wrong value; randomness comes from the caller's RNG, so the
//! scheduler and the simulation ([`crate::sim`]) run the same code. Its rules:
//!
//! 1. **Exclusion.** A worker caught against the consensus is never asked (until the operator
//!    re-admits it, which clears [`Record::caught`]).
//! 2. **Admission.** A trust-1 task (settled by one contribution) goes only to a worker the
//!    operator marked trusted or, in an open pool, to a qualified one (a streak of at least
//!    [`Config::min_streak`] agreeing results in this pool).
//! 3. **Weights.** The replicas asked must reach the trust on chain if they agree: the policy
//!    counts the odds of the replicas already asked and asks only for the missing weight,
//!    preferring one qualified worker whose odds alone reach it, then a pair, then the smallest
//!    group of the heaviest workers. A worker without a streak in this pool is never asked
//!    alone, whatever its on-chain score (scores can be farmed in a pool one controls); a
//!    group includes a qualified worker whenever one can join.
//! 4. **Spot checks.** When one worker would settle a task alone, another worker is asked
//!    first, with probability `spot_check / (streak + 1)` (at least `training_rate` while
//!    unqualified workers wait for work: they are trained as checkers). The checker votes
//!    first, so a dissent keeps the single heavy vote from reaching consensus.
//! 5. **Correlation.** No two replicas of a task go to workers seen agreeing on a wrong value or
//!    sharing an operator hint (network prefix, registration time window).
//! 6. **Useless replicas.** Once the task reached consensus, every replica still pending is
//!    useless: the decision names them so the scheduler tells them to stop before they pay gas.

use alloy_primitives::U256;
use rand::{seq::SliceRandom, Rng};

use crate::consensus::credibility;

/// Who may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The operator's allowlist only; trust-1 work only to workers it marked trusted.
    Closed,
    /// Anyone; trust-1 work only to trusted or qualified workers.
    Open,
}

/// The policy's tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Closed or open pool.
    pub admission: Admission,
    /// Agreeing results in this pool before a worker is qualified (asked alone, trust-1 work in
    /// open pools).
    pub min_streak: u32,
    /// Spot-check probability numerator: a lone worker with streak `s` is checked with
    /// probability `spot_check / (s + 1)` (capped at 1).
    pub spot_check: f64,
    /// Least spot-check probability while unqualified workers are eligible, so that newcomers
    /// earn a streak as checkers.
    pub training_rate: f64,
    /// Two workers registered less than this many seconds apart are never asked for the same
    /// task (0 disables the rule).
    pub registration_window: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            admission: Admission::Open,
            min_streak: 20,
            spot_check: 2.0,
            training_rate: 0.05,
            registration_window: 0,
        }
    }
}

/// A worker's history in this pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// Results of this worker proved in this pool (agreeing with the consensus), since it
    /// joined or was re-admitted.
    pub streak: u32,
    /// Contributed against the consensus (or failed to prove its vote): excluded until the
    /// operator re-admits it.
    pub caught: bool,
    /// Marked trusted by the operator.
    pub trusted: bool,
}

/// What the operator knows about where a worker runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// The pool's key for the worker's network prefix (an IPv4 /24 or IPv6 /48 as a number).
    pub network: Option<u64>,
    /// When the worker registered (Unix seconds).
    pub registered_at: Option<u64>,
}

/// A worker the pool could ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<W> {
    /// Its id (address).
    pub worker: W,
    /// Its on-chain score now (its vote's odds are [`credibility`] of it).
    pub score: u64,
    /// Its history in the pool.
    pub record: Record,
    /// The operator's hints.
    pub hints: Hints,
}

/// A replica already asked for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked<W> {
    /// The worker.
    pub worker: W,
    /// Its odds (from its score when asked; the hub fixes them when it contributes).
    pub w: u64,
    /// The value it voted (any id the caller gives each distinct result hash), or `None` while
    /// it has not contributed.
    pub vote: Option<u32>,
    /// Its operator hints.
    pub hints: Hints,
}

/// The task being decided.
#[derive(Debug, Clone, Copy)]
pub struct TaskView<'a, W> {
    /// The deal's trust.
    pub trust: u64,
    /// The task reached consensus on chain.
    pub consensus: bool,
    /// The replicas asked so far.
    pub asked: &'a [Asked<W>],
}

/// Why the policy cannot ask anyone although the task needs more votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// A trust-1 task and no trusted (or, in an open pool, qualified) worker is eligible.
    NoTrustedWorker,
    /// No eligible worker is left to ask.
    NoCandidate,
    /// The eligible workers together cannot reach the trust; all of them were asked.
    NotEnoughWeight,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<W> {
    /// Ask these workers now (in this order: a spot checker comes alone, before the worker it
    /// checks).
    pub ask: Vec<W>,
    /// Tell these pending replicas to stop: the task no longer needs them.
    pub useless: Vec<W>,
    /// Set when the task needs votes the policy could not find.
    pub shortfall: Option<Shortfall>,
}

impl<W> Decision<W> {
    fn wait() -> Self {
        Self {
            ask: Vec::new(),
            useless: Vec::new(),
            shortfall: None,
        }
    }

    fn short(reason: Shortfall) -> Self {
        Self {
            shortfall: Some(reason),
            ..Self::wait()
        }
    }
}

/// Whether the operator's hints tie two workers together.
pub fn share_hint(a: &Hints, b: &Hints, registration_window: u64) -> bool {
    if let (Some(x), Some(y)) = (a.network, b.network) {
        if x == y {
            return true;
        }
    }
    if let (Some(x), Some(y)) = (a.registered_at, b.registered_at) {
        if registration_window > 0 && x.abs_diff(y) < registration_window {
            return true;
        }
    }
    false
}

/// Whether a worker may settle a task alone or be asked without a qualified peer.
pub fn qualified(config: &Config, record: &Record) -> bool {
    !record.caught && (record.trusted || record.streak >= config.min_streak)
}

/// Whether a worker may take trust-1 work in this pool.
pub fn trust_one_allowed(config: &Config, record: &Record) -> bool {
    !record.caught
        && match config.admission {
            Admission::Closed => record.trusted,
            Admission::Open => record.trusted || record.streak >= config.min_streak,
        }
}

/// The probability of spot-checking a lone worker with this record.
pub fn spot_check_probability(config: &Config, record: &Record, trainees: bool) -> f64 {
    let p = (config.spot_check / (f64::from(record.streak) + 1.0)).min(1.0);
    if trainees {
        p.max(config.training_rate)
    } else {
        p
    }
}

/// The smallest product of odds that new agreeing votes must add for the leading value to
/// reach `trust`, given the votes and the pending replicas (assumed to vote the leading value);
/// 1 when the pending ones suffice.
pub fn missing_weight<W>(trust: u64, asked: &[Asked<W>]) -> U256 {
    // Groups of the values voted (product of odds), and the product of the pending odds.
    let mut groups: Vec<(u32, U256)> = Vec::new();
    let mut pending = U256::from(1);
    for a in asked {
        let w = U256::from(a.w);
        match a.vote {
            None => pending = pending.saturating_mul(w),
            Some(v) => match groups.iter_mut().find(|(id, _)| *id == v) {
                Some((_, g)) => *g = g.saturating_mul(w),
                None => groups.push((v, w)),
            },
        }
    }
    let lead = groups
        .iter()
        .map(|(_, g)| *g)
        .max()
        .unwrap_or(U256::from(1));
    let all: U256 = groups
        .iter()
        .fold(U256::ZERO, |s, (_, g)| s.saturating_add(*g));
    let rest = if groups.is_empty() {
        U256::ZERO
    } else {
        all - lead
    };
    // The hub's test G·T > (rest + G + 1)(T − 1) is G > (rest + 1)(T − 1).
    let bar = rest
        .saturating_add(U256::from(1))
        .saturating_mul(U256::from(trust.saturating_sub(1)));
    let have = lead.saturating_mul(pending);
    if have > bar && !(groups.is_empty() && asked.is_empty()) {
        return U256::from(1);
    }
    // Smallest X with have · X > bar.
    bar / have + U256::from(1)
}

/// Decides whom to ask for a task (see the module documentation for the rules).
/// `candidates` are the workers available now (already asked ones are skipped);
/// `colluders` the pairs seen agreeing on a wrong value.
pub fn decide<W: Clone + PartialEq, R: Rng + ?Sized>(
    config: &Config,
    task: &TaskView<'_, W>,
    candidates: &[Candidate<W>],
    colluders: &[(W, W)],
    rng: &mut R,
) -> Decision<W> {
    let pending: Vec<W> = task
        .asked
        .iter()
        .filter(|a| a.vote.is_none())
        .map(|a| a.worker.clone())
        .collect();
    if task.consensus {
        return Decision {
            useless: pending,
            ..Decision::wait()
        };
    }
    let tied = |a: &W, ha: &Hints, b: &W, hb: &Hints| {
        share_hint(ha, hb, config.registration_window)
            || colluders
                .iter()
                .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
    };
    let mut eligible: Vec<&Candidate<W>> = candidates
        .iter()
        .filter(|c| {
            !c.record.caught
                && task.asked.iter().all(|a| {
                    a.worker != c.worker && !tied(&a.worker, &a.hints, &c.worker, &c.hints)
                })
        })
        .collect();
    eligible.shuffle(rng);

    if task.trust <= 1 {
        if !task.asked.is_empty() {
            return Decision::wait();
        }
        return match eligible
            .iter()
            .find(|c| trust_one_allowed(config, &c.record))
        {
            Some(c) => Decision {
                ask: vec![c.worker.clone()],
                ..Decision::wait()
            },
            None => Decision::short(Shortfall::NoTrustedWorker),
        };
    }

    let missing = missing_weight(task.trust, task.asked);
    if missing <= U256::from(1) && !task.asked.is_empty() {
        return Decision::wait();
    }
    if eligible.is_empty() {
        return Decision::short(if pending.is_empty() {
            Shortfall::NoCandidate
        } else {
            Shortfall::NotEnoughWeight
        });
    }
    let w = |c: &Candidate<W>| U256::from(credibility(c.score));
    let is_q = |c: &Candidate<W>| qualified(config, &c.record);

    // One qualified worker whose odds alone reach it.
    let solo = eligible
        .iter()
        .find(|c| is_q(c) && w(c) >= missing)
        .copied();
    if let Some(lone) = solo {
        if task.asked.is_empty() {
            let trainees = eligible.iter().any(|c| !is_q(c));
            let p = spot_check_probability(config, &lone.record, trainees);
            if rng.gen_bool(p) {
                // A checker first: a trainee when there is one, else another qualified worker.
                let checker = eligible
                    .iter()
                    .filter(|c| c.worker != lone.worker)
                    .find(|c| !is_q(c))
                    .or_else(|| eligible.iter().find(|c| c.worker != lone.worker));
                if let Some(checker) = checker {
                    return Decision {
                        ask: vec![checker.worker.clone()],
                        ..Decision::wait()
                    };
                }
            }
        }
        return Decision {
            ask: vec![lone.worker.clone()],
            ..Decision::wait()
        };
    }

    // A pair (with a qualified worker when any is eligible) whose product reaches it.
    let any_q = eligible.iter().any(|c| is_q(c));
    for a in eligible.iter().filter(|c| is_q(c) || !any_q) {
        let need = missing.div_ceil(w(a));
        if let Some(b) = eligible.iter().find(|b| {
            b.worker != a.worker && w(b) >= need && !tied(&a.worker, &a.hints, &b.worker, &b.hints)
        }) {
            return Decision {
                ask: vec![a.worker.clone(), b.worker.clone()],
                ..Decision::wait()
            };
        }
    }

    // The heaviest workers (qualified first at equal odds), until the product reaches it.
    eligible.sort_by_key(|c| std::cmp::Reverse((credibility(c.score), is_q(c))));
    let mut group: Vec<&Candidate<W>> = Vec::new();
    let mut product = U256::from(1);
    if let Some(first_q) = eligible.iter().find(|c| is_q(c)) {
        group.push(first_q);
        product = w(first_q);
    }
    for c in &eligible {
        if product >= missing {
            break;
        }
        if group
            .iter()
            .any(|g| g.worker == c.worker || tied(&g.worker, &g.hints, &c.worker, &c.hints))
        {
            continue;
        }
        product = product.saturating_mul(w(c));
        group.push(c);
    }
    Decision {
        ask: group.iter().map(|c| c.worker.clone()).collect(),
        useless: Vec::new(),
        shortfall: (product < missing).then_some(Shortfall::NotEnoughWeight),
    }
}
