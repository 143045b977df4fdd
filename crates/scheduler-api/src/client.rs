//! [`SchedulerClient`]: the scheduler's API from a worker or a requester.

use std::{fmt, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256},
    signers::Signer,
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::{
    dto::{
        parse_challenge, Assignment, Challenge, ErrorBody, HeartbeatAnswer, LoginRequest,
        LoginResponse, Registration, Report, TaskInfo, TaskLogs,
    },
    Error, Result,
};

/// The signer a session was opened with, kept to open the next one.
type SharedSigner = Arc<dyn Signer + Send + Sync>;

/// The session shared by the clones of a client: its token, the signer that opened it, and a
/// lock so that one caller at a time signs in again.
#[derive(Default)]
struct Session {
    token: RwLock<Option<String>>,
    standing: RwLock<Option<crate::dto::Standing>>,
    signer: RwLock<Option<SharedSigner>>,
    signing_in: Mutex<()>,
}

/// A client of one scheduler. Clones share the session.
#[derive(Clone)]
pub struct SchedulerClient {
    base: String,
    http: reqwest::Client,
    session: Arc<Session>,
    pool: Option<Address>,
}

impl fmt::Debug for SchedulerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerClient")
            .field("base", &self.base)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// A request of the client: what [`SchedulerClient::send`] needs to send it (again).
struct Call<'a, B> {
    method: Method,
    path: &'a str,
    body: Option<&'a B>,
    timeout: Duration,
}

impl SchedulerClient {
    /// A client of the scheduler at `base_url` (`http://host:port`).
    pub fn new(base_url: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Transport(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            session: Arc::default(),
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
        self.session.token.read().await.clone()
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
                .map_err(|e| Error::Transport(format!("unreadable answer: {e}")));
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

    /// Sends `call` once, with the session's token if there is one.
    async fn send<B: Serialize>(
        &self,
        call: &Call<'_, B>,
        token: Option<&str>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path))
            .timeout(call.timeout);
        if let Some(body) = call.body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.map_err(|e| {
            Error::Transport(format!("{} {}{}: {e}", call.method, self.base, call.path))
        })
    }

    /// Sends `call`; when the session was refused (`401`) and a signer opened it, signs in
    /// again (once, one caller at a time) and sends it again.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        call: Call<'_, B>,
    ) -> Result<Option<T>> {
        let token = self.token().await;
        let response = self.send(&call, token.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED || token.is_none() {
            return Self::answer(response).await;
        }
        let Some(fresh) = self.renew(token.as_deref()).await? else {
            return Self::answer(response).await;
        };
        Self::answer(self.send(&call, Some(&fresh)).await?).await
    }

    /// A new session's token after `stale` was refused: the one another caller opened
    /// meanwhile, or a new sign-in with the session's signer (`None` without a signer).
    async fn renew(&self, stale: Option<&str>) -> Result<Option<String>> {
        let _one = self.session.signing_in.lock().await;
        let current = self.token().await;
        if current.as_deref() != stale {
            return Ok(current);
        }
        let signer = self.session.signer.read().await.clone();
        let Some(signer) = signer else {
            return Ok(None);
        };
        let token = self.open_session(signer.as_ref()).await?;
        Ok(Some(token))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, timeout: Duration) -> Result<Option<T>> {
        self.call(Call::<()> {
            method: Method::GET,
            path,
            body: None,
            timeout,
        })
        .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        self.call(Call {
            method: Method::POST,
            path,
            body: Some(body),
            timeout: Duration::from_secs(30),
        })
        .await
    }

    /// Signs in with `signer`'s account: the challenge is signed as a personal message, once
    /// it is checked to be a sign-in text (`poco scheduler <pool> sign-in: <32 hex>`, of the
    /// [expected pool](Self::expect_pool) if any); anything else is refused with
    /// [`Error::ForeignChallenge`]. A worker and a requester sign in the same way. The client
    /// keeps `signer`: a later call refused with `401` (an expired session, a scheduler that
    /// lost its sessions) signs in again with it, once, and is sent again.
    pub async fn login<S: Signer + Send + Sync + Clone + 'static>(&self, signer: &S) -> Result<()> {
        let _one = self.session.signing_in.lock().await;
        self.open_session(signer).await?;
        *self.session.signer.write().await = Some(Arc::new(signer.clone()));
        Ok(())
    }

    /// Signs in with `signer` (the caller holds the session lock); the new token.
    async fn open_session(&self, signer: &(dyn Signer + Send + Sync)) -> Result<String> {
        // The calls of a sign-in are sent once each (never renewed: that would sign in again
        // from inside a sign-in).
        let token = self.token().await;
        let address = signer.address();
        let path = format!("/challenge?address={address}");
        let challenge: Challenge = Self::answer(
            self.send(
                &Call::<()> {
                    method: Method::GET,
                    path: &path,
                    body: None,
                    timeout: Duration::from_secs(30),
                },
                token.as_deref(),
            )
            .await?,
        )
        .await?
        .ok_or_else(|| Error::Transport("no challenge".into()))?;
        match parse_challenge(&challenge.challenge) {
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
            .map_err(|e| Error::Sign(e.to_string()))?;
        let body = LoginRequest {
            address,
            challenge: challenge.challenge,
            signature: signature.as_bytes().to_vec().into(),
        };
        let response: LoginResponse = Self::answer(
            self.send(
                &Call {
                    method: Method::POST,
                    path: "/login",
                    body: Some(&body),
                    timeout: Duration::from_secs(30),
                },
                token.as_deref(),
            )
            .await?,
        )
        .await?
        .ok_or_else(|| Error::Transport("no token".into()))?;
        *self.session.token.write().await = Some(response.token.clone());
        *self.session.standing.write().await = response.standing;
        Ok(response.token)
    }

    /// Where the wallet stood in the pool at its last sign-in (admission mode, trusted mark,
    /// score and weight), when the scheduler told it.
    pub async fn standing(&self) -> Option<crate::dto::Standing> {
        self.session.standing.read().await.clone()
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

    /// Keeps the worker's leases alive; the answer names the replicates to stop (see
    /// [`crate::HeartbeatAnswer`]), none from a scheduler that does not say.
    pub async fn heartbeat(&self) -> Result<Vec<B256>> {
        Ok(self
            .post::<_, HeartbeatAnswer>("/heartbeat", &serde_json::Value::Null)
            .await?
            .map(|a| a.stop)
            .unwrap_or_default())
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
            .ok_or_else(|| Error::Transport("empty answer".into()))
    }

    /// A task as the pool sees it.
    pub async fn task(&self, taskid: B256) -> Result<TaskInfo> {
        self.get(&format!("/tasks/{taskid}"), Duration::from_secs(30))
            .await?
            .ok_or_else(|| Error::Transport("empty answer".into()))
    }
}
