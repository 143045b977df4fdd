//! The commands, one module per group.

pub(crate) mod account;
pub(crate) mod assets;
pub(crate) mod deal;
pub(crate) mod devnet;
pub(crate) mod info;
pub(crate) mod market;
pub(crate) mod order;
pub(crate) mod run;
pub(crate) mod services;
pub(crate) mod sms;
pub(crate) mod wallet;

use alloy::primitives::U256;
use eyre::Result;
use serde_json::Value;

/// A service's default database: an SQLite file `<dir>/<stem>-<genesis>.db`, one per chain
/// history (a devnet started afresh gets a new one instead of a stale cursor).
pub(crate) async fn default_database(
    client: &poco_chain::PocoClient,
    dir: &std::path::Path,
    stem: &str,
) -> Result<String> {
    let genesis = format!("{:x}", client.genesis().await?);
    let file = dir.join(format!("{stem}-{}.db", &genesis[..8]));
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

/// An nRLC amount as the JSON output carries it: a decimal string.
pub(crate) fn amount(value: U256) -> Value {
    Value::String(value.to_string())
}

/// Parses `<AMOUNT> [UNIT]` as given on the command line (`5`, `5 RLC`, `1.5RLC`).
pub(crate) fn parse_amount(amount: &str, unit: Option<&str>) -> Result<U256> {
    let text = match unit {
        Some(unit) => format!("{amount} {unit}"),
        None => amount.to_string(),
    };
    Ok(poco_types::parse_rlc(&text)?)
}
