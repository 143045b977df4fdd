//! Chain errors turned into one line that says what to do.

use eyre::{eyre, Report};
use poco_chain::{bindings::hub::IPoco::IPocoErrors as P, Error, Revert};
use poco_types::format_rlc;

/// Adds the fix to a chain error.
pub(crate) fn chain_error(error: Error, rpc_url: &str) -> Report {
    let error = match error {
        Error::Unreachable { url, reason } if url.is_empty() => Error::Unreachable {
            url: rpc_url.to_string(),
            reason,
        },
        other => other,
    };
    let hint = match &error {
        Error::Unreachable { .. } => Some(
            "is the chain running? Start a local one with `poco devnet start`, or point to \
             another with --rpc-url"
                .to_string(),
        ),
        Error::NotAContract(_) => Some(
            "the chain configuration may be stale (a devnet restarted without its state): run \
             `poco devnet start --fresh` or pass --hub"
                .into(),
        ),
        Error::GasFunds { account, .. } => Some(format!(
            "send ETH to {account} for gas (on a devnet, use a named account with --account)"
        )),
        Error::NoWallet => Some(
            "choose a wallet with --account (devnet), --wallet-file, --keystoredir or \
             POCO_PRIVATE_KEY"
                .into(),
        ),
        _ => error.revert().and_then(revert_hint),
    };
    match hint {
        Some(hint) => eyre!("{error}; {hint}"),
        None => eyre!("{error}"),
    }
}

fn revert_hint(revert: &Revert) -> Option<String> {
    Some(match revert.as_poco()? {
        P::InsufficientFreeBalance(e) => format!(
            "deposit at least {} more with `poco account deposit \"{}\"`",
            format_rlc(e.needed - e.free),
            format_rlc(e.needed - e.free)
        ),
        P::InsufficientFrozenBalance(_) => "the stake is not locked; check the task state with \
                                           `poco task show`"
            .into(),
        P::TokenTransferFailed(e) => {
            format!("check the wallet's RLC with `poco wallet show {}`", e.from)
        }
        P::UnknownCategory(_) => "list the categories with `poco category count` and `poco \
                                  category show <index>`"
            .into(),
        P::NoVolumeLeft(_) => "check each order with `poco order show`; sign a new one with \
                               `poco order sign`"
            .into(),
        P::FinalDeadlineNotReached(_) => {
            "claim after the final deadline; `poco deal show` gives it".into()
        }
        P::NotHubOwner(_) => "use the hub owner's wallet (devnet: --account admin)".into(),
        _ => return None,
    })
}

/// Explains a chain error of a command.
pub(crate) trait Explain<T> {
    /// The error with the fix appended.
    fn explain(self, client: &poco_chain::PocoClient) -> eyre::Result<T>;
}

impl<T> Explain<T> for Result<T, Error> {
    fn explain(self, client: &poco_chain::PocoClient) -> eyre::Result<T> {
        self.map_err(|e| chain_error(e, client.rpc_url()))
    }
}

/// Explains the error of a contract call.
pub(crate) trait ExplainCall<T> {
    /// The error of the call `what`, decoded, with the fix appended.
    fn explain_call(self, what: &str, client: &poco_chain::PocoClient) -> eyre::Result<T>;
}

impl<T> ExplainCall<T> for Result<T, alloy::contract::Error> {
    fn explain_call(self, what: &str, client: &poco_chain::PocoClient) -> eyre::Result<T> {
        self.map_err(|e| chain_error(Error::call(what, e), client.rpc_url()))
    }
}
