//! [`SmsClient`]: the client side of the API, as the iExec SDK calls it: each write is signed
//! (personal sign of the request's challenge) by the wallet that may set the secret.

use alloy_primitives::{Address, B256};
use alloy_signer::Signer;
use alloy_signer_local::PrivateKeySigner;
use reqwest::{Method, StatusCode};

use crate::{auth, Error};

/// A client of one SMS.
#[derive(Clone, Debug)]
pub struct SmsClient {
    url: String,
    http: reqwest::Client,
}

/// What a check or a write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The secret was created.
    Created,
    /// The secret was replaced (named secrets with `update`).
    Updated,
}

impl SmsClient {
    /// A client of the SMS at `url` (`http://host:port`).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The SMS's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&[u8], String)>,
    ) -> Result<(StatusCode, String), Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .query(query);
        if let Some((value, authorization)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .header(reqwest::header::AUTHORIZATION, authorization)
                .body(value.to_vec());
        }
        let res = req.send().await.map_err(|e| {
            Error::Unreachable(format!(
                "the SMS at {} does not answer ({e}); start it with `poco sms`, or give its URL",
                self.url
            ))
        })?;
        let status = res.status();
        Ok((status, res.text().await.unwrap_or_default()))
    }

    async fn exists(&self, path: &str, query: &[(&str, String)]) -> Result<bool, Error> {
        match self.send(Method::HEAD, path, query, None).await? {
            (s, _) if s.is_success() => Ok(true),
            (StatusCode::NOT_FOUND, _) => Ok(false),
            (s, text) => Err(refused(s, text)),
        }
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        value: &[u8],
        challenge: B256,
        wallet: &PrivateKeySigner,
    ) -> Result<(), Error> {
        let signature = wallet
            .sign_message(challenge.as_slice())
            .await
            .map_err(|e| Error::Sign(e.to_string()))?;
        let authorization = format!("0x{}", hex::encode(signature.as_bytes()));
        match self
            .send(method, path, query, Some((value, authorization)))
            .await?
        {
            (s, _) if s.is_success() => Ok(()),
            (s, text) => Err(refused(s, text)),
        }
    }

    /// Whether dataset `dataset`'s key is set.
    pub async fn dataset_secret_exists(&self, dataset: Address) -> Result<bool, Error> {
        self.exists("/secrets/web3", &[("secretAddress", dataset.to_string())])
            .await
    }

    /// Sets dataset `dataset`'s key (`wallet` must own the dataset; a key cannot be replaced).
    pub async fn push_dataset_secret(
        &self,
        wallet: &PrivateKeySigner,
        dataset: Address,
        value: &str,
    ) -> Result<(), Error> {
        let challenge = auth::web3_challenge(dataset, value.as_bytes());
        let query = [("secretAddress", dataset.to_string())];
        self.write(
            Method::POST,
            "/secrets/web3",
            &query,
            value.as_bytes(),
            challenge,
            wallet,
        )
        .await
    }

    /// Whether app `app`'s developer secret is set.
    pub async fn app_secret_exists(&self, app: Address) -> Result<bool, Error> {
        self.exists(&format!("/apps/{app}/secrets"), &[]).await
    }

    /// Sets app `app`'s developer secret (`wallet` must own the app; once).
    pub async fn push_app_secret(
        &self,
        wallet: &PrivateKeySigner,
        app: Address,
        value: &str,
    ) -> Result<(), Error> {
        let challenge = auth::web2_challenge(app, "1", value.as_bytes());
        let path = format!("/apps/{app}/secrets");
        self.write(
            Method::POST,
            &path,
            &[],
            value.as_bytes(),
            challenge,
            wallet,
        )
        .await
    }

    /// Whether `owner` has the named secret `name`.
    pub async fn named_secret_exists(&self, owner: Address, name: &str) -> Result<bool, Error> {
        let query = [
            ("ownerAddress", owner.to_string()),
            ("secretName", name.to_owned()),
        ];
        self.exists("/secrets/web2", &query).await
    }

    /// Sets the wallet's named secret `name` (`iexec result push-encryption-key` uses the name
    /// `iexec-result-encryption-public-key`); an existing one is replaced only with `update`.
    pub async fn push_named_secret(
        &self,
        wallet: &PrivateKeySigner,
        name: &str,
        value: &str,
        update: bool,
    ) -> Result<Pushed, Error> {
        let owner = wallet.address();
        let exists = self.named_secret_exists(owner, name).await?;
        if exists && !update {
            return Err(Error::Conflict(format!(
                "{owner} already has a secret {name:?}; pass --force-update to replace it"
            )));
        }
        let challenge = auth::web2_challenge(owner, name, value.as_bytes());
        let query = [
            ("ownerAddress", owner.to_string()),
            ("secretName", name.to_owned()),
        ];
        let method = if exists { Method::PUT } else { Method::POST };
        self.write(
            method,
            "/secrets/web2",
            &query,
            value.as_bytes(),
            challenge,
            wallet,
        )
        .await?;
        Ok(if exists {
            Pushed::Updated
        } else {
            Pushed::Created
        })
    }

    /// Sets the wallet's requester secret `name` (once).
    pub async fn push_requester_secret(
        &self,
        wallet: &PrivateKeySigner,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        let owner = wallet.address();
        let challenge = auth::web2_challenge(owner, name, value.as_bytes());
        let path = format!("/requesters/{owner}/secrets/{name}");
        self.write(
            Method::POST,
            &path,
            &[],
            value.as_bytes(),
            challenge,
            wallet,
        )
        .await
    }

    /// Whether requester `owner` has the secret `name`.
    pub async fn requester_secret_exists(&self, owner: Address, name: &str) -> Result<bool, Error> {
        self.exists(&format!("/requesters/{owner}/secrets/{name}"), &[])
            .await
    }
}

/// The error of a refused request: the SMS's own message (it never holds a value).
impl SmsClient {
    async fn post_json<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<A, Error> {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                Error::Unreachable(format!(
                    "the SMS at {} does not answer ({e}); start it with `poco sms`, or give its URL",
                    self.url
                ))
            })?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(refused(status, text));
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::BadRequest(format!(
                "the SMS at {} answered {path} with a body that is not the expected JSON ({e}); \
                 is it a poco SMS?",
                self.url
            ))
        })
    }

    /// The enclave challenge of task `idx` of deal `dealid` (made once per task by the SMS).
    pub async fn tee_challenge(
        &self,
        request: &crate::tee::ChallengeRequest,
    ) -> Result<crate::tee::ChallengeResponse, Error> {
        self.post_json("/tee/challenges", request).await
    }

    /// The task's secrets, sealed to the enclave key the request's attestation binds.
    pub async fn tee_session(
        &self,
        request: &crate::tee::SessionRequest,
    ) -> Result<crate::tee::SessionResponse, Error> {
        self.post_json("/tee/sessions", request).await
    }
}

fn refused(status: StatusCode, text: String) -> Error {
    let text = if text.is_empty() {
        format!("the SMS answered {status}")
    } else {
        text
    };
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized(text),
        StatusCode::NOT_FOUND => Error::NotFound(text),
        StatusCode::CONFLICT => Error::Conflict(text),
        StatusCode::FORBIDDEN => Error::Forbidden(text),
        StatusCode::GONE => Error::Gone(text),
        _ => Error::BadRequest(format!("{text} ({status})")),
    }
}
