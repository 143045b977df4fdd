//! Worker admission: who may sign in to the pool, which tasks each worker may take, and the
//! pool's record of each worker (the operator's allowlist and marks, its votes against the
//! consensus, its exclusion).
//!
//! The decisions are pure functions of the pool's [`Admission`] mode, the worker's
//! [`WorkerRecord`] and the task, with table tests of their own:
//! - [`sign_in`]: closed pools admit the operator's allowlist only; open pools anyone; an
//!   excluded worker nobody.
//! - [`may_take`]: an unreplicated task (trust 1, or a fast deal) only to a worker that
//!   [`qualifies_unreplicated`] (the operator marked it trusted or, in open pools, the
//!   replication policy qualifies its record); in open pools a worker not so qualified takes
//!   replicated work only, and only for deals whose worker stake its account covers.
//! - [`dispatch`]: whom poco-trust's replication policy asks for a replicated task, from the
//!   replicas already asked (their on-chain weights and votes) and the workers available
//!   ([`policy_view`] maps a record to what the policy reads).
//! - [`slot_cap`]: the replicates a worker holds at once.
//! - [`outcome`]: what a finalized vote does to the record (the policy's
//!   `record_outcome`); a vote against a [`confirmed`] consensus (a qualified worker among its
//!   winners) excludes the worker until the operator re-admits it, against a consensus of
//!   newcomers only it ends the worker's streak.
//!
//! [`Workers`] is the operator's side (`poco scheduler workers add|remove|list|readmit`): it
//! opens the scheduler's database and manages the records.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use alloy::{
    primitives::{keccak256, Address, B256, U256},
    sol_types::SolValue,
};
use poco_trust::policy;
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};

use poco_types::Tag;

use crate::{db::Db, Result};

/// Who may sign in to the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Admission {
    /// Only the workers on the operator's allowlist (`poco scheduler workers add`).
    Closed,
    /// Anyone; a worker the operator has not marked trusted takes replicated work only (trust
    /// 2 or more), for deals whose worker stake its account covers.
    Open,
    /// Anyone, for any task, as before admission existed: for a development pool on a local
    /// chain only (a stranger's fresh key would get trust-1 tasks and be paid for whatever it
    /// returns).
    Unrestricted,
}

impl Admission {
    /// Its name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::Unrestricted => "unrestricted",
        }
    }
}

impl fmt::Display for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Admission {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "closed" => Ok(Self::Closed),
            "open" => Ok(Self::Open),
            "unrestricted" => Ok(Self::Unrestricted),
            _ => Err(format!(
                "unknown admission mode {s:?}: use \"closed\" (the operator's allowlist), \
                 \"open\" (anyone, replicated work only) or \"unrestricted\" (development pools)"
            )),
        }
    }
}

/// Why a worker was excluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The reason.
    pub reason: String,
    /// When (unix seconds).
    pub at: i64,
    /// The task it was caught on, if any.
    pub task: Option<B256>,
}

/// What the pool keeps about a worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Its address.
    pub address: Address,
    /// On the operator's allowlist (`workers add`).
    pub allowed: bool,
    /// Marked trusted by the operator: may take unreplicated tasks (trust 1, fast deals).
    pub trusted: bool,
    /// The slots the operator registered for it (`--slots`).
    pub slots: Option<u32>,
    /// The slots it declared when it registered (0 before it registers).
    pub declared_slots: u32,
    /// Who admitted it (the operator, or `open admission`).
    pub admitted_by: Option<String>,
    /// When it was admitted (unix seconds).
    pub admitted_at: Option<i64>,
    /// Why it was excluded, when it is.
    pub excluded: Option<Exclusion>,
    /// Finalized votes in a row that agreed with the consensus.
    pub streak: u64,
    /// Finalized votes counted.
    pub contributed: u64,
    /// Of those, agreeing with the consensus.
    pub agreed: u64,
    /// Of those, against it.
    pub against: u64,
    /// Its first sign-in (unix seconds).
    pub first_seen: Option<i64>,
    /// Its last sign-in, registration or heartbeat (unix seconds; 0: never).
    pub last_seen: i64,
    /// The network prefix it last signed in from (/24 IPv4, /48 IPv6).
    pub ip_prefix: Option<String>,
    /// The tags it registered (tee, gpu, ...): it takes only the tasks of deals whose tag
    /// these contain ([`serves`]).
    #[serde(default)]
    pub tags: Tag,
}

/// A refusal, with the text the worker or operator reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `worker` (its record, if the pool has one) may sign in to a pool in `mode`.
pub fn sign_in(
    mode: Admission,
    worker: Address,
    record: Option<&WorkerRecord>,
) -> std::result::Result<(), Refusal> {
    if let Some(excluded) = record.and_then(|r| r.excluded.as_ref()) {
        return Err(Refusal(format!(
            "{worker} is excluded from this pool ({}); only the pool's operator can re-admit \
             it (poco scheduler workers readmit {worker})",
            excluded.reason
        )));
    }
    if mode == Admission::Closed && !record.is_some_and(|r| r.allowed) {
        return Err(Refusal(format!(
            "{worker} is not on this pool's allowlist (the pool is closed); ask the pool's \
             operator to run `poco scheduler workers add {worker}`"
        )));
    }
    Ok(())
}

/// The single place that decides whether a worker may take an unreplicated task (trust 1, or
/// a fast deal), whose result nobody checks: the replication policy's
/// [`policy::trust_one_allowed`] on the worker's record. Closed pools: only a worker the
/// operator marked trusted; open (and unrestricted) pools: also a worker whose streak of
/// agreeing results in this pool qualifies it ([`policy::qualified`]). Never an excluded one.
pub fn qualifies_unreplicated(mode: Admission, record: &WorkerRecord) -> bool {
    let (r, _) = policy_view(record);
    policy::trust_one_allowed(&policy_config(mode), &r)
}

/// The replication policy's tuning for a pool in `mode` (poco-trust's defaults; a closed
/// pool routes trust-1 work to the operator's trusted workers only, any other pool also to
/// qualified ones).
pub fn policy_config(mode: Admission) -> policy::Config {
    policy::Config {
        admission: match mode {
            Admission::Closed => policy::Admission::Closed,
            Admission::Open | Admission::Unrestricted => policy::Admission::Open,
        },
        ..policy::Config::default()
    }
}

/// The one mapping of the pool's record of a worker to what the replication policy reads:
/// its [`policy::Record`] (streak of agreeing votes, caught = excluded, trusted by the
/// operator) and its [`policy::Hints`] (the network prefix it signs in from, its first
/// sign-in as its registration time). A loopback prefix gives no hint at all, neither network
/// nor registration time: a worker on the scheduler's own host is the operator's (and every
/// worker of a local test pool is, all started in the same second).
pub fn policy_view(record: &WorkerRecord) -> (policy::Record, policy::Hints) {
    let local = record
        .ip_prefix
        .as_deref()
        .is_some_and(|p| p.starts_with("127.") || p == "0:0:0::/48");
    let network = record.ip_prefix.as_deref().filter(|_| !local).map(|p| {
        let h = keccak256(p.as_bytes());
        u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    });
    (
        policy::Record {
            streak: u32::try_from(record.streak).unwrap_or(u32::MAX),
            caught: record.excluded.is_some(),
            trusted: record.trusted,
        },
        policy::Hints {
            network,
            registered_at: record
                .first_seen
                .filter(|_| !local)
                .and_then(|t| u64::try_from(t).ok()),
        },
    )
}

/// The replica of a task a worker holds or held, as the dispatch decision reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The worker.
    pub worker: Address,
    /// Its odds in the hub's consensus rule (from its on-chain score).
    pub w: u64,
    /// The digest it reported (contributed or done), `None` while it runs.
    pub digest: Option<B256>,
    /// Its record in the pool, when it has one.
    pub record: Option<WorkerRecord>,
}

/// A worker that could take a replica now: its record and on-chain score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Available {
    /// Its record (a default one for a worker the pool has no row of).
    pub record: WorkerRecord,
    /// Its on-chain score (`viewScore`), never its own claim.
    pub score: u64,
}

/// The replication policy's decision for a replicated task of `trust` (the hub's
/// consensus rule decides the task; the policy whom to ask): `live` are the replicas asked
/// and not lost or failed, `available` the workers that could take one now. The randomness
/// is seeded by the task and the replicas asked, so that every worker asking while nothing
/// changed reads the same decision: a worker gets a replica only when it is in
/// [`policy::Decision::ask`]. `colluders` are the recorded pairs caught agreeing on a wrong
/// value ([`colluding_pairs`]): the two of a pair never hold replicas of one task.
/// `registration_window` (seconds, 0: off) ties two workers first seen within it, in
/// [`Admission::Open`] only: a closed pool's workers were each admitted by the operator (who
/// may add many at once), an unrestricted pool is a development pool.
#[allow(clippy::too_many_arguments)]
pub fn dispatch(
    mode: Admission,
    registration_window: u64,
    taskid: B256,
    trust: u64,
    consensus: bool,
    live: &[Held],
    available: &[Available],
    colluders: &[(Address, Address)],
) -> policy::Decision<Address> {
    let mut digests: Vec<B256> = Vec::new();
    let asked: Vec<policy::Asked<Address>> = live
        .iter()
        .map(|h| {
            let vote = h.digest.map(|d| {
                let id = digests.iter().position(|x| *x == d).unwrap_or_else(|| {
                    digests.push(d);
                    digests.len() - 1
                });
                u32::try_from(id).unwrap_or(u32::MAX)
            });
            let hints = h
                .record
                .as_ref()
                .map(|r| policy_view(r).1)
                .unwrap_or_default();
            policy::Asked {
                worker: h.worker,
                w: h.w,
                vote,
                hints,
            }
        })
        .collect();
    let mut candidates: Vec<policy::Candidate<Address>> = available
        .iter()
        .map(|a| {
            let (record, hints) = policy_view(&a.record);
            policy::Candidate {
                worker: a.record.address,
                score: a.score,
                record,
                hints,
            }
        })
        .collect();
    // In one order whoever asks (each asker lists itself first, then the other pollers in no
    // set order): with the same seed, every asker then reads the same decision. Otherwise two
    // askers could each be told to leave the replica to the other, and neither take it.
    candidates.sort_by_key(|c| c.worker);
    let seed = keccak256((taskid, U256::from(live.len())).abi_encode());
    let mut rng = StdRng::from_seed(seed.0);
    let view = policy::TaskView {
        trust,
        consensus,
        asked: &asked,
    };
    let config = policy::Config {
        registration_window: if mode == Admission::Open {
            registration_window
        } else {
            0
        },
        ..policy_config(mode)
    };
    policy::decide(&config, &view, &candidates, colluders, &mut rng)
}

/// What [`may_take`] needs of a task's deal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskKind {
    /// A fast deal (settled by one worker).
    pub fast: bool,
    /// The trust the deal asks for.
    pub trust: i64,
    /// The worker stake of the deal, when known.
    pub worker_stake: Option<U256>,
}

impl TaskKind {
    /// Whether one worker's result settles the task (no vote).
    pub fn unreplicated(&self) -> bool {
        self.fast || self.trust <= 1
    }
}

/// Whether `record` may take a task of `kind` in a pool in `mode`; `free_balance` is the
/// worker's free balance in the hub when the pool read it (open pools, untrusted workers).
pub fn may_take(
    mode: Admission,
    record: &WorkerRecord,
    kind: &TaskKind,
    free_balance: Option<U256>,
) -> std::result::Result<(), Refusal> {
    let worker = record.address;
    if let Some(excluded) = &record.excluded {
        return Err(Refusal(format!(
            "{worker} is excluded from this pool ({})",
            excluded.reason
        )));
    }
    if mode == Admission::Unrestricted {
        return Ok(());
    }
    if kind.unreplicated() {
        if qualifies_unreplicated(mode, record) {
            return Ok(());
        }
        return Err(Refusal(format!(
            "{worker} is not trusted by this pool: unreplicated tasks (trust 1, fast deals) go \
             to workers the operator marked trusted (poco scheduler workers add {worker} \
             --trusted)"
        )));
    }
    if mode == Admission::Open && !record.trusted {
        let stake = kind.worker_stake.unwrap_or_default();
        match free_balance {
            Some(balance) if balance >= stake => {}
            Some(balance) => {
                return Err(Refusal(format!(
                    "{worker} cannot cover the deal's worker stake of {stake} nRLC (its free \
                     balance in the hub is {balance} nRLC): deposit more with `poco account \
                     deposit`"
                )))
            }
            None => {
                return Err(Refusal(format!(
                    "the free balance of {worker} in the hub could not be read to check the \
                     deal's worker stake; it is checked again at the next call"
                )))
            }
        }
    }
    Ok(())
}

/// Whether a worker that registered the tags `registered` may take a task of a deal tagged
/// `asked`: only when it registered every bit of the deal's tag. A TEE task (bit 0) thus goes
/// only to a worker that registered TEE, a GPU task only to one that registered GPU; an
/// untagged task to any worker.
pub fn serves(worker: Address, registered: Tag, asked: Tag) -> std::result::Result<(), Refusal> {
    if registered.contains(asked) {
        return Ok(());
    }
    let missing = asked & !registered;
    Err(Refusal(format!(
        "{worker} did not register the tag {missing} the deal asks for (it registered {}): \
         only a worker registering {asked} takes this task{}",
        if registered.is_empty() {
            "none".to_string()
        } else {
            registered.to_string()
        },
        if missing.is_tee() {
            " (a TEE task: run the worker in TEE mode, inside a confidential VM)"
        } else {
            ""
        }
    )))
}

/// Whether [`may_take`] needs the worker's free balance for a task of `kind`.
pub fn needs_balance(mode: Admission, record: &WorkerRecord, kind: &TaskKind) -> bool {
    mode == Admission::Open && !record.trusted && !kind.unreplicated()
}

/// The replicates a worker holds at once: the slots the operator registered, else those the
/// worker declared, the smaller when both are known; at least one.
pub fn slot_cap(record: Option<&WorkerRecord>) -> i64 {
    let declared = record.map(|r| r.declared_slots).filter(|s| *s > 0);
    let operator = record.and_then(|r| r.slots);
    let cap = match (operator, declared) {
        (Some(o), Some(d)) => o.min(d),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => 1,
    };
    i64::from(cap.max(1))
}

/// What a finalized vote changes in a worker's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the vote agreed with the consensus.
    pub agreed: bool,
    /// The exclusion it causes (a vote against the consensus, unless already excluded).
    pub exclude: Option<Exclusion>,
}

/// The pairs of workers that voted the same value against the `consensus` of a finalized
/// task (`votes` are each contributor's result hash as the hub stores it): they agreed on a
/// wrong value, so the replication policy never asks both for a replica of one task again.
/// Workers that voted with the consensus, or against it with different values, form no pair.
/// Each pair once, the smaller address first.
pub fn colluding_pairs(votes: &[(Address, B256)], consensus: B256) -> Vec<(Address, Address)> {
    let mut pairs = Vec::new();
    for (i, (a, ha)) in votes.iter().enumerate() {
        for (b, hb) in &votes[i + 1..] {
            if *ha != consensus && ha == hb && a != b {
                let pair = if a < b { (*a, *b) } else { (*b, *a) };
                if !pairs.contains(&pair) {
                    pairs.push(pair);
                }
            }
        }
    }
    pairs
}

/// The outcome of a worker's vote `hash` on `taskid`, finalized with `consensus` at `now`, by
/// the replication policy's [`policy::record_outcome`]: a vote against the consensus excludes
/// the worker only when the consensus was `confirmed` ([`confirmed`]: a qualified worker was
/// among its winners); against a consensus of newcomers only (which a colluding majority of
/// fresh keys could win) it only ends the worker's streak.
pub fn outcome(
    record: Option<&WorkerRecord>,
    taskid: B256,
    hash: B256,
    consensus: B256,
    confirmed: bool,
    now: i64,
) -> Outcome {
    let agreed = hash == consensus;
    let mut r = record.map(|r| policy_view(r).0).unwrap_or_default();
    let already = r.caught;
    policy::record_outcome(&mut r, agreed, confirmed);
    Outcome {
        agreed,
        exclude: (r.caught && !already).then(|| Exclusion {
            reason: format!(
                "contributed {hash} against the consensus {consensus} of task {taskid}"
            ),
            at: now,
            task: Some(taskid),
        }),
    }
}

/// Whether a finalized consensus won by the workers of `winners` (their records before the
/// tally) is one the pool trusts enough to exclude those who voted against it
/// ([`policy::confirmed`]: at least one winner is qualified).
pub fn confirmed(mode: Admission, winners: &[Option<&WorkerRecord>]) -> bool {
    let records: Vec<policy::Record> = winners
        .iter()
        .map(|r| r.map(|r| policy_view(r).0).unwrap_or_default())
        .collect();
    policy::confirmed(&policy_config(mode), &records)
}

/// The network prefix of an address, the operator's hint that two workers share a host or a
/// network: the /24 of an IPv4 address, the /48 of an IPv6 one (an IPv4-mapped IPv6 address
/// as IPv4).
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ip_prefix(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

/// The client's address: the connection's peer, or, when the peer is one of the
/// `trusted_proxies`, the last address of `forwarded` (the `X-Forwarded-For` header) that is
/// not a trusted proxy itself. Without trusted proxies the header is ignored: anyone can write
/// it.
pub fn client_ip(peer: SocketAddr, forwarded: Option<&str>, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = peer.ip();
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let Some(forwarded) = forwarded else {
        return peer;
    };
    let mut client = peer;
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted_proxies.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// The operator's side of the records: `poco scheduler workers ...` on the scheduler's
/// database (the scheduler may be running: each call is one statement or transaction).
#[derive(Clone, Debug)]
pub struct Workers {
    db: Db,
}

impl Workers {
    /// Opens the scheduler's database (`sqlite://path?mode=rwc` or `postgres://...`),
    /// creating its tables when it is new.
    pub async fn open(database_url: &str) -> Result<Self> {
        Ok(Self {
            db: Db::open(database_url).await?,
        })
    }

    /// Puts `worker` on the allowlist (again), trusted or not, with the slots the operator
    /// registers (`None`: those it declares); `by` names who admitted it. Returns its record.
    pub async fn add(
        &self,
        worker: Address,
        trusted: bool,
        slots: Option<u32>,
        by: &str,
        now: i64,
    ) -> Result<WorkerRecord> {
        self.db
            .allow_worker(worker, trusted, slots, by, now)
            .await?;
        self.expect(worker).await
    }

    /// Takes `worker` off the allowlist and ends its sessions (its record and votes stay);
    /// false when it was not on it.
    pub async fn remove(&self, worker: Address) -> Result<bool> {
        self.db.disallow_worker(worker).await
    }

    /// Lifts `worker`'s exclusion (its votes stay counted, its streak starts again); false
    /// when it was not excluded.
    pub async fn readmit(&self, worker: Address) -> Result<bool> {
        self.db.readmit_worker(worker).await
    }

    /// Excludes `worker` by the operator's hand (as a vote against the consensus does): its
    /// sessions end and it gets no more work until [`Workers::readmit`]; false when it was
    /// excluded already.
    pub async fn exclude(&self, worker: Address, reason: &str, now: i64) -> Result<bool> {
        self.db.exclude_worker(worker, reason, now).await
    }

    /// Every worker the pool knows, by address.
    pub async fn list(&self) -> Result<Vec<WorkerRecord>> {
        self.db.worker_records().await
    }

    /// For each worker caught voting the same value as others against a task's consensus,
    /// those others (the pairs the dispatch keeps apart), sorted.
    pub async fn colluded_with(&self) -> Result<std::collections::BTreeMap<Address, Vec<Address>>> {
        let mut map: std::collections::BTreeMap<Address, Vec<Address>> = Default::default();
        for (a, b) in self.db.colluders().await? {
            map.entry(a).or_default().push(b);
            map.entry(b).or_default().push(a);
        }
        for others in map.values_mut() {
            others.sort();
        }
        Ok(map)
    }

    /// A worker's record.
    pub async fn get(&self, worker: Address) -> Result<Option<WorkerRecord>> {
        self.db.worker_record(worker).await
    }

    async fn expect(&self, worker: Address) -> Result<WorkerRecord> {
        self.get(worker)
            .await?
            .ok_or_else(|| crate::Error::Corrupt {
                table: "workers",
                column: "address",
                value: worker.to_string(),
                expected: "the row just written",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Address = Address::repeat_byte(0x77);

    fn record(allowed: bool, trusted: bool) -> WorkerRecord {
        WorkerRecord {
            address: W,
            allowed,
            trusted,
            ..Default::default()
        }
    }

    fn excluded(mut r: WorkerRecord) -> WorkerRecord {
        r.excluded = Some(Exclusion {
            reason: "caught".into(),
            at: 1,
            task: None,
        });
        r
    }

    const TRUST1: TaskKind = TaskKind {
        fast: false,
        trust: 1,
        worker_stake: None,
    };
    const FAST: TaskKind = TaskKind {
        fast: true,
        trust: 0,
        worker_stake: None,
    };
    const REPLICATED: TaskKind = TaskKind {
        fast: false,
        trust: 3,
        worker_stake: Some(U256::from_limbs([100, 0, 0, 0])),
    };

    #[test]
    fn tagged_tasks_go_to_workers_registering_every_bit() {
        let tee = Tag::TEE;
        let tdx = Tag::TEE | Tag::TDX;
        let gpu = Tag::GPU;
        let all = Tag::TEE | Tag::TDX | Tag::GPU;
        let none = Tag::NONE;
        // (registered, asked, refusal naming)
        let table: &[(Tag, Tag, Option<&str>)] = &[
            (none, none, None),
            (tee, none, None),
            (all, none, None),
            (none, tee, Some("TEE mode")),
            (gpu, tee, Some("TEE mode")),
            (tee, tee, None),
            (tdx, tee, None),
            (tee, tdx, Some("tdx")),
            (tdx, tdx, None),
            (all, tdx, None),
            (none, gpu, Some("gpu")),
            (tee, gpu, Some("gpu")),
            (gpu, gpu, None),
            (tdx, tee | gpu, Some("gpu")),
            (all, tee | gpu, None),
            // A bit without a name is a plain subset condition too.
            (Tag::bit(200), Tag::bit(200), None),
            (all, Tag::bit(200), Some("0x")),
        ];
        for (registered, asked, refusal) in table {
            match (serves(W, *registered, *asked), refusal) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => {
                    assert!(e.0.contains(part), "{registered} {asked}: {e}");
                    assert!(e.0.contains(&W.to_string()), "{e}");
                    // The TEE hint only when the TEE bit is what is missing.
                    assert_eq!(
                        e.0.contains("TEE mode"),
                        asked.is_tee() && !registered.is_tee(),
                        "{e}"
                    );
                }
                (got, want) => panic!("{registered} {asked}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn sign_in_follows_the_mode_the_allowlist_and_exclusion() {
        use Admission::*;
        let unknown: Option<&WorkerRecord> = None;
        let listed = record(true, false);
        let seen = record(false, false);
        let out = excluded(record(true, true));
        let table: &[(Admission, Option<&WorkerRecord>, Option<&str>)] = &[
            (Closed, unknown, Some("not on this pool's allowlist")),
            (Closed, Some(&seen), Some("workers add")),
            (Closed, Some(&listed), None),
            (Closed, Some(&out), Some("workers readmit")),
            (Open, unknown, None),
            (Open, Some(&seen), None),
            (Open, Some(&out), Some("is excluded")),
            (Unrestricted, unknown, None),
            (Unrestricted, Some(&out), Some("is excluded")),
        ];
        for (mode, r, refusal) in table {
            match (sign_in(*mode, W, *r), refusal) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => assert!(e.0.contains(part), "{mode} {r:?}: {e}"),
                (got, want) => panic!("{mode} {r:?}: {got:?}, wanted a refusal {want:?}"),
            }
        }
    }

    #[test]
    fn unreplicated_tasks_go_to_trusted_workers_only() {
        use Admission::*;
        let trusted = record(true, true);
        let plain = record(true, false);
        let stranger = record(false, false);
        let rich = Some(U256::from(1_000u64));
        let poor = Some(U256::from(99u64));
        type Row<'a> = (
            Admission,
            &'a WorkerRecord,
            TaskKind,
            Option<U256>,
            Option<&'a str>,
        );
        let table: &[Row<'_>] = &[
            (Closed, &trusted, TRUST1, None, None),
            (Closed, &trusted, FAST, None, None),
            (Closed, &plain, TRUST1, None, Some("--trusted")),
            (Closed, &plain, FAST, None, Some("not trusted")),
            (Closed, &plain, REPLICATED, None, None),
            (Open, &stranger, TRUST1, rich, Some("not trusted")),
            (Open, &stranger, FAST, rich, Some("not trusted")),
            (Open, &trusted, TRUST1, None, None),
            // Open pools: replicated work for the stake the worker can cover.
            (Open, &stranger, REPLICATED, rich, None),
            (Open, &stranger, REPLICATED, Some(U256::from(100u64)), None),
            (
                Open,
                &stranger,
                REPLICATED,
                poor,
                Some("worker stake of 100 nRLC"),
            ),
            (Open, &stranger, REPLICATED, None, Some("could not be read")),
            (Open, &trusted, REPLICATED, None, None),
            (Unrestricted, &stranger, TRUST1, None, None),
        ];
        for (mode, r, kind, balance, refusal) in table {
            match (may_take(*mode, r, kind, *balance), refusal) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => assert!(e.0.contains(part), "{mode} {kind:?}: {e}"),
                (got, want) => panic!("{mode} {r:?} {kind:?}: {got:?}, wanted {want:?}"),
            }
            assert_eq!(
                needs_balance(*mode, r, kind),
                *mode == Open && !r.trusted && !kind.unreplicated()
            );
        }
        // An excluded worker takes nothing, in any mode, trusted or not.
        for mode in [Closed, Open, Unrestricted] {
            for kind in [TRUST1, FAST, REPLICATED] {
                let err = may_take(mode, &excluded(record(true, true)), &kind, rich).unwrap_err();
                assert!(err.0.contains("excluded"), "{err}");
            }
        }
        for mode in [Closed, Open, Unrestricted] {
            assert!(!qualifies_unreplicated(mode, &excluded(record(true, true))));
        }
    }

    #[test]
    fn records_map_to_what_the_policy_reads() {
        let hash_of = |p: &str| {
            let h = keccak256(p.as_bytes());
            u64::from_be_bytes(h[..8].try_into().unwrap())
        };
        let with = |streak: u64, trusted: bool, out: bool, ip: Option<&str>, seen: Option<i64>| {
            let r = WorkerRecord {
                streak,
                trusted,
                ip_prefix: ip.map(str::to_string),
                first_seen: seen,
                ..record(true, trusted)
            };
            if out {
                excluded(r)
            } else {
                r
            }
        };
        type Row = (WorkerRecord, policy::Record, policy::Hints);
        let rec = |streak, caught, trusted| policy::Record {
            streak,
            caught,
            trusted,
        };
        let hints = |network, registered_at| policy::Hints {
            network,
            registered_at,
        };
        let table: Vec<Row> = vec![
            (
                WorkerRecord::default(),
                rec(0, false, false),
                hints(None, None),
            ),
            (
                with(7, false, false, Some("203.0.113.0/24"), Some(1_700)),
                rec(7, false, false),
                hints(Some(hash_of("203.0.113.0/24")), Some(1_700)),
            ),
            (
                with(25, true, true, Some("2001:db8:aa::/48"), None),
                rec(25, true, true),
                hints(Some(hash_of("2001:db8:aa::/48")), None),
            ),
            // Loopback gives no hint at all (no network, no registration time); a negative
            // time no registration time.
            (
                with(1, false, false, Some("127.0.0.0/24"), Some(-5)),
                rec(1, false, false),
                hints(None, None),
            ),
            (
                with(0, false, false, Some("0:0:0::/48"), Some(0)),
                rec(0, false, false),
                hints(None, None),
            ),
            (
                with(0, false, false, Some("127.0.0.0/24"), Some(1_700)),
                rec(0, false, false),
                hints(None, None),
            ),
            (
                with(0, false, false, Some("198.51.100.0/24"), Some(-5)),
                rec(0, false, false),
                hints(Some(hash_of("198.51.100.0/24")), None),
            ),
            // A streak beyond u32 saturates.
            (
                with(u64::MAX, false, false, None, None),
                rec(u32::MAX, false, false),
                hints(None, None),
            ),
        ];
        for (i, (r, want_record, want_hints)) in table.iter().enumerate() {
            assert_eq!(policy_view(r), (*want_record, *want_hints), "row {i}");
        }
        assert_ne!(hash_of("203.0.113.0/24"), hash_of("203.0.114.0/24"));
    }

    #[test]
    fn open_pools_route_trust_one_work_to_qualified_records() {
        use Admission::*;
        let min = u64::from(policy::Config::default().min_streak);
        let with = |streak: u64, trusted: bool| WorkerRecord {
            streak,
            ..record(true, trusted)
        };
        // (mode, record, qualifies for unreplicated work)
        let table: &[(Admission, WorkerRecord, bool)] = &[
            (Closed, with(0, true), true),
            (Closed, with(min * 10, false), false),
            (Open, with(0, false), false),
            (Open, with(min - 1, false), false),
            (Open, with(min, false), true),
            (Open, with(0, true), true),
            (Open, excluded(with(min, true)), false),
            (Unrestricted, with(min, false), true),
        ];
        for (mode, r, expected) in table {
            assert_eq!(qualifies_unreplicated(*mode, r), *expected, "{mode} {r:?}");
        }
        // may_take follows it: a qualified stranger takes trust-1 work in an open pool.
        assert!(may_take(Open, &with(min, false), &TRUST1, None).is_ok());
        assert!(may_take(Closed, &with(min, false), &TRUST1, None).is_err());
    }

    fn addr(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn available(n: u8, score: u64, streak: u64, trusted: bool) -> Available {
        Available {
            record: WorkerRecord {
                address: addr(n),
                streak,
                trusted,
                ..Default::default()
            },
            score,
        }
    }

    fn held(n: u8, w: u64, digest: Option<u8>) -> Held {
        Held {
            worker: addr(n),
            w,
            digest: digest.map(B256::repeat_byte),
            record: None,
        }
    }

    /// Two workers recorded as colluders never hold replicas of one task while a third worker
    /// is available: neither asked together, nor one asked while the other holds a replica.
    /// Without the record the same decisions do ask both of them (so the record is what keeps
    /// them apart).
    #[test]
    fn recorded_colluders_never_share_a_task() {
        use Admission::*;
        let pair = [(addr(1), addr(2))];
        // (trust, replicas asked, workers available)
        let table: Vec<(u64, Vec<Held>, Vec<Available>)> = vec![
            (
                3,
                vec![],
                vec![
                    available(1, 0, 0, false),
                    available(2, 0, 0, false),
                    available(3, 0, 0, false),
                ],
            ),
            (
                3,
                vec![held(1, 1, None)],
                vec![available(2, 0, 0, false), available(3, 0, 0, false)],
            ),
            (
                3,
                vec![held(2, 1, Some(7))],
                vec![available(1, 0, 0, false), available(3, 0, 0, false)],
            ),
        ];
        let mut both_without = false;
        for (i, (trust, live, avail)) in table.iter().enumerate() {
            for mode in [Open, Unrestricted, Closed] {
                for seed in 0..32u8 {
                    let task = B256::repeat_byte(seed);
                    let d = dispatch(mode, 0, task, *trust, false, live, avail, &pair);
                    let holds =
                        |a: Address| d.ask.contains(&a) || live.iter().any(|h| h.worker == a);
                    assert!(
                        !(holds(addr(1)) && holds(addr(2))),
                        "row {i} {mode} seed {seed}: {d:?}"
                    );
                    assert!(!d.ask.is_empty(), "row {i} {mode} seed {seed}: {d:?}");
                    // The pair given in the other order reads the same.
                    let swapped = [(addr(2), addr(1))];
                    assert_eq!(
                        d,
                        dispatch(mode, 0, task, *trust, false, live, avail, &swapped)
                    );
                    let free = dispatch(mode, 0, task, *trust, false, live, avail, &[]);
                    let holds_free =
                        |a: Address| free.ask.contains(&a) || live.iter().any(|h| h.worker == a);
                    both_without |= holds_free(addr(1)) && holds_free(addr(2));
                }
            }
        }
        assert!(
            both_without,
            "without the record the pair is asked together"
        );
    }

    /// Two workers first seen within the registration window are never asked together in an
    /// open pool; the window is off at 0, in closed and unrestricted pools, and for workers on
    /// the scheduler's own host (loopback).
    #[test]
    fn the_registration_window_ties_workers_of_an_open_pool() {
        use Admission::*;
        let seen = |n: u8, at: i64, prefix: &str| Available {
            record: WorkerRecord {
                address: addr(n),
                first_seen: Some(at),
                ip_prefix: Some(prefix.into()),
                ..Default::default()
            },
            score: 0,
        };
        let together = |mode, window, avail: &[Available]| {
            (0..32u8).any(|seed| {
                let d = dispatch(
                    mode,
                    window,
                    B256::repeat_byte(seed),
                    3,
                    false,
                    &[],
                    avail,
                    &[],
                );
                d.ask.contains(&addr(1)) && d.ask.contains(&addr(2))
            })
        };
        let near = [
            seen(1, 100, "203.0.113.0/24"),
            seen(2, 130, "198.51.100.0/24"),
            seen(3, 1_000, "192.0.2.0/24"),
        ];
        assert!(!together(Open, 60, &near));
        assert!(together(Open, 0, &near));
        assert!(together(Open, 30, &near));
        assert!(together(Closed, 60, &near));
        assert!(together(Unrestricted, 60, &near));
        let local = [
            seen(1, 100, "127.0.0.0/24"),
            seen(2, 100, "127.0.0.0/24"),
            seen(3, 100, "127.0.0.0/24"),
        ];
        assert!(together(Open, 60, &local));
    }

    #[test]
    fn dispatch_asks_whom_the_policy_needs() {
        use Admission::*;
        let task = B256::repeat_byte(0xaa);
        let min = u64::from(policy::Config::default().min_streak);
        // (trust, replicas asked, workers available, how many asked, who must be among them,
        //  who must not)
        type Row = (u64, Vec<Held>, Vec<Available>, usize, Vec<u8>, Vec<u8>);
        let table: Vec<Row> = vec![
            // A trusted score-12 worker (odds 3) makes trust 3 alone: it only is asked.
            (
                3,
                vec![],
                vec![available(1, 12, 0, true)],
                1,
                vec![1],
                vec![],
            ),
            // Asked and pending: nobody more, although a fresh worker waits.
            (
                3,
                vec![held(1, 3, None)],
                vec![available(2, 0, 0, false)],
                0,
                vec![],
                vec![2],
            ),
            // Its vote is in: nobody more either.
            (
                3,
                vec![held(1, 3, Some(1))],
                vec![available(2, 0, 0, false)],
                0,
                vec![],
                vec![2],
            ),
            // Fresh workers (odds 2): a pair for trust 3.
            (
                3,
                vec![],
                (1..=4).map(|n| available(n, 0, 0, false)).collect(),
                2,
                vec![],
                vec![],
            ),
            // One fresh vote in: one more.
            (
                3,
                vec![held(1, 2, Some(1))],
                (2..=4).map(|n| available(n, 0, 0, false)).collect(),
                1,
                vec![],
                vec![1],
            ),
            // Two fresh votes disagree: two more (2·2 against 2 at trust 3).
            (
                3,
                vec![held(1, 2, Some(1)), held(2, 2, Some(2))],
                (3..=6).map(|n| available(n, 0, 0, false)).collect(),
                2,
                vec![],
                vec![1, 2],
            ),
            // An untrusted heavy stranger is never asked alone: paired.
            (
                3,
                vec![],
                vec![available(1, 3_000, 0, false), available(2, 0, 0, false)],
                2,
                vec![1, 2],
                vec![],
            ),
            // An excluded worker is never asked.
            (
                3,
                vec![],
                vec![
                    Available {
                        record: excluded(WorkerRecord {
                            address: addr(1),
                            streak: min,
                            ..Default::default()
                        }),
                        score: 3_000,
                    },
                    available(2, 0, 0, false),
                    available(3, 0, 0, false),
                ],
                2,
                vec![2, 3],
                vec![1],
            ),
        ];
        for (i, (trust, live, avail, n, must, never)) in table.iter().enumerate() {
            for mode in [Open, Unrestricted, Closed] {
                let d = dispatch(mode, 0, task, *trust, false, live, avail, &[]);
                assert_eq!(d.ask.len(), *n, "row {i} {mode}: {d:?}");
                for m in must {
                    assert!(d.ask.contains(&addr(*m)), "row {i} {mode}: {d:?}");
                }
                for m in never {
                    assert!(!d.ask.contains(&addr(*m)), "row {i} {mode}: {d:?}");
                }
                // Every worker asking reads the same decision while nothing changed, whatever
                // the order it lists the available workers in (each lists itself first).
                assert_eq!(d, dispatch(mode, 0, task, *trust, false, live, avail, &[]));
                let reversed: Vec<Available> = avail.iter().rev().cloned().collect();
                assert_eq!(
                    d,
                    dispatch(mode, 0, task, *trust, false, live, &reversed, &[]),
                    "row {i} {mode}"
                );
            }
        }
        // At consensus every pending replica is useless and nobody is asked.
        let d = dispatch(
            Open,
            0,
            task,
            3,
            true,
            &[held(1, 3, Some(1)), held(2, 2, None)],
            &[available(3, 0, 0, false)],
            &[],
        );
        assert_eq!((d.ask, d.useless), (vec![], vec![addr(2)]));
    }

    #[test]
    fn slots_are_the_smaller_of_the_operator_s_and_the_declared() {
        let with = |slots: Option<u32>, declared: u32| WorkerRecord {
            slots,
            declared_slots: declared,
            ..Default::default()
        };
        assert_eq!(slot_cap(None), 1);
        assert_eq!(slot_cap(Some(&with(None, 0))), 1);
        assert_eq!(slot_cap(Some(&with(None, 4))), 4);
        assert_eq!(slot_cap(Some(&with(Some(2), 0))), 2);
        assert_eq!(slot_cap(Some(&with(Some(2), 8))), 2);
        assert_eq!(slot_cap(Some(&with(Some(8), 3))), 3);
        assert_eq!(slot_cap(Some(&with(Some(0), 0))), 1);
    }

    #[test]
    fn a_vote_against_a_confirmed_consensus_excludes_once() {
        let task = B256::repeat_byte(1);
        let good = B256::repeat_byte(2);
        let bad = B256::repeat_byte(3);
        let agreed = outcome(None, task, good, good, true, 10);
        assert_eq!(
            agreed,
            Outcome {
                agreed: true,
                exclude: None
            }
        );
        let against = outcome(Some(&record(true, false)), task, bad, good, true, 10);
        assert!(!against.agreed);
        let exclusion = against.exclude.expect("excluded");
        assert_eq!((exclusion.at, exclusion.task), (10, Some(task)));
        assert!(exclusion.reason.contains("against the consensus"));
        // Against a consensus of newcomers only: counted, not excluded.
        let unconfirmed = outcome(Some(&record(true, false)), task, bad, good, false, 10);
        assert_eq!((unconfirmed.agreed, unconfirmed.exclude), (false, None));
        // Already excluded: counted, not excluded again.
        let again = outcome(
            Some(&excluded(record(true, true))),
            task,
            bad,
            good,
            true,
            11,
        );
        assert_eq!((again.agreed, again.exclude), (false, None));
    }

    #[test]
    fn a_consensus_is_confirmed_by_a_qualified_winner() {
        use Admission::*;
        let min = u64::from(policy::Config::default().min_streak);
        let newcomer = WorkerRecord {
            streak: min - 1,
            ..record(true, false)
        };
        let veteran = WorkerRecord {
            streak: min,
            ..record(true, false)
        };
        let trusted = record(true, true);
        // (winners, confirmed)
        let table: &[(Vec<Option<&WorkerRecord>>, bool)] = &[
            (vec![], false),
            (vec![None, None], false),
            (vec![Some(&newcomer), Some(&newcomer), None], false),
            (vec![Some(&newcomer), Some(&veteran)], true),
            (vec![None, Some(&trusted)], true),
        ];
        for mode in [Closed, Open, Unrestricted] {
            for (i, (winners, expected)) in table.iter().enumerate() {
                assert_eq!(confirmed(mode, winners), *expected, "{mode} row {i}");
            }
        }
    }

    #[test]
    fn prefixes_and_forwarded_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(ip_prefix(ip("203.0.113.77")), "203.0.113.0/24");
        assert_eq!(ip_prefix(ip("2001:db8:aa:bb::1")), "2001:db8:aa::/48");
        assert_eq!(ip_prefix(ip("::ffff:198.51.100.9")), "198.51.100.0/24");
        let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // No trusted proxy: the header is anyone's to write.
        assert_eq!(client_ip(peer, Some("1.2.3.4"), &[]), ip("10.0.0.1"));
        // Behind trusted proxies: the last hop that is not one of them.
        assert_eq!(
            client_ip(peer, Some("9.9.9.9, 1.2.3.4, 10.0.0.2"), &proxies),
            ip("1.2.3.4")
        );
        assert_eq!(client_ip(peer, None, &proxies), ip("10.0.0.1"));
        assert_eq!(
            client_ip(peer, Some("garbage, 10.0.0.2"), &proxies),
            ip("10.0.0.2")
        );
        // A peer that is not a trusted proxy is the client, whatever it forwards.
        let stranger: SocketAddr = "5.6.7.8:1".parse().unwrap();
        assert_eq!(
            client_ip(stranger, Some("1.2.3.4"), &proxies),
            ip("5.6.7.8")
        );
    }
}
