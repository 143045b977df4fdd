//! Everything a run checks before money moves, in the order a requester meets it.
//!
//! 1. [`AppInput::read`] and [`check_input_files`] need no chain: the app argument is an app
//!    address or a module file that is a runnable WASI command; the input files are URLs a
//!    worker can download (`#sha256=` well formed).
//! 2. [`Plan::new`] asks the chain, still sending nothing: the app (a registered app and its
//!    owner, or a module file's app, registered or to deploy on a devnet at the address its
//!    registry predicts from the module's name, location and checksum), the dataset and the
//!    workerpool asked exist; `file://` inputs only on a devnet.
//! 3. The caller picks the orders ([`crate::best_offer`] over a market's or local candidates;
//!    [`Plan::own_app_order`] when the wallet owns the app and nobody offers it).
//! 4. [`Plan::prepare`] checks that the orders are the ones planned for and that the deposit
//!    pays for the run, and gives the [`Prepared`] run.
//!
//! Only then does [`Prepared::deploy`] send the first transaction (deploying a module file's
//! app, when it is not registered yet). Every refusal on the way is an [`Error`](crate::Error) whose message
//! names the problem and the fix; nothing was sent.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, Bytes, B256, U256};
use poco_chain::{AppSpec, AssetKind, PocoClient};
use poco_types::{
    format_rlc, AppOrder, Order as _, SignedAppOrder, SignedDatasetOrder, SignedWorkerpoolOrder,
};

use crate::Result;

/// The chain id of a devnet (anvil's): where a module file is deployed on the fly and
/// development workers read `file://` inputs.
pub const DEVNET_CHAIN_ID: u64 = 31337;

/// Why a run was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The app argument is neither an address nor a file.
    #[error("{0:?} is neither an app address (0x + 40 hex digits) nor a WASM module file")]
    NotAnApp(String),
    /// The module file could not be read.
    #[error("cannot read {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The module file is not a runnable WASI command module.
    #[error("{}: {reason}", path.display())]
    BadModule {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and the fix.
        reason: poco_runtime::Error,
    },
    /// An input file's `#sha256=` fragment is not 64 hex digits.
    #[error(
        "the input file {0:?} has a #sha256= fragment that is not 64 hex digits; give the sha256 \
         of the file, or leave the fragment out"
    )]
    BadInputDigest(String),
    /// An input file is a `file://` URL off a devnet.
    #[error(
        "the input file {0:?} is a file:// URL, which only development workers of a devnet \
         read; publish the file and give its http(s):// URL"
    )]
    LocalInputFile(String),
    /// An input file is not an http(s) URL.
    #[error(
        "the input file {0:?} is not an http(s):// URL; workers download input files: publish \
         the file and give its URL (add #sha256=<hex> to have it checked)"
    )]
    NotAnInputUrl(String),
    /// A module file given off a devnet.
    #[error(
        "deploying an app from a file is for devnets; on chain {chain_id}, deploy it with `poco \
         app deploy` and publish an app order"
    )]
    NotADevnet {
        /// The chain.
        chain_id: u64,
    },
    /// An order chosen is not for the asset planned (a market answered with another one).
    #[error(
        "the {kind} order chosen is for {got}, not for the {kind} {expected} asked; the order \
         source is wrong: use another market or order file"
    )]
    OrderMismatch {
        /// `app`, `dataset` or `workerpool`.
        kind: AssetKind,
        /// The asset planned.
        expected: Address,
        /// The asset of the order.
        got: Address,
    },
    /// A dataset order was chosen for a run without a dataset, or none for a run with one.
    #[error(
        "a dataset order was {} for a run {} a dataset; the order source is wrong: use another \
         market or order file",
        if *chosen { "chosen" } else { "missing" },
        if *chosen { "without" } else { "with" }
    )]
    DatasetOrderMismatch {
        /// Whether a dataset order was chosen (for a run without a dataset).
        chosen: bool,
    },
    /// The account's free balance does not pay for the run.
    #[error(
        "the run costs {} ({} per task × {volume}) and account {account} has {} free; deposit \
         at least {} more with `poco account deposit \"{}\"`",
        format_rlc(*cost),
        format_rlc(*price),
        format_rlc(*free),
        format_rlc(cost - free),
        format_rlc(cost - free)
    )]
    Deposit {
        /// The price of one task (app, dataset and workerpool).
        price: U256,
        /// The tasks asked.
        volume: U256,
        /// The price of the run.
        cost: U256,
        /// The paying account.
        account: Address,
        /// Its free balance.
        free: U256,
    },
    /// Result encryption asked, but the SMS holds no result key of the beneficiary.
    #[error(
        "the run asks for an encrypted result but the SMS at {sms} holds no result encryption \
         key of the beneficiary {beneficiary}: make one with `poco result generate-keypair` \
         and push it with `poco result push-encryption-key --public-key \
         .secrets/beneficiary/{beneficiary}_key.pub` (nothing was paid)"
    )]
    NoResultKey {
        /// The SMS asked.
        sms: String,
        /// The beneficiary.
        beneficiary: Address,
    },
    /// A requester secret named by the run is not at the SMS.
    #[error(
        "the run gives the app secret {index} from the requester secret {name:?}, which the SMS \
         at {sms} does not hold for {requester}: push it with `poco requester push-secret \
         {name} --secret-file FILE` (nothing was paid)"
    )]
    MissingSecret {
        /// The SMS asked.
        sms: String,
        /// The requester.
        requester: Address,
        /// The secret's index (`IEXEC_REQUESTER_SECRET_<index>`).
        index: String,
        /// The secret's name.
        name: String,
    },
    /// A requester secret's index is not a positive number.
    #[error(
        "the requester secret index {0:?} is not a positive number: give --secret 1=NAME, \
         2=NAME, ... (the app reads IEXEC_REQUESTER_SECRET_1, ...)"
    )]
    BadSecretIndex(String),
    /// The SMS did not answer the check.
    #[error("cannot check the run's secrets at the SMS: {0}; start the SMS or give its URL")]
    Sms(String),
    /// The app was registered elsewhere than its registry predicted.
    #[error("the app was deployed at {deployed}, not at the predicted {predicted}")]
    Misdeployed {
        /// Where it was registered.
        deployed: Address,
        /// Where it was expected.
        predicted: Address,
    },
}

/// The app argument of a run, read and checked without the chain.
#[derive(Debug, Clone)]
pub enum AppInput {
    /// An app address.
    Address(Address),
    /// A module file that is a runnable WASI command module.
    Module {
        /// The file.
        path: PathBuf,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

impl AppInput {
    /// An app address (`0x` and 40 hex digits), else a module file, read and checked (magic
    /// number, a WASI command with `_start`, compiles).
    pub fn read(arg: &str) -> Result<Self> {
        if let Ok(address) = arg.parse::<Address>() {
            return Ok(Self::Address(address));
        }
        let path = Path::new(arg);
        if !path.is_file() {
            return Err(PlanError::NotAnApp(arg.into()).into());
        }
        let bytes = std::fs::read(path).map_err(|error| PlanError::Unreadable {
            path: path.into(),
            error,
        })?;
        poco_runtime::check_module(&bytes).map_err(|reason| PlanError::BadModule {
            path: path.into(),
            reason,
        })?;
        Ok(Self::Module {
            path: path.into(),
            bytes,
        })
    }
}

/// Checks input-file URLs as a worker reads them: http(s) URLs (`file://` on a devnet, for
/// development workers), with a well-formed `#sha256=` fragment when there is one. `devnet` is
/// `None` before the chain is known (`file://` passes then, to be checked again).
pub fn check_input_files(urls: &[String], devnet: Option<bool>) -> Result<()> {
    for url in urls {
        let (location, fragment) = match url.split_once("#sha256=") {
            Some((location, hex)) => (location, Some(hex)),
            None => (url.as_str(), None),
        };
        if fragment.is_some_and(|hex| hex.parse::<B256>().is_err()) {
            return Err(PlanError::BadInputDigest(url.clone()).into());
        }
        let parsed = alloy::transports::http::reqwest::Url::parse(location).ok();
        match parsed.as_ref().map(|u| (u.scheme(), u.has_host())) {
            Some(("http" | "https", true)) => {}
            Some(("file", _)) if devnet != Some(false) => {}
            Some(("file", _)) => return Err(PlanError::LocalInputFile(url.clone()).into()),
            _ => return Err(PlanError::NotAnInputUrl(url.clone()).into()),
        }
    }
    Ok(())
}

/// Checks at the SMS, before anything is paid, what a TEE run needs from it: with `encrypt`,
/// the beneficiary's result encryption key; each requester secret `secrets` names (index →
/// name, `iexec_secrets`).
pub async fn check_sms(
    sms: &poco_sms_api::SmsClient,
    requester: Address,
    beneficiary: Address,
    secrets: &std::collections::BTreeMap<String, String>,
    encrypt: bool,
) -> Result<()> {
    let unreachable = |e: poco_sms_api::Error| PlanError::Sms(e.to_string());
    for (index, name) in secrets {
        if index.parse::<u32>().map_or(true, |n| n == 0) {
            return Err(PlanError::BadSecretIndex(index.clone()).into());
        }
        if !sms
            .requester_secret_exists(requester, name)
            .await
            .map_err(unreachable)?
        {
            return Err(PlanError::MissingSecret {
                sms: sms.url().to_owned(),
                requester,
                index: index.clone(),
                name: name.clone(),
            }
            .into());
        }
    }
    if encrypt
        && !sms
            .named_secret_exists(beneficiary, poco_sms_api::RESULT_KEY_NAME)
            .await
            .map_err(unreachable)?
    {
        return Err(PlanError::NoResultKey {
            sms: sms.url().to_owned(),
            beneficiary,
        }
        .into());
    }
    Ok(())
}

/// The app of a run, as the chain knows it.
#[derive(Debug, Clone)]
pub enum AppToRun {
    /// A registered app and its owner.
    Registered {
        /// The app.
        address: Address,
        /// Its owner.
        owner: Address,
    },
    /// A module file's app: registered by the sender at `address` when `deployed`, else
    /// deployed there by [`Prepared::deploy`].
    File {
        /// Its address (predicted by the app registry when not deployed yet).
        address: Address,
        /// What registers it.
        spec: AppSpec,
        /// The module file.
        path: PathBuf,
        /// Whether it is registered already.
        deployed: bool,
    },
}

impl AppToRun {
    /// The app's address.
    pub fn address(&self) -> Address {
        match self {
            Self::Registered { address, .. } | Self::File { address, .. } => *address,
        }
    }

    /// The app's owner: `me` (the sender) for a module file.
    pub fn owner(&self, me: Address) -> Address {
        match self {
            Self::Registered { owner, .. } => *owner,
            Self::File { .. } => me,
        }
    }

    /// What [`Prepared::deploy`] registers, when the app is a module file not registered yet.
    pub fn to_deploy(&self) -> Option<&AppSpec> {
        match self {
            Self::File {
                spec,
                deployed: false,
                ..
            } => Some(spec),
            _ => None,
        }
    }

    /// The app as the chain knows it: a registered app (fails when there is none at the
    /// address), or a module file's app at the address its registry predicts for the sender.
    pub async fn resolve(client: &PocoClient, input: AppInput) -> Result<Self> {
        let (path, bytes) = match input {
            AppInput::Address(address) => {
                let view = client.view_app(address).await?;
                return Ok(Self::Registered {
                    address,
                    owner: view.owner,
                });
            }
            AppInput::Module { path, bytes } => (path, bytes),
        };
        if client.chain_id() != DEVNET_CHAIN_ID {
            return Err(PlanError::NotADevnet {
                chain_id: client.chain_id(),
            }
            .into());
        }
        let me = client.sender()?;
        let absolute = std::fs::canonicalize(&path).map_err(|error| PlanError::Unreadable {
            path: path.clone(),
            error,
        })?;
        let spec = AppSpec {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "app".into()),
            kind: "WASM".into(),
            multiaddr: format!("file://{}", absolute.display()),
            checksum: poco_types::sha256_digest(&bytes),
            mrenclave: Bytes::new(),
        };
        let address = client.predict_app(me, &spec).await?;
        let deployed = client.is_registered(AssetKind::App, address).await?;
        Ok(Self::File {
            address,
            spec,
            path,
            deployed,
        })
    }
}

/// A run checked against the chain, before its orders are chosen.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The app.
    pub app: AppToRun,
    /// The dataset asked, registered.
    pub dataset: Option<Address>,
    /// The workerpool asked, registered.
    pub workerpool: Option<Address>,
}

impl Plan {
    /// Checks what the chain knows, sending nothing: the input files for this chain, the app,
    /// the dataset and the workerpool (each must be registered).
    pub async fn new(
        client: &PocoClient,
        app: AppInput,
        dataset: Option<Address>,
        workerpool: Option<Address>,
        input_files: &[String],
    ) -> Result<Self> {
        check_input_files(input_files, Some(client.chain_id() == DEVNET_CHAIN_ID))?;
        let app = AppToRun::resolve(client, app).await?;
        if let Some(dataset) = dataset {
            client.require_asset(AssetKind::Dataset, dataset).await?;
        }
        if let Some(pool) = workerpool {
            client.require_asset(AssetKind::Workerpool, pool).await?;
        }
        Ok(Self {
            app,
            dataset,
            workerpool,
        })
    }

    /// A free app order of the wallet's own app (or module file), for when nobody offers one;
    /// `None` when the app is somebody else's.
    pub fn own_app_order(&self, client: &PocoClient) -> Result<Option<SignedAppOrder>> {
        let me = client.sender()?;
        if self.app.owner(me) != me {
            return Ok(None);
        }
        let signer = client.signer().ok_or(poco_chain::Error::NoWallet)?;
        let order = AppOrder {
            app: self.app.address(),
            volume: U256::from(1_000_000u64),
            salt: B256::from(rand::random::<[u8; 32]>()),
            ..Default::default()
        }
        .sign(&client.domain(), signer)?;
        Ok(Some(order))
    }

    /// Checks the chosen orders against the plan and the sender's free balance against the
    /// run's price, sending nothing.
    pub async fn prepare(
        self,
        client: &PocoClient,
        app: SignedAppOrder,
        dataset: Option<SignedDatasetOrder>,
        workerpool: SignedWorkerpoolOrder,
        volume: u64,
    ) -> Result<Prepared> {
        let same = |kind, expected: Address, got: Address| -> Result<()> {
            if expected == got {
                Ok(())
            } else {
                Err(PlanError::OrderMismatch {
                    kind,
                    expected,
                    got,
                }
                .into())
            }
        };
        same(AssetKind::App, self.app.address(), app.order.app)?;
        match (self.dataset, &dataset) {
            (Some(asked), Some(order)) => same(AssetKind::Dataset, asked, order.order.dataset)?,
            (None, None) => {}
            (asked, _) => {
                return Err(PlanError::DatasetOrderMismatch {
                    chosen: asked.is_none(),
                }
                .into())
            }
        }
        if let Some(asked) = self.workerpool {
            same(AssetKind::Workerpool, asked, workerpool.order.workerpool)?;
        }
        let price = app.order.appprice
            + dataset
                .as_ref()
                .map(|d| d.order.datasetprice)
                .unwrap_or_default()
            + workerpool.order.workerpoolprice;
        let volume = U256::from(volume);
        let cost = price * volume;
        let account = client.sender()?;
        let (free, _) = client.account(account).await?;
        if free < cost {
            return Err(PlanError::Deposit {
                price,
                volume,
                cost,
                account,
                free,
            }
            .into());
        }
        Ok(Prepared {
            app: self.app,
            app_order: app,
            dataset_order: dataset,
            workerpool_order: workerpool,
            price,
            cost,
        })
    }
}

/// A run every check passed: what it runs, the orders it matches, what it costs.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The app.
    pub app: AppToRun,
    /// The app order.
    pub app_order: SignedAppOrder,
    /// The dataset order, if any.
    pub dataset_order: Option<SignedDatasetOrder>,
    /// The workerpool order.
    pub workerpool_order: SignedWorkerpoolOrder,
    /// The price of one task.
    pub price: U256,
    /// The price of the run (covered by the free balance when prepared).
    pub cost: U256,
}

impl Prepared {
    /// Deploys a module file's app when it is not registered yet (the run's first
    /// transaction) and returns its address; `None` when there was nothing to deploy.
    pub async fn deploy(&self, client: &PocoClient) -> Result<Option<Address>> {
        let Some(spec) = self.app.to_deploy() else {
            return Ok(None);
        };
        let predicted = self.app.address();
        let deployed = client.create_app(spec).await?;
        if deployed != predicted {
            return Err(PlanError::Misdeployed {
                deployed,
                predicted,
            }
            .into());
        }
        Ok(Some(deployed))
    }
}
