//! What the market knows of the chain, and the watcher that keeps the book true.
//!
//! The watcher reads the hub's and the registries' logs block range by block range (with the
//! configured confirmations) and keeps an index: asset owners, consumed volumes of every
//! matched or closed order hash, presigned order hashes. Publication checks read that index,
//! so they cost no RPC call; the one chain read left, an account's free stake, is made at the
//! block the index has reached and cached until the next one. Until the watcher has caught up
//! with the chain, publications are refused (503) rather than checked against stale state.
//!
//! From the same logs it updates the book: `OrdersMatched` lowers the remaining volume of the
//! four orders (filled at 0) and records the deal; `Closed*Order` cancels; an asset NFT
//! transfer kills the previous owner's orders of that asset; a stake change re-checks the
//! orders of that account and kills those its stake no longer covers.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use poco_chain::{
    bindings::{app::AppRegistry, hub::IPoco},
    LogWatcher,
};
use poco_types::{OrderKind, WORKERPOOL_STAKE_RATIO};
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use crate::{
    api::{iso8601, AnyOrder, CategoryEntry, Deal, DealAsset, Status},
    db::Write,
    feed::Event,
    limits::MAX_DEAL_TASKS_LISTED,
    Error, Result, Shared,
};

/// The chain index (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ChainIndex {
    /// The last block fully read (0: none yet).
    block: AtomicU64,
    /// The watcher has caught up with the chain at least once since the last poll.
    synced: AtomicBool,
    state: Mutex<IndexState>,
    stakes: Mutex<StakeCache>,
}

#[derive(Debug, Default)]
struct IndexState {
    owners: HashMap<Address, (OrderKind, Address)>,
    consumed: HashMap<B256, U256>,
    presigned: HashSet<B256>,
}

#[derive(Debug, Default)]
struct StakeCache {
    block: u64,
    accounts: HashMap<Address, Arc<OnceCell<U256>>>,
}

impl ChainIndex {
    pub(crate) fn load(index: crate::db::Index, block: u64) -> Self {
        let state = IndexState {
            owners: index
                .assets
                .into_iter()
                .map(|(asset, kind, owner)| (asset, (kind, owner)))
                .collect(),
            consumed: index.consumed.into_iter().collect(),
            presigned: index.presigned.into_iter().collect(),
        };
        Self {
            block: AtomicU64::new(block),
            synced: AtomicBool::new(false),
            state: Mutex::new(state),
            stakes: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, IndexState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last block read.
    pub(crate) fn block(&self) -> u64 {
        self.block.load(Ordering::Acquire)
    }

    /// Whether the index is caught up with the chain.
    pub(crate) fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// The owner of an asset of `kind`, if the registry of that kind created it.
    pub(crate) fn owner(&self, kind: OrderKind, asset: Address) -> Option<Address> {
        self.state()
            .owners
            .get(&asset)
            .filter(|(k, _)| *k == kind)
            .map(|(_, owner)| *owner)
    }

    /// Assets owned by `owner`, by kind.
    pub(crate) fn owned(&self, owner: Address) -> Vec<(OrderKind, Address)> {
        let mut out: Vec<_> = self
            .state()
            .owners
            .iter()
            .filter(|(_, (_, o))| *o == owner)
            .map(|(asset, (kind, _))| (*kind, *asset))
            .collect();
        out.sort();
        out
    }

    /// The consumed volume of an order hash.
    pub(crate) fn consumed(&self, hash: &B256) -> U256 {
        self.state().consumed.get(hash).copied().unwrap_or_default()
    }

    /// Whether the hash was presigned on chain by its owner.
    pub(crate) fn presigned(&self, hash: &B256) -> bool {
        self.state().presigned.contains(hash)
    }

    /// An account's free stake at the indexed block (one RPC call per account and block).
    pub(crate) async fn stake(&self, shared: &Shared, account: Address) -> Result<U256> {
        let block = self.block();
        let cell = {
            let mut cache = self.stakes.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.block != block {
                cache.block = block;
                cache.accounts.clear();
            }
            cache.accounts.entry(account).or_default().clone()
        };
        let stake = cell
            .get_or_try_init(|| stake_at(shared, account, block))
            .await?;
        Ok(*stake)
    }
}

/// What an order needs from its signer's stake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StakeNeed {
    /// Nothing (app and dataset orders).
    None,
    /// This much free stake, nRLC.
    Amount(U256),
    /// More than 2^256 − 1 nRLC: no account can ever fund it.
    Unfundable,
}

/// What a publication needs from the signer's stake: workerpool owners
/// [`WORKERPOOL_STAKE_RATIO`] (30) % of price ×
/// remaining, requesters the sum of their max prices × remaining. Checked arithmetic: a sum or
/// product past 2^256 − 1 is [`StakeNeed::Unfundable`], never a wrapped small number.
pub(crate) fn stake_needed(order: &AnyOrder, remaining: u64) -> StakeNeed {
    let remaining = U256::from(remaining);
    let needed = match order {
        AnyOrder::Workerpool(o) => o
            .order
            .workerpoolprice
            .checked_mul(remaining)
            .and_then(|v| v.checked_mul(U256::from(WORKERPOOL_STAKE_RATIO)))
            .map(|v| v.div_ceil(U256::from(100))),
        AnyOrder::Request(o) => o
            .order
            .appmaxprice
            .checked_add(o.order.datasetmaxprice)
            .and_then(|v| v.checked_add(o.order.workerpoolmaxprice))
            .and_then(|v| v.checked_mul(remaining)),
        _ => return StakeNeed::None,
    };
    needed.map_or(StakeNeed::Unfundable, StakeNeed::Amount)
}

/// The logs the watcher reads.
fn filter(shared: &Shared) -> Filter {
    let d = shared.client.deployment();
    Filter::new().address(vec![
        d.hub,
        d.app_registry,
        d.dataset_registry,
        d.workerpool_registry,
    ])
}

/// Runs the watcher until the process ends; errors are logged and the range read again.
pub(crate) async fn watch(shared: Arc<Shared>) {
    let mut watcher = LogWatcher::new(
        shared.client.provider().clone(),
        filter(&shared),
        shared.index.block() + 1,
        shared.config.confirmations,
    );
    if shared.index.block() == 0 {
        watcher.set_cursor(shared.config.start_block);
    }
    info!(from_block = watcher.cursor(), "chain watcher started");
    loop {
        match watcher.poll().await {
            Ok(Some(batch)) => {
                let from = batch.from_block;
                if let Err(e) = apply_batch(&shared, &batch.logs, batch.to_block).await {
                    warn!("cannot apply blocks {from}..={}: {e}", batch.to_block);
                    watcher.set_cursor(from);
                    tokio::time::sleep(shared.config.poll_interval).await;
                }
                continue;
            }
            Ok(None) => {
                if !shared.index.synced.swap(true, Ordering::AcqRel) {
                    info!(
                        block = shared.index.block(),
                        "order book in sync with the chain"
                    );
                }
            }
            Err(e) => warn!("cannot read the chain: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = shared.poke.notified() => {}
        }
    }
}

/// Facts gathered from one batch of logs.
#[derive(Default)]
struct Batch {
    matched: Vec<(IPoco::OrdersMatched, Log)>,
    fast: HashMap<B256, IPoco::SchedulerNoticeFast>,
    sponsors: HashMap<B256, Address>,
    closed: Vec<B256>,
    presigned: Vec<B256>,
    transfers: Vec<(Address, OrderKind, Address, Address)>,
    stake_changed: HashSet<Address>,
    categories: Vec<IPoco::CreateCategory>,
}

fn collect(shared: &Shared, logs: &[Log]) -> Batch {
    let d = shared.client.deployment();
    let mut b = Batch::default();
    for log in logs {
        let address = log.address();
        if address != d.hub {
            let kind = if address == d.app_registry {
                OrderKind::App
            } else if address == d.dataset_registry {
                OrderKind::Dataset
            } else {
                OrderKind::Workerpool
            };
            if let Ok(t) = log.log_decode::<AppRegistry::Transfer>() {
                let t = t.inner.data;
                let asset = Address::from_word(B256::from(t.tokenId));
                b.transfers.push((asset, kind, t.from, t.to));
            }
            continue;
        }
        let Some(topic) = log.topic0().copied() else {
            continue;
        };
        macro_rules! decode {
            ($event:ty) => {
                match log.log_decode::<$event>() {
                    Ok(decoded) => decoded.inner.data,
                    Err(e) => {
                        warn!("undecodable hub log: {e}");
                        continue;
                    }
                }
            };
        }
        match topic {
            IPoco::OrdersMatched::SIGNATURE_HASH => {
                b.matched.push((decode!(IPoco::OrdersMatched), log.clone()))
            }
            IPoco::SchedulerNoticeFast::SIGNATURE_HASH => {
                let e = decode!(IPoco::SchedulerNoticeFast);
                b.stake_changed.insert(e.deal.workerpoolOwner);
                b.fast.insert(e.dealid, e);
            }
            IPoco::DealSponsored::SIGNATURE_HASH => {
                let e = decode!(IPoco::DealSponsored);
                b.stake_changed.insert(e.sponsor);
                b.sponsors.insert(e.dealId, e.sponsor);
            }
            IPoco::ClosedAppOrder::SIGNATURE_HASH => {
                b.closed.push(decode!(IPoco::ClosedAppOrder).appHash)
            }
            IPoco::ClosedDatasetOrder::SIGNATURE_HASH => b
                .closed
                .push(decode!(IPoco::ClosedDatasetOrder).datasetHash),
            IPoco::ClosedWorkerpoolOrder::SIGNATURE_HASH => b
                .closed
                .push(decode!(IPoco::ClosedWorkerpoolOrder).workerpoolHash),
            IPoco::ClosedRequestOrder::SIGNATURE_HASH => b
                .closed
                .push(decode!(IPoco::ClosedRequestOrder).requestHash),
            IPoco::SignedAppOrder::SIGNATURE_HASH => {
                b.presigned.push(decode!(IPoco::SignedAppOrder).appHash)
            }
            IPoco::SignedDatasetOrder::SIGNATURE_HASH => b
                .presigned
                .push(decode!(IPoco::SignedDatasetOrder).datasetHash),
            IPoco::SignedWorkerpoolOrder::SIGNATURE_HASH => b
                .presigned
                .push(decode!(IPoco::SignedWorkerpoolOrder).workerpoolHash),
            IPoco::SignedRequestOrder::SIGNATURE_HASH => b
                .presigned
                .push(decode!(IPoco::SignedRequestOrder).requestHash),
            IPoco::CreateCategory::SIGNATURE_HASH => {
                b.categories.push(decode!(IPoco::CreateCategory))
            }
            IPoco::Transfer::SIGNATURE_HASH => {
                let e = decode!(IPoco::Transfer);
                b.stake_changed.extend([e.from, e.to]);
            }
            IPoco::Lock::SIGNATURE_HASH => {
                b.stake_changed.insert(decode!(IPoco::Lock).owner);
            }
            IPoco::Unlock::SIGNATURE_HASH => {
                b.stake_changed.insert(decode!(IPoco::Unlock).owner);
            }
            IPoco::Seize::SIGNATURE_HASH => {
                b.stake_changed.insert(decode!(IPoco::Seize).owner);
            }
            IPoco::Reward::SIGNATURE_HASH => {
                b.stake_changed.insert(decode!(IPoco::Reward).owner);
            }
            _ => {}
        }
    }
    b.stake_changed.remove(&Address::ZERO);
    b
}

/// What a batch does to an open order of the book.
enum BookChange {
    /// New remaining volume (0: filled).
    Remaining(u64),
    /// Leaves the book with this status and reason.
    Leaves(Status, String),
}

/// Applies one batch of logs ending at block `to_block`: index, book, deals, database, feed.
///
/// Three phases, so that a failure leaves nothing half-done and the batch can be read again:
/// everything is first worked out without changing anything (chain reads included), then
/// written to the database in one commit, and only then applied in memory.
async fn apply_batch(shared: &Shared, logs: &[Log], to_block: u64) -> Result<()> {
    let b = collect(shared, logs);

    // 1. Plan. Deals read the book's request orders before their volume changes.
    let mut deals = Vec::new();
    for (matched, log) in &b.matched {
        deals.push(build_deal(shared, &b, matched, log).await?);
    }
    let mut consumed: HashMap<B256, U256> = HashMap::new();
    for hash in &b.closed {
        consumed.insert(*hash, U256::MAX);
    }
    for (m, _) in &b.matched {
        for hash in [m.appHash, m.datasetHash, m.workerpoolHash, m.requestHash] {
            if hash.is_zero() {
                continue;
            }
            let before = consumed
                .get(&hash)
                .copied()
                .unwrap_or_else(|| shared.index.consumed(&hash));
            consumed.insert(hash, before.saturating_add(m.volume));
        }
    }
    let mut changes: HashMap<B256, BookChange> = HashMap::new();
    let mut stake_checks: Vec<(B256, Address, U256)> = Vec::new();
    {
        let book = shared.book();
        for (hash, total) in &consumed {
            if let Some(s) = book.get(hash) {
                let remaining: u64 = s.order.volume().saturating_sub(*total).saturating_to();
                changes.insert(*hash, BookChange::Remaining(remaining));
            }
        }
        for hash in &b.closed {
            if book.get(hash).is_some() {
                changes.insert(
                    *hash,
                    BookChange::Leaves(Status::Canceled, "closed on chain by its owner".into()),
                );
            }
        }
        for (asset, kind, from, to) in &b.transfers {
            if from.is_zero() {
                continue;
            }
            for s in book.indexed(crate::book::IndexKey::Asset(*asset)) {
                if s.order.kind() == *kind && s.signer != *to {
                    changes.insert(
                        s.hash,
                        BookChange::Leaves(
                            Status::Dead,
                            format!("{asset} changed owner from {from} to {to}"),
                        ),
                    );
                }
            }
        }
        let mut changed = b.stake_changed.clone();
        for deal in &deals {
            changed.extend([deal.requester, deal.workerpool.owner]);
        }
        for s in book.all() {
            if !changed.contains(&s.signer)
                || matches!(changes.get(&s.hash), Some(BookChange::Leaves(..)))
            {
                continue;
            }
            let remaining = match changes.get(&s.hash) {
                Some(BookChange::Remaining(r)) => *r,
                _ => s.remaining,
            };
            match stake_needed(&s.order, remaining) {
                StakeNeed::Amount(needed) if !needed.is_zero() => {
                    stake_checks.push((s.hash, s.signer, needed));
                }
                StakeNeed::Unfundable => {
                    changes.insert(
                        s.hash,
                        BookChange::Leaves(
                            Status::Dead,
                            "the order needs more stake than 2^256 - 1 nRLC".into(),
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    // Stakes at the batch's last block, one read per account.
    let mut stakes: HashMap<Address, U256> = HashMap::new();
    for (hash, signer, needed) in stake_checks {
        let stake = match stakes.get(&signer) {
            Some(stake) => *stake,
            None => {
                let stake = stake_at(shared, signer, to_block).await?;
                stakes.insert(signer, stake);
                stake
            }
        };
        if stake < needed {
            changes.insert(
                hash,
                BookChange::Leaves(
                    Status::Dead,
                    format!(
                        "{signer} has {} free stake, the order needs {}",
                        poco_types::format_rlc(stake),
                        poco_types::format_rlc(needed)
                    ),
                ),
            );
        }
    }

    // 2. Commit.
    let mut writes = Vec::new();
    for (asset, kind, _, to) in &b.transfers {
        writes.push(Write::Asset(*asset, *kind, *to));
    }
    for hash in &b.presigned {
        writes.push(Write::Presigned(*hash));
    }
    for (hash, total) in &consumed {
        writes.push(Write::Consumed(*hash, *total));
    }
    {
        let book = shared.book();
        for (hash, change) in &changes {
            let Some(s) = book.get(hash) else { continue };
            writes.push(match change {
                BookChange::Remaining(0) => Write::OrderState {
                    hash: *hash,
                    remaining: 0,
                    status: Status::Filled,
                },
                BookChange::Remaining(r) => Write::OrderState {
                    hash: *hash,
                    remaining: *r,
                    status: Status::Open,
                },
                BookChange::Leaves(status, _) => Write::OrderState {
                    hash: *hash,
                    // A closed order has nothing left; a dead one keeps what it had.
                    remaining: if *status == Status::Canceled {
                        0
                    } else {
                        s.remaining
                    },
                    status: *status,
                },
            });
        }
    }
    for (position, deal) in deals.iter().enumerate() {
        writes.push(Write::Deal(Box::new(deal.clone()), position as u64));
    }
    writes.push(Write::Meta("last_block", to_block.to_string()));
    shared.db.write(writes).await?;

    // 3. Apply in memory, then tell the feed.
    {
        let mut state = shared.index.state();
        for (asset, kind, _, to) in &b.transfers {
            state.owners.insert(*asset, (*kind, *to));
        }
        state.presigned.extend(b.presigned.iter().copied());
        state
            .consumed
            .extend(consumed.iter().map(|(h, c)| (*h, *c)));
    }
    let mut events = Vec::new();
    let mut late = Vec::new();
    {
        let mut book = shared.book_mut();
        // Orders published while this batch was planned: their remaining volume was read
        // before the batch's matches reached the index.
        for (hash, total) in &consumed {
            if changes.contains_key(hash) {
                continue;
            }
            if let Some(s) = book.get(hash) {
                let remaining: u64 = s.order.volume().saturating_sub(*total).saturating_to();
                if remaining != s.remaining {
                    changes.insert(*hash, BookChange::Remaining(remaining));
                    late.push(Write::OrderState {
                        hash: *hash,
                        remaining,
                        status: if remaining == 0 {
                            Status::Filled
                        } else {
                            Status::Open
                        },
                    });
                }
            }
        }
        for (hash, change) in changes {
            let Some(kind) = book.get(&hash).map(|s| s.order.kind()) else {
                continue;
            };
            match change {
                BookChange::Remaining(0) => {
                    let mut s = book.remove(&hash).expect("present");
                    s.remaining = 0;
                    s.status = Status::Filled;
                    events.push(Event::filled(kind, &s));
                }
                BookChange::Remaining(r) => {
                    book.set_remaining(&hash, r);
                    events.push(Event::filled(kind, book.get(&hash).expect("present")));
                }
                BookChange::Leaves(status, reason) => {
                    book.remove(&hash);
                    events.push(Event::unpublished(kind, hash, status, &reason));
                }
            }
        }
    }
    for c in &b.categories {
        let mut categories = shared.categories_mut();
        let catid = c.catid.saturating_to();
        if !categories.iter().any(|e| e.catid == catid) {
            categories.push(CategoryEntry {
                catid,
                name: c.name.clone(),
                description: c.description.clone(),
                work_clock_time_ref: c.workClockTimeRef.saturating_to(),
                chain_id: shared.chain_id,
            });
        }
    }
    shared.index.block.store(to_block, Ordering::Release);
    if !late.is_empty() {
        if let Err(e) = shared.db.write(late).await {
            warn!("cannot record the remaining volume of orders published meanwhile: {e}");
        }
    }
    events.extend(deals.iter().map(Event::deal));
    if !events.is_empty() {
        debug!(
            events = events.len(),
            to_block, "book updated from the chain"
        );
    }
    for event in events {
        shared.feed.send(event);
    }
    Ok(())
}

/// An account's free stake at `block`, read from the hub (the watcher's re-checks read it
/// directly, publications through [`ChainIndex::stake`]'s cache).
async fn stake_at(shared: &Shared, account: Address, block: u64) -> Result<U256> {
    let (stake, _) = shared
        .client
        .account_at(account, block)
        .await
        .map_err(|source| Error::chain_call(format!("viewAccount({account})"), source))?;
    Ok(stake)
}

/// The deal of an `OrdersMatched` log.
async fn build_deal(
    shared: &Shared,
    b: &Batch,
    m: &IPoco::OrdersMatched,
    log: &Log,
) -> Result<Deal> {
    let block_number = log.block_number.unwrap_or_default();
    let timestamp = match log.block_timestamp {
        Some(t) => t,
        None => shared
            .client
            .block_timestamp(block_number)
            .await
            .map_err(|source| Error::chain_call(format!("block {block_number}"), source))?
            .unwrap_or_default(),
    };
    let request = {
        let book = shared.book();
        book.get(&m.requestHash).and_then(|s| match &s.order {
            AnyOrder::Request(r) => Some(r.order.clone()),
            _ => None,
        })
    };
    let volume: u64 = m.volume.saturating_to();
    let mut deal = Deal {
        dealid: m.dealid,
        chain_id: shared.chain_id,
        app: DealAsset::default(),
        dataset: DealAsset::default(),
        workerpool: DealAsset::default(),
        app_hash: m.appHash,
        dataset_hash: m.datasetHash,
        workerpool_hash: m.workerpoolHash,
        request_hash: m.requestHash,
        requester: Address::ZERO,
        beneficiary: Address::ZERO,
        callback: Address::ZERO,
        category: 0,
        tag: B256::ZERO,
        trust: 0,
        volume,
        bot_first: 0,
        bot_size: volume,
        params: String::new(),
        fast: false,
        start_time: 0,
        block_number,
        block_timestamp: iso8601(timestamp as i64 * 1000),
        transaction_hash: log.transaction_hash.unwrap_or_default(),
        tasks: Vec::new(),
    };
    if let Some(fast) = b.fast.get(&m.dealid) {
        let f = &fast.deal;
        deal.fast = true;
        deal.app = DealAsset {
            pointer: fast.app,
            owner: f.appOwner,
            price: f.appPrice,
        };
        deal.dataset = DealAsset {
            pointer: fast.dataset,
            owner: f.datasetOwner,
            price: f.datasetPrice,
        };
        deal.workerpool = DealAsset {
            pointer: fast.workerpool,
            owner: f.workerpoolOwner,
            price: f.workerpoolPrice,
        };
        deal.requester = request.as_ref().map_or_else(
            || b.sponsors.get(&m.dealid).copied().unwrap_or(f.sponsor),
            |r| r.requester,
        );
        deal.beneficiary = fast.beneficiary;
        deal.callback = f.callback;
        deal.category = fast.category.saturating_to();
        deal.tag = f.tag;
        deal.trust = request.as_ref().map_or(1, |r| r.trust.saturating_to());
        deal.bot_first = f.botFirst.saturating_to();
        deal.bot_size = f.botSize.saturating_to();
        deal.params = fast.params.clone();
        deal.start_time = f.startTime.saturating_to();
    } else {
        let d = shared
            .client
            .deal(m.dealid)
            .await
            .map_err(|source| Error::chain_call(format!("viewDeal({})", m.dealid), source))?;
        let side = |r: &poco_chain::bindings::hub::IexecLibCore_v5::Resource| DealAsset {
            pointer: r.pointer,
            owner: r.owner,
            price: r.price,
        };
        deal.app = side(&d.app);
        deal.dataset = side(&d.dataset);
        deal.workerpool = side(&d.workerpool);
        deal.requester = d.requester;
        deal.beneficiary = d.beneficiary;
        deal.callback = d.callback;
        deal.category = d.category.saturating_to();
        deal.tag = d.tag;
        deal.trust = d.trust.saturating_to();
        deal.bot_first = d.botFirst.saturating_to();
        deal.bot_size = d.botSize.saturating_to();
        deal.params = d.params;
        deal.start_time = d.startTime.saturating_to();
    }
    // Bounded: the volume is the matcher's choice, and costs nothing at price 0.
    deal.tasks = poco_chain::task_ids(
        m.dealid,
        U256::from(deal.bot_first),
        m.volume.min(U256::from(MAX_DEAL_TASKS_LISTED)),
    );
    Ok(deal)
}

#[cfg(test)]
mod tests {
    use poco_types::{RequestOrder, SignedOrder, WorkerpoolOrder};

    use super::*;

    fn request(app: U256, dataset: U256, pool: U256) -> AnyOrder {
        AnyOrder::Request(SignedOrder {
            order: RequestOrder {
                appmaxprice: app,
                datasetmaxprice: dataset,
                workerpoolmaxprice: pool,
                ..Default::default()
            },
            sign: Default::default(),
        })
    }

    fn pool(price: U256) -> AnyOrder {
        AnyOrder::Workerpool(SignedOrder {
            order: WorkerpoolOrder {
                workerpoolprice: price,
                ..Default::default()
            },
            sign: Default::default(),
        })
    }

    #[test]
    fn m5_stake_arithmetic_never_wraps() {
        let one = U256::from(1);
        // The review's two cases: both wrapped to a need of 0.
        assert_eq!(
            stake_needed(&request(U256::MAX, U256::ZERO, one), 1),
            StakeNeed::Unfundable
        );
        assert_eq!(stake_needed(&pool(one << 255), 2), StakeNeed::Unfundable);
        // The product alone overflowing.
        assert_eq!(
            stake_needed(&request(U256::MAX / U256::from(2), U256::ZERO, one), 3),
            StakeNeed::Unfundable
        );
        // Ordinary needs.
        assert_eq!(
            stake_needed(&request(U256::from(1), U256::from(2), U256::from(3)), 10),
            StakeNeed::Amount(U256::from(60))
        );
        assert_eq!(
            stake_needed(&pool(U256::from(10)), 1),
            StakeNeed::Amount(U256::from(3))
        );
        assert_eq!(
            stake_needed(&pool(U256::from(1)), 1),
            StakeNeed::Amount(U256::from(1))
        );
    }
}
