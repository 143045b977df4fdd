//! Serde helpers for the JSON forms used by the iExec SDK and market API.
//!
//! * `uint256` values are written as decimal strings and read from decimal strings, `0x` hex
//!   strings or JSON integers;
//! * addresses are written checksummed (EIP-55) and read in any case, a mixed-case address
//!   having to carry a valid checksum;
//! * tags are written as 32-byte hex and read as hex, names (`"tee,tdx"`) or an array of names.

use alloy_primitives::{Address, U256};
use core::{fmt, str::FromStr};
use serde::{de, Deserializer, Serializer};

/// Parses a non-negative integer written in decimal or `0x` hex.
pub(crate) fn parse_u256(s: &str) -> Result<U256, String> {
    let s = s.trim();
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "invalid uint256 {s:?}: expected decimal digits or 0x and hex digits"
        ));
    }
    let parsed = U256::from_str_radix(digits, radix as u64);
    parsed.map_err(|e| format!("invalid uint256 {s:?}: {e}"))
}

/// Parses an address; a mixed-case address must carry a valid EIP-55 checksum.
pub(crate) fn parse_address(s: &str) -> Result<Address, String> {
    let s = s.trim();
    let body = s.strip_prefix("0x").unwrap_or(s);
    let mixed = body.chars().any(|c| c.is_ascii_lowercase())
        && body.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(s, None).map_err(|e| {
            format!("invalid address {s:?}: {e} (write it all lowercase or with a valid checksum)")
        })
    } else {
        Address::from_str(s).map_err(|e| format!("invalid address {s:?}: {e}"))
    }
}

/// `uint256` as a decimal string; reads strings (decimal or hex) and JSON integers.
pub(crate) mod u256_dec {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        d.deserialize_any(U256Visitor)
    }

    struct U256Visitor;

    impl de::Visitor<'_> for U256Visitor {
        type Value = U256;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer, as a JSON number or a decimal or 0x-hex string")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<U256, E> {
            Ok(U256::from(v))
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<U256, E> {
            Ok(U256::from(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<U256, E> {
            u64::try_from(v)
                .map(U256::from)
                .map_err(|_| E::custom("uint256 cannot be negative"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<U256, E> {
            // Integers above 2^53 lose precision in a JSON number: require a string for them.
            const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&v) {
                Ok(U256::from(v as u64))
            } else {
                Err(E::custom(format!(
                    "{v} is not an exact non-negative integer: write large amounts as strings"
                )))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<U256, E> {
            parse_u256(v).map_err(E::custom)
        }
    }
}

/// `u64` written as a JSON number; read from a number or a decimal/hex string.
pub(crate) mod u64_lenient {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = u256_dec::deserialize(d)?;
        u64::try_from(v).map_err(|_| de::Error::custom(format!("{v} does not fit in 64 bits")))
    }
}

/// Address written checksummed; read in any case (mixed case must be a valid checksum).
pub(crate) mod checksummed {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_checksum(None))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        struct AddressVisitor;

        impl de::Visitor<'_> for AddressVisitor {
            type Value = Address;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 0x-prefixed 20-byte hex address")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                parse_address(v).map_err(E::custom)
            }
        }

        d.deserialize_str(AddressVisitor)
    }
}

/// A `bytes32` tag: written as 32-byte hex, read as hex, names or an array of names.
pub(crate) mod tag_b256 {
    use super::*;
    use crate::Tag;
    use alloy_primitives::B256;
    use serde::{Deserialize, Serialize};

    pub(crate) fn serialize<S: Serializer>(v: &B256, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
        Tag::deserialize(d).map(|t| t.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u256_forms() {
        assert_eq!(
            parse_u256("1000000000").unwrap(),
            U256::from(1_000_000_000u64)
        );
        assert_eq!(parse_u256("0x10").unwrap(), U256::from(16));
        assert!(parse_u256("-1").is_err());
        assert!(parse_u256("1.5").is_err());
        assert!(parse_u256("").is_err());
        assert!(parse_u256("0x").is_err());
        assert!(parse_u256("1_000").is_err());
        assert!(parse_u256(&format!("1{}", "0".repeat(78))).is_err()); // > 2^256
    }

    #[test]
    fn address_checksum_rules() {
        let good = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        assert_eq!(
            parse_address(good).unwrap(),
            parse_address(&good.to_lowercase()).unwrap()
        );
        assert!(parse_address(&good.to_uppercase().replace("0X", "0x")).is_ok());
        // One letter's case flipped: a broken checksum is refused.
        let bad = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8";
        let err = parse_address(bad).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(parse_address("0x1234").is_err());
    }
}
