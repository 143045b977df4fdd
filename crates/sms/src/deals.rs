//! What the TEE routes read of a task on chain: [`Deals`], the deal's parties and params, the
//! task's state and deadline, the hub's TEE broker and the chain's time. [`PocoClient`] reads a
//! classic deal with `viewDeal`/`viewTask` and a fast deal from its `SchedulerNoticeFast` event
//! and `viewTaskFast`.

use std::{future::Future, pin::Pin};

use alloy_primitives::{Address, B256, U256};
use poco_chain::{FastDealRecord, PocoClient};
use poco_types::TaskStatus;

use crate::Error;

/// A boxed future of a chain read.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The deal of a task as the SMS needs it.
#[derive(Clone, Debug)]
pub struct DealFacts {
    /// The deal id.
    pub dealid: B256,
    /// The deal's tag (bit 0: TEE).
    pub tag: B256,
    /// The app.
    pub app: Address,
    /// The dataset (zero without one).
    pub dataset: Address,
    /// The workerpool's owner: the scheduler whose authorization counts.
    pub workerpool_owner: Address,
    /// The requester: the owner of the requester secrets the params name.
    pub requester: Address,
    /// The beneficiary: the owner of the result encryption key.
    pub beneficiary: Address,
    /// The deal's params (JSON text, as the request order gave them).
    pub params: String,
    /// The index of the deal's first task.
    pub bot_first: U256,
    /// The number of tasks.
    pub bot_size: U256,
    /// The fast deal as its match announced it (`None` for a classic deal).
    pub fast: Option<FastDealRecord>,
}

impl DealFacts {
    /// Whether the deal is TEE-tagged (bit 0 of its tag).
    pub fn is_tee(&self) -> bool {
        poco_types::Tag(self.tag).is_tee()
    }

    /// Whether `idx` is one of the deal's tasks.
    pub fn holds(&self, idx: U256) -> bool {
        idx >= self.bot_first && idx - self.bot_first < self.bot_size
    }
}

/// A task's state on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskState {
    /// Its status (a fast task not pushed yet is [`TaskStatus::Active`]).
    pub status: TaskStatus,
    /// The last moment (unix seconds, exclusive) a worker may contribute or push; 0 for a
    /// classic task not initialized.
    pub deadline: u64,
}

/// Reads deals and tasks on chain.
pub trait Deals: Send + Sync + 'static {
    /// The deal `dealid` (classic or fast); `None` when there is none.
    fn deal(&self, dealid: B256) -> ChainFuture<'_, Option<DealFacts>>;
    /// The state of task `idx` of `deal`.
    fn task_state<'a>(&'a self, deal: &'a DealFacts, idx: U256) -> ChainFuture<'a, TaskState>;
    /// The hub's TEE broker (zero when none is set).
    fn teebroker(&self) -> ChainFuture<'_, Address>;
    /// The chain's time for the next transaction (unix seconds).
    fn now(&self) -> ChainFuture<'_, u64>;
}

impl Deals for PocoClient {
    fn deal(&self, dealid: B256) -> ChainFuture<'_, Option<DealFacts>> {
        Box::pin(async move {
            match self.deal(dealid).await {
                Ok(d) => {
                    return Ok(Some(DealFacts {
                        dealid,
                        tag: d.tag,
                        app: d.app.pointer,
                        dataset: d.dataset.pointer,
                        workerpool_owner: d.workerpool.owner,
                        requester: d.requester,
                        beneficiary: d.beneficiary,
                        params: d.params,
                        bot_first: d.botFirst,
                        bot_size: d.botSize,
                        fast: None,
                    }))
                }
                Err(poco_chain::Error::UnknownDeal(_)) => {}
                Err(e) => return Err(Error::Chain(e)),
            }
            Ok(self.fast_deal(dealid).await?.map(|r| DealFacts {
                dealid,
                tag: r.deal.tag,
                app: r.app,
                dataset: r.dataset,
                workerpool_owner: r.deal.workerpoolOwner,
                requester: r.requester,
                beneficiary: r.beneficiary,
                params: r.params.clone(),
                bot_first: r.deal.botFirst,
                bot_size: r.deal.botSize,
                fast: Some(r),
            }))
        })
    }

    fn task_state<'a>(&'a self, deal: &'a DealFacts, idx: U256) -> ChainFuture<'a, TaskState> {
        Box::pin(async move {
            match &deal.fast {
                Some(record) => {
                    let status = self
                        .fast_task_state(record.deal.clone(), deal.dealid, idx)
                        .await?;
                    Ok(TaskState {
                        status,
                        deadline: record.contribution_deadline().saturating_to(),
                    })
                }
                None => {
                    let task = self.task(poco_types::task_id(deal.dealid, idx)).await?;
                    Ok(TaskState {
                        status: poco_chain::task_status(task.status)?,
                        deadline: task.contributionDeadline.saturating_to(),
                    })
                }
            }
        })
    }

    fn teebroker(&self) -> ChainFuture<'_, Address> {
        Box::pin(async move { Ok(PocoClient::teebroker(self).await?) })
    }

    fn now(&self) -> ChainFuture<'_, u64> {
        Box::pin(async move { Ok(self.chain_time().await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(tag: u8, first: u64, size: u64) -> DealFacts {
        DealFacts {
            dealid: B256::ZERO,
            tag: B256::with_last_byte(tag),
            app: Address::ZERO,
            dataset: Address::ZERO,
            workerpool_owner: Address::ZERO,
            requester: Address::ZERO,
            beneficiary: Address::ZERO,
            params: String::new(),
            bot_first: U256::from(first),
            bot_size: U256::from(size),
            fast: None,
        }
    }

    #[test]
    fn the_tee_bit_and_the_bag() {
        assert!(facts(1, 0, 1).is_tee());
        assert!(facts(3, 0, 1).is_tee());
        assert!(!facts(2, 0, 1).is_tee());
        let d = facts(1, 4, 2);
        assert!(!d.holds(U256::from(3)));
        assert!(d.holds(U256::from(4)) && d.holds(U256::from(5)));
        assert!(!d.holds(U256::from(6)));
    }
}
