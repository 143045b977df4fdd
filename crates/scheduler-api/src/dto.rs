//! The request and response bodies of the scheduler's routes (see the crate's table).

use alloy::primitives::{Address, Bytes, B256};
use poco_types::PoolTaskState;
use serde::{Deserialize, Serialize};

/// `GET /challenge` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Challenge {
    /// The text to sign (EIP-191 personal message).
    pub challenge: String,
}

/// `POST /login` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The worker's address.
    pub address: Address,
    /// The challenge it got.
    pub challenge: String,
    /// Its personal signature of the challenge.
    pub signature: Bytes,
}

/// `POST /login` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The bearer token for the other worker calls.
    pub token: String,
    /// Seconds the token stays valid.
    pub expires_in: u64,
    /// Where the signed-in wallet stands in the pool (absent from older schedulers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<Standing>,
}

/// A worker's standing in a pool, told at sign-in: the pool's admission mode and the
/// operator's mark. (Its score and weight in the hub's consensus rule are the chain's: the
/// worker reads them itself, see [`Standing::weight_of`], so that a sign-in costs the
/// scheduler no chain call.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The pool's admission mode: `closed`, `open` or `unrestricted`.
    pub admission: String,
    /// Whether the operator marked the worker trusted (it may take unreplicated tasks).
    pub trusted: bool,
}

impl Standing {
    /// The hub's credibility odds of a worker of `score`: `max(score / 3, 3) - 1`, at most
    /// 65,535 (the contract's `TaskModule.contribute`).
    pub fn weight_of(score: u64) -> u64 {
        (score / 3)
            .max(3)
            .saturating_sub(1)
            .min(u64::from(u16::MAX))
    }
}

/// `POST /workers/register` body: what the worker offers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Registration {
    /// CPU cores.
    pub cores: u32,
    /// Memory, in bytes.
    pub memory_bytes: u64,
    /// The tags it can serve (tee, gpu, ...), as the bytes32 bitmap.
    pub tags: B256,
    /// How many tasks it runs at once.
    pub slots: u32,
}

/// How a worker settles a replicate on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A fast deal (trust ≤ 1): `pushResultFast`, one transaction.
    Fast,
    /// A classic deal of trust 1: `contributeAndFinalize`, one transaction.
    ContributeAndFinalize,
    /// A replicated task: `contribute` (stake locked); the scheduler reveals and finalizes.
    Contribute,
}

/// The app of a task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppRef {
    /// Its address.
    pub address: Address,
    /// Where its module is.
    pub multiaddr: String,
    /// The sha256 of its module.
    pub checksum: B256,
    /// Its type (`WASM`).
    pub kind: String,
}

/// The dataset of a task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetRef {
    /// Its address.
    pub address: Address,
    /// Where its file is.
    pub multiaddr: String,
    /// The sha256 of its file.
    pub checksum: B256,
}

/// A replicate handed to a worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    /// The task.
    pub taskid: B256,
    /// Its deal.
    pub dealid: B256,
    /// Its index in the deal.
    pub idx: u64,
    /// How to settle it.
    pub mode: Mode,
    /// The app.
    pub app: AppRef,
    /// The dataset, if any.
    pub dataset: Option<DatasetRef>,
    /// The deal's params (JSON with `iexec_args`, `iexec_input_files`, ...).
    pub params: String,
    /// The deal's first task index.
    pub bot_first: u64,
    /// The deal's number of tasks.
    pub bot_size: u64,
    /// The category's reference time: the app's time limit, in seconds.
    pub max_execution_time: u64,
    /// The deal's start time (unix seconds): the deterministic clock of the app.
    pub start_time: u64,
    /// Until when the result can be contributed or pushed (unix seconds).
    pub deadline: u64,
    /// The scheduler's authorization of this worker for this task.
    pub authorization: Bytes,
    /// The fast deal, ABI-encoded, for `pushResultFast` ([`Mode::Fast`] only).
    pub fast_deal: Option<Bytes>,
    /// The deal's callback contract (zero for none).
    pub callback: Address,
    /// The base URL of the pool's result store.
    pub store_url: String,
    /// The deal's tag (bit 0: a TEE task, which only a worker in TEE mode may take).
    #[serde(default)]
    pub tag: B256,
    /// The task's enclave challenge, for a TEE task (zero otherwise): the authorization
    /// covers it, and the worker's enclave gets its key from the SMS ([`Assignment::sms_url`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub enclave_challenge: Address,
    /// The SMS that holds the task's secrets and its enclave challenge key (TEE tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_url: Option<String>,
}

/// `POST /heartbeat` answer (older schedulers answer `204` without a body: nothing to stop).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    /// The tasks whose replicate this worker holds that no longer need it (the task reached
    /// consensus, or the other replicas asked reach its trust without it): the worker drops
    /// them without contributing and reports them failed ([`Fault::Transient`]); the
    /// scheduler counts no failure for them.
    #[serde(default)]
    pub stop: Vec<B256>,
}

/// What happened to a replicate (defined in `poco-types` with the rest of the lifecycle).
pub use poco_types::ReplicateState;

/// `POST /replicates/{taskid}` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The new state: `contributed`, `done` or `failed`.
    pub state: ReplicateState,
    /// The result digest.
    pub result_digest: Option<B256>,
    /// Where the result archive is (the link to write on chain).
    pub location: Option<String>,
    /// The callback data, if the app produced some.
    pub callback_data: Option<Bytes>,
    /// The settling transaction.
    pub tx: Option<B256>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the failure is the app's (time limit, memory cap, bad checksum, no result):
    /// another worker would fail the same way.
    pub app_fault: bool,
    /// Whose fault the failure is; without it, [`Fault::App`] when `app_fault` is set and
    /// [`Fault::Worker`] otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// What the app printed, when it ran (successful runs too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<AppLogs>,
}

impl Report {
    /// Whose fault a failure is (see [`Report::fault`]).
    pub fn fault(&self) -> Fault {
        self.fault.unwrap_or(if self.app_fault {
            Fault::App
        } else {
            Fault::Worker
        })
    }
}

/// Whose fault a failed replicate is (defined in `poco-types` with the rest of the lifecycle).
pub use poco_types::Fault;

/// The most bytes of each of the app's streams kept in a report (the tail).
pub const MAX_LOG_BYTES: usize = 64 * 1024;

/// What the app printed in one run: the tail of its stdout and stderr, each at most
/// [`MAX_LOG_BYTES`] (lossy UTF-8), with whether the front was cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLogs {
    /// The app's stdout (its end when truncated).
    pub stdout: String,
    /// The app's stderr (its end when truncated).
    pub stderr: String,
    /// Whether the front of stdout was dropped.
    #[serde(default)]
    pub stdout_truncated: bool,
    /// Whether the front of stderr was dropped.
    #[serde(default)]
    pub stderr_truncated: bool,
}

impl AppLogs {
    /// Both streams cut to their last [`MAX_LOG_BYTES`] (on a character boundary), the
    /// flags set when something was dropped.
    pub fn bounded(mut self) -> Self {
        self.stdout_truncated |= keep_tail(&mut self.stdout, MAX_LOG_BYTES);
        self.stderr_truncated |= keep_tail(&mut self.stderr, MAX_LOG_BYTES);
        self
    }
}

/// Keeps the last `max` bytes of `text` at most (cut on a character boundary); whether
/// anything was dropped.
fn keep_tail(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.drain(..cut);
    true
}

/// One replicate in [`TaskInfo`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicateInfo {
    /// The worker.
    pub worker: Address,
    /// Its state.
    pub state: ReplicateState,
    /// The kind of failure, if it failed: `app-fault`, `deal-fault`, `worker-error` or
    /// `transient` (the texts are at `GET /tasks/{taskid}/logs`).
    pub error: Option<String>,
}

/// One replicate in [`TaskLogs`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicateLog {
    /// The worker.
    pub worker: Address,
    /// Its state.
    pub state: ReplicateState,
    /// Whether its failure was the app's.
    pub app_fault: bool,
    /// Whose fault its failure was, if it failed.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Its failure reason (for an app fault, it ends with the app's last stderr line).
    pub error: Option<String>,
    /// The app's stdout in this run (its last [`MAX_LOG_BYTES`]), when the worker ran it.
    #[serde(default)]
    pub stdout: Option<String>,
    /// The app's stderr in this run (its last [`MAX_LOG_BYTES`]), when the worker ran it.
    #[serde(default)]
    pub stderr: Option<String>,
    /// Whether the front of stdout was dropped to keep it within [`MAX_LOG_BYTES`].
    #[serde(default)]
    pub stdout_truncated: bool,
    /// Whether the front of stderr was dropped to keep it within [`MAX_LOG_BYTES`].
    #[serde(default)]
    pub stderr_truncated: bool,
}

/// `GET /tasks/{taskid}/logs` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskLogs {
    /// The task.
    pub taskid: B256,
    /// Its replicates with their failure reasons and the app's output.
    pub replicas: Vec<ReplicateLog>,
    /// Why the pool gave the task up, if it did.
    #[serde(default)]
    pub failure: Option<String>,
}

/// `GET /tasks/{taskid}` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task.
    pub taskid: B256,
    /// Its deal.
    pub dealid: B256,
    /// `PENDING` (not initialized), `ACTIVE`, `REVEALING`, `COMPLETED`, `FAILED` (given up
    /// off chain: see `failure`; the requester claims after the final deadline), `EXPIRED`,
    /// `CLAIMED`.
    pub status: PoolTaskState,
    /// The replicas needed now.
    pub replicas_needed: u64,
    /// The replicates handed out.
    pub replicas: Vec<ReplicateInfo>,
    /// Why the pool gave up the task.
    pub failure: Option<String>,
    /// The result link written on chain, once completed.
    pub results: Option<String>,
}

/// The text a scheduler of `pool` asks to sign: `poco scheduler <pool> sign-in: <32 hex>`.
pub fn challenge_text(pool: Address, nonce: &[u8; 16]) -> String {
    format!(
        "poco scheduler {pool} sign-in: {}",
        alloy::primitives::hex::encode(nonce)
    )
}

/// The pool and nonce of a sign-in text, if it has exactly that shape.
pub fn parse_challenge(text: &str) -> Option<(Address, [u8; 16])> {
    let rest = text.strip_prefix("poco scheduler ")?;
    let (pool, nonce) = rest.split_once(" sign-in: ")?;
    if pool.len() != 42 || nonce.len() != 32 {
        return None;
    }
    let pool: Address = pool.parse().ok()?;
    let mut out = [0u8; 16];
    alloy::primitives::hex::decode_to_slice(nonce, &mut out).ok()?;
    (challenge_text(pool, &out) == text).then_some((pool, out))
}

/// An error body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and what to do.
    pub error: String,
}

/// Whether an address is zero (skipped when serializing).
fn is_zero(address: &Address) -> bool {
    *address == Address::ZERO
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub's rule: `max(score / 3, 3) - 1`, capped to 16 bits (contract `TaskModule`).
    #[test]
    fn weights_follow_the_hub() {
        for (score, weight) in [
            (0, 2),
            (11, 2),
            (12, 3),
            (14, 3),
            (15, 4),
            (300, 99),
            (u64::MAX, 65_535),
        ] {
            assert_eq!(Standing::weight_of(score), weight, "score {score}");
        }
    }

    #[test]
    fn logs_keep_their_tail_within_the_bound() {
        let small = AppLogs {
            stdout: "ok\n".into(),
            stderr: String::new(),
            ..AppLogs::default()
        }
        .bounded();
        assert_eq!(small.stdout, "ok\n");
        assert!(!small.stdout_truncated && !small.stderr_truncated);

        // Multi-byte characters across the cut: the cut moves to the next boundary.
        let mut text = "é".repeat(MAX_LOG_BYTES);
        text.push_str("end");
        let big = AppLogs {
            stdout: String::new(),
            stderr: text,
            ..AppLogs::default()
        }
        .bounded();
        assert!(big.stderr.len() <= MAX_LOG_BYTES && big.stderr.ends_with("end"));
        assert!(big.stderr_truncated && !big.stdout_truncated);
        // A stream the worker already cut stays flagged.
        let cut = AppLogs {
            stdout_truncated: true,
            ..AppLogs::default()
        }
        .bounded();
        assert!(cut.stdout_truncated);
    }

    #[test]
    fn reports_without_a_fault_read_it_from_app_fault() {
        let json = r#"{"state":"failed","result_digest":null,"location":null,
            "callback_data":null,"tx":null,"error":"x","app_fault":true}"#;
        let report: Report = serde_json::from_str(json).unwrap();
        assert_eq!(report.fault(), Fault::App);
        assert!(report.logs.is_none());
        for fault in [Fault::App, Fault::Deal, Fault::Worker, Fault::Transient] {
            assert_eq!(Fault::parse(fault.as_str()), Some(fault));
        }
    }
}
