//! [`SchedulerClient`]: the scheduler's API from a worker or a requester.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256},
    signers::Signer,
};
use reqwest::StatusCode;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::RwLock;

use crate::{
    api::{
        Assignment, Challenge, ErrorBody, LoginRequest, LoginResponse, Registration, Report,
        TaskInfo, TaskLogs,
    },
    Error, Result,
};

/// A client of one scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerClient {
    base: String,
    http: reqwest::Client,
    token: Arc<RwLock<Option<String>>>,
    pool: Option<Address>,
}

impl SchedulerClient {
    /// A client of the scheduler at `base_url` (`http://host:port`).
    pub fn new(base_url: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            token: Arc::new(RwLock::new(None)),
            pool: None,
        })
    }

    /// Signs in only at a scheduler of `pool`: [`Self::login`] refuses a challenge naming
    /// another pool.
    pub fn expect_pool(mut self, pool: Address) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The bearer token of the session, once signed in (a requester hands it to
    /// `poco_store::StoreClient::with_bearer_token` to download its results).
    pub async fn token(&self) -> Option<String> {
        self.token.read().await.clone()
    }

    /// The scheduler's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<Option<T>> {
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if status.is_success() {
            return response
                .json()
                .await
                .map(Some)
                .map_err(|e| Error::Client(format!("unreadable answer: {e}")));
        }
        let message = match response.json::<ErrorBody>().await {
            Ok(body) => body.error,
            Err(_) => status.to_string(),
        };
        Err(Error::Refused {
            status: status.as_u16(),
            message,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, timeout: Duration) -> Result<Option<T>> {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(timeout);
        if let Some(token) = self.token.read().await.as_ref() {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Client(format!("GET {}{path}: {e}", self.base)))?;
        Self::answer(response).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30))
            .json(body);
        if let Some(token) = self.token.read().await.as_ref() {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Client(format!("POST {}{path}: {e}", self.base)))?;
        Self::answer(response).await
    }

    /// Signs in with `signer`'s account: the challenge is signed as a personal message, once
    /// it is checked to be a sign-in text (`poco scheduler <pool> sign-in: <32 hex>`, of the
    /// [expected pool](Self::expect_pool) if any); anything else is refused with
    /// [`Error::ForeignChallenge`]. A worker and a requester sign in the same way.
    pub async fn login<S: Signer + Sync>(&self, signer: &S) -> Result<()> {
        let address = signer.address();
        let challenge: Challenge = self
            .get(
                &format!("/challenge?address={address}"),
                Duration::from_secs(30),
            )
            .await?
            .ok_or_else(|| Error::Client("no challenge".into()))?;
        match crate::http::parse_challenge(&challenge.challenge) {
            Some((pool, _)) if self.pool.is_none_or(|p| p == pool) => {}
            _ => {
                return Err(Error::ForeignChallenge {
                    text: challenge.challenge.chars().take(200).collect(),
                    expected: self.pool,
                })
            }
        }
        let signature = signer
            .sign_message(challenge.challenge.as_bytes())
            .await
            .map_err(|e| Error::Client(format!("cannot sign the challenge: {e}")))?;
        let body = LoginRequest {
            address,
            challenge: challenge.challenge,
            signature: signature.as_bytes().to_vec().into(),
        };
        let response: LoginResponse = self
            .post("/login", &body)
            .await?
            .ok_or_else(|| Error::Client("no token".into()))?;
        *self.token.write().await = Some(response.token);
        Ok(())
    }

    /// Registers the worker's capabilities.
    pub async fn register(&self, registration: &Registration) -> Result<()> {
        self.post::<_, serde_json::Value>("/workers/register", registration)
            .await
            .map(|_| ())
    }

    /// Waits up to `wait` for a replicate.
    pub async fn next_work(&self, wait: Duration) -> Result<Option<Assignment>> {
        self.get(
            &format!("/work?wait={}", wait.as_secs()),
            wait + Duration::from_secs(15),
        )
        .await
    }

    /// Keeps the worker's leases alive.
    pub async fn heartbeat(&self) -> Result<()> {
        self.post::<_, serde_json::Value>("/heartbeat", &serde_json::Value::Null)
            .await
            .map(|_| ())
    }

    /// Reports on a replicate.
    pub async fn report(&self, taskid: B256, report: &Report) -> Result<()> {
        self.post::<_, serde_json::Value>(&format!("/replicates/{taskid}"), report)
            .await
            .map(|_| ())
    }

    /// The replicates the worker holds that are not settled.
    pub async fn replicates(&self) -> Result<Vec<B256>> {
        Ok(self
            .get("/replicates", Duration::from_secs(30))
            .await?
            .unwrap_or_default())
    }

    /// The workers' error texts of a task that is over: served to the deal's requester and
    /// beneficiary, so [`Self::login`] with one of their wallets first (unless the deal asked
    /// for public results).
    pub async fn task_logs(&self, taskid: B256) -> Result<TaskLogs> {
        self.get(&format!("/tasks/{taskid}/logs"), Duration::from_secs(30))
            .await?
            .ok_or_else(|| Error::Client("empty answer".into()))
    }

    /// A task as the pool sees it.
    pub async fn task(&self, taskid: B256) -> Result<TaskInfo> {
        self.get(&format!("/tasks/{taskid}"), Duration::from_secs(30))
            .await?
            .ok_or_else(|| Error::Client("empty answer".into()))
    }
}
