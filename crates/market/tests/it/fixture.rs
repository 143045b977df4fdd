//! The harness: the kit's chain with funded actors owning an app, a dataset and a
//! workerpool, and the kit's market started in this process on an SQLite file, reached over
//! HTTP.

use std::future::Future;

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use poco_chain::{bindings::app::AppRegistry, AppSpec, PocoClient};
use poco_market::{api::OrderEntry, MarketClient, MarketConfig};
use poco_testkit::{Chain, Market, Orders, Role};
use poco_types::{
    AppOrder, DatasetOrder, Domain, Order, OrderKind, RequestOrder, SignedOrder, WorkerpoolOrder,
    NRLC_PER_RLC,
};
use serde_json::Value;
use tempfile::TempDir;

/// What the tests return.
pub(crate) type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) const RLC: u64 = NRLC_PER_RLC;

/// The roles as the tests use them.
pub(crate) const APP_OWNER: Role = Role::AppOwner;
pub(crate) const SCHEDULER: Role = Role::Scheduler;
pub(crate) const REQUESTER: Role = Role::Requester;
pub(crate) const DATASET_OWNER: Role = Role::DatasetOwner;
/// A funded account that owns nothing at first.
pub(crate) const OTHER: Role = Role::Other(0);

/// The stake every funded account deposits.
pub(crate) const STAKE: u64 = poco_testkit::STAKE;

/// Polls `check` until it returns `Some`, for at most the kit's bound.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, check: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<Option<T>>>,
{
    poco_testkit::wait_for(what, poco_testkit::WAIT, check).await
}

/// The chain, the actors' assets and the market.
pub(crate) struct Env {
    pub(crate) chain: Chain,
    pub(crate) dir: TempDir,
    pub(crate) domain: Domain,
    pub(crate) chain_id: u64,
    /// Owned by `APP_OWNER`.
    pub(crate) app: Address,
    /// Owned by `DATASET_OWNER`.
    pub(crate) dataset: Address,
    /// Owned by `SCHEDULER`.
    pub(crate) pool: Address,
    pub(crate) market: Option<Market>,
    pub(crate) url: String,
    pub(crate) client: MarketClient,
    pub(crate) http: reqwest::Client,
    orders: Orders,
}

impl Env {
    /// A chain with the assets, and a market with the default limits.
    pub(crate) async fn start() -> R<Self> {
        let mut env = Self::chain().await?;
        let config = env.market_config("market.db");
        env.start_market(config).await?;
        Ok(env)
    }

    /// A chain with the assets, and no market yet.
    pub(crate) async fn chain() -> R<Self> {
        let chain = Chain::start_unfunded().await?;
        chain.fund(&[SCHEDULER, REQUESTER, OTHER], STAKE).await?;
        let app = chain
            .create_app(
                APP_OWNER,
                "hello",
                "file:///apps/hello.wasm",
                B256::repeat_byte(1),
            )
            .await?;
        let pool = chain.create_workerpool(SCHEDULER, "pool").await?;
        let mut env = Self {
            domain: chain.domain.clone(),
            chain_id: chain.chain_id,
            orders: chain.orders(),
            chain,
            dir: tempfile::tempdir()?,
            app,
            dataset: Address::ZERO,
            pool,
            market: None,
            url: String::new(),
            client: MarketClient::new("http://127.0.0.1:1")?,
            http: reqwest::Client::new(),
        };
        env.dataset = env
            .chain
            .create_dataset(
                DATASET_OWNER,
                "data",
                "https://example.org/data.txt",
                B256::repeat_byte(2),
            )
            .await?;
        Ok(env)
    }

    /// The market configuration of these tests: an SQLite file `db` in the temporary
    /// directory, any free port, 100 ms polling.
    pub(crate) fn market_config(&self, db: &str) -> MarketConfig {
        self.chain.market_config(self.dir.path(), db)
    }

    /// Starts the market and waits until it has read the chain up to its head.
    pub(crate) async fn start_market(&mut self, config: MarketConfig) -> R {
        let market = self.chain.start_market(config).await?;
        self.url = market.url.clone();
        self.client = market.client.clone();
        self.market = Some(market);
        self.sync().await
    }

    /// Stops the market: its task is aborted and awaited.
    pub(crate) async fn stop_market(&mut self) {
        if let Some(market) = self.market.take() {
            market.kill().await;
        }
    }

    /// A client sending transactions from `role`'s account.
    pub(crate) async fn chain_client(&self, role: Role) -> R<PocoClient> {
        Ok(self.chain.client(role).await?)
    }

    pub(crate) fn key(&self, role: Role) -> &PrivateKeySigner {
        self.chain.key(role)
    }

    pub(crate) fn addr(&self, role: Role) -> Address {
        self.chain.address(role)
    }

    /// Waits until the market has read every block mined so far.
    pub(crate) async fn sync(&self) -> R {
        let head = self.chain.block_number().await?;
        wait_for(&format!("the market to read block {head}"), || async {
            let metrics = self.metrics().await?;
            let done = metrics["synced"] == Value::Bool(true)
                && metrics["lastBlock"].as_u64().is_some_and(|b| b >= head);
            Ok(done.then_some(()))
        })
        .await
    }

    /// Registers another app of `owner`.
    pub(crate) async fn create_app(&self, owner: Role, name: &str) -> R<Address> {
        let spec = AppSpec {
            name: name.into(),
            kind: "WASM".into(),
            multiaddr: "file:///apps/other.wasm".into(),
            checksum: B256::repeat_byte(3),
            mrenclave: Default::default(),
        };
        Ok(self.chain_client(owner).await?.create_app(&spec).await?)
    }

    /// Moves the app NFT of `app` from `from` to `to` (ERC-721 `transferFrom`, sent by `from`
    /// through its [`PocoClient`], which keeps its nonces right).
    pub(crate) async fn transfer_app(&self, app: Address, from: Role, to: Role) -> R {
        let client = self.chain_client(from).await?;
        let registry = AppRegistry::new(self.chain.deployment().app_registry, client.provider());
        let token = U256::from_be_slice(app.as_slice());
        let call = registry.transferFrom(self.addr(from), self.addr(to), token);
        client
            .send(call.into_transaction_request(), "transferFrom")
            .await?;
        Ok(())
    }

    /// A public app order of `self.app`.
    pub(crate) fn app_order(&self, price: u64, volume: u64) -> AppOrder {
        self.orders.app(self.app, price, volume)
    }

    /// A public dataset order of `self.dataset`.
    pub(crate) fn dataset_order(&self, price: u64, volume: u64) -> DatasetOrder {
        self.orders.dataset(self.dataset, price, volume)
    }

    /// A public workerpool order of `self.pool` in category 0.
    pub(crate) fn pool_order(&self, price: u64, volume: u64, trust: u64) -> WorkerpoolOrder {
        self.orders.workerpool(self.pool, price, volume, trust)
    }

    /// A request of `REQUESTER` (also the beneficiary) for `self.app`, no dataset, any pool,
    /// category 0.
    pub(crate) fn request_order(
        &self,
        app_price: u64,
        pool_price: u64,
        volume: u64,
        trust: u64,
    ) -> RequestOrder {
        RequestOrder {
            params: r#"{"iexec_args":"hello"}"#.into(),
            ..self.orders.request(
                self.addr(REQUESTER),
                self.app,
                app_price,
                pool_price,
                volume,
                trust,
            )
        }
    }

    /// `order` signed by anvil's account `key`.
    pub(crate) fn sign<O: Order>(&self, key: Role, order: O) -> SignedOrder<O> {
        self.chain.sign(key, order).expect("signing")
    }

    /// Signs `order` with `key` and publishes it as `key` through [`MarketClient`].
    pub(crate) async fn publish<O: Order>(
        &self,
        key: Role,
        order: O,
    ) -> R<(SignedOrder<O>, OrderEntry)> {
        let signed = self.sign(key, order);
        let entry = self.client.publish(self.key(key), &signed, None).await?;
        Ok((signed, entry))
    }

    /// A signed-in `authorization` header for `key`, from an unbound challenge as iExec's SDK
    /// asks for (`GET /challenge?chainId=…&address=…`): it authorizes any one action.
    pub(crate) async fn auth(&self, key: Role) -> R<String> {
        let address = self.addr(key);
        let body = self
            .get_ok(&format!(
                "/challenge?chainId={}&address={address}",
                self.chain_id
            ))
            .await?;
        let data = &body["data"];
        let text = data["message"]["challenge"]
            .as_str()
            .ok_or("no challenge text")?;
        let chain_id = data["domain"]["chainId"].as_u64().ok_or("no chain id")?;
        let hash = poco_market::challenge_hash(chain_id, text);
        let sign = poco_types::signature::sign_digest(self.key(key), &hash)?;
        Ok(format!("{hash}_{sign}_{address}"))
    }

    /// A signed-in `authorization` header for `key` bound to `action` (what poco's client
    /// asks for).
    pub(crate) async fn auth_for(&self, key: Role, action: poco_market::Action) -> R<String> {
        Ok(self.client.authorization(self.key(key), action).await?)
    }

    /// `GET /metrics` (Prometheus text), its figures under the keys of iExec's JSON metrics
    /// that the tests compare: `lastBlock`, `checkpointBlock`, `synced`, `apporders`,
    /// `datasetorders`, `workerpoolorders`, `requestorders`, `deals`, `challenges`.
    pub(crate) async fn metrics(&self) -> R<Value> {
        let response = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != 200 {
            return Err(format!("GET /metrics: {status} {text}").into());
        }
        Ok(metrics_json(&text))
    }

    /// `GET path` (with its query): the status and the JSON body.
    pub(crate) async fn get(&self, path: &str) -> R<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// `GET path`, which must answer 200 with `"ok": true`.
    pub(crate) async fn get_ok(&self, path: &str) -> R<Value> {
        let (status, body) = self.get(path).await?;
        if status != 200 || body["ok"] != Value::Bool(true) {
            return Err(format!("GET {path}: {status} {body}").into());
        }
        Ok(body)
    }

    /// `method path` with an optional `authorization` header and a JSON body.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: &Value,
    ) -> R<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .json(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// `POST /{kind}s` with `body`, signed in as `key` (or with no authorization).
    pub(crate) async fn post_order(
        &self,
        kind: OrderKind,
        key: Option<Role>,
        body: &Value,
    ) -> R<(u16, Value)> {
        let auth = match key {
            Some(k) => Some(self.auth(k).await?),
            None => None,
        };
        self.send(
            reqwest::Method::POST,
            &format!("/{}s", kind.key()),
            auth.as_deref(),
            body,
        )
        .await
    }

    /// `PUT /{kind}s` with `body`, signed in as `key`.
    pub(crate) async fn unpublish(
        &self,
        kind: OrderKind,
        key: Role,
        body: &Value,
    ) -> R<(u16, Value)> {
        let auth = self.auth(key).await?;
        self.send(
            reqwest::Method::PUT,
            &format!("/{}s", kind.key()),
            Some(&auth),
            body,
        )
        .await
    }

    /// The order hashes of a list answer, in order.
    pub(crate) async fn listed(&self, kind: OrderKind, query: &str) -> R<Vec<B256>> {
        let body = self.get_ok(&format!("/{}s?{query}", kind.key())).await?;
        hashes(&body["orders"])
    }

    /// The entry of one order (any status).
    pub(crate) async fn entry(&self, kind: OrderKind, hash: B256) -> R<Value> {
        self.get_ok(&format!("/{}s/{hash}", kind.key())).await
    }

    /// Waits until the order `hash` has `status`; returns its entry.
    pub(crate) async fn wait_status(&self, kind: OrderKind, hash: B256, status: &str) -> R<Value> {
        wait_for(&format!("{} {hash} to be {status}", kind.key()), || async {
            let entry = self.entry(kind, hash).await?;
            Ok((entry["status"] == status).then_some(entry))
        })
        .await
    }

    /// Waits until the order `hash` has `remaining` volume left; returns its entry.
    pub(crate) async fn wait_remaining(
        &self,
        kind: OrderKind,
        hash: B256,
        remaining: u64,
    ) -> R<Value> {
        wait_for(
            &format!("{} {hash} to have {remaining} left", kind.key()),
            || async {
                let entry = self.entry(kind, hash).await?;
                Ok((entry["remaining"] == remaining).then_some(entry))
            },
        )
        .await
    }
}

/// The `orderHash`es of a JSON list of entries.
pub(crate) fn hashes(orders: &Value) -> R<Vec<B256>> {
    orders
        .as_array()
        .ok_or("not a list of orders")?
        .iter()
        .map(|e| Ok(serde_json::from_value(e["orderHash"].clone())?))
        .collect()
}

/// The `error` message of a refusal.
pub(crate) fn message(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<no error message>")
}

/// Asserts a refusal: `ok: false`, the status, and a message containing `needle`.
#[track_caller]
pub(crate) fn assert_refused(answer: &(u16, Value), status: u16, needle: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "status of {body}");
    assert_eq!(body["ok"], Value::Bool(false), "{body}");
    assert!(
        message(body).contains(needle),
        "the message should name {needle:?}: {}",
        message(body)
    );
}

/// The samples of the market's Prometheus text under the keys of iExec's JSON metrics.
pub(crate) fn metrics_json(text: &str) -> Value {
    let mut figures = serde_json::Map::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((sample, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        let key = match sample {
            "poco_market_last_block" => "lastBlock".to_owned(),
            "poco_market_checkpoint_block" => "checkpointBlock".to_owned(),
            "poco_market_deals" => "deals".to_owned(),
            "poco_market_challenges" => "challenges".to_owned(),
            "poco_market_synced" => {
                figures.insert("synced".into(), Value::Bool(value == 1));
                continue;
            }
            other => match other
                .strip_prefix("poco_market_open_orders{kind=\"")
                .and_then(|rest| rest.strip_suffix("\"}"))
            {
                Some(kind) => format!("{kind}s"),
                None => continue,
            },
        };
        figures.insert(key, value.into());
    }
    Value::Object(figures)
}
