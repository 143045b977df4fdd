//! The TEE routes on a real chain (anvil and the poco contracts): a task's enclave challenge,
//! the release of its secrets to an enclave attested by the development provider (on an SMS
//! started with the insecure flag), and every refusal: wrong signer, task not active, deal not
//! TEE-tagged, evidence binding another key or task, development evidence without the flag,
//! missing secrets. A refusal releases nothing.

mod common;

use alloy::{
    primitives::{keccak256, Address, Bytes, B256, U256},
    providers::ext::AnvilApi,
};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use common::Chain;
use poco_attest::{report_data, DevProvider, EnclaveKey, Platform, Provider};
use poco_chain::{ClientConfig, PocoClient};
use poco_sms::{
    dataset::DatasetKey,
    tee::{
        ChallengeRequest, ChallengeResponse, SessionRequest, SessionResponse, LABEL_APP,
        LABEL_CHALLENGE, LABEL_DATASET, LABEL_REQUESTER,
    },
    SmsClient, RESULT_KEY_NAME,
};
use poco_types::{
    authorization_hash, task_id, AppOrder, DatasetOrder, Order as _, RequestOrder, WorkerpoolOrder,
};
use reqwest::StatusCode;

const TEE: u8 = 1;

/// A chain with a TEE workerpool, its scheduler, a requester, a worker, and an SMS.
struct Tee {
    chain: Chain,
    scheduler: PrivateKeySigner,
    requester: PrivateKeySigner,
    worker: PrivateKeySigner,
    pool: Address,
    client: PocoClient,
    sms: SmsClient,
    http: reqwest::Client,
}

/// A deal's id, its first task index, and its fast settlement fields when it is fast.
struct Deal {
    dealid: B256,
    first: u64,
    fast: Option<poco_chain::bindings::hub::IPoco::FastDeal>,
}

impl Tee {
    async fn start(
        sms_url: impl FnOnce(&Chain) -> poco_sms::SmsConfig,
    ) -> (Self, poco_sms::Running) {
        let chain = Chain::start().await;
        let (scheduler, requester, worker) = (
            chain.dev.keys[3].clone(),
            chain.dev.keys[4].clone(),
            chain.dev.keys[5].clone(),
        );
        let pool = chain
            .dev
            .create_workerpool(scheduler.address(), "tee pool")
            .await
            .unwrap();
        let client = PocoClient::connect(
            ClientConfig::new(chain.dev.anvil.endpoint(), chain.dev.deployment.hub),
            Some(requester.clone()),
        )
        .await
        .unwrap();
        let running = poco_sms::start(sms_url(&chain)).await.unwrap();
        let sms = SmsClient::new(&running.url);
        let tee = Self {
            chain,
            scheduler,
            requester,
            worker,
            pool,
            client,
            sms,
            http: reqwest::Client::new(),
        };
        (tee, running)
    }

    /// Matches a deal of the chain's app for `volume` tasks (with `dataset` when given),
    /// TEE-tagged when `tag` is [`TEE`], on the fast path when `fast`.
    async fn deal(
        &self,
        tag: u8,
        dataset: Option<Address>,
        params: &str,
        volume: u64,
        fast: bool,
    ) -> Deal {
        let domain = self.client.domain();
        let salt = || B256::from(rand::random::<[u8; 32]>());
        let tag = B256::with_last_byte(tag);
        let owner = &self.chain.owner;
        let app = AppOrder {
            app: self.chain.app,
            volume: U256::from(100),
            tag,
            salt: salt(),
            ..Default::default()
        }
        .sign(&domain, owner)
        .unwrap();
        let dataset = dataset.map(|dataset| {
            DatasetOrder {
                dataset,
                volume: U256::from(100),
                salt: salt(),
                ..Default::default()
            }
            .sign(&domain, owner)
            .unwrap()
        });
        let workerpool = WorkerpoolOrder {
            workerpool: self.pool,
            volume: U256::from(100),
            tag,
            salt: salt(),
            ..Default::default()
        }
        .sign(&domain, &self.scheduler)
        .unwrap();
        let request = RequestOrder {
            app: self.chain.app,
            dataset: dataset.as_ref().map_or(Address::ZERO, |d| d.order.dataset),
            requester: self.requester.address(),
            beneficiary: self.requester.address(),
            volume: U256::from(volume),
            tag,
            params: params.into(),
            salt: salt(),
            ..Default::default()
        }
        .sign(&domain, &self.requester)
        .unwrap();
        if fast {
            let (deal, fast) = self
                .client
                .match_orders_fast(&app, dataset.as_ref(), &workerpool, &request)
                .await
                .unwrap();
            Deal {
                dealid: deal.dealid,
                first: deal.first_task.to(),
                fast: Some(fast),
            }
        } else {
            let deal = self
                .client
                .match_orders(&app, dataset.as_ref(), &workerpool, &request)
                .await
                .unwrap();
            Deal {
                dealid: deal.dealid,
                first: deal.first_task.to(),
                fast: None,
            }
        }
    }

    async fn post(
        &self,
        url: &str,
        path: &str,
        body: &impl serde::Serialize,
    ) -> (StatusCode, String) {
        let res = self
            .http
            .post(format!("{url}{path}"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    async fn challenge(&self, url: &str, dealid: B256, idx: u64) -> (StatusCode, String) {
        self.post(url, "/tee/challenges", &ChallengeRequest { dealid, idx })
            .await
    }

    /// A session request for task (`dealid`, `idx`) authorized by `signer`, with development
    /// evidence binding `bound_key` and `bound_task` (what an honest enclave binds: its own key
    /// and this task).
    fn request(
        &self,
        (dealid, idx): (B256, u64),
        challenge: Address,
        signer: &PrivateKeySigner,
        key: &EnclaveKey,
        (bound_key, bound_task): (&[u8], B256),
    ) -> SessionRequest {
        let taskid = task_id(dealid, U256::from(idx));
        let worker = self.worker.address();
        let authorization = signer
            .sign_message_sync(authorization_hash(worker, taskid, challenge).as_slice())
            .unwrap();
        SessionRequest {
            dealid,
            idx,
            worker,
            enclave_challenge: challenge,
            authorization: Bytes::from(authorization.as_bytes().to_vec()),
            enclave_key: key.public().into(),
            evidence: DevProvider
                .attest(&report_data(bound_task, challenge, bound_key))
                .unwrap(),
        }
    }

    /// An honest request: the scheduler's authorization, evidence binding the key and task.
    fn honest(
        &self,
        dealid: B256,
        idx: u64,
        challenge: Address,
        key: &EnclaveKey,
    ) -> SessionRequest {
        let taskid = task_id(dealid, U256::from(idx));
        let public = key.public();
        self.request(
            (dealid, idx),
            challenge,
            &self.scheduler,
            key,
            (&public, taskid),
        )
    }

    /// [`Tee::session`] of [`Tee::honest`].
    async fn honest_session(
        &self,
        url: &str,
        (dealid, idx): (B256, u64),
        challenge: Address,
        key: &EnclaveKey,
    ) -> (StatusCode, String) {
        let request = self.honest(dealid, idx, challenge, key);
        self.session(url, &request).await
    }

    /// The text of `GET url`.
    async fn get(&self, url: String) -> String {
        let res = self.http.get(url).send().await.unwrap();
        res.text().await.unwrap()
    }

    async fn session(&self, url: &str, request: &SessionRequest) -> (StatusCode, String) {
        self.post(url, "/tee/sessions", request).await
    }
}

fn challenge_of(answer: (StatusCode, String)) -> Address {
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    serde_json::from_str::<ChallengeResponse>(&answer.1)
        .unwrap()
        .enclave_challenge
}

/// A refusal: `status`, a message holding `needle`, and no sealed value.
fn refused(answer: (StatusCode, String), status: StatusCode, needle: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert!(body.contains(needle), "expected {needle:?} in {body}");
    assert!(
        !body.contains("ciphertext") && !body.contains("ephemeral"),
        "a refusal releases nothing: {body}"
    );
    assert!(serde_json::from_str::<SessionResponse>(&body).is_err());
}

fn sms_config(chain: &Chain, dir: &std::path::Path, allow_dev: bool) -> poco_sms::SmsConfig {
    let mut config = chain.sms_config(dir);
    config.policy.allow_dev = allow_dev;
    config
}

#[tokio::test]
async fn a_classic_tee_task_gets_its_secrets_only_when_everything_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (tee, running) = Tee::start(|chain| sms_config(chain, dir.path(), true)).await;
    let url = running.url.clone();
    let (owner, requester) = (&tee.chain.owner, &tee.requester);
    let dataset = tee.chain.dataset;
    let params = r#"{"iexec_secrets":{"1":"api-token"},"iexec_result_encryption":true}"#;
    let deal = tee.deal(TEE, Some(dataset), params, 2, false).await;
    let (dealid, idx) = (deal.dealid, deal.first);
    let taskid = task_id(dealid, U256::from(idx));
    let plain = tee.deal(0, None, "", 1, false).await;

    // the challenge: refused for an unknown deal, a deal not TEE-tagged, an index outside the bag
    let (status, text) = tee.challenge(&url, B256::repeat_byte(0x42), 0).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("there is no deal"), "{text}");
    let (status, text) = tee.challenge(&url, plain.dealid, plain.first).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("not TEE-tagged"), "{text}");
    let (status, text) = tee.challenge(&url, dealid, idx + 2).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("is not in deal"), "{text}");

    // made once: the same address again and under concurrent calls
    let challenge = challenge_of(tee.challenge(&url, dealid, idx).await);
    let calls = (0..6).map(|_| tee.challenge(&url, dealid, idx));
    for answer in futures::future::join_all(calls).await {
        assert_eq!(challenge_of(answer), challenge);
    }
    let client_answer = tee
        .sms
        .tee_challenge(&ChallengeRequest { dealid, idx })
        .await
        .unwrap();
    assert_eq!(
        (client_answer.taskid, client_answer.enclave_challenge),
        (taskid, challenge)
    );
    let other_task = challenge_of(tee.challenge(&url, dealid, idx + 1).await);
    assert_ne!(other_task, challenge);

    let key = EnclaveKey::generate();
    // not initialized yet
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::CONFLICT,
        "not initialized",
    );
    tee.client
        .initialize_tasks(&[(dealid, U256::from(idx))])
        .await
        .unwrap();

    // the deal's dataset key is not pushed (another dataset's is): refused
    let other_dataset = PocoClient::connect(
        ClientConfig::new(tee.chain.dev.anvil.endpoint(), tee.chain.dev.deployment.hub),
        Some(owner.clone()),
    )
    .await
    .unwrap()
    .create_dataset(
        "other",
        "https://example.invalid/o.enc",
        B256::repeat_byte(3),
    )
    .await
    .unwrap();
    let other_key = DatasetKey::generate();
    tee.sms
        .push_dataset_secret(owner, other_dataset, &other_key.to_base64())
        .await
        .unwrap();
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::NOT_FOUND,
        "the dataset's owner has not pushed its key",
    );
    let dataset_key = DatasetKey::generate();
    tee.sms
        .push_dataset_secret(owner, dataset, &dataset_key.to_base64())
        .await
        .unwrap();

    // the requester secret the params name is missing, then the result key
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::NOT_FOUND,
        "\"api-token\"",
    );
    tee.sms
        .push_requester_secret(requester, "api-token", "the requester's token")
        .await
        .unwrap();
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::NOT_FOUND,
        "poco result push-encryption-key",
    );
    let result_key =
        "-----BEGIN PUBLIC KEY-----\nthe beneficiary's key\n-----END PUBLIC KEY-----\n";
    tee.sms
        .push_named_secret(requester, RESULT_KEY_NAME, result_key, false)
        .await
        .unwrap();
    tee.sms
        .push_app_secret(owner, tee.chain.app, "the developer's secret")
        .await
        .unwrap();

    // an authorization signed by another wallet
    let stranger = tee.chain.stranger.clone();
    let public = key.public();
    refused(
        tee.session(
            &url,
            &tee.request((dealid, idx), challenge, &stranger, &key, (&public, taskid)),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        &tee.scheduler.address().to_string(),
    );
    // a challenge that is not the task's
    refused(
        tee.honest_session(&url, (dealid, idx), other_task, &key)
            .await,
        StatusCode::UNAUTHORIZED,
        "is not the enclave challenge of task",
    );
    // evidence binding another key, or another task
    let mallory = EnclaveKey::generate().public();
    refused(
        tee.session(
            &url,
            &tee.request(
                (dealid, idx),
                challenge,
                &tee.scheduler,
                &key,
                (&mallory, taskid),
            ),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "does not bind the enclave key",
    );
    let other_taskid = task_id(dealid, U256::from(idx + 1));
    refused(
        tee.session(
            &url,
            &tee.request(
                (dealid, idx),
                challenge,
                &tee.scheduler,
                &key,
                (&public, other_taskid),
            ),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "does not bind the enclave key",
    );
    // a deal that is not TEE-tagged
    let not_tee = tee.honest(plain.dealid, plain.first, challenge, &key);
    refused(
        tee.session(&url, &not_tee).await,
        StatusCode::FORBIDDEN,
        "not TEE-tagged",
    );

    // granted: every value opens with the enclave key, and only with it
    let (status, body) = tee
        .session(&url, &tee.honest(dealid, idx, challenge, &key))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let granted: SessionResponse = serde_json::from_str(&body).unwrap();
    assert!(!granted.confidential);
    assert_eq!(granted.platform, Platform::Dev);
    let challenge_key = key
        .open(LABEL_CHALLENGE, &granted.enclave_challenge_key)
        .unwrap();
    assert_eq!(
        PrivateKeySigner::from_slice(&challenge_key)
            .unwrap()
            .address(),
        challenge,
        "the challenge key is the challenge's"
    );
    let sealed_dataset = granted
        .dataset_key
        .as_ref()
        .expect("the deal has a dataset");
    assert_eq!(
        key.open(LABEL_DATASET, sealed_dataset).unwrap().as_slice(),
        dataset_key.as_bytes(),
        "the deal's dataset's key"
    );
    assert_ne!(dataset_key.as_bytes(), other_key.as_bytes());
    let app_secret = granted.app_secret.as_ref().unwrap();
    assert_eq!(
        key.open(LABEL_APP, app_secret).unwrap().as_slice(),
        b"the developer's secret"
    );
    let token = &granted.requester_secrets["1"];
    assert_eq!(
        key.open(&format!("{LABEL_REQUESTER}1"), token)
            .unwrap()
            .as_slice(),
        b"the requester's token"
    );
    assert_eq!(granted.requester_secrets.len(), 1);
    assert_eq!(granted.result_encryption_key.as_deref(), Some(result_key));
    let thief = EnclaveKey::generate();
    assert!(thief
        .open(LABEL_CHALLENGE, &granted.enclave_challenge_key)
        .is_err());
    assert!(thief.open(LABEL_DATASET, sealed_dataset).is_err());
    assert!(thief.open(LABEL_APP, app_secret).is_err());
    assert!(key.open(LABEL_APP, sealed_dataset).is_err(), "labels bind");
    // the plaintext values never travel
    for secret in ["the requester's token", "the developer's secret"] {
        assert!(!body.contains(secret));
    }
    assert!(!body.contains(&*dataset_key.to_base64()));
    // the typed client gets the same
    let again = tee
        .sms
        .tee_session(&tee.honest(dealid, idx, challenge, &key))
        .await
        .unwrap();
    assert_eq!(
        key.open(LABEL_CHALLENGE, &again.enclave_challenge_key)
            .unwrap()
            .as_slice(),
        challenge_key.as_slice()
    );

    // an SMS without the insecure flag refuses development evidence
    let strict_dir = tempfile::tempdir().unwrap();
    let strict = poco_sms::start(sms_config(&tee.chain, strict_dir.path(), false))
        .await
        .unwrap();
    let strict_challenge = challenge_of(tee.challenge(&strict.url, dealid, idx).await);
    refused(
        tee.session(
            &strict.url,
            &tee.honest(dealid, idx, strict_challenge, &key),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "development attestation is refused",
    );
    let health: serde_json::Value =
        serde_json::from_str(&tee.get(format!("{}/health", strict.url)).await).unwrap();
    assert_eq!(health["insecureDevAttestation"], false, "{health}");
    strict.shutdown().await.unwrap().unwrap();

    // /health says the flag is on; /metrics counts grants and refusals
    let health: serde_json::Value =
        serde_json::from_str(&tee.get(format!("{url}/health")).await).unwrap();
    assert_eq!(health["insecureDevAttestation"], true, "{health}");
    assert!(health["warning"].as_str().unwrap().contains("INSECURE"));
    let metrics = tee.get(format!("{url}/metrics")).await;
    assert!(
        metrics.contains("poco_sms_tee_sessions_total{outcome=\"granted\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("poco_sms_tee_sessions_total{outcome=\"refused\"} 9"),
        "{metrics}"
    );

    // past the contribution deadline (category XS: 7 × 300 s after the deal's start)
    let dev = &tee.chain.dev;
    dev.provider.anvil_increase_time(7 * 300 + 1).await.unwrap();
    dev.provider.evm_mine(None).await.unwrap();
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::GONE,
        "past its deadline",
    );
    // past the final deadline (10 × 300 s) the requester claims it: failed, nothing released
    dev.provider.anvil_increase_time(3 * 300).await.unwrap();
    dev.provider.evm_mine(None).await.unwrap();
    tee.client.claim_deal(dealid).await.unwrap();
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::GONE,
        "is FAILED",
    );
    running.shutdown().await.unwrap().unwrap();
}

#[tokio::test]
async fn a_fast_tee_task_gets_its_secrets_until_its_result_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (tee, running) = Tee::start(|chain| sms_config(chain, dir.path(), true)).await;
    let url = running.url.clone();
    let deal = tee.deal(TEE, None, "", 1, true).await;
    let fast = deal.fast.clone().unwrap();
    let (dealid, idx) = (deal.dealid, deal.first);
    let taskid = task_id(dealid, U256::from(idx));
    let challenge = challenge_of(tee.challenge(&url, dealid, idx).await);
    let key = EnclaveKey::generate();
    let (status, body) = tee
        .session(&url, &tee.honest(dealid, idx, challenge, &key))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let granted: SessionResponse = serde_json::from_str(&body).unwrap();
    assert!(granted.dataset_key.is_none() && granted.requester_secrets.is_empty());
    assert!(granted.result_encryption_key.is_none());
    let enclave = PrivateKeySigner::from_slice(
        &key.open(LABEL_CHALLENGE, &granted.enclave_challenge_key)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(enclave.address(), challenge);

    // with a TEE broker set on the hub, the broker authorizes workers, not the scheduler
    let dev = &tee.chain.dev;
    let broker = tee.chain.stranger.clone();
    let set_broker = |who: Address| async move {
        let hub = dev.hub();
        let call = hub.setTeeBroker(who).from(dev.keys[0].address());
        poco_chain::devchain::confirm(call.send().await, "setTeeBroker")
            .await
            .unwrap();
    };
    set_broker(broker.address()).await;
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::UNAUTHORIZED,
        "the hub's TEE broker",
    );
    let public = key.public();
    let by_broker = tee.request((dealid, idx), challenge, &broker, &key, (&public, taskid));
    let (status, body) = tee.session(&url, &by_broker).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    set_broker(Address::ZERO).await;

    // the worker pushes the result signed with the released challenge key: the hub accepts it
    let worker = PocoClient::connect(
        ClientConfig::new(tee.chain.dev.anvil.endpoint(), tee.chain.dev.deployment.hub),
        Some(tee.worker.clone()),
    )
    .await
    .unwrap();
    let digest = keccak256(b"the result");
    let message = keccak256(
        [
            tee.worker.address().as_slice(),
            taskid.as_slice(),
            digest.as_slice(),
        ]
        .concat(),
    );
    let enclave_sign = enclave.sign_message_sync(message.as_slice()).unwrap();
    let authorization = tee
        .scheduler
        .sign_message_sync(authorization_hash(tee.worker.address(), taskid, challenge).as_slice())
        .unwrap();
    let hub = worker.hub();
    let call = hub.pushResultFast(
        fast,
        dealid,
        U256::from(idx),
        digest,
        Bytes::from_static(b"{\"storage\":\"none\"}"),
        Bytes::new(),
        challenge,
        Bytes::from(enclave_sign.as_bytes().to_vec()),
        Bytes::from(authorization.as_bytes().to_vec()),
    );
    worker
        .send(call.into_transaction_request(), "pushResultFast")
        .await
        .unwrap();

    // completed: nothing more is released
    refused(
        tee.honest_session(&url, (dealid, idx), challenge, &key)
            .await,
        StatusCode::GONE,
        "COMPLETED",
    );
    running.shutdown().await.unwrap().unwrap();
}
