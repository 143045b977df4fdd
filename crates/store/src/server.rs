//! The HTTP server: routes, upload authentication, and the mapping of refusals to JSON errors.

use crate::{
    api::{
        object_key, object_name, parse_object_name, upload_hash, ErrorBody, StoredObject,
        TaskObjects, UploadReceipt, AUTHORIZATION_HEADER, ENCLAVE_HEADER, SIGNATURE_HEADER,
        STORAGE_KIND, WORKER_HEADER,
    },
    config::StoreConfig,
    metrics::{Metrics, RejectReason},
    store::{PutOutcome, ResultStore},
    Error, Result,
};
use alloy_primitives::{hex, Address, B256};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use futures::StreamExt;
use object_store::ObjectStore;
use poco_types::{signature::recover_personal, WorkerAuthorization};
use std::{future::Future, sync::Arc};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// A refused read of a task's archives: the status and the message sent back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRefusal {
    /// 401 (sign in), 403 (not allowed, or not yet), 404 (unknown task), 5xx.
    pub status: u16,
    /// What went wrong and what to do.
    pub message: String,
}

/// Decides who may list, download and head a task's archives. Without a gate (a standalone
/// store) reads are open to anyone; the scheduler's store has one that serves a task's
/// results only once the task is completed, and only to the deal's requester and
/// beneficiary (or anyone, when the requester asked for public results).
pub trait ReadGate: Send + Sync + 'static {
    /// `Ok` when the request, by its headers, may read `task_id`'s archives.
    fn check<'a>(
        &'a self,
        task_id: B256,
        headers: &'a HeaderMap,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::result::Result<(), ReadRefusal>> + Send + 'a>>;
}

/// The shared state of the routes: the store, the trust and size rules, and the counters.
/// Cheap to clone.
#[derive(Clone)]
pub struct StoreState {
    inner: Arc<Inner>,
    gate: Option<Arc<dyn ReadGate>>,
}

impl std::fmt::Debug for StoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreState")
            .field("inner", &self.inner)
            .field("gated", &self.gate.is_some())
            .finish()
    }
}

#[derive(Debug)]
struct Inner {
    store: ResultStore,
    trusted_schedulers: Vec<Address>,
    max_upload_bytes: u64,
    public_url: String,
    metrics: Metrics,
}

impl StoreState {
    /// Validates `config` and opens its backend.
    ///
    /// `config.public_url` must be set ([`serve`] fills it from the listening address).
    pub fn new(config: &StoreConfig) -> Result<Self> {
        config.validate()?;
        Self::with_objects(config, config.object_store()?)
    }

    /// Validates `config` and serves the archives of `objects` instead of the configured backend.
    pub fn with_objects(config: &StoreConfig, objects: Arc<dyn ObjectStore>) -> Result<Self> {
        config.validate()?;
        let public_url = config.public_url.as_deref().ok_or_else(|| {
            Error::invalid_config(
                "public_url is not set: write the base URL requesters reach the store at",
            )
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: ResultStore::new(objects, config.max_objects_per_task)
                    .with_max_objects_per_worker(config.max_objects_per_worker),
                trusted_schedulers: config.trusted_schedulers.clone(),
                max_upload_bytes: config.max_upload_bytes,
                public_url: public_url.trim_end_matches('/').to_owned(),
                metrics: Metrics::default(),
            }),
            gate: None,
        })
    }

    /// The same store, its reads decided by `gate`.
    pub fn with_read_gate(mut self, gate: Arc<dyn ReadGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    async fn may_read(&self, task_id: B256, headers: &HeaderMap) -> Result<(), Rejection> {
        match &self.gate {
            None => Ok(()),
            Some(gate) => gate
                .check(task_id, headers)
                .await
                .map_err(Rejection::ReadRefused),
        }
    }

    /// The archive storage behind the routes.
    pub fn store(&self) -> &ResultStore {
        &self.inner.store
    }

    /// The public URL of an archive.
    pub fn location(&self, task_id: B256, sha256: B256) -> String {
        format!("{}/{}", self.inner.public_url, object_key(task_id, sha256))
    }
}

/// The routes of the store (see the crate documentation for the table). Served by [`serve`]
/// or nested in the scheduler's router, they are traced by `poco_service::serve`.
pub fn router(state: StoreState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/results/{task_id}",
            get(list)
                .put(upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/results/{task_id}/{name}", get(download).head(head))
        // Uploads read their body themselves, under max_upload_bytes; nothing else takes one.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// Serves `config`'s store on `listener` until the process stops.
///
/// Without `public_url`, links are written as `http://<listening address>`.
pub async fn serve(config: StoreConfig, listener: TcpListener) -> Result<()> {
    serve_with_shutdown(config, listener, std::future::pending()).await
}

/// Like [`serve`], stopping gracefully (in-flight requests finish) when `shutdown` completes.
/// Served by `poco_service::serve` (connection cap, header time limit, request tracing).
pub async fn serve_with_shutdown(
    mut config: StoreConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    if config.public_url.is_none() {
        if addr.ip().is_unspecified() {
            warn!(
                target: "poco::store",
                %addr,
                "public_url is not set and the store listens on all interfaces: result links \
                 will name {addr}, which requesters cannot reach; set public_url"
            );
        }
        config.public_url = Some(format!("http://{addr}"));
    }
    let state = StoreState::new(&config)?;
    info!(
        target: "poco::store",
        %addr,
        backend = %state.store().objects(),
        public_url = state.inner.public_url,
        trusted_schedulers = ?config.trusted_schedulers,
        "result store listening"
    );
    poco_service::serve(
        listener,
        router(state),
        poco_service::ServeOptions::default(),
        shutdown,
    )
    .await
    .map_err(|e| Error::Serve(std::io::Error::other(e)))
}

/// Why a request is refused. Turned into a status and a JSON `{"error"}` body in one place,
/// [`Rejection::into_response`].
#[derive(Debug)]
enum Rejection {
    BadTaskId(String),
    BadObjectName(String),
    MissingHeader(&'static str),
    MalformedHeader {
        header: &'static str,
        expected: &'static str,
    },
    BadAuthorization(poco_types::Error),
    UntrustedScheduler {
        worker: Address,
        task_id: B256,
        recovered: Address,
        trusted: Vec<Address>,
    },
    BadWorkerSignature(poco_types::Error),
    WorkerMismatch {
        recovered: Address,
        worker: Address,
    },
    EmptyBody,
    TooLarge {
        limit: u64,
    },
    BodyRead(axum::Error),
    TooManyObjects(Error),
    NotFound(String),
    ReadRefused(ReadRefusal),
    Internal(Error),
}

impl Rejection {
    /// The metrics label of a refused upload.
    fn reason(&self) -> RejectReason {
        match self {
            Self::BadTaskId(_) | Self::BadObjectName(_) => RejectReason::BadTaskId,
            Self::MissingHeader(_) | Self::MalformedHeader { .. } => RejectReason::BadHeader,
            Self::BadAuthorization(_) => RejectReason::BadAuthorization,
            Self::UntrustedScheduler { .. } => RejectReason::UntrustedScheduler,
            Self::BadWorkerSignature(_) | Self::WorkerMismatch { .. } => {
                RejectReason::WorkerSignature
            }
            Self::EmptyBody | Self::BodyRead(_) => RejectReason::BadBody,
            Self::TooLarge { .. } => RejectReason::TooLarge,
            Self::TooManyObjects(_) => RejectReason::TooManyObjects,
            Self::NotFound(_) | Self::ReadRefused(_) | Self::Internal(_) => RejectReason::Internal,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadTaskId(_)
            | Self::BadObjectName(_)
            | Self::MissingHeader(_)
            | Self::MalformedHeader { .. }
            | Self::EmptyBody
            | Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::BadAuthorization(_)
            | Self::BadWorkerSignature(_)
            | Self::WorkerMismatch { .. } => StatusCode::UNAUTHORIZED,
            Self::UntrustedScheduler { .. } => StatusCode::FORBIDDEN,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyObjects(_) => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::ReadRefused(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadTaskId(given) => format!(
                "{given:?} is not a task id: write the 32-byte task id as 0x followed by 64 hex \
                 digits"
            ),
            Self::BadObjectName(given) => format!(
                "{given:?} is not a result archive name: archives are named <sha256>.zip with 64 \
                 hex digits, as in the location returned by the upload"
            ),
            Self::MissingHeader(name) => format!(
                "missing header {name}: an upload needs {AUTHORIZATION_HEADER} (the scheduler's \
                 authorization), {WORKER_HEADER} (the worker address) and {SIGNATURE_HEADER} \
                 (the worker's signature of the upload)"
            ),
            Self::MalformedHeader { header, expected } => {
                format!("malformed header {header}: expected {expected}")
            }
            Self::BadAuthorization(err) => format!("unusable {AUTHORIZATION_HEADER}: {err}"),
            Self::UntrustedScheduler {
                worker,
                task_id,
                recovered,
                trusted,
            } => format!(
                "the authorization of worker {worker} for task {task_id} was signed by \
                 {recovered}, which this store does not trust: it trusts only {}. Use an \
                 authorization signed by the pool's scheduler for this very worker and task \
                 (enclave 0x0)",
                join(trusted)
            ),
            Self::BadWorkerSignature(err) => format!("unusable {SIGNATURE_HEADER}: {err}"),
            Self::WorkerMismatch { recovered, worker } => format!(
                "the upload signature recovers to {recovered}, not to the worker {worker} named \
                 in {WORKER_HEADER}: the worker must personal-sign upload_hash(taskid, \
                 sha256(body)) over exactly the bytes it uploads"
            ),
            Self::EmptyBody => {
                "empty body: send the result archive (a zip of iexec_out) as the body".into()
            }
            Self::TooLarge { limit } => format!(
                "the archive is larger than this store's limit of {limit} bytes: shrink the \
                 result, or ask the pool operator to raise max_upload_bytes"
            ),
            Self::BodyRead(err) => format!("cannot read the body: {err}; send it again"),
            Self::TooManyObjects(err) => err.to_string(),
            Self::NotFound(what) => what.clone(),
            Self::ReadRefused(r) => r.message.clone(),
            Self::Internal(_) => {
                "the store failed to serve this request; try again later, the operator will \
                 find the cause in the store's log"
                    .into()
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            warn!(target: "poco::store", %err, "request failed");
        }
        let body = ErrorBody {
            error: self.message(),
        };
        (self.status(), Json(body)).into_response()
    }
}

fn join(addresses: &[Address]) -> String {
    addresses
        .iter()
        .map(|a| a.to_checksum(None))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_task_id(given: &str) -> Result<B256, Rejection> {
    let digits = given.strip_prefix("0x").unwrap_or(given);
    if digits.len() != 64 {
        return Err(Rejection::BadTaskId(given.to_owned()));
    }
    digits
        .parse()
        .map_err(|_| Rejection::BadTaskId(given.to_owned()))
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Rejection> {
    let value = headers.get(name).ok_or(Rejection::MissingHeader(name))?;
    value.to_str().map_err(|_| Rejection::MalformedHeader {
        header: name,
        expected: "visible ASCII",
    })
}

fn hex_header(headers: &HeaderMap, name: &'static str) -> Result<Vec<u8>, Rejection> {
    hex::decode(header(headers, name)?.trim()).map_err(|_| Rejection::MalformedHeader {
        header: name,
        expected: "a 65-byte signature as 0x-prefixed hex",
    })
}

/// Checks the headers of an upload; returns the authorized worker and its upload signature.
fn authorize(
    state: &StoreState,
    task_id: B256,
    headers: &HeaderMap,
) -> Result<(Address, Vec<u8>), Rejection> {
    let worker: Address = header(headers, WORKER_HEADER)?
        .trim()
        .parse()
        .map_err(|_| Rejection::MalformedHeader {
            header: WORKER_HEADER,
            expected: "the worker's 20-byte address as 0x-prefixed hex",
        })?;
    // A TEE task's authorization covers its enclave challenge; a standard task's, 0x0.
    let enclave_challenge = match headers.get(ENCLAVE_HEADER) {
        None => Address::ZERO,
        Some(_) => header(headers, ENCLAVE_HEADER)?
            .trim()
            .parse()
            .map_err(|_| Rejection::MalformedHeader {
                header: ENCLAVE_HEADER,
                expected: "the task's enclave challenge, a 20-byte address as 0x-prefixed hex",
            })?,
    };
    let authorization = WorkerAuthorization {
        worker,
        task_id,
        enclave_challenge,
        sign: hex_header(headers, AUTHORIZATION_HEADER)?.into(),
    };
    let signature = hex_header(headers, SIGNATURE_HEADER)?;
    let recovered = authorization
        .recover()
        .map_err(Rejection::BadAuthorization)?;
    if !state.inner.trusted_schedulers.contains(&recovered) {
        return Err(Rejection::UntrustedScheduler {
            worker,
            task_id,
            recovered,
            trusted: state.inner.trusted_schedulers.clone(),
        });
    }
    Ok((worker, signature))
}

/// An upload written to a temporary file while its digest was computed.
struct Spooled {
    file: tempfile::TempPath,
    sha256: B256,
    size: u64,
}

/// Streams the body to a temporary file, hashing it on the way and refusing it as soon as it
/// passes `limit` bytes: an upload is never held whole in memory.
async fn spool_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Spooled, Rejection> {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Rejection::TooLarge { limit });
    }
    let spool_err = |e: std::io::Error| Rejection::Internal(Error::Spool(e));
    let (file, path) = tempfile::NamedTempFile::new()
        .map_err(spool_err)?
        .into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Rejection::BodyRead)?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Rejection::TooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(spool_err)?;
    }
    file.flush().await.map_err(spool_err)?;
    Ok(Spooled {
        file: path,
        sha256: B256::from_slice(&hasher.finalize()),
        size,
    })
}

async fn upload(
    State(state): State<StoreState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept_upload(&state, &task_id, &headers, body).await {
        Ok((status, receipt)) => (status, Json(receipt)).into_response(),
        Err(rejection) => {
            let reason = rejection.reason();
            state.inner.metrics.rejected(reason);
            info!(
                target: "poco::store",
                task_id,
                reason = reason.label(),
                error = rejection.message(),
                "upload refused"
            );
            rejection.into_response()
        }
    }
}

async fn accept_upload(
    state: &StoreState,
    task_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, UploadReceipt), Rejection> {
    let task_id = parse_task_id(task_id)?;
    // Authenticate before reading a byte of the body.
    let (worker, signature) = authorize(state, task_id, headers)?;
    let spooled = spool_body(headers, body, state.inner.max_upload_bytes).await?;
    if spooled.size == 0 {
        return Err(Rejection::EmptyBody);
    }
    let sha256 = spooled.sha256;
    let recovered = recover_personal(&upload_hash(task_id, sha256), &signature)
        .map_err(Rejection::BadWorkerSignature)?;
    if recovered != worker {
        return Err(Rejection::WorkerMismatch { recovered, worker });
    }
    let (id, outcome) = state
        .inner
        .store
        .put_file(task_id, worker, sha256, spooled.size, &spooled.file)
        .await
        .map_err(|err| match err {
            Error::TooManyObjects { .. } | Error::TooManyWorkerObjects { .. } => {
                Rejection::TooManyObjects(err)
            }
            err => Rejection::Internal(err),
        })?;
    let metrics = &state.inner.metrics;
    let status = match outcome {
        PutOutcome::Created => {
            metrics.created(id.size);
            StatusCode::CREATED
        }
        PutOutcome::Existing => {
            metrics.existing();
            StatusCode::OK
        }
    };
    info!(
        target: "poco::store",
        %task_id,
        %worker,
        %sha256,
        size = id.size,
        ?outcome,
        "result archive stored"
    );
    Ok((
        status,
        UploadReceipt {
            storage: STORAGE_KIND.into(),
            location: state.location(task_id, sha256),
            sha256,
            size: id.size,
        },
    ))
}

fn parse_object_path(task_id: &str, name: &str) -> Result<(B256, B256), Rejection> {
    let task_id = parse_task_id(task_id)?;
    let sha256 =
        parse_object_name(name).ok_or_else(|| Rejection::BadObjectName(name.to_owned()))?;
    Ok((task_id, sha256))
}

fn not_found(task_id: B256, sha256: B256) -> Rejection {
    Rejection::NotFound(format!(
        "no result archive {} for task {task_id}: check the location, or list the task's \
         archives at /results/{task_id}",
        object_name(sha256)
    ))
}

fn archive_headers(size: u64) -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(size)),
        // Content-addressed: the bytes behind a name never change. Private: a gated store
        // serves them to signed-in readers only, so shared caches must not keep them.
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        ),
    ]
}

async fn download(
    State(state): State<StoreState>,
    Path((task_id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Rejection> {
    let (task_id, sha256) = parse_object_path(&task_id, &name)?;
    state.may_read(task_id, &headers).await?;
    let metrics = &state.inner.metrics;
    let Some(found) = state
        .store()
        .get(task_id, sha256)
        .await
        .map_err(Rejection::Internal)?
    else {
        metrics.download_missed();
        return Err(not_found(task_id, sha256));
    };
    let size = found.meta.size;
    metrics.served(size);
    debug!(target: "poco::store", %task_id, %sha256, size, "serving result archive");
    Ok((
        archive_headers(size),
        Body::from_stream(found.into_stream()),
    )
        .into_response())
}

async fn head(
    State(state): State<StoreState>,
    Path((task_id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Rejection> {
    let (task_id, sha256) = parse_object_path(&task_id, &name)?;
    state.may_read(task_id, &headers).await?;
    match state
        .store()
        .head(task_id, sha256)
        .await
        .map_err(Rejection::Internal)?
    {
        Some(meta) => Ok(archive_headers(meta.size).into_response()),
        None => Err(not_found(task_id, sha256)),
    }
}

async fn list(
    State(state): State<StoreState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TaskObjects>, Rejection> {
    let task_id = parse_task_id(&task_id)?;
    state.may_read(task_id, &headers).await?;
    let objects = state
        .store()
        .list(task_id)
        .await
        .map_err(Rejection::Internal)?
        .into_iter()
        .map(|(sha256, meta)| StoredObject {
            location: state.location(task_id, sha256),
            sha256,
            size: meta.size,
            last_modified: meta.last_modified.to_rfc3339(),
        })
        .collect();
    Ok(Json(TaskObjects { task_id, objects }))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(state): State<StoreState>) -> Response {
    let mut text = String::new();
    state.inner.metrics.render(&mut text);
    poco_service::metrics::response(text)
}

async fn unknown_route() -> Rejection {
    Rejection::NotFound(
        "no such route: the store serves PUT/GET /results/{taskid}, GET/HEAD \
         /results/{taskid}/{sha256}.zip, GET /health and GET /metrics"
            .into(),
    )
}

async fn wrong_method() -> Response {
    let error = "method not allowed: uploads are PUT /results/{taskid}, downloads GET or HEAD \
                 /results/{taskid}/{sha256}.zip"
        .to_owned();
    (StatusCode::METHOD_NOT_ALLOWED, Json(ErrorBody { error })).into_response()
}
