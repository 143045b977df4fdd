//! Chain errors turned into one line that says what to do.

use alloy::primitives::U256;
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
        Error::UnknownTask(_) => {
            Some("pass its deal with --deal; `poco deal show <dealid>` lists a deal's tasks".into())
        }
        Error::UnknownAsset { kind, .. } => Some(match kind {
            poco_chain::AssetKind::App => "check the address and the chain (--chain, --rpc-url); \
                                           deploy an app with `poco app deploy`, or on a devnet \
                                           run a module file directly: `poco run app.wasm`"
                .into(),
            other => format!(
                "check the address and the chain (--chain, --rpc-url); deploy a {other} with \
                 `poco {other} deploy`"
            ),
        }),
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
        P::TaskAlreadySettled(_) => "the task is completed or already claimed; see it with \
                                     `poco task show`"
            .into(),
        P::NotHubOwner(_) => "use the hub owner's wallet (devnet: --account admin)".into(),
        _ => return None,
    })
}

/// Explains the error of a claim; one that waits for a final deadline says when, in words,
/// and on an anvil devnet how to move the chain's clock there (`poco devnet advance-time`).
pub(crate) async fn explain_claim<T>(
    result: Result<T, Error>,
    client: &poco_chain::PocoClient,
) -> eyre::Result<T> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let wait = match &error {
        Error::NothingToClaim {
            next_deadline: Some(deadline),
            now,
            ..
        } => Some((*deadline, Some(*now))),
        other => match other.revert().and_then(Revert::as_poco) {
            Some(P::FinalDeadlineNotReached(e)) => Some((e.deadline, None)),
            _ => None,
        },
    };
    let Some((deadline, now)) = wait else {
        return Err(chain_error(error, client.rpc_url()));
    };
    let now = match now {
        Some(now) => now,
        None => match client.chain_time().await {
            Ok(now) => U256::from(now),
            Err(_) => return Err(chain_error(error, client.rpc_url())),
        },
    };
    let mut message = match &error {
        Error::NothingToClaim { .. } => error.to_string(),
        _ => format!(
            "{error}; it is {} away by the chain's clock",
            poco_chain::duration_in_words(deadline.saturating_sub(now).saturating_to())
        ),
    };
    let seconds: u64 = deadline.saturating_sub(now).saturating_to::<u64>().max(1);
    if on_devnet(client).await {
        message.push_str(&format!(
            "; this devnet's clock moves with `poco devnet advance-time {seconds}`, then claim again"
        ));
    } else {
        message.push_str("; claim again then");
    }
    Err(eyre!("{message}"))
}

/// Whether the chain is an anvil devnet (whose clock `poco devnet advance-time` moves).
async fn on_devnet(client: &poco_chain::PocoClient) -> bool {
    use alloy::providers::ext::AnvilApi;
    client.chain_id() == 31337 && client.provider().anvil_get_auto_mine().await.is_ok()
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
