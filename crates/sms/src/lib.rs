#![doc = include_str!("../README.md")]

pub mod deals;
mod enclave;
mod error;
mod http;
pub mod owners;
pub mod store;
pub mod vault;

pub use poco_sms_api::RESULT_KEY_NAME;
/// The API without the server, from `poco-sms-api` (at their old paths).
pub use poco_sms_api::{auth, client, dataset, result_crypto, tee, Pushed, SmsClient};

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy_primitives::Address;
use poco_chain::{ClientConfig, PocoClient};
use prometheus::{IntCounter, IntCounterVec, Registry};
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use deals::{DealFacts, Deals, TaskState};
pub use error::{Error, Result};
pub use http::{MAX_NAME_CHARS, MAX_SECRET_BYTES, MAX_TEE_BODY_BYTES};
pub use owners::Owners;
pub use store::{SecretId, SecretKind, Store};
pub use vault::Vault;

/// The SMS's configuration.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    /// JSON-RPC URL of the chain (owners are read there).
    pub rpc_url: String,
    /// The hub.
    pub hub: Address,
    /// The database: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    pub database_url: String,
    /// The key file that seals the secrets (created with mode 0600 when missing).
    pub key_file: PathBuf,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// TCP connections served at once.
    pub max_connections: usize,
    /// Serve HTTPS with this certificate and key (PEM files) instead of plain HTTP.
    pub tls: Option<poco_service::TlsFiles>,
    /// What attestation evidence the TEE routes accept: the launch measurements, and whether
    /// the development provider is (insecurely) accepted.
    pub policy: poco_attest::Policy,
}

impl SmsConfig {
    /// Defaults: an SQLite file `sms.db`, the key file `sms.key`, port 13300, 1024 connections,
    /// plain HTTP, no accepted measurement and no development attestation (no TEE session is
    /// granted until measurements are configured).
    pub fn new(rpc_url: impl Into<String>, hub: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            hub,
            database_url: "sqlite://sms.db?mode=rwc".into(),
            key_file: PathBuf::from("sms.key"),
            listen: SocketAddr::from(([127, 0, 0, 1], 13300)),
            max_connections: poco_service::DEFAULT_MAX_CONNECTIONS,
            tls: None,
            policy: poco_attest::Policy::default(),
        }
    }
}

/// An accepted launch measurement from its text `PLATFORM:HEX` (`tdx`, `sgx` or `sev-snp`,
/// then the measurement in hex), as `poco sms --accept-measurement` takes it.
pub fn parse_measurement(text: &str) -> Result<poco_attest::Measurement> {
    let bad = |why: &str| {
        Error::Config(format!(
            "the accepted measurement {text:?} {why}: give PLATFORM:HEX, PLATFORM one of tdx, \
             sgx, sev-snp (e.g. tdx:<the 96 hex digits of MRTD>)"
        ))
    };
    let (platform, value) = text.split_once(':').ok_or_else(|| bad("has no ':'"))?;
    let platform = [
        poco_attest::Platform::Tdx,
        poco_attest::Platform::Sgx,
        poco_attest::Platform::SevSnp,
    ]
    .into_iter()
    .find(|p| p.as_str() == platform.trim().to_ascii_lowercase())
    .ok_or_else(|| bad("names no TEE platform"))?;
    let value = value.trim();
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.is_empty() || digits.len() % 2 != 0 || hex::decode(digits).is_err() {
        return Err(bad("is not an even number of hexadecimal digits"));
    }
    Ok(poco_attest::Measurement {
        platform,
        value: digits.to_ascii_lowercase(),
    })
}

/// The service's counters.
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    /// Secrets stored (created or updated).
    pub(crate) stored: IntCounter,
    /// Writes refused for their authorization (wrong signer, replay, unknown asset).
    pub(crate) refused: IntCounter,
    /// TEE sessions, by outcome (`granted`, `refused`).
    pub(crate) sessions: IntCounterVec,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        Self {
            stored: poco_service::metrics::counter(
                &registry,
                "poco_sms_secrets_stored_total",
                "Secrets stored (created or updated)",
            ),
            refused: poco_service::metrics::counter(
                &registry,
                "poco_sms_writes_refused_total",
                "Secret writes refused for their authorization",
            ),
            sessions: poco_service::metrics::counter_vec(
                &registry,
                "poco_sms_tee_sessions_total",
                "TEE sessions: secrets sealed to an attested enclave (granted) or refused",
                "outcome",
                &["granted", "refused"],
            ),
            registry,
        }
    }

    pub(crate) fn sessions_granted(&self) -> IntCounter {
        self.sessions.with_label_values(&["granted"])
    }

    pub(crate) fn sessions_refused(&self) -> IntCounter {
        self.sessions.with_label_values(&["refused"])
    }
}

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) owners: Arc<dyn Owners>,
    pub(crate) deals: Arc<dyn Deals>,
    pub(crate) policy: poco_attest::Policy,
    pub(crate) metrics: Metrics,
}

/// A running SMS: where it listens and the task of its server;
/// [`ServiceHandle::shutdown`](poco_service::ServiceHandle::shutdown) stops it gracefully.
pub type Running = poco_service::ServiceHandle<Error>;

/// A client that has not sent its request headers within this time is disconnected.
const HEADER_READ_TIME: Duration = Duration::from_secs(30);

/// Opens the key file and the database (which must follow this chain and have been sealed with
/// this key), and serves the API; owners are read from the chain.
pub async fn start(config: SmsConfig) -> Result<Running> {
    let client =
        PocoClient::connect(ClientConfig::new(config.rpc_url.clone(), config.hub), None).await?;
    let store = Store::open(
        &config.database_url,
        Vault::open_or_create(&config.key_file)?,
    )
    .await?;
    let chain_key = client.history_key().await?;
    let known = store.meta("chain").await?;
    if poco_service::db::check_chain(
        &config.database_url,
        "holds the secrets of",
        known.as_deref(),
        &chain_key,
    )
    .map_err(|e| Error::Config(e.to_string()))?
    {
        store.set_meta("chain", &chain_key).await?;
    }
    let client = Arc::new(client);
    start_with(&config, store, client.clone(), client).await
}

/// Serves the API over `store`, reading owners from `owners` and deals from `deals` (tests
/// give their own).
pub async fn start_with(
    config: &SmsConfig,
    store: Store,
    owners: Arc<dyn Owners>,
    deals: Arc<dyn Deals>,
) -> Result<Running> {
    if config.max_connections == 0 {
        return Err(Error::Config(
            "max connections must be at least 1".to_string(),
        ));
    }
    let tls = config
        .tls
        .as_ref()
        .map(poco_service::TlsConfig::load)
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    let listener = TcpListener::bind(config.listen).await?;
    let url = format!(
        "{}://{}",
        poco_service::scheme(tls.as_ref()),
        listener.local_addr()?
    );
    info!(
        target: "poco::sms",
        %url,
        database = %store.url(),
        key_file = %config.key_file.display(),
        measurements = config.policy.measurements.len(),
        "SMS started"
    );
    if config.policy.allow_dev {
        warn!(target: "poco::sms", "{}", enclave::DEV_WARNING);
    }
    let shared = Arc::new(Shared {
        store,
        owners,
        deals,
        policy: config.policy.clone(),
        metrics: Metrics::new(),
    });
    let options = poco_service::ServeOptions {
        tls,
        max_connections: config.max_connections,
        header_read_timeout: HEADER_READ_TIME,
    };
    let running = poco_service::ServiceHandle::spawn(
        listener,
        url,
        http::router(shared),
        options,
        std::future::pending(),
        |e| Error::Serve(std::io::Error::other(e.to_string())),
    )?;
    Ok(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_measurements_are_parsed_and_bad_ones_named() {
        let m = parse_measurement("TDX:0xABcd").unwrap();
        assert_eq!(m.platform, poco_attest::Platform::Tdx);
        assert_eq!(m.value, "abcd");
        let m = parse_measurement("sev-snp:00ff").unwrap();
        assert_eq!(m.platform, poco_attest::Platform::SevSnp);
        for bad in ["tdx", "dev:00", "tpm:00", "sgx:0", "sgx:zz", "sgx:"] {
            let err = parse_measurement(bad).unwrap_err().to_string();
            assert!(err.contains("PLATFORM:HEX") && err.contains(bad), "{err}");
        }
    }
}
