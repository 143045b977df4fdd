//! The scheduler's HTTP API (see [`crate::api`]).

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, Signature, B256};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use poco_types::WorkerAuthorization;
use serde::Deserialize;

use crate::{
    api::{
        Assignment, Challenge, ErrorBody, LoginRequest, LoginResponse, Mode, Registration,
        ReplicateInfo, ReplicateState, Report, TaskInfo,
    },
    db::ReplicateRow,
    engine::{secs, unix_now, Shared},
    Result,
};

/// Sessions last a day.
const SESSION: Duration = Duration::from_secs(24 * 3600);
/// Challenges must be signed within five minutes.
const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Longest long poll.
const MAX_WAIT: u64 = 60;

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
    let store_config = poco_store::StoreConfig {
        path: shared.config.store_dir.clone(),
        trusted_schedulers: vec![shared.signer.address()],
        public_url: Some(shared.store_url.clone()),
        ..Default::default()
    };
    let store = poco_store::router(poco_store::StoreState::new(&store_config)?);
    Ok(Router::new()
        .route("/challenge", get(challenge))
        .route("/login", post(login))
        .route("/workers/register", post(register))
        .route("/work", get(work))
        .route("/heartbeat", post(heartbeat))
        .route("/replicates", get(replicates))
        .route("/replicates/{taskid}", post(report))
        .route("/tasks/{taskid}", get(task))
        .route("/workerpoolorder", get(workerpool_order))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(shared)
        .nest("/store", store))
}

#[derive(Deserialize)]
struct AddressQuery {
    address: Address,
}

async fn challenge(State(s): S, Query(q): Query<AddressQuery>) -> Json<Challenge> {
    let text = format!(
        "poco scheduler {} sign-in: {}",
        s.config.workerpool,
        alloy::primitives::hex::encode(rand::random::<[u8; 16]>())
    );
    let mut challenges = s.challenges.lock().unwrap_or_else(|e| e.into_inner());
    challenges.retain(|_, (_, at)| at.elapsed() < CHALLENGE_TTL);
    challenges.insert(q.address, (text.clone(), Instant::now()));
    Json(Challenge { challenge: text })
}

async fn login(
    State(s): S,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let expected = s
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&req.address);
    let Some((text, at)) = expected else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!(
                "no challenge for {}: get one from GET /challenge?address=",
                req.address
            ),
        ));
    };
    if text != req.challenge || at.elapsed() >= CHALLENGE_TTL {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "the challenge does not match or expired: get a new one".into(),
        ));
    }
    let signer = Signature::try_from(req.signature.as_ref())
        .ok()
        .and_then(|sig| sig.recover_address_from_msg(text.as_bytes()).ok());
    if signer != Some(req.address) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!("the challenge is not signed by {}", req.address),
        ));
    }
    let token = alloy::primitives::hex::encode(rand::random::<[u8; 32]>());
    s.db.add_session(
        &token,
        &req.address.to_string(),
        unix_now() + SESSION.as_secs() as i64,
    )
    .await?;
    Ok(Json(LoginResponse {
        token,
        expires_in: SESSION.as_secs(),
    }))
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
    let worker = s.db.session(token, unix_now()).await?.ok_or_else(|| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "unknown or expired session: sign in again".into(),
        )
    })?;
    worker.parse().map_err(|_| bad("corrupt session"))
}

async fn register(
    State(s): S,
    headers: HeaderMap,
    Json(r): Json<Registration>,
) -> Result<StatusCode, ApiError> {
    let w = worker(&s, &headers).await?;
    if r.slots == 0 {
        return Err(bad("slots must be at least 1"));
    }
    s.db.register(
        &w.to_string(),
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
    let w = worker(&s, &headers).await?;
    let key = w.to_string();
    let until = Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT));
    loop {
        let notified = s.work.notified();
        if let Some(assignment) = try_assign(&s, w, &key).await? {
            return Ok(Json(assignment).into_response());
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        let _ = tokio::time::timeout(left, notified).await;
    }
}

async fn try_assign(s: &Shared, w: Address, key: &str) -> Result<Option<Assignment>, ApiError> {
    let _guard = s.assign_lock.lock().await;
    let now = s.chain_now.load(Ordering::Relaxed);
    let Some(task) = s.db.next_task_for(key, now).await? else {
        return Ok(None);
    };
    let Some(deal) = s.db.deal(&task.dealid).await? else {
        return Ok(None);
    };
    let taskid: B256 = task.taskid.parse().map_err(|_| bad("corrupt task id"))?;
    let (app, dataset) = s.app_ref(&deal).await?;
    let authorization = WorkerAuthorization::sign(&s.signer, w, taskid, Address::ZERO)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    s.db.assign(&task.taskid, key, unix_now() + secs(s.config.lease))
        .await?;
    s.metrics.assignments.fetch_add(1, Ordering::Relaxed);
    let mode = if deal.fast {
        Mode::Fast
    } else if deal.trust <= 1 {
        Mode::ContributeAndFinalize
    } else {
        Mode::Contribute
    };
    Ok(Some(Assignment {
        taskid,
        dealid: deal.dealid.parse().unwrap_or_default(),
        idx: task.idx as u64,
        mode,
        app,
        dataset,
        params: deal.params.clone(),
        bot_first: deal.bot_first as u64,
        bot_size: deal.bot_size as u64,
        max_execution_time: deal.timeref as u64,
        start_time: deal.start_time as u64,
        deadline: task.deadline as u64,
        authorization: authorization.sign,
        fast_deal: if deal.fast {
            deal.fast_deal.parse().ok()
        } else {
            None
        },
        callback: deal.callback.parse().unwrap_or_default(),
        store_url: s.store_url.clone(),
    }))
}

async fn heartbeat(State(s): S, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let w = worker(&s, &headers).await?;
    s.db.heartbeat(
        &w.to_string(),
        unix_now(),
        unix_now() + secs(s.config.lease),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn state_name(state: ReplicateState) -> &'static str {
    match state {
        ReplicateState::Assigned => "assigned",
        ReplicateState::Contributed => "contributed",
        ReplicateState::Done => "done",
        ReplicateState::Failed => "failed",
        ReplicateState::Lost => "lost",
    }
}

fn parse_state(state: &str) -> ReplicateState {
    match state {
        "contributed" => ReplicateState::Contributed,
        "done" => ReplicateState::Done,
        "failed" => ReplicateState::Failed,
        "lost" => ReplicateState::Lost,
        _ => ReplicateState::Assigned,
    }
}

async fn report(
    State(s): S,
    headers: HeaderMap,
    Path(taskid): Path<B256>,
    Json(r): Json<Report>,
) -> Result<StatusCode, ApiError> {
    let w = worker(&s, &headers).await?;
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
    let row = ReplicateRow {
        taskid: taskid.to_string(),
        worker: w.to_string(),
        state: state_name(r.state).into(),
        result_digest: r.result_digest.map(|d| d.to_string()),
        location: r.location.clone(),
        callback_data: r.callback_data.as_ref().map(|c| c.to_string()),
        error: r.error.clone(),
        app_fault: r.app_fault,
    };
    if !s.db.report(&row.taskid, &row.worker, &row).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("{w} holds no open replicate of task {taskid}"),
        ));
    }
    s.metrics.reports.fetch_add(1, Ordering::Relaxed);
    s.wake.notify_one();
    s.work.notify_waiters();
    Ok(StatusCode::NO_CONTENT)
}

async fn replicates(State(s): S, headers: HeaderMap) -> Result<Json<Vec<B256>>, ApiError> {
    let w = worker(&s, &headers).await?;
    let rows = s.db.worker_replicates(&w.to_string()).await?;
    Ok(Json(
        rows.iter().filter_map(|r| r.taskid.parse().ok()).collect(),
    ))
}

async fn task(State(s): S, Path(taskid): Path<B256>) -> Result<Json<TaskInfo>, ApiError> {
    let key = taskid.to_string();
    let Some(t) = s.db.task(&key).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("this pool has no task {taskid} (not one of its deals, or not seen yet)"),
        ));
    };
    let replicas =
        s.db.replicates(&key)
            .await?
            .into_iter()
            .map(|r| ReplicateInfo {
                worker: r.worker.parse().unwrap_or_default(),
                state: parse_state(&r.state),
                error: r.error,
            })
            .collect();
    Ok(Json(TaskInfo {
        taskid,
        dealid: t.dealid.parse().unwrap_or_default(),
        status: t.status,
        replicas_needed: t.replicas_needed as u64,
        replicas,
        failure: t.failure,
        results: t.results,
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

async fn metrics(State(s): S) -> Result<String, ApiError> {
    let m = &s.metrics;
    let mut out = String::new();
    let mut line = |name: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    };
    line(
        "poco_scheduler_deals_total",
        "Deals of the pool seen.",
        m.deals.load(Ordering::Relaxed),
    );
    line(
        "poco_scheduler_assignments_total",
        "Replicates handed to workers.",
        m.assignments.load(Ordering::Relaxed),
    );
    line(
        "poco_scheduler_reports_total",
        "Reports from workers.",
        m.reports.load(Ordering::Relaxed),
    );
    line(
        "poco_scheduler_transactions_total",
        "Transactions sent.",
        m.transactions.load(Ordering::Relaxed),
    );
    line(
        "poco_scheduler_transaction_errors_total",
        "Transactions that failed.",
        m.transaction_errors.load(Ordering::Relaxed),
    );
    out.push_str(
        "# HELP poco_scheduler_tasks Tasks by status.\n# TYPE poco_scheduler_tasks gauge\n",
    );
    for (status, n) in s.db.task_counts().await? {
        out.push_str(&format!(
            "poco_scheduler_tasks{{status=\"{status}\"}} {n}\n"
        ));
    }
    Ok(out)
}
