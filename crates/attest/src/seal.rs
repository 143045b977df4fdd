//! Sealing secrets to an enclave: ECDH on secp256k1 between a fresh ephemeral key and the
//! enclave's key, HKDF-SHA256 over the shared secret (with both public keys and a label), then
//! AES-256-GCM. Only the holder of the enclave's secret key opens a [`Sealed`] value, and a
//! value sealed under one label does not open under another.

use aes_gcm::{aead::Aead, Aes256Gcm, KeyInit, Nonce};
use alloy_primitives::Bytes;
use hkdf::Hkdf;
use k256::{elliptic_curve::sec1::ToEncodedPoint, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A secret sealed to an enclave key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The ephemeral public key (compressed SEC1, 33 bytes).
    pub ephemeral: Bytes,
    /// The AES-GCM nonce (12 bytes).
    pub nonce: Bytes,
    /// The ciphertext and its tag.
    pub ciphertext: Bytes,
}

/// An enclave's fresh key: made inside the enclave for one task, never written anywhere.
pub struct EnclaveKey(SecretKey);

impl std::fmt::Debug for EnclaveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnclaveKey({})", hex::encode(self.public()))
    }
}

impl EnclaveKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(SecretKey::random(&mut rand::thread_rng()))
    }

    /// The public key, compressed SEC1 (33 bytes): what the report's user data binds.
    pub fn public(&self) -> Vec<u8> {
        self.0
            .public_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    /// Opens a value sealed to this key under `label`.
    pub fn open(&self, label: &str, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>> {
        let ephemeral = PublicKey::from_sec1_bytes(&sealed.ephemeral)
            .map_err(|_| Error::Seal("the ephemeral key is not a secp256k1 point".into()))?;
        let shared = k256::ecdh::diffie_hellman(self.0.to_nonzero_scalar(), ephemeral.as_affine());
        let cipher = cipher(
            shared.raw_secret_bytes(),
            label,
            &sealed.ephemeral,
            &self.public(),
        );
        let nonce: [u8; 12] = sealed
            .nonce
            .as_ref()
            .try_into()
            .map_err(|_| Error::Seal("the nonce must be 12 bytes".into()))?;
        cipher
            .decrypt(Nonce::from_slice(&nonce), sealed.ciphertext.as_ref())
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::Seal(format!(
                    "{label}: does not open with this enclave key (sealed to another key, under \
                     another label, or altered)"
                ))
            })
    }
}

/// Checks that `recipient` is an enclave public key [`seal`] takes (a secp256k1 point,
/// compressed or uncompressed SEC1).
pub fn check_recipient(recipient: &[u8]) -> Result<()> {
    recipient_key(recipient).map(|_| ())
}

fn recipient_key(recipient: &[u8]) -> Result<PublicKey> {
    PublicKey::from_sec1_bytes(recipient).map_err(|_| {
        Error::Seal("the enclave key is not a secp256k1 public key (SEC1 encoding)".into())
    })
}

/// Seals `plaintext` to the enclave public key `recipient` (compressed or uncompressed SEC1)
/// under `label` (what the value is, e.g. `dataset`).
pub fn seal(recipient: &[u8], label: &str, plaintext: &[u8]) -> Result<Sealed> {
    let recipient = recipient_key(recipient)?;
    let recipient_bytes = recipient.to_encoded_point(true).as_bytes().to_vec();
    let ephemeral = SecretKey::random(&mut rand::thread_rng());
    let ephemeral_pub = ephemeral
        .public_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec();
    let shared = k256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), recipient.as_affine());
    let cipher = cipher(
        shared.raw_secret_bytes(),
        label,
        &ephemeral_pub,
        &recipient_bytes,
    );
    let nonce: [u8; 12] = rand::random();
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| Error::Seal("AES-GCM refused the plaintext".into()))?;
    Ok(Sealed {
        ephemeral: ephemeral_pub.into(),
        nonce: nonce.to_vec().into(),
        ciphertext: ciphertext.into(),
    })
}

fn cipher(shared: &[u8], label: &str, ephemeral: &[u8], recipient: &[u8]) -> Aes256Gcm {
    let hk = Hkdf::<Sha256>::new(Some(b"poco-tee-seal-v1"), shared);
    let mut info = Vec::with_capacity(label.len() + 66 + 1);
    info.extend_from_slice(label.as_bytes());
    info.push(0);
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new_from_slice(key.as_ref()).expect("the key is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_enclave_key_under_the_same_label_opens() {
        let key = EnclaveKey::generate();
        let sealed = seal(&key.public(), "dataset", b"the dataset key").unwrap();
        assert_eq!(
            &key.open("dataset", &sealed).unwrap()[..],
            b"the dataset key"
        );
        assert!(key.open("app", &sealed).is_err());
        assert!(EnclaveKey::generate().open("dataset", &sealed).is_err());
        let mut altered = sealed.clone();
        let mut c = altered.ciphertext.to_vec();
        c[0] ^= 1;
        altered.ciphertext = c.into();
        assert!(key.open("dataset", &altered).is_err());
    }

    #[test]
    fn a_bad_recipient_key_is_refused() {
        assert!(matches!(seal(&[2u8; 5], "x", b"y"), Err(Error::Seal(_))));
        assert!(check_recipient(&[2u8; 5]).is_err());
        // 33 bytes with a compressed point's prefix, but x = 2^256 - 1 is above the field's
        // prime: no point
        let mut off_curve = [0xffu8; 33];
        off_curve[0] = 2;
        assert!(check_recipient(&off_curve).is_err());
        let key = EnclaveKey::generate();
        check_recipient(&key.public()).unwrap();
    }
}
