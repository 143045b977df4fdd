//! Keystore directories (`~/.ethereum/keystore`) and keystore files.

use crate::{Error, Kdf, Keystore, Result};
use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use std::{
    fs,
    io::Write,
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
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "UTC--{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}.{:09}Z--{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos(),
        hex::encode(address)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
        let tmp = self.path.join(format!(".{name}.tmp"));
        let io = |action, source| Error::Io {
            action,
            path: path.clone(),
            source,
        };
        let mut file = private_file(&tmp).map_err(|e| io("cannot create", e))?;
        let written = file
            .write_all(keystore.to_json().as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| {
                if path.exists() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "file exists",
                    ))
                } else {
                    fs::rename(&tmp, &path)
                }
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io("cannot write", e));
        }
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

fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
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
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
