//! poco-requester against a real anvil: the checks before money moves refuse without sending
//! anything (the nonce does not move), a match is found again in the hub's logs, and the hub's
//! logs are read in chunks from a node that limits the range of one request.

mod events;
mod limited;
mod plan;

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use poco_chain::{devchain::DevPoco, AppSpec, ClientConfig, PocoClient};
use poco_types::NRLC_PER_RLC;

/// One RLC in nRLC.
pub(crate) const RLC: u64 = NRLC_PER_RLC;

/// A client sending from anvil's account `index` (the deployer, who holds the RLC supply, is
/// 0; the others have ETH and no RLC).
pub(crate) async fn client_of(dev: &DevPoco, index: usize) -> eyre::Result<PocoClient> {
    Ok(PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(dev.keys[index].clone()),
    )
    .await?)
}

/// A client sending from the deployer.
pub(crate) async fn admin(dev: &DevPoco) -> eyre::Result<PocoClient> {
    client_of(dev, 0).await
}

/// Gives `client` `amount` nRLC from the deployer, which it deposits in the hub.
pub(crate) async fn deposit(dev: &DevPoco, client: &PocoClient, amount: U256) -> eyre::Result<()> {
    let admin = admin(dev).await?;
    let token = admin.token();
    let call = token.transfer(client.sender()?, amount);
    admin
        .send(call.into_transaction_request(), "RLC transfer")
        .await?;
    client.deposit(amount).await?;
    Ok(())
}

/// The number of transactions the client's account sent.
pub(crate) async fn nonce(client: &PocoClient) -> eyre::Result<u64> {
    Ok(client
        .provider()
        .get_transaction_count(client.sender()?)
        .await?)
}

/// A registered app of `owner`'s (its checksum made of `byte`).
pub(crate) async fn registered_app(
    owner: &PocoClient,
    name: &str,
    byte: u8,
) -> eyre::Result<Address> {
    Ok(owner
        .create_app(&AppSpec {
            name: name.into(),
            kind: "WASM".into(),
            multiaddr: format!("https://example.org/{name}.wasm"),
            checksum: B256::repeat_byte(byte),
            mrenclave: Default::default(),
        })
        .await?)
}
