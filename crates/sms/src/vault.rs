//! Secrets at rest: AES-256-GCM under the master key of a key file. The key file holds 32 random
//! bytes in hex; it is created with mode 0600 on first start when missing and its content is
//! never logged. Each sealed value carries a fresh 96-bit nonce and is bound (as associated data)
//! to the identity of its secret, so a ciphertext copied onto another row does not open.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::Error;

/// Length of a GCM nonce.
const NONCE_LEN: usize = 12;

/// The master key that seals the stored secrets (never printed: its `Debug` names only the
/// file).
pub struct Vault {
    cipher: Aes256Gcm,
    path: PathBuf,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_file", &self.path)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Reads the key file at `path`, or creates it (32 random bytes in hex, mode 0600) when it
    /// does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, Error> {
        let key = match std::fs::read(path) {
            Ok(text) => parse_key(path, &Zeroizing::new(text))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path)?,
            Err(source) => {
                return Err(Error::KeyFile {
                    path: path.to_path_buf(),
                    reason: format!("cannot read it ({source})"),
                })
            }
        };
        Ok(Self::from_key(&key, path))
    }

    /// A vault over `key` (tests and callers that keep the key elsewhere); `path` names it in
    /// errors.
    pub fn from_key(key: &[u8; 32], path: &Path) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            path: path.to_path_buf(),
        }
    }

    /// The key file this vault was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `value` encrypted and bound to `identity`: nonce followed by ciphertext and tag.
    pub fn seal(&self, identity: &str, value: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value,
                    aad: identity.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any value shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The value `sealed` holds; [`Error::WrongKey`] when it was sealed under another key or for
    /// another identity, or was altered.
    pub fn open(&self, identity: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let wrong = || Error::WrongKey {
            path: self.path.clone(),
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: identity.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| wrong())
    }
}

fn parse_key(path: &Path, text: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
    let bad = || Error::KeyFile {
        path: path.to_path_buf(),
        reason: "it does not hold a 32-byte key in hex (64 hexadecimal digits)".into(),
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, key.as_mut_slice()).map_err(|_| bad())?;
    Ok(key)
}

fn create_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, Error> {
    let fail = |source: std::io::Error| Error::KeyFile {
        path: path.to_path_buf(),
        reason: format!("cannot create it ({source})"),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    let text = Zeroizing::new(hex::encode(key.as_slice()));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/sms.key");
        let vault = Vault::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = vault.seal("web3|0xa|", b"the dataset key");
        assert!(!sealed
            .windows(b"the dataset key".len())
            .any(|w| w == b"the dataset key"));
        let again = Vault::open_or_create(&path).unwrap();
        assert_eq!(
            again.open("web3|0xa|", &sealed).unwrap().as_slice(),
            b"the dataset key"
        );
        assert!(
            !format!("{again:?}").contains(&std::fs::read_to_string(&path).unwrap()),
            "the key is not in Debug"
        );
    }

    #[test]
    fn another_key_or_identity_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let one = Vault::open_or_create(&dir.path().join("one.key")).unwrap();
        let two = Vault::open_or_create(&dir.path().join("two.key")).unwrap();
        let sealed = one.seal("web2|0xa|token", b"v");
        let err = two.open("web2|0xa|token", &sealed).unwrap_err();
        assert!(matches!(err, Error::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("two.key"), "{err}");
        assert!(one.open("web2|0xb|token", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(one.open("web2|0xa|token", &altered).is_err());
    }

    #[test]
    fn a_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not hex").unwrap();
        let err = Vault::open_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
    }
}
