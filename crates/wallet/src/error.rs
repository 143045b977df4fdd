//! The crate's error type.

use alloy_primitives::Address;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while creating, listing or unlocking a wallet.
///
/// Messages name the problem and the fix, so that a CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The keystore's MAC does not match: the password is wrong (or the file is corrupt).
    #[error(
        "wrong password for the keystore{}: the MAC check failed; type the password again, or \
         give the right one with a password file or the {} environment variable",
        at(path.as_deref()),
        crate::PASSWORD_ENV
    )]
    WrongPassword {
        /// The keystore file, when known.
        path: Option<PathBuf>,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a V3 keystore.
    #[error(
        "{} is not an Ethereum V3 keystore: {source}; point to a keystore JSON file (geth \
         `UTC--…` or iExec SDK wallet file)",
        path.display()
    )]
    NotAKeystore {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The keystore uses a format this crate does not implement.
    #[error("unsupported keystore: {0}; only version 3 with aes-128-ctr and scrypt or pbkdf2 (hmac-sha256) is supported")]
    Unsupported(String),
    /// The keystore's KDF parameters are invalid or unreasonably large.
    #[error("invalid keystore KDF parameters: {0}")]
    KdfParams(String),
    /// A private key string is not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error(
        "invalid private key{}: expected 32 bytes as 64 hex digits (0x optional) forming a valid \
         secp256k1 key",
        from.map(|f| format!(" in {f}")).unwrap_or_default()
    )]
    PrivateKey {
        /// Where the key came from (an environment variable name), when relevant.
        from: Option<&'static str>,
    },
    /// The address stored in a keystore is not the one of its key.
    #[error(
        "keystore{} says address {stored} but its key is for {actual}; the file was edited or \
         corrupted, restore it from a backup",
        at(path.as_deref())
    )]
    AddressMismatch {
        /// The keystore file, when known.
        path: Option<PathBuf>,
        /// The address written in the file.
        stored: Address,
        /// The address of the decrypted key.
        actual: Address,
    },
    /// The wallet asked for is not the one found.
    #[error(
        "the wallet from {source_name} is {actual}, not the requested {requested}; unset \
         {source_name} or ask for {actual}"
    )]
    UnexpectedAddress {
        /// Where the key came from.
        source_name: &'static str,
        /// The address asked for.
        requested: Address,
        /// The address found.
        actual: Address,
    },
    /// No keystore for this address in the directory.
    #[error(
        "no wallet for {address} in {}; list the wallets of that directory, choose another \
         keystore directory, or import the key",
        dir.display()
    )]
    WalletNotFound {
        /// The address asked for.
        address: Address,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The directory holds no keystore.
    #[error(
        "no wallet in {}; create or import one, choose another keystore directory, or set {}",
        dir.display(),
        crate::PRIVATE_KEY_ENV
    )]
    NoWallet {
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The directory holds several keystores and none was chosen.
    #[error(
        "{} wallets in {} ({}); choose one by address",
        addresses.len(),
        dir.display(),
        addresses.iter().map(|a| a.to_checksum(None)).collect::<Vec<_>>().join(", ")
    )]
    SeveralWallets {
        /// The keystore directory.
        dir: PathBuf,
        /// The addresses found.
        addresses: Vec<Address>,
    },
    /// A keystore for this address already exists.
    #[error("a wallet for {address} already exists: {}; use it, or remove it first", path.display())]
    WalletExists {
        /// The address.
        address: Address,
        /// The existing file.
        path: PathBuf,
    },
    /// The password could not be read from the terminal.
    #[error(
        "cannot read the password from the terminal: {0}; without a terminal, set {env} or give \
         a password file",
        env = crate::PASSWORD_ENV
    )]
    Prompt(#[source] std::io::Error),
    /// The two passwords typed when creating a wallet differ.
    #[error("the passwords do not match; type the same password twice")]
    PasswordMismatch,
    /// An empty password was typed when creating a wallet.
    #[error("empty password; choose a password to encrypt the wallet with")]
    EmptyPassword,
    /// The home directory is unknown, so the default keystore directory is too.
    #[error(
        "cannot find the home directory (HOME is not set); give the keystore directory explicitly"
    )]
    NoHome,
}

fn at(path: Option<&Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
