//! ECDSA signatures as the PoCo contracts check them.
//!
//! Two kinds of messages are signed in PoCo:
//! * **EIP-712 digests** (orders and order operations) are signed as they are, with no prefix
//!   ([`sign_digest`], [`recover_digest`]).
//! * **Worker and enclave messages** (authorization, contribution) are `keccak256` hashes signed
//!   with the EIP-191 personal-sign prefix `"\x19Ethereum Signed Message:\n32"`
//!   ([`sign_personal`], [`recover_personal`]).
//!
//! Signatures are encoded as 65 bytes `r ‖ s ‖ v` with `v ∈ {27, 28}`. Verification also accepts
//! the 64-byte EIP-2098 compact form. It is as strict as the chain: any other length, a `v`
//! outside 27/28 and a malleable (high-`s`) signature are refused with a typed [`Error`].

use crate::{Error, Result};
use alloy_primitives::{eip191_hash_message, Address, Bytes, Signature, B256, U256};
use alloy_signer::{Signer, SignerSync};

/// Half the secp256k1 group order: the largest `s` the chain accepts (EIP-2).
const SECP256K1N_HALF: U256 = U256::from_limbs([
    0xdfe9_2f46_681b_20a0,
    0x5d57_6e73_57a4_501d,
    0xffff_ffff_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
]);

/// Parses a 65-byte (`r ‖ s ‖ v`, `v ∈ {27, 28}`) or 64-byte (EIP-2098) signature with the
/// chain's rules.
pub fn parse_signature(sign: &[u8]) -> Result<Signature> {
    let sig = match sign.len() {
        65 => {
            let v = sign[64];
            let parity = match v {
                27 => false,
                28 => true,
                _ => return Err(Error::SignatureV { v }),
            };
            Signature::from_bytes_and_parity(&sign[..64], parity)
        }
        64 => Signature::from_erc2098(sign),
        len => return Err(Error::SignatureLength { len }),
    };
    if sig.s() > SECP256K1N_HALF {
        return Err(Error::SignatureMalleable);
    }
    Ok(sig)
}

/// Encodes a signature as the 65 bytes `r ‖ s ‖ v` with `v ∈ {27, 28}`, normalising `s` to the
/// lower half of the curve order.
pub fn encode_signature(sig: &Signature) -> Bytes {
    Bytes::copy_from_slice(&sig.normalized_s().as_bytes())
}

/// Recovers the account that signed `digest` as is (no prefix), as for EIP-712 order hashes.
pub fn recover_digest(digest: &B256, sign: &[u8]) -> Result<Address> {
    parse_signature(sign)?
        .recover_address_from_prehash(digest)
        .map_err(Error::SignatureRecovery)
}

/// Checks that `expected` signed `digest` as is (no prefix).
pub fn verify_digest(digest: &B256, sign: &[u8], expected: Address) -> Result<()> {
    check_signer(expected, recover_digest(digest, sign)?)
}

/// The EIP-191 personal-sign hash of a 32-byte hash:
/// `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`.
pub fn personal_hash(hash: &B256) -> B256 {
    eip191_hash_message(hash)
}

/// Recovers the account that personal-signed the 32-byte `hash`.
pub fn recover_personal(hash: &B256, sign: &[u8]) -> Result<Address> {
    recover_digest(&personal_hash(hash), sign)
}

/// Checks that `expected` personal-signed the 32-byte `hash`.
pub fn verify_personal(hash: &B256, sign: &[u8], expected: Address) -> Result<()> {
    check_signer(expected, recover_personal(hash, sign)?)
}

/// Signs `digest` as is (no prefix), as for EIP-712 order hashes.
pub fn sign_digest<S: SignerSync + ?Sized>(signer: &S, digest: &B256) -> Result<Bytes> {
    signer
        .sign_hash_sync(digest)
        .map(|sig| encode_signature(&sig))
        .map_err(Error::Signer)
}

/// Async variant of [`sign_digest`] for signers that only implement [`Signer`].
pub async fn sign_digest_async<S: Signer + ?Sized>(signer: &S, digest: &B256) -> Result<Bytes> {
    signer
        .sign_hash(digest)
        .await
        .map(|sig| encode_signature(&sig))
        .map_err(Error::Signer)
}

/// Personal-signs (EIP-191) the 32-byte `hash`.
pub fn sign_personal<S: SignerSync + ?Sized>(signer: &S, hash: &B256) -> Result<Bytes> {
    sign_digest(signer, &personal_hash(hash))
}

/// Async variant of [`sign_personal`].
pub async fn sign_personal_async<S: Signer + ?Sized>(signer: &S, hash: &B256) -> Result<Bytes> {
    sign_digest_async(signer, &personal_hash(hash)).await
}

pub(crate) fn check_signer(expected: Address, recovered: Address) -> Result<()> {
    if expected == recovered {
        Ok(())
    } else {
        Err(Error::WrongSigner {
            expected,
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, keccak256};
    use alloy_signer_local::PrivateKeySigner;

    const ORDER: U256 = U256::from_limbs([
        0xbfd2_5e8c_d036_4141,
        0xbaae_dce6_af48_a03b,
        0xffff_ffff_ffff_fffe,
        0xffff_ffff_ffff_ffff,
    ]);

    #[test]
    fn half_order_constant() {
        assert_eq!(SECP256K1N_HALF, ORDER >> 1);
    }

    #[test]
    fn digest_and_personal_round_trip() {
        let signer = PrivateKeySigner::random();
        let hash = keccak256(b"poco");
        let sign = sign_digest(&signer, &hash).unwrap();
        assert_eq!(sign.len(), 65);
        assert!(sign[64] == 27 || sign[64] == 28);
        assert_eq!(recover_digest(&hash, &sign).unwrap(), signer.address());
        verify_digest(&hash, &sign, signer.address()).unwrap();
        // A digest signature is not a personal signature of the same hash.
        assert_ne!(recover_personal(&hash, &sign).unwrap(), signer.address());

        let sign = sign_personal(&signer, &hash).unwrap();
        verify_personal(&hash, &sign, signer.address()).unwrap();
        // Same as alloy's message signing of the 32 raw bytes.
        let sig = signer.sign_message_sync(hash.as_slice()).unwrap();
        assert_eq!(sign, encode_signature(&sig));
    }

    #[test]
    fn compact_signatures_are_accepted() {
        let signer = PrivateKeySigner::random();
        let hash = keccak256(b"compact");
        let sig = signer.sign_hash_sync(&hash).unwrap();
        let compact = sig.as_erc2098();
        assert_eq!(recover_digest(&hash, &compact).unwrap(), signer.address());
    }

    #[test]
    fn chain_rules_are_enforced() {
        let signer = PrivateKeySigner::random();
        let hash = b256!("0x0101010101010101010101010101010101010101010101010101010101010101");
        let good = sign_digest(&signer, &hash).unwrap();

        let err = recover_digest(&hash, &good[..63]).unwrap_err();
        assert!(matches!(err, Error::SignatureLength { len: 63 }), "{err}");

        let mut v01 = good.to_vec();
        v01[64] -= 27;
        assert!(matches!(
            recover_digest(&hash, &v01).unwrap_err(),
            Error::SignatureV { .. }
        ));

        // Flip s to n - s and v: the same key recovers, but the chain refuses it.
        let sig = parse_signature(&good).unwrap();
        let high = Signature::new(sig.r(), ORDER - sig.s(), !sig.v());
        let mut high_bytes = [0u8; 65];
        high_bytes[..32].copy_from_slice(&high.r().to_be_bytes::<32>());
        high_bytes[32..64].copy_from_slice(&high.s().to_be_bytes::<32>());
        high_bytes[64] = high.v_byte();
        assert!(matches!(
            recover_digest(&hash, &high_bytes),
            Err(Error::SignatureMalleable)
        ));

        let other = PrivateKeySigner::random();
        match verify_digest(&hash, &good, other.address()).unwrap_err() {
            Error::WrongSigner {
                expected,
                recovered,
            } => {
                assert_eq!(expected, other.address());
                assert_eq!(recovered, signer.address());
            }
            err => panic!("unexpected {err}"),
        }
    }
}
