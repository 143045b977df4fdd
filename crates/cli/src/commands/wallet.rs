//! `poco wallet`: Ethereum V3 keystores, compatible with geth's `~/.ethereum/keystore` and the
//! iExec SDK's wallet files.

use alloy::{primitives::Address, providers::Provider};
use clap::Subcommand;
use eyre::{bail, Result, WrapErr};
use poco_types::format_rlc;
use poco_wallet::{Kdf, KeystoreDir, PasswordSource};
use serde_json::{json, Value};

use super::{amount, parse_amount};
use crate::{context::Context, hints::Explain};

/// `poco wallet ...`
#[derive(Subcommand, Debug)]
pub(crate) enum WalletCommand {
    /// Create a new wallet in the keystore folder (the password comes from --password-file,
    /// $POCO_WALLET_PASSWORD or a prompt).
    Create,
    /// Import a private key into the keystore folder, encrypted with a password.
    Import {
        /// The private key (64 hex digits, 0x optional).
        private_key: String,
    },
    /// Send RLC from the wallet to another address.
    #[command(name = "send-rlc", alias = "send-RLC")]
    SendRlc {
        /// The amount: nRLC as an integer (iExec's unit) or RLC with a unit, e.g. "10 RLC".
        amount: String,
        /// The unit (RLC or nRLC), when given apart.
        unit: Option<String>,
        /// The recipient.
        #[arg(long, value_name = "ADDRESS")]
        to: Address,
    },
    /// Send ether (for gas) from the wallet to another address.
    SendEther {
        /// The amount in ether, e.g. 0.5.
        amount: String,
        /// The recipient.
        #[arg(long, value_name = "ADDRESS")]
        to: Address,
    },
    /// Show a wallet's address and balances (no password needed).
    Show {
        /// The address to show [default: the selected wallet].
        address: Option<Address>,
    },
}

impl WalletCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Create => {
                let dir = keystore_dir(ctx)?;
                let password = new_password(ctx)?;
                let (signer, path) = dir.create(password.as_bytes(), Kdf::default())?;
                Ok(json!({ "address": signer.address(), "file": path }))
            }
            Self::Import { private_key } => {
                let signer = poco_wallet::parse_private_key(&private_key)?;
                let dir = keystore_dir(ctx)?;
                let password = new_password(ctx)?;
                let path = dir.save(&signer, password.as_bytes(), Kdf::default())?;
                Ok(json!({ "address": signer.address(), "file": path }))
            }
            Self::SendRlc {
                amount: a,
                unit,
                to,
            } => {
                let value = parse_amount(&a, unit.as_deref())?;
                let client = ctx.sender().await?;
                let me = client.sender()?;
                let held = client.wallet_rlc(me).await.explain(&client)?;
                if held < value {
                    bail!(
                        "wallet {me} holds {} and cannot send {}",
                        format_rlc(held),
                        format_rlc(value)
                    );
                }
                let receipt = ctx
                    .out
                    .wait(
                        format!("sending {} to {to}", format_rlc(value)),
                        client.transfer_rlc(to, value),
                    )
                    .await
                    .explain(&client)?;
                Ok(
                    json!({ "from": me, "to": to, "amount": amount(value), "tx": receipt.transaction_hash }),
                )
            }
            Self::SendEther { amount: a, to } => {
                let value = alloy::primitives::utils::parse_ether(&a).map_err(|e| {
                    eyre::eyre!(
                        "invalid ether amount {a:?} ({e}); write a decimal number such as 0.5"
                    )
                })?;
                let client = ctx.sender().await?;
                let tx = alloy::rpc::types::TransactionRequest::default()
                    .to(to)
                    .value(value);
                let receipt = ctx
                    .out
                    .wait(
                        format!("sending {a} ETH to {to}"),
                        client.send(tx, "ether transfer"),
                    )
                    .await
                    .explain(&client)?;
                Ok(
                    json!({ "from": client.sender()?, "to": to, "eth": a, "tx": receipt.transaction_hash }),
                )
            }
            Self::Show { address } => {
                let address = match address {
                    Some(address) => address,
                    None => ctx.wallet_address()?,
                };
                let client = ctx.reader().await?;
                let eth = client
                    .provider()
                    .get_balance(address)
                    .await
                    .wrap_err("reading the ETH balance")?;
                let rlc = client.wallet_rlc(address).await?;
                let (free, locked) = client.account(address).await?;
                Ok(json!({
                    "address": address,
                    "eth": trim_decimals(&alloy::primitives::utils::format_ether(eth)),
                    "walletRlc": amount(rlc),
                    "free": amount(free),
                    "locked": amount(locked),
                }))
            }
        }
    }
}

fn keystore_dir(ctx: &Context) -> Result<KeystoreDir> {
    Ok(match &ctx.opts.keystoredir {
        Some(dir) => KeystoreDir::new(dir),
        None => KeystoreDir::default_dir()?,
    })
}

fn new_password(ctx: &Context) -> Result<poco_wallet::Password> {
    Ok(PasswordSource::resolve(ctx.opts.password_file.clone()).read_new()?)
}

/// `10.500000` → `10.5`, `10.000` → `10`.
fn trim_decimals(text: &str) -> String {
    if !text.contains('.') {
        return text.to_string();
    }
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
