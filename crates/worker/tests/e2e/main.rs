//! End to end against real anvil, SQLite and wasmtime: a scheduler and workers in this process,
//! requesters matching deals on chain, results downloaded and checked against the chain.
#![allow(clippy::disallowed_macros)] // prints its report

mod failures;
mod scenarios;
mod security;
mod tee;
mod trust;

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use poco_chain::{AppSpec, MatchedDeal, PocoClient};
use poco_runtime::Executor;
use poco_scheduler::{SchedulerClient, SchedulerConfig};
use poco_testkit::{wasm_executor as wasm, Chain, Role, Scheduler, Worker};
use poco_types::{
    AppOrder, Order as _, RequestOrder, SignedAppOrder, SignedWorkerpoolOrder, WorkerpoolOrder,
    NRLC_PER_RLC,
};
use poco_worker::WorkerConfig;
use tempfile::TempDir;

const RLC: u64 = NRLC_PER_RLC;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A chain with poco, a workerpool, its scheduler and a requester.
struct Pool {
    chain: Chain,
    dir: TempDir,
    pool: Address,
    scheduler: Option<Scheduler>,
    scheduler_url: String,
    workers: Vec<Worker>,
    requester: PocoClient,
    salt: u8,
    database_url: Option<String>,
}

impl Pool {
    async fn start() -> eyre::Result<Self> {
        Self::start_with_database(None).await
    }

    /// A pool whose scheduler keeps its state at `database_url` (default: a SQLite file).
    async fn start_with_database(database_url: Option<String>) -> eyre::Result<Self> {
        let chain = Chain::start().await?;
        let pool = chain.create_workerpool(Role::Scheduler, "e2e pool").await?;
        let requester = chain.client(Role::Requester).await?;
        let mut this = Self {
            chain,
            dir: tempfile::tempdir()?,
            pool,
            scheduler: None,
            scheduler_url: String::new(),
            workers: Vec::new(),
            requester,
            salt: 0,
            database_url,
        };
        this.start_scheduler(None).await?;
        Ok(this)
    }

    fn scheduler_config(&self, listen: Option<std::net::SocketAddr>) -> SchedulerConfig {
        let mut config = self.chain.scheduler_config(self.pool, self.dir.path());
        if let Some(url) = &self.database_url {
            config.database_url = url.clone();
        }
        if let Some(listen) = listen {
            config.listen = listen;
        }
        config.lease = Duration::from_secs(3);
        config
    }

    /// Starts (or restarts, on the same port and database) the scheduler.
    async fn start_scheduler(&mut self, listen: Option<std::net::SocketAddr>) -> eyre::Result<()> {
        let config = self.scheduler_config(listen);
        let scheduler = self.chain.start_scheduler(config).await?;
        self.scheduler_url = scheduler.url.clone();
        self.scheduler = Some(scheduler);
        Ok(())
    }

    /// Kills the scheduler (its task aborted, its port released).
    async fn stop_scheduler(&mut self) -> std::net::SocketAddr {
        let mut scheduler = self.scheduler.take().expect("a running scheduler");
        scheduler.kill().await
    }

    fn worker_config(&self, n: usize, executor: Arc<dyn Executor>) -> WorkerConfig {
        let mut config = self
            .chain
            .worker_config(n, &self.scheduler_url, self.dir.path());
        config.executor = executor;
        config
    }

    /// Starts worker `n` (`Role::Worker(n)`) with `executor`.
    fn start_worker_with(&mut self, n: usize, executor: Arc<dyn Executor>) -> usize {
        let config = self.worker_config(n, executor);
        self.workers.push(self.chain.start_worker(n, config));
        self.workers.len() - 1
    }

    /// Starts worker `n` with the in-process WASM executor and a configuration changed by
    /// `change`.
    fn start_worker_configured(
        &mut self,
        n: usize,
        change: impl FnOnce(&mut WorkerConfig),
    ) -> usize {
        let mut config = self.worker_config(n, wasm());
        change(&mut config);
        self.workers.push(self.chain.start_worker(n, config));
        self.workers.len() - 1
    }

    fn start_worker(&mut self, n: usize) -> usize {
        self.start_worker_with(n, wasm())
    }

    fn worker_address(&self, n: usize) -> Address {
        self.chain.address(Role::Worker(n))
    }

    fn next_salt(&mut self) -> B256 {
        self.salt += 1;
        B256::repeat_byte(self.salt)
    }

    /// Registers an app from a module file.
    async fn app(&self, file: &str) -> eyre::Result<Address> {
        let path = repo(file);
        let bytes = std::fs::read(&path)?;
        self.app_with(
            &format!("file://{}", path.display()),
            poco_types::sha256_digest(&bytes),
        )
        .await
    }

    async fn app_with(&self, multiaddr: &str, checksum: B256) -> eyre::Result<Address> {
        let owner = self.chain.client(Role::AppOwner).await?;
        Ok(owner
            .create_app(&AppSpec {
                name: format!("app-{multiaddr}-{checksum}"),
                kind: "WASM".into(),
                multiaddr: multiaddr.into(),
                checksum,
                mrenclave: Default::default(),
            })
            .await?)
    }

    async fn orders(
        &mut self,
        app: Address,
        trust: u64,
        volume: u64,
        params: &str,
        category: u64,
    ) -> eyre::Result<(
        SignedAppOrder,
        SignedWorkerpoolOrder,
        poco_types::SignedRequestOrder,
    )> {
        self.orders_with(app, trust, volume, params, category, |_| {})
            .await
    }

    /// [`Self::orders`] with the request order changed by `change` before it is signed.
    async fn orders_with(
        &mut self,
        app: Address,
        trust: u64,
        volume: u64,
        params: &str,
        category: u64,
        change: impl FnOnce(&mut RequestOrder),
    ) -> eyre::Result<(
        SignedAppOrder,
        SignedWorkerpoolOrder,
        poco_types::SignedRequestOrder,
    )> {
        let domain = self.requester.domain();
        let app_order = AppOrder {
            app,
            appprice: U256::from(RLC),
            volume: U256::from(1_000u64),
            salt: self.next_salt(),
            ..Default::default()
        }
        .sign(&domain, self.chain.key(Role::AppOwner))?;
        let pool_order = WorkerpoolOrder {
            workerpool: self.pool,
            workerpoolprice: U256::from(2 * RLC),
            volume: U256::from(1_000u64),
            category: U256::from(category),
            trust: U256::from(100u64),
            salt: self.next_salt(),
            ..Default::default()
        }
        .sign(&domain, self.chain.key(Role::Scheduler))?;
        let mut request = RequestOrder {
            app,
            appmaxprice: U256::from(RLC),
            workerpoolmaxprice: U256::from(2 * RLC),
            requester: self.chain.address(Role::Requester),
            volume: U256::from(volume),
            category: U256::from(category),
            trust: U256::from(trust),
            beneficiary: self.chain.address(Role::Requester),
            params: params.into(),
            salt: self.next_salt(),
            ..Default::default()
        };
        change(&mut request);
        let request = request.sign(&domain, self.chain.key(Role::Requester))?;
        Ok((app_order, pool_order, request))
    }

    /// A classic deal.
    async fn deal(
        &mut self,
        app: Address,
        trust: u64,
        volume: u64,
        params: &str,
    ) -> eyre::Result<MatchedDeal> {
        let (a, w, r) = self.orders(app, trust, volume, params, 0).await?;
        Ok(self.requester.match_orders(&a, None, &w, &r).await?)
    }

    /// A fast deal.
    async fn fast_deal(
        &mut self,
        app: Address,
        volume: u64,
        params: &str,
    ) -> eyre::Result<MatchedDeal> {
        let (a, w, r) = self.orders(app, 1, volume, params, 0).await?;
        Ok(self.requester.match_orders_fast(&a, None, &w, &r).await?.0)
    }

    /// Waits until the scheduler says every task of `deal` is in a final state.
    async fn wait_final(
        &self,
        deal: &MatchedDeal,
        timeout: Duration,
    ) -> eyre::Result<Vec<poco_scheduler::api::TaskInfo>> {
        let client = SchedulerClient::new(&self.scheduler_url)?;
        let started = std::time::Instant::now();
        loop {
            let mut infos = Vec::new();
            for taskid in &deal.tasks {
                match client.task(*taskid).await {
                    Ok(info) => infos.push(info),
                    Err(_) => break,
                }
            }
            if infos.len() == deal.tasks.len()
                && infos.iter().all(|i| {
                    matches!(
                        i.status.as_str(),
                        "COMPLETED" | "FAILED" | "EXPIRED" | "CLAIMED"
                    )
                })
            {
                return Ok(infos);
            }
            if started.elapsed() > timeout {
                eyre::bail!(
                    "deal {} not final after {timeout:?}: {infos:#?}",
                    deal.dealid
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to 30 s until the scheduler's view of a task satisfies `done`.
    async fn wait_task(
        &self,
        taskid: B256,
        what: &str,
        done: impl Fn(&poco_scheduler::api::TaskInfo) -> bool,
    ) -> eyre::Result<poco_scheduler::api::TaskInfo> {
        let client = SchedulerClient::new(&self.scheduler_url)?;
        let started = std::time::Instant::now();
        loop {
            if let Ok(info) = client.task(taskid).await {
                if done(&info) {
                    return Ok(info);
                }
            }
            eyre::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "task {taskid}: no {what} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Downloads a completed task's result from its on-chain link and checks it against the
    /// on-chain digest; returns the extracted folder.
    async fn result(&self, link: &str, digest: B256) -> eyre::Result<PathBuf> {
        let link = poco_types::ResultLink::from_bytes(link.as_bytes())?;
        // The pool serves results to the requester, signed in.
        let scheduler = SchedulerClient::new(&self.scheduler_url)?;
        scheduler.login(self.chain.key(Role::Requester)).await?;
        let token = scheduler.token().await.unwrap_or_default();
        let bytes = poco_store::StoreClient::new(&self.scheduler_url)?
            .with_bearer_token(token)
            .download(&link.location)
            .await?;
        let dest = tempfile::tempdir()?.keep();
        let actual = poco_runtime::archive_digest(&bytes, &dest)?;
        eyre::ensure!(
            actual == digest,
            "downloaded result digest {actual} != on-chain {digest}"
        );
        Ok(dest)
    }

    /// The result digest of task `i` of a deal, from the chain: the task's for a classic
    /// deal, the `ResultPushedFast` event's for a fast one.
    async fn onchain_digest(&self, deal: &MatchedDeal, i: usize) -> eyre::Result<B256> {
        use alloy::{rpc::types::Filter, sol_types::SolEvent};
        use poco_chain::bindings::hub::IPoco;
        let task = self.requester.task(deal.tasks[i]).await?;
        if task.status == 3 {
            return Ok(task.resultDigest);
        }
        let filter = Filter::new()
            .address(self.chain.hub())
            .event_signature(IPoco::ResultPushedFast::SIGNATURE_HASH)
            .topic1(deal.dealid)
            .from_block(0);
        let idx = deal.first_task + U256::from(i);
        for log in self.chain.provider().get_logs(&filter).await? {
            let e = IPoco::ResultPushedFast::decode_log(&log.inner)?;
            if e.idx == idx {
                return Ok(e.resultDigest);
            }
        }
        eyre::bail!("task {i} of deal {} has no result on chain", deal.dealid)
    }

    /// Moves the chain's clock.
    async fn advance(&self, seconds: u64) -> eyre::Result<()> {
        Ok(self.chain.advance(seconds).await?)
    }

    /// A counter of the scheduler's `/metrics`.
    async fn metric(&self, name: &str) -> eyre::Result<u64> {
        let text = reqwest::get(format!("{}/metrics", self.scheduler_url))
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| eyre::eyre!("no metric {name} in {text}"))
    }

    async fn balance(&self, who: Address) -> eyre::Result<(U256, U256)> {
        Ok(self.requester.account(who).await?)
    }

    async fn score(&self, who: Address) -> eyre::Result<U256> {
        Ok(self.requester.hub().viewScore(who).call().await?)
    }
}
