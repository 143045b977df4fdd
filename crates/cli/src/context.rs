//! What every command gets: the global options, the output, the chain and the wallet, each
//! opened only when the command needs it (reading never asks for a password).

use std::path::PathBuf;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use clap::Args;
use eyre::{eyre, Result, WrapErr};
use poco_chain::{ClientConfig, PocoClient};
use poco_wallet::WalletOptions;

use crate::{
    config::{chain_file_path, ChainEntry, ChainFile},
    output::Output,
};

/// Options every command takes.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalOpts {
    /// Print one JSON document on stdout (for scripts); logs and progress go to stderr.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The chain to use, by its name in the chain configuration file.
    #[arg(
        long,
        global = true,
        env = "POCO_CHAIN",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub(crate) chain: Option<String>,
    /// The JSON-RPC URL, instead of the chain's configured one.
    #[arg(
        long,
        global = true,
        env = "POCO_RPC_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) rpc_url: Option<String>,
    /// The hub address, instead of the chain's configured one.
    #[arg(
        long,
        global = true,
        env = "POCO_HUB",
        hide_env_values = true,
        value_name = "ADDRESS"
    )]
    pub(crate) hub: Option<Address>,
    /// The chain configuration file [default: ./chain.json if present, else
    /// $POCO_HOME/chain.json].
    #[arg(
        long,
        global = true,
        env = "POCO_CHAIN_CONFIG",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub(crate) chain_config: Option<PathBuf>,
    /// Blocks to wait after a transaction is mined.
    #[arg(long, global = true, default_value_t = 1, value_name = "N")]
    pub(crate) confirms: u64,
    /// Use a named account of the chain configuration (devnet: admin, requester, app-owner,
    /// dataset-owner, scheduler, worker1..worker4, beneficiary).
    #[arg(
        long,
        global = true,
        env = "POCO_ACCOUNT",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub(crate) account: Option<String>,
    /// The keystore file of the wallet.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) wallet_file: Option<PathBuf>,
    /// The keystore folder [default: ~/.ethereum/keystore].
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) keystoredir: Option<PathBuf>,
    /// The wallet to use among those of the keystore folder.
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub(crate) wallet_address: Option<Address>,
    /// A file whose first line is the wallet password (else $POCO_WALLET_PASSWORD, else a
    /// prompt).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) password_file: Option<PathBuf>,
}

/// A command's context.
pub(crate) struct Context {
    /// The global options.
    pub(crate) opts: GlobalOpts,
    /// Where results go.
    pub(crate) out: Output,
}

impl Context {
    /// A context for `opts`.
    pub(crate) fn new(opts: GlobalOpts) -> Self {
        let out = Output { json: opts.json };
        Self { opts, out }
    }

    /// The chain configuration file and the selected chain.
    pub(crate) fn chain_entry(&self) -> Result<(PathBuf, String, ChainEntry)> {
        let path = chain_file_path(self.opts.chain_config.as_deref())?;
        let file = ChainFile::load(&path)?;
        if file.chains.is_empty() && self.opts.rpc_url.is_some() && self.opts.hub.is_some() {
            return Ok((path, "custom".into(), ChainEntry::default()));
        }
        let (name, entry) = file.select(self.opts.chain.as_deref(), &path)?;
        Ok((path, name, entry))
    }

    fn client_config(&self) -> Result<(ClientConfig, ChainEntry)> {
        let (path, name, entry) = self.chain_entry()?;
        let rpc_url = self
            .opts
            .rpc_url
            .clone()
            .or_else(|| entry.host.clone())
            .ok_or_else(|| {
                eyre!(
                    "chain {name:?} in {} has no RPC URL (host); add one or pass --rpc-url",
                    path.display()
                )
            })?;
        let hub = self.opts.hub.or(entry.hub).ok_or_else(|| {
            eyre!(
                "chain {name:?} in {} has no hub address; add one or pass --hub",
                path.display()
            )
        })?;
        let mut config = ClientConfig::new(rpc_url, hub);
        config.confirmations = self.opts.confirms;
        Ok((config, entry))
    }

    /// A read-only client.
    pub(crate) async fn reader(&self) -> Result<PocoClient> {
        let (config, _) = self.client_config()?;
        self.connect(config, None).await
    }

    /// A client that sends from the selected wallet.
    pub(crate) async fn sender(&self) -> Result<PocoClient> {
        let (config, entry) = self.client_config()?;
        let signer = self.signer(Some(&entry))?;
        self.connect(config, Some(signer)).await
    }

    async fn connect(
        &self,
        config: ClientConfig,
        signer: Option<PrivateKeySigner>,
    ) -> Result<PocoClient> {
        let url = config.rpc_url.clone();
        self.out
            .wait(
                format!("connecting to {url}"),
                PocoClient::connect(config, signer),
            )
            .await
            .map_err(|e| crate::hints::chain_error(e, &url))
    }

    /// The wallet: `--account` (a named account of the chain file), else the keystore options.
    pub(crate) fn signer(&self, entry: Option<&ChainEntry>) -> Result<PrivateKeySigner> {
        if let Some(name) = &self.opts.account {
            let entry = match entry {
                Some(entry) => entry.clone(),
                None => self.chain_entry()?.2,
            };
            let account = entry.accounts.get(name).ok_or_else(|| {
                eyre!(
                    "no account named {name:?} in the chain configuration (known: {}); named \
                     accounts exist on a devnet started with `poco devnet start`",
                    if entry.accounts.is_empty() {
                        "none".to_string()
                    } else {
                        entry
                            .accounts
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )
            })?;
            return poco_wallet::parse_private_key(&account.private_key)
                .wrap_err_with(|| format!("the key of account {name:?} is invalid"));
        }
        self.wallet_options()
            .open()
            .map_err(|e| eyre!("{e}"))
            .wrap_err("cannot open the wallet")
    }

    /// The keystore options.
    pub(crate) fn wallet_options(&self) -> WalletOptions {
        WalletOptions {
            wallet_file: self.opts.wallet_file.clone(),
            keystore_dir: self.opts.keystoredir.clone(),
            address: self.opts.wallet_address,
            password_file: self.opts.password_file.clone(),
        }
    }

    /// The address of the selected wallet without unlocking it when possible (named account,
    /// raw key, or the address a keystore states).
    pub(crate) fn wallet_address(&self) -> Result<Address> {
        if self.opts.account.is_some() || poco_wallet::signer_from_env()?.is_some() {
            return Ok(self.signer(None)?.address());
        }
        if let Some(address) = self.opts.wallet_address {
            return Ok(address);
        }
        if let Some(file) = &self.opts.wallet_file {
            if let Some(address) = poco_wallet::read_keystore(file)?.stated_address() {
                return Ok(address);
            }
        }
        let dir = match &self.opts.keystoredir {
            Some(dir) => poco_wallet::KeystoreDir::new(dir),
            None => poco_wallet::KeystoreDir::default_dir()?,
        };
        Ok(dir.single()?.address)
    }
}
