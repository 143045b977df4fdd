//! A local `anvil` chain for demos, tests and benchmarks, started from the project's pinned
//! Foundry package.
//!
//! [`anvil_path`] is always there (`poco devnet start` runs that binary as a background
//! process of its own). What starts anvil from Rust and drives it for tests (`spawn_anvil`,
//! `DevPoco`, `confirm`) is behind the `test-utils` feature, with alloy's `node-bindings`:
//! the test suites, examples and benchmarks enable it through their dev-dependencies.

use std::path::PathBuf;

#[cfg(feature = "test-utils")]
use alloy::{
    network::{EthereumWallet, ReceiptResponse},
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

#[cfg(feature = "test-utils")]
use crate::{
    bindings::{app::AppRegistry, hub::IPoco, rlc::RLC, workerpool::WorkerpoolRegistry},
    deploy_poco, Deployment,
};
use crate::{Error, Result};

/// Environment variable naming the anvil binary to use.
pub const ANVIL_ENV: &str = "POCO_ANVIL";

/// Where the pinned anvil lives relative to the repository root (`npm ci` installs it).
pub const ANVIL_NPM_PATH: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// Finds anvil: `$POCO_ANVIL`, the pinned npm package in this directory or any parent, or the
/// pinned package of the source tree this crate was built from.
pub fn anvil_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        return Ok(PathBuf::from(path));
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate = d.join(ANVIL_NPM_PATH);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent().map(PathBuf::from);
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(ANVIL_NPM_PATH);
    if built.is_file() {
        return Ok(built);
    }
    Err(Error::Anvil(format!(
        "no anvil binary found (looked for ${ANVIL_ENV} and {ANVIL_NPM_PATH})"
    )))
}

/// How many funded accounts the test anvil makes ([`spawn_anvil`]); anvil derives them from
/// its fixed mnemonic, so they are the same in every run.
pub const DEV_ACCOUNTS: usize = 20;

#[cfg(feature = "test-utils")]
/// Starts anvil on a free port with [`DEV_ACCOUNTS`] default funded accounts; `block_time` in seconds
/// gives real blocks, `None` mines one block per transaction.
pub fn spawn_anvil(block_time: Option<u64>) -> Result<AnvilInstance> {
    let mut anvil = Anvil::at(anvil_path()?)
        .port(0u16)
        .arg("--accounts")
        .arg(DEV_ACCOUNTS.to_string());
    if let Some(seconds) = block_time {
        anvil = anvil.block_time(seconds);
    }
    anvil.try_spawn().map_err(|e| Error::Anvil(e.to_string()))
}

#[cfg(feature = "test-utils")]
/// A local chain with poco deployed: anvil, a provider whose wallet holds anvil's default
/// accounts (the first one deployed poco and holds the RLC supply), and the deployment.
pub struct DevPoco {
    /// The running anvil (stopped when dropped).
    pub anvil: AnvilInstance,
    /// Sends transactions from any of `keys` (choose with `.from(address)`).
    pub provider: DynProvider,
    /// anvil's default accounts.
    pub keys: Vec<PrivateKeySigner>,
    /// The deployed contracts.
    pub deployment: Deployment,
}

#[cfg(feature = "test-utils")]
impl DevPoco {
    /// Starts anvil (one block per transaction) and deploys poco from its first account.
    pub async fn start() -> Result<Self> {
        Self::start_with_block_time(None).await
    }

    /// [`DevPoco::start`] with blocks every `block_time` seconds (`None`: one block per
    /// transaction).
    pub async fn start_with_block_time(block_time: Option<u64>) -> Result<Self> {
        let anvil = spawn_anvil(block_time)?;
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
        let mut wallet = EthereumWallet::new(keys[0].clone());
        for k in &keys[1..] {
            wallet.register_signer(k.clone());
        }
        let provider = ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(anvil.endpoint_url())
            .erased();
        let deployment = deploy_poco(&provider, keys[0].address(), None).await?;
        Ok(Self {
            anvil,
            provider,
            keys,
            deployment,
        })
    }

    /// The hub, bound to this chain.
    pub fn hub(&self) -> IPoco::IPocoInstance<&DynProvider> {
        IPoco::new(self.deployment.hub, &self.provider)
    }

    /// Gives each account `amount` nRLC from the deployer and deposits it in the hub.
    pub async fn fund(&self, accounts: &[Address], amount: U256) -> Result<()> {
        let rlc = RLC::new(self.deployment.token, &self.provider);
        let hub = self.hub();
        for &account in accounts {
            confirm(
                rlc.transfer(account, amount)
                    .from(self.keys[0].address())
                    .send()
                    .await,
                "RLC transfer",
            )
            .await?;
            confirm(
                rlc.approve(self.deployment.hub, amount)
                    .from(account)
                    .send()
                    .await,
                "RLC approve",
            )
            .await?;
            confirm(hub.deposit(amount).from(account).send().await, "deposit").await?;
        }
        Ok(())
    }

    /// Registers a WASM app owned by `owner` and returns its address.
    pub async fn create_app(
        &self,
        owner: Address,
        name: &str,
        multiaddr: &str,
        checksum: B256,
    ) -> Result<Address> {
        let apps = AppRegistry::new(self.deployment.app_registry, &self.provider);
        let call = apps
            .createApp(
                owner,
                name.into(),
                "WASM".into(),
                Bytes::copy_from_slice(multiaddr.as_bytes()),
                checksum,
                Bytes::new(),
            )
            .from(owner);
        let app = call.call().await.map_err(Error::rpc)?;
        confirm(call.send().await, "createApp").await?;
        Ok(app)
    }

    /// Registers a workerpool owned (scheduled) by `owner` and returns its address.
    pub async fn create_workerpool(&self, owner: Address, description: &str) -> Result<Address> {
        let pools = WorkerpoolRegistry::new(self.deployment.workerpool_registry, &self.provider);
        let call = pools
            .createWorkerpool(owner, description.into())
            .from(owner);
        let pool = call.call().await.map_err(Error::rpc)?;
        confirm(call.send().await, "createWorkerpool").await?;
        Ok(pool)
    }
}

#[cfg(feature = "test-utils")]
/// Waits for a sent transaction and fails when it reverted.
pub async fn confirm<N: alloy::network::Network>(
    sent: std::result::Result<PendingTransactionBuilder<N>, alloy::contract::Error>,
    what: &str,
) -> Result<N::ReceiptResponse> {
    let receipt = sent
        .map_err(Error::rpc)?
        .get_receipt()
        .await
        .map_err(Error::rpc)?;
    if !receipt.status() {
        return Err(Error::Reverted {
            what: what.into(),
            tx_hash: receipt.transaction_hash().to_string(),
            reason: None,
        });
    }
    Ok(receipt)
}
