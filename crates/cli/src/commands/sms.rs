//! `poco sms` (the secret management service) and the secret commands that talk to it:
//! `poco dataset encrypt | push-secret | check-secret`, `poco app push-secret | check-secret`,
//! `poco requester push-secret | check-secret` and `poco result push-encryption-key |
//! check-encryption-key`, with `poco result generate-keypair | decrypt` (the beneficiary's
//! result keys and encrypted results in iExec's format, no SMS needed). The SMS is found by `--sms`, `$POCO_SMS`, or the chain's `sms` in
//! chain.json (a URL string, as the iExec SDK reads it).

use std::{net::SocketAddr, path::PathBuf};

use alloy::primitives::Address;
use clap::{Args, Subcommand};
use eyre::{bail, eyre, Result, WrapErr};
use poco_sms::{dataset, result_crypto, SmsClient, SmsConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    commands::market::{resolve_settings, tls_files, TlsArgs},
    config::poco_home,
    context::Context,
};

/// The environment variable naming the SMS URL.
pub(crate) const SMS_ENV: &str = "POCO_SMS";

/// Where `poco sms` listens by default (and the URL a devnet writes as `sms` in chain.json).
pub(crate) const DEFAULT_SMS_PORT: u16 = 13300;

/// The secret name of the result encryption public key (as the iExec SDK names it).
pub(crate) const RESULT_KEY_NAME: &str = poco_sms::RESULT_KEY_NAME;

/// `poco sms`
#[derive(Args, Debug, Serialize)]
pub(crate) struct SmsArgs {
    /// A TOML file of the settings below (as snake_case keys) [default: $POCO_HOME/sms.toml,
    /// when it exists]; POCO_SMS_<SETTING> variables override the file, flags override both.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where the API listens [default: 127.0.0.1:13300].
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    /// The database: sqlite://PATH?mode=rwc or postgres://... [default: a SQLite file in
    /// $POCO_HOME/sms/].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// The key file that seals the secrets at rest, created (mode 0600) when missing; keep it
    /// with the database [default: $POCO_HOME/sms/sms.key].
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<PathBuf>,
    /// INSECURE, devnets only: accept the development attestation provider, which proves
    /// nothing (any process can then obtain the secrets of TEE tasks). Logged loudly at start
    /// and on every development session, and shown by /health.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_dev_attestation: bool,
    /// A launch measurement to accept from TEE workers, PLATFORM:HEX with PLATFORM one of tdx
    /// (MRTD, RTMR0, RTMR1 and RTMR2 concatenated), sgx (MRENCLAVE), sev-snp (MEASUREMENT):
    /// that of a released poco TEE worker image.
    /// Repeat for several; without any, only development attestation (with
    /// --insecure-dev-attestation) can be granted.
    #[arg(long = "accept-measurement", value_name = "PLATFORM:HEX")]
    #[serde(rename = "accept_measurements", skip_serializing_if = "Vec::is_empty")]
    accept_measurement: Vec<String>,
    /// A folder of attestation collateral, read at start and never fetched: Intel DCAP
    /// collateral as a PCCS serves it (*.dcap.json), AMD SEV-SNP roots (<product>.ark.pem and
    /// <product>.ask.pem) and chip keys (vcek/*). Needed to grant real TDX, SGX or SEV-SNP
    /// evidence.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation_collateral: Option<PathBuf>,
    /// The highest VMPL an SEV-SNP report may come from [default: 0, the guest kernel's level
    /// without an SVSM]; raise it only for worker guests whose kernel runs under an SVSM.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=3))]
    #[serde(skip_serializing_if = "Option::is_none")]
    sev_max_vmpl: Option<u32>,
    #[command(flatten)]
    #[serde(flatten)]
    tls: TlsArgs,
}

/// The settings of `poco sms`: the defaults here, then the TOML file, the `POCO_SMS_*`
/// environment and the flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SmsSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) database: Option<String>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) insecure_dev_attestation: bool,
    pub(crate) accept_measurements: Vec<String>,
    pub(crate) attestation_collateral: Option<PathBuf>,
    pub(crate) sev_max_vmpl: u32,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_SMS_PORT)),
            database: None,
            key_file: None,
            tls_cert: None,
            tls_key: None,
            insecure_dev_attestation: false,
            accept_measurements: Vec::new(),
            attestation_collateral: None,
            sev_max_vmpl: 0,
        }
    }
}

impl SmsArgs {
    /// The SMS's settings: the defaults, then the TOML file, the `POCO_SMS_*` environment and
    /// the flags.
    fn settings(&self) -> Result<SmsSettings> {
        let settings: SmsSettings = resolve_settings("sms", self.config.as_deref(), self)?;
        if settings.sev_max_vmpl > 3 {
            bail!(
                "sev_max_vmpl is {}: SEV-SNP has VMPLs 0 to 3; give 0 (the default) unless the \
                 worker guests' kernel runs under an SVSM",
                settings.sev_max_vmpl
            );
        }
        Ok(settings)
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        let settings = self.settings()?;
        let client = ctx.reader().await?;
        let home = poco_home()?.join("sms");
        std::fs::create_dir_all(&home)
            .wrap_err_with(|| format!("cannot create {}", home.display()))?;
        let mut config = SmsConfig::new(client.rpc_url(), client.deployment().hub);
        config.database_url = match settings.database {
            Some(url) => url,
            None => {
                let stem = format!("{}-{:x}", client.chain_id(), client.deployment().hub);
                super::default_database(&client, &home, &stem).await?
            }
        };
        config.key_file = settings.key_file.unwrap_or_else(|| home.join("sms.key"));
        config.listen = settings.listen;
        config.tls = tls_files(&settings.tls_cert, &settings.tls_key)?;
        config.policy.measurements = settings
            .accept_measurements
            .iter()
            .map(|m| poco_sms::parse_measurement(m))
            .collect::<Result<_, _>>()?;
        config.policy.allow_dev = settings.insecure_dev_attestation;
        config.policy.sev_max_vmpl = settings.sev_max_vmpl;
        if let Some(dir) = &settings.attestation_collateral {
            config
                .policy
                .load_collateral(dir)
                .wrap_err("--attestation-collateral")?;
        }
        let running = poco_sms::start(config).await?;
        eprintln!(
            "SMS of chain {} at {}; Ctrl-C to stop",
            client.chain_id(),
            running.url
        );
        if settings.insecure_dev_attestation {
            eprintln!(
                "WARNING: --insecure-dev-attestation: this SMS gives the secrets of TEE tasks to \
                 development attestation, which proves nothing; use it on a devnet only"
            );
        }
        ctx.out.print_line(&json!({
            "sms": running.url,
            "chainId": client.chain_id(),
            "insecureDevAttestation": settings.insecure_dev_attestation,
            "acceptedMeasurements": settings.accept_measurements.len(),
            "attestationCollateral": settings.attestation_collateral,
        }));
        let url = running.url.clone();
        super::services::run_until_signal(ctx, "sms", &client, running).await?;
        Ok(json!({ "url": url, "stopped": true }))
    }
}

/// `--sms`, shared by the commands that talk to an SMS.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct SmsOpt {
    /// The SMS's URL [default: $POCO_SMS, else the chain's `sms` in chain.json].
    #[arg(long, value_name = "URL")]
    sms: Option<String>,
}

impl SmsOpt {
    pub(crate) fn client(&self, ctx: &Context) -> Result<SmsClient> {
        let url = self
            .sms
            .clone()
            .or_else(|| std::env::var(SMS_ENV).ok().filter(|s| !s.is_empty()))
            .or_else(|| {
                ctx.chain_entry().ok().and_then(|(_, _, entry)| {
                    entry
                        .other
                        .get("sms")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            })
            .ok_or_else(|| {
                eyre!(
                    "no SMS configured: pass --sms URL, set {SMS_ENV}, or add \"sms\" to the \
                     chain in chain.json (run one with `poco sms`)"
                )
            })?;
        Ok(SmsClient::new(&url))
    }
}

/// The secret subcommands of `poco dataset`.
#[derive(Subcommand, Debug)]
pub(crate) enum DatasetSecretCommand {
    /// Encrypt a file in iExec's dataset format (AES-256-CBC, IV in front); writes FILE.enc and
    /// its key FILE.key (base64) beside it and prints the checksum to register.
    Encrypt {
        /// The file to encrypt.
        file: PathBuf,
        /// Replace FILE.enc and FILE.key when they exist.
        #[arg(long)]
        force: bool,
    },
    /// Decrypt a file encrypted in iExec's dataset format with its key file.
    Decrypt {
        /// The encrypted file.
        file: PathBuf,
        /// Its key file (base64).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        /// Where to write the plaintext.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Give the SMS a dataset's key (the dataset's owner only; once).
    PushSecret {
        /// The dataset.
        dataset: Address,
        /// The key file written by `dataset encrypt` (or `iexec dataset encrypt`).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        #[command(flatten)]
        sms: SmsOpt,
    },
    /// Whether the SMS holds a dataset's key.
    CheckSecret {
        /// The dataset.
        dataset: Address,
        #[command(flatten)]
        sms: SmsOpt,
    },
}

fn read_secret_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read the secret file {}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn write_new(path: &std::path::Path, bytes: &[u8], force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(eyre!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    std::fs::write(path, bytes).wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// Writes a private key readable by its owner only (mode 0600 from creation), replacing `path`.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).wrap_err_with(|| format!("cannot replace {}", path.display()))
        }
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .wrap_err_with(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

impl DatasetSecretCommand {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Encrypt { file, force } => {
                let plain = std::fs::read(&file)
                    .wrap_err_with(|| format!("cannot read {}", file.display()))?;
                let key = dataset::DatasetKey::generate();
                let encrypted = dataset::encrypt(&plain, &key);
                let mut enc_path = file.clone().into_os_string();
                enc_path.push(".enc");
                let mut key_path = file.into_os_string();
                key_path.push(".key");
                let (enc_path, key_path) = (PathBuf::from(enc_path), PathBuf::from(key_path));
                write_new(&key_path, key.to_base64().as_bytes(), force)?;
                write_new(&enc_path, &encrypted, force)?;
                let checksum = format!("0x{}", hex::encode(dataset::checksum(&encrypted)));
                Ok(json!({
                    "encrypted": enc_path,
                    "keyFile": key_path,
                    "checksum": checksum,
                }))
            }
            Self::Decrypt {
                file,
                key_file,
                output,
            } => {
                let key = dataset::DatasetKey::from_base64(&read_secret_file(&key_file)?)?;
                let encrypted = std::fs::read(&file)
                    .wrap_err_with(|| format!("cannot read {}", file.display()))?;
                let plain = dataset::decrypt(&encrypted, &key)?;
                std::fs::write(&output, plain.as_slice())
                    .wrap_err_with(|| format!("cannot write {}", output.display()))?;
                Ok(json!({ "decrypted": output }))
            }
            Self::PushSecret {
                dataset: address,
                key_file,
                sms,
            } => {
                let key = read_secret_file(&key_file)?;
                dataset::DatasetKey::from_base64(&key)?;
                let wallet = ctx.signer(None)?;
                sms.client(ctx)?
                    .push_dataset_secret(&wallet, address, &key)
                    .await?;
                Ok(json!({ "dataset": address, "isPushed": true }))
            }
            Self::CheckSecret {
                dataset: address,
                sms,
            } => {
                let set = sms.client(ctx)?.dataset_secret_exists(address).await?;
                Ok(json!({ "dataset": address, "isSecretSet": set }))
            }
        }
    }
}

/// The secret subcommands of `poco app`.
#[derive(Subcommand, Debug)]
pub(crate) enum AppSecretCommand {
    /// Give the SMS an app's developer secret (the app's owner only; once).
    PushSecret {
        /// The app.
        app: Address,
        /// A file holding the secret.
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        #[command(flatten)]
        sms: SmsOpt,
    },
    /// Whether the SMS holds an app's developer secret.
    CheckSecret {
        /// The app.
        app: Address,
        #[command(flatten)]
        sms: SmsOpt,
    },
}

impl AppSecretCommand {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::PushSecret {
                app,
                secret_file,
                sms,
            } => {
                let value = read_secret_file(&secret_file)?;
                let wallet = ctx.signer(None)?;
                sms.client(ctx)?
                    .push_app_secret(&wallet, app, &value)
                    .await?;
                Ok(json!({ "app": app, "isPushed": true }))
            }
            Self::CheckSecret { app, sms } => {
                let set = sms.client(ctx)?.app_secret_exists(app).await?;
                Ok(json!({ "app": app, "isSecretSet": set }))
            }
        }
    }
}

/// `poco requester ...`
#[derive(Subcommand, Debug)]
pub(crate) enum RequesterCommand {
    /// Give the SMS a named secret of the wallet, for its tasks (once).
    PushSecret {
        /// The secret's name.
        name: String,
        /// A file holding the secret.
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        #[command(flatten)]
        sms: SmsOpt,
    },
    /// Whether the SMS holds a named secret of a requester.
    CheckSecret {
        /// The secret's name.
        name: String,
        /// The requester [default: the wallet].
        #[arg(long, value_name = "ADDRESS")]
        requester: Option<Address>,
        #[command(flatten)]
        sms: SmsOpt,
    },
}

impl RequesterCommand {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::PushSecret {
                name,
                secret_file,
                sms,
            } => {
                let value = read_secret_file(&secret_file)?;
                let wallet = ctx.signer(None)?;
                sms.client(ctx)?
                    .push_requester_secret(&wallet, &name, &value)
                    .await?;
                Ok(json!({ "requester": wallet.address(), "name": name, "isPushed": true }))
            }
            Self::CheckSecret {
                name,
                requester,
                sms,
            } => {
                let requester = match requester {
                    Some(r) => r,
                    None => ctx.wallet_address()?,
                };
                let set = sms
                    .client(ctx)?
                    .requester_secret_exists(requester, &name)
                    .await?;
                Ok(json!({ "requester": requester, "name": name, "isSecretSet": set }))
            }
        }
    }
}

/// Where the iExec SDK keeps a beneficiary's keypair (below the working directory).
pub(crate) const BENEFICIARY_KEY_DIR: &str = ".secrets/beneficiary";

/// `poco result ...`
#[derive(Subcommand, Debug)]
pub(crate) enum ResultCommand {
    /// Make the beneficiary's result encryption keypair (RSA 4096) as `iexec result
    /// generate-encryption-keypair` does: ADDRESS_key (private, mode 0600) and ADDRESS_key.pub.
    GenerateKeypair {
        /// The directory of the two files [default: .secrets/beneficiary, as the SDK].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace the keypair of this wallet when it exists (its results become unreadable).
        #[arg(long)]
        force: bool,
    },
    /// Decrypt a result encrypted for the beneficiary (iExec's format: aes-key.rsa and
    /// iexec_out.zip.aes in a zip), as `iexec result decrypt` does.
    Decrypt {
        /// The encrypted result [default: encryptedResults.zip].
        file: Option<PathBuf>,
        /// The private key [default: .secrets/beneficiary/ADDRESS_key of the wallet].
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Where to write the result zip [default: results.zip].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace the output file when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Give the SMS the beneficiary's result encryption public key (PEM), as `iexec result
    /// push-encryption-key` does.
    PushEncryptionKey {
        /// The public key (PEM, `-----BEGIN PUBLIC KEY-----`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Replace the key the SMS holds.
        #[arg(long)]
        force_update: bool,
        #[command(flatten)]
        sms: SmsOpt,
    },
    /// Whether the SMS holds a result encryption key for an address.
    CheckEncryptionKey {
        /// The beneficiary [default: the wallet].
        address: Option<Address>,
        #[command(flatten)]
        sms: SmsOpt,
    },
}

impl ResultCommand {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        use base64::Engine;
        match self {
            Self::GenerateKeypair { out, force } => {
                let address = ctx.wallet_address()?;
                let dir = out.unwrap_or_else(|| PathBuf::from(BENEFICIARY_KEY_DIR));
                std::fs::create_dir_all(&dir)
                    .wrap_err_with(|| format!("cannot create the directory {}", dir.display()))?;
                let private_path = dir.join(result_crypto::private_key_file_name(&address));
                let public_path = dir.join(result_crypto::public_key_file_name(&address));
                for path in [&private_path, &public_path] {
                    if path.exists() && !force {
                        return Err(eyre!(
                            "{} exists: results encrypted for it would become unreadable; pass \
                             --force to replace the keypair, or --out to write elsewhere",
                            path.display()
                        ));
                    }
                }
                let keys = result_crypto::generate_keypair()?;
                write_private(&private_path, keys.private_pem.as_bytes())?;
                write_new(&public_path, keys.public_pem.as_bytes(), true)?;
                Ok(json!({
                    "address": address,
                    "publicKeyFile": public_path,
                }))
            }
            Self::Decrypt {
                file,
                key,
                out,
                force,
            } => {
                let file =
                    file.unwrap_or_else(|| PathBuf::from(result_crypto::DEFAULT_ENCRYPTED_NAME));
                let out =
                    out.unwrap_or_else(|| PathBuf::from(result_crypto::DEFAULT_DECRYPTED_NAME));
                let key = match key {
                    Some(key) => key,
                    None => PathBuf::from(BENEFICIARY_KEY_DIR)
                        .join(result_crypto::private_key_file_name(&ctx.wallet_address()?)),
                };
                if out.exists() && !force {
                    return Err(eyre!(
                        "{} exists; pass --force to replace it, or --out to write elsewhere",
                        out.display()
                    ));
                }
                let pem = std::fs::read_to_string(&key).wrap_err_with(|| {
                    format!(
                        "cannot read the private key {}; give it with --key (made by `poco \
                             result generate-keypair` or `iexec result \
                             generate-encryption-keypair`)",
                        key.display()
                    )
                })?;
                let archive = std::fs::read(&file)
                    .wrap_err_with(|| format!("cannot read {}", file.display()))?;
                let plain = result_crypto::decrypt_result(&archive, &pem)?;
                write_new(&out, &plain, true)?;
                Ok(json!({ "resultsPath": out }))
            }
            Self::PushEncryptionKey {
                public_key,
                force_update,
                sms,
            } => {
                let pem = std::fs::read_to_string(&public_key)
                    .wrap_err_with(|| format!("cannot read {}", public_key.display()))?;
                if !pem.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
                    return Err(eyre!(
                        "{} is not a PEM public key (-----BEGIN PUBLIC KEY-----); give the \
                         public key file of the beneficiary's keypair",
                        public_key.display()
                    ));
                }
                // the SMS holds the PEM in base64, as the SDK pushes it
                let value = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
                let wallet = ctx.signer(None)?;
                let pushed = sms
                    .client(ctx)?
                    .push_named_secret(&wallet, RESULT_KEY_NAME, &value, force_update)
                    .await?;
                Ok(json!({
                    "isPushed": true,
                    "isUpdated": pushed == poco_sms::Pushed::Updated,
                }))
            }
            Self::CheckEncryptionKey { address, sms } => {
                let address = match address {
                    Some(a) => a,
                    None => ctx.wallet_address()?,
                };
                let set = sms
                    .client(ctx)?
                    .named_secret_exists(address, RESULT_KEY_NAME)
                    .await?;
                Ok(json!({ "address": address, "isEncryptionKeySet": set }))
            }
        }
    }
}

/// Starts `poco sms` for the devnet in `chain_path` (in its own process group unless
/// `foreground`), on a free port, logging to `dir/sms.log`, accepting development attestation
/// (a devnet has no TEE hardware); returns its pid and URL once it serves.
pub(crate) async fn spawn_for_devnet(
    dir: &std::path::Path,
    chain_path: &std::path::Path,
    foreground: bool,
) -> Result<(u32, String)> {
    let exe = std::env::current_exe().wrap_err("cannot find the poco executable")?;
    let (out_path, log_path) = (dir.join("sms.out"), dir.join("sms.log"));
    let out = std::fs::File::create(&out_path)
        .wrap_err_with(|| format!("cannot write {}", out_path.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .wrap_err_with(|| format!("cannot write {}", log_path.display()))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["--json", "--chain", super::devnet::DEVNET, "--chain-config"])
        .arg(chain_path)
        // a devnet has no TEE hardware: its workers attest with the development provider
        .args([
            "sms",
            "--listen",
            "127.0.0.1:0",
            "--insecure-dev-attestation",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(log);
    if !foreground {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    let mut child = command
        .spawn()
        .wrap_err("cannot start the devnet's SMS (poco sms)")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(eyre!(
                "the devnet's SMS exited ({status}); see {}",
                log_path.display()
            ));
        }
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        let url = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|v| v.get("sms").and_then(Value::as_str).map(str::to_owned));
        if let Some(url) = url {
            return Ok((child.id(), url));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(eyre!(
                "the devnet's SMS did not start within 30 s; see {}",
                log_path.display()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SmsArgs,
    }

    fn settings(args: &[&str]) -> SmsSettings {
        let mut argv = vec!["sms"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().args.settings().unwrap()
    }

    /// The attestation settings: off and empty by default, from the file, and the flags
    /// override the file's list.
    #[test]
    fn attestation_settings_are_layered() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let empty = empty.to_str().unwrap();
        assert_eq!(settings(&["--config", empty]), SmsSettings::default());
        assert!(!SmsSettings::default().insecure_dev_attestation);
        let flags = settings(&[
            "--config",
            empty,
            "--insecure-dev-attestation",
            "--accept-measurement",
            "tdx:aa",
            "--accept-measurement",
            "sev-snp:bb",
        ]);
        assert!(flags.insecure_dev_attestation);
        assert_eq!(flags.accept_measurements, ["tdx:aa", "sev-snp:bb"]);

        let file = dir.path().join("sms.toml");
        std::fs::write(
            &file,
            "insecure_dev_attestation = true\naccept_measurements = [\"sgx:cc\"]\n\
             attestation_collateral = \"/etc/poco/collateral\"\nsev_max_vmpl = 2\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let from_file = settings(&["--config", file]);
        assert!(from_file.insecure_dev_attestation);
        assert_eq!(from_file.accept_measurements, ["sgx:cc"]);
        let overridden = settings(&["--config", file, "--accept-measurement", "tdx:dd"]);
        assert_eq!(overridden.accept_measurements, ["tdx:dd"]);
        assert_eq!(SmsSettings::default().sev_max_vmpl, 0);
        assert_eq!(from_file.sev_max_vmpl, 2);
        assert_eq!(
            settings(&["--config", file, "--sev-max-vmpl", "1"]).sev_max_vmpl,
            1
        );
        // VMPLs go 0 to 3, from the flag or the file
        assert!(Cli::try_parse_from(["sms", "--sev-max-vmpl", "4"]).is_err());
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "sev_max_vmpl = 4\n").unwrap();
        let err = Cli::try_parse_from(["sms", "--config", bad.to_str().unwrap()])
            .unwrap()
            .args
            .settings()
            .unwrap_err();
        assert!(err.to_string().contains("VMPLs 0 to 3"), "{err}");
        assert_eq!(
            from_file.attestation_collateral.as_deref(),
            Some(std::path::Path::new("/etc/poco/collateral"))
        );
        let flag = settings(&["--config", file, "--attestation-collateral", "/srv/pccs"]);
        assert_eq!(
            flag.attestation_collateral.as_deref(),
            Some(std::path::Path::new("/srv/pccs"))
        );
    }
}
