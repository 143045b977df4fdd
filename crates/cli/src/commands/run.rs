//! `poco run`: a requester's one command. It checks everything it can before money moves (the
//! module, the input-file URLs, the assets, the deposit), then deploys and publishes the app
//! itself when given a module file on a devnet, signs the request, matches, follows the tasks,
//! downloads each result and checks it against the digest on chain. A run given up while
//! following (the chain or the scheduler away for longer than `--rpc-patience`, or a killed
//! command) is resumed with `poco run --resume DEALID` or `poco deal follow DEALID`.

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::{
    bindings::{app::AppRegistry, hub::IPoco},
    AppSpec, AssetKind, PocoClient,
};
use poco_market::{
    api::{AppOrderQuery, CommonFilters, DatasetOrderQuery, Restriction, WorkerpoolOrderQuery},
    MarketClient,
};
use poco_scheduler_api::SchedulerClient;
use poco_types::{
    format_rlc, AppOrder, ChainOrders, DealParams, Order as _, RequestOrder, SignedAppOrder,
    SignedDatasetOrder, SignedOrder, SignedWorkerpoolOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::market::MarketOpt;
use crate::{
    context::Context,
    files,
    hints::{chain_error, Explain, ExplainCall},
    output::Exit,
};

/// Exit code: a task failed or its pool gave it up.
const EXIT_TASK_FAILED: u8 = 3;
/// Exit code: a downloaded result does not match the digest the chain certified.
const EXIT_UNVERIFIED: u8 = 4;
/// Exit code: following was given up (chain or scheduler away too long, or out of time).
const EXIT_GAVE_UP: u8 = 5;

/// The exit codes, in `poco run --help` and `poco deal follow --help`.
pub(crate) const EXIT_CODES: &str = "Exit codes:
  0  every task completed; its result was downloaded and matches the digest on chain
  1  an error before or while running (nothing was paid when it came before the match)
  2  bad usage (unknown flag, missing argument)
  3  a task failed or its pool gave it up (the other results are downloaded); claim the refund
     after its final deadline with `poco deal claim DEALID`
  4  a result does not match the digest the chain certified (do not trust it)
  5  gave up following: the chain or the scheduler did not answer within --rpc-patience, or the
     tasks did not finish in time; the deal goes on: resume with `poco run --resume DEALID`";

/// Longest wait between two attempts while the chain or the scheduler is away.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// How `poco run` and `poco deal follow` follow a deal.
#[derive(Args, Debug, Clone)]
pub(crate) struct FollowArgs {
    /// How long to ride out a chain or scheduler that does not answer (retrying with growing
    /// waits) before giving up with exit code 5; the deal can be resumed then (e.g. 30s, 5m,
    /// 1h).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    rpc_patience: Duration,
    /// The pool's scheduler URL, to resume a deal `poco run` did not start on this machine
    /// [default: the one `poco run` recorded, else the pool's order in the local order files].
    #[arg(long, value_name = "URL")]
    scheduler: Option<String>,
    /// Where results go [default: ./results/<dealid>/, or where `poco run` put them].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

/// `poco run`
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct RunArgs {
    /// The app: a WASM module file (deployed and published on a devnet) or an app address.
    #[arg(required_unless_present = "resume")]
    app: Option<String>,
    /// Follow a deal matched before (by a `poco run` that was stopped or gave up): wait for
    /// its tasks, download and verify the results not downloaded yet.
    #[arg(long, value_name = "DEALID", conflicts_with = "app")]
    resume: Option<B256>,
    /// The app's arguments (`iexec_args`).
    #[arg(long, default_value = "")]
    args: String,
    /// A dataset to run on.
    #[arg(long, value_name = "ADDRESS")]
    dataset: Option<Address>,
    /// The deal's params as a JSON object (`{"poco_public_results":true}`, ...); --args and
    /// --input-files override its keys. `iexec_result_encryption` is refused: no poco pool
    /// encrypts results yet.
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    /// Input files, comma-separated http(s) URLs (`iexec_input_files`; `#sha256=<hex>` is
    /// checked).
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    input_files: Vec<String>,
    /// The trust asked: 1 runs once (fast path), more replicates the task until the votes
    /// reach 1 − 1/trust.
    #[arg(long, default_value_t = 1)]
    trust: u64,
    /// The category [default: the lowest one a workerpool order offers].
    #[arg(long)]
    category: Option<u64>,
    /// The number of tasks (a bag of tasks: IEXEC_BOT_* tell each its index).
    #[arg(long, default_value_t = 1)]
    volume: u64,
    /// A contract to receive the result (`callback-data`).
    #[arg(long, value_name = "ADDRESS")]
    callback: Option<Address>,
    /// Only this workerpool.
    #[arg(long, value_name = "ADDRESS")]
    workerpool: Option<Address>,
    #[command(flatten)]
    follow: FollowArgs,
    /// Follow the tasks until their results are downloaded (the default; iExec's flag).
    #[arg(long, conflicts_with = "no_watch")]
    watch: bool,
    /// Match and print the deal without following it.
    #[arg(long)]
    no_watch: bool,
    #[command(flatten)]
    market: MarketOpt,
}

/// The orders of the local order files, with the scheduler URL of each workerpool order.
pub(crate) struct LocalOrders {
    apps: Vec<SignedAppOrder>,
    datasets: Vec<SignedDatasetOrder>,
    pub(crate) pools: Vec<(SignedWorkerpoolOrder, Option<String>)>,
}

pub(crate) fn local_orders(chain_id: u64) -> Result<LocalOrders> {
    let mut all = LocalOrders {
        apps: Vec::new(),
        datasets: Vec::new(),
        pools: Vec::new(),
    };
    for path in files::local_order_files()? {
        let orders = files::orders_in(&path, chain_id);
        let api = orders
            .other
            .get("workerpoolApi")
            .and_then(Value::as_str)
            .map(str::to_string);
        all.apps.extend(orders.apporder);
        all.datasets.extend(orders.datasetorder);
        if let Some(pool) = orders.workerpoolorder {
            all.pools.push((pool, api));
        }
    }
    Ok(all)
}

async fn remaining<O: poco_types::Order>(
    client: &PocoClient,
    order: &SignedOrder<O>,
) -> Result<U256> {
    let consumed = client
        .consumed(order.order_hash(&client.domain()))
        .await
        .explain(client)?;
    Ok(order_volume(order).saturating_sub(consumed))
}

fn order_volume<O: poco_types::Order>(order: &SignedOrder<O>) -> U256 {
    serde_json::to_value(&order.order)
        .ok()
        .and_then(|v| {
            v.get("volume")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or_default()
}

/// The app to run, as checked before anything is sent.
enum AppToRun {
    /// A registered app and its owner.
    Registered { address: Address, owner: Address },
    /// A module file: registered at `address` (by the sender) if `deployed`, else deployed
    /// once every check passed.
    File {
        address: Address,
        spec: AppSpec,
        path: PathBuf,
        deployed: bool,
    },
}

impl AppToRun {
    fn address(&self) -> Address {
        match self {
            Self::Registered { address, .. } | Self::File { address, .. } => *address,
        }
    }

    /// The app's owner: the sender for a module file.
    fn owner(&self, me: Address) -> Address {
        match self {
            Self::Registered { owner, .. } => *owner,
            Self::File { .. } => me,
        }
    }
}

/// Reads and checks a module file (magic number, WASI command with `_start`, compiles) before
/// anything is sent.
fn checked_module(app: &str) -> Result<Option<(PathBuf, Vec<u8>)>> {
    if app.parse::<Address>().is_ok() {
        return Ok(None);
    }
    let path = Path::new(app);
    if !path.is_file() {
        bail!("{app:?} is neither an app address (0x + 40 hex digits) nor a WASM module file");
    }
    let bytes = std::fs::read(path).wrap_err_with(|| format!("cannot read {app}"))?;
    poco_runtime::check_module(&bytes).map_err(|e| eyre!("{app}: {e}"))?;
    Ok(Some((path.to_path_buf(), bytes)))
}

/// Checks the input-file URLs as a worker will read them: http(s) URLs (file:// on a devnet,
/// for development workers), with a well-formed `#sha256=` fragment when there is one.
fn check_input_files(urls: &[String], devnet: Option<bool>) -> Result<()> {
    for url in urls {
        let (location, fragment) = match url.split_once("#sha256=") {
            Some((location, hex)) => (location, Some(hex)),
            None => (url.as_str(), None),
        };
        if let Some(hex) = fragment {
            hex.parse::<B256>().map_err(|_| {
                eyre!(
                    "the input file {url:?} has a #sha256= fragment that is not 64 hex digits; \
                     give the sha256 of the file, or leave the fragment out"
                )
            })?;
        }
        let parsed = alloy::transports::http::reqwest::Url::parse(location).ok();
        match parsed.as_ref().map(|u| (u.scheme(), u.has_host())) {
            Some(("http" | "https", true)) => {}
            // Known once the chain is: a devnet's development workers read file:// URLs.
            Some(("file", _)) if devnet != Some(false) => {}
            Some(("file", _)) => bail!(
                "the input file {url:?} is a file:// URL, which only development workers of a \
                 devnet read; publish the file and give its http(s):// URL"
            ),
            _ => bail!(
                "the input file {url:?} is not an http(s):// URL; workers download input files: \
                 publish the file and give its URL (add #sha256=<hex> to have it checked)"
            ),
        }
    }
    Ok(())
}

/// The app to run: a registered app, or a module file registered or to deploy on a devnet.
async fn resolve_app(
    client: &PocoClient,
    app: &str,
    module: Option<(PathBuf, Vec<u8>)>,
) -> Result<AppToRun> {
    let Some((path, bytes)) = module else {
        let address: Address = app.parse()?;
        let view = client.view_app(address).await.explain(client)?;
        return Ok(AppToRun::Registered {
            address,
            owner: view.owner,
        });
    };
    if client.chain_id() != 31337 {
        bail!(
            "deploying an app from a file is for devnets; on chain {}, deploy it with `poco app \
             deploy` and publish an app order",
            client.chain_id()
        );
    }
    let me = client.sender()?;
    let absolute = std::fs::canonicalize(&path)?;
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
    let registry = AppRegistry::new(client.deployment().app_registry, client.provider());
    let address = registry
        .predictApp(
            me,
            spec.name.clone(),
            spec.kind.clone(),
            Bytes::copy_from_slice(spec.multiaddr.as_bytes()),
            spec.checksum,
            Bytes::new(),
        )
        .call()
        .await
        .explain_call("predictApp", client)?;
    let deployed = client
        .is_registered(AssetKind::App, address)
        .await
        .explain(client)?;
    Ok(AppToRun::File {
        address,
        spec,
        path,
        deployed,
    })
}

/// Deploys a module file's app when it is not registered yet (after every check passed).
async fn deploy_if_needed(ctx: &Context, client: &PocoClient, app: &AppToRun) -> Result<()> {
    if let AppToRun::File {
        address,
        spec,
        path,
        deployed: false,
    } = app
    {
        let deployed = ctx
            .out
            .wait(format!("deploying {}", spec.name), client.create_app(spec))
            .await
            .explain(client)?;
        if deployed != *address {
            bail!("the app was deployed at {deployed}, not at the predicted {address}");
        }
        eprintln!("deployed app {deployed} from {}", path.display());
    }
    Ok(())
}

/// A free app order for an app the wallet owns (or will deploy), when nobody offers one.
fn own_app_order(client: &PocoClient, app: &AppToRun) -> Result<Option<SignedAppOrder>> {
    let me = client.sender()?;
    if app.owner(me) != me {
        return Ok(None);
    }
    let signer = client.signer().ok_or_else(|| eyre!("no wallet"))?;
    let order = AppOrder {
        app: app.address(),
        volume: U256::from(1_000_000u64),
        salt: B256::from(rand::random::<[u8; 32]>()),
        ..Default::default()
    }
    .sign(&client.domain(), signer)?;
    Ok(Some(order))
}

/// The app order of the local order files, or a new one (to publish once every check passed)
/// when the wallet owns the app.
async fn app_order(
    client: &PocoClient,
    app: &AppToRun,
    local: &LocalOrders,
    volume: U256,
) -> Result<(SignedAppOrder, bool)> {
    let address = app.address();
    for order in local.apps.iter().filter(|o| o.order.app == address) {
        if remaining(client, order).await? >= volume {
            return Ok((order.clone(), false));
        }
    }
    match own_app_order(client, app)? {
        Some(order) => Ok((order, true)),
        None => bail!(
            "no app order for {address} in the local order files; ask its owner to publish one \
             (orders.json or $POCO_HOME/orders/), or use a market with --market"
        ),
    }
}

/// The orders chosen on the market, with the scheduler URL of the workerpool order.
struct Chosen {
    app: SignedAppOrder,
    dataset: Option<SignedDatasetOrder>,
    pool: SignedWorkerpoolOrder,
    api: Option<String>,
    /// The app order is the wallet's own, new: publish it before matching.
    publish_app: bool,
}

impl RunArgs {
    /// Picks the orders from the market.
    async fn orders_from_market(
        &self,
        client: &PocoClient,
        market: &MarketClient,
        to_run: &AppToRun,
        volume: u64,
    ) -> Result<Chosen> {
        let app = to_run.address();
        let me = client.sender()?;
        let mut apps = market
            .all_orders(
                AppOrderQuery {
                    app: Some(app),
                    requester: Some(Restriction::To(me)),
                    ..Default::default()
                },
                1000,
            )
            .await?;
        let mut publish_app = false;
        if apps.is_empty() {
            if let Some(order) = own_app_order(client, to_run)? {
                apps.push(poco_market::api::OrderEntry {
                    order_hash: order.order_hash(&client.domain()),
                    chain_id: client.chain_id(),
                    order: serde_json::to_value(&order)?,
                    remaining: order.order.volume.saturating_to(),
                    status: poco_market::api::Status::Open,
                    signer: me,
                    publication_timestamp: String::new(),
                    workerpool_api: None,
                });
                publish_app = true;
            }
        }
        let datasets = match self.dataset {
            Some(d) => {
                market
                    .all_orders(
                        DatasetOrderQuery {
                            dataset: Some(d),
                            app: Some(Restriction::To(app)),
                            requester: Some(Restriction::To(me)),
                            ..Default::default()
                        },
                        1000,
                    )
                    .await?
            }
            None => Vec::new(),
        };
        let query = WorkerpoolOrderQuery {
            workerpool: self.workerpool,
            category: self.category,
            app: Some(Restriction::To(app)),
            dataset: self.dataset.map(Restriction::To),
            requester: Some(Restriction::To(me)),
            min_trust: Some(self.trust),
            common: CommonFilters {
                min_volume: Some(volume),
                ..Default::default()
            },
            ..Default::default()
        };
        let pools = market.all_orders(query, 1000).await?;
        let offer = poco_market::best_offer(
            &poco_market::OfferQuery {
                app,
                dataset: self.dataset,
                workerpool: self.workerpool,
                category: self.category,
                trust: self.trust,
                tag: Default::default(),
                volume,
                requester: me,
            },
            &apps,
            &datasets,
            &pools,
        )
        .map_err(|e| eyre!("on the market {}: {e}", market.url()))?;
        Ok(Chosen {
            app: offer.app.1,
            dataset: offer.dataset.map(|d| d.1),
            pool: offer.workerpool.1,
            api: offer.workerpool.0.workerpool_api,
            publish_app,
        })
    }

    /// Picks the orders from the local order files.
    async fn orders_from_local(
        &self,
        client: &PocoClient,
        to_run: &AppToRun,
        volume: U256,
    ) -> Result<Chosen> {
        let local = local_orders(client.chain_id())?;
        let (app, publish_app) = app_order(client, to_run, &local, volume).await?;
        let dataset = match self.dataset {
            None => None,
            Some(address) => {
                let mut found = None;
                for order in local.datasets.iter().filter(|o| o.order.dataset == address) {
                    if remaining(client, order).await? >= volume {
                        found = Some(order.clone());
                        break;
                    }
                }
                Some(found.ok_or_else(|| {
                    eyre!("no dataset order for {address} with {volume} tasks left in the local order files; ask the dataset owner to publish one")
                })?)
            }
        };

        // The cheapest compatible workerpool order, in the lowest category offered.
        let tag = app.order.tag | dataset.as_ref().map(|d| d.order.tag).unwrap_or_default();
        let mut best: Option<(SignedWorkerpoolOrder, Option<String>)> = None;
        for (order, api) in &local.pools {
            let o = &order.order;
            let fits = o.trust >= U256::from(self.trust)
                && self.category.is_none_or(|c| o.category == U256::from(c))
                && self.workerpool.is_none_or(|w| o.workerpool == w)
                && (o.tag & tag) == tag
                && remaining(client, order).await? >= volume;
            let better = best.as_ref().is_none_or(|(b, _)| {
                (o.category, o.workerpoolprice) < (b.order.category, b.order.workerpoolprice)
            });
            if fits && better {
                best = Some((order.clone(), api.clone()));
            }
        }
        let (pool, api) = best.ok_or_else(|| {
            eyre!(
                "no workerpool order offers trust {} for {volume} tasks{} in the local order \
                 files; start a pool with `poco scheduler --publish-price ...`, or put a signed \
                 workerpool order in orders.json",
                self.trust,
                self.category
                    .map(|c| format!(" in category {c}"))
                    .unwrap_or_default()
            )
        })?;
        Ok(Chosen {
            app,
            dataset,
            pool,
            api,
            publish_app,
        })
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        if let Some(dealid) = self.resume {
            return follow_deal(ctx, dealid, self.follow).await;
        }
        let Some(app_arg) = self.app.as_deref() else {
            bail!("give the app to run (a module file or an app address), or --resume DEALID");
        };
        // What can be checked without the chain, first.
        if self.volume == 0 {
            bail!("--volume must be at least 1");
        }
        let mut params = match &self.params {
            None => DealParams::default(),
            Some(text) => {
                let parsed: serde_json::Map<String, Value> = serde_json::from_str(text)
                    .map_err(|e| eyre!("--params is not a JSON object: {e}"))?;
                DealParams::parse(&Value::Object(parsed).to_string())
                    .map_err(|e| eyre!("--params: {e}"))?
            }
        };
        if params.result_encryption() {
            bail!(
                "--params asks for iexec_result_encryption, which poco pools do not support yet \
                 (the results would be stored in plain text, and the pool gives such deals up): \
                 remove it; to keep results private, leave out poco_public_results, and only \
                 the requester and beneficiary can read them"
            );
        }
        if !self.args.is_empty() || params.iexec_args.is_none() {
            params.iexec_args = Some(self.args.clone());
        }
        if !self.input_files.is_empty() {
            params.iexec_input_files = Some(self.input_files.clone());
        }
        let input_files = params.iexec_input_files.clone().unwrap_or_default();
        check_input_files(&input_files, None)?;
        let module = checked_module(app_arg)?;

        // Then what the chain knows, still without sending anything.
        let client = ctx.sender().await?;
        let me = client.sender()?;
        check_input_files(&input_files, Some(client.chain_id() == 31337))?;
        let volume = U256::from(self.volume);
        let to_run = resolve_app(&client, app_arg, module).await?;
        if let Some(dataset) = self.dataset {
            client
                .require_asset(AssetKind::Dataset, dataset)
                .await
                .explain(&client)?;
        }
        if let Some(pool) = self.workerpool {
            client
                .require_asset(AssetKind::Workerpool, pool)
                .await
                .explain(&client)?;
        }
        let market = match self.market.configured(ctx) {
            None => None,
            Some(url) => {
                let market = MarketClient::new(&url)?;
                match market.metrics().await {
                    Ok(_) => Some(market),
                    Err(e) if self.market.market.is_some() => {
                        bail!("the market {url} does not answer: {e}")
                    }
                    Err(_) => {
                        eprintln!("no market answers at {url}; using the local order files");
                        None
                    }
                }
            }
        };
        let chosen = match &market {
            Some(market) => {
                self.orders_from_market(&client, market, &to_run, self.volume)
                    .await?
            }
            None => self.orders_from_local(&client, &to_run, volume).await?,
        };
        let Chosen {
            app,
            dataset,
            pool,
            api,
            publish_app,
        } = chosen;
        let price = app.order.appprice
            + dataset
                .as_ref()
                .map(|d| d.order.datasetprice)
                .unwrap_or_default()
            + pool.order.workerpoolprice;
        let cost = price * volume;
        let (free, _) = client.account(me).await.explain(&client)?;
        if free < cost {
            bail!(
                "the run costs {} ({} per task × {volume}) and account {me} has {} free; \
                 deposit at least {} more with `poco account deposit \"{}\"`",
                format_rlc(cost),
                format_rlc(price),
                format_rlc(free),
                format_rlc(cost - free),
                format_rlc(cost - free)
            );
        }

        // Every check passed: deploy, publish, sign and match.
        deploy_if_needed(ctx, &client, &to_run).await?;
        if publish_app {
            let address = to_run.address();
            match &market {
                Some(market) => {
                    let signer = client.signer().ok_or_else(|| eyre!("no wallet"))?;
                    let entry = market
                        .publish(signer, &app, None)
                        .await
                        .wrap_err("cannot publish an app order for your app")?;
                    eprintln!(
                        "published app order {} on {}",
                        entry.order_hash,
                        market.url()
                    );
                }
                None => files::publish_orders(
                    &format!("app-{address:x}"),
                    client.chain_id(),
                    ChainOrders {
                        apporder: Some(app.clone()),
                        ..Default::default()
                    },
                )?,
            }
        }
        let request = RequestOrder {
            volume,
            trust: U256::from(self.trust),
            callback: self.callback.unwrap_or_default(),
            params: params.to_json_string(),
            salt: B256::from(rand::random::<[u8; 32]>()),
            ..RequestOrder::matching(
                &app.order,
                dataset.as_ref().map(|d| &d.order),
                &pool.order,
                me,
            )
        }
        .sign(
            &client.domain(),
            client.signer().ok_or_else(|| eyre!("no wallet"))?,
        )?;

        let fast = self.trust <= 1;
        let patience = Patience {
            bound: self.follow.rpc_patience,
            dealid: None,
        };
        let deal = ctx
            .out
            .wait(
                if fast {
                    "matching (fast path)"
                } else {
                    "matching"
                },
                match_patiently(
                    &client,
                    &patience,
                    fast,
                    &app,
                    dataset.as_ref(),
                    &pool,
                    &request,
                ),
            )
            .await?;
        let dealid = deal.dealid;
        // The ids first, so that the deal can be followed again whatever happens next.
        eprintln!(
            "deal {dealid} with workerpool {} ({} task{}, {} each)",
            pool.order.workerpool,
            deal.tasks.len(),
            if deal.tasks.len() == 1 { "" } else { "s" },
            format_rlc(price)
        );
        for taskid in &deal.tasks {
            eprintln!("task {taskid}");
        }
        let folder = self
            .follow
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(format!("{dealid:x}")));
        let record = RunRecord {
            dealid,
            chain_id: client.chain_id(),
            workerpool: pool.order.workerpool,
            fast,
            tasks: deal.tasks.clone(),
            scheduler: api.clone(),
            folder: std::path::absolute(&folder).unwrap_or_else(|_| folder.clone()),
        };
        if let Err(e) = record.save() {
            eprintln!("warning: cannot record the deal for --resume ({e:#})");
        }
        let out = json!({
            "ok": true,
            "dealid": dealid,
            "app": app.order.app,
            "workerpool": pool.order.workerpool,
            "trust": self.trust,
            "fast": fast,
            "tasks": deal.tasks,
        });
        if self.no_watch {
            return Ok(out);
        }
        eprintln!("if this command stops, resume with `poco run --resume {dealid}`");
        let Some(api) = api.or(self.follow.scheduler.clone()) else {
            bail!(
                "the workerpool order does not say where its scheduler is; follow the deal with \
                 `poco deal follow {dealid} --scheduler URL`, or `poco deal show {dealid} --watch`"
            );
        };
        let target = Following {
            dealid,
            tasks: deal.tasks,
            fast,
            api,
            folder,
        };
        let patience = Patience {
            dealid: Some(dealid),
            ..patience
        };
        let results = follow(ctx, &client, &patience, &target)
            .await
            .map_err(|e| with_deal(e, &out))?;
        verdict(out, results, dealid)
    }
}

/// Gives an exit without a result (following given up) the deal's ids, so that a script can
/// resume it.
fn with_deal(error: eyre::Report, out: &Value) -> eyre::Report {
    match error.downcast::<Exit>() {
        Ok(mut exit) => {
            if exit.value.is_none() {
                let mut value = out.clone();
                value["ok"] = json!(false);
                value["error"] = json!(exit.message);
                exit.value = Some(value);
            }
            exit.into()
        }
        Err(error) => error,
    }
}

/// Matches the orders. When the chain goes away meanwhile, it waits for it (up to the
/// patience) and looks for the deal of this request among the matches since it started: found,
/// the match was mined; not found, it tries again. A signed request matches at most its volume,
/// so trying again never pays twice.
async fn match_patiently(
    client: &PocoClient,
    patience: &Patience,
    fast: bool,
    app: &SignedAppOrder,
    dataset: Option<&SignedDatasetOrder>,
    pool: &SignedWorkerpoolOrder,
    request: &poco_types::SignedRequestOrder,
) -> Result<poco_chain::MatchedDeal> {
    let from = patience
        .chain(client, "reading the block number", || async {
            client
                .provider()
                .get_block_number()
                .await
                .map_err(|e| poco_chain::Error::Rpc(e.to_string()))
        })
        .await?;
    let request_hash = request.order_hash(&client.domain());
    let started = Instant::now();
    loop {
        let attempt = if fast {
            client
                .match_orders_fast(app, dataset, pool, request)
                .await
                .map(|(deal, _)| deal)
        } else {
            client.match_orders(app, dataset, pool, request).await
        };
        let error = match attempt {
            Ok(deal) => return Ok(deal),
            // Refused before anything was sent.
            Err(
                e @ (poco_chain::Error::Revert { .. }
                | poco_chain::Error::GasFunds { .. }
                | poco_chain::Error::NoWallet),
            ) => return Err(chain_error(e, client.rpc_url())),
            Err(e) => e,
        };
        eprintln!(
            "warning: matching did not end well ({error}); finding out whether the match was \
             mined"
        );
        let found = patience
            .chain(client, "looking for the deal", || {
                find_match(client, fast, pool.order.workerpool, request_hash, from)
            })
            .await
            .map_err(|e| {
                eyre!(
                    "{e:#}; the request {request_hash} may have been matched: look for its deal \
                     with `poco order show --request` once the chain answers"
                )
            })?;
        if let Some(deal) = found {
            eprintln!("the match was mined");
            return Ok(deal);
        }
        // Not mined: only an outage is worth another try.
        let outage = is_outage(&error) || matches!(error, poco_chain::Error::Timeout { .. });
        if !outage || started.elapsed() >= patience.bound {
            return Err(chain_error(error, client.rpc_url()));
        }
    }
}

/// The deal a request matched since block `from`, from the hub's logs.
async fn find_match(
    client: &PocoClient,
    fast: bool,
    workerpool: Address,
    request_hash: B256,
    from: u64,
) -> poco_chain::Result<Option<poco_chain::MatchedDeal>> {
    let rpc = |e: alloy::transports::TransportError| poco_chain::Error::Rpc(e.to_string());
    let filter = Filter::new()
        .address(client.deployment().hub)
        .from_block(from);
    if fast {
        let filter = filter
            .event_signature(IPoco::SchedulerNoticeFast::SIGNATURE_HASH)
            .topic1(workerpool.into_word());
        for log in client.provider().get_logs(&filter).await.map_err(rpc)? {
            let Ok(e) = IPoco::SchedulerNoticeFast::decode_log(&log.inner) else {
                continue;
            };
            if e.deal.requestHash == request_hash {
                return Ok(Some(poco_chain::MatchedDeal {
                    dealid: e.dealid,
                    volume: e.deal.botSize,
                    first_task: e.deal.botFirst,
                    tasks: poco_chain::task_ids(e.dealid, e.deal.botFirst, e.deal.botSize),
                    tx_hash: log.transaction_hash.unwrap_or_default(),
                    gas_used: 0,
                }));
            }
        }
        return Ok(None);
    }
    let filter = filter.event_signature(IPoco::OrdersMatched::SIGNATURE_HASH);
    for log in client.provider().get_logs(&filter).await.map_err(rpc)? {
        let Ok(e) = IPoco::OrdersMatched::decode_log(&log.inner) else {
            continue;
        };
        if e.requestHash == request_hash {
            let deal = client.deal(e.dealid).await?;
            return Ok(Some(poco_chain::MatchedDeal {
                dealid: e.dealid,
                volume: e.volume,
                first_task: deal.botFirst,
                tasks: poco_chain::task_ids(e.dealid, deal.botFirst, e.volume),
                tx_hash: log.transaction_hash.unwrap_or_default(),
                gas_used: 0,
            }));
        }
    }
    Ok(None)
}

/// What `poco run` records about a deal it matched, for `--resume` and `poco deal follow`
/// (`$POCO_HOME/runs/<chain id>-<dealid>.json`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunRecord {
    dealid: B256,
    chain_id: u64,
    workerpool: Address,
    fast: bool,
    tasks: Vec<B256>,
    scheduler: Option<String>,
    folder: PathBuf,
}

impl RunRecord {
    fn path(chain_id: u64, dealid: B256) -> Result<PathBuf> {
        Ok(crate::config::poco_home()?
            .join("runs")
            .join(format!("{chain_id}-{dealid:x}.json")))
    }

    fn save(&self) -> Result<()> {
        let path = Self::path(self.chain_id, self.dealid)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .wrap_err_with(|| format!("cannot write {}", path.display()))
    }

    fn load(chain_id: u64, dealid: B256) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(chain_id, dealid).ok()?).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// A deal to follow: its tasks, where its scheduler is, where its results go.
struct Following {
    dealid: B256,
    tasks: Vec<B256>,
    fast: bool,
    api: String,
    folder: PathBuf,
}

/// `poco run --resume DEALID` and `poco deal follow DEALID`: follows a deal matched before,
/// downloads and verifies the results not downloaded yet.
pub(crate) async fn follow_deal(ctx: &Context, dealid: B256, args: FollowArgs) -> Result<Value> {
    // With the wallet, to sign in at the pool for private results; without, public ones only.
    let client = match ctx.sender().await {
        Ok(client) => client,
        Err(_) => ctx.reader().await?,
    };
    let patience = Patience {
        bound: args.rpc_patience,
        dealid: Some(dealid),
    };
    let record = RunRecord::load(client.chain_id(), dealid);
    let (workerpool, fast, tasks, recorded_api, recorded_folder) = match record {
        Some(r) => (r.workerpool, r.fast, r.tasks, r.scheduler, Some(r.folder)),
        None => {
            let classic = patience
                .chain(&client, "reading the deal", || client.deal(dealid))
                .await;
            match classic {
                Ok(deal) => (
                    deal.workerpool.pointer,
                    false,
                    poco_chain::task_ids(dealid, deal.botFirst, deal.botSize),
                    None,
                    None,
                ),
                Err(_) => {
                    let notice = patience
                        .chain(&client, "reading the deal", || client.fast_deal(dealid))
                        .await?;
                    let Some(deal) = notice else {
                        bail!(
                            "there is no deal {dealid} on chain {} (neither classic nor fast): \
                             check the deal id and the chain (--chain, --rpc-url)",
                            client.chain_id()
                        );
                    };
                    (deal.workerpool, true, deal.task_ids(), None, None)
                }
            }
        }
    };
    let api = match args.scheduler.or(recorded_api) {
        Some(api) => api,
        None => local_orders(client.chain_id())?
            .pools
            .into_iter()
            .filter(|(o, _)| o.order.workerpool == workerpool)
            .find_map(|(_, api)| api)
            .ok_or_else(|| {
                eyre!(
                    "where is the scheduler of workerpool {workerpool}? No `poco run` of this \
                     machine recorded it and no local order names it: pass --scheduler URL"
                )
            })?,
    };
    let folder = args
        .out
        .or(recorded_folder)
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{dealid:x}")));
    let target = Following {
        dealid,
        tasks: tasks.clone(),
        fast,
        api,
        folder,
    };
    let out = json!({
        "ok": true,
        "dealid": dealid,
        "workerpool": workerpool,
        "fast": fast,
        "tasks": tasks,
    });
    let results = follow(ctx, &client, &patience, &target)
        .await
        .map_err(|e| with_deal(e, &out))?;
    verdict(out, results, dealid)
}

/// The command's result: `ok` and the exit code say whether every task completed with a
/// verified result.
fn verdict(mut out: Value, results: Vec<Value>, dealid: B256) -> Result<Value> {
    let total = results.len();
    let failed = results
        .iter()
        .filter(|r| r["status"] != "COMPLETED")
        .count();
    let unverified = results.iter().filter(|r| r["verified"] == false).count();
    out["ok"] = json!(failed == 0 && unverified == 0);
    out["results"] = Value::Array(results);
    if unverified > 0 {
        return Err(Exit {
            code: EXIT_UNVERIFIED,
            message: format!(
                "{unverified} of {total} result(s) do not match the digest the chain certified: \
                 do not trust them"
            ),
            value: Some(out),
        }
        .into());
    }
    if failed > 0 {
        return Err(Exit {
            code: EXIT_TASK_FAILED,
            message: format!(
                "{failed} of {total} task(s) failed; claim their refund after the final deadline \
                 with `poco deal claim {dealid}`"
            ),
            value: Some(out),
        }
        .into());
    }
    Ok(out)
}

/// How long to ride out a chain or scheduler that does not answer.
struct Patience {
    bound: Duration,
    /// The deal being followed, named in the give-up message.
    dealid: Option<B256>,
}

/// Whether a chain error is an outage (worth waiting out) rather than an answer.
fn is_outage(e: &poco_chain::Error) -> bool {
    match e {
        poco_chain::Error::Unreachable { .. } => true,
        poco_chain::Error::Rpc(message) => {
            let message = message.to_ascii_lowercase();
            [
                "error sending request",
                "connect",
                "connection",
                "timed out",
                "broken pipe",
                "429",
                "502",
                "503",
                "504",
            ]
            .iter()
            .any(|needle| message.contains(needle))
        }
        _ => false,
    }
}

impl Patience {
    /// Runs a chain read until it answers, waiting out an outage (exponential back-off) for
    /// up to the bound.
    async fn chain<T, F, Fut>(&self, client: &PocoClient, what: &str, mut read: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = poco_chain::Result<T>>,
    {
        let started = Instant::now();
        let mut wait = Duration::from_millis(250);
        let mut warned = false;
        loop {
            match read().await {
                Ok(value) => {
                    if warned {
                        eprintln!("the chain at {} answers again", client.rpc_url());
                    }
                    return Ok(value);
                }
                Err(e) if is_outage(&e) => {
                    let waited = started.elapsed();
                    if waited >= self.bound {
                        return Err(self.give_up(format!(
                            "the chain at {} did not answer for {} ({what}: {e})",
                            client.rpc_url(),
                            humantime::format_duration(self.bound)
                        )));
                    }
                    if !warned {
                        eprintln!(
                            "warning: the chain at {} does not answer ({what}); retrying for up \
                             to {} (--rpc-patience)",
                            client.rpc_url(),
                            humantime::format_duration(self.bound)
                        );
                        warned = true;
                    }
                    tokio::time::sleep(wait.min(self.bound - waited)).await;
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
                Err(e) => return Err(chain_error(e, client.rpc_url())),
            }
        }
    }

    /// The error that ends following: exit code 5 with how to resume.
    fn give_up(&self, why: String) -> eyre::Report {
        match self.dealid {
            Some(dealid) => Exit {
                code: EXIT_GAVE_UP,
                message: format!(
                    "{why}; gave up following deal {dealid}, which goes on without this command: \
                     resume with `poco run --resume {dealid}` (or `poco deal follow {dealid}`)"
                ),
                value: None,
            }
            .into(),
            None => eyre!(why),
        }
    }
}

/// A task's result already downloaded into `dir` that still matches the digest on chain.
async fn already_downloaded(
    client: &PocoClient,
    patience: &Patience,
    target: &Following,
    taskid: B256,
    dir: &Path,
) -> Result<Option<B256>> {
    let Ok(bytes) = std::fs::read(dir.with_extension("zip")) else {
        return Ok(None);
    };
    let fast_deal = target.fast.then_some(target.dealid);
    let Some((digest, _)) = patience
        .chain(client, "reading the result", || {
            onchain_result_opt(client, taskid, fast_deal)
        })
        .await?
    else {
        return Ok(None);
    };
    let _ = std::fs::remove_dir_all(dir);
    match poco_runtime::archive_digest(&bytes, dir) {
        Ok(actual) if actual == digest => Ok(Some(digest)),
        _ => Ok(None),
    }
}

/// Follows the tasks at their scheduler until each is completed or given up, then downloads
/// and checks every result not downloaded yet. An outage of the chain or of the scheduler is
/// waited out for up to the patience.
async fn follow(
    ctx: &Context,
    client: &PocoClient,
    patience: &Patience,
    target: &Following,
) -> Result<Vec<Value>> {
    let Following {
        dealid,
        tasks,
        fast,
        api,
        folder,
    } = target;
    let (dealid, fast) = (*dealid, *fast);
    let scheduler = SchedulerClient::new(api)?;
    let mut results: Vec<Option<Value>> = vec![None; tasks.len()];
    for (i, taskid) in tasks.iter().enumerate() {
        let dir = folder.join(format!("{taskid:x}"));
        if let Some(digest) = already_downloaded(client, patience, target, *taskid, &dir).await? {
            eprintln!(
                "task {taskid}: already downloaded and verified in {}",
                dir.display()
            );
            results[i] = Some(json!({
                "taskid": taskid, "status": "COMPLETED", "resultDigest": digest,
                "verified": true, "folder": dir,
            }));
        }
    }
    let bar = if ctx.opts.json {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(tasks.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    };
    bar.set_message("running");
    bar.inc(results.iter().filter(|r| r.is_some()).count() as u64);
    let started = Instant::now();
    let mut outcomes: Vec<Option<poco_scheduler_api::TaskInfo>> = vec![None; tasks.len()];
    let deal_deadline = patience
        .chain(client, "reading the time", || client.now())
        .await?
        + 3600;
    let mut scheduler_away: Option<Instant> = None;
    loop {
        for (i, taskid) in tasks.iter().enumerate() {
            if outcomes[i].is_some() || results[i].is_some() {
                continue;
            }
            match scheduler.task(*taskid).await {
                Ok(info) => {
                    if scheduler_away.take().is_some() {
                        bar.suspend(|| eprintln!("the scheduler at {api} answers again"));
                    }
                    if matches!(
                        info.status.as_str(),
                        "COMPLETED" | "FAILED" | "EXPIRED" | "CLAIMED"
                    ) {
                        outcomes[i] = Some(info);
                        bar.inc(1);
                    }
                }
                // It answers, without the task yet (it has not seen the deal).
                Err(poco_scheduler_api::Error::Refused { status, .. })
                    if status < 500 && status != 429 =>
                {
                    scheduler_away = None;
                }
                Err(e) => {
                    let since = *scheduler_away.get_or_insert_with(|| {
                        bar.suspend(|| {
                            eprintln!(
                                "warning: the scheduler at {api} does not answer about task \
                                 {taskid} ({e}); retrying for up to {} (--rpc-patience)",
                                humantime::format_duration(patience.bound)
                            )
                        });
                        Instant::now()
                    });
                    if since.elapsed() >= patience.bound {
                        bar.finish_and_clear();
                        return Err(patience.give_up(format!(
                            "the scheduler at {api} did not answer about task {taskid} for {} \
                             ({e})",
                            humantime::format_duration(patience.bound)
                        )));
                    }
                    break;
                }
            }
        }
        if outcomes
            .iter()
            .zip(&results)
            .all(|(o, r)| o.is_some() || r.is_some())
        {
            break;
        }
        let now = patience
            .chain(client, "reading the time", || client.now())
            .await;
        match now {
            Ok(now) if now > deal_deadline => {
                bar.finish_and_clear();
                return Err(patience
                    .give_up("the tasks did not finish within an hour of chain time".to_string()));
            }
            Ok(_) => {}
            Err(e) => {
                bar.finish_and_clear();
                return Err(e);
            }
        }
        let pause = if scheduler_away.is_some() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(200)
        };
        tokio::time::sleep(pause).await;
    }
    bar.finish_and_clear();
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    for (i, taskid) in tasks.iter().enumerate() {
        let Some(info) = outcomes[i].take() else {
            continue;
        };
        if info.status != "COMPLETED" {
            let reason = info
                .failure
                .clone()
                .unwrap_or_else(|| info.status.to_string());
            eprintln!(
                "task {taskid} failed: {reason}; claim the refund after its final deadline with \
                 `poco deal claim {dealid}`"
            );
            results[i] = Some(json!({
                "taskid": taskid, "status": info.status, "failure": reason, "verified": Value::Null,
            }));
            continue;
        }
        let dir = folder.join(format!("{taskid:x}"));
        let fast_deal = fast.then_some(dealid);
        // The scheduler saw it completed: the chain shows it (the node we read may lag).
        let waiting = Instant::now();
        let (digest, link) = loop {
            let found = patience
                .chain(client, "reading the result", || {
                    onchain_result_opt(client, *taskid, fast_deal)
                })
                .await?;
            if let Some(found) = found {
                break found;
            }
            if waiting.elapsed() >= patience.bound {
                return Err(patience.give_up(format!(
                    "the scheduler says task {taskid} completed, but the chain at {} shows no \
                     result for it after {}",
                    client.rpc_url(),
                    humantime::format_duration(patience.bound)
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        match download_patiently(client, patience, &link, digest, &dir).await {
            Ok(()) => {
                results[i] = Some(json!({
                    "taskid": taskid, "status": "COMPLETED", "resultDigest": digest,
                    "verified": true, "folder": dir,
                }));
                print_result(ctx, &dir);
            }
            Err(e) if e.downcast_ref::<DigestMismatch>().is_some() => {
                eprintln!("task {taskid}: {e}");
                results[i] = Some(json!({
                    "taskid": taskid, "status": "COMPLETED", "resultDigest": digest,
                    "verified": false, "failure": e.to_string(),
                }));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results.into_iter().flatten().collect())
}

fn print_result(ctx: &Context, dir: &Path) {
    if ctx.opts.json {
        return;
    }
    let text = std::fs::read_to_string(dir.join("result.txt"))
        .ok()
        .filter(|t| t.len() <= 4096);
    match text {
        Some(text) => eprintln!(
            "── {} ──\n{}",
            dir.join("result.txt").display(),
            text.trim_end()
        ),
        None => eprintln!("result in {}", dir.display()),
    }
}

/// The digest and result link of a completed task, from the chain.
pub(crate) async fn onchain_result(
    client: &PocoClient,
    taskid: B256,
    fast_deal: Option<B256>,
) -> Result<(B256, String)> {
    match onchain_result_opt(client, taskid, fast_deal)
        .await
        .explain(client)?
    {
        Some(found) => Ok(found),
        None => {
            let task = client.task(taskid).await.explain(client)?;
            bail!(
                "task {taskid} has no result on chain yet (status {})",
                poco_types::TaskStatus::name_of(task.status)
            )
        }
    }
}

/// The digest and result link of a task, when the chain has its result.
async fn onchain_result_opt(
    client: &PocoClient,
    taskid: B256,
    fast_deal: Option<B256>,
) -> poco_chain::Result<Option<(B256, String)>> {
    let task = client.task(taskid).await?;
    if poco_chain::task_status(task.status)? == poco_types::TaskStatus::Completed {
        return Ok(Some((
            task.resultDigest,
            String::from_utf8_lossy(&task.results).into_owned(),
        )));
    }
    Ok(client
        .fast_result(taskid, fast_deal)
        .await?
        .map(|(_, _, digest, link)| (digest, link)))
}

/// A downloaded result that is not the one the chain certified.
#[derive(Debug)]
struct DigestMismatch(String);

impl std::fmt::Display for DigestMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DigestMismatch {}

/// [`download`], retried for up to the patience while the pool's store does not answer.
async fn download_patiently(
    client: &PocoClient,
    patience: &Patience,
    link: &str,
    digest: B256,
    dir: &Path,
) -> Result<()> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    let mut warned = false;
    loop {
        let error = match download(client, client.signer(), link, digest, dir).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let text = format!("{error:#}").to_ascii_lowercase();
        let away = error.downcast_ref::<DigestMismatch>().is_none()
            && [
                "error sending request",
                "connect",
                "timed out",
                "502",
                "503",
                "504",
            ]
            .iter()
            .any(|needle| text.contains(needle));
        if !away {
            return Err(error);
        }
        if started.elapsed() >= patience.bound {
            return Err(patience.give_up(format!(
                "the pool's store did not answer for {} ({error:#})",
                humantime::format_duration(patience.bound)
            )));
        }
        if !warned {
            eprintln!(
                "warning: {error:#}; retrying for up to {} (--rpc-patience)",
                humantime::format_duration(patience.bound)
            );
            warned = true;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY_WAIT);
    }
}

/// Downloads a result from its link into `dir` and checks it against the on-chain digest.
/// With `signer` (the requester's or beneficiary's wallet), it signs in at the pool's
/// scheduler first: a pool serves results only to them, unless the deal asked for public
/// results.
pub(crate) async fn download(
    _client: &PocoClient,
    signer: Option<&alloy::signers::local::PrivateKeySigner>,
    link: &str,
    digest: B256,
    dir: &Path,
) -> Result<()> {
    let link = poco_types::ResultLink::from_bytes(link.as_bytes())
        .map_err(|e| eyre!("the on-chain result link is unreadable: {e}"))?;
    let (base, _) = link.location.split_once("/results/").ok_or_else(|| {
        eyre!(
            "the result location {} is not a poco store URL",
            link.location
        )
    })?;
    let mut store = poco_store::StoreClient::new(base)?;
    if let (Some(signer), Some(api)) = (signer, base.strip_suffix("/store")) {
        let scheduler = SchedulerClient::new(api)?;
        match scheduler.login(signer).await {
            Ok(()) => {
                if let Some(token) = scheduler.token().await {
                    store = store.with_bearer_token(token);
                }
            }
            Err(e) => {
                eprintln!("cannot sign in at the pool's scheduler {api} ({e}); downloading without")
            }
        }
    }
    let bytes = store.download(&link.location).await.map_err(|e| match e {
        poco_store::Error::DigestMismatch { .. } => DigestMismatch(e.to_string()).into(),
        e => eyre!("cannot download the result at {}: {e}", link.location),
    })?;
    let _ = std::fs::remove_dir_all(dir);
    let actual = poco_runtime::archive_digest(&bytes, dir).map_err(|e| eyre!("{e}"))?;
    if actual != digest {
        return Err(DigestMismatch(format!(
            "the result at {} has digest {actual}, but the chain certified {digest}: it is not \
             the certified result (do not trust it)",
            link.location
        ))
        .into());
    }
    std::fs::write(dir.with_extension("zip"), &bytes).ok();
    Ok(())
}
