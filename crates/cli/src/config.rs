//! Where the CLI keeps its files, and the chain configuration file (`chain.json`).
//!
//! `chain.json` follows the iExec SDK's shape — a `default` chain name and `chains.{name}` with
//! `host` (RPC URL), `id` and `hub` — plus the token and registry addresses and, for a devnet,
//! its named accounts. `poco devnet start` writes it; every command reads it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::Address;
use eyre::{bail, eyre, Result, WrapErr};
use serde::{Deserialize, Serialize};

/// Environment variable naming poco's home folder (default `~/.poco`).
pub(crate) const HOME_ENV: &str = "POCO_HOME";

/// poco's home folder: `$POCO_HOME`, else `~/.poco`.
pub(crate) fn poco_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os(HOME_ENV) {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| eyre!("neither POCO_HOME nor HOME is set; set POCO_HOME to a folder"))?;
    Ok(PathBuf::from(home).join(".poco"))
}

/// The chain configuration file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChainFile {
    /// The chain used without `--chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default: Option<String>,
    /// The chains by name.
    #[serde(default)]
    pub(crate) chains: BTreeMap<String, ChainEntry>,
}

/// One chain of `chain.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChainEntry {
    /// The JSON-RPC URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) host: Option<String>,
    /// The chain id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<u64>,
    /// The hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hub: Option<Address>,
    /// The RLC token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<Address>,
    /// The app registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app_registry: Option<Address>,
    /// The dataset registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dataset_registry: Option<Address>,
    /// The workerpool registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) workerpool_registry: Option<Address>,
    /// Named development accounts (devnet only: anvil's public test keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) accounts: BTreeMap<String, NamedAccount>,
    /// Other keys (iExec's `sms`, `iexecGateway`, ...), kept as they are.
    #[serde(flatten)]
    pub(crate) other: serde_json::Map<String, serde_json::Value>,
}

/// A named development account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamedAccount {
    /// Its address.
    pub(crate) address: Address,
    /// Its private key (a public anvil test key).
    pub(crate) private_key: String,
}

impl ChainFile {
    /// Reads a chain file; a missing file is an empty configuration.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).wrap_err_with(|| {
                format!(
                    "{} is not a valid chain configuration; fix the JSON or remove the file and \
                     run `poco devnet start` again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).wrap_err_with(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file (atomically: a temporary file renamed over it).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)? + "\n";
        poco_wallet::write_atomic(
            path,
            text.as_bytes(),
            poco_wallet::Access::Shared,
            poco_wallet::Existing::Replace,
        )
        .wrap_err_with(|| format!("cannot write {}", path.display()))
    }

    /// The chain named `name`, else the default one.
    pub(crate) fn select(&self, name: Option<&str>, path: &Path) -> Result<(String, ChainEntry)> {
        let name = match name.or(self.default.as_deref()) {
            Some(name) => name.to_string(),
            None if self.chains.len() == 1 => {
                self.chains.keys().next().cloned().unwrap_or_default()
            }
            None if self.chains.is_empty() => bail!(
                "no chain configured ({} has no chain); start a local chain with `poco devnet \
                 start`, or pass --rpc-url and --hub",
                path.display()
            ),
            None => bail!(
                "{} has several chains ({}) and no default; pick one with --chain",
                path.display(),
                self.chains.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        let entry = self.chains.get(&name).cloned().ok_or_else(|| {
            eyre!(
                "no chain named {name:?} in {} (known: {}); use one of them with --chain or start \
                 a local chain with `poco devnet start`",
                path.display(),
                if self.chains.is_empty() {
                    "none".to_string()
                } else {
                    self.chains.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })?;
        Ok((name, entry))
    }
}

/// The chain file a command reads: `--chain-config`, else `./chain.json` when it exists, else
/// `$POCO_HOME/chain.json`.
pub(crate) fn chain_file_path(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let local = PathBuf::from("chain.json");
    if local.is_file() {
        return Ok(local);
    }
    Ok(poco_home()?.join("chain.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iexec_shaped_files_and_keeps_unknown_keys() {
        let text = r#"{"default":"dev","chains":{"dev":{"host":"http://127.0.0.1:8545","id":31337,
            "hub":"0x3eca1B216A7DF1C7689aEb259fFB83ADFB894E7f","sms":"http://sms"}}}"#;
        let file: ChainFile = serde_json::from_str(text).unwrap();
        let (name, entry) = file.select(None, Path::new("chain.json")).unwrap();
        assert_eq!(name, "dev");
        assert_eq!(entry.id, Some(31337));
        assert_eq!(entry.other["sms"], "http://sms");
        let again: ChainFile =
            serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();
        assert_eq!(again.chains["dev"].other["sms"], "http://sms");
    }

    #[test]
    fn explains_a_missing_or_unknown_chain() {
        let empty = ChainFile::default();
        let err = empty.select(None, Path::new("/x/chain.json")).unwrap_err();
        assert!(err.to_string().contains("poco devnet start"), "{err}");
        let mut file = ChainFile::default();
        file.chains.insert("a".into(), ChainEntry::default());
        let err = file.select(Some("b"), Path::new("c.json")).unwrap_err();
        assert!(err.to_string().contains("known: a"), "{err}");
    }
}
