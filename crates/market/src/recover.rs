//! Signer recovery for the publication checks, on libsecp256k1.
//!
//! Every publication recovers two signers (the challenge's and the order's). With the pure-Rust
//! `k256` that `poco_types` uses, a recovery costs two constant-time multi-scalar
//! multiplications (recovery, then a verification of the recovered key) and was most of the
//! market's CPU time per publication; libsecp256k1 recovers with one variable-time
//! multiplication (its signatures are public data, constant time buys nothing here), several
//! times faster.
//!
//! The rules are `poco_types`' ones, unchanged: the signature is parsed by
//! [`poco_types::signature::parse_signature`] (65 bytes with `v` ∈ {27, 28} or 64-byte EIP-2098,
//! low `s`), and anything libsecp256k1 refuses is handed to
//! [`poco_types::signature::recover_digest`], whose answer (and error message) is the one
//! returned.

use alloy::primitives::{Address, B256};
use poco_types::signature::{parse_signature, recover_digest};
use secp256k1::{
    ecdsa::{RecoverableSignature, RecoveryId},
    Message, SECP256K1,
};

/// The account that signed `digest` as is (no prefix): [`poco_types::signature::recover_digest`],
/// faster.
pub(crate) fn recover_signer(digest: &B256, sign: &[u8]) -> poco_types::Result<Address> {
    let sig = parse_signature(sign)?;
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let id = if sig.v() {
        RecoveryId::One
    } else {
        RecoveryId::Zero
    };
    let key = RecoverableSignature::from_compact(&compact, id)
        .and_then(|s| SECP256K1.recover_ecdsa(Message::from_digest(digest.0), &s));
    match key {
        Ok(key) => Ok(Address::from_raw_public_key(
            &key.serialize_uncompressed()[1..],
        )),
        Err(_) => recover_digest(digest, sign),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{primitives::U256, signers::local::PrivateKeySigner};
    use poco_types::signature::sign_digest;

    #[test]
    fn same_answers_as_poco_types() {
        for i in 0..64u64 {
            let key = PrivateKeySigner::random();
            let digest = alloy::primitives::keccak256(i.to_be_bytes());
            let sign = sign_digest(&key, &digest).unwrap();
            assert_eq!(recover_signer(&digest, &sign).unwrap(), key.address());
            // EIP-2098 compact form.
            let sig = parse_signature(&sign).unwrap();
            let compact = sig.as_erc2098();
            assert_eq!(recover_signer(&digest, &compact).unwrap(), key.address());
            // Another digest: another (wrong) signer, the same as poco_types finds.
            let other = alloy::primitives::keccak256(digest);
            assert_eq!(
                recover_signer(&other, &sign).ok(),
                recover_digest(&other, &sign).ok()
            );
            // Corrupted r.
            let mut bad = sign.to_vec();
            bad[5] ^= 0x40;
            assert_eq!(
                recover_signer(&digest, &bad).ok(),
                recover_digest(&digest, &bad).ok()
            );
        }
    }

    #[test]
    fn refuses_what_poco_types_refuses() {
        let key = PrivateKeySigner::random();
        let digest = B256::repeat_byte(7);
        let sign = sign_digest(&key, &digest).unwrap();
        // High s (malleable), v outside 27/28, wrong lengths, r = 0, r ≥ n.
        let sig = parse_signature(&sign).unwrap();
        let n: U256 = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
            .parse()
            .unwrap();
        let mut high = [0u8; 65];
        high[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
        high[32..64].copy_from_slice(&(n - sig.s()).to_be_bytes::<32>());
        high[64] = if sig.v() { 27 } else { 28 };
        let mut v = sign.to_vec();
        v[64] = 29;
        let mut zero_r = sign.to_vec();
        zero_r[..32].fill(0);
        let mut big_r = sign.to_vec();
        big_r[..32].fill(0xff);
        for bad in [&high[..], &v, &sign[..63], &[], &zero_r, &big_r] {
            assert!(recover_signer(&digest, bad).is_err());
            assert!(recover_digest(&digest, bad).is_err());
        }
    }
}
