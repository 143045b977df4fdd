//! The chain side of the scheduler: reads the pool's deals and the tasks' events, initializes
//! tasks, decides the replicas, reveals and finalizes replicated tasks, reopens them when
//! nobody can reveal, gives up tasks whose app fails, and expires the leases of lost workers.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    rpc::types::{Filter, Log},
    signers::local::PrivateKeySigner,
    sol_types::{SolEvent, SolValue},
};
use poco_chain::{bindings::hub::IPoco, LogWatcher, PocoClient};
use poco_types::{
    result_hash, task_id, Order as _, PoolTaskState, ReplicateState, ResultLink,
    SignedWorkerpoolOrder, TaskStatus, WorkerpoolOrder,
};
use tokio::sync::{Mutex, Notify};
use tracing::{debug, info, warn};

use crate::{
    api::{AppRef, DatasetRef, Fault},
    db::{Db, DealRow},
    Error, Result, SchedulerConfig,
};

/// Contribution (and push) deadline: start time plus this many reference times.
const CONTRIBUTION_RATIO: i64 = poco_types::CONTRIBUTION_DEADLINE_RATIO as i64;
/// Tasks initialized per transaction.
const INIT_BATCH: usize = 64;
/// The most replicas one task is given (the hub accepts at most 64 contributors): when the
/// votes still disagree at this count, the task is given up.
pub(crate) const MAX_REPLICAS: i64 = 16;
/// revealAndFinalize calls sent with one replicate's result before it is set aside.
const REVEAL_ATTEMPTS: i64 = 3;
/// The longest a tick (chain reads, transactions, store reads) may take.
const TICK_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest the check of one reveal candidate may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Why a deal asking for encrypted results is given up.
pub(crate) const NO_ENCRYPTION: &str = "this pool does not support result encryption yet; \
    send the request again without iexec_result_encryption, or to a pool that encrypts results";
const CURSOR: &str = "cursor";

pub(crate) use crate::metrics::Metrics;

/// The task counts of `/metrics` and when they were read.
pub(crate) type CachedCounts = Option<(Instant, Vec<(String, i64)>)>;

/// What the engine and the HTTP handlers share.
pub(crate) struct Shared {
    pub(crate) config: SchedulerConfig,
    pub(crate) client: PocoClient,
    pub(crate) signer: PrivateKeySigner,
    pub(crate) db: Db,
    pub(crate) url: String,
    pub(crate) store_url: String,
    /// Wakes long-polling workers when work may be available.
    pub(crate) work: Notify,
    /// Wakes the engine early (a report came in).
    pub(crate) wake: Notify,
    /// Serializes assignments.
    pub(crate) assign_lock: Mutex<()>,
    /// The latest block's timestamp.
    pub(crate) chain_now: AtomicI64,
    pub(crate) challenges: std::sync::Mutex<crate::http::Challenges>,
    pub(crate) work_limits: std::sync::Mutex<crate::http::RateLimits>,
    pub(crate) task_counts: Mutex<CachedCounts>,
    pub(crate) store: poco_store::StoreState,
    pub(crate) metrics: Metrics,
    pub(crate) published: Option<SignedWorkerpoolOrder>,
    assets: Mutex<HashMap<Address, (String, B256, String)>>,
}

/// Seconds since the epoch, by the machine's clock (leases).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Replicas needed for `trust` with fresh workers (weight 2 each): the smallest k with
/// 2^k · trust > (1 + 2^k) · (trust − 1), the hub's consensus test with k agreeing votes.
pub(crate) fn replicas_for(trust: u64) -> u64 {
    if trust <= 1 {
        return 1;
    }
    let t = u128::from(trust);
    let mut k = 1u32;
    while k < 64 {
        let g = 1u128 << k;
        if g * t > (1 + g) * (t - 1) {
            break;
        }
        k += 1;
    }
    u64::from(k)
}

fn hex(b: &[u8]) -> String {
    format!("0x{}", alloy::primitives::hex::encode(b))
}

impl Shared {
    pub(crate) async fn new(
        config: SchedulerConfig,
        client: PocoClient,
        signer: PrivateKeySigner,
        db: Db,
        url: String,
    ) -> Result<Self> {
        let published = match &config.publish {
            Some(p) => Some(publish(&config, p, &client, &signer, &url)?),
            None => None,
        };
        let now = client.now().await? as i64;
        let store_url = format!("{url}/store");
        let store_config = poco_store::StoreConfig {
            trusted_schedulers: vec![signer.address()],
            public_url: Some(store_url.clone()),
            ..config
                .store
                .clone()
                .unwrap_or_else(|| poco_store::StoreConfig {
                    path: config.store_dir.clone(),
                    ..Default::default()
                })
        };
        let store = poco_store::StoreState::new(&store_config)?;
        Ok(Self {
            store_url,
            store,
            config,
            client,
            signer,
            db,
            url,
            work: Notify::new(),
            wake: Notify::new(),
            assign_lock: Mutex::new(()),
            chain_now: AtomicI64::new(now),
            challenges: std::sync::Mutex::new(crate::http::Challenges::default()),
            work_limits: std::sync::Mutex::new(crate::http::RateLimits::default()),
            task_counts: Mutex::new(None),
            metrics: Metrics::default(),
            published,
            assets: Mutex::new(HashMap::new()),
        })
    }

    /// The app (multiaddr, checksum, type) or dataset (multiaddr, checksum, "") behind an
    /// address, cached.
    async fn asset(&self, address: Address, app: bool) -> Result<(String, B256, String)> {
        if let Some(found) = self.assets.lock().await.get(&address) {
            return Ok(found.clone());
        }
        let hub = self.client.hub();
        let found = if app {
            let a = hub
                .viewApp(address)
                .call()
                .await
                .map_err(|e| poco_chain::Error::call("viewApp", e))?;
            (
                String::from_utf8_lossy(&a.m_appMultiaddr).into_owned(),
                a.m_appChecksum,
                a.m_appType,
            )
        } else {
            let d = hub
                .viewDataset(address)
                .call()
                .await
                .map_err(|e| poco_chain::Error::call("viewDataset", e))?;
            (
                String::from_utf8_lossy(&d.m_datasetMultiaddr).into_owned(),
                d.m_datasetChecksum,
                String::new(),
            )
        };
        self.assets.lock().await.insert(address, found.clone());
        Ok(found)
    }

    pub(crate) async fn app_ref(&self, deal: &DealRow) -> Result<(AppRef, Option<DatasetRef>)> {
        let app: Address = deal
            .app
            .parse()
            .map_err(|_| Error::Database("bad app".into()))?;
        let (multiaddr, checksum, kind) = self.asset(app, true).await?;
        let dataset: Address = deal
            .dataset
            .parse()
            .map_err(|_| Error::Database("bad dataset".into()))?;
        let dataset = if dataset == Address::ZERO {
            None
        } else {
            let (multiaddr, checksum, _) = self.asset(dataset, false).await?;
            Some(DatasetRef {
                address: dataset,
                multiaddr,
                checksum,
            })
        };
        Ok((
            AppRef {
                address: app,
                multiaddr,
                checksum,
                kind,
            },
            dataset,
        ))
    }

    async fn send(&self, tx: alloy::rpc::types::TransactionRequest, what: &str) -> Result<()> {
        self.metrics.transactions.inc();
        match self.client.send(tx, what).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.metrics.transaction_errors.inc();
                Err(e.into())
            }
        }
    }
}

/// Signs the pool's workerpool order and writes it where `poco run` looks.
fn publish(
    config: &SchedulerConfig,
    p: &crate::PublishConfig,
    client: &PocoClient,
    signer: &PrivateKeySigner,
    url: &str,
) -> Result<SignedWorkerpoolOrder> {
    let order = WorkerpoolOrder {
        workerpool: config.workerpool,
        workerpoolprice: p.price,
        volume: p.volume,
        tag: p.tag,
        category: p.category,
        trust: p.trust,
        salt: p
            .salt
            .unwrap_or_else(|| B256::from(rand::random::<[u8; 32]>())),
        ..Default::default()
    };
    let signed = order
        .sign(&client.domain(), signer)
        .map_err(|e| Error::Config(format!("cannot sign the workerpool order: {e}")))?;
    if let Some(path) = &p.orders_file {
        let mut file: poco_types::OrdersFile = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let entry = file.entry(client.chain_id()).or_default();
        entry.workerpoolorder = Some(signed.clone());
        entry.other.insert(
            "workerpoolApi".into(),
            serde_json::Value::String(url.into()),
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        poco_wallet::write_atomic(
            path,
            serde_json::to_string_pretty(&file)
                .unwrap_or_default()
                .as_bytes(),
            poco_wallet::Access::Shared,
            poco_wallet::Existing::Replace,
        )?;
    }
    info!(hash = %signed.order_hash(&client.domain()), "published the workerpool order");
    Ok(signed)
}

/// Drives the pool until an error stops it.
pub(crate) async fn run(shared: Arc<Shared>) -> Result<()> {
    let cursor = match shared.db.meta(CURSOR).await? {
        Some(c) => c.parse().unwrap_or(0),
        None => match shared.config.start_block {
            Some(b) => b,
            None => {
                use alloy::providers::Provider;
                shared
                    .client
                    .provider()
                    .get_block_number()
                    .await
                    .map_err(|e| poco_chain::Error::Rpc(e.to_string()))?
            }
        },
    };
    let filter = Filter::new()
        .address(shared.config.hub)
        .event_signature(vec![
            IPoco::SchedulerNotice::SIGNATURE_HASH,
            IPoco::SchedulerNoticeFast::SIGNATURE_HASH,
            IPoco::TaskConsensus::SIGNATURE_HASH,
            IPoco::TaskFinalize::SIGNATURE_HASH,
            IPoco::ResultPushedFast::SIGNATURE_HASH,
            IPoco::TaskClaimed::SIGNATURE_HASH,
            IPoco::TaskReopen::SIGNATURE_HASH,
        ]);
    let mut watcher = LogWatcher::new(
        shared.client.provider().clone(),
        filter,
        cursor,
        shared.config.confirmations,
    );
    info!(from_block = cursor, url = %shared.url, "scheduler started");
    loop {
        match tokio::time::timeout(TICK_TIMEOUT, tick(&shared, &mut watcher)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("{e}"),
            Err(_) => warn!(
                "a tick took more than {}s (chain or store too slow); trying again",
                TICK_TIMEOUT.as_secs()
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

async fn tick(shared: &Shared, watcher: &mut LogWatcher) -> Result<()> {
    let now = shared.client.now().await? as i64;
    shared.chain_now.store(now, Ordering::Relaxed);
    if shared.db.expire_leases(unix_now()).await? > 0 {
        shared.work.notify_waiters();
    }
    shared.db.purge_sessions(unix_now()).await?;
    while let Some(batch) = watcher.poll().await? {
        for log in &batch.logs {
            if let Err(e) = on_log(shared, log).await {
                warn!("cannot handle a log of block {:?}: {e}", log.block_number);
                // Read the range again next time (handling a log twice is harmless).
                watcher.set_cursor(batch.from_block);
                return Err(e);
            }
        }
        shared
            .db
            .set_meta(CURSOR, &watcher.cursor().to_string())
            .await?;
        if batch.to_block >= watcher.confirmed_head().await?.unwrap_or(0) {
            break;
        }
    }
    initialize(shared).await?;
    drive(shared, now).await?;
    Ok(())
}

async fn on_log(shared: &Shared, log: &Log) -> Result<()> {
    let topic = log.topic0().copied().unwrap_or_default();
    let ours = |pool: Address| pool == shared.config.workerpool;
    if topic == IPoco::SchedulerNotice::SIGNATURE_HASH {
        let e = IPoco::SchedulerNotice::decode_log(&log.inner).map_err(decode)?;
        if ours(e.workerpool) {
            classic_deal(shared, e.dealid).await?;
        }
    } else if topic == IPoco::SchedulerNoticeFast::SIGNATURE_HASH {
        let e = IPoco::SchedulerNoticeFast::decode_log(&log.inner).map_err(decode)?;
        if ours(e.workerpool) {
            fast_deal(shared, &e.data).await?;
        }
    } else if topic == IPoco::TaskConsensus::SIGNATURE_HASH {
        let e = IPoco::TaskConsensus::decode_log(&log.inner).map_err(decode)?;
        set_if_ours(shared, e.taskid, PoolTaskState::Revealing, None).await?;
        shared.wake.notify_one();
    } else if topic == IPoco::TaskFinalize::SIGNATURE_HASH {
        let e = IPoco::TaskFinalize::decode_log(&log.inner).map_err(decode)?;
        let results = String::from_utf8_lossy(&e.results).into_owned();
        set_if_ours(shared, e.taskid, PoolTaskState::Completed, Some(&results)).await?;
    } else if topic == IPoco::ResultPushedFast::SIGNATURE_HASH {
        let e = IPoco::ResultPushedFast::decode_log(&log.inner).map_err(decode)?;
        let results = String::from_utf8_lossy(&e.results).into_owned();
        set_if_ours(
            shared,
            task_id(e.dealid, e.idx),
            PoolTaskState::Completed,
            Some(&results),
        )
        .await?;
    } else if topic == IPoco::TaskClaimed::SIGNATURE_HASH {
        let e = IPoco::TaskClaimed::decode_log(&log.inner).map_err(decode)?;
        set_if_ours(shared, e.taskid, PoolTaskState::Claimed, None).await?;
    } else if topic == IPoco::TaskReopen::SIGNATURE_HASH {
        let e = IPoco::TaskReopen::decode_log(&log.inner).map_err(decode)?;
        let key = e.taskid.to_string();
        if let Some(task) = shared.db.task(&key).await? {
            if task.replicas_needed + 1 > MAX_REPLICAS {
                give_up_for_replicas(shared, &key).await?;
            } else {
                shared
                    .db
                    .set_task_status(&key, PoolTaskState::Active, None, None)
                    .await?;
                shared
                    .db
                    .set_replicas_needed(&key, task.replicas_needed + 1)
                    .await?;
                shared.work.notify_waiters();
            }
        }
    }
    Ok(())
}

fn decode(e: alloy::sol_types::Error) -> Error {
    Error::Chain(poco_chain::Error::Rpc(format!("undecodable log: {e}")))
}

async fn set_if_ours(
    shared: &Shared,
    taskid: B256,
    status: PoolTaskState,
    results: Option<&str>,
) -> Result<()> {
    let key = taskid.to_string();
    if shared.db.task(&key).await?.is_some() {
        debug!(%taskid, %status, "task");
        shared
            .db
            .set_task_status(&key, status, None, results)
            .await?;
    }
    Ok(())
}

async fn classic_deal(shared: &Shared, dealid: B256) -> Result<()> {
    let deal = shared.client.deal(dealid).await?;
    let category = shared.client.category(deal.category).await?;
    let timeref = category.work_clock_time_ref as i64;
    let start: i64 = deal.startTime.saturating_to();
    let first: i64 = deal.botFirst.saturating_to();
    let size: i64 = deal.botSize.saturating_to();
    let trust: u64 = deal.trust.saturating_to();
    let row = DealRow {
        dealid: dealid.to_string(),
        fast: false,
        app: deal.app.pointer.to_string(),
        dataset: deal.dataset.pointer.to_string(),
        params: deal.params.clone(),
        trust: trust as i64,
        bot_first: first,
        bot_size: size,
        start_time: start,
        timeref,
        callback: deal.callback.to_string(),
        fast_deal: String::new(),
        requester: deal.requester.to_string(),
        beneficiary: deal.beneficiary.to_string(),
    };
    let tasks: Vec<(String, i64)> = (first..first + size)
        .map(|idx| (task_id(dealid, U256::from(idx)).to_string(), idx))
        .collect();
    let replicas = replicas_for(trust) as i64;
    let deadline = start + CONTRIBUTION_RATIO * timeref;
    if shared
        .db
        .insert_deal(&row, &tasks, PoolTaskState::Pending, replicas, deadline)
        .await?
    {
        shared.metrics.deals.inc();
        info!(%dealid, tasks = size, trust, "new deal");
        refuse_encryption(shared, &row, &tasks).await?;
    }
    Ok(())
}

async fn fast_deal(shared: &Shared, e: &IPoco::SchedulerNoticeFast) -> Result<()> {
    let deal = &e.deal;
    let start: i64 = deal.startTime.saturating_to();
    let timeref: i64 = deal.timeref.saturating_to();
    let first: i64 = deal.botFirst.saturating_to();
    let size: i64 = deal.botSize.saturating_to();
    let row = DealRow {
        dealid: e.dealid.to_string(),
        fast: true,
        app: e.app.to_string(),
        dataset: e.dataset.to_string(),
        params: e.params.clone(),
        trust: 1,
        bot_first: first,
        bot_size: size,
        start_time: start,
        timeref,
        callback: deal.callback.to_string(),
        fast_deal: hex(&deal.abi_encode()),
        // A fast deal is paid by its sponsor, the requester unless someone sponsored it.
        requester: deal.sponsor.to_string(),
        beneficiary: e.beneficiary.to_string(),
    };
    let tasks: Vec<(String, i64)> = (first..first + size)
        .map(|idx| (task_id(e.dealid, U256::from(idx)).to_string(), idx))
        .collect();
    let deadline = start + CONTRIBUTION_RATIO * timeref;
    if shared
        .db
        .insert_deal(&row, &tasks, PoolTaskState::Active, 1, deadline)
        .await?
    {
        shared.metrics.deals.inc();
        info!(dealid = %e.dealid, tasks = size, "new fast deal");
        refuse_encryption(shared, &row, &tasks).await?;
        shared.work.notify_waiters();
    }
    Ok(())
}

/// Gives up at once the tasks of a deal whose params ask for encrypted results: this pool
/// would hand the requester's results out in plain text.
async fn refuse_encryption(shared: &Shared, deal: &DealRow, tasks: &[(String, i64)]) -> Result<()> {
    let encrypted = poco_types::DealParams::parse(&deal.params)
        .map(|p| p.result_encryption())
        .unwrap_or(false);
    if encrypted {
        warn!(dealid = deal.dealid, "{NO_ENCRYPTION}");
        for (taskid, _) in tasks {
            shared
                .db
                .set_task_status(taskid, PoolTaskState::Failed, Some(NO_ENCRYPTION), None)
                .await?;
        }
    }
    Ok(())
}

/// Gives a task up because its votes still disagree at [`MAX_REPLICAS`] replicas.
async fn give_up_for_replicas(shared: &Shared, taskid: &str) -> Result<()> {
    let reason = format!(
        "no consensus after {MAX_REPLICAS} replicas (this pool's cap): the app's result may \
         not be deterministic"
    );
    warn!(taskid, reason, "giving the task up");
    shared
        .db
        .set_task_status(taskid, PoolTaskState::Failed, Some(&reason), None)
        .await
}

/// The longest wait before a failed task is handed out again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait before a task is handed out again after its `failures`-th failure: the
/// configured backoff, doubled at each further failure, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, failures: i64) -> Duration {
    let doublings = failures.saturating_sub(1).clamp(0, 16) as u32;
    base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// What follows a failed replicate, by whose fault it is: the deal's gives the task up with
/// the worker's reason (every worker would meet it again) once another worker confirmed it or
/// none is free to (as for the app's); the app's is left to the
/// app-fault limit ([`drive`]); the worker's and a passing one count as a failed attempt and
/// hold the task back for a growing [`backoff`] (the worker's goes to another worker first,
/// see `Db::next_task_for`), and the attempt that reaches `--max-attempts` gives it up.
pub(crate) async fn after_failure(
    shared: &Shared,
    taskid: &str,
    fault: Fault,
    error: Option<&str>,
) -> Result<()> {
    let Some(task) = shared.db.task(taskid).await? else {
        return Ok(());
    };
    if task.status != PoolTaskState::Active {
        return Ok(());
    }
    let reason = error.unwrap_or("the worker gave no reason");
    match fault {
        Fault::App => Ok(()),
        Fault::Deal => {
            let replicates = shared.db.replicates(taskid).await?;
            let settled = replicates
                .iter()
                .any(|r| matches!(r.state, ReplicateState::Contributed | ReplicateState::Done));
            if settled {
                // Others contributed already (a late contribution refused once the task
                // reached consensus): the task goes on with them.
                debug!(taskid, "a late replicate was refused: {reason}");
                return Ok(());
            }
            // A worker's word alone does not end a task: a hostile worker could otherwise
            // give up any task it is handed. Another worker confirms (it never gets the task
            // back, see `Db::next_task_for`), unless none is free to.
            let confirmations = replicates
                .iter()
                .filter(|r| r.state == ReplicateState::Failed && r.fault == Some(Fault::Deal))
                .count() as u32;
            let others = shared
                .db
                .live_workers(unix_now() - shared.config.lease.as_secs() as i64)
                .await?
                - replicates.len() as i64;
            if confirmations < shared.config.app_fault_limit && others > 0 {
                debug!(
                    taskid,
                    confirmations, "a deal fault waits for another worker to confirm: {reason}"
                );
                shared.work.notify_waiters();
                return Ok(());
            }
            warn!(
                taskid,
                reason, "giving the task up: no worker can settle it"
            );
            shared
                .db
                .set_task_status(taskid, PoolTaskState::Failed, Some(reason), None)
                .await
        }
        Fault::Worker | Fault::Transient => {
            let failures = task.failures + 1;
            let wait = backoff(shared.config.retry_backoff, failures);
            shared
                .db
                .count_failure(taskid, unix_now() + wait.as_secs().max(1) as i64)
                .await?;
            debug!(taskid, failures, ?wait, ?fault, "failed attempt: {reason}");
            give_up_exhausted(shared).await
        }
    }
}

/// Gives up the tasks that used up `--max-attempts` failed attempts and hold no live
/// replicate, with the last reason.
async fn give_up_exhausted(shared: &Shared) -> Result<()> {
    let max = i64::from(shared.config.max_attempts.max(1));
    for task in shared.db.exhausted_tasks(max).await? {
        let last = shared
            .db
            .replicates(&task.taskid)
            .await?
            .into_iter()
            .rev()
            .find_map(|r| match r.state {
                ReplicateState::Failed => r.error,
                ReplicateState::Lost => Some("the worker stopped answering".into()),
                _ => None,
            })
            .unwrap_or_else(|| "unknown".into());
        let reason = format!(
            "given up after {} failed attempts (this pool's --max-attempts); the last: {last}",
            task.failures
        );
        warn!(taskid = task.taskid, reason, "giving the task up");
        shared
            .db
            .set_task_status(&task.taskid, PoolTaskState::Failed, Some(&reason), None)
            .await?;
    }
    Ok(())
}

/// Initializes the PENDING tasks of classic deals, in batches.
async fn initialize(shared: &Shared) -> Result<()> {
    let pending = shared.db.tasks_in(&[PoolTaskState::Pending]).await?;
    if pending.is_empty() {
        return Ok(());
    }
    for chunk in pending.chunks(INIT_BATCH) {
        let dealids: Vec<B256> = chunk
            .iter()
            .map(|t| t.dealid.parse().unwrap_or_default())
            .collect();
        let idxs: Vec<U256> = chunk.iter().map(|t| U256::from(t.idx as u64)).collect();
        let hub = shared.client.hub();
        let call = hub.initializeArray(dealids, idxs);
        match shared
            .send(call.into_transaction_request(), "initializeArray")
            .await
        {
            Ok(()) => {
                for task in chunk {
                    shared
                        .db
                        .set_task_status(&task.taskid, PoolTaskState::Active, None, None)
                        .await?;
                }
            }
            Err(e) => {
                // Some were initialized before (a restart after the transaction): look one by
                // one.
                debug!("initializeArray: {e}; checking each task");
                for task in chunk {
                    let on_chain = shared
                        .client
                        .task(task.taskid.parse().unwrap_or_default())
                        .await?;
                    // The pool's state named like the chain's (FAILED stays FAILED here).
                    let status = match TaskStatus::try_from(on_chain.status) {
                        Ok(TaskStatus::Unset) | Err(_) => continue,
                        Ok(TaskStatus::Active) => PoolTaskState::Active,
                        Ok(TaskStatus::Revealing) => PoolTaskState::Revealing,
                        Ok(TaskStatus::Completed) => PoolTaskState::Completed,
                        Ok(TaskStatus::Failed) => PoolTaskState::Failed,
                    };
                    {
                        shared
                            .db
                            .set_task_status(&task.taskid, status, None, None)
                            .await?;
                    }
                }
            }
        }
    }
    shared.work.notify_waiters();
    Ok(())
}

/// Replicated tasks: more replicas when the votes disagree, reveal and finalize on consensus,
/// reopen when nobody can reveal; any task: give up when the app fails; expire overdue ones.
async fn drive(shared: &Shared, now: i64) -> Result<()> {
    shared.db.expire_tasks(now).await?;
    give_up_exhausted(shared).await?;
    for task in shared.db.tasks_to_drive().await? {
        let replicates = shared.db.replicates(&task.taskid).await?;
        let taskid: B256 = task.taskid.parse().unwrap_or_default();
        if task.status == PoolTaskState::Active {
            let faults: Vec<_> = replicates
                .iter()
                .filter(|r| r.state == ReplicateState::Failed && r.app_fault)
                .collect();
            if !faults.is_empty() {
                let others = shared
                    .db
                    .live_workers(unix_now() - shared.config.lease.as_secs() as i64)
                    .await?
                    - replicates.len() as i64;
                if faults.len() as u32 >= shared.config.app_fault_limit || others <= 0 {
                    // The workers' error texts hold the app's output: they stay behind the
                    // requester's sign-in (GET /tasks/{id}/logs).
                    let reason = format!(
                        "the app failed on {} worker(s); the requester reads why at \
                         GET /tasks/{taskid}/logs",
                        faults.len()
                    );
                    if let Some(last) = faults.last().and_then(|r| r.error.as_deref()) {
                        debug!(%taskid, error = last, "app fault");
                    }
                    warn!(%taskid, reason, "giving the task up");
                    shared
                        .db
                        .set_task_status(&task.taskid, PoolTaskState::Failed, Some(&reason), None)
                        .await?;
                    continue;
                }
            }
            let live = replicates.iter().filter(|r| r.state.is_live()).count() as i64;
            let contributed = replicates
                .iter()
                .filter(|r| r.state == ReplicateState::Contributed)
                .count() as i64;
            let assigned = replicates
                .iter()
                .filter(|r| r.state == ReplicateState::Assigned)
                .count() as i64;
            if contributed > 0 && assigned == 0 && live >= task.replicas_needed {
                // Every replica voted and there is no consensus: one more.
                let on_chain = TaskStatus::try_from(shared.client.task(taskid).await?.status);
                if on_chain == Ok(TaskStatus::Active) && live + 1 > MAX_REPLICAS {
                    give_up_for_replicas(shared, &task.taskid).await?;
                } else if on_chain == Ok(TaskStatus::Active) {
                    shared
                        .db
                        .set_replicas_needed(&task.taskid, live + 1)
                        .await?;
                    shared.work.notify_waiters();
                } else if on_chain == Ok(TaskStatus::Revealing) {
                    shared
                        .db
                        .set_task_status(&task.taskid, PoolTaskState::Revealing, None, None)
                        .await?;
                }
            }
        } else {
            let on_chain = shared.client.task(taskid).await?;
            match TaskStatus::try_from(on_chain.status) {
                Ok(TaskStatus::Revealing) => {
                    if reveal(
                        shared,
                        &task.taskid,
                        taskid,
                        &task.dealid,
                        on_chain.consensusValue,
                        &replicates,
                    )
                    .await?
                    {
                        continue;
                    }
                    if U256::from(now) >= on_chain.revealDeadline {
                        let hub = shared.client.hub();
                        let call = hub.reopen(taskid);
                        match shared.send(call.into_transaction_request(), "reopen").await {
                            Ok(()) => info!(%taskid, "reopened: nobody can reveal the consensus"),
                            Err(Error::Chain(e))
                                if crate::classify_chain_error(&e).is_deterministic() =>
                            {
                                // Asking again every tick would be refused the same way.
                                let reason = format!(
                                    "nobody revealed the consensus and the chain refuses to \
                                     reopen the task: {e}"
                                );
                                warn!(%taskid, reason, "giving the task up");
                                shared
                                    .db
                                    .set_task_status(
                                        &task.taskid,
                                        PoolTaskState::Failed,
                                        Some(&reason),
                                        None,
                                    )
                                    .await?;
                            }
                            Err(e) => debug!(%taskid, "reopen: {e}; trying again"),
                        }
                    }
                }
                Ok(TaskStatus::Completed) => {
                    shared
                        .db
                        .set_task_status(&task.taskid, PoolTaskState::Completed, None, None)
                        .await?
                }
                Ok(TaskStatus::Failed) => {
                    shared
                        .db
                        .set_task_status(&task.taskid, PoolTaskState::Claimed, None, None)
                        .await?
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Reveals and finalizes a task that reached consensus with the result of one replicate that
/// agrees with it, trying them in the order they were reported. A replicate's location and
/// callback data are used only once its on-chain contribution, its callback data and its
/// archive in the pool's store all match the consensus; a candidate that fails a check, or
/// whose call reverts [`REVEAL_ATTEMPTS`] times, is set aside for good. Returns whether the
/// task was finalized.
async fn reveal(
    shared: &Shared,
    key: &str,
    taskid: B256,
    dealid: &str,
    consensus: B256,
    replicates: &[crate::db::ReplicateRow],
) -> Result<bool> {
    let Some(deal) = shared.db.deal(dealid).await? else {
        return Ok(false);
    };
    for r in replicates {
        if r.state != ReplicateState::Contributed || r.rejected.is_some() {
            continue;
        }
        let Some(digest) = r
            .result_digest
            .as_deref()
            .and_then(|d| d.parse::<B256>().ok())
        else {
            continue;
        };
        if result_hash(taskid, digest) != consensus {
            continue;
        }
        let checked = match tokio::time::timeout(
            CHECK_TIMEOUT,
            check_candidate(shared, &deal, taskid, r, digest),
        )
        .await
        {
            Ok(checked) => checked,
            Err(_) => Err(Candidate::Unchecked(format!(
                "the check took more than {}s",
                CHECK_TIMEOUT.as_secs()
            ))),
        };
        let (link, callback) = match checked {
            Ok(found) => found,
            Err(Candidate::Bad(reason)) => {
                set_aside(shared, key, r, &reason).await?;
                continue;
            }
            Err(Candidate::Unchecked(reason)) => {
                // The chain or the store failed: counts as an attempt, so that it ends.
                warn!(%taskid, worker = r.worker, "cannot check a reveal candidate: {reason}");
                shared.db.count_reveal_attempt(key, &r.worker).await?;
                if r.reveal_attempts + 1 >= REVEAL_ATTEMPTS {
                    set_aside(shared, key, r, &format!("could not be checked: {reason}")).await?;
                }
                continue;
            }
        };
        let hub = shared.client.hub();
        let call = hub.revealAndFinalize(taskid, digest, link.to_bytes(), callback);
        shared.db.count_reveal_attempt(key, &r.worker).await?;
        shared.metrics.reveal_attempts.inc();
        match shared
            .send(call.into_transaction_request(), "revealAndFinalize")
            .await
        {
            Ok(()) => {
                info!(%taskid, worker = r.worker, "finalized");
                shared
                    .db
                    .set_task_status(
                        key,
                        PoolTaskState::Completed,
                        None,
                        Some(&String::from_utf8_lossy(&link.to_bytes())),
                    )
                    .await?;
                return Ok(true);
            }
            Err(e) => {
                warn!(%taskid, worker = r.worker, "revealAndFinalize: {e}");
                let deterministic = matches!(&e, Error::Chain(c)
                    if crate::classify_chain_error(c).is_deterministic());
                if deterministic || r.reveal_attempts + 1 >= REVEAL_ATTEMPTS {
                    let reason = if deterministic {
                        format!("revealAndFinalize with its result is refused: {e}")
                    } else {
                        format!(
                            "revealAndFinalize with its result failed {REVEAL_ATTEMPTS} times: {e}"
                        )
                    };
                    set_aside(shared, key, r, &reason).await?;
                }
            }
        }
    }
    Ok(false)
}

async fn set_aside(
    shared: &Shared,
    key: &str,
    r: &crate::db::ReplicateRow,
    reason: &str,
) -> Result<()> {
    warn!(
        taskid = key,
        worker = r.worker,
        reason,
        "reveal candidate set aside"
    );
    shared.metrics.reveal_rejections.inc();
    shared.db.reject_candidate(key, &r.worker, reason).await
}

/// Why a reveal candidate is not used.
enum Candidate {
    /// It fails a check: set aside for good.
    Bad(String),
    /// The chain or the store could not be read: tried again, a bounded number of times.
    Unchecked(String),
}

/// Checks one replicate agreeing with the consensus: its contribution on chain, its callback
/// data, and its archive in the pool's store. Returns the result link and callback data to
/// reveal with.
async fn check_candidate(
    shared: &Shared,
    deal: &DealRow,
    taskid: B256,
    r: &crate::db::ReplicateRow,
    digest: B256,
) -> std::result::Result<(ResultLink, Bytes), Candidate> {
    let bad = |m: String| Candidate::Bad(m);
    let worker: Address = r
        .worker
        .parse()
        .map_err(|_| bad("corrupt worker address".into()))?;
    let contribution = shared
        .client
        .hub()
        .viewContribution(taskid, worker)
        .call()
        .await
        .map_err(|e| Candidate::Unchecked(format!("viewContribution: {e}")))?;
    if contribution.status != 1 || contribution.resultHash != result_hash(taskid, digest) {
        return Err(bad(
            "its on-chain contribution does not carry the consensus result".into(),
        ));
    }
    let callback: Bytes = match r.callback_data.as_deref() {
        None => Bytes::new(),
        Some(hex) => hex
            .parse()
            .map_err(|_| bad("its callback data is not hex".into()))?,
    };
    if !callback.is_empty() && alloy::primitives::keccak256(&callback) != digest {
        return Err(bad(
            "its callback data does not hash to the consensus digest".into(),
        ));
    }
    let has_callback = deal
        .callback
        .parse::<Address>()
        .is_ok_and(|a| a != Address::ZERO);
    if has_callback && callback.is_empty() {
        return Err(bad(
            "the deal has a callback but the replicate reported no callback data".into(),
        ));
    }
    let location = r.location.clone().unwrap_or_default();
    let prefix = format!("{}/results/{taskid}/", shared.store_url);
    let sha256 = location
        .strip_prefix(&prefix)
        .and_then(poco_store::api::parse_object_name)
        .ok_or_else(|| {
            bad("its location is not an archive of this task in the pool's store".into())
        })?;
    let store = shared.store.store();
    let found = store
        .get(taskid, sha256)
        .await
        .map_err(|e| Candidate::Unchecked(format!("the store: {e}")))?
        .ok_or_else(|| bad("its archive is not in the pool's store".into()))?;
    let archive = found
        .bytes()
        .await
        .map_err(|e| Candidate::Unchecked(format!("the store: {e}")))?;
    let actual = tokio::task::spawn_blocking(move || -> std::result::Result<B256, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        poco_runtime::archive_digest(&archive, dir.path()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| Candidate::Unchecked(e.to_string()))?
    .map_err(|e| bad(format!("its archive is unreadable: {e}")))?;
    if actual != digest {
        return Err(bad(format!(
            "its archive's digest {actual} is not the consensus digest"
        )));
    }
    Ok((ResultLink::new("poco", location), callback))
}

/// Helper for [`Duration`] configuration in seconds.
pub(crate) fn secs(d: Duration) -> i64 {
    d.as_secs().max(1) as i64
}

#[cfg(test)]
mod tests {
    use super::replicas_for;

    #[test]
    fn l1_replica_cap_is_under_the_hub_cap() {
        const { assert!(super::MAX_REPLICAS <= 64 && super::MAX_REPLICAS >= 2) };
        // Every trust the pool can take needs fewer replicas than the cap.
        assert!(replicas_for(100) < super::MAX_REPLICAS as u64);
    }

    #[test]
    fn replicas_follow_the_hub_consensus_rule() {
        for (trust, replicas) in [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (100, 7)] {
            assert_eq!(replicas_for(trust), replicas, "trust {trust}");
        }
    }
}
