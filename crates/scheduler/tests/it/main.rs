//! The scheduler against real anvil and SQLite, driven through its HTTP API by test workers
//! that contribute on chain and upload to the pool's store themselves (so that they can
//! play the attacks of the security review).

mod attacks;
mod restarts;
mod retries;
mod tee;
mod tls;

use std::{path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::ext::AnvilApi,
    signers::local::PrivateKeySigner,
};
use poco_chain::{MatchedDeal, PocoClient};
use poco_scheduler::{
    api::{Assignment, Registration, ReplicateState, Report, TaskInfo},
    SchedulerClient, SchedulerConfig,
};
use poco_testkit::{Chain, Role, Scheduler};
use poco_types::{result_hash, result_seal, Order as _, WorkerAuthorization, NRLC_PER_RLC};
use tempfile::TempDir;

const RLC: u64 = NRLC_PER_RLC;

/// A chain with poco, a workerpool, its scheduler, an app and a requester.
struct Pool {
    chain: Chain,
    _dir: TempDir,
    pool: Address,
    app: Address,
    scheduler: Scheduler,
    requester: PocoClient,
    salt: u8,
}

impl Pool {
    async fn start() -> eyre::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// A pool whose scheduler configuration is changed by `change`.
    async fn start_with(change: impl FnOnce(&mut SchedulerConfig)) -> eyre::Result<Self> {
        let chain = Chain::start().await?;
        let pool = chain.create_workerpool(Role::Scheduler, "it pool").await?;
        let app = chain
            .create_app(
                Role::AppOwner,
                "never run",
                "file:///never/run.wasm",
                B256::repeat_byte(1),
            )
            .await?;
        let dir = tempfile::tempdir()?;
        let mut config = chain.scheduler_config(pool, dir.path());
        change(&mut config);
        let scheduler = chain.start_scheduler(config).await?;
        let requester = chain.client(Role::Requester).await?;
        Ok(Self {
            chain,
            _dir: dir,
            pool,
            app,
            scheduler,
            requester,
            salt: 0,
        })
    }

    fn url(&self) -> &str {
        &self.scheduler.url
    }

    /// A classic deal of `volume` tasks at `trust`, with `params`.
    async fn deal(&mut self, trust: u64, volume: u64, params: &str) -> eyre::Result<MatchedDeal> {
        let (app_order, pool_order, request) = self.orders(trust, volume, params)?;
        Ok(self
            .requester
            .match_orders(&app_order, None, &pool_order, &request)
            .await?)
    }

    /// The signed orders of a classic deal of `volume` tasks at `trust`, with `params`.
    fn orders(
        &mut self,
        trust: u64,
        volume: u64,
        params: &str,
    ) -> eyre::Result<(
        poco_types::SignedAppOrder,
        poco_types::SignedWorkerpoolOrder,
        poco_types::SignedRequestOrder,
    )> {
        let orders = self.chain.orders();
        let domain = &self.chain.domain;
        let mut salt = || {
            self.salt += 1;
            B256::repeat_byte(self.salt)
        };
        let app_order = poco_types::AppOrder {
            salt: salt(),
            ..orders.app(self.app, 0, 1_000)
        }
        .sign(domain, self.chain.key(Role::AppOwner))?;
        let pool_order = poco_types::WorkerpoolOrder {
            salt: salt(),
            ..orders.workerpool(self.pool, 2 * RLC, 1_000, 100)
        }
        .sign(domain, self.chain.key(Role::Scheduler))?;
        let request = poco_types::RequestOrder {
            params: params.into(),
            salt: salt(),
            ..orders.request(
                self.chain.address(Role::Requester),
                self.app,
                0,
                2 * RLC,
                volume,
                trust,
            )
        }
        .sign(domain, self.chain.key(Role::Requester))?;
        Ok((app_order, pool_order, request))
    }

    /// A worker on `Role::Worker(n)`'s account, signed in and registered.
    async fn worker(&self, n: usize, slots: u32) -> eyre::Result<TestWorker> {
        TestWorker::new(self, self.chain.key(Role::Worker(n)).clone(), slots).await
    }

    /// A worker whose address starts with a zero byte (it sorts before every other), given
    /// ETH and a deposit of RLC.
    async fn vanity_worker(&self) -> eyre::Result<TestWorker> {
        let key = loop {
            let key = PrivateKeySigner::random();
            if key.address()[0] == 0 {
                break key;
            }
        };
        self.chain
            .provider()
            .anvil_set_balance(key.address(), U256::from(10u128.pow(20)))
            .await?;
        let rlc = poco_chain::bindings::rlc::RLC::new(
            self.chain.deployment().token,
            self.chain.provider(),
        );
        poco_chain::devchain::confirm(
            rlc.transfer(key.address(), U256::from(100 * RLC))
                .from(self.chain.address(Role::Admin))
                .send()
                .await,
            "RLC transfer",
        )
        .await?;
        client(&self.chain, key.clone())
            .await?
            .deposit(U256::from(100 * RLC))
            .await?;
        TestWorker::new(self, key, 1).await
    }

    /// Waits up to 60 s until the scheduler's view of a task satisfies `done`.
    async fn wait_task(
        &self,
        taskid: B256,
        what: &str,
        done: impl Fn(&TaskInfo) -> bool,
    ) -> eyre::Result<TaskInfo> {
        let client = SchedulerClient::new(self.url())?;
        let started = std::time::Instant::now();
        loop {
            let info = client.task(taskid).await;
            if let Ok(info) = &info {
                if done(info) {
                    return Ok(info.clone());
                }
            }
            eyre::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "task {taskid}: no {what} within 60 s: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to 60 s until the scheduler gave a task up.
    async fn wait_given_up(&self, taskid: B256) -> eyre::Result<TaskInfo> {
        self.wait_task(taskid, "give-up", |i| i.status == "FAILED")
            .await
    }

    /// A counter of `/metrics`.
    async fn metric(&self, name: &str) -> eyre::Result<u64> {
        let text = reqwest::get(format!("{}/metrics", self.url()))
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| eyre::eyre!("no metric {name} in {text}"))
    }

    /// Moves the chain's clock.
    async fn advance(&self, seconds: u64) -> eyre::Result<()> {
        Ok(self.chain.advance(seconds).await?)
    }

    /// A scheduler client signed in with `key`.
    async fn signed_in(&self, key: &PrivateKeySigner) -> eyre::Result<SchedulerClient> {
        let client = SchedulerClient::new(self.url())?.expect_pool(self.pool);
        client.login(key).await?;
        Ok(client)
    }
}

/// A hub client sending from `key` (an account outside the role map).
async fn client(chain: &Chain, key: PrivateKeySigner) -> eyre::Result<PocoClient> {
    Ok(PocoClient::connect(
        poco_chain::ClientConfig::new(chain.endpoint(), chain.hub()),
        Some(key),
    )
    .await?)
}

/// A worker played by the test: it takes replicates, contributes on chain, uploads to the
/// pool's store and reports, each step on its own.
struct TestWorker {
    key: PrivateKeySigner,
    api: SchedulerClient,
    chain: PocoClient,
}

impl TestWorker {
    async fn new(pool: &Pool, key: PrivateKeySigner, slots: u32) -> eyre::Result<Self> {
        Self::with_tags(pool, key, slots, B256::ZERO).await
    }

    /// A worker registering `tags` (the bytes32 bitmap).
    async fn with_tags(
        pool: &Pool,
        key: PrivateKeySigner,
        slots: u32,
        tags: B256,
    ) -> eyre::Result<Self> {
        let api = pool.signed_in(&key).await?;
        api.register(&Registration {
            cores: 1,
            memory_bytes: 1 << 30,
            tags,
            slots,
        })
        .await?;
        let chain = client(&pool.chain, key.clone()).await?;
        Ok(Self { key, api, chain })
    }

    fn address(&self) -> Address {
        self.key.address()
    }

    /// The next replicate, waiting up to 10 s.
    async fn take(&self) -> eyre::Result<Assignment> {
        self.api
            .next_work(Duration::from_secs(10))
            .await?
            .ok_or_else(|| eyre::eyre!("{}: no work within 10 s", self.address()))
    }

    /// Contributes `digest` to the task on chain.
    async fn contribute(&self, a: &Assignment, digest: B256) -> eyre::Result<()> {
        let hub = self.chain.hub();
        let call = hub.contribute(
            a.taskid,
            result_hash(a.taskid, digest),
            result_seal(self.address(), a.taskid, digest),
            Address::ZERO,
            Bytes::new(),
            a.authorization.clone(),
        );
        self.chain
            .send(call.into_transaction_request(), "contribute")
            .await?;
        Ok(())
    }

    /// Contributes and finalizes a trust-1 task on chain.
    async fn contribute_and_finalize(
        &self,
        a: &Assignment,
        digest: B256,
        location: &str,
    ) -> eyre::Result<()> {
        let hub = self.chain.hub();
        let link = poco_types::ResultLink::new("poco", location);
        let call = hub.contributeAndFinalize(
            a.taskid,
            digest,
            link.to_bytes(),
            Bytes::new(),
            Address::ZERO,
            Bytes::new(),
            a.authorization.clone(),
        );
        self.chain
            .send(call.into_transaction_request(), "contributeAndFinalize")
            .await?;
        Ok(())
    }

    /// Uploads `archive` to the pool's store; returns its location.
    async fn upload(&self, a: &Assignment, archive: Vec<u8>) -> eyre::Result<String> {
        let authorization = WorkerAuthorization {
            worker: self.address(),
            task_id: a.taskid,
            enclave_challenge: Address::ZERO,
            sign: a.authorization.clone(),
        };
        let receipt = poco_store::StoreClient::new(&a.store_url)?
            .upload(a.taskid, archive, &authorization, &self.key)
            .await?;
        Ok(receipt.location)
    }

    async fn report(
        &self,
        a: &Assignment,
        state: ReplicateState,
        digest: Option<B256>,
        location: Option<String>,
        callback_data: Option<Bytes>,
    ) -> eyre::Result<()> {
        self.api
            .report(
                a.taskid,
                &Report {
                    result_digest: digest,
                    location,
                    callback_data,
                    ..bare_report(state)
                },
            )
            .await?;
        Ok(())
    }
}

/// A report of `state` that sets nothing else.
fn bare_report(state: ReplicateState) -> Report {
    Report {
        state,
        result_digest: None,
        location: None,
        callback_data: None,
        tx: None,
        error: None,
        app_fault: false,
        fault: None,
        logs: None,
    }
}

/// A report of a failed replicate, with `error` and nothing else.
fn failed_report(error: &str) -> Report {
    Report {
        error: Some(error.into()),
        ..bare_report(ReplicateState::Failed)
    }
}

/// A result archive as a worker makes it (computed.json naming `result.txt`), and its result
/// digest as the requester computes it.
fn archive(text: &str) -> eyre::Result<(Vec<u8>, B256)> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("computed.json", options)?;
    zip.write_all(br#"{"deterministic-output-path":"/iexec_out/result.txt"}"#)?;
    zip.start_file("result.txt", options)?;
    zip.write_all(text.as_bytes())?;
    let bytes = zip.finish()?.into_inner();
    let dir = tempfile::tempdir()?;
    let digest = poco_runtime::archive_digest(&bytes, dir.path())?;
    Ok((bytes, digest))
}

#[allow(dead_code)]
fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}
