//! The chain side of the scheduler: reads the pool's deals and the tasks' events, initializes
//! tasks, and applies what [`crate::decide`] decides on each task: more replicas, reveal and
//! finalize, reopen when nobody can reveal, give up; it also expires the leases of lost
//! workers and the tasks past their deadline (decided by [`decide::expire_leases`] and
//! [`decide::expire_tasks`] on the rows read, written in one transaction).
//!
//! # Order of the writes (crash safety)
//!
//! The chain is the source of truth and a restarted scheduler reads it again from its cursor;
//! what the database holds must never claim more than the chain did. So:
//! - The writes of one decision on a task are applied in one database transaction
//!   ([`Db::apply`](crate::db::Db::apply)): a crash never leaves a reopened task ACTIVE
//!   without its extra replica, nor a failed attempt counted without its backoff.
//! - `initializeArray` is sent first, and the tasks are marked ACTIVE after it is mined. A
//!   crash in between leaves them PENDING: the next call is refused (already initialized)
//!   and each task's state is then read from the hub.
//! - A reveal attempt is counted before `revealAndFinalize` is sent, so that a candidate whose
//!   call never returns (a crash, a hang) is still set aside after
//!   [`REVEAL_ATTEMPTS`](crate::decide::REVEAL_ATTEMPTS) tries; the task is marked COMPLETED
//!   only after the call is mined. A crash in between leaves it REVEALING: the next tick reads
//!   COMPLETED from the hub, and the `TaskFinalize` log brings the result link.
//! - `reopen` writes nothing here: the `TaskReopen` log it causes does (one more replica).
//! - A candidate is set aside, or a task given up, after the refusal that decides it.

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
    task_id, Category, Order as _, PoolTaskState, ResultLink, SignedWorkerpoolOrder, Tag,
    TaskStatus, WorkerpoolOrder,
};
use tokio::sync::{Mutex, Notify};
use tracing::{debug, info, warn};

use crate::{
    api::{AppRef, DatasetRef, Fault},
    db::{Db, DealRow, ReplicateRow, TaskRow, Write},
    decide::{self, replicas_for, Action, Candidate, ChainTask, Policy, View},
    workers, Error, Result, SchedulerConfig,
};

/// Tasks initialized per transaction.
const INIT_BATCH: usize = 64;
/// The longest a tick (chain reads, transactions, store reads) may take.
const TICK_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest the check of one reveal candidate may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Why a deal asking for encrypted results is given up.
pub(crate) const NO_ENCRYPTION: &str = "this pool does not support result encryption yet \
    outside TEE tasks; send the request again without iexec_result_encryption, or with the tee \
    tag (the enclave encrypts the result), or to a pool that encrypts results";
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
    /// Wakes the loop that asks the SMS for enclave challenges ([`crate::challenges`]).
    pub(crate) tee: Notify,
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
    /// The worker stake of each deal read from the hub (open pools check it at dispatch).
    stakes: Mutex<HashMap<B256, U256>>,
    /// Each worker's on-chain score (`viewScore`) as last read: read at its first dispatch,
    /// again after each tally of its votes (a settlement changes it).
    scores: Mutex<HashMap<Address, u64>>,
    /// When each worker last asked for work: the workers the replication policy may ask.
    pub(crate) pollers: std::sync::Mutex<HashMap<Address, std::time::Instant>>,
    /// The SMS that makes the enclave challenges of TEE tasks ([`SchedulerConfig::sms_url`]).
    pub(crate) sms: Option<poco_sms_api::SmsClient>,
}

/// Seconds since the epoch, by the machine's clock (leases).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
            Some(p) => Some(publish(&config, p, &client, &signer)?),
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
        let sms = config.sms_url.as_deref().map(poco_sms_api::SmsClient::new);
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
            tee: Notify::new(),
            assign_lock: Mutex::new(()),
            chain_now: AtomicI64::new(now),
            challenges: std::sync::Mutex::new(crate::http::Challenges::default()),
            work_limits: std::sync::Mutex::new(crate::http::RateLimits::default()),
            task_counts: Mutex::new(None),
            metrics: Metrics::default(),
            published,
            assets: Mutex::new(HashMap::new()),
            stakes: Mutex::new(HashMap::new()),
            scores: Mutex::new(HashMap::new()),
            pollers: std::sync::Mutex::new(HashMap::new()),
            sms,
        })
    }

    /// The app (multiaddr, checksum, type) or dataset (multiaddr, checksum, "") behind an
    /// address, cached.
    async fn asset(&self, address: Address, app: bool) -> Result<(String, B256, String)> {
        if let Some(found) = self.assets.lock().await.get(&address) {
            return Ok(found.clone());
        }
        let found = if app {
            let a = self.client.view_app(address).await?;
            (a.multiaddr, a.checksum, a.kind)
        } else {
            let d = self.client.view_dataset(address).await?;
            (d.multiaddr, d.checksum, String::new())
        };
        self.assets.lock().await.insert(address, found.clone());
        Ok(found)
    }

    /// A worker's on-chain score, cached until a tally of its votes (the hub is the only
    /// source: a worker's claim of its score is never read).
    pub(crate) async fn score(&self, worker: Address) -> Result<u64> {
        if let Some(score) = self.scores.lock().await.get(&worker) {
            return Ok(*score);
        }
        let score = self.client.score(worker).await?;
        self.scores.lock().await.insert(worker, score);
        Ok(score)
    }

    pub(crate) async fn app_ref(&self, deal: &DealRow) -> Result<(AppRef, Option<DatasetRef>)> {
        let app = deal.app;
        let (multiaddr, checksum, kind) = self.asset(app, true).await?;
        let dataset = if deal.dataset == Address::ZERO {
            None
        } else {
            let (multiaddr, checksum, _) = self.asset(deal.dataset, false).await?;
            Some(DatasetRef {
                address: deal.dataset,
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

    /// The worker stake of a deal (`viewDeal`), cached: it never changes.
    pub(crate) async fn worker_stake(&self, dealid: B256) -> Result<U256> {
        if let Some(stake) = self.stakes.lock().await.get(&dealid) {
            return Ok(*stake);
        }
        let stake = self.client.deal(dealid).await?.workerStake;
        self.stakes.lock().await.insert(dealid, stake);
        Ok(stake)
    }

    /// Sends a transaction of the pool (counted in the metrics).
    async fn send<T>(
        &self,
        tx: impl std::future::Future<Output = poco_chain::Result<T>>,
    ) -> Result<()> {
        self.metrics.transactions.inc();
        match tx.await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.metrics.transaction_errors.inc();
                Err(e.into())
            }
        }
    }
}

/// Signs the pool's workerpool order; the scheduler serves it (`GET /workerpoolorder`) and
/// hands it to its starter ([`crate::Running::workerpool_order`]).
fn publish(
    config: &SchedulerConfig,
    p: &crate::PublishConfig,
    client: &PocoClient,
    signer: &PrivateKeySigner,
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
    let signed = order.sign(&client.domain(), signer).map_err(Error::Sign)?;
    info!(hash = %signed.order_hash(&client.domain()), "published the workerpool order");
    Ok(signed)
}

/// Drives the pool until an error stops it.
pub(crate) async fn run(shared: Arc<Shared>) -> Result<()> {
    let cursor = match shared.db.meta(CURSOR).await? {
        Some(c) => c.parse().map_err(|_| Error::Corrupt {
            table: "meta",
            column: "value",
            value: c,
            expected: "a block number (the chain cursor)",
        })?,
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
    expire_leases(shared).await?;
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
    tally(shared).await?;
    Ok(())
}

/// Counts the votes of the replicated tasks finalized since the last tick in their workers'
/// records, from the hub (its consensus value and each contribution's hash, not the workers'
/// reports): a vote against the consensus excludes its worker (see [`workers::outcome`]).
async fn tally(shared: &Shared) -> Result<()> {
    for task in shared.db.tasks_to_tally().await? {
        let taskid = task.taskid;
        let consensus = shared.client.task(taskid).await?.consensusValue;
        let mut contributions = Vec::new();
        for r in shared.db.replicates(taskid).await? {
            let c = shared.client.contribution(taskid, r.worker).await?;
            if c.status == poco_chain::ContributionStatus::Unset {
                continue;
            }
            let record = shared.db.worker_record(r.worker).await?;
            contributions.push((r.worker, c.result_hash, record));
        }
        // Losers are excluded only when a qualified worker was among the winners.
        let winners: Vec<_> = contributions
            .iter()
            .filter(|(_, hash, _)| *hash == consensus)
            .map(|(_, _, record)| record.as_ref())
            .collect();
        let confirmed = workers::confirmed(shared.config.admission, &winners);
        let mut votes = Vec::new();
        for (worker, hash, record) in &contributions {
            let outcome = workers::outcome(
                record.as_ref(),
                taskid,
                *hash,
                consensus,
                confirmed,
                unix_now(),
            );
            if let Some(exclusion) = &outcome.exclude {
                warn!(%taskid, %worker, reason = %exclusion.reason, "worker excluded");
                shared.metrics.exclusions.inc();
            } else if !outcome.agreed {
                info!(%taskid, %worker, "a vote against a consensus of newcomers only: the \
                    worker's streak ends, it is not excluded");
            }
            votes.push((*worker, outcome));
        }
        let hashes: Vec<(Address, B256)> = contributions
            .iter()
            .map(|(worker, hash, _)| (*worker, *hash))
            .collect();
        let pairs = workers::colluding_pairs(&hashes, consensus);
        for (a, b) in &pairs {
            warn!(%taskid, %a, %b, "two workers voted the same value against the consensus: \
                they are never asked for one task together again");
        }
        shared.db.tally(taskid, &votes, &pairs, unix_now()).await?;
        // The settlement changed the contributors' scores: read them again at the next
        // dispatch.
        let mut scores = shared.scores.lock().await;
        for (worker, _) in &votes {
            scores.remove(worker);
        }
    }
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
        if let Some(task) = shared.db.task(e.taskid).await? {
            commit(shared, task.taskid, &decide::after_reopen(&task)).await?;
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
    if shared.db.task(taskid).await?.is_some() {
        debug!(%taskid, %status, "task");
        shared
            .db
            .set_task_status(taskid, status, None, results)
            .await?;
    }
    Ok(())
}

async fn classic_deal(shared: &Shared, dealid: B256) -> Result<()> {
    let deal = shared.client.deal(dealid).await?;
    let category = shared.client.category(deal.category).await?;
    let timeref = category.work_clock_time_ref as i64;
    let start: u64 = deal.startTime.saturating_to();
    let first: i64 = deal.botFirst.saturating_to();
    let size: i64 = deal.botSize.saturating_to();
    let trust: u64 = deal.trust.saturating_to();
    let row = DealRow {
        dealid,
        fast: false,
        app: deal.app.pointer,
        dataset: deal.dataset.pointer,
        params: deal.params.clone(),
        trust: trust as i64,
        bot_first: first,
        bot_size: size,
        start_time: deal.startTime.saturating_to(),
        timeref,
        callback: deal.callback,
        fast_deal: Bytes::new(),
        requester: Some(deal.requester),
        beneficiary: Some(deal.beneficiary),
        tag: Tag(deal.tag),
    };
    let tasks = deal_tasks(dealid, first, size);
    let replicas = replicas_for(trust) as i64;
    let deadline = clamped(category.contribution_deadline(start));
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
    let start: u64 = deal.startTime.saturating_to();
    let category = Category {
        name: String::new(),
        description: String::new(),
        work_clock_time_ref: deal.timeref.saturating_to(),
    };
    let first: i64 = deal.botFirst.saturating_to();
    let size: i64 = deal.botSize.saturating_to();
    let row = DealRow {
        dealid: e.dealid,
        fast: true,
        app: e.app,
        dataset: e.dataset,
        params: e.params.clone(),
        trust: 1,
        bot_first: first,
        bot_size: size,
        start_time: deal.startTime.saturating_to(),
        timeref: deal.timeref.saturating_to(),
        callback: deal.callback,
        fast_deal: deal.abi_encode().into(),
        // A fast deal is paid by its sponsor, the requester unless someone sponsored it.
        requester: Some(deal.sponsor),
        beneficiary: Some(e.beneficiary),
        tag: Tag(deal.tag),
    };
    let tasks = deal_tasks(e.dealid, first, size);
    let deadline = clamped(category.contribution_deadline(start));
    if shared
        .db
        .insert_deal(&row, &tasks, PoolTaskState::Active, 1, deadline)
        .await?
    {
        shared.metrics.deals.inc();
        info!(dealid = %e.dealid, tasks = size, "new fast deal");
        refuse_encryption(shared, &row, &tasks).await?;
        shared.work.notify_waiters();
        shared.tee.notify_one();
    }
    Ok(())
}

/// A time (unix seconds) as the database stores it, at most `i64::MAX`.
fn clamped(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// The ids and indexes of a deal's tasks.
fn deal_tasks(dealid: B256, first: i64, size: i64) -> Vec<(B256, i64)> {
    (first..first + size)
        .map(|idx| (task_id(dealid, U256::from(idx)), idx))
        .collect()
}

/// Gives up at once the tasks of a deal whose params ask for encrypted results, unless the
/// deal is TEE-tagged (the enclave encrypts the result for the beneficiary with the key the
/// SMS gives it): a standard worker would hand the requester's results out in plain text.
async fn refuse_encryption(shared: &Shared, deal: &DealRow, tasks: &[(B256, i64)]) -> Result<()> {
    let encrypted = poco_types::DealParams::parse(&deal.params)
        .map(|p| p.result_encryption())
        .unwrap_or(false);
    if encrypted && !deal.tag.is_tee() {
        warn!(dealid = %deal.dealid, "{NO_ENCRYPTION}");
        for (taskid, _) in tasks {
            shared
                .db
                .set_task_status(*taskid, PoolTaskState::Failed, Some(NO_ENCRYPTION), None)
                .await?;
        }
    }
    Ok(())
}

/// What the engine reads of a task before deciding on it: its replicates and the live
/// workers (the hub's view is read when a decision asks for it).
async fn view_of(shared: &Shared, task: &TaskRow) -> Result<(Vec<ReplicateRow>, i64)> {
    let replicates = shared.db.replicates(task.taskid).await?;
    // Only the workers registering the deal's tag could take the task (a TEE task's).
    let tag = shared
        .db
        .deal(task.dealid)
        .await?
        .map(|d| d.tag)
        .unwrap_or_default();
    let live = shared
        .db
        .live_workers(unix_now() - shared.config.lease.as_secs() as i64, tag)
        .await?;
    Ok((replicates, live))
}

/// Applies a decision on `task`: its writes in one transaction, then the wake-ups, then the
/// reveal (chain calls, each followed by its own writes).
async fn apply(
    shared: &Shared,
    task: &TaskRow,
    replicates: &[ReplicateRow],
    actions: Vec<Action>,
) -> Result<()> {
    commit(shared, task.taskid, &actions).await?;
    for action in actions {
        if let Action::Reveal { candidates, reopen } = action {
            if !reveal(shared, task, replicates, &candidates).await? && reopen {
                reopen_task(shared, task.taskid).await?;
            }
        }
    }
    Ok(())
}

/// The database side of a decision: its writes in one transaction, then its logs and
/// wake-ups.
async fn commit(shared: &Shared, taskid: B256, actions: &[Action]) -> Result<()> {
    let writes: Vec<Write> = actions.iter().filter_map(Action::write).collect();
    shared.db.apply(taskid, &writes).await?;
    for action in actions {
        match action {
            Action::GiveUp { reason, detail } => {
                if let Some(detail) = detail {
                    debug!(%taskid, error = detail, "app fault");
                }
                warn!(%taskid, reason, "giving the task up");
            }
            Action::NotifyWork => shared.work.notify_waiters(),
            Action::Write(_) | Action::ReadChain | Action::Reveal { .. } => {}
        }
    }
    Ok(())
}

/// What follows a failed replicate of a task (see [`decide::after_failure`]); a failed
/// attempt may exhaust the task's attempts, which gives it up.
pub(crate) async fn after_failure(
    shared: &Shared,
    taskid: B256,
    fault: Fault,
    error: Option<&str>,
) -> Result<()> {
    let Some(task) = shared.db.task(taskid).await? else {
        return Ok(());
    };
    let (replicates, live_workers) = view_of(shared, &task).await?;
    let view = View {
        task: &task,
        replicates: &replicates,
        chain: None,
        live_workers,
        now: shared.chain_now.load(Ordering::Relaxed),
        unix: unix_now(),
    };
    let actions = decide::after_failure(&view, &Policy::new(&shared.config), fault, error);
    let counted = actions
        .iter()
        .any(|a| matches!(a, Action::Write(Write::CountFailure { .. })));
    let reason = error.unwrap_or("the worker gave no reason");
    match actions.first() {
        None => debug!(%taskid, ?fault, "nothing to do after a failure: {reason}"),
        Some(Action::NotifyWork) => {
            debug!(%taskid, "a deal fault waits for another worker to confirm: {reason}")
        }
        Some(_) if counted => debug!(%taskid, ?fault, "failed attempt: {reason}"),
        Some(_) => {}
    }
    apply(shared, &task, &replicates, actions).await?;
    if counted {
        give_up_exhausted(shared).await?;
    }
    Ok(())
}

/// Marks the replicates whose lease ended as lost, a lost attempt of their task (see
/// [`decide::expire_leases`]), and wakes the workers waiting for work.
async fn expire_leases(shared: &Shared) -> Result<()> {
    let unix = unix_now();
    let lost = decide::expire_leases(&shared.db.leases_ended(unix).await?, unix);
    if !lost.is_empty() {
        shared.db.apply_all(&lost).await?;
        debug!(tasks = lost.len(), "replicates past their lease lost");
        shared.work.notify_waiters();
    }
    Ok(())
}

/// Gives up the tasks that used up `--max-attempts` failed attempts and hold no live
/// replicate, with the last reason.
async fn give_up_exhausted(shared: &Shared) -> Result<()> {
    let max = Policy::new(&shared.config).max_failures();
    for task in shared.db.exhausted_tasks(max).await? {
        let replicates = shared.db.replicates(task.taskid).await?;
        commit(
            shared,
            task.taskid,
            &[decide::exhausted(&task, &replicates)],
        )
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
        let tasks: Vec<(B256, U256)> = chunk
            .iter()
            .map(|t| (t.dealid, U256::from(t.idx as u64)))
            .collect();
        match shared.send(shared.client.initialize_tasks(&tasks)).await {
            Ok(()) => {
                for task in chunk {
                    shared
                        .db
                        .set_task_status(task.taskid, PoolTaskState::Active, None, None)
                        .await?;
                }
            }
            Err(e) => {
                // Some were initialized before (a restart after the transaction): look one by
                // one.
                debug!("initializeArray: {e}; checking each task");
                for task in chunk {
                    let on_chain = shared.client.task(task.taskid).await?;
                    // The pool's state named like the chain's (FAILED stays FAILED here).
                    let status = match TaskStatus::try_from(on_chain.status) {
                        Ok(TaskStatus::Unset) | Err(_) => continue,
                        Ok(TaskStatus::Active) => PoolTaskState::Active,
                        Ok(TaskStatus::Revealing) => PoolTaskState::Revealing,
                        Ok(TaskStatus::Completed) => PoolTaskState::Completed,
                        Ok(TaskStatus::Failed) => PoolTaskState::Failed,
                    };
                    shared
                        .db
                        .set_task_status(task.taskid, status, None, None)
                        .await?;
                }
            }
        }
    }
    shared.work.notify_waiters();
    shared.tee.notify_one();
    Ok(())
}

/// The hub's view of a task.
async fn chain_task(shared: &Shared, taskid: B256) -> Result<ChainTask> {
    let t = shared.client.task(taskid).await?;
    Ok(ChainTask {
        status: TaskStatus::try_from(t.status).ok(),
        consensus: t.consensusValue,
        reveal_deadline: t.revealDeadline,
    })
}

/// Expires the tasks past their deadline, gives up those out of attempts, and decides on the
/// others being driven (see [`decide::decide`]).
async fn drive(shared: &Shared, now: i64) -> Result<()> {
    let expired = decide::expire_tasks(&shared.db.tasks_past_deadline(now).await?, now);
    if !expired.is_empty() {
        shared.db.apply_all(&expired).await?;
        debug!(tasks = expired.len(), "tasks past their deadline expired");
    }
    give_up_exhausted(shared).await?;
    let policy = Policy::new(&shared.config);
    for task in shared.db.tasks_to_drive().await? {
        let (replicates, live_workers) = view_of(shared, &task).await?;
        let chain;
        let mut view = View {
            task: &task,
            replicates: &replicates,
            chain: None,
            live_workers,
            now,
            unix: unix_now(),
        };
        let mut actions = decide::decide(&view, &policy);
        if actions == [Action::ReadChain] {
            chain = chain_task(shared, task.taskid).await?;
            view.chain = Some(&chain);
            actions = decide::decide(&view, &policy);
        }
        apply(shared, &task, &replicates, actions).await?;
    }
    Ok(())
}

/// Reopens a task nobody can reveal; gives it up when the hub refuses for good.
async fn reopen_task(shared: &Shared, taskid: B256) -> Result<()> {
    match shared.send(shared.client.reopen_task(taskid)).await {
        Ok(()) => info!(%taskid, "reopened: nobody can reveal the consensus"),
        Err(Error::Chain(e)) if crate::classify_chain_error(&e).is_deterministic() => {
            let action = decide::after_reopen_refused(&e.to_string());
            commit(shared, taskid, &[action]).await?;
        }
        Err(e) => debug!(%taskid, "reopen: {e}; trying again"),
    }
    Ok(())
}

/// Reveals and finalizes a task that reached consensus with the result of one of its
/// `candidates`, in order. A candidate's location and callback data are used only once its
/// on-chain contribution, its callback data and its archive in the pool's store all match the
/// consensus; one that fails a check, or whose call fails
/// [`REVEAL_ATTEMPTS`](decide::REVEAL_ATTEMPTS) times, is set aside for good. Returns whether
/// the task was finalized.
async fn reveal(
    shared: &Shared,
    task: &TaskRow,
    replicates: &[ReplicateRow],
    candidates: &[Candidate],
) -> Result<bool> {
    let taskid = task.taskid;
    if candidates.is_empty() {
        return Ok(false);
    }
    let Some(deal) = shared.db.deal(task.dealid).await? else {
        return Ok(false);
    };
    for candidate in candidates {
        let r = &replicates[candidate.replicate];
        let digest = candidate.digest;
        let checked = match tokio::time::timeout(
            CHECK_TIMEOUT,
            check_candidate(shared, &deal, taskid, r, digest),
        )
        .await
        {
            Ok(checked) => checked,
            Err(_) => Err(Unusable::Unchecked(format!(
                "the check took more than {}s",
                CHECK_TIMEOUT.as_secs()
            ))),
        };
        let (link, callback) = match checked {
            Ok(found) => found,
            Err(Unusable::Bad(reason)) => {
                let write = Write::SetAside {
                    worker: r.worker,
                    reason,
                };
                write_candidate(shared, taskid, vec![write]).await?;
                continue;
            }
            Err(Unusable::Unchecked(reason)) => {
                // The chain or the store failed: counts as an attempt, so that it ends.
                warn!(%taskid, worker = %r.worker, "cannot check a reveal candidate: {reason}");
                write_candidate(shared, taskid, decide::after_unchecked(r, &reason)).await?;
                continue;
            }
        };
        let results = link.to_bytes();
        let attempt = Write::CountRevealAttempt { worker: r.worker };
        write_candidate(shared, taskid, vec![attempt]).await?;
        shared.metrics.reveal_attempts.inc();
        let sent = shared
            .send(
                shared
                    .client
                    .reveal_and_finalize(taskid, digest, results.clone(), callback),
            )
            .await;
        match sent {
            Ok(()) => {
                info!(%taskid, worker = %r.worker, "finalized");
                shared
                    .db
                    .set_task_status(
                        taskid,
                        PoolTaskState::Completed,
                        None,
                        Some(&String::from_utf8_lossy(&results)),
                    )
                    .await?;
                return Ok(true);
            }
            Err(e) => {
                warn!(%taskid, worker = %r.worker, "revealAndFinalize: {e}");
                let deterministic = matches!(&e, Error::Chain(c)
                    if crate::classify_chain_error(c).is_deterministic());
                if let Some(write) = decide::after_reveal_error(r, deterministic, &e.to_string()) {
                    write_candidate(shared, taskid, vec![write]).await?;
                }
            }
        }
    }
    Ok(false)
}

/// Applies the writes about one reveal candidate in one transaction; logs and counts those
/// that set it aside.
async fn write_candidate(shared: &Shared, taskid: B256, writes: Vec<Write>) -> Result<()> {
    for write in &writes {
        if let Write::SetAside { worker, reason } = write {
            warn!(%taskid, %worker, reason, "reveal candidate set aside");
            shared.metrics.reveal_rejections.inc();
        }
    }
    shared.db.apply(taskid, &writes).await
}

/// Why a reveal candidate is not used.
enum Unusable {
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
    r: &ReplicateRow,
    digest: B256,
) -> std::result::Result<(ResultLink, Bytes), Unusable> {
    let bad = |m: String| Unusable::Bad(m);
    let contribution = shared
        .client
        .contribution(taskid, r.worker)
        .await
        .map_err(|e| Unusable::Unchecked(format!("viewContribution: {e}")))?;
    if !contribution.contributed
        || contribution.result_hash != poco_types::result_hash(taskid, digest)
    {
        return Err(bad(
            "its on-chain contribution does not carry the consensus result".into(),
        ));
    }
    let callback = r.callback_data.clone().unwrap_or_default();
    if !callback.is_empty() && alloy::primitives::keccak256(&callback) != digest {
        return Err(bad(
            "its callback data does not hash to the consensus digest".into(),
        ));
    }
    let has_callback = deal.callback != Address::ZERO;
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
        .map_err(|e| Unusable::Unchecked(format!("the store: {e}")))?
        .ok_or_else(|| bad("its archive is not in the pool's store".into()))?;
    let archive = found
        .bytes()
        .await
        .map_err(|e| Unusable::Unchecked(format!("the store: {e}")))?;
    // A TEE task's digest is the sha256 of the archive its enclave uploaded (which holds the
    // enclave's tee.json); a standard task's is the runtime's digest of the archive's content.
    let tee = deal.tag.is_tee();
    let actual = tokio::task::spawn_blocking(move || -> std::result::Result<B256, String> {
        if tee {
            return Ok(poco_types::sha256_digest(&archive));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        poco_runtime::archive_digest(&archive, dir.path()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| Unusable::Unchecked(e.to_string()))?
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
