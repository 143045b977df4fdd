//! Fast-path deals (trust ≤ 1) read back from the chain.
//!
//! The hub keeps only a commitment to a fast deal (a hash of its settlement fields), so
//! `viewDeal` and `viewTask` know nothing of it. Its fields come from the match's
//! `SchedulerNoticeFast` event (looked up by deal id, an indexed topic), its results from the
//! `ResultPushedFast` events, and each task's state from `viewTaskFast`. With the fields, a
//! task past its final deadline and not pushed is claimed with `claimFast`: the sponsor's price
//! is refunded and the scheduler's stake for the task leaves its frozen balance for the kitty.

use alloy::{
    consensus::Transaction as _,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::{Filter, Log, TransactionReceipt},
    sol_types::{SolCall, SolEvent},
};
use poco_types::{task_id, Category, TaskStatus};

use crate::{
    bindings::hub::IPoco,
    deals::{task_ids, TaskView},
    Error, PocoClient, Result,
};

/// A fast deal as its match announced it.
#[derive(Clone, Debug)]
pub struct FastDealRecord {
    /// The deal id.
    pub dealid: B256,
    /// The workerpool.
    pub workerpool: Address,
    /// The app.
    pub app: Address,
    /// The dataset (zero without one).
    pub dataset: Address,
    /// The category.
    pub category: U256,
    /// Who may read the results, with the requester.
    pub beneficiary: Address,
    /// The deal's params (JSON).
    pub params: String,
    /// The settlement fields, as committed on chain (passed back to `claimFast`).
    pub deal: IPoco::FastDeal,
    /// The requester: the request order's signer as the match transaction gives it, else the
    /// sponsor.
    pub requester: Address,
    /// The trust the request asked for, when the match transaction gives it.
    pub trust: Option<U256>,
    /// The workerpool order's hash (from the match's `OrdersMatched`).
    pub workerpool_hash: Option<B256>,
    /// The match transaction.
    pub tx_hash: Option<B256>,
    /// The match block.
    pub block_number: Option<u64>,
}

impl FastDealRecord {
    /// The ids of the deal's tasks, in order.
    pub fn task_ids(&self) -> Vec<B256> {
        task_ids(self.dealid, self.deal.botFirst, self.deal.botSize)
    }

    /// The index of a task of this deal.
    pub fn index_of(&self, taskid: B256) -> Option<U256> {
        self.task_ids()
            .into_iter()
            .position(|t| t == taskid)
            .map(|i| self.deal.botFirst + U256::from(i))
    }

    /// The last moment a result can be pushed (unix seconds).
    pub fn contribution_deadline(&self) -> U256 {
        U256::from(self.category().contribution_deadline(self.start_time()))
    }

    /// From this moment on, a task not pushed can be claimed (unix seconds).
    pub fn final_deadline(&self) -> U256 {
        U256::from(self.category().final_deadline(self.start_time()))
    }

    fn start_time(&self) -> u64 {
        self.deal.startTime.saturating_to()
    }

    /// The deal's category as far as its deadlines go: the match copied the category's
    /// reference time into the deal (`timeref`); its name is not recorded.
    fn category(&self) -> Category {
        Category {
            name: String::new(),
            description: String::new(),
            work_clock_time_ref: self.deal.timeref.saturating_to(),
        }
    }
}

/// The name of a fast task status (`viewTaskFast`): not settled yet is `ACTIVE`.
pub fn fast_status_name(status: u8) -> &'static str {
    fast_task_status(status).map_or("UNKNOWN", TaskStatus::as_str)
}

/// A fast task status (`viewTaskFast`) as a [`TaskStatus`]: not settled yet is
/// [`TaskStatus::Active`]; any number but 0, 3 and 4 is an error.
pub fn fast_task_status(status: u8) -> Result<TaskStatus> {
    match status {
        0 => Ok(TaskStatus::Active),
        3 => Ok(TaskStatus::Completed),
        4 => Ok(TaskStatus::Failed),
        _ => Err(Error::Rpc(format!(
            "unknown fast task status {status}: expected 0 (ACTIVE), 3 (COMPLETED) or 4 \
             (FAILED); check that the hub address is a poco hub"
        ))),
    }
}

impl PocoClient {
    /// The fast matches (`SchedulerNoticeFast` events) of deal `dealid`, or of every deal.
    async fn notices(&self, dealid: Option<B256>) -> Result<Vec<Log<IPoco::SchedulerNoticeFast>>> {
        let mut filter = Filter::new().from_block(0);
        if let Some(dealid) = dealid {
            filter = filter.topic2(dealid);
        }
        self.hub_events(filter).await
    }

    /// The fast deal `dealid`, from its match event; `None` when no fast match created it.
    pub async fn fast_deal(&self, dealid: B256) -> Result<Option<FastDealRecord>> {
        match self.notices(Some(dealid)).await?.into_iter().next() {
            Some(notice) => self.fast_record(notice).await.map(Some),
            None => Ok(None),
        }
    }

    /// The fast deal holding task `taskid` and the task's index; `dealid` narrows the search to
    /// one deal, else every fast match of the hub is looked at.
    pub async fn fast_deal_of_task(
        &self,
        taskid: B256,
        dealid: Option<B256>,
    ) -> Result<Option<(FastDealRecord, U256)>> {
        for notice in self.notices(dealid).await? {
            let deal = &notice.inner.data.deal;
            let ids = task_ids(notice.inner.data.dealid, deal.botFirst, deal.botSize);
            if let Some(i) = ids.iter().position(|t| *t == taskid) {
                let idx = deal.botFirst + U256::from(i);
                return Ok(Some((self.fast_record(notice).await?, idx)));
            }
        }
        Ok(None)
    }

    async fn fast_record(&self, log: Log<IPoco::SchedulerNoticeFast>) -> Result<FastDealRecord> {
        let e = log.inner.data;
        let mut record = FastDealRecord {
            dealid: e.dealid,
            workerpool: e.workerpool,
            app: e.app,
            dataset: e.dataset,
            category: e.category,
            beneficiary: e.beneficiary,
            params: e.params,
            requester: e.deal.sponsor,
            deal: e.deal,
            trust: None,
            workerpool_hash: None,
            tx_hash: log.transaction_hash,
            block_number: log.block_number,
        };
        let Some(tx_hash) = log.transaction_hash else {
            return Ok(record);
        };
        // The request order is in the match transaction's input (unless a contract matched).
        if let Some(tx) = self
            .provider()
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(Error::rpc)?
        {
            let input = tx.inner.input();
            if let Ok(call) = IPoco::matchOrdersFastCall::abi_decode(input) {
                record.requester = call.requestOrder.requester;
                record.trust = Some(call.requestOrder.trust);
            } else if let Ok(call) = IPoco::sponsorMatchOrdersFastCall::abi_decode(input) {
                record.requester = call.requestOrder.requester;
                record.trust = Some(call.requestOrder.trust);
            }
        }
        if let Some(receipt) = self
            .provider()
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(Error::rpc)?
        {
            record.workerpool_hash = receipt
                .inner
                .logs()
                .iter()
                .filter(|l| l.address() == self.deployment().hub)
                .filter_map(|l| IPoco::OrdersMatched::decode_log(&l.inner).ok())
                .find(|m| m.dealid == record.dealid)
                .map(|m| m.workerpoolHash);
        }
        Ok(record)
    }

    /// Every task of a fast deal, in order: its state (`ACTIVE` until pushed or claimed), its
    /// deadlines, and the pushed result and worker once completed.
    pub async fn fast_tasks(&self, record: &FastDealRecord) -> Result<Vec<TaskView>> {
        let filter = Filter::new()
            .topic1(record.dealid)
            .from_block(record.block_number.unwrap_or(0));
        let pushed: Vec<_> = self
            .hub_events::<IPoco::ResultPushedFast>(filter)
            .await?
            .into_iter()
            .map(|log| log.inner.data)
            .collect();
        let mut views = Vec::new();
        for (i, taskid) in record.task_ids().into_iter().enumerate() {
            let idx = record.deal.botFirst + U256::from(i);
            let status = self
                .fast_task_state(record.deal.clone(), record.dealid, idx)
                .await?;
            let push = pushed.iter().find(|p| p.idx == idx);
            views.push(TaskView {
                taskid,
                idx,
                status,
                contribution_deadline: record.contribution_deadline(),
                final_deadline: record.final_deadline(),
                contributors: push.map(|p| vec![p.worker]).unwrap_or_default(),
                result_digest: push.map(|p| p.resultDigest).unwrap_or_default(),
                results: push
                    .map(|p| String::from_utf8_lossy(&p.results).into_owned())
                    .unwrap_or_default(),
            });
        }
        Ok(views)
    }

    /// The state of one task of a fast deal (`viewTaskFast`): [`TaskStatus::Active`] until
    /// its result is pushed ([`TaskStatus::Completed`]) or it is claimed
    /// ([`TaskStatus::Failed`]).
    pub async fn fast_task_state(
        &self,
        deal: IPoco::FastDeal,
        dealid: B256,
        idx: U256,
    ) -> Result<TaskStatus> {
        let status = self
            .hub()
            .viewTaskFast(deal, dealid, idx)
            .call()
            .await
            .map_err(|e| Error::call("viewTaskFast", e))?;
        fast_task_status(status)
    }

    /// Claims the refund of one task of a fast deal (`claimFast`): the hub refuses it before the
    /// final deadline and for a task already pushed or claimed.
    pub async fn claim_fast(
        &self,
        record: &FastDealRecord,
        idx: U256,
    ) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.claimFast(record.deal.clone(), record.dealid, idx);
        self.send(call.into_transaction_request(), "claimFast")
            .await
    }

    /// Claims every task of a fast deal past its final deadline and neither completed nor
    /// claimed; returns the claimed task ids, or [`Error::NothingToClaim`].
    pub async fn claim_fast_deal(&self, record: &FastDealRecord) -> Result<Vec<B256>> {
        let tasks = self.fast_tasks(record).await?;
        let now = U256::from(self.chain_time().await?);
        let open: Vec<&TaskView> = tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Active)
            .collect();
        if open.is_empty() || record.final_deadline() > now {
            return Err(Error::NothingToClaim {
                dealid: record.dealid,
                next_deadline: (!open.is_empty()).then(|| record.final_deadline()),
                now,
            });
        }
        let mut claimed = Vec::new();
        for task in open {
            match self.claim_fast(record, task.idx).await {
                Ok(_) => claimed.push(task_id(record.dealid, task.idx)),
                // Settled meanwhile (pushed late, or claimed by someone else): nothing to do.
                Err(e)
                    if matches!(
                        e.revert().and_then(crate::Revert::as_poco),
                        Some(IPoco::IPocoErrors::TaskAlreadySettled(_))
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_indexes_follow_the_deal() {
        let deal = IPoco::FastDeal {
            appOwner: Address::ZERO,
            appPrice: U256::ZERO,
            datasetOwner: Address::ZERO,
            datasetPrice: U256::ZERO,
            workerpoolOwner: Address::ZERO,
            workerpoolPrice: U256::ZERO,
            workerReward: U256::ZERO,
            sponsor: Address::ZERO,
            callback: Address::ZERO,
            tag: B256::ZERO,
            startTime: U256::from(1_000),
            timeref: U256::from(300),
            botFirst: U256::from(2),
            botSize: U256::from(3),
            requestHash: B256::ZERO,
            seed: B256::ZERO,
        };
        let record = FastDealRecord {
            dealid: B256::repeat_byte(7),
            workerpool: Address::ZERO,
            app: Address::ZERO,
            dataset: Address::ZERO,
            category: U256::ZERO,
            beneficiary: Address::ZERO,
            params: String::new(),
            deal,
            requester: Address::ZERO,
            trust: None,
            workerpool_hash: None,
            tx_hash: None,
            block_number: None,
        };
        assert_eq!(record.final_deadline(), U256::from(4_000));
        assert_eq!(record.contribution_deadline(), U256::from(3_100));
        let ids = record.task_ids();
        assert_eq!(ids[0], task_id(record.dealid, U256::from(2)));
        assert_eq!(record.index_of(ids[2]), Some(U256::from(4)));
        assert_eq!(record.index_of(B256::ZERO), None);
    }
}
