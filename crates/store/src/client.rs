//! The HTTP client of a result store, for workers (upload) and requesters (download).

use crate::{
    api::{
        parse_object_name, upload_hash, ErrorBody, TaskObjects, UploadReceipt,
        AUTHORIZATION_HEADER, SIGNATURE_HEADER, WORKER_HEADER,
    },
    config::DEFAULT_MAX_UPLOAD_BYTES,
    Error, Result,
};
use alloy_primitives::{hex, Address, B256};
use alloy_signer::Signer;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use poco_types::{sha256_digest, signature::sign_personal_async, WorkerAuthorization};
use reqwest::{header, Response, Url};
use std::{path::Path, time::Duration};

/// Default cap of a download: the default upload limit, 64 MiB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = DEFAULT_MAX_UPLOAD_BYTES;
/// Default time limit of one request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Default time limit to connect.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one result store (uploads) that can also download from any store URL.
#[derive(Clone, Debug)]
pub struct StoreClient {
    http: reqwest::Client,
    base: Url,
    max_download_bytes: u64,
    bearer: Option<String>,
}

impl StoreClient {
    /// A client of the store at `base_url` (such as `http://127.0.0.1:8090`), with the default
    /// timeouts and download cap.
    pub fn new(base_url: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .timeout(DEFAULT_REQUEST_TIMEOUT)
            .build()
            .map_err(Error::Http)?;
        Self::with_http_client(base_url, http)
    }

    /// A client of the store at `base_url` sending through `http`.
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self> {
        let mut base = parse_url(base_url)?;
        if base.query().is_some() {
            return Err(Error::InvalidUrl {
                url: base_url.to_owned(),
                reason: "a store URL has no query".into(),
            });
        }
        // So that `join` appends to the base path instead of replacing its last segment.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            bearer: None,
        })
    }

    /// Sends `token` as a bearer token with listings and downloads: a pool's store serves a
    /// task's results to its requester and beneficiary once they signed in at the pool's
    /// scheduler (`SchedulerClient::login`, then its token).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    /// A GET carrying the bearer token only to this client's own store (a result link may
    /// name any host: the token must not leave for it).
    fn read(&self, url: Url) -> reqwest::RequestBuilder {
        let same_origin = url.origin() == self.base.origin();
        let request = self.http.get(url);
        match &self.bearer {
            Some(token) if same_origin => request.bearer_auth(token),
            _ => request,
        }
    }

    /// Sets the largest archive [`Self::download`] accepts.
    pub fn with_max_download_bytes(mut self, limit: u64) -> Self {
        self.max_download_bytes = limit;
        self
    }

    /// The store's base URL (ending with `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn endpoint(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(|err| Error::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: err.to_string(),
        })
    }

    /// Uploads the result archive `bytes` of `task_id` as the worker `worker`, under the
    /// scheduler's `authorization` of that worker for that task (a standard task's: enclave
    /// `0x0`). Uploading the same bytes again returns the same receipt.
    pub async fn upload<S: Signer + ?Sized>(
        &self,
        task_id: B256,
        bytes: impl Into<Bytes>,
        authorization: &WorkerAuthorization,
        worker: &S,
    ) -> Result<UploadReceipt> {
        self.upload_with(task_id, bytes.into(), authorization, worker, false)
            .await
    }

    /// [`StoreClient::upload`] of a TEE task's result, whose authorization covers the task's
    /// enclave challenge (sent in [`crate::api::ENCLAVE_HEADER`]).
    pub async fn upload_tee<S: Signer + ?Sized>(
        &self,
        task_id: B256,
        bytes: impl Into<Bytes>,
        authorization: &WorkerAuthorization,
        worker: &S,
    ) -> Result<UploadReceipt> {
        self.upload_with(task_id, bytes.into(), authorization, worker, true)
            .await
    }

    async fn upload_with<S: Signer + ?Sized>(
        &self,
        task_id: B256,
        bytes: Bytes,
        authorization: &WorkerAuthorization,
        worker: &S,
        tee: bool,
    ) -> Result<UploadReceipt> {
        if authorization.task_id != task_id {
            return Err(Error::authorization_mismatch(
                "task",
                task_id,
                authorization.task_id,
            ));
        }
        if authorization.worker != worker.address() {
            return Err(Error::authorization_mismatch(
                "worker",
                worker.address(),
                authorization.worker,
            ));
        }
        if !tee && authorization.enclave_challenge != Address::ZERO {
            return Err(Error::authorization_mismatch(
                "enclave",
                Address::ZERO,
                authorization.enclave_challenge,
            ));
        }
        let sha256 = sha256_digest(&bytes);
        let size = bytes.len() as u64;
        let signature = sign_personal_async(worker, &upload_hash(task_id, sha256))
            .await
            .map_err(Error::Signing)?;
        let mut request = self.http.put(self.endpoint(&format!("results/{task_id}"))?);
        if authorization.enclave_challenge != Address::ZERO {
            request = request.header(
                crate::api::ENCLAVE_HEADER,
                authorization.enclave_challenge.to_checksum(None),
            );
        }
        let response = request
            .header(header::CONTENT_TYPE, "application/zip")
            .header(
                AUTHORIZATION_HEADER,
                hex::encode_prefixed(&authorization.sign),
            )
            .header(WORKER_HEADER, authorization.worker.to_checksum(None))
            .header(SIGNATURE_HEADER, hex::encode_prefixed(&signature))
            .body(bytes)
            .send()
            .await
            .map_err(Error::Http)?;
        let receipt: UploadReceipt = json(check(response).await?).await?;
        if receipt.sha256 != sha256 || receipt.size != size {
            return Err(Error::BadResponse(format!(
                "the store acknowledged sha256 {} and {} bytes, but {sha256} and {size} bytes \
                 were sent",
                receipt.sha256, receipt.size
            )));
        }
        Ok(receipt)
    }

    /// The archives the store holds for `task_id`.
    pub async fn list(&self, task_id: B256) -> Result<TaskObjects> {
        let response = self
            .read(self.endpoint(&format!("results/{task_id}"))?)
            .send()
            .await
            .map_err(Error::Http)?;
        json(check(response).await?).await
    }

    /// Downloads the archive at `location` (the `location` of a receipt or result link, on any
    /// store), refusing more than the download cap. When the URL ends in `<sha256>.zip`, the
    /// bytes must hash to that digest.
    pub async fn download(&self, location: &str) -> Result<Bytes> {
        let url = parse_url(location)?;
        let expected = url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .and_then(parse_object_name);
        let limit = self.max_download_bytes;
        let too_large = || Error::TooLarge {
            url: location.to_owned(),
            limit,
        };
        let response = self.read(url).send().await.map_err(Error::Http)?;
        let response = check(response).await?;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Error::Http)?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        let bytes = buf.freeze();
        if let Some(expected) = expected {
            let actual = sha256_digest(&bytes);
            if actual != expected {
                return Err(Error::DigestMismatch {
                    url: location.to_owned(),
                    expected,
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    /// Downloads the archive at `location` into the file `path`, which appears whole or not at
    /// all (written beside it, then renamed). Returns the size.
    pub async fn download_to(&self, location: &str, path: &Path) -> Result<u64> {
        let bytes = self.download(location).await?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".part");
        let partial = std::path::PathBuf::from(partial);
        let write = |source| Error::Write {
            path: path.to_owned(),
            source,
        };
        if let Err(err) = tokio::fs::write(&partial, &bytes).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(write(err));
        }
        if let Err(err) = tokio::fs::rename(&partial, path).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(write(err));
        }
        Ok(bytes.len() as u64)
    }
}

fn parse_url(url: &str) -> Result<Url> {
    let parsed = Url::parse(url).map_err(|err| Error::InvalidUrl {
        url: url.to_owned(),
        reason: err.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: "only http and https are supported".into(),
        });
    }
    Ok(parsed)
}

/// Turns an error answer into [`Error::Rejected`] with the store's message.
async fn check(response: Response) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => body.error,
        Err(_) if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_owned(),
        Err(_) => text.chars().take(512).collect(),
    };
    Err(Error::Rejected {
        status: status.as_u16(),
        message,
    })
}

async fn json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T> {
    let text = response.text().await.map_err(Error::Http)?;
    serde_json::from_str(&text).map_err(|err| Error::BadResponse(format!("{err}: {text:.200}")))
}
