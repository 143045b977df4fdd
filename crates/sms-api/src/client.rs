//! [`SmsClient`]: the client side of the API, as the iExec SDK calls it: each write is signed
//! (personal sign of the request's challenge) by the wallet that may set the secret.

use std::time::Duration;

use alloy_primitives::{Address, B256};
use alloy_signer::Signer;
use alloy_signer_local::PrivateKeySigner;
use reqwest::{Method, StatusCode};

use crate::{auth, Error};

/// How long connecting to the SMS may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request to the SMS may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read from an SMS (a TEE session's sealed secrets fit many times): a
/// larger one is refused unread, so an SMS cannot make its clients run out of memory.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The most characters of an SMS's message kept in an error (the message comes from the
/// SMS, which the client does not trust with its logs).
const MAX_MESSAGE_CHARS: usize = 500;

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
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            url: url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Reads an answer's body, at most [`MAX_ANSWER_BYTES`].
    async fn body(&self, mut res: reqwest::Response) -> Result<String, Error> {
        let mut body = Vec::new();
        loop {
            let chunk = res.chunk().await.map_err(|e| self.unreachable(e))?;
            let Some(chunk) = chunk else { break };
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Error::Failed(format!(
                    "the SMS at {} answered more than {MAX_ANSWER_BYTES} bytes; is it a poco \
                     SMS?",
                    self.url
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        Error::Unreachable(format!(
            "the SMS at {} does not answer ({e}); start it with `poco sms`, or give its URL",
            self.url
        ))
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
        let res = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = res.status();
        Ok((status, self.body(res).await?))
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
            .map_err(|e| self.unreachable(e))?;
        let status = res.status();
        let text = self.body(res).await?;
        if !status.is_success() {
            return Err(refused(status, text));
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::Failed(format!(
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

/// The error of a refused request: the SMS's own message (it never holds a value), cut to
/// [`MAX_MESSAGE_CHARS`] with its control characters escaped, so that it cannot forge lines in
/// the client's logs.
fn refused(status: StatusCode, text: String) -> Error {
    let text = if text.trim().is_empty() {
        format!("the SMS answered {status}")
    } else {
        let mut kept: String = text
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .flat_map(|c| {
                let escaped: Vec<char> = if c.is_control() {
                    c.escape_default().collect()
                } else {
                    vec![c]
                };
                escaped
            })
            .collect();
        if text.chars().count() > MAX_MESSAGE_CHARS {
            kept.push('…');
        }
        kept
    };
    if status.is_server_error() {
        return Error::Failed(format!("the SMS failed: {text} ({status})"));
    }
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized(text),
        StatusCode::NOT_FOUND => Error::NotFound(text),
        StatusCode::CONFLICT => Error::Conflict(text),
        StatusCode::FORBIDDEN => Error::Forbidden(text),
        StatusCode::GONE => Error::Gone(text),
        _ => Error::BadRequest(format!("{text} ({status})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tee::ChallengeRequest;

    #[test]
    fn refusals_failures_and_their_messages() {
        assert!(matches!(
            refused(StatusCode::FORBIDDEN, "no".into()),
            Error::Forbidden(m) if m == "no"
        ));
        let failed = refused(StatusCode::SERVICE_UNAVAILABLE, "chain down".into());
        assert!(failed.is_transient() && !failed.is_refusal(), "{failed}");
        assert_eq!(
            failed.to_string(),
            "the SMS failed: chain down (503 Service Unavailable)"
        );
        let empty = refused(StatusCode::NOT_FOUND, " ".into());
        assert!(empty.is_refusal());
        assert_eq!(empty.to_string(), "the SMS answered 404 Not Found");
        // a message that would forge a log line, or flood it
        let forged = refused(StatusCode::CONFLICT, "taken\nINFO granted".into());
        assert_eq!(forged.to_string(), "taken\\nINFO granted");
        let long = refused(StatusCode::BAD_REQUEST, "x".repeat(10_000)).to_string();
        assert!(
            long.chars().count() < MAX_MESSAGE_CHARS + 30,
            "{}",
            long.len()
        );
    }

    /// An SMS answering more than [`MAX_ANSWER_BYTES`] is a failure, read no further.
    #[tokio::test]
    async fn an_oversized_answer_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let size = 2 * MAX_ANSWER_BYTES;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&vec![b'{'; size]).await;
        });
        let request = ChallengeRequest {
            dealid: B256::ZERO,
            idx: 0,
        };
        let err = SmsClient::new(&url)
            .tee_challenge(&request)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Failed(m) if m.contains("more than")),
            "{err}"
        );
        assert!(err.is_transient());
    }
}
