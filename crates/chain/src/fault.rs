//! [`classify_chain_error`]: whose fault a refusal of the chain is, when a task is settled.

use poco_types::Fault;

use crate::Error;

/// Whose fault a refusal of the chain is, when a worker or the scheduler settles a task
/// (`pushResultFast`, `contributeAndFinalize`, `contribute`, `revealAndFinalize`): a refusal
/// that every worker would meet again ([`Fault::Deal`]) gives the task up at once, a worker's
/// problem ([`Fault::Worker`]) moves it to another worker, and a passing one
/// ([`Fault::Transient`]: the RPC down, a nonce or gas problem, a transaction not mined in
/// time) is tried again after a backoff.
pub fn classify_chain_error(e: &Error) -> Fault {
    use crate::{bindings::hub::IPoco::IPocoErrors as P, Error as E, Revert};
    match e {
        E::Unreachable { .. } | E::Rpc(_) | E::Timeout { .. } => Fault::Transient,
        E::GasFunds { .. } | E::NoWallet => Fault::Worker,
        E::Revert { reason, .. }
        | E::Reverted {
            reason: Some(reason),
            ..
        } => match reason.as_ref() {
            Revert::Poco(p) => match p {
                // The deal itself cannot be settled this way, by anyone.
                P::CallbackMismatch(_)
                | P::PushDeadlinePassed(_)
                | P::ContributionDeadlinePassed(_)
                | P::FinalDeadlinePassed(_)
                | P::TaskNotActive(_)
                | P::TaskAlreadySettled(_)
                | P::UnknownFastDeal(_)
                | P::FastDealMismatch(_)
                | P::TaskIndexOutOfRange(_)
                | P::EnclaveChallengeRequired(_)
                | P::TrustNotOne(_)
                | P::TrustAboveOne(_)
                | P::ContributionsExist(_)
                | P::TooManyContributors(_)
                | P::DealFieldTooLarge(_)
                | P::RevealHappened(_) => Fault::Deal,
                // Gas ran short for the callback: send again with more.
                P::NotEnoughGasAfterCallback(_) => Fault::Transient,
                // This worker's stake, authorization or earlier contribution.
                _ => Fault::Worker,
            },
            _ => Fault::Worker,
        },
        E::Reverted { reason: None, .. } => Fault::Worker,
        _ => Fault::Worker,
    }
}

#[cfg(test)]
mod tests {
    use crate::{bindings::hub::IPoco, Error as E, Revert};
    use alloy::primitives::{Address, B256, U256};

    use super::*;

    fn refused(data: Vec<u8>) -> E {
        E::Revert {
            what: "pushResultFast".into(),
            reason: Box::new(Revert::decode(&data)),
        }
    }

    fn mined(data: Vec<u8>) -> E {
        E::Reverted {
            what: "contribute".into(),
            tx_hash: "0x01".into(),
            reason: Some(Box::new(Revert::decode(&data))),
        }
    }

    #[test]
    fn chain_refusals_are_classified() {
        use alloy::sol_types::SolError;
        let task = B256::repeat_byte(7);
        let cases: Vec<(E, Fault)> = vec![
            (
                refused(IPoco::CallbackMismatch {}.abi_encode()),
                Fault::Deal,
            ),
            (
                refused(
                    IPoco::PushDeadlinePassed {
                        dealid: task,
                        deadline: U256::from(1u64),
                    }
                    .abi_encode(),
                ),
                Fault::Deal,
            ),
            (
                mined(
                    IPoco::TaskNotActive {
                        taskid: task,
                        status: 3,
                    }
                    .abi_encode(),
                ),
                Fault::Deal,
            ),
            (
                refused(
                    IPoco::TaskAlreadySettled {
                        dealid: task,
                        idx: U256::ZERO,
                    }
                    .abi_encode(),
                ),
                Fault::Deal,
            ),
            (
                refused(IPoco::EnclaveChallengeRequired {}.abi_encode()),
                Fault::Deal,
            ),
            (
                refused(
                    IPoco::InsufficientFreeBalance {
                        account: Address::ZERO,
                        free: U256::ZERO,
                        needed: U256::from(1u64),
                    }
                    .abi_encode(),
                ),
                Fault::Worker,
            ),
            (
                refused(
                    IPoco::InvalidAuthorization {
                        worker: Address::ZERO,
                        expectedSigner: Address::ZERO,
                    }
                    .abi_encode(),
                ),
                Fault::Worker,
            ),
            (
                refused(
                    IPoco::AlreadyContributed {
                        taskid: task,
                        worker: Address::ZERO,
                    }
                    .abi_encode(),
                ),
                Fault::Worker,
            ),
            (
                refused(IPoco::NotEnoughGasAfterCallback {}.abi_encode()),
                Fault::Transient,
            ),
            (refused(Vec::new()), Fault::Worker),
            (
                E::Reverted {
                    what: "contribute".into(),
                    tx_hash: "0x01".into(),
                    reason: None,
                },
                Fault::Worker,
            ),
            (
                E::Unreachable {
                    url: String::new(),
                    reason: "connection refused".into(),
                },
                Fault::Transient,
            ),
            (E::Rpc("nonce too low".into()), Fault::Transient),
            (
                E::Timeout {
                    what: "pushResultFast".into(),
                    tx_hash: task,
                    waited: std::time::Duration::from_secs(60),
                },
                Fault::Transient,
            ),
            (
                E::GasFunds {
                    account: Address::ZERO,
                    what: "contribute".into(),
                },
                Fault::Worker,
            ),
        ];
        for (error, fault) in cases {
            assert_eq!(classify_chain_error(&error), fault, "{error}");
        }
    }
}
