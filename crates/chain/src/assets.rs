//! Typed reads of the three asset registries: whether an app, dataset or workerpool exists, and
//! what it is. An address no registry knows is [`Error::UnknownAsset`], which names the kind,
//! the address and the chain, instead of the hub's bare revert. Also an owner's assets by index
//! and a workerpool's policy change.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    rpc::types::TransactionReceipt,
};

use crate::{
    bindings::{registry::IAssetRegistry, workerpool::Workerpool},
    Error, PocoClient, Result,
};

/// The three kinds of assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetKind {
    /// An application (`AppRegistry`).
    App,
    /// A dataset (`DatasetRegistry`).
    Dataset,
    /// A workerpool (`WorkerpoolRegistry`).
    Workerpool,
}

impl AssetKind {
    /// `app`, `dataset` or `workerpool`.
    pub fn name(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Dataset => "dataset",
            Self::Workerpool => "workerpool",
        }
    }
}

impl std::fmt::Display for AssetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An app as its registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppView {
    /// Its address.
    pub address: Address,
    /// Its owner.
    pub owner: Address,
    /// Its name.
    pub name: String,
    /// Its type (`WASM`, `DOCKER`).
    pub kind: String,
    /// Where workers fetch it.
    pub multiaddr: String,
    /// The sha256 of its bytes.
    pub checksum: B256,
    /// Its enclave measurement (empty for non-TEE apps).
    pub mrenclave: Bytes,
}

/// A dataset as its registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetView {
    /// Its address.
    pub address: Address,
    /// Its owner.
    pub owner: Address,
    /// Its name.
    pub name: String,
    /// Where workers fetch it.
    pub multiaddr: String,
    /// The sha256 of its bytes.
    pub checksum: B256,
}

/// A workerpool as its registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerpoolView {
    /// Its address.
    pub address: Address,
    /// Its owner (the scheduler's wallet).
    pub owner: Address,
    /// Its description.
    pub description: String,
    /// The stake a worker puts on each contribution, in percent of the workerpool price.
    pub worker_stake_ratio: U256,
    /// The scheduler's share of the workerpool price, in percent.
    pub scheduler_reward_ratio: U256,
}

impl PocoClient {
    /// The registry of a kind of asset.
    pub fn registry(&self, kind: AssetKind) -> Address {
        let d = self.deployment();
        match kind {
            AssetKind::App => d.app_registry,
            AssetKind::Dataset => d.dataset_registry,
            AssetKind::Workerpool => d.workerpool_registry,
        }
    }

    /// Whether `address` is an asset of `kind` of this deployment.
    pub async fn is_registered(&self, kind: AssetKind, address: Address) -> Result<bool> {
        IAssetRegistry::new(self.registry(kind), self.provider())
            .isRegistered(address)
            .call()
            .await
            .map_err(|e| self.call_error("isRegistered", e))
    }

    /// Fails with [`Error::UnknownAsset`] when `address` is no asset of `kind`.
    pub async fn require_asset(&self, kind: AssetKind, address: Address) -> Result<()> {
        if self.is_registered(kind, address).await? {
            Ok(())
        } else {
            Err(Error::UnknownAsset {
                kind,
                address,
                chain_id: self.chain_id(),
            })
        }
    }

    /// An app; [`Error::UnknownAsset`] when there is none at `address`.
    pub async fn view_app(&self, address: Address) -> Result<AppView> {
        self.require_asset(AssetKind::App, address).await?;
        let a = self
            .hub()
            .viewApp(address)
            .call()
            .await
            .map_err(|e| self.call_error("viewApp", e))?;
        Ok(AppView {
            address,
            owner: a.owner,
            name: a.m_appName,
            kind: a.m_appType,
            multiaddr: String::from_utf8_lossy(&a.m_appMultiaddr).into_owned(),
            checksum: a.m_appChecksum,
            mrenclave: a.m_appMREnclave,
        })
    }

    /// A dataset; [`Error::UnknownAsset`] when there is none at `address`.
    pub async fn view_dataset(&self, address: Address) -> Result<DatasetView> {
        self.require_asset(AssetKind::Dataset, address).await?;
        let d = self
            .hub()
            .viewDataset(address)
            .call()
            .await
            .map_err(|e| self.call_error("viewDataset", e))?;
        Ok(DatasetView {
            address,
            owner: d.owner,
            name: d.m_datasetName,
            multiaddr: String::from_utf8_lossy(&d.m_datasetMultiaddr).into_owned(),
            checksum: d.m_datasetChecksum,
        })
    }

    /// A workerpool; [`Error::UnknownAsset`] when there is none at `address`.
    pub async fn view_workerpool(&self, address: Address) -> Result<WorkerpoolView> {
        self.require_asset(AssetKind::Workerpool, address).await?;
        let w = self
            .hub()
            .viewWorkerpool(address)
            .call()
            .await
            .map_err(|e| self.call_error("viewWorkerpool", e))?;
        Ok(WorkerpoolView {
            address,
            owner: w.owner,
            description: w.m_workerpoolDescription,
            worker_stake_ratio: w.m_workerStakeRatioPolicy,
            scheduler_reward_ratio: w.m_schedulerRewardRatioPolicy,
        })
    }

    /// How many assets of `kind` `owner` holds (the registry's `balanceOf`).
    pub async fn asset_count(&self, kind: AssetKind, owner: Address) -> Result<U256> {
        IAssetRegistry::new(self.registry(kind), self.provider())
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| self.call_error("balanceOf", e))
    }

    /// The asset of `kind` at `index` among `owner`'s (the registry's `tokenOfOwnerByIndex`;
    /// indexes start at 0 and stop before [`PocoClient::asset_count`]).
    pub async fn asset_of_owner(
        &self,
        kind: AssetKind,
        owner: Address,
        index: U256,
    ) -> Result<Address> {
        let id = IAssetRegistry::new(self.registry(kind), self.provider())
            .tokenOfOwnerByIndex(owner, index)
            .call()
            .await
            .map_err(|e| self.call_error("tokenOfOwnerByIndex", e))?;
        Ok(Address::from_word(B256::from(id)))
    }

    /// Changes a workerpool's policy (`changePolicy`, sent by its owner): the stake a worker
    /// puts on each contribution and the scheduler's share of the price, both in percent.
    pub async fn change_policy(
        &self,
        workerpool: Address,
        worker_stake_ratio: U256,
        scheduler_reward_ratio: U256,
    ) -> Result<TransactionReceipt> {
        let contract = Workerpool::new(workerpool, self.provider());
        let call = contract.changePolicy(worker_stake_ratio, scheduler_reward_ratio);
        self.send(call.into_transaction_request(), "changePolicy")
            .await
    }

    /// [`Error::call`] with this client's RPC URL on transport failures.
    pub(crate) fn call_error(&self, what: &str, e: alloy::contract::Error) -> Error {
        match Error::call(what, e) {
            Error::Unreachable { url, reason } if url.is_empty() => Error::Unreachable {
                url: self.rpc_url().to_string(),
                reason,
            },
            other => other,
        }
    }
}
