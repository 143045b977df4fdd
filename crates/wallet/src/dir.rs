//! Keystore directories (`~/.ethereum/keystore`) and keystore files.

use crate::{write_atomic, Access, Error, Existing, Kdf, Keystore, Result};
use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use std::{
    fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// A wallet found in a keystore directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalletEntry {
    /// The wallet address.
    pub address: Address,
    /// The keystore file.
    pub path: PathBuf,
}

/// The default keystore directory shared with geth and the iExec SDK:
/// `~/.ethereum/keystore` on Linux, `~/Library/Ethereum/keystore` on macOS and
/// `%APPDATA%\Ethereum\keystore` on Windows.
pub fn default_keystore_dir() -> Result<PathBuf> {
    if cfg!(windows) {
        let app_data = std::env::var_os("APPDATA").ok_or(Error::NoHome)?;
        return Ok(PathBuf::from(app_data).join("Ethereum").join("keystore"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(Error::NoHome)?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library").join("Ethereum").join("keystore")
    } else {
        home.join(".ethereum").join("keystore")
    })
}

/// Reads a keystore file.
pub fn read_keystore(path: &Path) -> Result<Keystore> {
    let text = fs::read_to_string(path).map_err(|source| Error::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::NotAKeystore {
        path: path.to_owned(),
        source,
    })
}

/// Unlocks the keystore file at `path` with `password`.
pub fn load_file(path: &Path, password: &[u8]) -> Result<PrivateKeySigner> {
    read_keystore(path)?
        .decrypt(password)
        .map_err(|e| with_path(e, path))
}

fn with_path(err: Error, file: &Path) -> Error {
    match err {
        Error::WrongPassword { path: None } => Error::WrongPassword {
            path: Some(file.to_owned()),
        },
        Error::AddressMismatch {
            path: None,
            stored,
            actual,
        } => Error::AddressMismatch {
            path: Some(file.to_owned()),
            stored,
            actual,
        },
        other => other,
    }
}

/// The geth file name of a keystore created at `time`:
/// `UTC--2024-05-01T10-20-30.123456789Z--<lowercase address without 0x>`.
pub fn keystore_file_name(address: Address, time: SystemTime) -> String {
    let at = time::OffsetDateTime::from(time.max(UNIX_EPOCH));
    let date = at
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]-[minute]-[second].[subsecond digits:9]"
        ))
        .unwrap_or_default();
    format!("UTC--{date}Z--{}", hex::encode(address))
}

/// A keystore directory: one V3 JSON file per wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreDir {
    path: PathBuf,
}

impl KeystoreDir {
    /// The directory at `path` (created when a wallet is first saved).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The default directory (see [`default_keystore_dir`]).
    pub fn default_dir() -> Result<Self> {
        default_keystore_dir().map(Self::new)
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The wallets in the directory, oldest first for geth-named files. Files that are not
    /// keystores, hidden files and keystores without an `address` are skipped. A missing
    /// directory has no wallet.
    pub fn list(&self) -> Result<Vec<WalletEntry>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "cannot list",
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut wallets = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                action: "cannot list",
                path: self.path.clone(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            if let Ok(Some(address)) = read_keystore(&path).map(|k| k.stated_address()) {
                wallets.push(WalletEntry { address, path });
            }
        }
        wallets.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(wallets)
    }

    /// The keystore file of `address`.
    pub fn find(&self, address: Address) -> Result<WalletEntry> {
        self.list()?
            .into_iter()
            .find(|w| w.address == address)
            .ok_or_else(|| Error::WalletNotFound {
                address,
                dir: self.path.clone(),
            })
    }

    /// The only wallet of the directory, or an error naming the choices.
    pub fn single(&self) -> Result<WalletEntry> {
        let mut wallets = self.list()?;
        match wallets.len() {
            0 => Err(Error::NoWallet {
                dir: self.path.clone(),
            }),
            1 => Ok(wallets.remove(0)),
            _ => Err(Error::SeveralWallets {
                dir: self.path.clone(),
                addresses: wallets.into_iter().map(|w| w.address).collect(),
            }),
        }
    }

    /// Unlocks the wallet of `address`.
    pub fn load(&self, address: Address, password: &[u8]) -> Result<PrivateKeySigner> {
        load_file(&self.find(address)?.path, password)
    }

    /// Creates a new random wallet encrypted under `password`.
    pub fn create(&self, password: &[u8], kdf: Kdf) -> Result<(PrivateKeySigner, PathBuf)> {
        let signer = PrivateKeySigner::random();
        let path = self.save(&signer, password, kdf)?;
        Ok((signer, path))
    }

    /// Imports a raw private key (64 hex digits, `0x` optional).
    pub fn import(
        &self,
        private_key: &str,
        password: &[u8],
        kdf: Kdf,
    ) -> Result<(PrivateKeySigner, PathBuf)> {
        let signer = crate::parse_private_key(private_key)?;
        let path = self.save(&signer, password, kdf)?;
        Ok((signer, path))
    }

    /// Encrypts `signer` under `password` and writes it as a new `UTC--…` file (mode 0600 on
    /// Unix). Refuses a second file for the same address.
    pub fn save(&self, signer: &PrivateKeySigner, password: &[u8], kdf: Kdf) -> Result<PathBuf> {
        if let Ok(existing) = self.find(signer.address()) {
            return Err(Error::WalletExists {
                address: signer.address(),
                path: existing.path,
            });
        }
        let keystore = Keystore::encrypt(signer, password, kdf)?;
        self.write(
            &keystore_file_name(signer.address(), SystemTime::now()),
            &keystore,
        )
    }

    /// Writes `keystore` as `name` in the directory, atomically (temporary file then rename).
    pub fn write(&self, name: &str, keystore: &Keystore) -> Result<PathBuf> {
        create_private_dir(&self.path)?;
        let path = self.path.join(name);
        write_atomic(
            &path,
            keystore.to_json().as_bytes(),
            Access::Private,
            Existing::Keep,
        )
        .map_err(|source| Error::Io {
            action: "cannot write",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|source| Error::Io {
        action: "cannot create the keystore directory",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn geth_file_names() {
        let address: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap();
        let t = UNIX_EPOCH + Duration::new(1_714_558_830, 123_456_789);
        assert_eq!(
            keystore_file_name(address, t),
            "UTC--2024-05-01T10-20-30.123456789Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert!(keystore_file_name(address, UNIX_EPOCH)
            .starts_with("UTC--1970-01-01T00-00-00.000000000Z--"));
        // 2000-02-29 (leap day) and 2100-03-01 (no leap day in 2100).
        let day = |days: u64| {
            keystore_file_name(address, UNIX_EPOCH + Duration::from_secs(days * 86_400))
        };
        assert!(day(11_016).starts_with("UTC--2000-02-29T00-00-00.000000000Z--"));
        assert!(day(47_541).starts_with("UTC--2100-03-01T00-00-00.000000000Z--"));
    }
}
