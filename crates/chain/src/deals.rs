//! Orders and deals through a [`PocoClient`]: matching, cancelling, reading deals and tasks,
//! claiming refunds.

use alloy::{
    eips::BlockId,
    primitives::{Address, Bytes, B256, U256},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use poco_types::{
    task_id, Category, OrderOperation, SignedAppOrder, SignedDatasetOrder, SignedRequestOrder,
    SignedWorkerpoolOrder, TaskStatus,
};
use serde::Serialize;

use crate::{
    bindings::hub::{IPoco, IexecLibCore_v5 as core},
    convert::{no_dataset, AnySignedOrder},
    Error, PocoClient, Result,
};

/// The deal a match created.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedDeal {
    /// The deal id.
    pub dealid: B256,
    /// The number of tasks.
    pub volume: U256,
    /// The index of the first task.
    pub first_task: U256,
    /// The task ids, in order.
    pub tasks: Vec<B256>,
    /// The matching transaction.
    pub tx_hash: B256,
    /// Gas used by the match.
    pub gas_used: u64,
}

/// A match for another account to sign and send ([`PocoClient::prepare_match`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchTransaction {
    /// The hub.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
    /// Whether it is the fast path (`matchOrdersFast`, trust ≤ 1).
    pub fast: bool,
}

/// A task's state as the hub holds it, with its id and deadlines.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// The task id.
    pub taskid: B256,
    /// The index of the task in its deal.
    pub idx: U256,
    /// `UNSET` (not initialized), `ACTIVE`, `REVEALING`, `COMPLETED`, `FAILED`.
    pub status: TaskStatus,
    /// The contribution deadline (unix seconds; 0 until initialized).
    pub contribution_deadline: U256,
    /// The final deadline (unix seconds): after it, the requester can claim a refund.
    pub final_deadline: U256,
    /// The workers that contributed.
    pub contributors: Vec<Address>,
    /// The result digest (zero until completed).
    pub result_digest: B256,
    /// The result link as pushed on finalize (UTF-8 JSON in poco and iExec).
    pub results: String,
}

/// The name of a task status number from the hub (`UNKNOWN` for a number it does not
/// define); see [`poco_types::TaskStatus`].
pub fn task_status_name(status: u8) -> &'static str {
    TaskStatus::name_of(status)
}

/// A task status number from the hub as a [`TaskStatus`]; a number the hub does not define
/// is an error (the address is not a poco hub).
pub fn task_status(status: u8) -> Result<TaskStatus> {
    TaskStatus::try_from(status)
        .map_err(|e| Error::Rpc(format!("{e}; check that the hub address is a poco hub")))
}

impl PocoClient {
    /// Matches four orders (`dataset` is `None` for an app without a dataset), from the
    /// sender's account, and returns the deal.
    pub async fn match_orders(
        &self,
        app: &SignedAppOrder,
        dataset: Option<&SignedDatasetOrder>,
        workerpool: &SignedWorkerpoolOrder,
        request: &SignedRequestOrder,
    ) -> Result<MatchedDeal> {
        let hub = self.hub();
        let dataset = dataset.map(Into::into).unwrap_or_else(no_dataset);
        let call = hub.matchOrders(app.into(), dataset, workerpool.into(), request.into());
        let receipt = self
            .send(call.into_transaction_request(), "matchOrders")
            .await?;
        let matched = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == self.deployment().hub)
            .find_map(|log| IPoco::OrdersMatched::decode_log(&log.inner).ok())
            .ok_or_else(|| Error::Rpc("the match transaction emitted no OrdersMatched".into()))?;
        let deal = self.deal(matched.dealid).await?;
        Ok(MatchedDeal {
            dealid: matched.dealid,
            volume: matched.volume,
            first_task: deal.botFirst,
            tasks: task_ids(matched.dealid, deal.botFirst, matched.volume),
            tx_hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
        })
    }

    /// Matches four orders on the fast path (trust ≤ 1, one transaction per task to settle),
    /// from the sender's account; returns the deal with the fast deal's settlement fields.
    pub async fn match_orders_fast(
        &self,
        app: &SignedAppOrder,
        dataset: Option<&SignedDatasetOrder>,
        workerpool: &SignedWorkerpoolOrder,
        request: &SignedRequestOrder,
    ) -> Result<(MatchedDeal, IPoco::FastDeal)> {
        let hub = self.hub();
        let dataset = dataset.map(Into::into).unwrap_or_else(no_dataset);
        let call = hub.matchOrdersFast(app.into(), dataset, workerpool.into(), request.into());
        let receipt = self
            .send(call.into_transaction_request(), "matchOrdersFast")
            .await?;
        let notice = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == self.deployment().hub)
            .find_map(|log| IPoco::SchedulerNoticeFast::decode_log(&log.inner).ok())
            .ok_or_else(|| {
                Error::Rpc("the match transaction emitted no SchedulerNoticeFast".into())
            })?;
        let deal = notice.data.deal;
        Ok((
            MatchedDeal {
                dealid: notice.data.dealid,
                volume: deal.botSize,
                first_task: deal.botFirst,
                tasks: task_ids(notice.data.dealid, deal.botFirst, deal.botSize),
                tx_hash: receipt.transaction_hash,
                gas_used: receipt.gas_used,
            },
            deal,
        ))
    }

    /// The result pushed on the fast path for a task: its deal, index, digest and result link
    /// (`ResultPushedFast` logs; `dealid` narrows the search to one deal).
    pub async fn fast_result(
        &self,
        taskid: B256,
        dealid: Option<B256>,
    ) -> Result<Option<(B256, U256, B256, String)>> {
        let mut filter = alloy::rpc::types::Filter::new().from_block(0);
        if let Some(dealid) = dealid {
            filter = filter.topic1(dealid);
        }
        let pushed = self
            .hub_events::<IPoco::ResultPushedFast>(filter)
            .await?
            .into_iter()
            .map(|log| log.inner.data)
            .find(|e| task_id(e.dealid, e.idx) == taskid);
        Ok(pushed.map(|e| {
            (
                e.dealid,
                e.idx,
                e.resultDigest,
                String::from_utf8_lossy(&e.results).into_owned(),
            )
        }))
    }

    /// The deal that request `request_hash` matched since block `from`, from the hub's logs
    /// (`SchedulerNoticeFast` of `workerpool` on the fast path, else `OrdersMatched`); `None`
    /// when no match of it was mined. A caller whose match transaction went astray looks here
    /// before sending it again, so a request is never paid twice.
    pub async fn find_match(
        &self,
        fast: bool,
        workerpool: Address,
        request_hash: B256,
        from: u64,
    ) -> Result<Option<MatchedDeal>> {
        let filter = alloy::rpc::types::Filter::new().from_block(from);
        if fast {
            let filter = filter.topic1(workerpool.into_word());
            let notices = self
                .hub_events::<IPoco::SchedulerNoticeFast>(filter)
                .await?;
            return Ok(notices
                .into_iter()
                .find(|log| log.inner.data.deal.requestHash == request_hash)
                .map(|log| {
                    let e = &log.inner.data;
                    MatchedDeal {
                        dealid: e.dealid,
                        volume: e.deal.botSize,
                        first_task: e.deal.botFirst,
                        tasks: task_ids(e.dealid, e.deal.botFirst, e.deal.botSize),
                        tx_hash: log.transaction_hash.unwrap_or_default(),
                        gas_used: 0,
                    }
                }));
        }
        let matches = self.hub_events::<IPoco::OrdersMatched>(filter).await?;
        let Some(log) = matches
            .into_iter()
            .find(|log| log.inner.data.requestHash == request_hash)
        else {
            return Ok(None);
        };
        let e = &log.inner.data;
        let deal = self.deal(e.dealid).await?;
        Ok(Some(MatchedDeal {
            dealid: e.dealid,
            volume: e.volume,
            first_task: deal.botFirst,
            tasks: task_ids(e.dealid, deal.botFirst, e.volume),
            tx_hash: log.transaction_hash.unwrap_or_default(),
            gas_used: 0,
        }))
    }

    /// The chain's time for the next transaction (unix seconds): the pending block's timestamp
    /// when the node gives one (anvil does: on an automining devnet the latest block may be
    /// old), else the latest block's.
    pub async fn chain_time(&self) -> Result<u64> {
        use alloy::{eips::BlockNumberOrTag, providers::Provider};
        let latest = self.now().await?;
        let pending = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Pending)
            .await
            .ok()
            .flatten()
            .map(|b| b.header.timestamp)
            .unwrap_or_default();
        Ok(latest.max(pending))
    }

    /// A classic deal as the hub holds it; fails when the hub has no such deal.
    pub async fn deal(&self, dealid: B256) -> Result<core::Deal> {
        let deal = self
            .hub()
            .viewDeal(dealid)
            .call()
            .await
            .map_err(|e| Error::call("viewDeal", e))?;
        if deal.requester == Address::ZERO {
            return Err(Error::UnknownDeal(dealid));
        }
        Ok(deal)
    }

    /// A task: its state, or `UNSET` with the deadlines it will have when it is not initialized
    /// yet (`deal` and `idx` name it then).
    pub async fn task(&self, taskid: B256) -> Result<core::Task> {
        self.hub()
            .viewTask(taskid)
            .call()
            .await
            .map_err(|e| Error::call("viewTask", e))
    }

    /// Every task of a deal, in order.
    pub async fn deal_tasks(&self, dealid: B256, deal: &core::Deal) -> Result<Vec<TaskView>> {
        let final_deadline = self.uninitialized_final_deadline(deal).await?;
        let mut views = Vec::new();
        for (i, taskid) in task_ids(dealid, deal.botFirst, deal.botSize)
            .into_iter()
            .enumerate()
        {
            let task = self.task(taskid).await?;
            let initialized = task.status != 0;
            views.push(TaskView {
                taskid,
                idx: deal.botFirst + U256::from(i),
                status: task_status(task.status)?,
                contribution_deadline: task.contributionDeadline,
                final_deadline: if initialized {
                    task.finalDeadline
                } else {
                    final_deadline
                },
                contributors: task.contributors,
                result_digest: task.resultDigest,
                results: String::from_utf8_lossy(&task.results).into_owned(),
            });
        }
        Ok(views)
    }

    /// The final deadline of the deal's tasks that are not initialized: its category's
    /// [`Category::final_deadline`] from the deal's start time.
    pub async fn uninitialized_final_deadline(&self, deal: &core::Deal) -> Result<U256> {
        let category = self.category(deal.category).await?;
        Ok(U256::from(
            category.final_deadline(deal.startTime.saturating_to()),
        ))
    }

    /// Claims the refund of every task of the deal that is past its final deadline and not
    /// completed (initializing those nobody initialized; a fast deal's with `claimFast`).
    /// Returns the claimed task ids; fails when there is nothing to claim yet.
    pub async fn claim_deal(&self, dealid: B256) -> Result<Vec<B256>> {
        let deal = match self.deal(dealid).await {
            Ok(deal) => deal,
            Err(Error::UnknownDeal(_)) => match self.fast_deal(dealid).await? {
                Some(record) => return self.claim_fast_deal(&record).await,
                None => return Err(Error::UnknownDeal(dealid)),
            },
            Err(e) => return Err(e),
        };
        let tasks = self.deal_tasks(dealid, &deal).await?;
        let now = U256::from(self.chain_time().await?);
        let mut to_initialize = Vec::new();
        let mut to_claim = Vec::new();
        let mut earliest: Option<U256> = None;
        for task in &tasks {
            if task.status.is_final() {
                continue;
            }
            if task.final_deadline > now {
                earliest =
                    Some(earliest.map_or(task.final_deadline, |e| e.min(task.final_deadline)));
                continue;
            }
            if task.status == TaskStatus::Unset {
                to_initialize.push(task.idx);
            } else {
                to_claim.push(task.taskid);
            }
        }
        if to_initialize.is_empty() && to_claim.is_empty() {
            return Err(Error::NothingToClaim {
                dealid,
                next_deadline: earliest,
                now,
            });
        }
        let mut claimed = Vec::new();
        let hub = self.hub();
        if !to_initialize.is_empty() {
            let call = hub
                .initializeAndClaimArray(vec![dealid; to_initialize.len()], to_initialize.clone());
            self.send(call.into_transaction_request(), "initializeAndClaimArray")
                .await?;
            claimed.extend(to_initialize.iter().map(|idx| task_id(dealid, *idx)));
        }
        if !to_claim.is_empty() {
            let call = hub.claimArray(to_claim.clone());
            self.send(call.into_transaction_request(), "claimArray")
                .await?;
            claimed.extend(to_claim);
        }
        Ok(claimed)
    }

    /// Claims the refund of one initialized task past its final deadline.
    pub async fn claim_task(&self, taskid: B256) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.claim(taskid);
        self.send(call.into_transaction_request(), "claim").await
    }

    /// Claims the refund of one task past its final deadline, classic (initialized or not)
    /// or fast; `dealid` narrows the search for the task's deal. Fails with
    /// [`Error::UnknownTask`] when no deal of the hub holds the task.
    pub async fn claim_any_task(
        &self,
        taskid: B256,
        dealid: Option<B256>,
    ) -> Result<TransactionReceipt> {
        let task = self.task(taskid).await?;
        if task.status != 0 && task.dealid != B256::ZERO {
            return self.claim_task(taskid).await;
        }
        if let Some((record, idx)) = self.fast_deal_of_task(taskid, dealid).await? {
            return self.claim_fast(&record, idx).await;
        }
        // A classic task nobody initialized: initialize and claim it.
        if let Some(dealid) = dealid {
            if let Ok(deal) = self.deal(dealid).await {
                let ids = task_ids(dealid, deal.botFirst, deal.botSize);
                if let Some(i) = ids.iter().position(|t| *t == taskid) {
                    let idx = deal.botFirst + U256::from(i);
                    let hub = self.hub();
                    let call = hub.initializeAndClaimArray(vec![dealid], vec![idx]);
                    return self
                        .send(call.into_transaction_request(), "initializeAndClaimArray")
                        .await;
                }
            }
        }
        Err(Error::UnknownTask(taskid))
    }

    /// Cancels an order on chain (its whole volume becomes consumed); sent by the owner.
    pub async fn cancel_order(&self, order: &AnySignedOrder) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let tx = order.manage(&hub, OrderOperation::Close);
        self.send(tx, "cancel order").await
    }

    /// The volume of an order already used (or cancelled).
    pub async fn consumed(&self, order_hash: B256) -> Result<U256> {
        self.hub()
            .viewConsumed(order_hash)
            .call()
            .await
            .map_err(|e| Error::call("viewConsumed", e))
    }

    /// A category of the hub.
    pub async fn category(&self, index: U256) -> Result<Category> {
        let c = self
            .hub()
            .viewCategory(index)
            .call()
            .await
            .map_err(|e| Error::call("viewCategory", e))?;
        Ok(Category {
            name: c.name,
            description: c.description,
            work_clock_time_ref: c.workClockTimeRef.saturating_to(),
        })
    }

    /// Creates a category (`createCategory`, sent by the hub's owner): its tasks get
    /// `work_clock_time_ref` seconds as reference time.
    pub async fn create_category(
        &self,
        name: &str,
        description: &str,
        work_clock_time_ref: u64,
    ) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.createCategory(
            name.into(),
            description.into(),
            U256::from(work_clock_time_ref),
        );
        self.send(call.into_transaction_request(), "createCategory")
            .await
    }

    /// Whether the hub takes `sign` as `signer`'s signature of `hash` at `block`
    /// (`verifySignature`: an ECDSA signature, or what a contract account's ERC-1271 check
    /// accepts).
    pub async fn verify_signature(
        &self,
        signer: Address,
        hash: B256,
        sign: Bytes,
        block: u64,
    ) -> Result<bool> {
        self.hub()
            .verifySignature(signer, hash, sign)
            .block(BlockId::number(block))
            .call()
            .await
            .map_err(|e| self.call_error("verifySignature", e))
    }

    /// The match of four orders as a transaction for the requester to sign and send
    /// (`matchOrdersFast` for trust ≤ 1, else `matchOrders`), simulated from the requester's
    /// account first: an error is the hub's refusal, decoded, before anything is signed.
    pub async fn prepare_match(
        &self,
        app: &SignedAppOrder,
        dataset: Option<&SignedDatasetOrder>,
        workerpool: &SignedWorkerpoolOrder,
        request: &SignedRequestOrder,
    ) -> Result<MatchTransaction> {
        let requester = request.order.requester;
        let fast = request.order.trust <= U256::from(1);
        let hub = self.hub();
        let dataset = dataset.map(Into::into).unwrap_or_else(no_dataset);
        let (data, simulated, what) = if fast {
            let call = hub.matchOrdersFast(app.into(), dataset, workerpool.into(), request.into());
            let simulated = call.clone().from(requester).call_raw().await.map(drop);
            (call.calldata().clone(), simulated, "matchOrdersFast")
        } else {
            let call = hub.matchOrders(app.into(), dataset, workerpool.into(), request.into());
            let simulated = call.clone().from(requester).call_raw().await.map(drop);
            (call.calldata().clone(), simulated, "matchOrders")
        };
        simulated.map_err(|e| Error::call(what, e))?;
        Ok(MatchTransaction {
            to: self.deployment().hub,
            data,
            fast,
        })
    }

    /// The number of categories.
    pub async fn category_count(&self) -> Result<U256> {
        self.hub()
            .countCategory()
            .call()
            .await
            .map_err(|e| Error::call("countCategory", e))
    }
}

/// The ids of `count` tasks of a deal starting at `first`.
pub fn task_ids(dealid: B256, first: U256, count: U256) -> Vec<B256> {
    let count: u64 = count.saturating_to();
    (0..count)
        .map(|i| task_id(dealid, first + U256::from(i)))
        .collect()
}
