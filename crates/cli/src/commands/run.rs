//! `poco run`: a requester's one command. It finds the orders (deploying and publishing the
//! app itself when given a module file on a devnet), signs the request, matches, follows the
//! tasks, downloads each result and checks it against the digest on chain.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, Bytes, B256, U256};
use clap::Args;
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::{bindings::app::AppRegistry, AppSpec, PocoClient};
use poco_market::MarketClient;
use poco_scheduler::SchedulerClient;
use poco_types::{
    format_rlc, AppOrder, ChainOrders, DealParams, Order as _, OrderKind, RequestOrder,
    SignedAppOrder, SignedDatasetOrder, SignedOrder, SignedWorkerpoolOrder,
};
use serde_json::{json, Value};

use super::market::MarketOpt;
use crate::{
    context::Context,
    files,
    hints::{Explain, ExplainCall},
};

/// `poco run`
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The app: a WASM module file (deployed and published on a devnet) or an app address.
    app: String,
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
    /// Input files, comma-separated URLs (`iexec_input_files`; `#sha256=<hex>` is checked).
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
    /// Where results go [default: ./results/<dealid>/].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
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
struct LocalOrders {
    apps: Vec<SignedAppOrder>,
    datasets: Vec<SignedDatasetOrder>,
    pools: Vec<(SignedWorkerpoolOrder, Option<String>)>,
}

fn local_orders(chain_id: u64) -> Result<LocalOrders> {
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

/// The app to run: an address, or a module deployed (once) on a devnet.
async fn resolve_app(ctx: &Context, client: &PocoClient, app: &str) -> Result<Address> {
    let me = client.sender()?;
    let address = if let Ok(address) = app.parse::<Address>() {
        address
    } else {
        let path = Path::new(app);
        if !path.is_file() {
            bail!("{app:?} is neither an app address nor a WASM module file");
        }
        if client.chain_id() != 31337 {
            bail!(
                "deploying an app from a file is for devnets; on chain {}, deploy it with `poco \
                 app deploy` and publish an app order",
                client.chain_id()
            );
        }
        let bytes = std::fs::read(path).wrap_err_with(|| format!("cannot read {app}"))?;
        let absolute = std::fs::canonicalize(path)?;
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
        let predicted = registry
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
        let known = registry
            .isRegistered(predicted)
            .call()
            .await
            .explain_call("isRegistered", client)?;
        if known {
            predicted
        } else {
            let app = ctx
                .out
                .wait(format!("deploying {}", spec.name), client.create_app(&spec))
                .await
                .explain(client)?;
            eprintln!("deployed app {app} from {}", path.display());
            app
        }
    };
    Ok(address)
}

/// A free app order for an app the wallet owns, when nobody offers one.
async fn own_app_order(client: &PocoClient, address: Address) -> Result<Option<SignedAppOrder>> {
    let me = client.sender()?;
    let owner = client
        .hub()
        .viewApp(address)
        .call()
        .await
        .explain_call("viewApp", client)?
        .owner;
    if owner == Address::ZERO {
        bail!("{address} is not a registered app");
    }
    if owner != me {
        return Ok(None);
    }
    let signer = client.signer().ok_or_else(|| eyre!("no wallet"))?;
    let order = AppOrder {
        app: address,
        volume: U256::from(1_000_000u64),
        salt: B256::from(rand::random::<[u8; 32]>()),
        ..Default::default()
    }
    .sign(&client.domain(), signer)?;
    Ok(Some(order))
}

/// The app order of the local order files (or a new one when the wallet owns the app).
async fn app_order(
    client: &PocoClient,
    address: Address,
    local: &LocalOrders,
    volume: U256,
) -> Result<SignedAppOrder> {
    for order in local.apps.iter().filter(|o| o.order.app == address) {
        if remaining(client, order).await? >= volume {
            return Ok(order.clone());
        }
    }
    match own_app_order(client, address).await? {
        Some(order) => {
            files::publish_orders(
                &format!("app-{address:x}"),
                client.chain_id(),
                ChainOrders {
                    apporder: Some(order.clone()),
                    ..Default::default()
                },
            )?;
            Ok(order)
        }
        None => bail!(
            "no app order for {address} in the local order files; ask its owner to publish one \
             (orders.json or $POCO_HOME/orders/), or use a market with --market"
        ),
    }
}

/// The orders chosen on the market, with the scheduler URL of the workerpool order.
type Chosen = (
    SignedAppOrder,
    Option<SignedDatasetOrder>,
    SignedWorkerpoolOrder,
    Option<String>,
);

impl RunArgs {
    /// Picks the orders from the market.
    async fn orders_from_market(
        &self,
        client: &PocoClient,
        market: &MarketClient,
        app: Address,
        volume: u64,
    ) -> Result<Chosen> {
        let me = client.sender()?;
        let mut apps = market
            .all_orders(
                OrderKind::App,
                &[("app", app.to_string()), ("requester", me.to_string())],
                1000,
            )
            .await?;
        if apps.is_empty() {
            if let Some(order) = own_app_order(client, app).await? {
                let signer = client.signer().ok_or_else(|| eyre!("no wallet"))?;
                let entry = market
                    .publish(signer, &order, None)
                    .await
                    .wrap_err("cannot publish an app order for your app")?;
                eprintln!(
                    "published app order {} on {}",
                    entry.order_hash,
                    market.url()
                );
                apps.push(entry);
            }
        }
        let datasets = match self.dataset {
            Some(d) => {
                market
                    .all_orders(
                        OrderKind::Dataset,
                        &[
                            ("dataset", d.to_string()),
                            ("app", app.to_string()),
                            ("requester", me.to_string()),
                        ],
                        1000,
                    )
                    .await?
            }
            None => Vec::new(),
        };
        let mut query = vec![
            ("app", app.to_string()),
            ("requester", me.to_string()),
            ("minTrust", self.trust.to_string()),
            ("minVolume", volume.to_string()),
        ];
        query.extend(self.dataset.map(|d| ("dataset", d.to_string())));
        query.extend(self.category.map(|c| ("category", c.to_string())));
        query.extend(self.workerpool.map(|w| ("workerpool", w.to_string())));
        let pools = market
            .all_orders(OrderKind::Workerpool, &query, 1000)
            .await?;
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
        Ok((
            offer.app.1,
            offer.dataset.map(|d| d.1),
            offer.workerpool.1,
            offer.workerpool.0.workerpool_api,
        ))
    }

    /// Picks the orders from the local order files.
    async fn orders_from_local(
        &self,
        client: &PocoClient,
        address: Address,
        volume: U256,
    ) -> Result<Chosen> {
        let local = local_orders(client.chain_id())?;
        let app = app_order(client, address, &local, volume).await?;
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
        Ok((app, dataset, pool, api))
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
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
        let client = ctx.sender().await?;
        let me = client.sender()?;
        let volume = U256::from(self.volume);
        let address = resolve_app(ctx, &client, &self.app).await?;
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
        let (app, dataset, pool, api) = match &market {
            Some(market) => {
                self.orders_from_market(&client, market, address, self.volume)
                    .await?
            }
            None => self.orders_from_local(&client, address, volume).await?,
        };

        if !self.args.is_empty() || params.iexec_args.is_none() {
            params.iexec_args = Some(self.args.clone());
        }
        if !self.input_files.is_empty() {
            params.iexec_input_files = Some(self.input_files.clone());
        }
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
        let deal = if fast {
            ctx.out
                .wait(
                    "matching (fast path)",
                    client.match_orders_fast(&app, dataset.as_ref(), &pool, &request),
                )
                .await
                .explain(&client)?
                .0
        } else {
            ctx.out
                .wait(
                    "matching",
                    client.match_orders(&app, dataset.as_ref(), &pool, &request),
                )
                .await
                .explain(&client)?
        };
        eprintln!(
            "deal {} with workerpool {} ({} task{}, {} each)",
            deal.dealid,
            pool.order.workerpool,
            deal.tasks.len(),
            if deal.tasks.len() == 1 { "" } else { "s" },
            format_rlc(price)
        );
        let mut out = json!({
            "dealid": deal.dealid,
            "app": app.order.app,
            "workerpool": pool.order.workerpool,
            "trust": self.trust,
            "fast": fast,
            "tasks": deal.tasks,
        });
        if self.no_watch {
            return Ok(out);
        }
        let api = api.ok_or_else(|| eyre!("the workerpool order does not say where its scheduler is; follow the deal with `poco deal show {} --watch`", deal.dealid))?;
        let folder = self
            .out
            .unwrap_or_else(|| PathBuf::from("results").join(format!("{:x}", deal.dealid)));
        let results = follow(ctx, &client, &api, &deal.tasks, deal.dealid, fast, &folder).await?;
        out["results"] = Value::Array(results);
        Ok(out)
    }
}

/// Follows the tasks at their scheduler until each is completed or given up, then downloads
/// and checks every result.
async fn follow(
    ctx: &Context,
    client: &PocoClient,
    api: &str,
    tasks: &[B256],
    dealid: B256,
    fast: bool,
    folder: &Path,
) -> Result<Vec<Value>> {
    let scheduler = SchedulerClient::new(api)?;
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
    let started = Instant::now();
    let mut outcomes: Vec<Option<poco_scheduler::api::TaskInfo>> = vec![None; tasks.len()];
    let deal_deadline = {
        let now = client.now().await.explain(client)?;
        now + 3600
    };
    loop {
        for (i, taskid) in tasks.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            if let Ok(info) = scheduler.task(*taskid).await {
                if matches!(
                    info.status.as_str(),
                    "COMPLETED" | "FAILED" | "EXPIRED" | "CLAIMED"
                ) {
                    outcomes[i] = Some(info);
                    bar.inc(1);
                }
            }
        }
        if outcomes.iter().all(Option::is_some) {
            break;
        }
        if client.now().await.explain(client)? > deal_deadline {
            bar.finish_and_clear();
            bail!("the tasks did not finish within an hour; follow them with `poco deal show {dealid} --watch`");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    let mut results = Vec::new();
    for (taskid, info) in tasks.iter().zip(outcomes.into_iter().flatten()) {
        if info.status != "COMPLETED" {
            let reason = info.failure.clone().unwrap_or_else(|| info.status.clone());
            eprintln!("task {taskid} failed: {reason}; claim the refund after its final deadline with `poco deal claim {dealid}`");
            results.push(json!({ "taskid": taskid, "status": info.status, "failure": reason }));
            continue;
        }
        let dir = folder.join(format!("{taskid:x}"));
        let (digest, link) = onchain_result(client, *taskid, fast.then_some(dealid)).await?;
        download(client, client.signer(), &link, digest, &dir).await?;
        results.push(json!({ "taskid": taskid, "status": "COMPLETED", "resultDigest": digest, "folder": dir }));
        print_result(ctx, &dir);
    }
    Ok(results)
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
    let task = client.task(taskid).await.explain(client)?;
    if task.status == 3 {
        return Ok((
            task.resultDigest,
            String::from_utf8_lossy(&task.results).into_owned(),
        ));
    }
    match client
        .fast_result(taskid, fast_deal)
        .await
        .explain(client)?
    {
        Some((_, _, digest, link)) => Ok((digest, link)),
        None => bail!(
            "task {taskid} has no result on chain yet (status {})",
            poco_chain::task_status_name(task.status)
        ),
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
    let bytes = store
        .download(&link.location)
        .await
        .map_err(|e| eyre!("cannot download the result at {}: {e}", link.location))?;
    let _ = std::fs::remove_dir_all(dir);
    let actual = poco_runtime::archive_digest(&bytes, dir).map_err(|e| eyre!("{e}"))?;
    if actual != digest {
        bail!(
            "the result at {} has digest {actual}, but the chain certified {digest}: it is not the \
             certified result (do not trust it)",
            link.location
        );
    }
    std::fs::write(dir.with_extension("zip"), &bytes).ok();
    Ok(())
}
