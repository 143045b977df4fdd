//! The crate's error type.

use alloy_primitives::Address;

/// Everything that can go wrong in `poco-types`.
///
/// Each message names the problem and how to fix it, so that a CLI can print it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature is neither 65 bytes (r‖s‖v) nor 64 bytes (EIP-2098 compact).
    #[error(
        "invalid signature length {len} bytes: expected 65 bytes (r||s||v) or 64 bytes (EIP-2098 \
         compact); the chain rejects any other length (\"invalid-signature-format\"), so sign \
         again with an Ethereum key"
    )]
    SignatureLength {
        /// The length that was given.
        len: usize,
    },
    /// A 65-byte signature whose `v` byte is not 27 or 28.
    #[error(
        "invalid signature v value {v}: the chain only accepts v = 27 or 28; convert v = 0/1 to \
         27/28 or sign again with a standard Ethereum signer"
    )]
    SignatureV {
        /// The `v` byte that was given.
        v: u8,
    },
    /// A signature whose `s` lies in the upper half of the curve order (EIP-2).
    #[error(
        "malleable signature: s is in the upper half of the secp256k1 order and the chain \
         rejects it; normalise it (s' = n - s, flip v) or sign again with a standard signer"
    )]
    SignatureMalleable,
    /// The signature is well formed but no public key can be recovered from it.
    #[error(
        "cannot recover a signer from the signature ({0}); the signature is corrupt, sign again"
    )]
    SignatureRecovery(#[source] alloy_primitives::SignatureError),
    /// The signature was made by another account than the expected one.
    #[error(
        "signature was made by {recovered}, expected {expected}: sign with the key of {expected} \
         (for orders: the asset owner, or the requester for a request order)"
    )]
    WrongSigner {
        /// The account that should have signed.
        expected: Address,
        /// The account that did sign.
        recovered: Address,
    },
    /// The signer backend failed.
    #[error("signing failed: {0}; check that the wallet is unlocked and holds a secp256k1 key")]
    Signer(#[source] alloy_signer::Error),
    /// An RLC amount could not be parsed.
    #[error(
        "invalid amount {input:?}: {reason}; write an integer number of nRLC (\"500\") or a \
         number of RLC with up to 9 decimals (\"1.5 RLC\")"
    )]
    Amount {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag string could not be parsed.
    #[error(
        "invalid tag {input:?}: {reason}; write a comma-separated list of tee, scone, gramine, \
         tdx, gpu (e.g. \"tee,tdx\") or a 0x-prefixed hex value of at most 32 bytes"
    )]
    Tag {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TEE framework bit is set without the TEE bit, or several frameworks are set.
    #[error(
        "invalid TEE tag {tag}: {reason}; use exactly one framework together with tee, e.g. \
         \"tee,tdx\""
    )]
    TeeFramework {
        /// The tag in display form.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A category name or index that is not part of the default set.
    #[error("unknown category {0:?}: use one of XS, S, M, L, XL or an index 0..=4")]
    UnknownCategory(String),
    /// An order operation byte other than 0 (SIGN) or 1 (CLOSE).
    #[error("invalid order operation {0}: use 0 (SIGN) or 1 (CLOSE)")]
    OrderOperation(u8),
    /// The deal `params` string is JSON but not an object of `iexec_*` keys.
    #[error(
        "invalid deal params: {0}; params must be a JSON object such as \
         {{\"iexec_args\":\"--in a.txt\",\"iexec_input_files\":[\"https://...\"]}} or a plain \
         argument string"
    )]
    DealParams(#[source] serde_json::Error),
    /// The on-chain `results` bytes are not a `{"storage":..,"location":..}` JSON object.
    #[error(
        "invalid result link: {0}; expected UTF-8 JSON {{\"storage\":\"...\",\"location\":\"...\"}}"
    )]
    ResultLink(#[source] serde_json::Error),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
