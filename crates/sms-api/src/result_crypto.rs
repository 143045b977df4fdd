//! iExec's result encryption format, as `iexec result decrypt` (SDK 9) reads it.
//!
//! The beneficiary holds an RSA keypair (4096 bits; the public key in SPKI PEM,
//! `-----BEGIN PUBLIC KEY-----`, the private key in PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`,
//! saved as `<address>_key.pub` and `<address>_key`). An encrypted result is a zip archive of two
//! files: `aes-key.rsa`, a fresh 32-byte AES key encrypted with the public key (RSA PKCS#1 v1.5),
//! and `iexec_out.zip.aes`, the result zip encrypted with AES-256-CBC and PKCS#7 padding, the
//! random 16-byte IV in front (the dataset format of [`crate::dataset`]).
//!
//! CBC has no integrity check of its own: [`decrypt_result`] checks that the plaintext is a zip
//! whose entries all read back with their CRC, so an altered ciphertext is refused rather than
//! returned as a garbled result.

use std::io::{Cursor, Read, Write};

use rsa::{
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding},
    Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey,
};
use zeroize::Zeroizing;
use zip::{write::SimpleFileOptions, CompressionMethod, ZipArchive, ZipWriter};

use crate::{
    dataset::{self, DatasetKey},
    Error,
};

/// The size of the keys [`generate_keypair`] makes (the SDK's `modulusLength`).
pub const KEY_BITS: usize = 4096;
/// The archive entry holding the RSA-encrypted AES key.
pub const KEY_ENTRY: &str = "aes-key.rsa";
/// The archive entry holding the AES-encrypted result zip.
pub const RESULT_ENTRY: &str = "iexec_out.zip.aes";
/// The largest `aes-key.rsa` read (the SDK's limit).
pub const MAX_KEY_ENTRY_BYTES: u64 = 1000;
/// The largest `iexec_out.zip.aes` read, and the largest decrypted content (the SDK's 1 GB).
pub const MAX_RESULT_BYTES: u64 = 1_000_000_000;
/// The SDK's default name of an encrypted result (`iexec result decrypt` reads it).
pub const DEFAULT_ENCRYPTED_NAME: &str = "encryptedResults.zip";
/// The SDK's default name of a decrypted result.
pub const DEFAULT_DECRYPTED_NAME: &str = "results.zip";

/// The file name of a beneficiary's private key, as the SDK names it: `<address>_key`.
pub fn private_key_file_name(address: &alloy_primitives::Address) -> String {
    format!("{address}_key")
}

/// The file name of a beneficiary's public key, as the SDK names it: `<address>_key.pub`.
pub fn public_key_file_name(address: &alloy_primitives::Address) -> String {
    format!("{address}_key.pub")
}

/// A beneficiary's keypair in PEM (the private half never printed by `Debug`).
pub struct Keypair {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_pem: Zeroizing<String>,
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), the key given to the SMS.
    pub public_pem: String,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

/// A fresh RSA keypair of [`KEY_BITS`] bits.
pub fn generate_keypair() -> Result<Keypair, Error> {
    keypair_of_bits(KEY_BITS)
}

fn keypair_of_bits(bits: usize) -> Result<Keypair, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::ResultKey(format!("key generation failed: {e}"));
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| fail(&e))?;
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(&e))?;
    let public_pem = RsaPublicKey::from(&private)
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| fail(&e))?;
    Ok(Keypair {
        private_pem: Zeroizing::new(private_pem.as_str().to_owned()),
        public_pem,
    })
}

fn public_key(pem: &str) -> Result<RsaPublicKey, Error> {
    RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|e| {
        Error::ResultKey(format!(
            "not an RSA public key in PEM (-----BEGIN PUBLIC KEY-----): {e}; give the public key \
             file of the beneficiary's keypair (`<address>_key.pub`)"
        ))
    })
}

fn private_key(pem: &str) -> Result<RsaPrivateKey, Error> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            RsaPrivateKey::from_pkcs1_pem(pem)
        })
        .map_err(|_| {
            Error::ResultKey(
                "not an RSA private key in PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA \
                 PRIVATE KEY-----); give the private key file of the beneficiary's keypair \
                 (`<address>_key`)"
                    .into(),
            )
        })
}

/// `result_zip` encrypted for the holder of `public_key_pem`: the archive described in the
/// module doc, under a fresh AES key and IV.
pub fn encrypt_result(result_zip: &[u8], public_key_pem: &str) -> Result<Vec<u8>, Error> {
    let public = public_key(public_key_pem)?;
    let key = DatasetKey::generate();
    let wrapped = public
        .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, key.as_bytes())
        .map_err(|e| Error::ResultKey(format!("the AES key cannot be wrapped: {e}")))?;
    let body = dataset::encrypt(result_zip, &key);
    let zip_err = |e: &dyn std::fmt::Display| {
        Error::ResultDecrypt(format!("cannot write the encrypted archive: {e}"))
    };
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in [(KEY_ENTRY, wrapped.as_slice()), (RESULT_ENTRY, &body)] {
        zip.start_file(name, options).map_err(|e| zip_err(&e))?;
        zip.write_all(bytes).map_err(|e| zip_err(&e))?;
    }
    Ok(zip.finish().map_err(|e| zip_err(&e))?.into_inner())
}

/// Reads entry `name` of `zip`, refusing it beyond `limit` bytes.
fn read_entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let entry = zip.by_name(name).map_err(|_| {
        Error::ResultDecrypt(format!(
            "the archive has no {name}; give the encrypted result archive as downloaded (it \
             holds {KEY_ENTRY} and {RESULT_ENTRY})"
        ))
    })?;
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::ResultDecrypt(format!("{name} is unreadable: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::ResultDecrypt(format!(
            "{name} is larger than {limit} bytes: refusing it (not a result archive, or a zip \
             bomb)"
        )));
    }
    Ok(bytes)
}

/// The result zip of an encrypted result `archive` (the zip of [`KEY_ENTRY`] and
/// [`RESULT_ENTRY`]), with the beneficiary's private key. Refused when the archive is not in this
/// format, when the key is not the one it was encrypted for, and when the ciphertext was altered
/// (the plaintext is not a zip whose entries pass their CRC).
pub fn decrypt_result(archive: &[u8], private_key_pem: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let private = private_key(private_key_pem)?;
    let mut zip = ZipArchive::new(Cursor::new(archive)).map_err(|e| {
        Error::ResultDecrypt(format!(
            "not a zip archive ({e}); give the encrypted result archive as downloaded"
        ))
    })?;
    let wrapped = read_entry(&mut zip, KEY_ENTRY, MAX_KEY_ENTRY_BYTES)?;
    let body = read_entry(&mut zip, RESULT_ENTRY, MAX_RESULT_BYTES)?;
    let not_for_this_key = || {
        Error::ResultDecrypt(
            "this result was not encrypted for this key (or its aes-key.rsa was altered); give \
             the private key of the beneficiary whose public key the SMS held when the task ran"
                .into(),
        )
    };
    let key = Zeroizing::new(
        private
            .decrypt(Pkcs1v15Encrypt, &wrapped)
            .map_err(|_| not_for_this_key())?,
    );
    let key: [u8; 32] = key.as_slice().try_into().map_err(|_| {
        Error::ResultDecrypt(format!(
            "the result key is {} bytes, not the 32 of AES-256-CBC: a legacy or foreign format \
             that poco does not read; decrypt it with `iexec result decrypt`",
            key.len()
        ))
    })?;
    let plain = dataset::decrypt(&body, &DatasetKey::from_bytes(key)).map_err(|_| {
        Error::ResultDecrypt(format!(
            "{RESULT_ENTRY} does not decrypt under its key: the archive was altered; download \
             the result again"
        ))
    })?;
    check_zip(&plain)?;
    Ok(plain)
}

/// Checks that `plain` is a zip whose entries all read back (CRC checked), bounded in size.
fn check_zip(plain: &[u8]) -> Result<(), Error> {
    let altered = |e: &dyn std::fmt::Display| {
        Error::ResultDecrypt(format!(
            "the decrypted result is not an intact zip ({e}): the archive was altered; download \
             the result again"
        ))
    };
    let mut zip = ZipArchive::new(Cursor::new(plain)).map_err(|e| altered(&e))?;
    let mut left = MAX_RESULT_BYTES;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| altered(&e))?;
        let read = std::io::copy(&mut entry.take(left + 1), &mut std::io::sink())
            .map_err(|e| altered(&e))?;
        if read > left {
            return Err(Error::ResultDecrypt(format!(
                "the decrypted result holds more than {MAX_RESULT_BYTES} bytes: refusing it (a \
                 zip bomb)"
            )));
        }
        left -= read;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small zip holding `content` as `result.txt`.
    pub(crate) fn result_zip(content: &[u8]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("result.txt", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content).unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn small_keypair() -> Keypair {
        // 2048 bits keep the unit tests quick; generate_keypair itself is tested by the CLI
        keypair_of_bits(2048).unwrap()
    }

    #[test]
    fn round_trip_and_wrong_key_and_tampering() {
        let keys = small_keypair();
        assert!(keys.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(keys.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{keys:?}").contains("PRIVATE"));
        let zip = result_zip(&[42u8; 5000]);
        let archive = encrypt_result(&zip, &keys.public_pem).unwrap();
        let plain = decrypt_result(&archive, &keys.private_pem).unwrap();
        assert_eq!(plain.as_slice(), zip.as_slice());

        let other = small_keypair();
        let e = decrypt_result(&archive, &other.private_pem).unwrap_err();
        assert!(e.to_string().contains("not encrypted for this key"), "{e}");

        // flip one bit of every block of the body in turn: each altered archive is refused
        let mut outer = ZipArchive::new(Cursor::new(archive.as_slice())).unwrap();
        let wrapped = read_entry(&mut outer, KEY_ENTRY, MAX_KEY_ENTRY_BYTES).unwrap();
        let body = read_entry(&mut outer, RESULT_ENTRY, MAX_RESULT_BYTES).unwrap();
        for block in 0..body.len() / 16 {
            let mut altered = body.clone();
            altered[block * 16 + 3] ^= 0x10;
            let archive = repack(&wrapped, &altered);
            let e = decrypt_result(&archive, &keys.private_pem).unwrap_err();
            assert!(e.to_string().contains("altered"), "block {block}: {e}");
        }
        let mut altered_key = wrapped.clone();
        altered_key[10] ^= 1;
        assert!(decrypt_result(&repack(&altered_key, &body), &keys.private_pem).is_err());
    }

    fn repack(key: &[u8], body: &[u8]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in [(KEY_ENTRY, key), (RESULT_ENTRY, body)] {
            zip.start_file(name, SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn malformed_inputs_are_refused_with_the_fix() {
        let keys = small_keypair();
        let e = decrypt_result(b"not a zip", &keys.private_pem).unwrap_err();
        assert!(e.to_string().contains("not a zip archive"), "{e}");
        let e = decrypt_result(&result_zip(b"x"), &keys.private_pem).unwrap_err();
        assert!(e.to_string().contains("has no aes-key.rsa"), "{e}");
        let e = decrypt_result(&repack(&[0; 2000], b""), &keys.private_pem).unwrap_err();
        assert!(e.to_string().contains("larger than 1000 bytes"), "{e}");
        let e = encrypt_result(b"", "-----BEGIN PUBLIC KEY-----\nAAAA\n").unwrap_err();
        assert!(e.to_string().contains("not an RSA public key"), "{e}");
        let e = decrypt_result(b"", &keys.public_pem).unwrap_err();
        assert!(e.to_string().contains("not an RSA private key"), "{e}");
        assert_eq!(
            private_key_file_name(&alloy_primitives::Address::ZERO),
            "0x0000000000000000000000000000000000000000_key"
        );
    }
}
