//! What the SMS's chain tests share: anvil with poco, a dataset and an app owned by one account,
//! and an SMS configuration in a temporary folder.

use std::net::SocketAddr;

use alloy::primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use poco_chain::{devchain::DevPoco, ClientConfig, PocoClient};
use poco_sms::SmsConfig;

/// A chain with a dataset and an app of `owner`.
pub(crate) struct Chain {
    pub(crate) dev: DevPoco,
    pub(crate) owner: PrivateKeySigner,
    pub(crate) stranger: PrivateKeySigner,
    pub(crate) dataset: Address,
    pub(crate) app: Address,
}

impl Chain {
    pub(crate) async fn start() -> Self {
        let dev = DevPoco::start().await.unwrap();
        let (owner, stranger) = (dev.keys[1].clone(), dev.keys[2].clone());
        let client = PocoClient::connect(
            ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
            Some(owner.clone()),
        )
        .await
        .unwrap();
        let dataset = client
            .create_dataset(
                "weights",
                "https://example.invalid/w.enc",
                B256::repeat_byte(1),
            )
            .await
            .unwrap();
        let app = dev
            .create_app(
                owner.address(),
                "infer",
                "https://example.invalid/a.wasm",
                B256::repeat_byte(2),
            )
            .await
            .unwrap();
        Self {
            dev,
            owner,
            stranger,
            dataset,
            app,
        }
    }

    /// An SMS of this chain with its database and key file in `dir`, on a free port.
    pub(crate) fn sms_config(&self, dir: &std::path::Path) -> SmsConfig {
        let mut config = SmsConfig::new(self.dev.anvil.endpoint(), self.dev.deployment.hub);
        config.database_url = format!("sqlite://{}?mode=rwc", dir.join("sms.db").display());
        config.key_file = dir.join("sms.key");
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
