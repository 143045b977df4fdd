//! The calls a workerpool's scheduler makes on the hub, typed: initialize the tasks of classic
//! deals, reveal and finalize a replicated task with one worker's result, reopen a task nobody
//! can reveal, and read a worker's contribution. Each transaction goes through
//! [`PocoClient::send`], so a refusal is the decoded [`crate::Revert`].

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    rpc::types::TransactionReceipt,
};

use crate::{ContributionStatus, Error, PocoClient, Result};

/// A worker's contribution to a task, as the hub holds it (`viewContribution`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContributionView {
    /// Its state: [`ContributionStatus::Unset`] without a contribution.
    pub status: ContributionStatus,
    /// Whether the worker contributed (status `CONTRIBUTED`; a revealed one is `PROVED`).
    pub contributed: bool,
    /// The hash it committed to: `result_hash(taskid, digest)`.
    pub result_hash: B256,
}

impl PocoClient {
    /// Initializes tasks of classic deals in one transaction (`initializeArray`): each entry is
    /// a deal and a task index in it. Fails as a whole when any of them is initialized already.
    pub async fn initialize_tasks(&self, tasks: &[(B256, U256)]) -> Result<TransactionReceipt> {
        let (dealids, idxs): (Vec<B256>, Vec<U256>) = tasks.iter().copied().unzip();
        let hub = self.hub();
        let call = hub.initializeArray(dealids, idxs);
        self.send(call.into_transaction_request(), "initializeArray")
            .await
    }

    /// Reveals a replicated task with one contributor's result and finalizes it
    /// (`revealAndFinalize`): `results` is the result link, `callback` the callback data (empty
    /// without a callback).
    pub async fn reveal_and_finalize(
        &self,
        taskid: B256,
        digest: B256,
        results: Bytes,
        callback: Bytes,
    ) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.revealAndFinalize(taskid, digest, results, callback);
        self.send(call.into_transaction_request(), "revealAndFinalize")
            .await
    }

    /// Reopens a task whose reveal deadline passed without a reveal (`reopen`): its
    /// contributions are dropped and it takes new ones.
    pub async fn reopen_task(&self, taskid: B256) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.reopen(taskid);
        self.send(call.into_transaction_request(), "reopen").await
    }

    /// A worker's contribution to a task (not contributed when it has none).
    pub async fn contribution(&self, taskid: B256, worker: Address) -> Result<ContributionView> {
        let c = self
            .hub()
            .viewContribution(taskid, worker)
            .call()
            .await
            .map_err(|e| Error::call("viewContribution", e))?;
        Ok(ContributionView {
            status: ContributionStatus::try_from(c.status)?,
            contributed: c.status == 1,
            result_hash: c.resultHash,
        })
    }
}
