//! `make bench-trust`: the blind policy (iExec's: random workers until the hub reaches
//! consensus, nobody excluded) and poco's policy, each against the consensus model, in three
//! pools of 100 workers with colluding saboteurs (F 0.2 S 1.0, F 0.2 S 0.1, F 0.35 S 1.0) that
//! re-join with fresh keys when excluded, plus a pool with lazy workers and one whose saboteurs
//! build a history before they cheat. Prints a table and
//! writes `target/bench/trust.json`.
//!
//! Columns: wrong results per measured task with its Wilson 95 % interval; replicas asked per
//! task with its 95 % interval; tasks that ended without consensus; workers the policy
//! excluded during the measured tasks; honest workers excluded during the whole run.
//!
//! Options: `--out PATH`, `--seed N` (default: random, printed), `--runs N` independent runs
//! per row (default 3), `--warmup N` tasks before measuring (default 3000), `--tasks N`
//! measured tasks per run (default 18000), `--trust N` (default 100), `--idle F` the fraction
//! of the workers idle (askable) when a task is scheduled (default 1: everyone), and the
//! policy's `--min-streak N` and `--spot-check C` (defaults of `policy::Config`).

#![allow(clippy::disallowed_macros)] // prints its report

use std::path::PathBuf;

use poco_trust::{
    policy::Config,
    sim::{run, Outcome, Pool, Setup, Strategy},
};

struct Args {
    out: PathBuf,
    seed: u64,
    runs: u64,
    warmup: usize,
    tasks: usize,
    trust: u64,
    idle: f64,
    policy: Config,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::from("target/bench/trust.json"),
        seed: rand::random(),
        runs: 3,
        warmup: 3_000,
        tasks: 18_000,
        trust: 100,
        idle: 1.0,
        policy: Config::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see the doc comment of bench_trust)"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} {v}: expected a whole number"))
        };
        match flag.as_str() {
            "--out" => args.out = PathBuf::from(value),
            "--seed" => args.seed = number(&value)?,
            "--runs" => args.runs = number(&value)?.max(1),
            "--warmup" => args.warmup = number(&value)? as usize,
            "--tasks" => args.tasks = number(&value)?.max(1) as usize,
            "--trust" => args.trust = number(&value)?.max(1),
            "--min-streak" => args.policy.min_streak = number(&value)? as u32,
            "--spot-check" => {
                args.policy.spot_check = value
                    .parse::<f64>()
                    .ok()
                    .filter(|c| *c >= 0.0)
                    .ok_or_else(|| format!("--spot-check {value}: expected a number ≥ 0"))?
            }
            "--idle" => {
                args.idle = value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f > 0.0 && *f <= 1.0)
                    .ok_or_else(|| format!("--idle {value}: expected a fraction in (0, 1]"))?
            }
            other => {
                return Err(format!(
                "unknown option {other}: use --out, --seed, --runs, --warmup, --tasks, --trust, --idle, --min-streak or --spot-check"
            ))
            }
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    println!(
        "bench-trust: seed {} (rerun with --seed {}), {} run(s) of {} warm-up + {} measured tasks, 100 workers ({} % idle at each task), trust {}",
        args.seed, args.seed, args.runs, args.warmup, args.tasks, args.idle * 100.0, args.trust
    );
    let pool = |saboteurs, cheat_rate| Pool {
        saboteurs,
        cheat_rate,
        lazy: 0.0,
        sybil: true,
        patient: false,
    };
    // The three pools, then two harder ones.
    let pools = [
        ("F 0.2, S 1.0", pool(0.2, 1.0)),
        ("F 0.2, S 0.1", pool(0.2, 0.1)),
        ("F 0.35, S 1.0", pool(0.35, 1.0)),
        (
            "F 0.2, S 1.0, lazy 0.1",
            Pool {
                lazy: 0.1,
                ..pool(0.2, 1.0)
            },
        ),
        (
            "F 0.2, S 0.1, patient",
            Pool {
                patient: true,
                ..pool(0.2, 0.1)
            },
        ),
    ];
    let policies = [
        ("blind", Strategy::Blind),
        ("poco", Strategy::Poco(args.policy.clone())),
    ];
    println!(
        "{:<24} {:<6} {:>10} {:>22} {:>9} {:>18} {:>8} {:>9} {:>7}",
        "pool",
        "policy",
        "error",
        "error 95% CI",
        "replicas",
        "replicas 95% CI",
        "failed",
        "excluded",
        "honest"
    );
    let mut rows = Vec::new();
    for (name, pool) in &pools {
        for (policy, strategy) in &policies {
            let mut total = Outcome::default();
            for r in 0..args.runs {
                let setup = Setup {
                    workers: 100,
                    trust: args.trust,
                    idle: args.idle,
                    warmup: args.warmup,
                    tasks: args.tasks,
                    seed: args.seed.wrapping_add(r),
                };
                total.merge(&run(pool, strategy, &setup));
            }
            let (lo, hi) = total.error_ci95();
            let (rlo, rhi) = total.replicas_ci95();
            println!(
                "{:<24} {:<6} {:>10.2e} {:>22} {:>9.3} {:>18} {:>8} {:>9} {:>7}",
                name,
                policy,
                total.error_rate(),
                format!("[{lo:.1e}, {hi:.1e}]"),
                total.replicas_per_task(),
                format!("[{rlo:.3}, {rhi:.3}]"),
                total.failed,
                total.excluded,
                total.honest_excluded
            );
            rows.push(serde_json::json!({
                "saboteurs": pool.saboteurs,
                "cheat_rate": pool.cheat_rate,
                "lazy": pool.lazy,
                "patient": pool.patient,
                "policy": policy,
                "error_rate": total.error_rate(),
                "replicas_per_task": total.replicas_per_task(),
                "error_ci95": [lo, hi],
                "replicas_ci95": [rlo, rhi],
                "tasks": total.tasks,
                "errors": total.errors,
                "failed": total.failed,
                "excluded": total.excluded,
                "honest_excluded": total.honest_excluded,
            }));
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::json!({
        "seed": args.seed,
        "runs": args.runs,
        "warmup": args.warmup,
        "tasks_per_run": args.tasks,
        "trust": args.trust,
        "idle": args.idle,
        "min_streak": args.policy.min_streak,
        "spot_check": args.policy.spot_check,
        "pools": rows,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&json)? + "\n")?;
    println!("wrote {}", args.out.display());
    Ok(())
}
