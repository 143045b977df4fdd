use alloy::primitives::Address;

/// Errors of the chain layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A committed contract artifact could not be read.
    #[error("contract artifact {name} is unreadable ({reason}); run `make artifacts` to regenerate contracts/artifacts/")]
    Artifact { name: &'static str, reason: String },
    /// The JSON-RPC endpoint failed or refused a request.
    #[error("JSON-RPC request failed: {0}")]
    Rpc(String),
    /// A transaction was mined but reverted.
    #[error("transaction {what} reverted (tx {tx_hash})")]
    Reverted { what: String, tx_hash: String },
    /// A deployment produced no contract.
    #[error("deploying {0} produced no contract address")]
    NoContract(&'static str),
    /// anvil could not be started.
    #[error("could not start anvil: {0}; install the pinned tools with `npm ci` at the repository root, or set POCO_ANVIL to an anvil binary")]
    Anvil(String),
    /// An address has no code where a contract was expected.
    #[error("no contract at {0}")]
    NotAContract(Address),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn rpc(e: impl std::fmt::Display) -> Self {
        Self::Rpc(e.to_string())
    }
}
