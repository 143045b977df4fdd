//! `poco order`: the iExec SDK's order workflow. `init` writes unsigned templates into
//! `iexec.json`, which you edit; `sign` signs them into `orders.json` (per chain id); `fill`
//! matches the signed orders on chain; `show` and `cancel` work on the signed ones.

use alloy::primitives::{Address, B256, U256};
use clap::{Args, Subcommand};
use eyre::{bail, eyre, Result, WrapErr};
use poco_chain::{convert::AnySignedOrder, PocoClient};
use poco_requester::RequestBuilder;
use poco_types::{
    AppOrder, ChainOrders, DatasetOrder, OrderKind, RequestOrder, SignedOrder, WorkerpoolOrder,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::market::{MarketOpt, UnpublishArgs};
use crate::{context::Context, files, hints::Explain};

/// Which kinds of orders a command is about.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct Kinds {
    /// The app order.
    #[arg(long)]
    app: bool,
    /// The dataset order.
    #[arg(long)]
    dataset: bool,
    /// The workerpool order.
    #[arg(long)]
    workerpool: bool,
    /// The request order.
    #[arg(long)]
    request: bool,
}

impl Kinds {
    /// The selected kinds; none selected means all four.
    fn selected(self) -> Vec<OrderKind> {
        let flags = [
            (self.app, OrderKind::App),
            (self.dataset, OrderKind::Dataset),
            (self.workerpool, OrderKind::Workerpool),
            (self.request, OrderKind::Request),
        ];
        let chosen: Vec<_> = flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, k)| *k)
            .collect();
        if chosen.is_empty() {
            OrderKind::ALL.to_vec()
        } else {
            chosen
        }
    }
}

/// `poco order ...`
#[derive(Subcommand, Debug)]
pub(crate) enum OrderCommand {
    /// Write unsigned order templates into iexec.json (all four without a flag), filled with
    /// the assets of deployed.json and the wallet's address; edit them, then `poco order sign`.
    Init(Kinds),
    /// Sign the templates of iexec.json (all present without a flag) into orders.json.
    Sign(Kinds),
    /// Show the signed orders of orders.json with their remaining volume on chain.
    Show(Kinds),
    /// Cancel signed orders on chain (their owner only): nobody can match them any more.
    Cancel(Kinds),
    /// Publish the signed orders of orders.json on the market (all present without a flag).
    Publish {
        #[command(flatten)]
        kinds: Kinds,
        #[command(flatten)]
        market: MarketOpt,
    },
    /// Take orders out of the market: the last one published for the asset of orders.json
    /// (the wallet's, for request orders), --all of them, or --hash.
    Unpublish {
        #[command(flatten)]
        kinds: Kinds,
        #[command(flatten)]
        args: UnpublishArgs,
        #[command(flatten)]
        market: MarketOpt,
    },
    /// Match the signed orders of orders.json on chain; prints the deal id and task ids.
    /// Without a request order, signs one from the wallet for the offered prices.
    Fill {
        /// The request's params when it is signed here: JSON (`{"iexec_args":"..."}`) or plain
        /// arguments.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// The number of tasks when the request is signed here.
        #[arg(long, default_value_t = 1, value_name = "N")]
        volume: u64,
        /// The trust asked when the request is signed here.
        #[arg(long, default_value_t = 0, value_name = "N")]
        trust: u64,
    },
}

impl OrderCommand {
    /// Runs the command.
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        match self {
            Self::Init(kinds) => init(ctx, kinds).await,
            Self::Sign(kinds) => sign(ctx, kinds).await,
            Self::Show(kinds) => show(ctx, kinds).await,
            Self::Cancel(kinds) => cancel(ctx, kinds).await,
            Self::Publish { kinds, market } => publish(ctx, kinds, market).await,
            Self::Unpublish {
                kinds,
                args,
                market,
            } => unpublish(ctx, kinds, args, market).await,
            Self::Fill {
                params,
                volume,
                trust,
            } => fill(ctx, params, volume, trust).await,
        }
    }
}

fn template<O: serde::Serialize>(order: O) -> Result<Value> {
    let mut value = serde_json::to_value(order)?;
    if let Value::Object(map) = &mut value {
        map.remove("salt");
    }
    Ok(value)
}

async fn init(ctx: &Context, kinds: Kinds) -> Result<Value> {
    let client = ctx.reader().await?;
    let chain_id = client.chain_id();
    let me = ctx.wallet_address().ok();
    let deployed = |kind: &str| files::last_deployed(kind, chain_id);
    let app = deployed("app")?.unwrap_or_default();
    let mut templates = Map::new();
    for kind in kinds.selected() {
        let value = match kind {
            OrderKind::App => template(AppOrder {
                app,
                volume: U256::from(1_000_000u64),
                ..Default::default()
            })?,
            OrderKind::Dataset => template(DatasetOrder {
                dataset: deployed("dataset")?.unwrap_or_default(),
                volume: U256::from(1_000_000u64),
                ..Default::default()
            })?,
            OrderKind::Workerpool => template(WorkerpoolOrder {
                workerpool: deployed("workerpool")?.unwrap_or_default(),
                volume: U256::from(1_000_000u64),
                ..Default::default()
            })?,
            OrderKind::Request => {
                let mut value = template(RequestOrder {
                    app,
                    requester: me.unwrap_or_default(),
                    beneficiary: me.unwrap_or_default(),
                    volume: U256::from(1u64),
                    ..Default::default()
                })?;
                value["params"] = json!({ "iexec_args": "" });
                value
            }
        };
        templates.insert(kind.key().to_string(), value);
    }
    let written: Vec<String> = templates.keys().cloned().collect();
    files::save_order_templates(templates)?;
    Ok(json!({ "file": files::IEXEC_JSON, "templates": written }))
}

/// Reads the template of `kind` from iexec.json into an order with a fresh salt.
fn from_template<O: DeserializeOwned>(
    templates: &Map<String, Value>,
    kind: OrderKind,
) -> Result<O> {
    let mut value = templates.get(kind.key()).cloned().ok_or_else(|| {
        eyre!(
            "{} has no order.{} template; write one with `poco order init --{}`",
            files::IEXEC_JSON,
            kind.key(),
            flag(kind)
        )
    })?;
    let Value::Object(map) = &mut value else {
        bail!(
            "order.{} in {} is not an object",
            kind.key(),
            files::IEXEC_JSON
        );
    };
    if let Some(params) = map.get("params") {
        if !params.is_string() {
            let text = serde_json::to_string(params)?;
            map.insert("params".into(), Value::String(text));
        }
    }
    if !map.contains_key("salt") {
        map.insert("salt".into(), json!(B256::from(rand::random::<[u8; 32]>())));
    }
    serde_json::from_value(value).wrap_err_with(|| {
        format!(
            "order.{} in {} is not a valid {} (fix the field named above)",
            kind.key(),
            files::IEXEC_JSON,
            kind.key()
        )
    })
}

fn flag(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::App => "app",
        OrderKind::Dataset => "dataset",
        OrderKind::Workerpool => "workerpool",
        OrderKind::Request => "request",
    }
}

/// Fails early when the wallet does not own the asset of an order.
async fn check_owner(
    client: &PocoClient,
    kind: OrderKind,
    asset: Address,
    me: Address,
) -> Result<()> {
    let owner = match kind {
        OrderKind::App => client.view_app(asset).await.explain(client)?.owner,
        OrderKind::Dataset => client.view_dataset(asset).await.explain(client)?.owner,
        OrderKind::Workerpool => client.view_workerpool(asset).await.explain(client)?.owner,
        OrderKind::Request => asset,
    };
    if owner == Address::ZERO {
        bail!(
            "the {} order is for {asset}, which is not a registered {}; deploy it first or fix \
             the address in {}",
            flag(kind),
            flag(kind),
            files::IEXEC_JSON
        );
    }
    if kind == OrderKind::Request && owner != me {
        bail!(
            "the request order names requester {owner} and must be signed by it, but the wallet \
             is {me}; choose that wallet (--account, --wallet-file) or change the requester in {}",
            files::IEXEC_JSON
        );
    }
    if owner != me {
        bail!(
            "the {} order must be signed by {owner}, who owns {asset}, but the wallet is {me}; \
             choose that wallet (--account, --wallet-file)",
            flag(kind)
        );
    }
    Ok(())
}

async fn sign(ctx: &Context, kinds: Kinds) -> Result<Value> {
    let templates = files::order_templates()?;
    let wanted: Vec<OrderKind> = kinds
        .selected()
        .into_iter()
        .filter(|k| {
            let explicit = kinds.app || kinds.dataset || kinds.workerpool || kinds.request;
            explicit || templates.contains_key(k.key())
        })
        .collect();
    if wanted.is_empty() {
        bail!(
            "no order templates in {}; write them with `poco order init`",
            files::IEXEC_JSON
        );
    }
    let client = ctx.reader().await?;
    let signer = ctx.signer(None)?;
    let me = signer.address();
    let domain = client.domain();
    let mut orders = files::chain_orders(client.chain_id())?;
    let mut out = Map::new();
    for kind in wanted {
        let hash = match kind {
            OrderKind::App => {
                let o: AppOrder = from_template(&templates, kind)?;
                check_owner(&client, kind, o.app, me).await?;
                let signed = SignedOrder::sign(o, &domain, &signer)?;
                let hash = signed.order_hash(&domain);
                orders.apporder = Some(signed);
                hash
            }
            OrderKind::Dataset => {
                let o: DatasetOrder = from_template(&templates, kind)?;
                check_owner(&client, kind, o.dataset, me).await?;
                let signed = SignedOrder::sign(o, &domain, &signer)?;
                let hash = signed.order_hash(&domain);
                orders.datasetorder = Some(signed);
                hash
            }
            OrderKind::Workerpool => {
                let o: WorkerpoolOrder = from_template(&templates, kind)?;
                check_owner(&client, kind, o.workerpool, me).await?;
                let signed = SignedOrder::sign(o, &domain, &signer)?;
                let hash = signed.order_hash(&domain);
                orders.workerpoolorder = Some(signed);
                hash
            }
            OrderKind::Request => {
                let o: RequestOrder = from_template(&templates, kind)?;
                o.deal_params()
                    .wrap_err("the request's params are not valid deal params")?;
                check_owner(&client, kind, o.requester, me).await?;
                let signed = SignedOrder::sign(o, &domain, &signer)?;
                let hash = signed.order_hash(&domain);
                orders.requestorder = Some(signed);
                hash
            }
        };
        out.insert(kind.key().into(), json!({ "orderHash": hash }));
    }
    files::save_chain_orders(client.chain_id(), orders)?;
    out.insert("file".into(), json!(files::ORDERS_JSON));
    Ok(Value::Object(out))
}

fn signed(orders: &ChainOrders, kind: OrderKind) -> Option<AnySignedOrder> {
    match kind {
        OrderKind::App => orders.apporder.clone().map(AnySignedOrder::App),
        OrderKind::Dataset => orders.datasetorder.clone().map(AnySignedOrder::Dataset),
        OrderKind::Workerpool => orders
            .workerpoolorder
            .clone()
            .map(AnySignedOrder::Workerpool),
        OrderKind::Request => orders.requestorder.clone().map(AnySignedOrder::Request),
    }
}

async fn show(ctx: &Context, kinds: Kinds) -> Result<Value> {
    let client = ctx.reader().await?;
    let orders = files::chain_orders(client.chain_id())?;
    let domain = client.domain();
    let mut rows = Vec::new();
    for kind in kinds.selected() {
        let Some(order) = signed(&orders, kind) else {
            continue;
        };
        let hash = order.order_hash(&domain);
        let consumed = client.consumed(hash).await.explain(&client)?;
        let volume = order.volume();
        let remaining = volume.saturating_sub(consumed);
        rows.push(json!({
            "kind": kind.key(),
            "orderHash": hash,
            "volume": volume.to_string(),
            "remaining": remaining.to_string(),
            "status": if remaining.is_zero() { "closed" } else { "open" },
        }));
    }
    if rows.is_empty() {
        bail!(
            "no signed orders for chain {} in {}; sign some with `poco order sign`",
            client.chain_id(),
            files::ORDERS_JSON
        );
    }
    Ok(json!({ "orders": rows }))
}

async fn cancel(ctx: &Context, kinds: Kinds) -> Result<Value> {
    if !(kinds.app || kinds.dataset || kinds.workerpool || kinds.request) {
        bail!("say which order to cancel: --app, --dataset, --workerpool and/or --request");
    }
    let client = ctx.sender().await?;
    let orders = files::chain_orders(client.chain_id())?;
    let domain = client.domain();
    let mut out = Map::new();
    for kind in kinds.selected() {
        let order = signed(&orders, kind).ok_or_else(|| {
            eyre!(
                "no signed {} order for chain {} in {}",
                flag(kind),
                client.chain_id(),
                files::ORDERS_JSON
            )
        })?;
        let receipt = ctx
            .out
            .wait(
                format!("cancelling the {} order", flag(kind)),
                client.cancel_order(&order),
            )
            .await
            .explain(&client)?;
        out.insert(
            kind.key().into(),
            json!({ "orderHash": order.order_hash(&domain), "tx": receipt.transaction_hash }),
        );
    }
    Ok(Value::Object(out))
}

async fn publish(ctx: &Context, kinds: Kinds, market: MarketOpt) -> Result<Value> {
    let market = market.client(ctx)?;
    let client = ctx.reader().await?;
    let signer = ctx.signer(None)?;
    let orders = files::chain_orders(client.chain_id())?;
    let explicit = kinds.app || kinds.dataset || kinds.workerpool || kinds.request;
    let mut rows = Vec::new();
    for kind in kinds.selected() {
        let Some(order) = signed(&orders, kind) else {
            if explicit {
                bail!(
                    "no signed {} order for chain {} in {}; sign one with `poco order sign --{}`",
                    flag(kind),
                    client.chain_id(),
                    files::ORDERS_JSON,
                    flag(kind)
                );
            }
            continue;
        };
        let entry = match &order {
            AnySignedOrder::App(o) => market.publish(&signer, o, None).await,
            AnySignedOrder::Dataset(o) => market.publish(&signer, o, None).await,
            AnySignedOrder::Workerpool(o) => market.publish(&signer, o, None).await,
            AnySignedOrder::Request(o) => market.publish(&signer, o, None).await,
        }
        .wrap_err_with(|| format!("cannot publish the {} order", flag(kind)))?;
        rows.push(json!({
            "kind": kind.key(),
            "orderHash": entry.order_hash,
            "remaining": entry.remaining,
            "status": entry.status,
        }));
    }
    if rows.is_empty() {
        bail!(
            "no signed orders for chain {} in {}; sign some with `poco order sign`",
            client.chain_id(),
            files::ORDERS_JSON
        );
    }
    Ok(json!({ "market": market.url(), "published": rows }))
}

async fn unpublish(
    ctx: &Context,
    kinds: Kinds,
    args: UnpublishArgs,
    market: MarketOpt,
) -> Result<Value> {
    let selected: Vec<OrderKind> = kinds.selected();
    if selected.len() != 1 {
        bail!("say which order to unpublish: --app, --dataset, --workerpool or --request");
    }
    let kind = selected[0];
    let market = market.client(ctx)?;
    let client = ctx.reader().await?;
    let resource = if kind == OrderKind::Request {
        ctx.signer(None)?.address()
    } else {
        let orders = files::chain_orders(client.chain_id())?;
        let from_orders = match signed(&orders, kind) {
            Some(AnySignedOrder::App(o)) => Some(o.order.app),
            Some(AnySignedOrder::Dataset(o)) => Some(o.order.dataset),
            Some(AnySignedOrder::Workerpool(o)) => Some(o.order.workerpool),
            _ => None,
        };
        match from_orders {
            Some(a) => a,
            None => files::last_deployed(flag(kind), client.chain_id())?.unwrap_or_default(),
        }
    };
    if args.hash.is_none() && resource.is_zero() {
        bail!(
            "which {}? none in {} or deployed.json; pass --hash",
            flag(kind),
            files::ORDERS_JSON
        );
    }
    let hashes = super::market::unpublish(ctx, &market, kind, resource, &args).await?;
    Ok(json!({ "kind": kind.key(), "unpublished": hashes }))
}

async fn fill(ctx: &Context, params: Option<String>, volume: u64, trust: u64) -> Result<Value> {
    let client = ctx.sender().await?;
    let orders = files::chain_orders(client.chain_id())?;
    let missing = |what: &str| {
        eyre!(
            "no signed {what} order for chain {} in {}; sign one with `poco order sign --{what}` \
             (or get one from its owner)",
            client.chain_id(),
            files::ORDERS_JSON
        )
    };
    let app = orders.apporder.clone().ok_or_else(|| missing("app"))?;
    let pool = orders
        .workerpoolorder
        .clone()
        .ok_or_else(|| missing("workerpool"))?;
    let dataset = orders.datasetorder.clone();
    let request = match orders.requestorder.clone() {
        Some(request) => request,
        None => {
            let me = client.sender()?;
            let params = match params {
                Some(p) if serde_json::from_str::<Value>(&p).is_ok() => p,
                Some(p) => json!({ "iexec_args": p }).to_string(),
                None => String::new(),
            };
            let signer = ctx.signer(None)?;
            RequestBuilder::new(
                &app.order,
                dataset.as_ref().map(|d| &d.order),
                &pool.order,
                me,
            )
            .volume(U256::from(volume))
            .trust(trust)
            .params(params)
            .sign(&client.domain(), &signer)?
        }
    };
    let deal = ctx
        .out
        .wait(
            "matching the orders",
            client.match_orders(&app, dataset.as_ref(), &pool, &request),
        )
        .await
        .explain(&client)?;
    let tasks: Vec<Value> = deal
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "idx": (deal.first_task + U256::from(i)).to_string(), "taskid": t }))
        .collect();
    Ok(json!({
        "dealid": deal.dealid,
        "volume": deal.volume.to_string(),
        "tx": deal.tx_hash,
        "gasUsed": deal.gas_used,
        "tasks": tasks,
    }))
}
