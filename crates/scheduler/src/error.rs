use crate::api::Fault;

/// Errors of the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (a query, a transaction).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be opened or created.
    #[error(
        "{source}; check the --database URL, that its folder exists and is writable, or that \
         the PostgreSQL server is up"
    )]
    OpenDatabase {
        /// Why.
        #[source]
        source: poco_service::db::DbError,
    },
    /// A row holds a value this scheduler cannot read: written by another program or another
    /// version.
    #[error(
        "the database's table {table}, column {column} holds {value:?}, which is not {expected}; \
         the database was written by another version of the scheduler: run the version that \
         wrote it or start from an empty database"
    )]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
        /// What the column should hold.
        expected: &'static str,
    },
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The result store failed to start.
    #[error("result store: {0}")]
    Store(#[from] poco_store::Error),
    /// The HTTP server failed.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
    /// A call to a scheduler failed (client side).
    #[error("scheduler request failed: {0}")]
    Client(String),
    /// The scheduler answered with an error (client side).
    #[error("the scheduler refused the request ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The scheduler's message.
        message: String,
    },
    /// The scheduler sent a sign-in text that is not a sign-in challenge of the expected
    /// pool: the client refuses to sign it (client side).
    #[error(
        "refusing to sign the scheduler's challenge {text:?}: a scheduler sign-in is exactly \
         \"poco scheduler <pool address> sign-in: <32 hex digits>\"{}; check the scheduler URL",
        expected.map(|p| format!(" with pool {p}")).unwrap_or_default()
    )]
    ForeignChallenge {
        /// The text received (cut to 200 characters).
        text: String,
        /// The pool the client expected.
        expected: Option<alloy::primitives::Address>,
    },
}

impl Error {
    /// Whether the same call may succeed later (network errors, 429, 5xx, and a sign-in
    /// refused with 401, whose challenge may have expired or been dropped): a worker retries
    /// those instead of stopping.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Client(_) => true,
            Self::Refused { status, .. } => *status == 401 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whose fault a refusal of the chain is, when a worker or the scheduler settles a task
/// (`pushResultFast`, `contributeAndFinalize`, `contribute`, `revealAndFinalize`): a refusal
/// that every worker would meet again ([`Fault::Deal`]) gives the task up at once, a worker's
/// problem ([`Fault::Worker`]) moves it to another worker, and a passing one
/// ([`Fault::Transient`]: the RPC down, a nonce or gas problem, a transaction not mined in
/// time) is tried again after a backoff.
pub fn classify_chain_error(e: &poco_chain::Error) -> Fault {
    use poco_chain::{bindings::hub::IPoco::IPocoErrors as P, Error as E, Revert};
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
    use alloy::primitives::{Address, B256, U256};
    use poco_chain::{bindings::hub::IPoco, Error as E, Revert};

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
