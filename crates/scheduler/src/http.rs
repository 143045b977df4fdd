//! The scheduler's HTTP API (see [`crate::api`]).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, Signature, B256};
use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use poco_types::{PoolTaskState, Tag, TaskStatus, WorkerAuthorization};
use serde::Deserialize;
use tracing::debug;

use crate::{
    api::{
        challenge_text, parse_challenge, AppLogs, Assignment, Challenge, ErrorBody, Fault,
        HeartbeatAnswer, LoginRequest, LoginResponse, Registration, ReplicateInfo, ReplicateLog,
        ReplicateState, Report, Standing, TaskInfo, TaskLogs, MAX_LOG_BYTES,
    },
    db::{ReplicateRow, WorkQuery},
    decide::{settle_mode, Policy},
    engine::{secs, unix_now, Shared},
    workers::{self, Admission, TaskKind, WorkerRecord},
    Result,
};

/// The tasks a `/work` call looks at, in order, for one this worker may take.
const CANDIDATE_TASKS: i64 = 16;
/// Sessions last a day.
const SESSION: Duration = Duration::from_secs(24 * 3600);
/// Challenges must be signed within five minutes.
const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Longest long poll.
const MAX_WAIT: u64 = 60;
/// The most sign-in challenges waiting at once: beyond, the oldest is dropped.
pub(crate) const MAX_CHALLENGES: usize = 65_536;
/// The largest request body of the scheduler's own routes (reports, registrations, logins).
const MAX_BODY: usize = 64 * 1024;
/// The largest replicate report: the app's stdout and stderr, [`MAX_LOG_BYTES`] each, as JSON
/// strings (escaped control characters take up to six bytes each).
const MAX_REPORT_BODY: usize = 16 * MAX_LOG_BYTES;
/// The longest failure reason kept from a worker's report.
const MAX_REASON_CHARS: usize = 2_000;
/// `/work` calls a session may make in a burst, and how many more it gets each second. A call
/// that hands out a replicate gives its token back: what is limited is polling for nothing
/// (a worker's assignments are bounded by its slots already).
const WORK_BURST: f64 = 20.0;
const WORK_PER_SECOND: f64 = 5.0;
/// How long the task counts of `/metrics` are reused: a scrape flood costs at most four
/// counting queries a second, and the gauges stay a quarter of a second fresh.
const METRICS_TTL: Duration = Duration::from_millis(250);

/// The sign-in challenges waiting for their signature, keyed by their random nonce (not by
/// address: nobody can overwrite or delete another's challenge), bounded, and pruned by age
/// in the order they were made (no scan of the map per request).
#[derive(Default)]
pub(crate) struct Challenges {
    by_nonce: HashMap<[u8; 16], Instant>,
    order: VecDeque<([u8; 16], Instant)>,
}

impl Challenges {
    fn prune(&mut self) {
        while let Some((nonce, at)) = self.order.front().copied() {
            if at.elapsed() < CHALLENGE_TTL && self.order.len() < MAX_CHALLENGES {
                break;
            }
            self.order.pop_front();
            if self.by_nonce.get(&nonce) == Some(&at) {
                self.by_nonce.remove(&nonce);
            }
        }
    }

    /// A new challenge's nonce.
    fn issue(&mut self) -> [u8; 16] {
        self.prune();
        let nonce = rand::random::<[u8; 16]>();
        let now = Instant::now();
        self.by_nonce.insert(nonce, now);
        self.order.push_back((nonce, now));
        nonce
    }

    /// Whether `nonce` was issued and has not expired (it stays until used or expired).
    fn valid(&self, nonce: &[u8; 16]) -> bool {
        self.by_nonce
            .get(nonce)
            .is_some_and(|at| at.elapsed() < CHALLENGE_TTL)
    }

    /// Uses `nonce` up (a successful sign-in).
    fn take(&mut self, nonce: &[u8; 16]) -> bool {
        self.by_nonce.remove(nonce).is_some()
    }

    /// The challenges held.
    pub(crate) fn len(&self) -> usize {
        self.by_nonce.len()
    }
}

/// A token bucket per worker for `/work`.
#[derive(Default)]
pub(crate) struct RateLimits {
    buckets: HashMap<Address, (f64, Instant)>,
}

impl RateLimits {
    /// Takes a token of `worker`'s bucket; false when it is empty.
    fn allow(&mut self, worker: Address) -> bool {
        if self.buckets.len() > 100_000 {
            // Full buckets are the same as no bucket: forget those.
            self.buckets
                .retain(|_, (_, at)| at.elapsed().as_secs_f64() * WORK_PER_SECOND < WORK_BURST);
        }
        let now = Instant::now();
        let (tokens, at) = self.buckets.entry(worker).or_insert((WORK_BURST, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * WORK_PER_SECOND).min(WORK_BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back the token of a call that handed `worker` a replicate.
    fn refund(&mut self, worker: Address) {
        if let Some((tokens, _)) = self.buckets.get_mut(&worker) {
            *tokens = (*tokens + 1.0).min(WORK_BURST);
        }
    }
}

type S = State<Arc<Shared>>;

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        Self(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

pub(crate) fn router(shared: Arc<Shared>) -> Result<Router> {
    let gate = Arc::new(Gate(shared.clone()));
    let store = poco_store::router(shared.store.clone().with_read_gate(gate));
    Ok(Router::new()
        .route("/challenge", get(challenge))
        .route("/login", post(login))
        .route("/workers/register", post(register))
        .route("/work", get(work))
        .route("/heartbeat", post(heartbeat))
        .route("/replicates", get(replicates))
        .route(
            "/replicates/{taskid}",
            post(report).layer(DefaultBodyLimit::max(MAX_REPORT_BODY)),
        )
        .route("/tasks/{taskid}", get(task))
        .route("/tasks/{taskid}/logs", get(task_logs))
        .route("/workerpoolorder", get(workerpool_order))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
        .nest("/store", store))
}

/// The store's read gate: a task's archives are served once the task is completed, to the
/// deal's requester and beneficiary signed in here, or to anyone when the deal's params ask
/// for public results.
struct Gate(Arc<Shared>);

impl poco_store::ReadGate for Gate {
    fn check<'a>(
        &'a self,
        task_id: B256,
        headers: &'a HeaderMap,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::result::Result<(), poco_store::ReadRefusal>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            may_read(&self.0, task_id, headers, true)
                .await
                .map_err(|e| poco_store::ReadRefusal {
                    status: e.0.as_u16(),
                    message: e.1,
                })
        })
    }
}

/// Whether the request may read `taskid`'s results (`results`) or logs: only once the task
/// is completed (results) or final (logs), and only by the deal's requester or beneficiary
/// unless its params ask for public results.
async fn may_read(
    s: &Shared,
    taskid: B256,
    headers: &HeaderMap,
    results: bool,
) -> Result<(), ApiError> {
    let unknown = || {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("this pool has no task {taskid}"),
        )
    };
    let task = s.db.task(taskid).await?.ok_or_else(unknown)?;
    let deal = s.db.deal(task.dealid).await?.ok_or_else(unknown)?;
    let mut status = task.status;
    if results && status != PoolTaskState::Completed && !deal.fast {
        // The chain may be ahead of the scheduler's reading of it.
        let read = tokio::time::timeout(Duration::from_secs(5), s.client.task(taskid)).await;
        if let Ok(Ok(t)) = read {
            if TaskStatus::try_from(t.status) == Ok(TaskStatus::Completed) {
                status = PoolTaskState::Completed;
            }
        }
    }
    let readable = if results {
        status == PoolTaskState::Completed
    } else {
        status.is_over()
    };
    if !readable {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "task {taskid} is {status}: its {} can be read once it is {}",
                if results { "results" } else { "logs" },
                if results { "completed" } else { "over" }
            ),
        ));
    }
    if poco_types::DealParams::parse(&deal.params).is_ok_and(|p| p.public_results()) {
        return Ok(());
    }
    let reader = worker(s, headers).await.map_err(|_| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            format!(
                "the {} of task {taskid} are served to the deal's requester and beneficiary: \
                 sign in with one of their wallets (GET /challenge, POST /login) and send the \
                 bearer token",
                if results { "results" } else { "logs" }
            ),
        )
    })?;
    if Some(reader) != deal.requester && Some(reader) != deal.beneficiary {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{reader} is neither the requester nor the beneficiary of task {taskid}: sign \
                 in with one of their wallets"
            ),
        ));
    }
    Ok(())
}

async fn challenge(State(s): S) -> Json<Challenge> {
    let nonce = s
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .issue();
    Json(Challenge {
        challenge: challenge_text(s.config.workerpool, &nonce),
    })
}

async fn login(
    State(s): S,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let refused = |m: &str| ApiError(StatusCode::UNAUTHORIZED, m.into());
    let nonce = match parse_challenge(&req.challenge) {
        Some((pool, nonce)) if pool == s.config.workerpool => nonce,
        _ => {
            return Err(refused(
                "this is not a challenge of this scheduler: get one from GET /challenge",
            ))
        }
    };
    if !s
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .valid(&nonce)
    {
        return Err(refused(
            "the challenge is unknown, used or expired: get a new one from GET /challenge",
        ));
    }
    // Checked before the challenge is used up: a bad attempt leaves it to its owner.
    let signer = Signature::try_from(req.signature.as_ref())
        .ok()
        .and_then(|sig| sig.recover_address_from_msg(req.challenge.as_bytes()).ok());
    if signer != Some(req.address) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!("the challenge is not signed by {}", req.address),
        ));
    }
    if !s
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(&nonce)
    {
        return Err(refused(
            "the challenge was used meanwhile: get a new one from GET /challenge",
        ));
    }
    let token = alloy::primitives::hex::encode(rand::random::<[u8; 32]>());
    s.db.add_session(&token, req.address, unix_now() + SESSION.as_secs() as i64)
        .await?;
    // Requesters sign in too (to read their results): a wallet the pool does not admit as a
    // worker gets its session, and the worker routes refuse it with the reason, also told
    // here.
    let record = s.db.worker_record(req.address).await?;
    Ok(Json(LoginResponse {
        token,
        expires_in: SESSION.as_secs(),
        standing: Some(standing(&s, record.as_ref())),
    }))
}

/// What a wallet is told at sign-in: the pool's admission mode and the operator's mark.
fn standing(s: &Shared, record: Option<&WorkerRecord>) -> Standing {
    Standing {
        admission: s.config.admission.to_string(),
        trusted: record.is_some_and(|r| r.trusted),
    }
}

/// The signed-in worker of a worker route (register, work, heartbeat, replicates, reports),
/// refused with `403` and the reason when the pool does not admit it (closed pools: not on
/// the allowlist; any pool: excluded).
async fn admitted(s: &Shared, headers: &HeaderMap) -> Result<Address, ApiError> {
    let w = worker(s, headers).await?;
    let record = s.db.worker_record(w).await?;
    workers::sign_in(s.config.admission, w, record.as_ref())
        .map_err(|refusal| ApiError(StatusCode::FORBIDDEN, refusal.0))?;
    Ok(w)
}

async fn worker(s: &Shared, headers: &HeaderMap) -> Result<Address, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing bearer token: sign in with GET /challenge and POST /login".into(),
            )
        })?;
    s.db.session(token, unix_now()).await?.ok_or_else(|| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "unknown or expired session: sign in again".into(),
        )
    })
}

async fn register(
    State(s): S,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(r): Json<Registration>,
) -> Result<StatusCode, ApiError> {
    let w = admitted(&s, &headers).await?;
    if r.slots == 0 {
        return Err(bad("slots must be at least 1"));
    }
    // Where it registers from: the operator's hint that workers share a host or a network.
    let ip = peer.map(|Extension(ConnectInfo(peer))| {
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        workers::ip_prefix(workers::client_ip(
            peer,
            forwarded,
            &s.config.trusted_proxies,
        ))
    });
    let by = format!("{} admission", s.config.admission);
    s.db.seen_from(w, ip.as_deref(), &by, unix_now()).await?;
    s.db.register(
        w,
        i64::from(r.cores),
        r.memory_bytes as i64,
        &r.tags.to_string(),
        i64::from(r.slots),
        unix_now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn work(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let w = admitted(&s, &headers).await?;
    if !s
        .work_limits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .allow(w)
    {
        s.metrics.rate_limited.inc();
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many /work calls: at most {WORK_PER_SECOND} a second (bursts of \
                 {WORK_BURST}); long-poll with ?wait= instead"
            ),
        ));
    }
    let until = Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT));
    loop {
        let notified = s.work.notified();
        if let Some(assignment) = try_assign(&s, w).await? {
            s.work_limits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refund(w);
            return Ok(Json(assignment).into_response());
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        // Looked at again each second at least: a task held back after a failure becomes
        // available without any event.
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), notified).await;
    }
}

async fn try_assign(s: &Shared, w: Address) -> Result<Option<Assignment>, ApiError> {
    let _guard = s.assign_lock.lock().await;
    s.pollers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(w, Instant::now());
    let record = s.db.worker_record(w).await?;
    // A worker runs as many replicates at once as its slots (see `workers::slot_cap`).
    if s.db.held_by(w).await? >= workers::slot_cap(record.as_ref()) {
        return Ok(None);
    }
    let record = record.unwrap_or_else(|| WorkerRecord {
        address: w,
        ..Default::default()
    });
    let mode = s.config.admission;
    let replicated_only =
        mode != Admission::Unrestricted && !workers::qualifies_unreplicated(mode, &record);
    let now = s.chain_now.load(Ordering::Relaxed);
    let live_since = unix_now() - s.config.lease.as_secs() as i64;
    // The deals' tags this worker does not register (a TEE deal's for a plain worker): their
    // tasks are not among its candidates (an unreadable tag is not served either).
    let unserved_tags =
        s.db.deal_tags()
            .await?
            .into_iter()
            .filter(|text| {
                text.parse::<Tag>()
                    .map_or(true, |tag| workers::serves(w, record.tags, tag).is_err())
            })
            .collect();
    let tasks =
        s.db.next_tasks_for(&WorkQuery {
            worker: w,
            now,
            unix: unix_now(),
            max_failures: Policy::new(&s.config).max_failures(),
            live_since,
            replicated_only,
            limit: CANDIDATE_TASKS,
            unserved_tags,
        })
        .await?;
    let mut balance = None;
    let mut available = None;
    let mut picked = None;
    for task in tasks {
        let Some(deal) = s.db.deal(task.dealid).await? else {
            continue;
        };
        if let Err(refusal) = workers::serves(w, record.tags, deal.tag) {
            debug!(%w, taskid = %task.taskid, "not handed out: {refusal}");
            continue;
        }
        let mut kind = TaskKind {
            fast: deal.fast,
            trust: deal.trust,
            worker_stake: None,
        };
        if workers::needs_balance(mode, &record, &kind) {
            kind.worker_stake = Some(s.worker_stake(deal.dealid).await?);
            if balance.is_none() {
                balance = s.client.account(w).await.ok().map(|(free, _)| free);
            }
        }
        if let Err(refusal) = workers::may_take(mode, &record, &kind, balance) {
            debug!(%w, taskid = %task.taskid, "not handed out: {refusal}");
            continue;
        }
        if !kind.unreplicated() {
            if available.is_none() {
                available = Some(available_workers(s, &record).await?);
            }
            let available = available.as_deref().unwrap_or_default();
            if !policy_asks(s, w, &task, &deal, available).await? {
                continue;
            }
        }
        // A TEE task is handed out with its enclave challenge only, which `challenges` asks
        // of the SMS ahead (never here, under the assignment lock): without one yet it waits,
        // and nobody is charged for it.
        let challenge = if deal.tag.is_tee() {
            match task.enclave_challenge {
                Some(challenge) => challenge,
                None => {
                    s.tee.notify_one();
                    continue;
                }
            }
        } else {
            Address::ZERO
        };
        picked = Some((task, deal, challenge));
        break;
    }
    let Some((task, deal, challenge)) = picked else {
        return Ok(None);
    };
    let taskid = task.taskid;
    let (app, dataset) = s.app_ref(&deal).await?;
    let authorization = WorkerAuthorization::sign(&s.signer, w, taskid, challenge)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    s.db.assign(taskid, w, unix_now() + secs(s.config.lease))
        .await?;
    s.metrics.assignments.inc();
    Ok(Some(Assignment {
        taskid,
        dealid: deal.dealid,
        idx: task.idx as u64,
        mode: settle_mode(deal.fast, deal.trust),
        app,
        dataset,
        params: deal.params.clone(),
        bot_first: deal.bot_first as u64,
        bot_size: deal.bot_size as u64,
        max_execution_time: deal.timeref as u64,
        start_time: deal.start_time as u64,
        deadline: task.deadline as u64,
        authorization: authorization.sign,
        fast_deal: deal.fast.then(|| deal.fast_deal.clone()),
        callback: deal.callback,
        store_url: s.store_url.clone(),
        tag: deal.tag.0,
        enclave_challenge: challenge,
        sms_url: deal
            .tag
            .is_tee()
            .then(|| s.sms.as_ref().map(|sms| sms.url().to_owned()))
            .flatten(),
    }))
}

/// A worker that asked for work this recently (a free slot long-polls `/work`, looked at
/// again each second) is one the replication policy may ask.
const POLLED_WITHIN: Duration = Duration::from_secs(3);

/// The workers that could take a replica now: those that asked for work within
/// [`POLLED_WITHIN`], admitted, not excluded, with a free slot; `asker` (its record) first.
async fn available_workers(s: &Shared, asker: &WorkerRecord) -> Result<Vec<workers::Available>> {
    let pollers: Vec<Address> = {
        let mut pollers = s.pollers.lock().unwrap_or_else(|e| e.into_inner());
        pollers.retain(|_, at| at.elapsed() < POLLED_WITHIN);
        pollers.keys().copied().collect()
    };
    let mut available = vec![workers::Available {
        record: asker.clone(),
        score: s.score(asker.address).await?,
    }];
    for worker in pollers {
        if worker == asker.address {
            continue;
        }
        let Some(record) = s.db.worker_record(worker).await? else {
            continue;
        };
        if workers::sign_in(s.config.admission, worker, Some(&record)).is_err()
            || s.db.held_by(worker).await? >= workers::slot_cap(Some(&record))
        {
            continue;
        }
        available.push(workers::Available {
            score: s.score(worker).await?,
            record,
        });
    }
    Ok(available)
}

/// Whether the replication policy asks `w` for a replica of `task` now (see
/// [`workers::dispatch`]). A worker that tried the task before and lost or failed its
/// replicate is not available to it, unless it is the one asking (the database already
/// decided it may try again).
async fn policy_asks(
    s: &Shared,
    w: Address,
    task: &crate::db::TaskRow,
    deal: &crate::db::DealRow,
    available: &[workers::Available],
) -> Result<bool> {
    let replicates = s.db.replicates(task.taskid).await?;
    let live = held(s, &replicates).await?;
    let tried = |a: &Address| *a != w && replicates.iter().any(|r| r.worker == *a);
    // Only workers registering the deal's tag are asked (a TEE task never to a plain worker).
    let available: Vec<workers::Available> = available
        .iter()
        .filter(|a| !tried(&a.record.address))
        .filter(|a| workers::serves(a.record.address, a.record.tags, deal.tag).is_ok())
        .cloned()
        .collect();
    let trust = u64::try_from(deal.trust).unwrap_or(0);
    let among: Vec<Address> = live
        .iter()
        .map(|h| h.worker)
        .chain(available.iter().map(|a| a.record.address))
        .collect();
    let colluders = s.db.colluders_among(&among).await?;
    let decision = workers::dispatch(
        s.config.admission,
        s.config.registration_window,
        task.taskid,
        trust,
        false,
        &live,
        &available,
        &colluders,
    );
    debug!(%w, taskid = %task.taskid, ask = ?decision.ask, shortfall = ?decision.shortfall,
        "replication policy");
    Ok(decision.ask.contains(&w))
}

async fn heartbeat(State(s): S, headers: HeaderMap) -> Result<Json<HeartbeatAnswer>, ApiError> {
    let w = admitted(&s, &headers).await?;
    s.db.heartbeat(w, unix_now(), unix_now() + secs(s.config.lease))
        .await?;
    let mut stop = Vec::new();
    for r in s.db.worker_replicates(w).await? {
        if useless(&s, w, r.taskid).await? {
            stop.push(r.taskid);
        }
    }
    if !stop.is_empty() {
        debug!(%w, ?stop, "replicates no longer needed: the worker is told to stop them");
    }
    Ok(Json(HeartbeatAnswer { stop }))
}

/// Whether `w`'s replicate of `taskid` is no longer needed: the task of a replicated deal
/// reached consensus, or the replication policy finds the other replicas asked reach its trust
/// without it ([`poco_trust::policy::Decision::useless`]).
async fn useless(s: &Shared, w: Address, taskid: B256) -> Result<bool> {
    let Some(task) = s.db.task(taskid).await? else {
        return Ok(false);
    };
    let Some(deal) = s.db.deal(task.dealid).await? else {
        return Ok(false);
    };
    if deal.fast || deal.trust <= 1 {
        return Ok(false);
    }
    let consensus = match task.status {
        PoolTaskState::Active => false,
        PoolTaskState::Revealing | PoolTaskState::Completed => true,
        _ => return Ok(false),
    };
    let replicates = s.db.replicates(taskid).await?;
    let live = held(s, &replicates).await?;
    let trust = u64::try_from(deal.trust).unwrap_or(0);
    let decision = workers::dispatch(
        s.config.admission,
        s.config.registration_window,
        taskid,
        trust,
        consensus,
        &live,
        &[],
        &[],
    );
    Ok(decision.useless.contains(&w))
}

/// The live replicas of a task (assigned, contributed, done) with their workers' on-chain
/// odds and records, as the replication policy reads them.
async fn held(s: &Shared, replicates: &[ReplicateRow]) -> Result<Vec<workers::Held>> {
    let mut live = Vec::new();
    for r in replicates.iter().filter(|r| r.state.is_live()) {
        live.push(workers::Held {
            worker: r.worker,
            w: poco_trust::consensus::credibility(s.score(r.worker).await?),
            digest: r.result_digest,
            record: s.db.worker_record(r.worker).await?,
        });
    }
    Ok(live)
}

async fn report(
    State(s): S,
    headers: HeaderMap,
    Path(taskid): Path<B256>,
    Json(r): Json<Report>,
) -> Result<StatusCode, ApiError> {
    let w = admitted(&s, &headers).await?;
    if !matches!(
        r.state,
        ReplicateState::Contributed | ReplicateState::Done | ReplicateState::Failed
    ) {
        return Err(bad("a report's state is contributed, done or failed"));
    }
    if r.state != ReplicateState::Failed && r.result_digest.is_none() {
        return Err(bad(
            "a contributed or done replicate reports its result digest",
        ));
    }
    let fault = r.fault();
    let failed = r.state == ReplicateState::Failed;
    // A replicate dropped because the task no longer needs it (the heartbeat's answer) is no
    // failed attempt: decided here, before the report changes the replicas, never on the
    // worker's word.
    let stopped = failed && useless(&s, w, taskid).await?;
    let error = r
        .error
        .as_ref()
        .map(|e| e.chars().take(MAX_REASON_CHARS).collect::<String>());
    let logs = r
        .logs
        .clone()
        .map(AppLogs::bounded)
        .and_then(|l| serde_json::to_string(&l).ok());
    let row = ReplicateRow {
        taskid,
        worker: w,
        state: r.state,
        result_digest: r.result_digest,
        location: r.location.clone(),
        callback_data: r.callback_data.clone(),
        error: error.clone(),
        app_fault: failed && fault == Fault::App,
        reveal_attempts: 0,
        rejected: None,
        fault: failed.then_some(fault),
        logs,
    };
    if !s.db.report(&row).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("{w} holds no open replicate of task {taskid}"),
        ));
    }
    s.metrics.reports.inc();
    if stopped {
        debug!(%w, %taskid, "a replicate no longer needed was dropped: no failure counted");
    } else if failed {
        crate::engine::after_failure(&s, taskid, fault, error.as_deref()).await?;
    }
    s.wake.notify_one();
    s.work.notify_waiters();
    Ok(StatusCode::NO_CONTENT)
}

async fn replicates(State(s): S, headers: HeaderMap) -> Result<Json<Vec<B256>>, ApiError> {
    let w = admitted(&s, &headers).await?;
    let rows = s.db.worker_replicates(w).await?;
    Ok(Json(rows.iter().map(|r| r.taskid).collect()))
}

async fn task(State(s): S, Path(taskid): Path<B256>) -> Result<Json<TaskInfo>, ApiError> {
    let Some(t) = s.db.task(taskid).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("this pool has no task {taskid} (not one of its deals, or not seen yet)"),
        ));
    };
    let replicas =
        s.db.replicates(taskid)
            .await?
            .into_iter()
            .map(|r| ReplicateInfo {
                worker: r.worker,
                state: r.state,
                // The error texts hold the app's output: only a kind here, the texts at
                // GET /tasks/{id}/logs for the requester.
                error: r.error.as_ref().map(|_| {
                    match r.fault {
                        Some(Fault::App) => "app-fault",
                        Some(Fault::Deal) => "deal-fault",
                        Some(Fault::Transient) => "transient",
                        Some(Fault::Worker) => "worker-error",
                        None if r.app_fault => "app-fault",
                        None => "worker-error",
                    }
                    .to_string()
                }),
            })
            .collect();
    Ok(Json(TaskInfo {
        taskid,
        dealid: t.dealid,
        status: t.status,
        replicas_needed: t.replicas_needed as u64,
        replicas,
        failure: t.failure,
        results: t.results,
    }))
}

async fn task_logs(
    State(s): S,
    headers: HeaderMap,
    Path(taskid): Path<B256>,
) -> Result<Json<TaskLogs>, ApiError> {
    may_read(&s, taskid, &headers, false).await?;
    let failure = s.db.task(taskid).await?.and_then(|t| t.failure);
    let replicas =
        s.db.replicates(taskid)
            .await?
            .into_iter()
            .map(|r| {
                let logs = r
                    .logs
                    .as_deref()
                    .and_then(|l| serde_json::from_str::<AppLogs>(l).ok());
                ReplicateLog {
                    worker: r.worker,
                    state: r.state,
                    app_fault: r.app_fault,
                    fault: r.fault,
                    error: r.error,
                    stdout_truncated: logs.as_ref().is_some_and(|l| l.stdout_truncated),
                    stderr_truncated: logs.as_ref().is_some_and(|l| l.stderr_truncated),
                    stdout: logs.as_ref().map(|l| l.stdout.clone()),
                    stderr: logs.map(|l| l.stderr),
                }
            })
            .collect();
    Ok(Json(TaskLogs {
        taskid,
        replicas,
        failure,
    }))
}

async fn workerpool_order(State(s): S) -> Response {
    match &s.published {
        Some(order) => Json(order.clone()).into_response(),
        None => ApiError(
            StatusCode::NOT_FOUND,
            "this scheduler publishes no workerpool order".into(),
        )
        .into_response(),
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(s): S) -> Result<Response, ApiError> {
    let challenges = s.challenges.lock().unwrap_or_else(|e| e.into_inner()).len();
    let counts = {
        let mut cached = s.task_counts.lock().await;
        match cached.as_ref() {
            Some((at, counts)) if at.elapsed() < METRICS_TTL => counts.clone(),
            _ => {
                let counts = s.db.task_counts().await?;
                *cached = Some((Instant::now(), counts.clone()));
                counts
            }
        }
    };
    let mut text = s.metrics.render(challenges, &counts);
    text.push_str(&excluded_gauge(s.db.excluded_workers().await?));
    Ok(poco_service::metrics::response(text))
}

/// The gauge of excluded workers, in the Prometheus text format.
fn excluded_gauge(excluded: i64) -> String {
    use prometheus::core::Collector;
    let gauge = prometheus::IntGauge::new(
        "poco_scheduler_excluded_workers",
        "Workers excluded from the pool (until the operator re-admits them).",
    )
    .expect("a valid metric name");
    gauge.set(excluded);
    poco_service::metrics::encode(&gauge.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m6_challenge_flood_stays_bounded() {
        let mut challenges = Challenges::default();
        let first = challenges.issue();
        for _ in 0..MAX_CHALLENGES + 5_000 {
            challenges.issue();
        }
        assert!(challenges.len() <= MAX_CHALLENGES, "{}", challenges.len());
        assert!(challenges.order.len() <= MAX_CHALLENGES);
        // The oldest went first.
        assert!(!challenges.valid(&first));
    }

    #[test]
    fn challenge_text_round_trips_and_nothing_else_parses() {
        let pool = Address::repeat_byte(7);
        let nonce = [0xab; 16];
        let text = challenge_text(pool, &nonce);
        assert_eq!(parse_challenge(&text), Some((pool, nonce)));
        for bad in [
            format!("{text} "),
            text.to_uppercase(),
            text.replace("sign-in", "login"),
            format!("poco scheduler {pool} sign-in: {}", "ab".repeat(32)),
        ] {
            assert_eq!(parse_challenge(&bad), None, "{bad}");
        }
    }

    #[test]
    fn excluded_workers_are_a_gauge() {
        let text = excluded_gauge(3);
        assert!(text
            .lines()
            .any(|l| l == "# TYPE poco_scheduler_excluded_workers gauge"));
        assert!(text
            .lines()
            .any(|l| l == "poco_scheduler_excluded_workers 3"));
    }

    #[test]
    fn work_bucket_refuses_a_flood() {
        let mut limits = RateLimits::default();
        let worker = Address::repeat_byte(1);
        let allowed = (0..100).filter(|_| limits.allow(worker)).count();
        assert!(allowed < 30, "{allowed}");
        assert!(limits.allow(Address::repeat_byte(2)));
    }

    #[test]
    fn work_bucket_charges_only_calls_that_hand_nothing_out() {
        let mut limits = RateLimits::default();
        let worker = Address::repeat_byte(1);
        // A busy worker whose every call gets a replicate is never limited.
        for _ in 0..1_000 {
            assert!(limits.allow(worker));
            limits.refund(worker);
        }
        // Empty polls still drain the bucket.
        let allowed = (0..100).filter(|_| limits.allow(worker)).count();
        assert!(allowed < 30, "{allowed}");
    }
}
