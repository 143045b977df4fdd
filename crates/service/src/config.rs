//! Layered configuration, resolved in one place for every service: its defaults, then a TOML
//! file (`--config FILE`, else `$POCO_HOME/<service>.toml` when it exists), then `POCO_*`
//! environment variables, then command-line flags; each layer overrides the ones before it,
//! field by field (tables merge, everything else is replaced).
//!
//! Environment variables are named `POCO_<SERVICE>_<FIELD>` in capitals (`POCO_MARKET_LISTEN`,
//! `POCO_SCHEDULER_LEASE`); a field of a table is reached with a double underscore
//! (`POCO_SCHEDULER_STORE__BACKEND=s3`, `POCO_SCHEDULER_STORE__S3__BUCKET=results`). A value
//! is read as a value when it is one (`500`, `true`, `["0x…"]`, `{a = 1}`, `"quoted"`), else
//! as a string.
//!
//! The layers are merged by [figment](https://docs.rs/figment/0.10), which keeps the source of
//! every value: an error names the file, the variable or the flag at fault.

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Map},
    Figment, Metadata, Profile, Provider,
};
use serde::{de::DeserializeOwned, Serialize};

/// Why a configuration cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read the configuration file {path}: {source}; give a TOML file this process can read")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration file is not TOML.
    #[error("the configuration file {path} is not valid TOML: {source}; fix its syntax")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: toml::de::Error,
    },
    /// The merged layers do not make a configuration (an unknown field, a wrong type).
    #[error("the {service} configuration is not valid: {problems}")]
    Invalid {
        /// The service.
        service: String,
        /// Each problem with the layer at fault (the file, the `POCO_<SERVICE>_*` variable or
        /// the flag) and the fix, separated by `; `.
        problems: String,
        /// figment's errors (boxed: figment's error is large).
        source: Box<figment::Error>,
    },
}

/// Where a service's layers come from.
#[derive(Clone, Debug)]
pub struct Layers<'a> {
    /// The service's name: `market`, `scheduler`; names the default file and the variables.
    pub service: &'a str,
    /// `--config FILE`: must exist when given.
    pub file: Option<&'a Path>,
    /// poco's home folder, where `<service>.toml` is read when no file is given (skipped when
    /// missing).
    pub home: Option<&'a Path>,
}

/// The names of the layers in figment's metadata.
const DEFAULTS: &str = "defaults";
const FILE: &str = "configuration file";
const ENV: &str = "environment";
const FLAGS: &str = "flags";

impl<'a> Layers<'a> {
    /// The layers of `service`; the environment is the process's, read by [`Layers::resolve`].
    pub fn new(service: &'a str, file: Option<&'a Path>, home: Option<&'a Path>) -> Self {
        Self {
            service,
            file,
            home,
        }
    }

    /// The file to read: the one given, else `<home>/<service>.toml` if it exists.
    pub fn file_path(&self) -> Option<PathBuf> {
        match (self.file, self.home) {
            (Some(file), _) => Some(file.to_path_buf()),
            (None, Some(home)) => {
                let path = home.join(format!("{}.toml", self.service));
                path.is_file().then_some(path)
            }
            (None, None) => None,
        }
    }

    /// The prefix of this service's environment variables: `POCO_<SERVICE>_`.
    pub fn env_prefix(&self) -> String {
        format!("POCO_{}_", self.service.to_uppercase())
    }

    /// Resolves `T`: `defaults` < the file < the `POCO_<SERVICE>_*` environment variables <
    /// `flags` (whose `None` fields must be skipped when serialized:
    /// `#[serde(skip_serializing_if = "Option::is_none")]`).
    pub fn resolve<T, F>(&self, defaults: &T, flags: &F) -> Result<T, ConfigError>
    where
        T: Serialize + DeserializeOwned,
        F: Serialize,
    {
        let mut figment = Figment::new().merge(Named {
            provider: Serialized::defaults(defaults),
            metadata: Metadata::named(DEFAULTS),
        });
        if let Some(path) = self.file_path() {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            // Parsed here for an error that keeps the parser's position; figment parses again.
            if let Err(source) = text.parse::<toml::Table>() {
                return Err(ConfigError::Toml { path, source });
            }
            figment = figment.merge(Named {
                provider: Toml::string(&text),
                metadata: Metadata::from(FILE, path.as_path()),
            });
        }
        let figment = figment
            .merge(Named {
                provider: Env::prefixed(&self.env_prefix()).split("__"),
                metadata: Metadata::named(ENV),
            })
            .merge(Named {
                provider: Serialized::defaults(flags),
                metadata: Metadata::named(FLAGS),
            });
        figment.extract().map_err(|source| ConfigError::Invalid {
            service: self.service.to_owned(),
            problems: source
                .clone()
                .into_iter()
                .map(|error| self.problem(&figment, &error))
                .collect::<Vec<_>>()
                .join("; "),
            source: Box::new(source),
        })
    }

    /// One of figment's errors as the setting at fault, the layer that set it and the fix.
    fn problem(&self, figment: &Figment, error: &figment::Error) -> String {
        let mut path = error.path.clone();
        // figment names an unknown field's path with the field, serde's error without it.
        if let figment::error::Kind::UnknownField(field, _) = &error.kind {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
        }
        let key = path.join(".");
        // The layer that set the key last, else the one figment tagged the error with.
        let metadata = figment
            .find_metadata(&key)
            .or(error.metadata.as_ref())
            .map(|m| (m.name.as_ref(), m.source.as_ref()));
        let setting = if key.is_empty() {
            "the settings".to_owned()
        } else {
            format!("`{key}`")
        };
        let kind = &error.kind;
        match metadata {
            Some((FILE, Some(source))) => format!(
                "{setting} in the configuration file {}: {kind}; fix or remove it there",
                source.file_path().unwrap_or(Path::new("?")).display()
            ),
            Some((ENV, _)) => format!(
                "the environment variable {}{}: {kind}; fix or unset it",
                self.env_prefix(),
                path.join("__").to_uppercase()
            ),
            Some((FLAGS, _)) => format!(
                "the flag --{}: {kind}; fix the flag",
                path.last()
                    .map_or(Cow::Borrowed(""), |f| f.replace('_', "-").into())
            ),
            _ => format!(
                "{setting}: {kind}; check the file, the {}* environment variables and the flags",
                self.env_prefix()
            ),
        }
    }
}

/// A provider under the name poco gives its layer, so that errors can name it.
struct Named<P> {
    provider: P,
    metadata: Metadata,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.provider.data()
    }
}

#[cfg(test)]
// figment::Jail's closures return figment's error, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        listen: String,
        lease: u64,
        label: Option<String>,
        peers: Vec<String>,
        nested: Nested,
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Nested {
        a: u64,
        b: u64,
    }

    impl Default for Settings {
        fn default() -> Self {
            Self {
                listen: "default".into(),
                lease: 30,
                label: None,
                peers: vec!["p0".into()],
                nested: Nested { a: 1, b: 2 },
            }
        }
    }

    #[derive(Default, Serialize)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        listen: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        lease: Option<String>,
    }

    fn layers(file: Option<&Path>) -> Layers<'_> {
        Layers::new("svc", file, None)
    }

    fn resolve(file: Option<&Path>, flags: &Flags) -> Result<Settings, ConfigError> {
        layers(file).resolve(&Settings::default(), flags)
    }

    /// Each row: which layers set `listen` (file, env, flag) and the value that wins.
    #[test]
    fn precedence_table() {
        Jail::expect_with(|jail| {
            let file = jail.directory().join("svc.toml");
            std::fs::write(&file, "listen = \"file\"\n[nested]\nb = 20\n").unwrap();
            let cases: [(bool, bool, bool, &str); 8] = [
                (false, false, false, "default"),
                (true, false, false, "file"),
                (false, true, false, "env"),
                (false, false, true, "flag"),
                (true, true, false, "env"),
                (true, false, true, "flag"),
                (false, true, true, "flag"),
                (true, true, true, "flag"),
            ];
            // Another service's variable is never read.
            jail.set_env("POCO_OTHER_LISTEN", "other");
            for (with_file, with_env, with_flag, expected) in cases {
                if with_env {
                    jail.set_env("POCO_SVC_LISTEN", "env");
                } else {
                    std::env::remove_var("POCO_SVC_LISTEN");
                }
                let flags = Flags {
                    listen: with_flag.then(|| "flag".to_owned()),
                    lease: None,
                };
                let resolved = resolve(with_file.then_some(file.as_path()), &flags).unwrap();
                assert_eq!(
                    resolved.listen, expected,
                    "file {with_file}, env {with_env}, flag {with_flag}"
                );
                assert_eq!(resolved.lease, 30);
                // Tables merge: the file's nested.b, the default nested.a.
                let b = if with_file { 20 } else { 2 };
                assert_eq!(resolved.nested, Nested { a: 1, b });
            }
            Ok(())
        });
    }

    #[test]
    fn env_values_are_typed_and_nested() {
        Jail::expect_with(|jail| {
            jail.set_env("POCO_SVC_LEASE", "45");
            jail.set_env("POCO_SVC_LABEL", "a label");
            jail.set_env("POCO_SVC_NESTED__A", "7");
            jail.set_env("POCO_SVC_PEERS", "[\"0xab\", p2]");
            let resolved = resolve(None, &Flags::default()).unwrap();
            assert_eq!(resolved.lease, 45);
            assert_eq!(resolved.label.as_deref(), Some("a label"));
            assert_eq!(resolved.nested, Nested { a: 7, b: 2 });
            // An array replaces the default's, it is not appended to it.
            assert_eq!(resolved.peers, ["0xab", "p2"]);
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_layer_and_the_fix() {
        Jail::expect_with(|jail| {
            let dir = jail.directory().to_path_buf();
            let missing = dir.join("nope.toml");
            let err = resolve(Some(&missing), &Flags::default()).unwrap_err();
            assert!(matches!(err, ConfigError::Read { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("cannot read the configuration file"),
                "{err}"
            );

            let broken = dir.join("broken.toml");
            std::fs::write(&broken, "lease = = 3\n").unwrap();
            let err = resolve(Some(&broken), &Flags::default()).unwrap_err();
            assert!(matches!(err, ConfigError::Toml { .. }), "{err}");
            assert!(err.to_string().contains("broken.toml"), "{err}");

            // A wrong type, an unknown field in a table: named, with the file.
            let bad = dir.join("bad.toml");
            std::fs::write(&bad, "lease = \"long\"\n").unwrap();
            let err = resolve(Some(&bad), &Flags::default())
                .unwrap_err()
                .to_string();
            let in_file = format!("`lease` in the configuration file {}", bad.display());
            assert!(err.contains(&in_file), "{err}");
            assert!(err.contains("fix or remove it there"), "{err}");
            std::fs::write(&bad, "[nested]\nunknown = 1\n").unwrap();
            let err = resolve(Some(&bad), &Flags::default())
                .unwrap_err()
                .to_string();
            let in_file = format!(
                "`nested.unknown` in the configuration file {}",
                bad.display()
            );
            assert!(err.contains(&in_file), "{err}");

            // The variable at fault, by its name.
            jail.set_env("POCO_SVC_NESTED__A", "many");
            let err = resolve(None, &Flags::default()).unwrap_err().to_string();
            assert!(
                err.contains("the environment variable POCO_SVC_NESTED__A"),
                "{err}"
            );
            assert!(err.contains("fix or unset it"), "{err}");
            jail.set_env("POCO_SVC_NESTED__A", "3");
            jail.set_env("POCO_SVC_LEESE", "3");
            let err = resolve(None, &Flags::default()).unwrap_err().to_string();
            assert!(err.contains("POCO_SVC_LEESE"), "{err}");
            std::env::remove_var("POCO_SVC_LEESE");

            // The flag at fault, by its name.
            let flags = Flags {
                lease: Some("long".into()),
                ..Flags::default()
            };
            let err = resolve(None, &flags).unwrap_err().to_string();
            assert!(err.contains("the flag --lease"), "{err}");

            // The home file is read only when it exists.
            let home = dir.join("home");
            std::fs::create_dir(&home).unwrap();
            let mut l = layers(None);
            l.home = Some(&home);
            assert_eq!(l.file_path(), None);
            std::fs::write(home.join("svc.toml"), "lease = 9").unwrap();
            assert_eq!(l.file_path(), Some(home.join("svc.toml")));
            let resolved: Settings = l.resolve(&Settings::default(), &Flags::default()).unwrap();
            assert_eq!(resolved.lease, 9);
            Ok(())
        });
    }
}
