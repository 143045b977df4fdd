#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod atomic;
mod dir;
mod error;
mod keystore;
mod password;

pub use alloy_signer_local::PrivateKeySigner;
pub use atomic::{write_atomic, Access, Existing};
pub use dir::{
    default_keystore_dir, keystore_file_name, load_file, read_keystore, KeystoreDir, WalletEntry,
};
pub use error::{Error, Result};
pub use keystore::{CipherParams, Crypto, Kdf, Keystore, ScryptParams};
pub use password::{Password, PasswordSource};

use alloy_primitives::{Address, B256};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Environment variable holding the keystore password (automation, CI).
pub const PASSWORD_ENV: &str = "POCO_WALLET_PASSWORD";
/// Environment variable holding a raw private key (automation, tests); it takes the place of
/// the keystore when no wallet file is given.
pub const PRIVATE_KEY_ENV: &str = "POCO_PRIVATE_KEY";

/// Parses a raw private key: 64 hex digits, `0x` optional, surrounding whitespace ignored.
/// The error never repeats the input.
pub fn parse_private_key(key: &str) -> Result<PrivateKeySigner> {
    parse_key(key, None)
}

fn parse_key(key: &str, from: Option<&'static str>) -> Result<PrivateKeySigner> {
    let key = key.trim();
    let hex_digits = key.strip_prefix("0x").unwrap_or(key);
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_digits, bytes.as_mut()).map_err(|_| Error::PrivateKey { from })?;
    PrivateKeySigner::from_bytes(&B256::from(*bytes)).map_err(|_| Error::PrivateKey { from })
}

/// The signer of `POCO_PRIVATE_KEY`, if the variable is set.
pub fn signer_from_env() -> Result<Option<PrivateKeySigner>> {
    std::env::var(PRIVATE_KEY_ENV)
        .ok()
        .map(Zeroizing::new)
        .map(|key| parse_key(&key, Some(PRIVATE_KEY_ENV)))
        .transpose()
}

/// How a command finds its wallet, like the iExec SDK's `--wallet-file`, `--keystoredir`,
/// `--wallet-address` and `--password` options.
///
/// [`open`](Self::open) looks, in order, at:
/// 1. `wallet_file`, unlocked with the password;
/// 2. `POCO_PRIVATE_KEY`, a raw key for automation (no keystore, no password);
/// 3. the keystore directory (`keystore_dir`, else [`default_keystore_dir`]): the wallet of
///    `address`, or the only wallet there.
///
/// The password comes from `password_file`, else `POCO_WALLET_PASSWORD`, else a prompt.
#[derive(Clone, Debug, Default)]
pub struct WalletOptions {
    /// A keystore file to use.
    pub wallet_file: Option<PathBuf>,
    /// The keystore directory to look in.
    pub keystore_dir: Option<PathBuf>,
    /// The wallet to pick (and, for a raw key, the address it must have).
    pub address: Option<Address>,
    /// A file whose first line is the password.
    pub password_file: Option<PathBuf>,
}

impl WalletOptions {
    /// Finds and unlocks the wallet (see the type docs for the order).
    pub fn open(&self) -> Result<PrivateKeySigner> {
        self.open_with(|key| std::env::var(key).ok())
    }

    /// [`WalletOptions::open`] with an explicit environment lookup.
    pub fn open_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<PrivateKeySigner> {
        let password = || PasswordSource::resolve_with(self.password_file.clone(), &env);
        if let Some(file) = &self.wallet_file {
            let signer = load_file(file, unlock_password(&password(), file)?.as_bytes())?;
            return self.check_address(signer, "the wallet file");
        }
        if let Some(key) = env(PRIVATE_KEY_ENV).map(Zeroizing::new) {
            let signer = parse_key(&key, Some(PRIVATE_KEY_ENV))?;
            return self.check_address(signer, PRIVATE_KEY_ENV);
        }
        let dir = match &self.keystore_dir {
            Some(dir) => KeystoreDir::new(dir),
            None => KeystoreDir::default_dir()?,
        };
        let entry = match self.address {
            Some(address) => dir.find(address)?,
            None => dir.single()?,
        };
        load_file(
            &entry.path,
            unlock_password(&password(), &entry.path)?.as_bytes(),
        )
    }

    fn check_address(
        &self,
        signer: PrivateKeySigner,
        source_name: &'static str,
    ) -> Result<PrivateKeySigner> {
        match self.address {
            Some(requested) if requested != signer.address() => Err(Error::UnexpectedAddress {
                source_name,
                requested,
                actual: signer.address(),
            }),
            _ => Ok(signer),
        }
    }
}

fn unlock_password(source: &PasswordSource, file: &std::path::Path) -> Result<Password> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    source.read(&format!("Password for {name}: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn raw_keys() {
        let signer = parse_private_key(KEY).unwrap();
        assert_eq!(
            signer.address().to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            parse_private_key(&format!(" {}\n", &KEY[2..])).unwrap(),
            signer
        );
        for bad in [
            "",
            "0x1234",
            &KEY.replace('a', "g"),
            &format!("0x{}", "0".repeat(64)),
        ] {
            let err = parse_private_key(bad).unwrap_err();
            assert!(matches!(err, Error::PrivateKey { from: None }), "{bad}");
            assert!(
                !err.to_string().contains(&KEY[10..]),
                "the key must not leak"
            );
        }
    }

    #[test]
    fn private_key_env_comes_before_the_keystore_dir() {
        let dir = tempfile::tempdir().unwrap();
        let env = |key: &str| (key == PRIVATE_KEY_ENV).then(|| KEY.to_owned());
        let opts = WalletOptions {
            keystore_dir: Some(dir.path().into()),
            ..Default::default()
        };
        let signer = opts.open_with(env).unwrap();
        assert_eq!(signer.address(), parse_private_key(KEY).unwrap().address());

        let wrong = WalletOptions {
            address: Some(Address::repeat_byte(1)),
            ..opts.clone()
        };
        let err = wrong.open_with(env).unwrap_err();
        assert!(err.to_string().contains(PRIVATE_KEY_ENV), "{err}");

        let bad_env = |key: &str| (key == PRIVATE_KEY_ENV).then(|| "nope".to_owned());
        let err = opts.open_with(bad_env).unwrap_err();
        assert!(matches!(
            err,
            Error::PrivateKey {
                from: Some(PRIVATE_KEY_ENV)
            }
        ));

        // Without the variable, the empty directory is reported.
        let err = opts.open_with(|_| None).unwrap_err();
        assert!(matches!(err, Error::NoWallet { .. }), "{err}");
    }
}
