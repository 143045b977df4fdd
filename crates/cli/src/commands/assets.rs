//! `poco app`, `poco dataset`, `poco workerpool`: the assets of the three registries.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, Bytes, B256, U256};
use clap::{Args, Subcommand};
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::{AppSpec, AssetKind as Kind, PocoClient};
use serde_json::{json, Value};

use crate::{context::Context, files, hints::Explain};

/// Which asset `show` is about.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The asset's address, or its index among the owner's assets [default: the last one this
    /// project deployed (deployed.json)].
    asset: Option<String>,
    /// The owner whose assets an index counts [default: the selected wallet].
    #[arg(long, value_name = "ADDRESS")]
    user: Option<Address>,
}

/// Whose assets `count` counts.
#[derive(Args, Debug)]
pub(crate) struct CountArgs {
    /// The owner [default: the selected wallet].
    #[arg(long, value_name = "ADDRESS")]
    user: Option<Address>,
}

/// The module and where it is, for `app deploy` and `dataset deploy`.
#[derive(Args, Debug)]
pub(crate) struct ContentArgs {
    /// A local file: its sha256 becomes the checksum and, without --multiaddr, its file://
    /// URL the location.
    #[arg(long, value_name = "PATH", conflicts_with = "checksum")]
    file: Option<PathBuf>,
    /// Where workers fetch it (https://..., file://...).
    #[arg(long, value_name = "URL")]
    multiaddr: Option<String>,
    /// The sha256 of its bytes (0x + 64 hex digits).
    #[arg(long, value_name = "HASH", requires = "multiaddr")]
    checksum: Option<B256>,
}

impl ContentArgs {
    fn resolve(&self, what: &str) -> Result<(String, B256)> {
        if let Some(path) = &self.file {
            let bytes = std::fs::read(path)
                .wrap_err_with(|| format!("cannot read the {what} file {}", path.display()))?;
            let checksum = poco_types::sha256_digest(&bytes);
            let multiaddr = match &self.multiaddr {
                Some(m) => m.clone(),
                None => file_url(path)?,
            };
            return Ok((multiaddr, checksum));
        }
        match (&self.multiaddr, self.checksum) {
            (Some(m), Some(c)) => Ok((m.clone(), c)),
            _ => bail!(
                "say what the {what} is: --file PATH, or --multiaddr URL with --checksum SHA256"
            ),
        }
    }
}

impl ContentArgs {
    /// Checks a WASM app's module before it is registered (magic number, a WASI command with
    /// `_start`, compiles): the local file, or the file a file:// location names.
    fn check_module(&self) -> Result<()> {
        let path = match (&self.file, &self.multiaddr) {
            (Some(path), _) => path.clone(),
            (None, Some(m)) if m.starts_with("file://") => PathBuf::from(&m["file://".len()..]),
            // Elsewhere: the workers will check it.
            _ => return Ok(()),
        };
        let bytes = std::fs::read(&path)
            .wrap_err_with(|| format!("cannot read the app file {}", path.display()))?;
        poco_runtime::check_module(&bytes).map_err(|e| eyre!("{}: {e}", path.display()))
    }
}

fn file_url(path: &Path) -> Result<String> {
    let absolute = std::fs::canonicalize(path)
        .wrap_err_with(|| format!("cannot resolve {}", path.display()))?;
    Ok(format!("file://{}", absolute.display()))
}

/// `poco app ...`
#[derive(Subcommand, Debug)]
pub(crate) enum AppCommand {
    /// Register an app owned by the wallet; prints its address.
    Deploy {
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        content: ContentArgs,
        /// Its type: WASM (poco's runtime) or DOCKER (iExec's).
        #[arg(long = "type", default_value = "WASM", value_name = "TYPE")]
        kind: String,
    },
    /// Show an app.
    Show(ShowArgs),
    /// Count the apps of an owner.
    Count(CountArgs),
    #[command(flatten)]
    Secret(super::sms::AppSecretCommand),
}

/// `poco dataset ...`
#[derive(Subcommand, Debug)]
pub(crate) enum DatasetCommand {
    /// Register a dataset owned by the wallet; prints its address.
    Deploy {
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        content: ContentArgs,
    },
    /// Show a dataset.
    Show(ShowArgs),
    /// Count the datasets of an owner.
    Count(CountArgs),
    #[command(flatten)]
    Secret(super::sms::DatasetSecretCommand),
}

/// `poco workerpool ...`
#[derive(Subcommand, Debug)]
pub(crate) enum WorkerpoolCommand {
    /// Register a workerpool scheduled by the wallet; prints its address.
    Deploy {
        /// Its description.
        #[arg(long)]
        description: String,
    },
    /// Show a workerpool.
    Show(ShowArgs),
    /// Count the workerpools of an owner.
    Count(CountArgs),
    /// Change the pool's policy for deals to come (owner only).
    SetPolicy {
        /// The workerpool [default: the last one this project deployed].
        #[arg(long, value_name = "ADDRESS")]
        workerpool: Option<Address>,
        /// The stake a worker puts on each contribution, in percent of the workerpool price.
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u64).range(0..=100))]
        worker_stake_ratio: u64,
        /// The scheduler's share of the workerpool price, in percent (the workers share the
        /// rest).
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u64).range(0..=100))]
        scheduler_reward_ratio: u64,
    },
}

impl AppCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Deploy {
                name,
                content,
                kind,
            } => {
                let (multiaddr, checksum) = content.resolve("app")?;
                if kind.eq_ignore_ascii_case("WASM") {
                    content.check_module()?;
                }
                let client = ctx.sender().await?;
                let spec = AppSpec {
                    name: name.clone(),
                    kind,
                    multiaddr: multiaddr.clone(),
                    checksum,
                    mrenclave: Bytes::new(),
                };
                let app = ctx
                    .out
                    .wait(format!("deploying app {name}"), client.create_app(&spec))
                    .await
                    .explain(&client)?;
                files::record_deployed("app", client.chain_id(), app)?;
                Ok(
                    json!({ "address": app, "name": name, "multiaddr": multiaddr, "checksum": checksum }),
                )
            }
            Self::Show(args) => show(ctx, Kind::App, args).await,
            Self::Count(args) => count(ctx, Kind::App, args).await,
            Self::Secret(c) => c.run(ctx).await,
        }
    }
}

impl DatasetCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Deploy { name, content } => {
                let (multiaddr, checksum) = content.resolve("dataset")?;
                let client = ctx.sender().await?;
                let dataset = ctx
                    .out
                    .wait(
                        format!("deploying dataset {name}"),
                        client.create_dataset(&name, &multiaddr, checksum),
                    )
                    .await
                    .explain(&client)?;
                files::record_deployed("dataset", client.chain_id(), dataset)?;
                Ok(
                    json!({ "address": dataset, "name": name, "multiaddr": multiaddr, "checksum": checksum }),
                )
            }
            Self::Show(args) => show(ctx, Kind::Dataset, args).await,
            Self::Count(args) => count(ctx, Kind::Dataset, args).await,
            Self::Secret(c) => c.run(ctx).await,
        }
    }
}

impl WorkerpoolCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Deploy { description } => {
                let client = ctx.sender().await?;
                let pool = ctx
                    .out
                    .wait(
                        "deploying workerpool",
                        client.create_workerpool(&description),
                    )
                    .await
                    .explain(&client)?;
                files::record_deployed("workerpool", client.chain_id(), pool)?;
                Ok(json!({ "address": pool, "description": description }))
            }
            Self::Show(args) => show(ctx, Kind::Workerpool, args).await,
            Self::Count(args) => count(ctx, Kind::Workerpool, args).await,
            Self::SetPolicy {
                workerpool,
                worker_stake_ratio,
                scheduler_reward_ratio,
            } => {
                let client = ctx.sender().await?;
                let pool = match workerpool {
                    Some(pool) => pool,
                    None => {
                        files::last_deployed("workerpool", client.chain_id())?.ok_or_else(|| {
                            eyre!(
                                "no workerpool given and none in deployed.json; pass --workerpool"
                            )
                        })?
                    }
                };
                let info = client.view_workerpool(pool).await.explain(&client)?;
                let me = client.sender()?;
                if info.owner != me {
                    bail!(
                        "only the owner {} of workerpool {pool} may change its policy, and the \
                         wallet is {me}",
                        info.owner
                    );
                }
                let receipt = ctx
                    .out
                    .wait(
                        "changing the policy",
                        client.change_policy(
                            pool,
                            U256::from(worker_stake_ratio),
                            U256::from(scheduler_reward_ratio),
                        ),
                    )
                    .await
                    .explain(&client)?;
                Ok(json!({
                    "workerpool": pool,
                    "workerStakeRatio": worker_stake_ratio,
                    "schedulerRewardRatio": scheduler_reward_ratio,
                    "tx": receipt.transaction_hash,
                }))
            }
        }
    }
}

async fn owner_of_index(
    ctx: &Context,
    client: &PocoClient,
    kind: Kind,
    user: Option<Address>,
    index: U256,
) -> Result<Address> {
    let owner = match user {
        Some(u) => u,
        None => ctx.wallet_address()?,
    };
    let count = client.asset_count(kind, owner).await.explain(client)?;
    if index >= count {
        bail!(
            "{owner} has {count} {}s, so there is no index {index}; indexes start at 0",
            kind.name()
        );
    }
    client
        .asset_of_owner(kind, owner, index)
        .await
        .explain(client)
}

async fn show(ctx: &Context, kind: Kind, args: ShowArgs) -> Result<Value> {
    let client = ctx.reader().await?;
    let address = match args.asset.as_deref() {
        Some(text) if text.starts_with("0x") => text
            .parse::<Address>()
            .map_err(|e| eyre!("{text:?} is not an address ({e})"))?,
        Some(text) => {
            let index: U256 = text.parse().map_err(|_| {
                eyre!("{text:?} is neither an address (0x...) nor an index (0, 1, ...)")
            })?;
            owner_of_index(ctx, &client, kind, args.user, index).await?
        }
        None => files::last_deployed(kind.name(), client.chain_id())?.ok_or_else(|| {
            eyre!(
                "which {0}? give its address or index (none in deployed.json)",
                kind.name()
            )
        })?,
    };
    Ok(match kind {
        Kind::App => {
            let a = client.view_app(address).await.explain(&client)?;
            json!({
                "address": address, "owner": a.owner, "name": a.name, "type": a.kind,
                "multiaddr": a.multiaddr, "checksum": a.checksum,
                "mrenclave": String::from_utf8_lossy(&a.mrenclave),
            })
        }
        Kind::Dataset => {
            let d = client.view_dataset(address).await.explain(&client)?;
            json!({
                "address": address, "owner": d.owner, "name": d.name,
                "multiaddr": d.multiaddr, "checksum": d.checksum,
            })
        }
        Kind::Workerpool => {
            let w = client.view_workerpool(address).await.explain(&client)?;
            json!({
                "address": address, "owner": w.owner, "description": w.description,
                "workerStakeRatio": w.worker_stake_ratio.to_string(),
                "schedulerRewardRatio": w.scheduler_reward_ratio.to_string(),
            })
        }
    })
}

async fn count(ctx: &Context, kind: Kind, args: CountArgs) -> Result<Value> {
    let owner = match args.user {
        Some(u) => u,
        None => ctx.wallet_address()?,
    };
    let client = ctx.reader().await?;
    let count = client.asset_count(kind, owner).await.explain(&client)?;
    Ok(json!({ "owner": owner, "count": count.to_string() }))
}
