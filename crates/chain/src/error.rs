use std::time::Duration;

use alloy::primitives::{Address, B256};

use crate::Revert;

/// Errors of the chain layer. Each message says what went wrong in words; the CLI adds the
/// command that fixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A committed contract artifact could not be read.
    #[error("contract artifact {name} is unreadable ({reason}); run `make artifacts` to regenerate contracts/artifacts/")]
    Artifact { name: &'static str, reason: String },
    /// The JSON-RPC endpoint cannot be reached.
    #[error("cannot reach the JSON-RPC endpoint {url} ({reason})")]
    Unreachable { url: String, reason: String },
    /// The JSON-RPC endpoint failed or refused a request.
    #[error("JSON-RPC request failed: {0}")]
    Rpc(String),
    /// A call or transaction would revert (found by a call or the gas estimate; nothing was
    /// sent).
    #[error("{what} refused: {reason}")]
    Revert { what: String, reason: Box<Revert> },
    /// A transaction was mined but reverted.
    #[error("transaction {what} reverted (tx {tx_hash}){}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        what: String,
        tx_hash: String,
        reason: Option<Box<Revert>>,
    },
    /// The sender cannot pay for gas.
    #[error("account {account} has not enough ETH to pay the gas of {what}")]
    GasFunds { account: Address, what: String },
    /// A transaction was not mined in time.
    #[error("{what} (tx {tx_hash}) was not mined within {waited:?}; it may still be mined later")]
    Timeout {
        what: String,
        tx_hash: B256,
        waited: Duration,
    },
    /// A transaction was asked of a client without a wallet.
    #[error("this operation sends a transaction and needs a wallet")]
    NoWallet,
    /// The hub has no deal with this id.
    #[error("the hub has no deal {0}: check the deal id and the chain")]
    UnknownDeal(B256),
    /// No task of a deal can be claimed now.
    #[error("nothing to claim in deal {dealid}{}", match next_deadline { Some(t) => format!(": the next task becomes claimable at its final deadline {t} (unix seconds)"), None => ": every task is completed, failed or already claimed".to_string() })]
    NothingToClaim {
        dealid: B256,
        next_deadline: Option<alloy::primitives::U256>,
    },
    /// A deployment produced no contract.
    #[error("deploying {0} produced no contract address")]
    NoContract(&'static str),
    /// anvil could not be started.
    #[error("could not start anvil: {0}; install the pinned tools with `npm ci` at the repository root, or set POCO_ANVIL to an anvil binary")]
    Anvil(String),
    /// An address has no code where a contract was expected.
    #[error("no contract at {0}: check the hub address and that the RPC URL is the right chain")]
    NotAContract(Address),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn rpc(e: impl std::fmt::Display) -> Self {
        Self::Rpc(e.to_string())
    }

    /// Maps the error of a contract call (`eth_call`): revert data is decoded, a transport
    /// failure is reported as unreachable (with an empty `url`, which the caller knows).
    pub fn call(what: &str, e: alloy::contract::Error) -> Self {
        if let Some(data) = e.as_revert_data() {
            return Self::Revert {
                what: what.into(),
                reason: Box::new(Revert::decode(&data)),
            };
        }
        match e {
            alloy::contract::Error::TransportError(t) if t.is_transport_error() => {
                Self::Unreachable {
                    url: String::new(),
                    reason: t.to_string(),
                }
            }
            other => Self::Rpc(format!("{what}: {other}")),
        }
    }

    /// The decoded revert, when the error is one.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Revert { reason, .. } => Some(reason),
            Self::Reverted { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }
}
