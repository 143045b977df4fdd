//! The HTTP API, the one iExec's SMS exposes to the official SDK (`iexec dataset|app|requester
//! push-secret|check-secret`, `iexec result push-encryption-key|check-encryption-key`, `iexec
//! storage init|check`):
//!
//! | route | what |
//! |---|---|
//! | `POST /secrets/web3?secretAddress=D` | sets dataset D's key (D's owner; once) |
//! | `HEAD /secrets/web3?secretAddress=D` | 200 when D's key is set, 404 otherwise |
//! | `POST /secrets/web2?ownerAddress=O&secretName=N` | creates O's secret N (O only) |
//! | `PUT /secrets/web2?ownerAddress=O&secretName=N` | replaces O's secret N (O only) |
//! | `HEAD /secrets/web2?ownerAddress=O&secretName=N` | 200 / 404 |
//! | `POST /requesters/O/secrets/N` | creates requester O's secret N (O only; once) |
//! | `HEAD /requesters/O/secrets/N` | 200 / 404 |
//! | `POST /apps/A/secrets` | sets app A's developer secret (A's owner; once) |
//! | `HEAD /apps/A/secrets` | 200 / 404 |
//! | `POST /tee/challenges` | a TEE task's enclave challenge ([`crate::tee`]) |
//! | `POST /tee/sessions` | a TEE task's secrets, sealed to an attested enclave |
//! | `GET /health` | `ok`, and whether development attestation is accepted |
//! | `GET /metrics` | Prometheus text exposition |
//!
//! The body of a write is the secret value (at most [`MAX_SECRET_BYTES`]); the `Authorization`
//! header the personal signature of the request's challenge ([`crate::auth`]). Answers: 200,
//! 400 (malformed), 401 (no, wrong or replayed signature, or a signer who may not set this
//! secret), 404, 409 (exists and cannot be overwritten), 413 (value too long), 503 (chain
//! unreachable). No answer, log or error holds a secret value. The TEE routes (JSON, up to
//! [`MAX_TEE_BODY_BYTES`]) also answer 403 (deal not TEE-tagged), 409 (task not initialized,
//! no challenge yet) and 410 (task over); see [`crate::enclave`].
//!
//! Requester secrets and the owner's web2 secrets are one namespace (an owner's named secrets),
//! as the iExec SMS keeps them.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{header::AUTHORIZATION, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, head, post},
    Json, Router,
};
use poco_chain::AssetKind;
use tracing::info;

use crate::{
    auth, enclave,
    store::{SecretId, Written},
    Error, Shared,
};

/// The longest secret value accepted, in bytes (iExec's SMS limit: 4 kB).
pub const MAX_SECRET_BYTES: usize = 4096;

/// The longest body of a TEE route: a session request carries an attestation report and its
/// certificates (an SGX or TDX quote with its PCK chain is around 10 kB in base64).
pub const MAX_TEE_BODY_BYTES: usize = 256 * 1024;

/// The longest secret name.
pub const MAX_NAME_CHARS: usize = 64;

/// The router of the API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/secrets/web3", head(web3_exists).post(web3_create))
        .route(
            "/secrets/web2",
            head(web2_exists).post(web2_create).put(web2_update),
        )
        .route(
            "/requesters/{owner}/secrets/{name}",
            head(requester_exists).post(requester_create),
        )
        .route("/apps/{app}/secrets", head(app_exists).post(app_create))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(MAX_SECRET_BYTES))
        .merge(
            Router::new()
                .route("/tee/challenges", post(enclave::challenge))
                .route("/tee/sessions", post(enclave::session))
                .layer(DefaultBodyLimit::max(MAX_TEE_BODY_BYTES)),
        )
        .with_state(shared)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Web3Query {
    secret_address: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Web2Query {
    owner_address: Option<String>,
    secret_name: Option<String>,
}

fn address(what: &str, text: Option<&str>) -> Result<Address, Error> {
    let text = text.ok_or_else(|| Error::BadRequest(format!("the {what} is missing")))?;
    text.parse().map_err(|_| {
        Error::BadRequest(format!(
            "the {what} {text:?} is not an address: give 0x and 40 hexadecimal digits"
        ))
    })
}

fn name(text: Option<&str>) -> Result<&str, Error> {
    let text = text.ok_or_else(|| Error::BadRequest("the secretName is missing".into()))?;
    let ok = !text.is_empty()
        && text.len() <= MAX_NAME_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(text)
    } else {
        Err(Error::BadRequest(format!(
            "a secret name has 1 to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.'"
        )))
    }
}

fn value(body: &Bytes) -> Result<&[u8], Error> {
    if body.is_empty() {
        return Err(Error::BadRequest(
            "the secret value (the request body) is empty: send the value to store".into(),
        ));
    }
    Ok(body)
}

fn exists_answer(found: bool) -> StatusCode {
    if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// Checks that the signer of `challenge` is `allowed`, then writes; maps the outcome to the
/// SDK's statuses.
async fn write(
    shared: &Shared,
    headers: &HeaderMap,
    id: SecretId,
    challenge: B256,
    allowed: Address,
    value: &[u8],
    update: bool,
) -> Result<Response, Error> {
    let signer = auth::signer(authorization(headers), &challenge)?;
    if signer != allowed {
        shared.metrics.refused.inc();
        return Err(Error::Unauthorized(format!(
            "the request is signed by {signer}, but only {allowed} may set this secret: sign \
             the challenge of this exact request (target, name and value) with that wallet"
        )));
    }
    match shared.store.write(&id, value, &challenge, update).await? {
        Written::Done => {
            shared.metrics.stored.inc();
            info!(
                target: "poco::sms",
                kind = ?id.kind,
                address = %id.address,
                name = %id.name,
                update,
                "secret stored"
            );
            Ok(StatusCode::OK.into_response())
        }
        Written::Conflict if update => Err(Error::NotFound(format!(
            "{allowed} has no secret {:?} to update: create it with POST",
            id.name
        ))),
        Written::Conflict => Err(Error::Conflict(
            "this secret exists already and cannot be overwritten (only an owner's named \
             secrets can be replaced, with PUT /secrets/web2)"
                .into(),
        )),
        Written::Replay => {
            shared.metrics.refused.inc();
            Err(Error::Unauthorized(
                "this authorization was already used by an earlier request, and sending it again \
                 would put back an older value: a value replaced once cannot be set again from \
                 the same signature; send a different value"
                    .into(),
            ))
        }
    }
}

/// The current owner of an asset, or 401 when there is none.
async fn owner_of(shared: &Shared, kind: AssetKind, asset: Address) -> Result<Address, Error> {
    shared.owners.owner(kind, asset).await?.ok_or_else(|| {
        shared.metrics.refused.inc();
        Error::Unauthorized(format!(
            "there is no {kind} at {asset} on this chain: register the {kind} before setting \
             its secret"
        ))
    })
}

async fn web3_exists(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Web3Query>,
) -> Result<StatusCode, Error> {
    let dataset = address("secretAddress", q.secret_address.as_deref())?;
    Ok(exists_answer(
        shared.store.exists(&SecretId::dataset(dataset)).await?,
    ))
}

async fn web3_create(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Web3Query>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let dataset = address("secretAddress", q.secret_address.as_deref())?;
    let value = value(&body)?;
    let challenge = auth::web3_challenge(dataset, value);
    let owner = owner_of(&shared, AssetKind::Dataset, dataset).await?;
    let id = SecretId::dataset(dataset);
    write(&shared, &headers, id, challenge, owner, value, false).await
}

async fn web2_exists(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Web2Query>,
) -> Result<StatusCode, Error> {
    let owner = address("ownerAddress", q.owner_address.as_deref())?;
    let name = name(q.secret_name.as_deref())?;
    Ok(exists_answer(
        shared.store.exists(&SecretId::named(owner, name)).await?,
    ))
}

async fn web2_put(
    shared: Arc<Shared>,
    q: Web2Query,
    headers: HeaderMap,
    body: Bytes,
    update: bool,
) -> Result<Response, Error> {
    let owner = address("ownerAddress", q.owner_address.as_deref())?;
    let name = name(q.secret_name.as_deref())?;
    let value = value(&body)?;
    let challenge = auth::web2_challenge(owner, name, value);
    let id = SecretId::named(owner, name);
    write(&shared, &headers, id, challenge, owner, value, update).await
}

async fn web2_create(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Web2Query>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    web2_put(shared, q, headers, body, false).await
}

async fn web2_update(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Web2Query>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    web2_put(shared, q, headers, body, true).await
}

async fn requester_exists(
    State(shared): State<Arc<Shared>>,
    Path((owner, secret)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let owner = address("requester address", Some(&owner))?;
    let name = name(Some(&secret))?;
    Ok(exists_answer(
        shared.store.exists(&SecretId::named(owner, name)).await?,
    ))
}

async fn requester_create(
    State(shared): State<Arc<Shared>>,
    Path((owner, secret)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let q = Web2Query {
        owner_address: Some(owner),
        secret_name: Some(secret),
    };
    web2_put(shared, q, headers, body, false).await
}

async fn app_exists(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
) -> Result<StatusCode, Error> {
    let app = address("app address", Some(&app))?;
    Ok(exists_answer(
        shared.store.exists(&SecretId::app(app)).await?,
    ))
}

async fn app_create(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let app = address("app address", Some(&app))?;
    let value = value(&body)?;
    let id = SecretId::app(app);
    let challenge = auth::web2_challenge(app, &id.name, value);
    let owner = owner_of(&shared, AssetKind::App, app).await?;
    write(&shared, &headers, id, challenge, owner, value, false).await
}

async fn health(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let mut health = serde_json::json!({
        "status": "ok",
        "insecureDevAttestation": shared.policy.allow_dev,
        "acceptedMeasurements": shared.policy.measurements.len(),
    });
    if shared.policy.allow_dev {
        health["warning"] = enclave::DEV_WARNING.into();
    }
    Json(health)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    poco_service::metrics::response(poco_service::metrics::encode(
        &shared.metrics.registry.gather(),
    ))
}
