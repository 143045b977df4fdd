//! `poco market` (the order book service), `poco orderbook` (reading it) and the market side of
//! `poco order publish|unpublish`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::primitives::U256;
use alloy::primitives::{Address, B256};
use clap::{Args, Subcommand};
use eyre::{bail, eyre, Result, WrapErr};
use poco_market::{
    api::{OrderEntry, UnpublishRequest, UnpublishTarget},
    MarketClient, MarketConfig,
};
use poco_types::{format_rlc, OrderKind, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{config::poco_home, context::Context};

/// The environment variable naming the market URL.
pub(crate) const MARKET_ENV: &str = "POCO_MARKET";

/// `--market`, shared by the commands that talk to a market.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct MarketOpt {
    /// The market's URL [default: $POCO_MARKET, else the chain's `iexecGateway` in chain.json].
    #[arg(long, value_name = "URL")]
    pub(crate) market: Option<String>,
}

impl MarketOpt {
    /// The market to use, or an error saying how to name one.
    pub(crate) fn client(&self, ctx: &Context) -> Result<MarketClient> {
        Ok(MarketClient::new(&self.url(ctx)?)?)
    }

    /// The market URL, if one is configured.
    pub(crate) fn configured(&self, ctx: &Context) -> Option<String> {
        self.market
            .clone()
            .or_else(|| std::env::var(MARKET_ENV).ok().filter(|s| !s.is_empty()))
            .or_else(|| {
                ctx.chain_entry().ok().and_then(|(_, _, entry)| {
                    entry
                        .other
                        .get("iexecGateway")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            })
    }

    fn url(&self, ctx: &Context) -> Result<String> {
        self.configured(ctx).ok_or_else(|| {
            eyre!(
                "no market configured: pass --market URL, set {MARKET_ENV}, or add \
                 \"iexecGateway\" to the chain in chain.json (a devnet's market runs with `poco \
                 market`)"
            )
        })
    }
}

/// `poco market`
#[derive(Args, Debug, Serialize)]
pub(crate) struct MarketArgs {
    /// A TOML file of the settings below (as snake_case keys) [default: $POCO_HOME/market.toml,
    /// when it exists]; POCO_MARKET_<SETTING> variables override the file, flags override both.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where the API and the web UI listen [default: 127.0.0.1:3000].
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    /// The database: sqlite://PATH?mode=rwc or postgres://... [default: a SQLite file in
    /// $POCO_HOME/market/].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// The first block to read on a fresh database (the hub's deployment block) [default: 0].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    start_block: Option<u64>,
    /// Open orders of one type a wallet may have [default: 50].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_open_orders: Option<usize>,
    /// Milliseconds between two looks at the chain [default: 500].
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_interval_ms: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    tls: TlsArgs,
}

/// The settings of `poco market`, resolved by [`MarketArgs::settings`]: the defaults here, then
/// the TOML file, the `POCO_MARKET_*` environment and the flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MarketSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) database: Option<String>,
    pub(crate) start_block: u64,
    pub(crate) max_open_orders: usize,
    pub(crate) poll_interval_ms: u64,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
}

impl Default for MarketSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database: None,
            start_block: 0,
            max_open_orders: 50,
            poll_interval_ms: 500,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The TLS files of a service's settings, when both are given.
pub(crate) fn tls_files(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
) -> Result<Option<poco_service::TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(poco_service::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })),
        (None, None) => Ok(None),
        _ => bail!(
            "tls_cert and tls_key go together: give both (flags, file or environment) for HTTPS, \
             or neither for plain HTTP"
        ),
    }
}

/// Resolves a service's settings: `defaults` < the TOML file (`--config`, else
/// `$POCO_HOME/<service>.toml`) < `POCO_<SERVICE>_*` < `flags`.
pub(crate) fn resolve_settings<T, F>(
    service: &str,
    file: Option<&std::path::Path>,
    flags: &F,
) -> Result<T>
where
    T: Default + Serialize + serde::de::DeserializeOwned,
    F: Serialize,
{
    let home = poco_home().ok();
    Ok(
        poco_service::config::Layers::new(service, file, home.as_deref())
            .resolve(&T::default(), flags)?,
    )
}

/// HTTPS for a service (`poco market`, `poco scheduler`).
#[derive(Args, Debug, Clone, Default, Serialize)]
pub(crate) struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first) instead of plain HTTP; needs
    /// --tls-key. Put every public service behind HTTPS: sign-in tokens travel in headers.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<PathBuf>,
}

impl MarketArgs {
    /// The market's settings: the defaults, then the TOML file, the `POCO_MARKET_*`
    /// environment and the flags.
    pub(crate) fn settings(&self) -> Result<MarketSettings> {
        resolve_settings("market", self.config.as_deref(), self)
    }

    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        let settings = self.settings()?;
        let tls = tls_files(&settings.tls_cert, &settings.tls_key)?;
        let client = ctx.reader().await?;
        let home = poco_home()?.join("market");
        std::fs::create_dir_all(&home)
            .wrap_err_with(|| format!("cannot create {}", home.display()))?;
        let mut config = MarketConfig::new(client.rpc_url(), client.deployment().hub);
        config.database_url = match settings.database {
            Some(url) => url,
            None => {
                let stem = format!("{}-{:x}", client.chain_id(), client.deployment().hub);
                super::default_database(&client, &home, &stem).await?
            }
        };
        config.listen = settings.listen;
        config.start_block = settings.start_block;
        config.max_open_orders = settings.max_open_orders;
        config.poll_interval = Duration::from_millis(settings.poll_interval_ms.max(50));
        config.confirmations = ctx.opts.confirms.saturating_sub(1);
        config.tls = tls;
        let running = poco_market::start(config).await?;
        eprintln!(
            "market of chain {} at {} (web UI at {1}/, API in {1}/openapi.json); Ctrl-C to stop",
            client.chain_id(),
            running.url
        );
        ctx.out
            .print_line(&json!({ "market": running.url, "chainId": client.chain_id() }));
        let url = running.url.clone();
        super::services::run_until_signal(ctx, "market", &client, running).await?;
        Ok(json!({ "url": url, "stopped": true }))
    }
}

/// `poco orderbook ...`
#[derive(Subcommand, Debug)]
pub(crate) enum OrderbookCommand {
    /// Open app orders of an app.
    App {
        /// The app.
        app: Address,
        #[command(flatten)]
        filters: BookFilters,
    },
    /// Open dataset orders of a dataset.
    Dataset {
        /// The dataset.
        dataset: Address,
        #[command(flatten)]
        filters: BookFilters,
    },
    /// Open workerpool orders (all pools, or one), cheapest first.
    Workerpool {
        /// Only this workerpool.
        workerpool: Option<Address>,
        /// Only this category.
        #[arg(long, value_name = "N")]
        category: Option<u64>,
        /// Only orders offering at least this trust.
        #[arg(long, value_name = "N")]
        min_trust: Option<u64>,
        #[command(flatten)]
        filters: BookFilters,
    },
    /// Open request orders (all requesters, or one), highest bid first.
    Requester {
        /// Only this requester's orders.
        requester: Option<Address>,
        /// Only this category.
        #[arg(long, value_name = "N")]
        category: Option<u64>,
        /// Only requests for this app.
        #[arg(long, value_name = "ADDRESS")]
        app: Option<Address>,
        #[command(flatten)]
        filters: BookFilters,
    },
}

/// Filters every order book listing takes.
#[derive(Args, Debug)]
pub(crate) struct BookFilters {
    /// Only orders with all these tags (e.g. tee,gpu or a bytes32).
    #[arg(long, value_name = "TAGS")]
    tag: Option<Tag>,
    /// Include orders restricted to this requester (`any`: every restriction).
    #[arg(long, value_name = "ADDRESS|any")]
    requester_restrict: Option<String>,
    /// Only orders with at least this volume left.
    #[arg(long, value_name = "N")]
    min_volume: Option<u64>,
    /// The page (from 0).
    #[arg(long, default_value_t = 0, value_name = "N")]
    page: u64,
    /// Orders per page (10 to 1000).
    #[arg(long, default_value_t = 20, value_name = "N")]
    page_size: u64,
    #[command(flatten)]
    market: MarketOpt,
}

fn row(entry: &OrderEntry, kind: OrderKind) -> Value {
    let order = &entry.order;
    let field = |name: &str| order.get(name).cloned().unwrap_or(Value::Null);
    let price_field = match kind {
        OrderKind::App => "appprice",
        OrderKind::Dataset => "datasetprice",
        OrderKind::Workerpool => "workerpoolprice",
        OrderKind::Request => "workerpoolmaxprice",
    };
    let price: U256 = field(price_field)
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let mut row = json!({
        "orderHash": entry.order_hash,
        "price": format_rlc(price),
        "remaining": entry.remaining,
        "volume": field("volume"),
    });
    match kind {
        OrderKind::Workerpool => {
            row["workerpool"] = field("workerpool");
            row["category"] = field("category");
            row["trust"] = field("trust");
        }
        OrderKind::Request => {
            row["app"] = field("app");
            row["requester"] = field("requester");
            row["category"] = field("category");
            row["trust"] = field("trust");
        }
        OrderKind::App => row["app"] = field("app"),
        OrderKind::Dataset => row["dataset"] = field("dataset"),
    }
    row["tag"] = field("tag");
    row
}

impl OrderbookCommand {
    pub(crate) async fn run(self, ctx: &Context) -> Result<Value> {
        let (kind, mut query, filters) = match self {
            Self::App { app, filters } => (OrderKind::App, vec![("app", app.to_string())], filters),
            Self::Dataset { dataset, filters } => (
                OrderKind::Dataset,
                vec![("dataset", dataset.to_string())],
                filters,
            ),
            Self::Workerpool {
                workerpool,
                category,
                min_trust,
                filters,
            } => {
                let mut q = Vec::new();
                q.extend(workerpool.map(|w| ("workerpool", w.to_string())));
                q.extend(category.map(|c| ("category", c.to_string())));
                q.extend(min_trust.map(|t| ("minTrust", t.to_string())));
                (OrderKind::Workerpool, q, filters)
            }
            Self::Requester {
                requester,
                category,
                app,
                filters,
            } => {
                let mut q = Vec::new();
                q.extend(requester.map(|r| ("requester", r.to_string())));
                q.extend(category.map(|c| ("category", c.to_string())));
                q.extend(app.map(|a| ("app", a.to_string())));
                (OrderKind::Request, q, filters)
            }
        };
        if let Some(tag) = filters.tag {
            query.push(("minTag", tag.0.to_string()));
        }
        if let Some(r) = &filters.requester_restrict {
            if kind != OrderKind::Request {
                query.push(("requester", r.clone()));
            }
        }
        if let Some(v) = filters.min_volume {
            query.push(("minVolume", v.to_string()));
        }
        query.push(("pageIndex", filters.page.to_string()));
        query.push(("pageSize", filters.page_size.to_string()));
        let market = filters.market.client(ctx)?;
        let page = market.orders(kind, &query).await?;
        let rows: Vec<Value> = page.orders.iter().map(|e| row(e, kind)).collect();
        if !ctx.opts.json && rows.is_empty() {
            eprintln!("no open {} matches", kind.key());
        } else if !ctx.opts.json {
            eprintln!(
                "{} open {}s{}",
                page.count,
                kind.key(),
                page.next_page
                    .map(|p| format!(" (next page: --page {p})"))
                    .unwrap_or_default()
            );
        }
        Ok(json!({ "count": page.count, "orders": rows, "nextPage": page.next_page }))
    }
}

/// `poco order unpublish` arguments.
#[derive(Args, Debug)]
pub(crate) struct UnpublishArgs {
    /// Unpublish this order (of the kind given by the flag).
    #[arg(long, value_name = "HASH", conflicts_with = "all")]
    pub(crate) hash: Option<B256>,
    /// Unpublish every open order of the resource, not only the last published.
    #[arg(long)]
    pub(crate) all: bool,
}

/// Unpublishes orders of `kind`: by hash, or the last / all of `resource` (the asset, or the
/// requester for request orders).
pub(crate) async fn unpublish(
    ctx: &Context,
    market: &MarketClient,
    kind: OrderKind,
    resource: Address,
    args: &UnpublishArgs,
) -> Result<Vec<B256>> {
    let signer = ctx.signer(None)?;
    let mut request = UnpublishRequest::default();
    match args.hash {
        Some(hash) => {
            request.target = Some(UnpublishTarget::UnpublishOrderHash);
            request.order_hash = Some(hash);
        }
        None => {
            request.target = Some(if args.all {
                UnpublishTarget::UnpublishAll
            } else {
                UnpublishTarget::UnpublishLast
            });
            match kind {
                OrderKind::App => request.app = Some(resource),
                OrderKind::Dataset => request.dataset = Some(resource),
                OrderKind::Workerpool => request.workerpool = Some(resource),
                OrderKind::Request => request.requester = Some(resource),
            }
        }
    }
    Ok(market.unpublish(&signer, kind, &request).await?)
}
