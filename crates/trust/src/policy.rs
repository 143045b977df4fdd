//! The pool's choice of whom to ask for a task's replicas. The on-chain rule decides
//! consensus ([`crate::consensus`]); this module decides which workers vote.
//!
//! [`decide`] is a pure function of the task's trust, the replicas already asked (with their
//! odds and votes), the candidates (on-chain score, pool record, operator hints) and the pairs
//! the pool has seen agree on a wrong value; randomness comes from the caller's RNG, so the
//! scheduler and the simulation ([`crate::sim`]) run the same code. Its rules:
//!
//! 1. **Exclusion.** A worker caught against the consensus is never asked (until the operator
//!    re-admits it, which clears [`Record::caught`]). Caught means: its vote was not proved in
//!    a consensus that a qualified worker won ([`confirmed`], [`record_outcome`]); against a
//!    consensus of newcomers only, it just loses its streak.
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
//!    first, so a dissent keeps the single heavy vote from reaching consensus; a checker
//!    whose odds alone would reach the trust cannot check (its vote would settle the task),
//!    so at a low trust only fresh workers can check.
//! 5. **Correlation.** No two replicas of a task go to workers seen agreeing on a wrong value or
//!    sharing an operator hint (network prefix, registration time window).
//! 6. **Useless replicas.** A pending replica is useless once the votes and the other pending
//!    replicas reach the trust without it, and every pending replica is once the task reached
//!    consensus: the decision names them so the scheduler tells them to stop before they pay
//!    gas (a refused or reverted contribution).

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

/// Whether a consensus is one the pool trusts enough to exclude the workers who voted against
/// it: at least one of its winners (proved voters) is qualified. A consensus among newcomers
/// only may be a collusion that outvoted honest workers: then losers lose their streak but
/// are not excluded.
pub fn confirmed(config: &Config, winners: &[Record]) -> bool {
    winners.iter().any(|r| qualified(config, r))
}

/// Updates a worker's record after a finalized task it contributed to: a proved vote extends
/// its streak; a vote that was not proved excludes it when the consensus was
/// [`confirmed`], else it restarts its streak.
pub fn record_outcome(record: &mut Record, proved: bool, confirmed: bool) {
    if proved {
        record.streak = record.streak.saturating_add(1);
    } else if confirmed {
        record.caught = true;
    } else {
        record.streak = 0;
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
    if have > bar {
        return U256::from(1);
    }
    // Smallest X with have · X > bar.
    bar / have + U256::from(1)
}

/// The pending replicas the others (votes and pending ones) do not need to reach `trust` if
/// they agree, lightest first.
fn unneeded<W: Clone + PartialEq>(trust: u64, asked: &[Asked<W>]) -> Vec<W> {
    let mut kept: Vec<Asked<W>> = asked.to_vec();
    let mut order: Vec<&Asked<W>> = asked.iter().filter(|a| a.vote.is_none()).collect();
    order.sort_by_key(|a| a.w);
    let mut useless = Vec::new();
    for pending in order {
        // Found by worker: earlier removals shift the positions of the others.
        let Some(i) = kept.iter().position(|k| k.worker == pending.worker) else {
            continue;
        };
        let mut without = kept.clone();
        let dropped = without.remove(i);
        if missing_weight(trust, &without) <= U256::from(1) {
            useless.push(dropped.worker);
            kept = without;
        }
    }
    useless
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
    if missing <= U256::from(1) {
        return Decision {
            useless: unneeded(task.trust, task.asked),
            ..Decision::wait()
        };
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

    // One qualified worker whose odds alone reach it; or, next to replicas already asked,
    // any one worker.
    let solo = eligible
        .iter()
        .find(|c| is_q(c) && w(c) >= missing)
        .or_else(|| {
            eligible
                .iter()
                .find(|c| !task.asked.is_empty() && w(c) >= missing)
        })
        .copied();
    if let Some(lone) = solo {
        if task.asked.is_empty() {
            // A checker must not settle the task by itself: its vote comes first, and a vote
            // that reaches the trust alone ends the task before the checked worker votes.
            let can_check = |c: &&&Candidate<W>| c.worker != lone.worker && w(c) < missing;
            let trainees = eligible.iter().filter(can_check).any(|c| !is_q(c));
            let p = spot_check_probability(config, &lone.record, trainees);
            if rng.gen_bool(p) {
                // A checker first: a trainee when there is one, else another qualified worker.
                let checker = eligible
                    .iter()
                    .filter(can_check)
                    .find(|c| !is_q(c))
                    .or_else(|| eligible.iter().find(can_check));
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

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    /// No spot checks, no training: the weight rules alone.
    fn plain() -> Config {
        Config {
            spot_check: 0.0,
            training_rate: 0.0,
            ..Config::default()
        }
    }

    fn worker(id: u32, score: u64, streak: u32) -> Candidate<u32> {
        Candidate {
            worker: id,
            score,
            record: Record {
                streak,
                ..Record::default()
            },
            hints: Hints::default(),
        }
    }

    fn voted(id: u32, w: u64, vote: Option<u32>) -> Asked<u32> {
        Asked {
            worker: id,
            w,
            vote,
            hints: Hints::default(),
        }
    }

    fn ask(
        config: &Config,
        trust: u64,
        asked: &[Asked<u32>],
        cands: &[Candidate<u32>],
    ) -> Decision<u32> {
        let mut rng = StdRng::seed_from_u64(1);
        ask_with(config, trust, asked, cands, &[], &mut rng)
    }

    /// A decision on a task not in consensus, with colluders and the caller's RNG.
    fn ask_with(
        config: &Config,
        trust: u64,
        asked: &[Asked<u32>],
        cands: &[Candidate<u32>],
        colluders: &[(u32, u32)],
        rng: &mut StdRng,
    ) -> Decision<u32> {
        let task = TaskView {
            trust,
            consensus: false,
            asked,
        };
        decide(config, &task, cands, colluders, rng)
    }

    #[test]
    fn a_caught_worker_is_never_asked() {
        let mut heavy = worker(1, 3_000, 500);
        heavy.record.caught = true;
        let cands = [heavy.clone(), worker(2, 0, 0)];
        for trust in [1, 3, 100] {
            let d = ask(&plain(), trust, &[], &cands);
            assert!(!d.ask.contains(&1), "trust {trust}: {d:?}");
        }
        let d = ask(&plain(), 1, &[], &[heavy]);
        assert_eq!(d.shortfall, Some(Shortfall::NoTrustedWorker));
    }

    #[test]
    fn trust_one_goes_only_to_trusted_or_qualified_workers() {
        let open = plain();
        let closed = Config {
            admission: Admission::Closed,
            ..plain()
        };
        let sybil = worker(1, 1_000_000, 0); // a fresh key with a farmed score
        let veteran = worker(2, 0, open.min_streak);
        let mut trusted = worker(3, 0, 0);
        trusted.record.trusted = true;
        // (pool configuration, candidates, the worker asked or none)
        type Case<'a> = (&'a Config, Vec<Candidate<u32>>, Option<u32>);
        let cases: [Case<'_>; 5] = [
            (&open, vec![sybil.clone()], None),
            (&open, vec![sybil.clone(), veteran.clone()], Some(2)),
            (&open, vec![sybil.clone(), trusted.clone()], Some(3)),
            (&closed, vec![sybil.clone(), veteran.clone()], None),
            (&closed, vec![veteran, trusted], Some(3)),
        ];
        for (i, (config, cands, expected)) in cases.iter().enumerate() {
            let d = ask(config, 1, &[], cands);
            match expected {
                Some(id) => assert_eq!(d.ask, vec![*id], "case {i}"),
                None => {
                    assert!(d.ask.is_empty(), "case {i}: {d:?}");
                    assert_eq!(d.shortfall, Some(Shortfall::NoTrustedWorker), "case {i}");
                }
            }
        }
        // One replica at a time for trust 1.
        let d = ask(&open, 1, &[voted(2, 2, None)], &[worker(4, 0, 100)]);
        assert!(d.ask.is_empty() && d.shortfall.is_none(), "{d:?}");
    }

    #[test]
    fn weights_decide_how_many_replicas_are_asked() {
        let config = plain();
        let q = config.min_streak;
        // (trust, candidates as (score, streak), asked, expected number asked)
        type Case = (u64, Vec<(u64, u32)>, Vec<Asked<u32>>, usize);
        let cases: Vec<Case> = vec![
            // The case: score 12 gives w = 3, which alone makes trust 3.
            (3, vec![(12, q), (0, q), (0, q)], vec![], 1),
            // w = 100 alone makes trust 100.
            (100, vec![(303, q), (0, q), (0, q)], vec![], 1),
            // w = 99 does not: a pair (99 · 2 > 99 needs the second vote).
            (100, vec![(300, q), (0, q), (0, q)], vec![], 2),
            // Unqualified heavy workers are never asked alone: pair with a qualified one.
            (100, vec![(3_000, 0), (33, q), (0, 0)], vec![], 2),
            // Fresh workers only: seven votes for trust 100, four for trust 16.
            (100, (0..10).map(|_| (0, 0)).collect(), vec![], 7),
            (16, (0..10).map(|_| (0, 0)).collect(), vec![], 4),
            // Replicas already asked count: three pending fresh votes, trust 16 needs one more.
            (
                16,
                (0..10).map(|_| (0, 0)).collect(),
                (100..103).map(|i| voted(i, 2, None)).collect(),
                1,
            ),
            // Enough pending weight: nobody more.
            (
                16,
                (0..10).map(|_| (0, 0)).collect(),
                (100..104).map(|i| voted(i, 2, None)).collect(),
                0,
            ),
            // A checker voted (w = 2): a worker with w ≥ 50 completes trust 100.
            (100, vec![(153, q), (0, q)], vec![voted(100, 2, Some(0))], 1),
            // A dissent raises the bar: 2 vs 100 needs a third vote of w ≥ 3.
            (
                100,
                vec![(12, q), (0, q)],
                vec![voted(100, 2, Some(1)), voted(101, 100, Some(0))],
                1,
            ),
        ];
        for (i, (trust, cands, asked, expected)) in cases.iter().enumerate() {
            let cands: Vec<_> = cands
                .iter()
                .enumerate()
                .map(|(id, (score, streak))| worker(id as u32, *score, *streak))
                .collect();
            let d = ask(&config, *trust, asked, &cands);
            assert_eq!(d.ask.len(), *expected, "case {i}: {d:?}");
            assert_eq!(d.shortfall, None, "case {i}");
            // What was asked reaches the trust if every vote agrees with the leading value.
            if *expected > 0 {
                let mut all = asked.clone();
                for id in &d.ask {
                    all.push(voted(*id, credibility(cands[*id as usize].score), None));
                }
                assert_eq!(missing_weight(*trust, &all), U256::from(1), "case {i}");
            }
        }
    }

    #[test]
    fn a_lone_heavy_worker_is_spot_checked_less_as_its_streak_grows() {
        let config = Config {
            spot_check: 4.0,
            training_rate: 0.0,
            ..Config::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut rates = Vec::new();
        for streak in [config.min_streak, 99, 399] {
            let cands = [worker(1, 303, streak), worker(2, 0, 500)];
            let mut checks = 0;
            for _ in 0..4_000 {
                let d = ask_with(&config, 100, &[], &cands, &[], &mut rng);
                if d.ask == vec![2] {
                    checks += 1;
                } else {
                    assert_eq!(d.ask, vec![1]);
                }
            }
            let expected = 4.0 / (f64::from(streak) + 1.0);
            let rate = f64::from(checks) / 4_000.0;
            assert!(
                (rate - expected).abs() < 0.02,
                "streak {streak}: {rate} vs {expected}"
            );
            rates.push(rate);
        }
        assert!(rates[0] > rates[1] && rates[1] > rates[2], "{rates:?}");
    }

    #[test]
    fn trainees_check_first_and_the_heavy_worker_comes_after() {
        let config = Config {
            spot_check: 0.0,
            training_rate: 1.0,
            ..Config::default()
        };
        let cands = [worker(1, 303, 1_000), worker(2, 0, 0), worker(3, 0, 1_000)];
        let d = ask(&config, 100, &[], &cands);
        assert_eq!(d.ask, vec![2], "the trainee checks first: {d:?}");
        let d = ask(&config, 100, &[voted(2, 2, Some(0))], &cands);
        assert_eq!(d.ask, vec![1], "then the heavy worker: {d:?}");
    }

    #[test]
    fn a_checker_never_settles_the_task_by_itself() {
        let config = Config {
            spot_check: 1_000.0,
            ..Config::default()
        };
        let q = config.min_streak;
        // Trust 3: a score of 12 settles alone, so only the fresh worker 3 can check.
        let cands = [worker(1, 12, q), worker(2, 60, 0), worker(3, 0, 0)];
        let d = ask(&config, 3, &[], &cands);
        assert_eq!(d.ask, vec![3], "{d:?}");
        // Nobody light enough: no check, the lone worker goes alone.
        let cands = [worker(1, 12, q), worker(2, 60, 0)];
        let d = ask(&config, 3, &[], &cands);
        assert_eq!(d.ask, vec![1], "{d:?}");
    }

    #[test]
    fn correlated_workers_never_share_a_task() {
        let config = Config {
            registration_window: 3_600,
            ..plain()
        };
        let q = config.min_streak;
        let mut same_net = worker(1, 60, q);
        same_net.hints.network = Some(42);
        let mut same_time = worker(2, 60, q);
        same_time.hints.registered_at = Some(10_000);
        let colluder = worker(3, 60, q);
        let fine = worker(4, 0, q);
        let asked = [Asked {
            worker: 9,
            w: 2,
            vote: Some(0),
            hints: Hints {
                network: Some(42),
                registered_at: Some(12_000),
            },
        }];
        let mut rng = StdRng::seed_from_u64(3);
        let cands = [same_net, same_time, colluder, fine];
        for _ in 0..50 {
            let d = ask_with(&config, 100, &asked, &cands, &[(3, 9)], &mut rng);
            assert!(d.ask.iter().all(|&id| id == 4), "{d:?}");
        }
        // Within one decision too: a pair is never two colluders.
        let cands = [worker(5, 33, q), worker(6, 33, q), worker(7, 33, q)];
        for _ in 0..50 {
            let d = ask_with(&config, 100, &[], &cands, &[(5, 6)], &mut rng);
            assert_eq!(d.ask.len(), 2, "{d:?}");
            assert!(!(d.ask.contains(&5) && d.ask.contains(&6)), "{d:?}");
        }
    }

    #[test]
    fn pending_replicas_become_useless_at_consensus() {
        let asked = [voted(1, 100, Some(0)), voted(2, 2, None), voted(3, 2, None)];
        let mut rng = StdRng::seed_from_u64(1);
        let d = decide(
            &plain(),
            &TaskView {
                trust: 3,
                consensus: true,
                asked: &asked,
            },
            &[worker(4, 0, 100)],
            &[],
            &mut rng,
        );
        assert_eq!(d.useless, vec![2, 3]);
        assert!(d.ask.is_empty());
    }

    #[test]
    fn a_pending_replica_the_others_do_not_need_is_useless() {
        // The case: w = 3 makes trust 3 alone, the fresh second replica is useless.
        let asked = [voted(1, 2, None), voted(2, 3, None)];
        let d = ask(&plain(), 3, &asked, &[worker(4, 0, 100)]);
        assert_eq!(
            (d.ask.clone(), d.useless.clone()),
            (vec![], vec![1]),
            "{d:?}"
        );
        // In any order (the heavier replica asked or listed first).
        let asked = [voted(2, 3, None), voted(1, 2, None)];
        let d = ask(&plain(), 3, &asked, &[worker(4, 0, 100)]);
        assert_eq!(
            (d.ask.clone(), d.useless.clone()),
            (vec![], vec![1]),
            "{d:?}"
        );
        let asked = [voted(3, 3, None), voted(2, 2, None), voted(1, 2, None)];
        let d = ask(&plain(), 3, &asked, &[]);
        assert_eq!(d.useless, vec![2, 1], "{d:?}");
        // A vote already in counts too.
        let asked = [voted(1, 3, Some(0)), voted(2, 2, None)];
        let d = ask(&plain(), 3, &asked, &[]);
        assert_eq!(d.useless, vec![2], "{d:?}");
        // Both needed: nothing is useless.
        let asked = [voted(1, 2, None), voted(2, 2, None)];
        let d = ask(&plain(), 3, &asked, &[]);
        assert!(d.ask.is_empty() && d.useless.is_empty(), "{d:?}");
    }

    #[test]
    fn only_a_confirmed_consensus_excludes_its_losers() {
        let config = plain();
        let veteran = Record {
            streak: config.min_streak,
            ..Record::default()
        };
        let newcomer = Record {
            streak: 3,
            ..Record::default()
        };
        assert!(confirmed(&config, &[newcomer, veteran]));
        assert!(!confirmed(&config, &[newcomer, newcomer]));
        let cases = [
            (
                true,
                true,
                Record {
                    streak: 4,
                    ..newcomer
                },
            ),
            (
                true,
                false,
                Record {
                    streak: 4,
                    ..newcomer
                },
            ),
            (
                false,
                true,
                Record {
                    caught: true,
                    ..newcomer
                },
            ),
            (
                false,
                false,
                Record {
                    streak: 0,
                    ..newcomer
                },
            ),
        ];
        for (proved, confirmed, expected) in cases {
            let mut r = newcomer;
            record_outcome(&mut r, proved, confirmed);
            assert_eq!(r, expected, "proved {proved}, confirmed {confirmed}");
        }
    }

    #[test]
    fn not_enough_weight_is_reported() {
        let d = ask(&plain(), 1_000, &[], &[worker(1, 0, 0), worker(2, 0, 0)]);
        assert_eq!(d.ask.len(), 2);
        assert_eq!(d.shortfall, Some(Shortfall::NotEnoughWeight));
        let d = ask(&plain(), 100, &[voted(1, 2, Some(0))], &[]);
        assert_eq!(d.shortfall, Some(Shortfall::NoCandidate));
    }
}
