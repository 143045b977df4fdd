//! poco-requester against a real anvil: the checks before money moves refuse without sending
//! anything (the nonce does not move), and a match is found again in the hub's logs.

mod events;
mod plan;

use alloy::{
    network::TransactionBuilder, primitives::U256, providers::Provider,
    rpc::types::TransactionRequest, signers::local::PrivateKeySigner,
};
use poco_chain::{devchain::DevPoco, ClientConfig, PocoClient};
use poco_types::NRLC_PER_RLC;

/// One RLC in nRLC.
pub(crate) const RLC: u64 = NRLC_PER_RLC;

/// A client sending from the deployer (who holds the RLC supply).
pub(crate) async fn admin(dev: &DevPoco) -> eyre::Result<PocoClient> {
    Ok(PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(dev.keys[0].clone()),
    )
    .await?)
}

/// A new wallet with 10 ETH and `rlc` RLC in its wallet (none deposited), and a client
/// sending from it.
pub(crate) async fn funded_client(dev: &DevPoco, rlc: u64) -> eyre::Result<PocoClient> {
    let signer = PrivateKeySigner::random();
    let admin = admin(dev).await?;
    let eth = TransactionRequest::default()
        .with_to(signer.address())
        .with_value(U256::from(10u128 * 10u128.pow(18)));
    admin.send(eth, "ether transfer").await?;
    let token = admin.token();
    let call = token.transfer(signer.address(), U256::from(rlc * RLC));
    admin
        .send(call.into_transaction_request(), "RLC transfer")
        .await?;
    Ok(PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(signer),
    )
    .await?)
}

/// The number of transactions the client's account sent.
pub(crate) async fn nonce(client: &PocoClient) -> eyre::Result<u64> {
    Ok(client
        .provider()
        .get_transaction_count(client.sender()?)
        .await?)
}
