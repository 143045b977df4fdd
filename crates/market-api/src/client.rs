//! [`MarketClient`]: the market API from Rust (used by `poco order publish`, `poco orderbook`
//! and `poco run`).

use std::{sync::Arc, time::Duration};

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use poco_types::{signature::sign_digest, Domain, Order, OrderKind, SignedOrder};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::{
    auth::{bound_suffix, challenge_hash, Action, CHALLENGE_PREFIX},
    dto::{
        CategoryEntry, Deal, DealPage, OrderEntry, OrderPage, PublishRequest, UnpublishRequest,
        UnpublishTarget,
    },
    query::{DealQuery, OrderQuery, Page, Pairs},
    responses::{CategoryList, ChallengeAnswer, Published, Unpublished, VersionInfo},
    Error, Result,
};

/// A client of one market.
#[derive(Clone, Debug)]
pub struct MarketClient {
    base: String,
    http: reqwest::Client,
    /// The market's order domain (`GET /version`), read once, to name orders in sign-ins.
    domain: Arc<OnceCell<Domain>>,
}

impl MarketClient {
    /// A client of the market at `base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "the market URL must start with http:// or https://, got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // Closed here before the market closes them (after 30 s idle), so that a request
            // never races the market's close.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            base,
            http,
            domain: Arc::default(),
        })
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

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&'static str, String)],
    ) -> Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| Error::Client(format!("cannot reach the market at {}: {e}", self.base)))?;
        self.read(response).await
    }

    /// The EIP-712 domain of the market's orders (chain id and hub, from `GET /version`).
    pub async fn domain(&self) -> Result<Domain> {
        self.domain
            .get_or_try_init(|| async {
                let body: Value = self.get("/version", &[]).await?;
                let version: VersionInfo = serde_json::from_value(body).map_err(|_| {
                    Error::Client(format!(
                        "{}: GET /version names no chainId and hub; is it a poco market?",
                        self.base
                    ))
                })?;
                Ok(Domain::new(version.chain_id, version.hub))
            })
            .await
            .cloned()
    }

    /// `GET /version`: the service's version, chain and hub.
    pub async fn version(&self) -> Result<VersionInfo> {
        self.get("/version", &[]).await
    }

    /// Signs in for one action: fetches a challenge bound to `action` for the signer and
    /// signs it. The header authorizes that action only (nobody who sees it can use it for
    /// anything else).
    pub async fn authorization(&self, signer: &PrivateKeySigner, action: Action) -> Result<String> {
        let address = signer.address();
        let body: Value = self
            .get(
                "/challenge",
                &[
                    ("address", address.to_string()),
                    ("action", action.to_string()),
                ],
            )
            .await?;
        let answer: ChallengeAnswer = serde_json::from_value(body)
            .map_err(|_| Error::Client("the market sent an unexpected challenge".into()))?;
        let data = answer.data;
        let text = Some(data.message.challenge.as_str())
            .filter(|t| t.starts_with(CHALLENGE_PREFIX))
            .ok_or_else(|| Error::Client("the market sent an unexpected challenge".into()))?;
        if !text.ends_with(&bound_suffix(action)) {
            return Err(Error::Client(format!(
                "{}: the market did not bind the sign-in to {action} (it ignores `action` in GET \
                 /challenge); refusing to sign a challenge that would authorize anything",
                self.base
            )));
        }
        let chain_id = data.domain.chain_id;
        let hash = challenge_hash(chain_id, text);
        let sign = sign_digest(signer, &hash).map_err(|e| Error::Client(e.to_string()))?;
        Ok(format!("{hash}_{sign}_{address}"))
    }

    /// Sends `body` signed in for `action`. A newer challenge of the same address (another
    /// sign-in of this wallet running at the same time) replaces the one signed here: then it
    /// signs in again, a few times.
    async fn signed<B: Serialize, T: DeserializeOwned>(
        &self,
        signer: &PrivateKeySigner,
        action: Action,
        method: reqwest::Method,
        url: &str,
        body: &B,
    ) -> Result<T> {
        const SIGN_INS: usize = 4;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let auth = self.authorization(signer, action).await?;
            let response = self
                .http
                .request(method.clone(), url)
                .header("authorization", auth)
                .json(body)
                .send()
                .await
                .map_err(|e| {
                    Error::Client(format!("cannot reach the market at {}: {e}", self.base))
                })?;
            match self.read::<T>(response).await {
                Err(Error::Refused {
                    status: 401,
                    message,
                }) if attempt < SIGN_INS && message.contains("no live challenge") => {
                    tracing::debug!(%action, "sign-in replaced by a newer one, signing in again");
                }
                other => return other,
            }
        }
    }

    /// Publishes a signed order (with the scheduler URL for a workerpool order).
    pub async fn publish<O: Order>(
        &self,
        signer: &PrivateKeySigner,
        order: &SignedOrder<O>,
        workerpool_api: Option<&str>,
    ) -> Result<OrderEntry> {
        self.publish_with(signer, order, workerpool_api, None).await
    }

    /// Publishes a signed order with, for a workerpool order, its scheduler's URL and its
    /// admission mode (one of [`crate::ADMISSION_MODES`]).
    pub async fn publish_with<O: Order>(
        &self,
        signer: &PrivateKeySigner,
        order: &SignedOrder<O>,
        workerpool_api: Option<&str>,
        workerpool_admission: Option<&str>,
    ) -> Result<OrderEntry> {
        let hash = order.order_hash(&self.domain().await?);
        let body = PublishRequest {
            order: serde_json::to_value(order).map_err(|e| Error::Invalid(e.to_string()))?,
            workerpool_api: workerpool_api.map(str::to_owned),
            workerpool_admission: workerpool_admission.map(str::to_owned),
        };
        let url = format!("{}/{}s", self.base, O::KIND.key());
        let answer: Published = self
            .signed(
                signer,
                Action::Publish(hash),
                reqwest::Method::POST,
                &url,
                &body,
            )
            .await?;
        Ok(answer.published)
    }

    /// Unpublishes orders of `kind`; returns the hashes taken out.
    pub async fn unpublish(
        &self,
        signer: &PrivateKeySigner,
        kind: OrderKind,
        request: &UnpublishRequest,
    ) -> Result<Vec<B256>> {
        let action = match request.target {
            Some(UnpublishTarget::UnpublishOrderHash) => request
                .order_hash
                .map(Action::Unpublish)
                .ok_or_else(|| Error::Invalid("unpublish_orderHash needs an orderHash".into()))?,
            Some(UnpublishTarget::UnpublishLast) => Action::UnpublishLast(kind),
            Some(UnpublishTarget::UnpublishAll) => Action::UnpublishAll(kind),
            None => {
                return Err(Error::Invalid(
                    "an unpublish request needs a target: unpublish_orderHash, unpublish_last \
                     or unpublish_all"
                        .into(),
                ))
            }
        };
        let url = format!("{}/{}s", self.base, kind.key());
        let answer: Unpublished = self
            .signed(signer, action, reqwest::Method::PUT, &url, request)
            .await?;
        Ok(answer.unpublished)
    }

    /// One page of open orders passing `query` (best first).
    pub async fn orders(&self, query: impl Into<OrderQuery>, page: Page) -> Result<OrderPage> {
        let query = query.into();
        let mut pairs = query.pairs();
        page.write(&mut pairs);
        self.list(query.kind(), &pairs).await
    }

    async fn list(&self, kind: OrderKind, pairs: &Pairs) -> Result<OrderPage> {
        self.get(&format!("/{}s", kind.key()), pairs).await
    }

    /// Up to `limit` open orders passing `query`, best first, reading page after page.
    pub async fn all_orders(
        &self,
        query: impl Into<OrderQuery>,
        limit: usize,
    ) -> Result<Vec<OrderEntry>> {
        let query = query.into();
        let mut out = Vec::new();
        let mut page = 0u64;
        loop {
            let mut pairs = query.pairs();
            Page::new(page, 1000).write(&mut pairs);
            let result = self.list(query.kind(), &pairs).await?;
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

    /// One page of deals passing `query`, newest first.
    pub async fn deals(&self, query: &DealQuery, page: Page) -> Result<DealPage> {
        let mut pairs = query.pairs();
        page.write(&mut pairs);
        self.get("/deals", &pairs).await
    }

    /// One deal.
    pub async fn deal(&self, dealid: B256) -> Result<Deal> {
        self.get(&format!("/deals/{dealid}"), &[]).await
    }

    /// The categories.
    pub async fn categories(&self) -> Result<Vec<CategoryEntry>> {
        let list: CategoryList = self.get("/categories", &[]).await?;
        Ok(list.categories)
    }

    /// `GET /metrics`: the market's figures in the Prometheus text format.
    pub async fn metrics(&self) -> Result<String> {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(|e| Error::Client(format!("cannot reach the market at {}: {e}", self.base)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Client(format!("{}: cannot read /metrics: {e}", self.base)))?;
        if !status.is_success() || !text.contains("poco_market_") {
            return Err(Error::Refused {
                status: status.as_u16(),
                message: format!(
                    "GET /metrics answered no market metrics; is {} a poco market?",
                    self.base
                ),
            });
        }
        Ok(text)
    }
}
