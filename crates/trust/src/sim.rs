//! A pool of workers, some of them saboteurs, running tasks under a replication policy
//! against the consensus model. `make bench-trust` (the `bench_trust` example) runs it.
//!
//! Worker kinds:
//! - **honest**: votes the right value;
//! - **saboteur**: on a task where the saboteurs cheat (probability `cheat_rate`, drawn once
//!   per task so that they collude) votes the same wrong value; a stealthy pool has a
//!   `cheat_rate` below 1; with `sybil`, a saboteur excluded by the pool re-joins at once
//!   with a fresh key (score 0, no history);
//! - **patient saboteur** (`patient`): votes right until it has a streak in the pool, then
//!   cheats like the others;
//! - **lazy**: copies the value of the heaviest group already on chain when there is one (it
//!   then cannot prove it: its seal needs the digest), else computes honestly.
//!
//! Policies: [`Strategy::Blind`] asks random workers one at a time until the hub reaches
//! consensus and never excludes anyone (iExec's scheduler); [`Strategy::Poco`] asks whom
//! [`policy::decide`] says. Both settle through [`Task`]: scores, stakes and the
//! consensus are the hub's. Operator hints are random (the saboteurs evade them), so the
//! policy gets no free information from them.

use std::collections::HashMap;

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use crate::{
    consensus::{credibility, Task, TaskStatus, Terms},
    policy::{self, Asked, Candidate, Hints, Record, TaskView},
};

/// The right result of every task (saboteurs vote [`WRONG`]).
const RIGHT: u32 = 0;
const WRONG: u32 = 1;

/// The money terms of the simulated deals (1 RLC per task, 30 % stake, 1 % for the scheduler).
const TERMS: Terms = Terms {
    workerpool_price: 1_000_000_000,
    worker_stake: 300_000_000,
    scheduler_ratio: 1,
};

/// A pool's population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    /// Fraction of saboteurs (F).
    pub saboteurs: f64,
    /// Fraction of the tasks on which the saboteurs cheat (S).
    pub cheat_rate: f64,
    /// Fraction of lazy workers.
    pub lazy: f64,
    /// Excluded saboteurs re-join with fresh keys.
    pub sybil: bool,
    /// Saboteurs vote right until they have [`PATIENT_STREAK`] proved results in the pool,
    /// then cheat like the others.
    pub patient: bool,
}

/// The pool history a patient saboteur builds before it cheats (the default policy's
/// [`policy::Config::min_streak`]).
pub const PATIENT_STREAK: u32 = 20;

/// How the pool picks replicas.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Random workers one at a time until consensus; nobody is excluded.
    Blind,
    /// [`policy::decide`] with this configuration.
    Poco(policy::Config),
}

/// The size of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// Workers in the pool.
    pub workers: usize,
    /// The deals' trust.
    pub trust: u64,
    /// Fraction of the workers idle when a task is scheduled (the others are busy and cannot
    /// be asked); drawn at random for each task.
    pub idle: f64,
    /// Tasks run before measuring (scores and histories build up).
    pub warmup: usize,
    /// Tasks measured.
    pub tasks: usize,
    /// The RNG seed.
    pub seed: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Tasks measured.
    pub tasks: u64,
    /// Tasks finalized with a wrong result.
    pub errors: u64,
    /// Tasks that ended without consensus (claimed: the requester is refunded).
    pub failed: u64,
    /// Replicas asked (the scheduler's work orders, useless ones included).
    pub replicas: u64,
    /// Sum of the squares of the replicas per task (for the confidence interval).
    pub replicas_sq: u64,
    /// Workers excluded during the measured tasks.
    pub excluded: u64,
    /// Honest workers excluded during the whole run, warm-up included (outvoted by a wrong
    /// consensus that a qualified saboteur won).
    pub honest_excluded: u64,
}

impl Outcome {
    /// Adds another run's counts.
    pub fn merge(&mut self, other: &Outcome) {
        self.tasks += other.tasks;
        self.errors += other.errors;
        self.failed += other.failed;
        self.replicas += other.replicas;
        self.replicas_sq += other.replicas_sq;
        self.excluded += other.excluded;
        self.honest_excluded += other.honest_excluded;
    }

    /// Wrong results per task.
    pub fn error_rate(&self) -> f64 {
        ratio(self.errors, self.tasks)
    }

    /// Replicas per task.
    pub fn replicas_per_task(&self) -> f64 {
        ratio(self.replicas, self.tasks)
    }

    /// The Wilson 95 % interval of the error rate.
    pub fn error_ci95(&self) -> (f64, f64) {
        wilson(self.errors, self.tasks)
    }

    /// The normal 95 % interval of the replicas per task.
    pub fn replicas_ci95(&self) -> (f64, f64) {
        let n = self.tasks as f64;
        if n < 2.0 {
            return (0.0, 0.0);
        }
        let mean = self.replicas as f64 / n;
        let var = (self.replicas_sq as f64 / n - mean * mean).max(0.0) * n / (n - 1.0);
        let half = 1.96 * (var / n).sqrt();
        (mean - half, mean + half)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Wilson score interval at 95 % for `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let zero = k == 0;
    let z = 1.96f64;
    let n = n as f64;
    let p = k as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    let lo = if zero { 0.0 } else { (centre - half).max(0.0) };
    (lo, (centre + half).min(1.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Honest,
    Saboteur,
    Lazy,
}

#[derive(Debug, Clone)]
struct Worker {
    id: u64,
    kind: Kind,
    score: u64,
    record: Record,
    hints: Hints,
}

struct World {
    rng: StdRng,
    workers: Vec<Worker>,
    slot: HashMap<u64, usize>,
    next_id: u64,
    /// Pairs seen agreeing on a losing value (only live, non-excluded pairs are kept).
    colluders: Vec<(u64, u64)>,
    patient: bool,
}

impl World {
    fn new(pool: &Pool, setup: &Setup) -> Self {
        let mut rng = StdRng::seed_from_u64(setup.seed);
        let saboteurs = (pool.saboteurs * setup.workers as f64).round() as usize;
        let lazy = (pool.lazy * setup.workers as f64).round() as usize;
        let mut world = World {
            rng: StdRng::seed_from_u64(rng.gen()),
            workers: Vec::new(),
            slot: HashMap::new(),
            next_id: 0,
            colluders: Vec::new(),
            patient: pool.patient,
        };
        for i in 0..setup.workers {
            let kind = if i < saboteurs {
                Kind::Saboteur
            } else if i < saboteurs + lazy {
                Kind::Lazy
            } else {
                Kind::Honest
            };
            let worker = world.fresh(kind, 0);
            world.slot.insert(worker.id, i);
            world.workers.push(worker);
        }
        world
    }

    fn fresh(&mut self, kind: Kind, now: u64) -> Worker {
        self.next_id += 1;
        Worker {
            id: self.next_id,
            kind,
            score: 0,
            record: Record::default(),
            hints: Hints {
                network: Some(self.rng.gen_range(0..1024)),
                registered_at: Some(now + self.rng.gen_range(0..30 * 86_400)),
            },
        }
    }

    /// The workers idle for this task (a random `idle` fraction, at least one).
    fn idle(&mut self, idle: f64) -> Vec<usize> {
        let mut slots: Vec<usize> = (0..self.workers.len()).collect();
        slots.shuffle(&mut self.rng);
        let keep = ((idle * slots.len() as f64).round() as usize).clamp(1, slots.len());
        slots.truncate(keep);
        slots
    }

    fn candidates(&self, idle: &[usize]) -> Vec<Candidate<u64>> {
        idle.iter()
            .map(|&s| &self.workers[s])
            .map(|w| Candidate {
                worker: w.id,
                score: w.score,
                record: w.record,
                hints: w.hints,
            })
            .collect()
    }

    /// The vote of worker `slot` on `task`; the bool is false when it cannot prove it.
    fn vote(&self, slot: usize, cheat: bool, task: &Task<u64, u32>) -> (u32, bool) {
        let worker = &self.workers[slot];
        match worker.kind {
            Kind::Honest => (RIGHT, true),
            Kind::Saboteur => {
                let ready = !self.patient || worker.record.streak >= PATIENT_STREAK;
                (if cheat && ready { WRONG } else { RIGHT }, true)
            }
            Kind::Lazy => {
                let groups = task.groups().unwrap_or_default();
                match groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| !g.is_zero())
                    .max_by_key(|(_, g)| **g)
                {
                    Some((id, _)) => (task.values()[id], false),
                    None => (RIGHT, true),
                }
            }
        }
    }
}

/// Runs `setup.warmup` then `setup.tasks` tasks of `pool` under `strategy`; returns what the
/// measured tasks gave.
pub fn run(pool: &Pool, strategy: &Strategy, setup: &Setup) -> Outcome {
    // The blind pool keeps records too (it never reads them).
    let config = match strategy {
        Strategy::Poco(config) => config.clone(),
        Strategy::Blind => policy::Config::default(),
    };
    let mut world = World::new(pool, setup);
    let mut outcome = Outcome::default();
    for n in 0..setup.warmup + setup.tasks {
        let measured = n >= setup.warmup;
        let now = n as u64 * 60;
        let cheat = world.rng.gen_bool(pool.cheat_rate);
        let mut task: Task<u64, u32> =
            Task::new(setup.trust).expect("the setup's trust is at least 1");
        let mut unprovable: Vec<u64> = Vec::new();
        let mut asked = 0u64;
        let mut contribute =
            |world: &mut World, task: &mut Task<u64, u32>, slot: usize| -> Option<u32> {
                let (value, provable) = world.vote(slot, cheat, task);
                let w = &world.workers[slot];
                task.contribute(w.id, value, w.score).ok()?;
                if !provable {
                    unprovable.push(w.id);
                }
                Some(value)
            };
        match strategy {
            Strategy::Blind => {
                for slot in world.idle(setup.idle) {
                    if task.status() != TaskStatus::Active {
                        break;
                    }
                    asked += 1;
                    if contribute(&mut world, &mut task, slot).is_none() {
                        break;
                    }
                }
            }
            Strategy::Poco(config) => {
                let idle = world.idle(setup.idle);
                let candidates = world.candidates(&idle);
                let mut replicas: Vec<Asked<u64>> = Vec::new();
                let mut pending: std::collections::VecDeque<u64> = Default::default();
                loop {
                    let view = TaskView {
                        trust: setup.trust,
                        consensus: task.status() != TaskStatus::Active,
                        asked: &replicas,
                    };
                    let colluders = world.colluders.clone();
                    let decision =
                        policy::decide(config, &view, &candidates, &colluders, &mut world.rng);
                    if task.status() != TaskStatus::Active {
                        break;
                    }
                    // Told to stop before contributing (still counted as asked).
                    pending.retain(|p| !decision.useless.contains(p));
                    for id in decision.ask {
                        let w = &world.workers[world.slot[&id]];
                        replicas.push(Asked {
                            worker: id,
                            w: credibility(w.score),
                            vote: None,
                            hints: w.hints,
                        });
                        pending.push_back(id);
                        asked += 1;
                    }
                    let Some(id) = pending.pop_front() else {
                        break;
                    };
                    let slot = world.slot[&id];
                    let Some(value) = contribute(&mut world, &mut task, slot) else {
                        break;
                    };
                    if let Some(r) = replicas.iter_mut().find(|r| r.worker == id) {
                        r.vote = Some(value);
                    }
                }
            }
        }
        let consensus = task.consensus().copied();
        if measured {
            outcome.tasks += 1;
            outcome.replicas += asked;
            outcome.replicas_sq += asked * asked;
            match consensus {
                None => outcome.failed += 1,
                Some(v) if v != RIGHT => outcome.errors += 1,
                Some(_) => {}
            }
        }
        if consensus.is_none() {
            continue; // claimed: stakes back, scores unchanged
        }
        let scores: HashMap<u64, u64> = task
            .contributions()
            .iter()
            .map(|c| (c.worker, world.workers[world.slot[&c.worker]].score))
            .collect();
        let settlement = task
            .reveal_and_finalize(|w| !unprovable.contains(w), &TERMS, |w| scores[w])
            .expect("a task in consensus with a provable voter settles");
        let losers: Vec<(u64, usize)> = settlement
            .payouts
            .iter()
            .filter(|p| !p.proved)
            .map(|p| {
                let value = task
                    .contributions()
                    .iter()
                    .find(|c| c.worker == p.worker)
                    .map_or(0, |c| c.value);
                (p.worker, value)
            })
            .collect();
        let winners: Vec<Record> = settlement
            .payouts
            .iter()
            .filter(|p| p.proved)
            .map(|p| world.workers[world.slot[&p.worker]].record)
            .collect();
        let confirmed = policy::confirmed(&config, &winners);
        for p in &settlement.payouts {
            let slot = world.slot[&p.worker];
            let w = &mut world.workers[slot];
            w.score = p.score;
            policy::record_outcome(&mut w.record, p.proved, confirmed);
        }
        if let (Strategy::Poco(_), true) = (strategy, confirmed) {
            for (i, (a, va)) in losers.iter().enumerate() {
                for (b, vb) in &losers[i + 1..] {
                    if va == vb {
                        world.colluders.push((*a, *b));
                    }
                }
            }
            for (id, _) in &losers {
                let slot = world.slot[id];
                if measured {
                    outcome.excluded += 1;
                }
                if world.workers[slot].kind == Kind::Honest {
                    outcome.honest_excluded += 1;
                }
                if pool.sybil && world.workers[slot].kind == Kind::Saboteur {
                    let fresh = world.fresh(Kind::Saboteur, now);
                    world.slot.remove(id);
                    world.slot.insert(fresh.id, slot);
                    world.workers[slot] = fresh;
                }
            }
            // Excluded workers are never asked again: only pairs of live ones matter.
            let live = |id: &u64| {
                world
                    .slot
                    .get(id)
                    .is_some_and(|&s| !world.workers[s].record.caught)
            };
            world.colluders.retain(|(a, b)| live(a) && live(b));
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(seed: u64) -> Setup {
        Setup {
            workers: 100,
            trust: 100,
            idle: 0.5,
            warmup: 1_500,
            tasks: 1_500,
            seed,
        }
    }

    const HONEST: Pool = Pool {
        saboteurs: 0.0,
        cheat_rate: 1.0,
        lazy: 0.0,
        sybil: false,
        patient: false,
    };

    #[test]
    fn an_honest_pool_never_errs_and_excludes_nobody() {
        for strategy in [Strategy::Blind, Strategy::Poco(policy::Config::default())] {
            let o = run(&HONEST, &strategy, &setup(1));
            assert_eq!(
                (o.tasks, o.errors, o.failed, o.excluded),
                (1_500, 0, 0, 0),
                "{strategy:?}"
            );
            assert!(
                o.replicas >= o.tasks,
                "{strategy:?}: every task needs a replica"
            );
        }
    }

    #[test]
    fn saboteurs_are_excluded_and_replaced_under_the_policy_only() {
        let pool = Pool {
            saboteurs: 0.3,
            ..HONEST
        };
        let sybil = Pool {
            sybil: true,
            ..pool
        };
        let blind = run(&sybil, &Strategy::Blind, &setup(2));
        let poco = run(
            &sybil,
            &Strategy::Poco(policy::Config::default()),
            &setup(2),
        );
        assert_eq!(blind.excluded, 0);
        assert!(poco.excluded > 0, "{poco:?}");
        assert_eq!(poco.honest_excluded, 0, "{poco:?}");
        assert!(poco.errors <= blind.errors, "{poco:?} vs {blind:?}");
        assert!(poco.replicas < blind.replicas, "{poco:?} vs {blind:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let pool = Pool {
            saboteurs: 0.2,
            cheat_rate: 0.1,
            ..HONEST
        };
        let strategy = Strategy::Poco(policy::Config::default());
        assert_eq!(
            run(&pool, &strategy, &setup(3)),
            run(&pool, &strategy, &setup(3))
        );
    }

    #[test]
    fn wilson_intervals_bracket_the_rate() {
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(0, 18_000);
        assert_eq!(lo, 0.0);
        assert!(hi > 1e-4 && hi < 3e-4, "{hi}");
        let (lo, hi) = wilson(11, 18_000);
        assert!(lo < 11.0 / 18_000.0 && 11.0 / 18_000.0 < hi);
    }
}
