//! The harness: anvil with poco deployed, funded actors owning an app, a dataset and a
//! workerpool, and a market started in this process on an SQLite file, reached over HTTP.

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use poco_chain::{
    bindings::app::AppRegistry, devchain::DevPoco, AppSpec, ClientConfig, PocoClient,
};
use poco_market::{api::OrderEntry, MarketClient, MarketConfig, Running};
use poco_types::{
    AppOrder, DatasetOrder, Domain, Order, OrderKind, RequestOrder, SignedOrder, WorkerpoolOrder,
    NRLC_PER_RLC,
};
use serde_json::Value;
use tempfile::TempDir;

/// What the tests return.
pub(crate) type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) const RLC: u64 = NRLC_PER_RLC;

/// anvil's accounts as the tests use them.
pub(crate) const APP_OWNER: usize = 1;
pub(crate) const SCHEDULER: usize = 2;
pub(crate) const REQUESTER: usize = 3;
pub(crate) const DATASET_OWNER: usize = 4;
/// A funded account that owns nothing at first.
pub(crate) const OTHER: usize = 5;

/// The stake every funded account deposits.
pub(crate) const STAKE: u64 = 1_000 * RLC;

/// How long a condition may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, failing with `what` after the deadline.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<Option<T>>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The chain, the actors' assets and the market.
pub(crate) struct Env {
    pub(crate) dev: DevPoco,
    pub(crate) dir: TempDir,
    pub(crate) domain: Domain,
    pub(crate) chain_id: u64,
    /// Owned by `APP_OWNER`.
    pub(crate) app: Address,
    /// Owned by `DATASET_OWNER`.
    pub(crate) dataset: Address,
    /// Owned by `SCHEDULER`.
    pub(crate) pool: Address,
    pub(crate) market: Option<Running>,
    pub(crate) url: String,
    pub(crate) client: MarketClient,
    pub(crate) http: reqwest::Client,
    salt: AtomicU64,
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
        let dev = DevPoco::start().await?;
        let funded: Vec<Address> = [SCHEDULER, REQUESTER, OTHER]
            .iter()
            .map(|&k| dev.keys[k].address())
            .collect();
        dev.fund(&funded, U256::from(STAKE)).await?;
        let app = dev
            .create_app(
                dev.keys[APP_OWNER].address(),
                "hello",
                "file:///apps/hello.wasm",
                B256::repeat_byte(1),
            )
            .await?;
        let pool = dev
            .create_workerpool(dev.keys[SCHEDULER].address(), "pool")
            .await?;
        let chain_id = dev.provider.get_chain_id().await?;
        let domain = Domain::new(chain_id, dev.deployment.hub);
        let mut env = Self {
            dev,
            dir: tempfile::tempdir()?,
            domain,
            chain_id,
            app,
            dataset: Address::ZERO,
            pool,
            market: None,
            url: String::new(),
            client: MarketClient::new("http://127.0.0.1:1")?,
            http: reqwest::Client::new(),
            salt: AtomicU64::new(0),
        };
        env.dataset = env
            .chain_client(DATASET_OWNER)
            .await?
            .create_dataset("data", "https://example.org/data.txt", B256::repeat_byte(2))
            .await?;
        Ok(env)
    }

    /// The market configuration of these tests: an SQLite file `db` in the temporary
    /// directory, any free port, 100 ms polling.
    pub(crate) fn market_config(&self, db: &str) -> MarketConfig {
        let mut config = MarketConfig::new(self.dev.anvil.endpoint(), self.dev.deployment.hub);
        config.database_url = format!("sqlite://{}?mode=rwc", self.dir.path().join(db).display());
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.poll_interval = Duration::from_millis(100);
        config
    }

    /// Starts the market and waits until it has read the chain up to its head.
    pub(crate) async fn start_market(&mut self, config: MarketConfig) -> R {
        let running = poco_market::start(config).await?;
        self.url = running.url.clone();
        self.client = MarketClient::new(&running.url)?;
        self.market = Some(running);
        self.sync().await
    }

    /// Stops the market: its task is aborted and awaited.
    pub(crate) async fn stop_market(&mut self) {
        if let Some(mut running) = self.market.take() {
            running.task.abort();
            let _ = (&mut running.task).await;
        }
    }

    /// A client sending transactions from anvil's account `key`.
    pub(crate) async fn chain_client(&self, key: usize) -> R<PocoClient> {
        Ok(PocoClient::connect(
            ClientConfig::new(self.dev.anvil.endpoint(), self.dev.deployment.hub),
            Some(self.dev.keys[key].clone()),
        )
        .await?)
    }

    pub(crate) fn key(&self, key: usize) -> &PrivateKeySigner {
        &self.dev.keys[key]
    }

    pub(crate) fn addr(&self, key: usize) -> Address {
        self.dev.keys[key].address()
    }

    /// Waits until the market has read every block mined so far.
    pub(crate) async fn sync(&self) -> R {
        let head = self.dev.provider.get_block_number().await?;
        wait_for(&format!("the market to read block {head}"), || async {
            let metrics = self.metrics().await?;
            let done = metrics["synced"] == Value::Bool(true)
                && metrics["lastBlock"].as_u64().is_some_and(|b| b >= head);
            Ok(done.then_some(()))
        })
        .await
    }

    /// Registers another app of `owner`.
    pub(crate) async fn create_app(&self, owner: usize, name: &str) -> R<Address> {
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
    pub(crate) async fn transfer_app(&self, app: Address, from: usize, to: usize) -> R {
        let client = self.chain_client(from).await?;
        let registry = AppRegistry::new(self.dev.deployment.app_registry, client.provider());
        let token = U256::from_be_slice(app.as_slice());
        let call = registry.transferFrom(self.addr(from), self.addr(to), token);
        client
            .send(call.into_transaction_request(), "transferFrom")
            .await?;
        Ok(())
    }

    /// A fresh salt.
    pub(crate) fn salt(&self) -> B256 {
        B256::from(U256::from(self.salt.fetch_add(1, Ordering::Relaxed) + 1))
    }

    /// A public app order of `self.app`.
    pub(crate) fn app_order(&self, price: u64, volume: u64) -> AppOrder {
        AppOrder {
            app: self.app,
            appprice: U256::from(price),
            volume: U256::from(volume),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// A public dataset order of `self.dataset`.
    pub(crate) fn dataset_order(&self, price: u64, volume: u64) -> DatasetOrder {
        DatasetOrder {
            dataset: self.dataset,
            datasetprice: U256::from(price),
            volume: U256::from(volume),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// A public workerpool order of `self.pool` in category 0.
    pub(crate) fn pool_order(&self, price: u64, volume: u64, trust: u64) -> WorkerpoolOrder {
        WorkerpoolOrder {
            workerpool: self.pool,
            workerpoolprice: U256::from(price),
            volume: U256::from(volume),
            trust: U256::from(trust),
            salt: self.salt(),
            ..Default::default()
        }
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
            app: self.app,
            appmaxprice: U256::from(app_price),
            workerpoolmaxprice: U256::from(pool_price),
            requester: self.addr(REQUESTER),
            volume: U256::from(volume),
            trust: U256::from(trust),
            beneficiary: self.addr(REQUESTER),
            params: r#"{"iexec_args":"hello"}"#.into(),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// `order` signed by anvil's account `key`.
    pub(crate) fn sign<O: Order>(&self, key: usize, order: O) -> SignedOrder<O> {
        order.sign(&self.domain, self.key(key)).expect("signing")
    }

    /// Signs `order` with `key` and publishes it as `key` through [`MarketClient`].
    pub(crate) async fn publish<O: Order>(
        &self,
        key: usize,
        order: O,
    ) -> R<(SignedOrder<O>, OrderEntry)> {
        let signed = self.sign(key, order);
        let entry = self.client.publish(self.key(key), &signed, None).await?;
        Ok((signed, entry))
    }

    /// A signed-in `authorization` header for `key`, from an unbound challenge as iExec's SDK
    /// asks for (`GET /challenge?chainId=…&address=…`): it authorizes any one action.
    pub(crate) async fn auth(&self, key: usize) -> R<String> {
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
    pub(crate) async fn auth_for(&self, key: usize, action: poco_market::Action) -> R<String> {
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
        key: Option<usize>,
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
        key: usize,
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
