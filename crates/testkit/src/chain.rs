//! anvil with poco deployed and the roles' accounts funded.

use std::time::Duration;

use alloy::{
    primitives::{keccak256, Address, B256, U256},
    providers::{ext::AnvilApi, DynProvider, Provider},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use poco_chain::{devchain::DevPoco, ClientConfig, Deployment, PocoClient};
use poco_types::{Domain, Order, SignedOrder};

use crate::{Error, Orders, Result, Role, RLC};

/// What [`Chain::start`] deposits in the hub for each funded role: 1,000 RLC.
pub const STAKE: u64 = 1_000 * RLC;

/// anvil with poco deployed by [`Role::Admin`]; stopped when dropped.
pub struct Chain {
    /// The running chain and its deployment (its provider sends from any role's account).
    pub dev: DevPoco,
    /// The chain's id.
    pub chain_id: u64,
    /// The EIP-712 domain orders are signed in.
    pub domain: Domain,
}

impl Chain {
    /// The roles [`Chain::start`] funds: everyone the suites have needed a deposit for.
    pub const FUNDED: [Role; 10] = [
        Role::AppOwner,
        Role::Scheduler,
        Role::Requester,
        Role::DatasetOwner,
        Role::Worker(0),
        Role::Worker(1),
        Role::Worker(2),
        Role::Worker(3),
        Role::Other(0),
        Role::Other(1),
    ];

    /// Starts anvil, deploys poco and deposits [`STAKE`] for each of [`Chain::FUNDED`].
    pub async fn start() -> Result<Self> {
        let chain = Self::start_unfunded().await?;
        chain.fund(&Self::FUNDED, STAKE).await?;
        Ok(chain)
    }

    /// Starts anvil and deploys poco; nobody but the admin holds RLC.
    pub async fn start_unfunded() -> Result<Self> {
        Self::start_unfunded_with(None).await
    }

    /// [`Chain::start_unfunded`] with blocks every `block_time` seconds (`None`: one block
    /// per transaction).
    pub async fn start_unfunded_with(block_time: Option<u64>) -> Result<Self> {
        let dev = DevPoco::start_with_block_time(block_time).await?;
        let chain_id = dev
            .provider
            .get_chain_id()
            .await
            .map_err(|e| Error::Rpc(e.to_string()))?;
        let domain = Domain::new(chain_id, dev.deployment.hub);
        Ok(Self {
            dev,
            chain_id,
            domain,
        })
    }

    /// The key of `role`.
    pub fn key(&self, role: Role) -> &PrivateKeySigner {
        &self.dev.keys[role.index()]
    }

    /// The address of `role`.
    pub fn address(&self, role: Role) -> Address {
        self.key(role).address()
    }

    /// anvil's HTTP endpoint.
    pub fn endpoint(&self) -> String {
        self.dev.anvil.endpoint()
    }

    /// The hub's address.
    pub fn hub(&self) -> Address {
        self.dev.deployment.hub
    }

    /// The deployed contracts.
    pub fn deployment(&self) -> &Deployment {
        &self.dev.deployment
    }

    /// A provider that sends from any role's account (choose with `.from(address)`).
    pub fn provider(&self) -> &DynProvider {
        &self.dev.provider
    }

    /// A hub client sending from `role`'s account.
    pub async fn client(&self, role: Role) -> Result<PocoClient> {
        self.client_with(role, |_| {}).await
    }

    /// A hub client sending from `role`'s account, its configuration changed by `change`.
    pub async fn client_with(
        &self,
        role: Role,
        change: impl FnOnce(&mut ClientConfig),
    ) -> Result<PocoClient> {
        let mut config = ClientConfig::new(self.endpoint(), self.hub());
        change(&mut config);
        Ok(PocoClient::connect(config, Some(self.key(role).clone())).await?)
    }

    /// Gives each of `roles` `amount` nRLC from the admin, deposited in the hub.
    pub async fn fund(&self, roles: &[Role], amount: u64) -> Result<()> {
        let accounts: Vec<Address> = roles.iter().map(|&r| self.address(r)).collect();
        Ok(self.dev.fund(&accounts, U256::from(amount)).await?)
    }

    /// Registers a WASM app of `owner` and returns its address.
    pub async fn create_app(
        &self,
        owner: Role,
        name: &str,
        multiaddr: &str,
        checksum: B256,
    ) -> Result<Address> {
        Ok(self
            .dev
            .create_app(self.address(owner), name, multiaddr, checksum)
            .await?)
    }

    /// Registers a dataset of `owner` and returns its address.
    pub async fn create_dataset(
        &self,
        owner: Role,
        name: &str,
        multiaddr: &str,
        checksum: B256,
    ) -> Result<Address> {
        Ok(self
            .client(owner)
            .await?
            .create_dataset(name, multiaddr, checksum)
            .await?)
    }

    /// Registers a workerpool of `owner` and returns its address.
    pub async fn create_workerpool(&self, owner: Role, description: &str) -> Result<Address> {
        Ok(self
            .dev
            .create_workerpool(self.address(owner), description)
            .await?)
    }

    /// Order builders in this chain's domain, with salts of their own.
    pub fn orders(&self) -> Orders {
        Orders::new(self.domain.clone())
    }

    /// `order` signed by `role` in this chain's domain.
    pub fn sign<O: Order>(&self, role: Role, order: O) -> Result<SignedOrder<O>> {
        order
            .sign(&self.domain, self.key(role))
            .map_err(|e| Error::Sign(e.to_string()))
    }

    /// Moves the chain's clock `seconds` ahead and mines a block.
    pub async fn advance(&self, seconds: u64) -> Result<()> {
        let rpc = |e: alloy::transports::TransportError| Error::Rpc(e.to_string());
        self.dev
            .provider
            .anvil_increase_time(seconds)
            .await
            .map_err(rpc)?;
        self.dev.provider.evm_mine(None).await.map_err(rpc)?;
        Ok(())
    }

    /// Sets `worker`'s score in the hub's storage (its weight in the consensus rule, as if
    /// earned) and reads it back through `viewScore`.
    pub async fn set_score(&self, worker: Address, score: u64) -> Result<()> {
        // The hub's ERC-7201 namespace (`PocoStorage.SLOT`), the index of the `accounts`
        // mapping in its layout, and an account's word: balance | frozen << 96 | score << 192.
        const STORAGE: B256 = B256::new(alloy::primitives::hex!(
            "a8395040508cec780b72b7eef305f639b1f200ca7cb05d81e256702f73e2c500"
        ));
        const ACCOUNTS_FIELD: u64 = 11;
        let rpc = |e: alloy::transports::TransportError| Error::Rpc(e.to_string());
        let hub = self.dev.deployment.hub;
        let base = U256::from_be_bytes(STORAGE.0) + U256::from(ACCOUNTS_FIELD);
        let slot = U256::from_be_bytes(keccak256((worker, base).abi_encode()).0);
        let provider = &self.dev.provider;
        let word = provider.get_storage_at(hub, slot).await.map_err(rpc)?;
        let low = (U256::from(1) << 192) - U256::from(1);
        let word = (word & low) | (U256::from(score) << 192);
        provider
            .anvil_set_storage_at(hub, slot, B256::from(word))
            .await
            .map_err(rpc)?;
        let read = self
            .client(Role::Admin)
            .await?
            .hub()
            .viewScore(worker)
            .call()
            .await
            .map_err(|e| poco_chain::Error::call("viewScore", e))?;
        if read != U256::from(score) {
            return Err(Error::Rpc(format!(
                "the score set in the hub's storage reads back as {read}, not {score}: the \
                 accounts slot of PocoStorage moved; update ACCOUNTS_FIELD in Chain::set_score"
            )));
        }
        Ok(())
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64> {
        self.dev
            .provider
            .get_block_number()
            .await
            .map_err(|e| Error::Rpc(e.to_string()))
    }

    /// How long the services of the kit wait between looks at the chain.
    pub const POLL: Duration = Duration::from_millis(100);
}
