//! `poco account`: the RLC the hub holds for an account (free to pay and stake, or locked).

use alloy::primitives::Address;
use clap::Subcommand;
use eyre::{bail, Result};
use poco_types::format_rlc;
use serde_json::{json, Value};

use super::{amount, parse_amount};
use crate::{context::Context, hints::Explain};

/// `poco account ...`
#[derive(Subcommand, Debug)]
pub(crate) enum AccountCommand {
    /// Move RLC from the wallet into the poco account (one transaction).
    Deposit {
        /// The amount: nRLC as an integer (iExec's unit) or RLC with a unit, e.g. "10 RLC".
        amount: String,
        /// The unit (RLC or nRLC), when given apart.
        unit: Option<String>,
    },
    /// Move free RLC from the poco account back to the wallet.
    Withdraw {
        /// The amount: nRLC as an integer (iExec's unit) or RLC with a unit, e.g. "10 RLC".
        amount: String,
        /// The unit (RLC or nRLC), when given apart.
        unit: Option<String>,
    },
    /// Show an account's free and locked RLC.
    Show {
        /// The address to show [default: the selected wallet].
        address: Option<Address>,
    },
}

impl AccountCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Deposit { amount: a, unit } => {
                let value = parse_amount(&a, unit.as_deref())?;
                if value.is_zero() {
                    bail!("the amount to deposit is zero; give a positive amount, e.g. \"10 RLC\"");
                }
                let client = ctx.sender().await?;
                let who = client.sender()?;
                let held = client.wallet_rlc(who).await?;
                if held < value {
                    bail!(
                        "wallet {who} holds {} but the deposit is {}; get RLC into the wallet first",
                        format_rlc(held),
                        format_rlc(value)
                    );
                }
                let receipt = ctx
                    .out
                    .wait(
                        format!("depositing {}", format_rlc(value)),
                        client.deposit(value),
                    )
                    .await
                    .explain(&client)?;
                let (free, locked) = client.account(who).await?;
                Ok(json!({
                    "deposited": amount(value),
                    "tx": receipt.transaction_hash,
                    "address": who,
                    "free": amount(free),
                    "locked": amount(locked),
                }))
            }
            Self::Withdraw { amount: a, unit } => {
                let value = parse_amount(&a, unit.as_deref())?;
                if value.is_zero() {
                    bail!(
                        "the amount to withdraw is zero; give a positive amount, e.g. \"10 RLC\""
                    );
                }
                let client = ctx.sender().await?;
                let who = client.sender()?;
                let (free, locked) = client.account(who).await?;
                if free < value {
                    bail!(
                        "account {who} has {} free ({} locked in running deals) but the \
                         withdrawal is {}; withdraw at most {}",
                        format_rlc(free),
                        format_rlc(locked),
                        format_rlc(value),
                        format_rlc(free)
                    );
                }
                let receipt = ctx
                    .out
                    .wait(
                        format!("withdrawing {}", format_rlc(value)),
                        client.withdraw(value),
                    )
                    .await
                    .explain(&client)?;
                let (free, locked) = client.account(who).await?;
                Ok(json!({
                    "withdrawn": amount(value),
                    "tx": receipt.transaction_hash,
                    "address": who,
                    "free": amount(free),
                    "locked": amount(locked),
                }))
            }
            Self::Show { address } => {
                let who = match address {
                    Some(a) => a,
                    None => ctx.wallet_address()?,
                };
                let client = ctx.reader().await?;
                let (free, locked) = client.account(who).await?;
                Ok(json!({ "address": who, "free": amount(free), "locked": amount(locked) }))
            }
        }
    }
}
