//! The EIP-712 domain of the PoCo hub.

use crate::serde_util::checksummed;
use alloy_primitives::{b256, keccak256, Address, B256, U256};
use alloy_sol_types::Eip712Domain;
use serde::{Deserialize, Serialize};

/// The domain name used by every PoCo 5/6 deployment.
pub const DOMAIN_NAME: &str = "iExecODB";
/// The domain version used by every PoCo 5/6 deployment.
pub const DOMAIN_VERSION: &str = "5.0.0";
/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`.
pub const EIP712_DOMAIN_TYPEHASH: B256 =
    b256!("0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");

/// The EIP-712 domain: `EIP712Domain(string name,string version,uint256 chainId,address
/// verifyingContract)` with `verifyingContract` = the hub (diamond proxy).
///
/// Its JSON form is the one of `eth_signTypedData` and of the hub's `domain()` view:
/// `{"name":"iExecODB","version":"5.0.0","chainId":31337,"verifyingContract":"0x…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// `"iExecODB"` on every known deployment.
    pub name: String,
    /// `"5.0.0"` on every known deployment.
    pub version: String,
    /// The chain id (`block.chainid` when the hub was configured).
    pub chain_id: u64,
    /// The hub address.
    #[serde(with = "checksummed")]
    pub verifying_contract: Address,
}

impl Domain {
    /// The PoCo domain (`"iExecODB"`, `"5.0.0"`) of the hub `verifying_contract` on `chain_id`.
    pub fn new(chain_id: u64, verifying_contract: Address) -> Self {
        Self {
            name: DOMAIN_NAME.to_owned(),
            version: DOMAIN_VERSION.to_owned(),
            chain_id,
            verifying_contract,
        }
    }

    /// The domain as alloy's [`Eip712Domain`].
    pub fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(self.name.clone().into()),
            Some(self.version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The domain separator (the hub's `eip712domain_separator()`).
    pub fn separator(&self) -> B256 {
        self.eip712().separator()
    }

    /// The EIP-712 digest of a struct hash: `keccak256(0x1901 ‖ separator ‖ struct_hash)`.
    pub fn digest(&self, struct_hash: B256) -> B256 {
        let mut buf = [0u8; 66];
        buf[..2].copy_from_slice(&[0x19, 0x01]);
        buf[2..34].copy_from_slice(self.separator().as_slice());
        buf[34..].copy_from_slice(struct_hash.as_slice());
        keccak256(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use alloy_sol_types::SolValue;

    #[test]
    fn separator_matches_the_manual_encoding() {
        let domain = Domain::new(
            42161,
            address!("0x098bFCb1E50ebcA0BaA92C12eA0c3F045A1aD9f0"),
        );
        let manual = keccak256(
            (
                EIP712_DOMAIN_TYPEHASH,
                keccak256(DOMAIN_NAME),
                keccak256(DOMAIN_VERSION),
                U256::from(42161),
                domain.verifying_contract,
            )
                .abi_encode(),
        );
        assert_eq!(domain.separator(), manual);
        assert_eq!(
            keccak256(
                "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
            ),
            EIP712_DOMAIN_TYPEHASH
        );
    }

    #[test]
    fn json_form() {
        let domain = Domain::new(
            31337,
            address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        );
        let json = serde_json::to_string(&domain).unwrap();
        assert_eq!(
            json,
            r#"{"name":"iExecODB","version":"5.0.0","chainId":31337,"verifyingContract":"0x5FbDB2315678afecb367f032d93F642f64180aa3"}"#
        );
        assert_eq!(serde_json::from_str::<Domain>(&json).unwrap(), domain);
    }
}
