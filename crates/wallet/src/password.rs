//! Where a keystore password comes from: a terminal prompt, a file, or `POCO_WALLET_PASSWORD`.

use crate::{Error, Result, PASSWORD_ENV};
use std::{fmt, path::PathBuf};
use zeroize::Zeroizing;

/// A password, wiped from memory when dropped.
pub type Password = Zeroizing<String>;

/// Where to read a keystore password from.
#[derive(Clone)]
pub enum PasswordSource {
    /// Ask on the terminal (`/dev/tty`), without echo.
    Prompt,
    /// The first line of a file (trailing `\n` / `\r\n` removed), as geth's `--password`.
    File(PathBuf),
    /// A password already known (from `POCO_WALLET_PASSWORD`, a secret store, a test).
    Value(Password),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prompt => f.write_str("Prompt"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

impl PasswordSource {
    /// The usual precedence: the password file if one is given, else `POCO_WALLET_PASSWORD`
    /// if set, else a prompt.
    pub fn resolve(password_file: Option<PathBuf>) -> Self {
        Self::resolve_with(password_file, |key| std::env::var(key).ok())
    }

    /// [`PasswordSource::resolve`] with an explicit environment lookup.
    pub fn resolve_with(
        password_file: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        match (password_file, env(PASSWORD_ENV)) {
            (Some(file), _) => Self::File(file),
            (None, Some(value)) => Self::Value(Zeroizing::new(value)),
            (None, None) => Self::Prompt,
        }
    }

    /// Reads the password to unlock a wallet.
    pub fn read(&self, prompt: &str) -> Result<Password> {
        match self {
            Self::Prompt => rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(Error::Prompt),
            Self::File(path) => {
                let text =
                    Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::Io {
                        action: "cannot read the password file",
                        path: path.clone(),
                        source,
                    })?);
                let first = text.split('\n').next().unwrap_or_default();
                Ok(Zeroizing::new(
                    first.strip_suffix('\r').unwrap_or(first).to_owned(),
                ))
            }
            Self::Value(value) => Ok(value.clone()),
        }
    }

    /// Reads the password for a new wallet: at a prompt it is asked twice and must not be
    /// empty; files and values are taken as they are.
    pub fn read_new(&self) -> Result<Password> {
        if !matches!(self, Self::Prompt) {
            return self.read("");
        }
        let first = self.read("New wallet password: ")?;
        if first.is_empty() {
            return Err(Error::EmptyPassword);
        }
        let second = self.read("Repeat the password: ")?;
        if first != second {
            return Err(Error::PasswordMismatch);
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let env = |value: Option<&'static str>| {
            move |key: &str| {
                assert_eq!(key, PASSWORD_ENV);
                value.map(str::to_owned)
            }
        };
        assert!(matches!(
            PasswordSource::resolve_with(Some("f".into()), env(Some("x"))),
            PasswordSource::File(_)
        ));
        let from_env = PasswordSource::resolve_with(None, env(Some("hunter2")));
        assert_eq!(from_env.read("").unwrap().as_str(), "hunter2");
        assert_eq!(format!("{from_env:?}"), "Value(<redacted>)");
        assert!(matches!(
            PasswordSource::resolve_with(None, env(None)),
            PasswordSource::Prompt
        ));
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "correct horse \r\nsecond line\n").unwrap();
        let source = PasswordSource::File(path);
        assert_eq!(source.read("").unwrap().as_str(), "correct horse ");
        assert_eq!(source.read_new().unwrap().as_str(), "correct horse ");
        let missing = PasswordSource::File(dir.path().join("nope"));
        let err = missing.read("").unwrap_err();
        assert!(
            err.to_string().contains("cannot read the password file"),
            "{err}"
        );
    }
}
