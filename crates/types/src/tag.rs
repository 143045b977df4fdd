//! Order tags: a `bytes32` bit field of required (or, in a workerpool order, offered) features.
//!
//! Bit 0 is the least significant bit of byte 31. The named bits follow the iExec SDK's
//! `TAG_MAP`: `tee` (0), `scone` (1), `gramine` (2), `tdx` (3) and `gpu` (8). The contracts
//! only give a meaning to bit 0 (TEE); every other bit is a plain subset condition: the
//! workerpool must offer every bit that the app, dataset and request orders ask for.

use crate::{Error, Result};
use alloy_primitives::B256;
use core::{
    fmt,
    ops::{BitAnd, BitOr, BitOrAssign, Not},
    str::FromStr,
};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A `bytes32` tag. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub B256);

/// The named bits, in display order.
const NAMES: [(&str, u8); 5] = [
    ("tee", 0),
    ("scone", 1),
    ("gramine", 2),
    ("tdx", 3),
    ("gpu", 8),
];

impl Tag {
    /// No feature required.
    pub const NONE: Self = Self(B256::ZERO);
    /// Bit 0: a trusted execution environment is required (enclave challenge mandatory).
    pub const TEE: Self = Self::bit(0);
    /// Bit 1: the SGX Scone framework (legacy).
    pub const SCONE: Self = Self::bit(1);
    /// Bit 2: the SGX Gramine framework (legacy).
    pub const GRAMINE: Self = Self::bit(2);
    /// Bit 3: Intel TDX.
    pub const TDX: Self = Self::bit(3);
    /// Bit 8: a GPU (an SDK convention, not checked by the contracts).
    pub const GPU: Self = Self::bit(8);

    /// The tag with only bit `n` set (bit 0 = least significant bit of byte 31).
    pub const fn bit(n: u8) -> Self {
        let mut bytes = [0u8; 32];
        bytes[31 - (n / 8) as usize] = 1 << (n % 8);
        Self(B256::new(bytes))
    }

    /// Builds a tag from bit indexes.
    pub fn from_bits(bits: impl IntoIterator<Item = u8>) -> Self {
        bits.into_iter()
            .fold(Self::NONE, |tag, n| tag | Self::bit(n))
    }

    /// The indexes of the bits that are set, in increasing order.
    pub fn bits(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(move |&n| self.has_bit(n))
    }

    /// Whether bit `n` is set.
    pub const fn has_bit(&self, n: u8) -> bool {
        self.0 .0[31 - (n / 8) as usize] & (1 << (n % 8)) != 0
    }

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(&self, other: Self) -> bool {
        *self & other == other
    }

    /// Whether every bit of `self` is set in `offer` (the `matchOrders` check `0x06`:
    /// `tag & ~workerpool.tag == 0`).
    pub fn is_subset_of(&self, offer: Self) -> bool {
        offer.contains(*self)
    }

    /// Whether the TEE bit (0) is set.
    pub const fn is_tee(&self) -> bool {
        self.has_bit(0)
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_zero()
    }

    /// The names of the set bits, or `None` if a set bit has no name.
    pub fn names(&self) -> Option<Vec<&'static str>> {
        let named = Self::from_bits(NAMES.iter().map(|(_, n)| *n));
        (*self & !named).is_empty().then(|| {
            NAMES
                .iter()
                .filter(|(_, n)| self.has_bit(*n))
                .map(|(s, _)| *s)
                .collect()
        })
    }

    /// Checks the SDK rule on TEE frameworks: at most one of scone, gramine and tdx, and only
    /// together with tee.
    pub fn check_tee_framework(&self) -> Result<()> {
        let frameworks = [Self::SCONE, Self::GRAMINE, Self::TDX];
        let count = frameworks.iter().filter(|f| self.contains(**f)).count();
        let reason = if count > 1 {
            "the TEE frameworks scone, gramine and tdx are mutually exclusive"
        } else if count == 1 && !self.is_tee() {
            "a TEE framework bit needs the tee bit"
        } else {
            return Ok(());
        };
        Err(Error::TeeFramework {
            tag: self.to_string(),
            reason,
        })
    }

    fn parse_err(input: &str, reason: impl Into<String>) -> Error {
        Error::Tag {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }

    fn from_name(input: &str, name: &str) -> Result<Self> {
        let name = name.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(s, _)| *s == name)
            .map(|(_, n)| Self::bit(*n))
            .ok_or_else(|| Self::parse_err(input, format!("unknown tag name {name:?}")))
    }
}

impl FromStr for Tag {
    type Err = Error;

    /// Parses `"tee,tdx,gpu"` (names, any case, spaces allowed), `""` (no tag), or a
    /// `0x`-prefixed hex value of up to 64 digits (left-padded, so `"0x9"` is TEE + TDX).
    fn from_str(input: &str) -> Result<Self> {
        let s = input.trim();
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            if hex.is_empty() || hex.len() > 64 {
                return Err(Self::parse_err(input, "hex tags have 1 to 64 digits"));
            }
            // Checked before slicing by byte: a multi-byte character (or a `+`, which
            // `from_str_radix` takes) is not a hex digit.
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Self::parse_err(input, "not a hex number"));
            }
            let padded = format!("{hex:0>64}");
            let mut bytes = [0u8; 32];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16)
                    .map_err(|_| Self::parse_err(input, "not a hex number"))?;
            }
            return Ok(Self(B256::new(bytes)));
        }
        s.split(',')
            .filter(|part| !part.trim().is_empty())
            .try_fold(Self::NONE, |tag, part| {
                Ok(tag | Self::from_name(input, part)?)
            })
    }
}

impl fmt::Display for Tag {
    /// Names joined by commas (`"tee,tdx"`) when every set bit has a name, the full 32-byte
    /// hex otherwise (including for the empty tag). Both forms parse back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names() {
            Some(names) if !names.is_empty() => f.write_str(&names.join(",")),
            _ => write!(f, "{}", self.0),
        }
    }
}

impl From<B256> for Tag {
    fn from(value: B256) -> Self {
        Self(value)
    }
}

impl From<Tag> for B256 {
    fn from(value: Tag) -> Self {
        value.0
    }
}

impl BitOr for Tag {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        let mut out = self;
        out |= rhs;
        out
    }
}

impl BitOrAssign for Tag {
    fn bitor_assign(&mut self, rhs: Self) {
        for (a, b) in self.0 .0.iter_mut().zip(rhs.0 .0) {
            *a |= b;
        }
    }
}

impl BitAnd for Tag {
    type Output = Self;

    fn bitand(self, rhs: Self) -> Self {
        let mut out = self;
        for (a, b) in out.0 .0.iter_mut().zip(rhs.0 .0) {
            *a &= b;
        }
        out
    }
}

impl Not for Tag {
    type Output = Self;

    fn not(self) -> Self {
        let mut out = self;
        for a in out.0 .0.iter_mut() {
            *a = !*a;
        }
        out
    }
}

impl Serialize for Tag {
    /// Always the 32-byte hex form, as in signed orders.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tag {
    /// Reads hex, names (`"tee,tdx"`) or an array of names (`["tee","tdx"]`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagVisitor;

        impl<'de> de::Visitor<'de> for TagVisitor {
            type Value = Tag;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex bytes32 tag, a list of tag names, or an array of tag names")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tag, A::Error> {
                let mut tag = Tag::NONE;
                while let Some(name) = seq.next_element::<String>()? {
                    tag |= Tag::from_name(&name, &name).map_err(de::Error::custom)?;
                }
                Ok(tag)
            }
        }

        d.deserialize_any(TagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn named_bits() {
        assert_eq!(
            Tag::TEE.0,
            b256!("0x0000000000000000000000000000000000000000000000000000000000000001")
        );
        assert_eq!(
            (Tag::TEE | Tag::TDX).0,
            b256!("0x0000000000000000000000000000000000000000000000000000000000000009")
        );
        assert_eq!(
            Tag::GPU.0,
            b256!("0x0000000000000000000000000000000000000000000000000000000000000100")
        );
        assert_eq!(Tag::bit(255).0 .0[0], 0x80);
        assert_eq!((Tag::TEE | Tag::GPU).bits().collect::<Vec<_>>(), vec![0, 8]);
    }

    #[test]
    fn parse_and_print() {
        let tag: Tag = "tee, TDX,gpu".parse().unwrap();
        assert_eq!(tag, Tag::TEE | Tag::TDX | Tag::GPU);
        assert_eq!(tag.to_string(), "tee,tdx,gpu");
        assert_eq!("0x9".parse::<Tag>().unwrap(), Tag::TEE | Tag::TDX);
        assert_eq!("".parse::<Tag>().unwrap(), Tag::NONE);
        assert_eq!(
            Tag::NONE.to_string(),
            "0x0000000000000000000000000000000000000000000000000000000000000000"
        );
        let odd = Tag::TEE | Tag::bit(200);
        assert_eq!(odd.names(), None);
        assert_eq!(odd.to_string().parse::<Tag>().unwrap(), odd);
        for bad in ["tee,sgx", "0x", "0xzz", &format!("0x{}", "1".repeat(65))] {
            let err = bad.parse::<Tag>().unwrap_err();
            assert!(err.to_string().contains("comma-separated"), "{err}");
        }
    }

    #[test]
    fn set_relations() {
        let pool = Tag::TEE | Tag::TDX | Tag::GPU;
        assert!((Tag::TEE | Tag::TDX).is_subset_of(pool));
        assert!(!(Tag::TEE | Tag::SCONE).is_subset_of(pool));
        assert!(Tag::NONE.is_subset_of(Tag::NONE));
        assert_eq!((Tag::TEE | Tag::TDX) & !Tag::TEE, Tag::TDX);
        assert!(pool.is_tee() && !Tag::GPU.is_tee());
    }

    #[test]
    fn tee_frameworks() {
        (Tag::TEE | Tag::TDX).check_tee_framework().unwrap();
        Tag::GPU.check_tee_framework().unwrap();
        Tag::TEE.check_tee_framework().unwrap();
        assert!(Tag::TDX.check_tee_framework().is_err());
        assert!((Tag::TEE | Tag::TDX | Tag::SCONE)
            .check_tee_framework()
            .is_err());
    }

    #[test]
    fn serde_forms() {
        let hex = "\"0x0000000000000000000000000000000000000000000000000000000000000009\"";
        let tag: Tag = serde_json::from_str(hex).unwrap();
        assert_eq!(tag, Tag::TEE | Tag::TDX);
        assert_eq!(serde_json::to_string(&tag).unwrap(), hex);
        assert_eq!(serde_json::from_str::<Tag>("\"tee,tdx\"").unwrap(), tag);
        assert_eq!(
            serde_json::from_str::<Tag>("[\"tdx\",\"tee\"]").unwrap(),
            tag
        );
        assert!(serde_json::from_str::<Tag>("[\"cuda\"]").is_err());
        assert!(serde_json::from_str::<Tag>("9").is_err());
    }
}
