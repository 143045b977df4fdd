//! The chain side of the scheduler: reads the pool's deals and the tasks' events, initializes
//! tasks, decides the replicas, reveals and finalizes replicated tasks, reopens them when
//! nobody can reveal, gives up tasks whose app fails, and expires the leases of lost workers.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
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
    result_hash, task_id, Order as _, ResultLink, SignedWorkerpoolOrder, WorkerpoolOrder,
};
use tokio::sync::{Mutex, Notify};
use tracing::{debug, info, warn};

use crate::{
    api::{AppRef, DatasetRef},
    db::{Db, DealRow},
    Error, Result, SchedulerConfig,
};

/// Contribution (and push) deadline: start time plus this many reference times.
const CONTRIBUTION_RATIO: i64 = poco_types::CONTRIBUTION_DEADLINE_RATIO as i64;
/// Tasks initialized per transaction.
const INIT_BATCH: usize = 64;
const CURSOR: &str = "cursor";

/// Counters for `/metrics`.
#[derive(Default, Debug)]
pub(crate) struct Metrics {
    pub(crate) assignments: AtomicU64,
    pub(crate) reports: AtomicU64,
    pub(crate) transactions: AtomicU64,
    pub(crate) transaction_errors: AtomicU64,
    pub(crate) deals: AtomicU64,
}

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
    pub(crate) challenges: std::sync::Mutex<HashMap<Address, (String, Instant)>>,
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
        Ok(Self {
            store_url: format!("{url}/store"),
            config,
            client,
            signer,
            db,
            url,
            work: Notify::new(),
            wake: Notify::new(),
            assign_lock: Mutex::new(()),
            chain_now: AtomicI64::new(now),
            challenges: std::sync::Mutex::new(HashMap::new()),
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
        self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
        match self.client.send(tx, what).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.metrics
                    .transaction_errors
                    .fetch_add(1, Ordering::Relaxed);
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
        salt: B256::from(rand::random::<[u8; 32]>()),
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
        let tmp = path.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(&file).unwrap_or_default(),
        )?;
        std::fs::rename(&tmp, path)?;
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
        if let Err(e) = tick(&shared, &mut watcher).await {
            warn!("{e}");
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
        set_if_ours(shared, e.taskid, "REVEALING", None).await?;
        shared.wake.notify_one();
    } else if topic == IPoco::TaskFinalize::SIGNATURE_HASH {
        let e = IPoco::TaskFinalize::decode_log(&log.inner).map_err(decode)?;
        let results = String::from_utf8_lossy(&e.results).into_owned();
        set_if_ours(shared, e.taskid, "COMPLETED", Some(&results)).await?;
    } else if topic == IPoco::ResultPushedFast::SIGNATURE_HASH {
        let e = IPoco::ResultPushedFast::decode_log(&log.inner).map_err(decode)?;
        let results = String::from_utf8_lossy(&e.results).into_owned();
        set_if_ours(
            shared,
            task_id(e.dealid, e.idx),
            "COMPLETED",
            Some(&results),
        )
        .await?;
    } else if topic == IPoco::TaskClaimed::SIGNATURE_HASH {
        let e = IPoco::TaskClaimed::decode_log(&log.inner).map_err(decode)?;
        set_if_ours(shared, e.taskid, "CLAIMED", None).await?;
    } else if topic == IPoco::TaskReopen::SIGNATURE_HASH {
        let e = IPoco::TaskReopen::decode_log(&log.inner).map_err(decode)?;
        let key = e.taskid.to_string();
        if let Some(task) = shared.db.task(&key).await? {
            shared
                .db
                .set_task_status(&key, "ACTIVE", None, None)
                .await?;
            shared
                .db
                .set_replicas_needed(&key, task.replicas_needed + 1)
                .await?;
            shared.work.notify_waiters();
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
    status: &str,
    results: Option<&str>,
) -> Result<()> {
    let key = taskid.to_string();
    if shared.db.task(&key).await?.is_some() {
        debug!(%taskid, status, "task");
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
    };
    let tasks: Vec<(String, i64)> = (first..first + size)
        .map(|idx| (task_id(dealid, U256::from(idx)).to_string(), idx))
        .collect();
    let replicas = replicas_for(trust) as i64;
    let deadline = start + CONTRIBUTION_RATIO * timeref;
    if shared
        .db
        .insert_deal(&row, &tasks, "PENDING", replicas, deadline)
        .await?
    {
        shared.metrics.deals.fetch_add(1, Ordering::Relaxed);
        info!(%dealid, tasks = size, trust, "new deal");
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
    };
    let tasks: Vec<(String, i64)> = (first..first + size)
        .map(|idx| (task_id(e.dealid, U256::from(idx)).to_string(), idx))
        .collect();
    let deadline = start + CONTRIBUTION_RATIO * timeref;
    if shared
        .db
        .insert_deal(&row, &tasks, "ACTIVE", 1, deadline)
        .await?
    {
        shared.metrics.deals.fetch_add(1, Ordering::Relaxed);
        info!(dealid = %e.dealid, tasks = size, "new fast deal");
        shared.work.notify_waiters();
    }
    Ok(())
}

/// Initializes the PENDING tasks of classic deals, in batches.
async fn initialize(shared: &Shared) -> Result<()> {
    let pending = shared.db.tasks_in(&["PENDING"]).await?;
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
                        .set_task_status(&task.taskid, "ACTIVE", None, None)
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
                    if on_chain.status != 0 {
                        let status = poco_chain::task_status_name(on_chain.status);
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
    for task in shared.db.tasks_to_drive().await? {
        let replicates = shared.db.replicates(&task.taskid).await?;
        let taskid: B256 = task.taskid.parse().unwrap_or_default();
        if task.status == "ACTIVE" {
            let faults: Vec<_> = replicates
                .iter()
                .filter(|r| r.state == "failed" && r.app_fault)
                .collect();
            if !faults.is_empty() {
                let others = shared
                    .db
                    .live_workers(unix_now() - shared.config.lease.as_secs() as i64)
                    .await?
                    - replicates.len() as i64;
                if faults.len() as u32 >= shared.config.app_fault_limit || others <= 0 {
                    let reason = faults
                        .last()
                        .and_then(|r| r.error.clone())
                        .unwrap_or_else(|| "the app failed".into());
                    warn!(%taskid, reason, "giving the task up");
                    shared
                        .db
                        .set_task_status(&task.taskid, "FAILED", Some(&reason), None)
                        .await?;
                    continue;
                }
            }
            let live = replicates
                .iter()
                .filter(|r| matches!(r.state.as_str(), "assigned" | "contributed" | "done"))
                .count() as i64;
            let contributed = replicates
                .iter()
                .filter(|r| r.state == "contributed")
                .count() as i64;
            let assigned = replicates.iter().filter(|r| r.state == "assigned").count() as i64;
            if contributed > 0 && assigned == 0 && live >= task.replicas_needed {
                // Every replica voted and there is no consensus: one more.
                let on_chain = shared.client.task(taskid).await?;
                if on_chain.status == 1 {
                    shared
                        .db
                        .set_replicas_needed(&task.taskid, live + 1)
                        .await?;
                    shared.work.notify_waiters();
                } else if on_chain.status == 2 {
                    shared
                        .db
                        .set_task_status(&task.taskid, "REVEALING", None, None)
                        .await?;
                }
            }
        } else {
            let on_chain = shared.client.task(taskid).await?;
            match on_chain.status {
                2 => {
                    let consensus = on_chain.consensusValue;
                    let winner = replicates.iter().find(|r| {
                        r.result_digest
                            .as_deref()
                            .and_then(|d| d.parse::<B256>().ok())
                            .is_some_and(|d| result_hash(taskid, d) == consensus)
                    });
                    if let Some(winner) = winner {
                        let digest: B256 = winner
                            .result_digest
                            .as_deref()
                            .unwrap_or_default()
                            .parse()
                            .unwrap_or_default();
                        let link =
                            ResultLink::new("poco", winner.location.clone().unwrap_or_default());
                        let callback: Bytes = winner
                            .callback_data
                            .as_deref()
                            .and_then(|c| c.parse().ok())
                            .unwrap_or_default();
                        let hub = shared.client.hub();
                        let call = hub.revealAndFinalize(taskid, digest, link.to_bytes(), callback);
                        match shared
                            .send(call.into_transaction_request(), "revealAndFinalize")
                            .await
                        {
                            Ok(()) => {
                                info!(%taskid, "finalized");
                                shared
                                    .db
                                    .set_task_status(
                                        &task.taskid,
                                        "COMPLETED",
                                        None,
                                        Some(&String::from_utf8_lossy(&link.to_bytes())),
                                    )
                                    .await?;
                            }
                            Err(e) => warn!(%taskid, "revealAndFinalize: {e}"),
                        }
                    } else if U256::from(now) >= on_chain.revealDeadline {
                        let hub = shared.client.hub();
                        let call = hub.reopen(taskid);
                        if shared
                            .send(call.into_transaction_request(), "reopen")
                            .await
                            .is_ok()
                        {
                            info!(%taskid, "reopened: nobody can reveal the consensus");
                        }
                    }
                }
                3 => {
                    shared
                        .db
                        .set_task_status(&task.taskid, "COMPLETED", None, None)
                        .await?
                }
                4 => {
                    shared
                        .db
                        .set_task_status(&task.taskid, "CLAIMED", None, None)
                        .await?
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Helper for [`Duration`] configuration in seconds.
pub(crate) fn secs(d: Duration) -> i64 {
    d.as_secs().max(1) as i64
}

#[cfg(test)]
mod tests {
    use super::replicas_for;

    #[test]
    fn replicas_follow_the_hub_consensus_rule() {
        for (trust, replicas) in [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (100, 7)] {
            assert_eq!(replicas_for(trust), replicas, "trust {trust}");
        }
    }
}
