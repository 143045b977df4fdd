//! iExec's dataset encryption format, as `iexec dataset encrypt` writes it: the file encrypted
//! with AES-256-CBC and PKCS#7 padding under a random 32-byte key, the random 16-byte IV in front
//! of the ciphertext; the key is kept beside it in base64; the dataset's on-chain checksum is the
//! sha256 of the encrypted file. A file encrypted by the SDK decrypts here and the reverse.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;

/// Length of the IV in front of the ciphertext.
pub const IV_LEN: usize = 16;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// A dataset key: 32 bytes (never printed by `Debug`).
#[derive(Clone)]
pub struct DatasetKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DatasetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatasetKey(..)")
    }
}

impl DatasetKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
        Self(key)
    }

    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key in base64, as the SDK writes key files and pushes dataset secrets.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_slice()))
    }

    /// The key of a base64 text (a key file's content; surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| Error::DatasetKey)?,
        );
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::DatasetKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// `plain` encrypted under `key` with a fresh random IV: IV followed by the ciphertext.
pub fn encrypt(plain: &[u8], key: &DatasetKey) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_with_iv(plain, key, &iv)
}

/// `plain` encrypted under `key` with `iv` (fixed-vector tests; use [`encrypt`] otherwise).
pub fn encrypt_with_iv(plain: &[u8], key: &DatasetKey, iv: &[u8; IV_LEN]) -> Vec<u8> {
    let ciphertext =
        Encryptor::new(key.as_bytes().into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain);
    let mut out = Vec::with_capacity(IV_LEN + ciphertext.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(&ciphertext);
    out
}

/// The plaintext of an encrypted dataset file; [`Error::DatasetDecrypt`] when it is too short,
/// not a whole number of blocks, or does not open under `key` (wrong key or altered file).
pub fn decrypt(encrypted: &[u8], key: &DatasetKey) -> Result<Zeroizing<Vec<u8>>, Error> {
    if encrypted.len() < 2 * IV_LEN || encrypted.len() % IV_LEN != 0 {
        return Err(Error::DatasetDecrypt(format!(
            "{} bytes is not an IV followed by whole AES blocks",
            encrypted.len()
        )));
    }
    let (iv, ciphertext) = encrypted.split_at(IV_LEN);
    Decryptor::new(key.as_bytes().into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::DatasetDecrypt("the padding is wrong: another key, or an altered file".into())
        })
}

/// The on-chain checksum of an encrypted dataset: the sha256 of the encrypted file.
pub fn checksum(encrypted: &[u8]) -> [u8; 32] {
    Sha256::digest(encrypted).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_a_wrong_key_fails() {
        let key = DatasetKey::generate();
        for len in [0, 1, 15, 16, 17, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let enc = encrypt(&plain, &key);
            assert_eq!(enc.len(), IV_LEN + (len / 16 + 1) * 16);
            assert_eq!(decrypt(&enc, &key).unwrap().as_slice(), plain.as_slice());
        }
        let enc = encrypt(b"model weights", &key);
        let other = DatasetKey::generate();
        // a wrong key fails the padding check except with probability ~1/256: compare instead
        match decrypt(&enc, &other) {
            Err(e) => assert!(e.to_string().contains("another key"), "{e}"),
            Ok(p) => assert_ne!(p.as_slice(), b"model weights"),
        }
        assert!(decrypt(&enc[..20], &key).is_err());
    }

    #[test]
    fn keys_are_base64_of_32_bytes() {
        let key = DatasetKey::from_bytes([7; 32]);
        let text = key.to_base64();
        assert_eq!(
            text.as_str(),
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
        );
        let back = DatasetKey::from_base64(&format!("{}\n", text.as_str())).unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes());
        assert!(DatasetKey::from_base64("AAAA").is_err());
        assert!(DatasetKey::from_base64("not base64!").is_err());
        assert_eq!(format!("{key:?}"), "DatasetKey(..)");
    }
}
