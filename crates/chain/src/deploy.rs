//! Deployment of a full poco instance, in the order of `contracts/src/PocoDeployment.sol`:
//! token (unless one is given), registries, hub modules, hub, default categories.

use alloy::{
    network::{ReceiptResponse, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolConstructor,
};
use poco_types::Category;
use serde::{Deserialize, Serialize};

use crate::{
    artifacts::Artifact,
    bindings::{hub::IPoco, hub_constructor::Hub},
    Error, Result,
};

/// The callback gas budget set at deployment (iExec's documented 200,000).
pub const DEFAULT_CALLBACK_GAS: u64 = 200_000;

/// Addresses of a deployed poco instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The hub: the one address clients use.
    pub hub: Address,
    /// The RLC token.
    pub token: Address,
    /// The app registry.
    pub app_registry: Address,
    /// The dataset registry.
    pub dataset_registry: Address,
    /// The workerpool registry.
    pub workerpool_registry: Address,
}

/// Deploys poco with `owner` (the provider's sending account) as hub owner and, without a
/// `token`, a fresh RLC token whose whole supply goes to `owner`.
pub async fn deploy_poco<P: Provider>(
    provider: &P,
    owner: Address,
    token: Option<Address>,
) -> Result<Deployment> {
    let token = match token {
        Some(token) => token,
        None => deploy(provider, owner, Artifact::RLC, owner.abi_encode_word()).await?,
    };
    let app_registry = deploy(provider, owner, Artifact::AppRegistry, Bytes::new()).await?;
    let dataset_registry = deploy(provider, owner, Artifact::DatasetRegistry, Bytes::new()).await?;
    let workerpool_registry =
        deploy(provider, owner, Artifact::WorkerpoolRegistry, Bytes::new()).await?;
    let mut modules = Vec::new();
    for module in [
        Artifact::EscrowModule,
        Artifact::OrderModule,
        Artifact::TaskModule,
        Artifact::ViewModule,
    ] {
        modules.push(deploy(provider, owner, module, Bytes::new()).await?);
    }
    let args = Hub::constructorCall {
        config: Hub::Config {
            owner,
            token,
            appRegistry: app_registry,
            datasetRegistry: dataset_registry,
            workerpoolRegistry: workerpool_registry,
            callbackgas: U256::from(DEFAULT_CALLBACK_GAS),
        },
        modules,
    }
    .abi_encode();
    let hub = deploy(provider, owner, Artifact::Hub, args.into()).await?;

    let poco = IPoco::new(hub, provider);
    for category in Category::defaults() {
        let receipt = poco
            .createCategory(
                category.name.clone(),
                category.description.clone(),
                U256::from(category.work_clock_time_ref),
            )
            .from(owner)
            .send()
            .await
            .map_err(Error::rpc)?
            .get_receipt()
            .await
            .map_err(Error::rpc)?;
        if !receipt.status() {
            return Err(Error::Reverted {
                what: format!("createCategory({})", category.name),
                tx_hash: receipt.transaction_hash.to_string(),
                reason: None,
            });
        }
    }
    Ok(Deployment {
        hub,
        token,
        app_registry,
        dataset_registry,
        workerpool_registry,
    })
}

async fn deploy<P: Provider>(
    provider: &P,
    from: Address,
    artifact: Artifact,
    args: Bytes,
) -> Result<Address> {
    let mut code = artifact.bytecode()?.to_vec();
    code.extend_from_slice(&args);
    let tx = TransactionRequest::default()
        .from(from)
        .with_deploy_code(code);
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(Error::rpc)?
        .get_receipt()
        .await
        .map_err(Error::rpc)?;
    if !receipt.status() {
        return Err(Error::Reverted {
            what: format!("deploy {}", artifact.name()),
            tx_hash: receipt.transaction_hash.to_string(),
            reason: None,
        });
    }
    receipt
        .contract_address()
        .ok_or(Error::NoContract(artifact.name()))
}

trait AbiWord {
    fn abi_encode_word(&self) -> Bytes;
}

impl AbiWord for Address {
    fn abi_encode_word(&self) -> Bytes {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(self.as_slice());
        Bytes::copy_from_slice(&word)
    }
}
