//! The TEE routes (wire format in [`crate::tee`]): a task's enclave challenge, and the release
//! of a task's secrets to an attested enclave.
//!
//! A session is refused (nothing released) unless, checked in this order of cost: the deal
//! exists, is TEE-tagged and holds the task, and the task's challenge is the one given; the
//! authorization is the personal signature of `authorization_hash(worker, taskid,
//! enclaveChallenge)` by the hub's TEE broker when one is set, else by the deal's workerpool
//! owner (the rule the hub applies when the result comes back); the task is active (classic:
//! initialized, not revealing, completed or failed, and before its contribution deadline; fast:
//! not pushed and before its push deadline); and the evidence verifies under the SMS's
//! [`poco_attest::Policy`] with user data binding this task, challenge and enclave key. Every
//! secret the task needs must then exist: the dataset key of the **deal's** dataset, the
//! requester secrets the params name, and the beneficiary's result encryption key when the
//! params ask for result encryption. Each grant and refusal is logged (task, worker, platform,
//! reason; never a secret) and counted (`poco_sms_tee_sessions_total{outcome}`).

use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use axum::{
    extract::State,
    response::{IntoResponse, Response},
    Json,
};
use poco_attest::{report_data, seal, verify_binding, Platform, Sealed};
use poco_types::{task_id, DealParams, TaskStatus, WorkerAuthorization};
use tracing::{info, warn};

use crate::{
    dataset::DatasetKey,
    deals::DealFacts,
    store::SecretId,
    tee::{
        ChallengeRequest, ChallengeResponse, SessionRequest, SessionResponse, LABEL_APP,
        LABEL_CHALLENGE, LABEL_DATASET, LABEL_REQUESTER,
    },
    Error, Shared, RESULT_KEY_NAME,
};

/// What the log and `/health` say while development attestation is accepted.
pub(crate) const DEV_WARNING: &str = "INSECURE: development attestation is accepted \
    (--insecure-dev-attestation): any process can obtain the secrets of TEE tasks; use this \
    SMS on a devnet only";

/// `POST /tee/challenges`.
pub(crate) async fn challenge(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, Error> {
    let (_, taskid) = tee_task(&shared, request.dealid, request.idx).await?;
    let enclave_challenge = shared.store.enclave_challenge(&taskid).await?;
    info!(
        target: "poco::sms",
        task = %taskid,
        %enclave_challenge,
        "enclave challenge given"
    );
    Ok(Json(ChallengeResponse {
        taskid,
        enclave_challenge,
    }))
}

/// `POST /tee/sessions`.
pub(crate) async fn session(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<SessionRequest>,
) -> Response {
    let taskid = task_id(request.dealid, U256::from(request.idx));
    let platform = request.evidence.platform;
    match grant(&shared, &request, taskid).await {
        Ok(response) => {
            shared.metrics.sessions_granted().inc();
            info!(
                target: "poco::sms",
                task = %taskid,
                worker = %request.worker,
                %platform,
                measurement = %response.measurement,
                confidential = response.confidential,
                "TEE session granted: the task's secrets were sealed to the enclave key"
            );
            if platform == Platform::Dev {
                warn!(target: "poco::sms", task = %taskid, "{DEV_WARNING}");
            }
            Json(response).into_response()
        }
        Err(e) => {
            shared.metrics.sessions_refused().inc();
            warn!(
                target: "poco::sms",
                task = %taskid,
                worker = %request.worker,
                %platform,
                reason = %e,
                "TEE session refused"
            );
            e.into_response()
        }
    }
}

/// The deal of task (`dealid`, `idx`) when it exists, is TEE-tagged and holds the task; and
/// the task id.
async fn tee_task(shared: &Shared, dealid: B256, idx: u64) -> Result<(DealFacts, B256), Error> {
    let deal = shared.deals.deal(dealid).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "there is no deal {dealid} on this chain (neither classic nor fast): give the deal id \
             the match returned, on the chain this SMS follows"
        ))
    })?;
    if !deal.is_tee() {
        return Err(Error::Forbidden(format!(
            "deal {dealid} is not TEE-tagged (tag {}): the SMS gives challenges and secrets only \
             to TEE tasks; match a request whose tag sets the tee bit (0x1)",
            deal.tag
        )));
    }
    let idx = U256::from(idx);
    if !deal.holds(idx) {
        return Err(Error::NotFound(format!(
            "task index {idx} is not in deal {dealid} (its tasks are {} to {}): give the index \
             of one of the deal's tasks",
            deal.bot_first,
            (deal.bot_first + deal.bot_size).saturating_sub(U256::from(1))
        )));
    }
    Ok((deal, task_id(dealid, idx)))
}

/// Runs the checks, then gathers and seals the task's secrets.
async fn grant(
    shared: &Shared,
    request: &SessionRequest,
    taskid: B256,
) -> Result<SessionResponse, Error> {
    let enclave_key = request.enclave_key.as_ref();
    // a well-formed enclave key, before any chain read
    poco_attest::check_recipient(enclave_key).map_err(|_| {
        Error::BadRequest(
            "enclave_key is not a secp256k1 public key (SEC1): send the enclave's fresh public \
             key, compressed (33 bytes)"
                .into(),
        )
    })?;
    let (deal, _) = tee_task(shared, request.dealid, request.idx).await?;
    let (challenge, challenge_key) = shared
        .store
        .enclave_challenge_key(&taskid)
        .await?
        .ok_or_else(|| {
            Error::Conflict(format!(
                "task {taskid} has no enclave challenge yet: its scheduler asks for one (POST \
                 /tee/challenges) before it authorizes a worker; ask the scheduler for the task \
                 again"
            ))
        })?;
    if challenge != request.enclave_challenge {
        return Err(Error::Unauthorized(format!(
            "{} is not the enclave challenge of task {taskid} ({challenge}): send the challenge \
             of the scheduler's authorization, as POST /tee/challenges gives it",
            request.enclave_challenge
        )));
    }
    check_authorization(shared, &deal, request, taskid).await?;
    check_active(shared, &deal, request.idx, taskid).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expected = report_data(taskid, challenge, enclave_key);
    let verified = verify_binding(&shared.policy, &request.evidence, &expected, now)
        .map_err(|e| Error::Unauthorized(e.to_string()))?;

    let sealed = |label: &str, value: &[u8]| -> Result<Sealed, Error> {
        seal(enclave_key, label, value).map_err(|e| Error::BadRequest(e.to_string()))
    };
    let enclave_challenge_key = sealed(LABEL_CHALLENGE, &challenge_key)?;
    let dataset_key = match deal.dataset {
        Address::ZERO => None,
        dataset => Some(sealed(
            LABEL_DATASET,
            dataset_key(shared, dataset).await?.as_bytes(),
        )?),
    };
    let app_secret = match shared.store.value(&SecretId::app(deal.app)).await? {
        Some(value) => Some(sealed(LABEL_APP, &value)?),
        None => None,
    };
    let params = DealParams::parse(&deal.params).map_err(|e| {
        Error::BadRequest(format!(
            "the params of deal {} are not readable ({e}): the deal cannot name its secrets",
            deal.dealid
        ))
    })?;
    let mut requester_secrets = std::collections::BTreeMap::new();
    for (index, name) in params.iexec_secrets.iter().flatten() {
        let value = shared
            .store
            .value(&SecretId::named(deal.requester, name))
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "the requester {} has no secret {name:?}, which the deal's params name \
                     (iexec_secrets {index:?}): the requester pushes it with `poco requester \
                     push-secret` (or `iexec requester push-secret`) and the task is asked again",
                    deal.requester
                ))
            })?;
        let label = format!("{LABEL_REQUESTER}{index}");
        requester_secrets.insert(index.clone(), sealed(&label, &value)?);
    }
    let result_encryption_key = if params.result_encryption() {
        let id = SecretId::named(deal.beneficiary, RESULT_KEY_NAME);
        let value = shared.store.value(&id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "the deal asks for result encryption, but its beneficiary {} has no result \
                 encryption key: the beneficiary pushes it with `poco result \
                 push-encryption-key` (or `iexec result push-encryption-key`)",
                deal.beneficiary
            ))
        })?;
        Some(String::from_utf8_lossy(&value).into_owned())
    } else {
        None
    };
    Ok(SessionResponse {
        platform: verified.platform,
        measurement: verified.measurement,
        confidential: verified.confidential,
        enclave_challenge_key,
        dataset_key,
        app_secret,
        requester_secrets,
        result_encryption_key,
    })
}

/// The authorization is the personal signature of `authorization_hash(worker, taskid,
/// challenge)` by the hub's TEE broker when one is set, else by the deal's workerpool owner.
async fn check_authorization(
    shared: &Shared,
    deal: &DealFacts,
    request: &SessionRequest,
    taskid: B256,
) -> Result<(), Error> {
    let authorization = WorkerAuthorization {
        worker: request.worker,
        task_id: taskid,
        enclave_challenge: request.enclave_challenge,
        sign: request.authorization.clone(),
    };
    let signer = authorization.recover().map_err(|_| {
        Error::Unauthorized(
            "the authorization is not a 65-byte signature that recovers a signer: send the \
                 scheduler's personal signature of keccak256(worker ‖ taskid ‖ enclaveChallenge)"
                .into(),
        )
    })?;
    let broker = shared.deals.teebroker().await?;
    let (allowed, who) = if broker == Address::ZERO {
        (deal.workerpool_owner, "the deal's workerpool owner")
    } else {
        (broker, "the hub's TEE broker")
    };
    if signer != allowed {
        return Err(Error::Unauthorized(format!(
            "the authorization of worker {} for task {taskid} is signed by {signer}, but only \
             {allowed} ({who}) authorizes workers of this task: ask that scheduler for the task",
            request.worker
        )));
    }
    Ok(())
}

/// The task takes contributions (classic) or a push (fast) now.
async fn check_active(
    shared: &Shared,
    deal: &DealFacts,
    idx: u64,
    taskid: B256,
) -> Result<(), Error> {
    let state = shared.deals.task_state(deal, U256::from(idx)).await?;
    match state.status {
        TaskStatus::Unset => Err(Error::Conflict(format!(
            "task {taskid} is not initialized on chain: its scheduler initializes it before a \
             worker runs it; ask again once it is"
        ))),
        TaskStatus::Active => {
            let now = shared.deals.now().await?;
            if now < state.deadline {
                Ok(())
            } else {
                Err(Error::Gone(format!(
                    "task {taskid} is past its deadline ({}): no result can be accepted any \
                     more, so its secrets are not released; the requester claims a refund",
                    poco_chain::utc_time(U256::from(state.deadline))
                )))
            }
        }
        status => Err(Error::Gone(format!(
            "task {taskid} is {}: it takes no more contributions, so its secrets are not \
             released",
            status.as_str()
        ))),
    }
}

/// The key of the deal's dataset, as its owner pushed it.
async fn dataset_key(shared: &Shared, dataset: Address) -> Result<DatasetKey, Error> {
    let value = shared
        .store
        .value(&SecretId::dataset(dataset))
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "the dataset's owner has not pushed its key: the owner of dataset {dataset} \
                 pushes it with `poco dataset push-secret` (or `iexec dataset push-secret`), \
                 then the task is asked again"
            ))
        })?;
    let key = std::str::from_utf8(&value)
        .ok()
        .and_then(|text| DatasetKey::from_base64(text).ok());
    key.ok_or_else(|| {
        Error::Conflict(format!(
            "the key pushed for dataset {dataset} is not 32 bytes in base64: the dataset cannot \
             be decrypted with it; its owner re-encrypts the dataset and registers it again with \
             its key"
        ))
    })
}
