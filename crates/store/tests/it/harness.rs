//! A store served on a free loopback port over a temporary folder, with a scheduler and a worker.

use alloy_primitives::{hex, keccak256, Address, B256};
use alloy_signer_local::PrivateKeySigner;
use poco_store::{
    serve, upload_hash, Backend, StoreClient, StoreConfig, AUTHORIZATION_HEADER, SIGNATURE_HEADER,
    WORKER_HEADER,
};
use poco_types::{sha256_digest, signature::sign_personal, WorkerAuthorization};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tokio::{net::TcpListener, task::JoinHandle};

pub(crate) struct Store {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    /// The folder of the local backend.
    pub(crate) root: PathBuf,
    pub(crate) scheduler: PrivateKeySigner,
    pub(crate) worker: PrivateKeySigner,
    pub(crate) client: StoreClient,
    pub(crate) http: reqwest::Client,
    _dir: TempDir,
    server: JoinHandle<()>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) fn task(n: u8) -> B256 {
    keccak256([n])
}

impl Store {
    pub(crate) async fn start() -> Self {
        Self::with_limits(64 * 1024 * 1024, 16).await
    }

    /// A store with these limits; one worker may fill the whole task quota (the per-worker
    /// cap is tested with [`Self::with_worker_cap`]).
    pub(crate) async fn with_limits(max_upload_bytes: u64, max_objects_per_task: usize) -> Self {
        Self::with_caps(max_upload_bytes, max_objects_per_task, max_objects_per_task).await
    }

    /// A store keeping 16 archives per task and `per_worker` per worker and task.
    pub(crate) async fn with_worker_cap(per_worker: usize) -> Self {
        Self::with_caps(64 * 1024 * 1024, 16, per_worker).await
    }

    async fn with_caps(
        max_upload_bytes: u64,
        max_objects_per_task: usize,
        max_objects_per_worker: usize,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("results");
        let scheduler = PrivateKeySigner::random();
        let config = StoreConfig {
            backend: Backend::Local,
            path: root.clone(),
            max_upload_bytes,
            max_objects_per_task,
            max_objects_per_worker,
            trusted_schedulers: vec![Address::repeat_byte(0x11), scheduler.address()],
            ..StoreConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { serve(config, listener).await.unwrap() });
        Self {
            client: StoreClient::new(&url).unwrap(),
            url,
            root,
            scheduler,
            worker: PrivateKeySigner::random(),
            http: reqwest::Client::new(),
            _dir: dir,
            server,
        }
    }

    /// The scheduler's authorization of the worker for `task_id`.
    pub(crate) fn authorization(&self, task_id: B256) -> WorkerAuthorization {
        WorkerAuthorization::sign(
            &self.scheduler,
            self.worker.address(),
            task_id,
            Address::ZERO,
        )
        .unwrap()
    }

    /// A `PUT /results/{task_id}` with the three headers given as is.
    pub(crate) fn put_raw(
        &self,
        task_id: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> RequestBuilder {
        let mut request = self
            .http
            .put(format!("{}/results/{task_id}", self.url))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
    }

    /// Correct upload headers of `body` for `task_id`, signed by `scheduler` and `worker`.
    pub(crate) fn headers_by(
        scheduler: &PrivateKeySigner,
        worker: &PrivateKeySigner,
        task_id: B256,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        let auth =
            WorkerAuthorization::sign(scheduler, worker.address(), task_id, Address::ZERO).unwrap();
        let signature = sign_personal(worker, &upload_hash(task_id, sha256_digest(body))).unwrap();
        vec![
            (AUTHORIZATION_HEADER, hex::encode_prefixed(&auth.sign)),
            (WORKER_HEADER, worker.address().to_string()),
            (SIGNATURE_HEADER, hex::encode_prefixed(&signature)),
        ]
    }

    pub(crate) fn headers(&self, task_id: B256, body: &[u8]) -> Vec<(&'static str, String)> {
        Self::headers_by(&self.scheduler, &self.worker, task_id, body)
    }

    /// A correctly signed upload; returns the status and JSON body.
    pub(crate) async fn put(&self, task_id: B256, body: &[u8]) -> (StatusCode, Value) {
        let headers = self.headers(task_id, body);
        send(self.put_raw(&task_id.to_string(), body.to_vec(), &headers)).await
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.http.get(format!("{}{path}", self.url))).await
    }

    /// The value of one sample of `/metrics`, such as
    /// `poco_store_uploads_total{outcome="created"}`.
    pub(crate) async fn metric(&self, sample: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"))
            .parse()
            .unwrap()
    }

    /// Every file under the store's folder, relative to it.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(&self.root, &self.root, &mut found);
        found.sort();
        found
    }

    /// Where the local backend keeps an archive.
    pub(crate) fn file_of(&self, task_id: B256, body: &[u8]) -> PathBuf {
        self.root
            .join("results")
            .join(task_id.to_string())
            .join(format!("{}.zip", hex::encode(sha256_digest(body))))
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// Sends, then returns the status and the JSON body (`Null` when empty).
pub(crate) async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// The `error` message of a JSON error body.
pub(crate) fn error(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

/// A worker signer that is not the authorized one.
pub(crate) fn stranger() -> PrivateKeySigner {
    let signer = PrivateKeySigner::random();
    assert_ne!(signer.address(), Address::ZERO);
    signer
}

/// Some archive bytes.
pub(crate) fn archive(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}
