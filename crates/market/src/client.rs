//! [`MarketClient`]: the market API from Rust (used by `poco order publish`, `poco orderbook`
//! and `poco run`).

use std::time::Duration;

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use poco_types::{signature::sign_digest, Order, OrderKind, SignedOrder};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::{
    api::{CategoryEntry, Deal, DealPage, OrderEntry, OrderPage, UnpublishRequest},
    publish::{challenge_hash, CHALLENGE_PREFIX},
    Error, Result,
};

/// A client of one market.
#[derive(Clone, Debug)]
pub struct MarketClient {
    base: String,
    http: reqwest::Client,
}

impl MarketClient {
    /// A client of the market at `base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Client(format!(
                "the market URL must start with http:// or https://, got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self { base, http })
    }

    /// The market's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn read<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<T> {
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| Error::Client(format!("{}: the answer is not JSON: {e}", self.base)))?;
        if !status.is_success() || body["ok"] == Value::Bool(false) {
            return Err(Error::Refused {
                status: status.as_u16(),
                message: body["error"]
                    .as_str()
                    .unwrap_or("no error message")
                    .to_owned(),
            });
        }
        serde_json::from_value(body)
            .map_err(|e| Error::Client(format!("{}: unexpected answer: {e}", self.base)))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| Error::Client(format!("cannot reach the market at {}: {e}", self.base)))?;
        self.read(response).await
    }

    /// Signs in for one publication: fetches a challenge for the signer and signs it.
    pub async fn authorization(&self, signer: &PrivateKeySigner) -> Result<String> {
        let address = signer.address();
        let body: Value = self
            .get("/challenge", &[("address", address.to_string())])
            .await?;
        let data = &body["data"];
        let text = data["message"]["challenge"]
            .as_str()
            .filter(|t| t.starts_with(CHALLENGE_PREFIX))
            .ok_or_else(|| Error::Client("the market sent an unexpected challenge".into()))?;
        let chain_id = data["domain"]["chainId"]
            .as_u64()
            .ok_or_else(|| Error::Client("the challenge has no chain id".into()))?;
        let hash = challenge_hash(chain_id, text);
        let sign = sign_digest(signer, &hash).map_err(|e| Error::Client(e.to_string()))?;
        Ok(format!("{hash}_{sign}_{address}"))
    }

    /// Publishes a signed order (with the scheduler URL for a workerpool order).
    pub async fn publish<O: Order>(
        &self,
        signer: &PrivateKeySigner,
        order: &SignedOrder<O>,
        workerpool_api: Option<&str>,
    ) -> Result<OrderEntry> {
        let auth = self.authorization(signer).await?;
        let mut body = json!({ "order": order });
        if let Some(api) = workerpool_api {
            body["workerpoolApi"] = json!(api);
        }
        let response = self
            .http
            .post(format!("{}/{}s", self.base, O::KIND.key()))
            .header("authorization", auth)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Client(format!("cannot reach the market at {}: {e}", self.base)))?;
        let body: Value = self.read(response).await?;
        serde_json::from_value(body["published"].clone())
            .map_err(|e| Error::Client(format!("unexpected answer: {e}")))
    }

    /// Unpublishes orders of `kind`; returns the hashes taken out.
    pub async fn unpublish(
        &self,
        signer: &PrivateKeySigner,
        kind: OrderKind,
        request: &UnpublishRequest,
    ) -> Result<Vec<B256>> {
        let auth = self.authorization(signer).await?;
        let response = self
            .http
            .put(format!("{}/{}s", self.base, kind.key()))
            .header("authorization", auth)
            .json(request)
            .send()
            .await
            .map_err(|e| Error::Client(format!("cannot reach the market at {}: {e}", self.base)))?;
        let body: Value = self.read(response).await?;
        serde_json::from_value(body["unpublished"].clone())
            .map_err(|e| Error::Client(format!("unexpected answer: {e}")))
    }

    /// One page of open orders of `kind` passing the `query` filters (API names).
    pub async fn orders(&self, kind: OrderKind, query: &[(&str, String)]) -> Result<OrderPage> {
        self.get(&format!("/{}s", kind.key()), query).await
    }

    /// Up to `limit` open orders of `kind`, best first, reading page after page.
    pub async fn all_orders(
        &self,
        kind: OrderKind,
        query: &[(&str, String)],
        limit: usize,
    ) -> Result<Vec<OrderEntry>> {
        let mut out = Vec::new();
        let mut page = 0u64;
        loop {
            let mut q = query.to_vec();
            q.push(("pageSize", "1000".into()));
            q.push(("pageIndex", page.to_string()));
            let result = self.orders(kind, &q).await?;
            out.extend(result.orders);
            match result.next_page {
                Some(next) if out.len() < limit => page = next,
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// One order, of any status.
    pub async fn order(&self, kind: OrderKind, hash: B256) -> Result<OrderEntry> {
        self.get(&format!("/{}s/{hash}", kind.key()), &[]).await
    }

    /// One page of deals.
    pub async fn deals(&self, query: &[(&str, String)]) -> Result<DealPage> {
        self.get("/deals", query).await
    }

    /// One deal.
    pub async fn deal(&self, dealid: B256) -> Result<Deal> {
        self.get(&format!("/deals/{dealid}"), &[]).await
    }

    /// The categories.
    pub async fn categories(&self) -> Result<Vec<CategoryEntry>> {
        let body: Value = self.get("/categories", &[]).await?;
        serde_json::from_value(body["categories"].clone())
            .map_err(|e| Error::Client(format!("unexpected answer: {e}")))
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> Result<Value> {
        self.get("/metrics", &[]).await
    }
}
