use std::time::Duration;

use alloy::primitives::{Address, B256, U256};

use crate::Revert;

/// Errors of the chain layer. Each message says what went wrong in words; the CLI adds the
/// command that fixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A committed contract artifact could not be read.
    #[error("contract artifact {name} is unreadable ({reason}); run `make artifacts` to regenerate contracts/artifacts/")]
    Artifact {
        /// The contract whose artifact failed.
        name: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// The JSON-RPC endpoint cannot be reached.
    #[error("cannot reach the JSON-RPC endpoint {url} ({reason})")]
    Unreachable {
        /// The endpoint tried.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// The JSON-RPC endpoint failed or refused a request.
    #[error("JSON-RPC request failed: {0}")]
    Rpc(String),
    /// A call or transaction would revert (found by a call or the gas estimate; nothing was
    /// sent).
    #[error("{what} refused: {reason}")]
    Revert {
        /// The operation refused, in words.
        what: String,
        /// The decoded revert reason.
        reason: Box<Revert>,
    },
    /// A transaction was mined but reverted.
    #[error("transaction {what} reverted (tx {tx_hash}){}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// The operation, in words.
        what: String,
        /// The hash of the reverted transaction.
        tx_hash: String,
        /// The decoded revert reason, when the node gives one.
        reason: Option<Box<Revert>>,
    },
    /// The sender cannot pay for gas.
    #[error("account {account} has not enough ETH to pay the gas of {what}")]
    GasFunds {
        /// The sender.
        account: Address,
        /// The operation that needed the gas, in words.
        what: String,
    },
    /// A transaction was not mined in time.
    #[error("{what} (tx {tx_hash}) was not mined within {waited:?}; it may still be mined later")]
    Timeout {
        /// The operation, in words.
        what: String,
        /// The hash of the transaction sent.
        tx_hash: B256,
        /// How long it was waited for.
        waited: Duration,
    },
    /// A transaction was asked of a client without a wallet.
    #[error("this operation sends a transaction and needs a wallet")]
    NoWallet,
    /// The hub has no deal with this id.
    #[error("the hub has no deal {0}: check the deal id and the chain")]
    UnknownDeal(B256),
    /// No deal of the hub holds this task (classic tasks not initialized are found with
    /// their deal id).
    #[error("no deal of the hub holds task {0}: check the task id (a classic task not initialized yet is found only with its deal id)")]
    UnknownTask(B256),
    /// No task of a deal can be claimed now: `next_deadline` is the earliest final deadline
    /// of a task still open (`None` when none is), `now` the chain's time.
    #[error("nothing to claim in deal {dealid}{}", match next_deadline { Some(t) => format!(": the next task becomes claimable at its final deadline, {}", deadline_in_words(*t, Some(*now))), None => ": every task is completed, failed or already claimed".to_string() })]
    NothingToClaim {
        /// The deal asked.
        dealid: B256,
        /// The earliest final deadline of a task still open (unix seconds).
        next_deadline: Option<U256>,
        /// The chain's time (unix seconds).
        now: U256,
    },
    /// A deployment produced no contract.
    #[error("deploying {0} produced no contract address")]
    NoContract(&'static str),
    /// anvil could not be started.
    #[error("could not start anvil: {0}; install the pinned tools with `npm ci` at the repository root, or set POCO_ANVIL to an anvil binary")]
    Anvil(String),
    /// No app, dataset or workerpool of this hub's registries is at this address.
    #[error("there is no {kind} at {address} on chain {chain_id}")]
    UnknownAsset {
        /// `app`, `dataset` or `workerpool`.
        kind: crate::assets::AssetKind,
        /// The address asked for.
        address: Address,
        /// The chain asked.
        chain_id: u64,
    },
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

/// A unix time (seconds) as `YYYY-MM-DD hh:mm:ss UTC` (the number itself past year 9999).
pub fn utc_time(seconds: U256) -> String {
    let seconds: i64 = seconds.saturating_to();
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| seconds.to_string())
}

/// How long until `seconds` from `now`, to the minute past one minute: `45s`, `14m`, `2h 5m`.
pub fn duration_in_words(seconds: u64) -> String {
    let rounded = if seconds < 60 {
        seconds
    } else {
        seconds / 60 * 60
    };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

/// A deadline in words: `2026-12-06 13:45:02 UTC, in 14m by the chain's clock` (or `... ago`);
/// without `now`, only the date.
pub fn deadline_in_words(deadline: U256, now: Option<U256>) -> String {
    let date = utc_time(deadline);
    match now {
        None => date,
        Some(now) if deadline > now => format!(
            "{date}, in {} by the chain's clock",
            duration_in_words((deadline - now).saturating_to())
        ),
        Some(now) if deadline < now => format!(
            "{date}, {} ago by the chain's clock",
            duration_in_words((now - deadline).saturating_to())
        ),
        Some(_) => format!("{date}, now"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_in_words() {
        let now = U256::from(1_795_494_777u64);
        assert_eq!(utc_time(now), "2026-11-24 04:32:57 UTC");
        assert_eq!(
            deadline_in_words(now + U256::from(14 * 60 + 3), Some(now)),
            "2026-11-24 04:47:00 UTC, in 14m by the chain's clock"
        );
        assert_eq!(
            deadline_in_words(now - U256::from(30), Some(now)),
            "2026-11-24 04:32:27 UTC, 30s ago by the chain's clock"
        );
        assert_eq!(duration_in_words(2 * 3600 + 5 * 60 + 59), "2h 5m");
        let err = Error::NothingToClaim {
            dealid: B256::ZERO,
            next_deadline: Some(now + U256::from(3000)),
            now,
        };
        assert!(
            err.to_string()
                .ends_with("final deadline, 2026-11-24 05:22:57 UTC, in 50m by the chain's clock"),
            "{err}"
        );
    }
}
