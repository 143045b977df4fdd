//! The store's configuration: which backend holds the archives, the limits, and whom to trust.

use crate::{Error, Result};
use alloy_primitives::Address;
use object_store::{aws::AmazonS3Builder, local::LocalFileSystem, memory::InMemory, ObjectStore};
use serde::{Deserialize, Serialize};
use std::{fmt, path::PathBuf, sync::Arc};

/// Default upper bound of one uploaded archive: 64 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of distinct archives one task may hold (replicas may differ).
pub const DEFAULT_MAX_OBJECTS_PER_TASK: usize = 16;
/// Default number of distinct archives one worker may store for one task: one result, and
/// one more should it run the task again.
pub const DEFAULT_MAX_OBJECTS_PER_WORKER: usize = 2;
/// Default folder of the local backend.
pub const DEFAULT_PATH: &str = "poco-results";
/// Default S3 region.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// Where the archives are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A local folder ([`StoreConfig::path`]); writes are atomic (temporary file, then rename).
    #[default]
    Local,
    /// An S3-compatible bucket ([`StoreConfig::s3`]).
    S3,
    /// Process memory, lost on exit: for tests.
    Memory,
}

/// An S3-compatible bucket.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible service (MinIO, Garage, …); `None` for AWS.
    pub endpoint: Option<String>,
    /// Bucket name (required).
    pub bucket: String,
    /// Region; `None` means [`DEFAULT_S3_REGION`].
    pub region: Option<String>,
    /// Access key id; with no keys, object_store asks the instance metadata service.
    pub access_key_id: Option<String>,
    /// Secret access key (never printed by `Debug`).
    pub secret_access_key: Option<String>,
    /// Allow a plain `http://` endpoint.
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Config {
    /// The object_store builder for this bucket. It does not talk to the network.
    pub fn builder(&self) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(self.region.as_deref().unwrap_or(DEFAULT_S3_REGION))
            .with_allow_http(self.allow_http);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        builder
    }
}

/// The configuration of a result store, as read from a TOML file (every field optional):
///
/// ```toml
/// backend = "s3"                      # "local" (default) | "s3" | "memory"
/// path = "poco-results"               # folder of the local backend
/// max_upload_bytes = 67108864         # 64 MiB
/// max_objects_per_task = 16
/// trusted_schedulers = ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"]
/// public_url = "https://results.example.org"
///
/// [s3]
/// endpoint = "http://127.0.0.1:9000"
/// bucket = "results"
/// region = "us-east-1"
/// access_key_id = "minio"
/// secret_access_key = "minio123"
/// allow_http = true
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Where the archives are kept.
    pub backend: Backend,
    /// Folder of the [`Backend::Local`] backend, created if missing.
    pub path: PathBuf,
    /// The bucket of the [`Backend::S3`] backend.
    pub s3: S3Config,
    /// Largest archive accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest number of distinct archives stored for one task.
    pub max_objects_per_task: usize,
    /// Largest number of distinct archives one worker may store for one task (so that one
    /// worker cannot use up the task's quota). Counted within the process.
    pub max_objects_per_worker: usize,
    /// Schedulers whose worker authorizations are accepted: the pool's own scheduler.
    pub trusted_schedulers: Vec<Address>,
    /// Base URL written into result links (`<public_url>/results/<taskid>/<sha256>.zip`).
    /// `None` means `http://<listening address>`.
    pub public_url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            path: PathBuf::from(DEFAULT_PATH),
            s3: S3Config::default(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_objects_per_task: DEFAULT_MAX_OBJECTS_PER_TASK,
            max_objects_per_worker: DEFAULT_MAX_OBJECTS_PER_WORKER,
            trusted_schedulers: Vec::new(),
            public_url: None,
        }
    }
}

impl StoreConfig {
    /// Reads a configuration from TOML text; missing fields take their defaults.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(Error::ConfigToml)
    }

    /// Checks the values that would make the store useless or its links broken.
    pub fn validate(&self) -> Result<()> {
        if self.trusted_schedulers.is_empty() {
            return Err(Error::invalid_config(
                "trusted_schedulers is empty, so no upload could ever be accepted: add the \
                 address of the workerpool's scheduler",
            ));
        }
        if self.max_upload_bytes == 0 {
            return Err(Error::invalid_config(
                "max_upload_bytes is 0: set it to the largest result archive to accept (default \
                 64 MiB)",
            ));
        }
        if self.max_objects_per_worker == 0 {
            return Err(Error::invalid_config(
                "max_objects_per_worker is 0: set it to at least 1 (default 2)",
            ));
        }
        if self.max_objects_per_task == 0 {
            return Err(Error::invalid_config(
                "max_objects_per_task is 0: set it to at least 1 (default 16)",
            ));
        }
        if let Some(url) = &self.public_url {
            let parsed = reqwest::Url::parse(url).map_err(|err| {
                Error::invalid_config(format!(
                    "public_url {url:?} is not a URL ({err}): write the base URL requesters reach \
                     the store at, such as https://results.example.org"
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
                return Err(Error::invalid_config(format!(
                    "public_url {url:?} must be an http(s) URL without query, such as \
                     https://results.example.org"
                )));
            }
        }
        if self.backend == Backend::S3 && self.s3.bucket.is_empty() {
            return Err(Error::invalid_config(
                "backend is \"s3\" but s3.bucket is empty: name the bucket",
            ));
        }
        Ok(())
    }

    /// Opens the configured backend (creating the local folder if needed).
    pub fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(match self.backend {
            Backend::Local => {
                std::fs::create_dir_all(&self.path).map_err(|source| Error::CreateDir {
                    path: self.path.clone(),
                    source,
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(&self.path).map_err(Error::Backend)?)
            }
            Backend::S3 => Arc::new(self.s3.builder().build().map_err(Error::Backend)?),
            Backend::Memory => Arc::new(InMemory::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use object_store::{aws::AmazonS3ConfigKey, ClientConfigKey};

    const SCHEDULER: Address = address!("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc");

    #[test]
    fn empty_toml_gives_defaults() {
        let config = StoreConfig::from_toml("").unwrap();
        assert_eq!(config, StoreConfig::default());
        assert_eq!(config.backend, Backend::Local);
        assert_eq!(config.path, PathBuf::from("poco-results"));
        assert_eq!(config.max_upload_bytes, 64 * 1024 * 1024);
        assert_eq!(config.max_objects_per_task, 16);
        assert!(config.public_url.is_none());
        // No trusted scheduler: refused.
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("trusted_schedulers is empty"), "{err}");
    }

    #[test]
    fn full_toml() {
        let config = StoreConfig::from_toml(
            r#"
            backend = "s3"
            max_upload_bytes = 1024
            max_objects_per_task = 2
            trusted_schedulers = ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"]
            public_url = "https://results.example.org/pool"

            [s3]
            endpoint = "http://127.0.0.1:9000"
            bucket = "results"
            access_key_id = "minio"
            secret_access_key = "minio123"
            allow_http = true
            "#,
        )
        .unwrap();
        assert_eq!(config.backend, Backend::S3);
        assert_eq!(config.max_upload_bytes, 1024);
        assert_eq!(config.max_objects_per_task, 2);
        assert_eq!(config.trusted_schedulers, vec![SCHEDULER]);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://results.example.org/pool")
        );
        assert_eq!(config.s3.bucket, "results");
        assert_eq!(config.s3.region, None);
        assert!(config.s3.allow_http);
        config.validate().unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("minio123") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn bad_toml_is_refused() {
        let err = StoreConfig::from_toml("backend = \"ftp\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant `ftp`"), "{err}");
        let err = StoreConfig::from_toml("max_upload = 3").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_upload`"),
            "{err}"
        );
        let err = StoreConfig::from_toml("trusted_schedulers = [\"0x12\"]").unwrap_err();
        assert!(matches!(err, Error::ConfigToml(_)), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let ok = StoreConfig {
            trusted_schedulers: vec![SCHEDULER],
            ..StoreConfig::default()
        };
        ok.validate().unwrap();
        for (config, needle) in [
            (
                StoreConfig {
                    max_upload_bytes: 0,
                    ..ok.clone()
                },
                "max_upload_bytes is 0",
            ),
            (
                StoreConfig {
                    max_objects_per_task: 0,
                    ..ok.clone()
                },
                "max_objects_per_task is 0",
            ),
            (
                StoreConfig {
                    public_url: Some("results.example.org".into()),
                    ..ok.clone()
                },
                "is not a URL",
            ),
            (
                StoreConfig {
                    public_url: Some("ftp://results.example.org".into()),
                    ..ok.clone()
                },
                "must be an http(s) URL",
            ),
            (
                StoreConfig {
                    backend: Backend::S3,
                    ..ok.clone()
                },
                "s3.bucket is empty",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
    }

    #[test]
    fn s3_builder_is_configured() {
        let s3 = S3Config {
            endpoint: Some("http://127.0.0.1:9000".into()),
            bucket: "results".into(),
            region: Some("eu-west-3".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            allow_http: true,
        };
        let builder = s3.builder();
        let value = |key| builder.get_config_value(&key);
        assert_eq!(value(AmazonS3ConfigKey::Bucket).as_deref(), Some("results"));
        assert_eq!(
            value(AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            value(AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(value(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("id"));
        assert_eq!(
            value(AmazonS3ConfigKey::SecretAccessKey).as_deref(),
            Some("secret")
        );
        assert_eq!(
            value(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)).as_deref(),
            Some("true")
        );
        // The default region, and no endpoint for AWS itself.
        let builder = S3Config {
            bucket: "b".into(),
            ..S3Config::default()
        }
        .builder();
        assert_eq!(
            builder
                .get_config_value(&AmazonS3ConfigKey::Region)
                .as_deref(),
            Some("us-east-1")
        );
        assert_eq!(builder.get_config_value(&AmazonS3ConfigKey::Endpoint), None);
    }
}
