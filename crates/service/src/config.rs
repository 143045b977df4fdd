//! Layered configuration, resolved in one place for every service: its defaults, then a TOML
//! file (`--config FILE`, else `$POCO_HOME/<service>.toml` when it exists), then `POCO_*`
//! environment variables, then command-line flags; each layer overrides the ones before it,
//! field by field (tables merge, everything else is replaced).
//!
//! Environment variables are named `POCO_<SERVICE>_<FIELD>` in capitals (`POCO_MARKET_LISTEN`,
//! `POCO_SCHEDULER_LEASE`); a field of a table is reached with a double underscore
//! (`POCO_SCHEDULER_STORE__BACKEND=s3`, `POCO_SCHEDULER_STORE__S3__BUCKET=results`). A value
//! is read as a TOML value when it is one (`500`, `true`, `["0x…"]`), else as a string.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

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
    #[error("the configuration file {path} is not valid TOML: {reason}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// The merged layers do not make a configuration (an unknown field, a wrong type).
    #[error("the {service} configuration is not valid: {reason}; check the file {file}, the POCO_{}_* environment variables and the flags", service.to_uppercase())]
    Invalid {
        /// The service.
        service: String,
        /// The file read, or "(none)".
        file: String,
        /// serde's reason.
        reason: String,
    },
    /// A layer cannot be turned into a table (a programming error).
    #[error("cannot serialize the {what} of the {service} configuration: {reason}")]
    Serialize {
        /// The service.
        service: String,
        /// "defaults" or "flags".
        what: &'static str,
        /// serde's reason.
        reason: String,
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
    /// The environment, as `(name, value)` pairs (`std::env::vars()`); only
    /// `POCO_<SERVICE>_*` are read.
    pub env: Vec<(String, String)>,
}

impl<'a> Layers<'a> {
    /// The layers of `service` from the process environment.
    pub fn new(service: &'a str, file: Option<&'a Path>, home: Option<&'a Path>) -> Self {
        Self {
            service,
            file,
            home,
            env: std::env::vars().collect(),
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

    /// Resolves `T`: `defaults` < the file < the environment < `flags` (whose `None` fields
    /// must be skipped when serialized: `#[serde(skip_serializing_if = "Option::is_none")]`).
    pub fn resolve<T, F>(&self, defaults: &T, flags: &F) -> Result<T, ConfigError>
    where
        T: Serialize + DeserializeOwned,
        F: Serialize,
    {
        let table = |what: &'static str, value: serde_json::Result<Value>| match value {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ConfigError::Serialize {
                service: self.service.to_owned(),
                what,
                reason: "not a table".into(),
            }),
            Err(e) => Err(ConfigError::Serialize {
                service: self.service.to_owned(),
                what,
                reason: e.to_string(),
            }),
        };
        let mut merged = table("defaults", serde_json::to_value(defaults))?;
        let file = self.file_path();
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let parsed: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Toml {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            merge(&mut merged, to_json(toml::Value::Table(parsed)));
        }
        merge(&mut merged, self.env_table());
        merge(
            &mut merged,
            Value::Object(table("flags", serde_json::to_value(flags))?),
        );
        serde_json::from_value(Value::Object(merged)).map_err(|e| ConfigError::Invalid {
            service: self.service.to_owned(),
            file: file.map_or_else(|| "(none)".to_owned(), |f| f.display().to_string()),
            reason: e.to_string(),
        })
    }

    /// The `POCO_<SERVICE>_*` variables as a table.
    fn env_table(&self) -> Value {
        let prefix = self.env_prefix();
        let mut table = Map::new();
        for (name, raw) in &self.env {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            let mut value = env_value(raw);
            for key in path.iter().rev() {
                let mut map = Map::new();
                map.insert(key.clone(), value);
                value = Value::Object(map);
            }
            merge(&mut table, value);
        }
        Value::Object(table)
    }
}

/// An environment value: a TOML value when it parses as one, else the string itself.
fn env_value(raw: &str) -> Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut table) => table
            .remove("v")
            .map_or_else(|| Value::String(raw.to_owned()), to_json),
        Err(_) => Value::String(raw.to_owned()),
    }
}

fn to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        toml::Value::Table(table) => {
            Value::Object(table.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
    }
}

/// Lays `layer` over `base`: tables merge key by key, any other value replaces.
fn merge(base: &mut Map<String, Value>, layer: Value) {
    let Value::Object(layer) = layer else { return };
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(over)) => {
                merge(inner, Value::Object(over));
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        listen: String,
        lease: u64,
        label: Option<String>,
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
                nested: Nested { a: 1, b: 2 },
            }
        }
    }

    #[derive(Default, Serialize)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        listen: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        lease: Option<u64>,
    }

    fn layers<'a>(file: Option<&'a Path>, env: &[(&str, &str)]) -> Layers<'a> {
        Layers {
            service: "svc",
            file,
            home: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Each row: which layers set `listen` (file, env, flag) and the value that wins.
    #[test]
    fn precedence_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.toml");
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
        for (with_file, with_env, with_flag, expected) in cases {
            let env: &[(&str, &str)] = if with_env {
                &[("POCO_SVC_LISTEN", "env"), ("POCO_OTHER_LISTEN", "other")]
            } else {
                &[]
            };
            let flags = Flags {
                listen: with_flag.then(|| "flag".to_owned()),
                lease: None,
            };
            let resolved: Settings = layers(with_file.then_some(file.as_path()), env)
                .resolve(&Settings::default(), &flags)
                .unwrap();
            assert_eq!(
                resolved.listen, expected,
                "file {with_file}, env {with_env}, flag {with_flag}"
            );
            assert_eq!(resolved.lease, 30);
            // Tables merge: the file's nested.b, the default nested.a.
            let b = if with_file { 20 } else { 2 };
            assert_eq!(resolved.nested, Nested { a: 1, b });
        }
    }

    #[test]
    fn env_values_are_typed_and_nested() {
        let resolved: Settings = layers(
            None,
            &[
                ("POCO_SVC_LEASE", "45"),
                ("POCO_SVC_LABEL", "a label"),
                ("POCO_SVC_NESTED__A", "7"),
            ],
        )
        .resolve(&Settings::default(), &Flags::default())
        .unwrap();
        assert_eq!(resolved.lease, 45);
        assert_eq!(resolved.label.as_deref(), Some("a label"));
        assert_eq!(resolved.nested, Nested { a: 7, b: 2 });
    }

    #[test]
    fn errors_name_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = layers(Some(&missing), &[])
            .resolve(&Settings::default(), &Flags::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read the configuration file"),
            "{err}"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lease = \"long\"\nunknown = 1\n").unwrap();
        let err = layers(Some(&bad), &[])
            .resolve(&Settings::default(), &Flags::default())
            .unwrap_err();
        assert!(err.to_string().contains("POCO_SVC_"), "{err}");
        // The home file is read only when it exists.
        let home = tempfile::tempdir().unwrap();
        let mut l = layers(None, &[]);
        l.home = Some(home.path());
        assert_eq!(l.file_path(), None);
        std::fs::write(home.path().join("svc.toml"), "lease = 9").unwrap();
        assert_eq!(l.file_path(), Some(home.path().join("svc.toml")));
        let resolved: Settings = l.resolve(&Settings::default(), &Flags::default()).unwrap();
        assert_eq!(resolved.lease, 9);
    }
}
