//! The market's sign-in: what a challenge says, how it is hashed, and what it authorizes.

use std::collections::BTreeMap;

use alloy::{
    primitives::B256,
    sol,
    sol_types::{eip712_domain, SolStruct},
};
use poco_types::OrderKind;
use serde::{Deserialize, Serialize};

/// The text before the random part of a challenge.
pub const CHALLENGE_PREFIX: &str = "Sign this message to log into iExec Gateway: ";

sol! {
    /// The EIP-712 struct of the market sign-in.
    struct Challenge {
        string challenge;
    }
}

/// The EIP-712 digest of a challenge text on `chain_id` (domain `iExec Gateway`, version 1).
pub fn challenge_hash(chain_id: u64, text: &str) -> B256 {
    let domain = eip712_domain! {
        name: "iExec Gateway",
        version: "1",
        chain_id: chain_id,
    };
    Challenge {
        challenge: text.to_owned(),
    }
    .eip712_signing_hash(&domain)
}

/// What a sign-in authorizes: `GET /challenge?action=…` binds the challenge to one action, and
/// the signed challenge then authorizes that action only. A challenge asked without `action`
/// (as iExec's SDK does) authorizes any one publish or unpublish of its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `publish:<orderHash>`: publishing that order.
    Publish(B256),
    /// `unpublish:<orderHash>`: unpublishing that order.
    Unpublish(B256),
    /// `unpublish_last:<type>`: unpublishing the caller's last order of that type.
    UnpublishLast(OrderKind),
    /// `unpublish_all:<type>`: unpublishing all the caller's orders of that type.
    UnpublishAll(OrderKind),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Publish(h) => write!(f, "publish:{h}"),
            Self::Unpublish(h) => write!(f, "unpublish:{h}"),
            Self::UnpublishLast(k) => write!(f, "unpublish_last:{}", k.key()),
            Self::UnpublishAll(k) => write!(f, "unpublish_all:{}", k.key()),
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "action: {s:?} is not publish:<orderHash>, unpublish:<orderHash>, \
                 unpublish_last:<type> or unpublish_all:<type> (type: apporder, datasetorder, \
                 workerpoolorder or requestorder)"
            )
        };
        let (verb, object) = s.split_once(':').ok_or_else(usage)?;
        let hash = || object.parse::<B256>().map_err(|_| usage());
        let kind = || {
            OrderKind::ALL
                .into_iter()
                .find(|k| k.key() == object)
                .ok_or_else(usage)
        };
        match verb {
            "publish" => Ok(Self::Publish(hash()?)),
            "unpublish" => Ok(Self::Unpublish(hash()?)),
            "unpublish_last" => Ok(Self::UnpublishLast(kind()?)),
            "unpublish_all" => Ok(Self::UnpublishAll(kind()?)),
            _ => Err(usage()),
        }
    }
}

/// The text of a challenge: the iExec prefix, the random part, and the action it is bound to.
pub fn challenge_text(random: &str, action: Option<Action>) -> String {
    match action {
        None => format!("{CHALLENGE_PREFIX}{random}"),
        Some(action) => format!("{CHALLENGE_PREFIX}{random}{}", bound_suffix(action)),
    }
}

/// The suffix a challenge bound to `action` ends with (what [`crate::MarketClient`] checks).
pub fn bound_suffix(action: Action) -> String {
    format!(" (only to {action})")
}

/// One field of an EIP-712 struct type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypedField {
    /// The field's name.
    pub name: String,
    /// Its Solidity type.
    #[serde(rename = "type")]
    pub kind: String,
}

impl TypedField {
    fn new(name: &str, kind: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
        }
    }
}

/// The EIP-712 domain of a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChallengeDomain {
    /// `iExec Gateway`.
    pub name: String,
    /// `1`.
    pub version: String,
    /// The market's chain.
    pub chain_id: u64,
}

/// The message of a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeMessage {
    /// The text to sign.
    pub challenge: String,
}

/// A challenge as typed data, the way `eth_signTypedData_v4` takes it (`GET /challenge`'s
/// `data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChallengeData {
    /// The struct types: `EIP712Domain` and `Challenge`.
    pub types: BTreeMap<String, Vec<TypedField>>,
    /// The domain.
    pub domain: ChallengeDomain,
    /// `Challenge`.
    pub primary_type: String,
    /// The challenge text.
    pub message: ChallengeMessage,
}

impl ChallengeData {
    /// The typed data of the challenge `text` on `chain_id`.
    pub fn new(chain_id: u64, text: &str) -> Self {
        let types = BTreeMap::from([
            (
                "EIP712Domain".to_owned(),
                vec![
                    TypedField::new("name", "string"),
                    TypedField::new("version", "string"),
                    TypedField::new("chainId", "uint256"),
                ],
            ),
            (
                "Challenge".to_owned(),
                vec![TypedField::new("challenge", "string")],
            ),
        ]);
        Self {
            types,
            domain: ChallengeDomain {
                name: "iExec Gateway".into(),
                version: "1".into(),
                chain_id,
            },
            primary_type: "Challenge".into(),
            message: ChallengeMessage {
                challenge: text.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_what_they_write() {
        let hash = B256::repeat_byte(0xab);
        for action in [
            Action::Publish(hash),
            Action::Unpublish(hash),
            Action::UnpublishLast(OrderKind::Workerpool),
            Action::UnpublishAll(OrderKind::Request),
        ] {
            assert_eq!(action.to_string().parse::<Action>(), Ok(action));
        }
        assert_eq!(
            Action::UnpublishAll(OrderKind::App).to_string(),
            "unpublish_all:apporder"
        );
        for bad in [
            "publish",
            "publish:0x12",
            "unpublish_all:app",
            "drop:apporder",
            "",
        ] {
            assert!(bad.parse::<Action>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bound_challenges_end_with_their_action() {
        let action = Action::Unpublish(B256::repeat_byte(2));
        assert!(challenge_text("abc", Some(action)).ends_with(&bound_suffix(action)));
        assert_eq!(
            challenge_text("abc", None),
            format!("{CHALLENGE_PREFIX}abc")
        );
    }

    #[test]
    fn typed_data_has_the_wallet_shape() {
        let data = serde_json::to_value(ChallengeData::new(65535, "hi")).unwrap();
        assert_eq!(data["primaryType"], "Challenge");
        assert_eq!(data["domain"]["chainId"], 65535);
        assert_eq!(data["message"]["challenge"], "hi");
        assert_eq!(data["types"]["Challenge"][0]["type"], "string");
        assert_eq!(data["types"]["EIP712Domain"][2]["name"], "chainId");
    }
}
