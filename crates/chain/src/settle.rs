//! A worker's settle calls: pushing a fast-path result, contributing (alone with
//! `contributeAndFinalize`, or as one vote of a replicated task), revealing, and the states of a
//! contribution ([`ContributionStatus`], read with [`PocoClient::contribution`]).
//!
//! Each send goes through [`PocoClient::send`]: estimated first (a transaction that would
//! revert is not sent and fails with the decoded [`crate::Revert`]), then mined with the
//! configured confirmations. Errors name the hub function (`pushResultFast`, `contribute`, ...).
//! A task of a TEE-tagged deal is settled with its [`Enclave`]: the task's enclave challenge
//! (which the scheduler's authorization covers) and the enclave's signature of the result
//! (`contribute` and `contributeAndFinalize`: [`poco_types::sign_enclave`]; `pushResultFast`:
//! [`poco_types::sign_enclave_fast`]). Without one (`None`) the calls pass the zero challenge and
//! an empty signature, which the hub refuses for a TEE deal (`EnclaveChallengeRequired`).

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    rpc::types::TransactionReceipt,
};
use poco_types::Contribution;

use crate::{bindings::hub::IPoco, Error, PocoClient, Result};

/// What a worker settles for a task: the result digest, the result link (`results`, UTF-8
/// JSON) and the callback data (empty without a callback).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerResult {
    /// The result digest (sha256 of the result archive).
    pub digest: B256,
    /// The result link as the hub stores it.
    pub results: Bytes,
    /// The data passed to the deal's callback.
    pub callback: Bytes,
}

/// The enclave side of a TEE task's settlement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enclave {
    /// The task's enclave challenge (the address of the key the SMS made for the task).
    pub challenge: Address,
    /// The enclave challenge key's personal signature of the call's enclave message.
    pub sign: Bytes,
}

/// The challenge and signature a settle call passes: zero and empty without an enclave.
fn enclave_args(enclave: Option<&Enclave>) -> (Address, Bytes) {
    enclave.map_or((Address::ZERO, Bytes::new()), |e| {
        (e.challenge, e.sign.clone())
    })
}

/// The state of one worker's contribution to a task (`ContributionStatusEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContributionStatus {
    /// No contribution.
    Unset,
    /// Contributed, not revealed.
    Contributed,
    /// Revealed, in the consensus.
    Proved,
    /// Revealed or finalized out of the consensus.
    Rejected,
}

impl TryFrom<u8> for ContributionStatus {
    type Error = Error;

    fn try_from(status: u8) -> Result<Self> {
        Ok(match status {
            0 => Self::Unset,
            1 => Self::Contributed,
            2 => Self::Proved,
            3 => Self::Rejected,
            _ => {
                return Err(Error::Rpc(format!(
                    "unknown contribution status {status}: expected 0 (UNSET) to 3 (REJECTED); \
                     check that the hub address is a poco hub"
                )))
            }
        })
    }
}

impl PocoClient {
    /// Settles a fast-path task (trust ≤ 1) in one transaction (`pushResultFast`): `deal` is the
    /// fast deal's settlement fields as its match announced them, `idx` the task's index,
    /// `authorization` the scheduler's signature of the worker's authorization, `enclave` the
    /// enclave's signature of [`poco_types::fast_enclave_hash`] for a TEE deal.
    pub async fn push_result_fast(
        &self,
        deal: IPoco::FastDeal,
        dealid: B256,
        idx: U256,
        result: &WorkerResult,
        authorization: Bytes,
        enclave: Option<&Enclave>,
    ) -> Result<TransactionReceipt> {
        let (challenge, sign) = enclave_args(enclave);
        let hub = self.hub();
        let call = hub.pushResultFast(
            deal,
            dealid,
            idx,
            result.digest,
            result.results.clone(),
            result.callback.clone(),
            challenge,
            sign,
            authorization,
        );
        self.send(call.into_transaction_request(), "pushResultFast")
            .await
    }

    /// Contributes and finalizes a classic task of trust 1 in one transaction
    /// (`contributeAndFinalize`); `enclave` signs [`poco_types::enclave_hash`] of the
    /// sender's contribution for a TEE deal.
    pub async fn contribute_and_finalize(
        &self,
        taskid: B256,
        result: &WorkerResult,
        authorization: Bytes,
        enclave: Option<&Enclave>,
    ) -> Result<TransactionReceipt> {
        let (challenge, sign) = enclave_args(enclave);
        let hub = self.hub();
        let call = hub.contributeAndFinalize(
            taskid,
            result.digest,
            result.results.clone(),
            result.callback.clone(),
            challenge,
            sign,
            authorization,
        );
        self.send(call.into_transaction_request(), "contributeAndFinalize")
            .await
    }

    /// Contributes to a replicated task (`contribute`): the vote and the commitment are
    /// computed from `digest` for the sender, who reveals `digest` later with
    /// [`PocoClient::reveal`]; `enclave` signs [`poco_types::enclave_hash`] of the
    /// contribution for a TEE deal.
    pub async fn contribute(
        &self,
        taskid: B256,
        digest: B256,
        authorization: Bytes,
        enclave: Option<&Enclave>,
    ) -> Result<TransactionReceipt> {
        let c = Contribution::new(self.sender()?, taskid, digest);
        let (challenge, sign) = enclave_args(enclave);
        let hub = self.hub();
        let call = hub.contribute(
            taskid,
            c.result_hash,
            c.result_seal,
            challenge,
            sign,
            authorization,
        );
        self.send(call.into_transaction_request(), "contribute")
            .await
    }

    /// Reveals the digest the sender contributed to a task in consensus (`reveal`).
    pub async fn reveal(&self, taskid: B256, digest: B256) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let call = hub.reveal(taskid, digest);
        self.send(call.into_transaction_request(), "reveal").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contribution_statuses_follow_the_hub_enum() {
        let all: Vec<_> = (0..4)
            .map(|n| ContributionStatus::try_from(n).unwrap())
            .collect();
        assert_eq!(
            all,
            [
                ContributionStatus::Unset,
                ContributionStatus::Contributed,
                ContributionStatus::Proved,
                ContributionStatus::Rejected
            ]
        );
        let err = ContributionStatus::try_from(4).unwrap_err().to_string();
        assert!(err.contains("unknown contribution status 4"), "{err}");
    }
}
