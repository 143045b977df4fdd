//! The HTTP API (`API.md`), the live feed and the web UI.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use alloy::primitives::{Address, B256, U256};
use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State,
    },
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use poco_requester::RequestBuilder;
use poco_types::{
    AppOrder, DatasetOrder, DealParams, OrderKind, RequestOrder, SignedOrder, Tag, WorkerpoolOrder,
};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    api::{
        AccountBalance, Action, AddressPage, Answer, AnyOrder, AppInfo, AppPage, CategoryEntry,
        CategoryList, ChallengeAnswer, DatasetInfo, DatasetPage, DealPage, FillOffer, FillPrice,
        FillTransaction, Ohlc, OrderEntry, TaskAnswer, TaskView, Unpublished, VersionInfo,
        WorkerpoolInfo, WorkerpoolPage,
    },
    book::{Filter, IndexKey, Restrict},
    db::DealFilter,
    feed::Topic,
    fill::{best_offer, shell_quote, OfferQuery},
    limits::{self, JsonBody, MAX_BODY_BYTES, MAX_WS_MESSAGE_BYTES},
    publish::{self, Refusal},
    Shared,
};

type S = State<Arc<Shared>>;
/// A route's answer: `{"ok": true, …}` with the fields of `T`, or a refusal.
type Reply<T = Value> = Result<Json<Answer<T>>, Refusal>;
type Params = HashMap<String, String>;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = crate::api::Refusal {
            ok: false,
            error: self.1,
        };
        (self.0, Json(body)).into_response()
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, message)
}

fn not_found(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, message)
}

/// `{"ok": true, …fields}`.
fn ok<T>(fields: T) -> Reply<T> {
    Ok(Json(Answer::ok(fields)))
}

/// Typed access to query parameters, with errors naming the parameter.
struct Q<'a>(&'a Params);

impl Q<'_> {
    fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn address(&self, name: &str) -> Result<Option<Address>, Refusal> {
        self.str(name)
            .map(|s| {
                s.parse()
                    .map_err(|_| bad(format!("{name}: {s:?} is not an address")))
            })
            .transpose()
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, Refusal> {
        self.str(name)
            .map(|s| {
                s.parse()
                    .map_err(|_| bad(format!("{name}: {s:?} is not a non-negative integer")))
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<bool, Refusal> {
        match self.str(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(s) => Err(bad(format!("{name}: expected true or false, got {s:?}"))),
        }
    }

    fn tag(&self, name: &str) -> Result<Option<Tag>, Refusal> {
        self.str(name)
            .map(|s| {
                s.parse::<B256>()
                    .map(Tag)
                    .or_else(|_| s.parse::<Tag>())
                    .map_err(|_| {
                        bad(format!(
                            "{name}: {s:?} is not a tag (bytes32 hex, or names like tee,gpu)"
                        ))
                    })
            })
            .transpose()
    }

    /// A restriction filter: absent, `any`, an address, or an address with `strict=true`.
    fn restrict(&self, name: &str, strict: &str) -> Result<Restrict, Refusal> {
        Ok(match self.str(name) {
            None => Restrict::Public,
            Some("any") => Restrict::Any,
            Some(_) => {
                let address = self.address(name)?.unwrap_or_default();
                if self.bool(strict)? {
                    Restrict::Strict(address)
                } else {
                    Restrict::To(address)
                }
            }
        })
    }

    /// `pageIndex` and `pageSize` (default 20, 10 to 1000).
    fn page(&self) -> Result<(usize, usize), Refusal> {
        let size = self.u64("pageSize")?.unwrap_or(20);
        if !(10..=1000).contains(&size) {
            return Err(bad(format!(
                "pageSize must be between 10 and 1000, got {size}"
            )));
        }
        let index = self.u64("pageIndex")?.unwrap_or(0);
        Ok((index as usize, size as usize))
    }
}

fn check_chain(shared: &Shared, q: &Q<'_>) -> Result<(), Refusal> {
    match q.u64("chainId")? {
        Some(id) if id != shared.chain_id => Err(bad(format!(
            "chainId: this market serves chain {}, not {id}",
            shared.chain_id
        ))),
        _ => Ok(()),
    }
}

/// `chainId` may be given on every call: another chain than the market's is a 400.
async fn chain_guard(
    State(shared): S,
    Query(params): Query<Params>,
    request: Request,
    next: Next,
) -> Response {
    match check_chain(&shared, &Q(&params)) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/", get(index_page))
        .route("/web/{file}", get(web_file))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/challenge", get(challenge))
        .route("/categories", get(categories))
        .route("/categories/{catid}", get(category))
        .route("/deals", get(deals))
        .route("/deals/{dealid}", get(deal))
        .route("/ohlc", get(ohlc))
        .route("/tasks/{taskid}", get(task))
        .route("/apps/{address}", get(asset_app))
        .route("/datasets/{address}", get(asset_dataset))
        .route("/workerpools/{address}", get(asset_workerpool))
        .route("/addresses/{address}", get(address_page))
        .route("/fill", get(fill))
        .route("/fill/transaction", axum::routing::post(fill_transaction))
        .route("/ws", get(ws));
    for kind in OrderKind::ALL {
        router = router
            .route(
                &format!("/{}s", kind.key()),
                get(move |s: S, q: Query<Params>| list_orders(s, q, kind))
                    .post(move |s: S, h: HeaderMap, b: JsonBody| publish_order(s, h, b, kind))
                    .put(move |s: S, h: HeaderMap, b: JsonBody| unpublish_order(s, h, b, kind)),
            )
            .route(
                &format!("/{}s/{{hash}}", kind.key()),
                get(move |s: S, p: Path<String>| one_order(s, p, kind)),
            );
    }
    router
        .fallback(unknown_path)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            chain_guard,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            limits::time_limit,
        ))
        .layer(axum::middleware::from_fn(envelope))
        .with_state(shared)
}

/// Paths the API does not have: a 404 in the envelope.
async fn unknown_path(method: axum::http::Method, uri: axum::http::Uri) -> Refusal {
    not_found(format!(
        "no such path: {method} {}; the API is listed at GET /openapi.json",
        uri.path()
    ))
}

/// The methods a path of the API takes (what a 405 names).
fn allowed_methods(path: &str) -> &'static str {
    let list = OrderKind::ALL
        .iter()
        .any(|k| path.trim_end_matches('/') == format!("/{}s", k.key()));
    match path {
        _ if list => "GET, POST, PUT",
        "/fill/transaction" => "POST",
        _ => "GET",
    }
}

/// The largest error body [`envelope`] reads to rewrap (axum's own rejections are one line).
const MAX_PLAIN_ERROR_BYTES: usize = 4096;

/// Every error leaves in the API's `{"ok": false, "error": …}` envelope: an error answered
/// outside the handlers (axum's rejections, a method the path does not take, a WebSocket
/// upgrade asked wrongly) in plain text or with no body is rewrapped, its text kept.
async fn envelope(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow_header = response.headers().get(header::ALLOW).cloned();
    let allow = allow_header
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = axum::body::to_bytes(response.into_body(), MAX_PLAIN_ERROR_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match (status, allow) {
        (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => format!(
            "method {method} is not allowed on {path}; it takes {}",
            if allow.is_empty() { "none" } else { &allow }
        ),
        (StatusCode::METHOD_NOT_ALLOWED, None) => format!(
            "method {method} is not allowed on {path}; it takes {}",
            allowed_methods(&path)
        ),
        (_, _) if text.is_empty() => format!(
            "{method} {path}: {}",
            status.canonical_reason().unwrap_or("refused")
        ),
        (_, _) => format!("{method} {path}: {text}"),
    };
    let mut refused = Refusal::new(status, message).into_response();
    // `Allow` stays for the clients that read it.
    if let Some(allow) = allow_header {
        refused.headers_mut().insert(header::ALLOW, allow);
    }
    refused
}

// ---- web UI ----

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

fn asset(name: &str) -> Response {
    match WEB_ASSETS.iter().find(|(n, _)| *n == name) {
        Some((_, bytes)) => {
            let mime = match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            ([(header::CONTENT_TYPE, mime)], *bytes).into_response()
        }
        None => not_found(format!("no file {name} in the web UI")).into_response(),
    }
}

#[utoipa::path(get, path = "/", summary = "The marketplace web UI", responses((status = 200, description = "The page", content_type = "text/html")))]
async fn index_page() -> Response {
    asset("index.html")
}

#[utoipa::path(get, path = "/web/{file}", summary = "A file of the web UI (scripts, styles)", params(("file" = String, Path, description = "the file name")), responses((status = 200, description = "The file")))]
async fn web_file(Path(file): Path<String>) -> Response {
    asset(&file)
}

// ---- service ----

#[utoipa::path(get, path = "/version", summary = "The service version, chain id and hub (the orders' EIP-712 domain)", responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = VersionInfo)))]
async fn version(State(shared): S) -> Reply<VersionInfo> {
    ok(VersionInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        chain_id: shared.chain_id,
        hub: shared.config.hub,
    })
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus text: last block read, open order counts, deals, challenges", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics(State(shared): S) -> Result<Response, Refusal> {
    Ok(poco_service::metrics::response(
        crate::metrics::render(&shared).await?,
    ))
}

#[utoipa::path(get, path = "/openapi.json", summary = "This document", responses((status = 200, description = "The OpenAPI document", body = serde_json::Value)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

#[utoipa::path(get, path = "/challenge", summary = "An EIP-712 sign-in challenge, bound to one action when `action` is given (publish:<orderHash>, unpublish:<orderHash>, unpublish_last:<type>, unpublish_all:<type>); one live challenge per address, a newer one (for another action) replaces the older", params(("address" = String, Query, description = "the address signing in"), ("action" = Option<String>, Query, description = "the one action the sign-in authorizes")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = ChallengeAnswer)))]
async fn challenge(State(shared): S, Query(params): Query<Params>) -> Reply<ChallengeAnswer> {
    let q = Q(&params);
    let address = q
        .address("address")?
        .ok_or_else(|| bad("address is required: GET /challenge?address=0x…"))?;
    let action = q
        .str("action")
        .map(str::parse::<Action>)
        .transpose()
        .map_err(bad)?;
    ok(ChallengeAnswer {
        data: shared.challenges.get(shared.chain_id, address, action),
    })
}

#[utoipa::path(get, path = "/categories", summary = "The categories", params(("minWorkClockTimeRef" = Option<u64>, Query, description = "at least this reference time, seconds"), ("maxWorkClockTimeRef" = Option<u64>, Query, description = "at most this reference time, seconds")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = CategoryList)))]
async fn categories(State(shared): S, Query(params): Query<Params>) -> Reply<CategoryList> {
    let q = Q(&params);
    let min = q.u64("minWorkClockTimeRef")?;
    let max = q.u64("maxWorkClockTimeRef")?;
    let list: Vec<_> = shared
        .categories()
        .into_iter()
        .filter(|c| min.is_none_or(|m| c.work_clock_time_ref >= m))
        .filter(|c| max.is_none_or(|m| c.work_clock_time_ref <= m))
        .collect();
    ok(CategoryList {
        count: list.len(),
        categories: list,
    })
}

#[utoipa::path(get, path = "/categories/{catid}", summary = "One category", params(("catid" = String, Path, description = "its index")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = CategoryEntry)))]
async fn category(State(shared): S, Path(catid): Path<String>) -> Reply<CategoryEntry> {
    let catid: u64 = catid
        .parse()
        .map_err(|_| bad(format!("catid: {catid:?} is not a category index")))?;
    let c = shared
        .categories()
        .into_iter()
        .find(|c| c.catid == catid)
        .ok_or_else(|| not_found(format!("category {catid} does not exist on this chain")))?;
    ok(c)
}

// ---- orders ----

fn order_filter(kind: OrderKind, q: &Q<'_>) -> Result<Filter, Refusal> {
    let mut f = Filter {
        min_tag: q.tag("minTag")?,
        max_tag: q.tag("maxTag")?,
        min_volume: q.u64("minVolume")?,
        ..Default::default()
    };
    let require_one = |a: Option<Address>, b: Option<Address>, names: &str| {
        if a.is_none() && b.is_none() {
            Err(bad(format!("{names} is required")))
        } else {
            Ok(())
        }
    };
    match kind {
        OrderKind::App => {
            f.asset = q.address("app")?;
            f.signer = q.address("appOwner")?;
            require_one(f.asset, f.signer, "app or appOwner")?;
            f.dataset_restrict = q.restrict("dataset", "isDatasetStrict")?;
            f.workerpool_restrict = q.restrict("workerpool", "isWorkerpoolStrict")?;
            f.requester_restrict = q.restrict("requester", "isRequesterStrict")?;
        }
        OrderKind::Dataset => {
            f.asset = q.address("dataset")?;
            f.signer = q.address("datasetOwner")?;
            require_one(f.asset, f.signer, "dataset or datasetOwner")?;
            f.app_restrict = q.restrict("app", "isAppStrict")?;
            f.workerpool_restrict = q.restrict("workerpool", "isWorkerpoolStrict")?;
            f.requester_restrict = q.restrict("requester", "isRequesterStrict")?;
        }
        OrderKind::Workerpool => {
            f.asset = q.address("workerpool")?;
            f.signer = q.address("workerpoolOwner")?;
            f.category = q.u64("category")?;
            f.app_restrict = q.restrict("app", "isAppStrict")?;
            f.dataset_restrict = q.restrict("dataset", "isDatasetStrict")?;
            f.requester_restrict = q.restrict("requester", "isRequesterStrict")?;
            f.min_trust = q.u64("minTrust")?.map(U256::from);
        }
        OrderKind::Request => {
            f.asset = q.address("app")?;
            f.dataset_field = q.address("dataset")?;
            f.signer = q.address("requester")?;
            f.beneficiary = q.address("beneficiary")?;
            f.category = q.u64("category")?;
            f.max_trust = q.u64("maxTrust")?.map(U256::from);
            f.workerpool_restrict = match q.str("workerpool") {
                None => Restrict::Any,
                Some(_) => q.restrict("workerpool", "isWorkerpoolStrict")?,
            };
        }
    }
    Ok(f)
}

async fn list_orders(
    State(shared): S,
    Query(params): Query<Params>,
    kind: OrderKind,
) -> Result<Response, Refusal> {
    /// `{"ok": true, "count": …, "orders": […], "nextPage": …}`, written from the book.
    #[derive(serde::Serialize)]
    struct Page<'a> {
        ok: bool,
        count: usize,
        orders: Vec<crate::book::EntryView<'a>>,
        #[serde(rename = "nextPage", skip_serializing_if = "Option::is_none")]
        next_page: Option<usize>,
    }
    let q = Q(&params);
    let filter = order_filter(kind, &q)?;
    let (page, size) = q.page()?;
    let body = {
        let book = shared.book();
        let (count, orders) = book.query(kind, &filter, page, size);
        serde_json::to_vec(&Page {
            ok: true,
            count,
            orders: orders
                .into_iter()
                .map(|s| s.view(shared.chain_id))
                .collect(),
            next_page: next_page(page, size, count),
        })
        .map_err(|e| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the page: {e}"),
            )
        })?
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn one_order(
    State(shared): S,
    Path(hash): Path<String>,
    kind: OrderKind,
) -> Reply<OrderEntry> {
    let hash: B256 = hash
        .parse()
        .map_err(|_| bad(format!("orderHash: {hash:?} is not a 32-byte hash")))?;
    let open = shared.book().get(&hash).map(|s| s.entry(shared.chain_id));
    let entry = match open {
        Some(e) => Some(e),
        None => shared
            .db
            .order(hash)
            .await?
            .map(|s| s.entry(shared.chain_id)),
    };
    let entry = entry
        .filter(|e| {
            AnyOrder::from_json(kind, e.order.clone()).is_ok_and(|o| o.kind() == kind)
                && shared
                    .book()
                    .get(&hash)
                    .is_none_or(|s| s.order.kind() == kind)
        })
        .ok_or_else(|| not_found(format!("{} {hash} is not in the book", kind.key())))?;
    ok(entry)
}

async fn publish_order(
    State(shared): S,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
    kind: OrderKind,
) -> Result<Response, Refusal> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let published = publish::publish(&shared, kind, auth, body).await?;
    Ok(Json(Answer::ok(crate::api::Published { published })).into_response())
}

async fn unpublish_order(
    State(shared): S,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
    kind: OrderKind,
) -> Reply<Unpublished> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let hashes = publish::unpublish(&shared, kind, auth, body).await?;
    ok(Unpublished {
        unpublished: hashes,
    })
}

// ---- deals ----

#[utoipa::path(get, path = "/deals", summary = "Deals, newest first", params(crate::api::DealQuery, crate::api::Page), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = DealPage)))]
async fn deals(State(shared): S, Query(params): Query<Params>) -> Reply<DealPage> {
    let q = Q(&params);
    let mut filter: DealFilter = Vec::new();
    if let Some(c) = q.u64("category")? {
        filter.push(("category", c.to_string()));
    }
    for (param, column) in [
        ("requester", "requester"),
        ("beneficiary", "beneficiary"),
        ("app", "app"),
        ("dataset", "dataset"),
        ("workerpool", "workerpool"),
        ("appOwner", "app_owner"),
        ("datasetOwner", "dataset_owner"),
        ("workerpoolOwner", "workerpool_owner"),
    ] {
        if let Some(a) = q.address(param)? {
            filter.push((column, a.to_string()));
        }
    }
    for (param, column) in [
        ("apporderHash", "app_hash"),
        ("datasetorderHash", "dataset_hash"),
        ("workerpoolorderHash", "workerpool_hash"),
        ("requestorderHash", "request_hash"),
    ] {
        if let Some(h) = q.str(param) {
            let h: B256 = h
                .parse()
                .map_err(|_| bad(format!("{param}: {h:?} is not a 32-byte hash")))?;
            filter.push((column, h.to_string()));
        }
    }
    let (page, size) = q.page()?;
    let (count, deals) = shared
        .db
        .deals(&filter, false, page as u64, size as u64)
        .await?;
    ok(DealPage {
        count,
        deals,
        next_page: next_page(page, size, count as usize).map(|n| n as u64),
    })
}

fn parse_hash(name: &str, s: &str) -> Result<B256, Refusal> {
    s.parse()
        .map_err(|_| bad(format!("{name}: {s:?} is not a 32-byte hash")))
}

#[utoipa::path(get, path = "/deals/{dealid}", summary = "One deal", params(("dealid" = String, Path, description = "the deal id")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = crate::api::Deal)))]
async fn deal(State(shared): S, Path(dealid): Path<String>) -> Reply<crate::api::Deal> {
    let dealid = parse_hash("dealid", &dealid)?;
    let deal = shared
        .db
        .deal(dealid)
        .await?
        .ok_or_else(|| not_found(format!("deal {dealid} is not known to this market")))?;
    ok(deal)
}

#[utoipa::path(get, path = "/ohlc", summary = "The last 100 trades of a category", params(("category" = u64, Query, description = "the category")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = Ohlc)))]
async fn ohlc(State(shared): S, Query(params): Query<Params>) -> Reply<Ohlc> {
    let q = Q(&params);
    let category = q
        .u64("category")?
        .ok_or_else(|| bad("category is required: GET /ohlc?category=0"))?;
    let (_, mut deals) = shared
        .db
        .deals(&vec![("category", category.to_string())], false, 0, 100)
        .await?;
    deals.reverse();
    let ohlc = deals
        .into_iter()
        .map(|d| {
            (
                d.block_timestamp,
                d.workerpool.price.saturating_to::<u64>(),
                d.volume,
            )
        })
        .collect();
    ok(Ohlc { ohlc })
}

// ---- explorer ----

#[utoipa::path(get, path = "/tasks/{taskid}", summary = "A task's state and result (poco)", params(("taskid" = String, Path, description = "the task id")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = TaskAnswer)))]
async fn task(State(shared): S, Path(taskid): Path<String>) -> Reply<TaskAnswer> {
    let taskid = parse_hash("taskid", &taskid)?;
    let located = shared.db.task_deal(taskid).await?;
    let task = shared.client.task(taskid).await?;
    let mut status = poco_chain::task_status_name(task.status).to_string();
    let mut digest = task.resultDigest;
    let mut results = task.results.to_vec();
    let (mut dealid, mut idx) = (task.dealid, task.idx.saturating_to::<u64>());
    if let Some((deal, i, fast)) = located {
        dealid = deal;
        idx = i;
        if fast {
            match shared.client.fast_result(taskid, Some(deal)).await? {
                Some((_, _, d, link)) => {
                    status = "COMPLETED".into();
                    digest = d;
                    results = link.into_bytes();
                }
                None => status = "ACTIVE".into(),
            }
        }
    } else if task.status == 0 {
        return Err(not_found(format!(
            "task {taskid} is not a task of a deal this market has seen"
        )));
    }
    let link = poco_types::ResultLink::from_bytes(&results).ok();
    ok(TaskAnswer {
        task: TaskView {
            taskid,
            dealid,
            idx,
            status,
            contribution_deadline: task.contributionDeadline.saturating_to::<u64>(),
            final_deadline: task.finalDeadline.saturating_to::<u64>(),
            result_digest: digest,
            results: link,
            results_raw: alloy::primitives::Bytes::from(results),
        },
    })
}

async fn related(
    shared: &Shared,
    key: IndexKey,
    kinds: &[OrderKind],
    deals: DealFilter,
    any_of: bool,
) -> Result<(Vec<OrderEntry>, Vec<crate::api::Deal>), Refusal> {
    let orders = shared
        .book()
        .indexed(key)
        .into_iter()
        .filter(|s| kinds.contains(&s.order.kind()))
        .map(|s| s.entry(shared.chain_id))
        .collect();
    let (_, deals) = shared.db.deals(&deals, any_of, 0, 20).await?;
    Ok((orders, deals))
}

/// The hub's `view*` calls revert on an address its registry did not create: check the index.
fn registered(
    shared: &Shared,
    kind: OrderKind,
    address: Address,
    what: &str,
) -> Result<(), Refusal> {
    match shared.index.owner(kind, address) {
        Some(_) => Ok(()),
        None => Err(not_found(format!("{address} is not a registered {what}"))),
    }
}

/// The error of a registry read (`viewApp`, ...): an address the chain's registry does not
/// know is 404, as the index would say; any other failure is the chain's (502).
fn asset_read_error(
    what: &'static str,
    kind: &'static str,
    address: Address,
) -> impl FnOnce(poco_chain::Error) -> Refusal {
    move |source| match source {
        poco_chain::Error::UnknownAsset { .. } => {
            not_found(format!("{address} is not a registered {kind}"))
        }
        source => Refusal::from(crate::Error::chain_call(what, source)),
    }
}

fn parse_address(s: &str) -> Result<Address, Refusal> {
    s.parse()
        .map_err(|_| bad(format!("address: {s:?} is not an address")))
}

#[utoipa::path(get, path = "/apps/{address}", summary = "An app, its orders and deals (poco)", params(("address" = String, Path, description = "the app")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = AppPage)))]
async fn asset_app(State(shared): S, Path(address): Path<String>) -> Reply<AppPage> {
    let address = parse_address(&address)?;
    registered(&shared, OrderKind::App, address, "app")?;
    let info = shared
        .client
        .view_app(address)
        .await
        .map_err(asset_read_error("viewApp", "app", address))?;
    if info.owner.is_zero() {
        return Err(not_found(format!("{address} is not a registered app")));
    }
    let (orders, deals) = related(
        &shared,
        IndexKey::Asset(address),
        &[OrderKind::App],
        vec![("app", address.to_string())],
        false,
    )
    .await?;
    ok(AppPage {
        app: AppInfo {
            address,
            owner: info.owner,
            name: info.name,
            kind: info.kind,
            multiaddr: info.multiaddr,
            checksum: info.checksum,
            mrenclave: String::from_utf8_lossy(&info.mrenclave).into_owned(),
        },
        orders,
        deals,
    })
}

#[utoipa::path(get, path = "/datasets/{address}", summary = "A dataset, its orders and deals (poco)", params(("address" = String, Path, description = "the dataset")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = DatasetPage)))]
async fn asset_dataset(State(shared): S, Path(address): Path<String>) -> Reply<DatasetPage> {
    let address = parse_address(&address)?;
    registered(&shared, OrderKind::Dataset, address, "dataset")?;
    let info = shared
        .client
        .view_dataset(address)
        .await
        .map_err(asset_read_error("viewDataset", "dataset", address))?;
    if info.owner.is_zero() {
        return Err(not_found(format!("{address} is not a registered dataset")));
    }
    let (orders, deals) = related(
        &shared,
        IndexKey::Asset(address),
        &[OrderKind::Dataset],
        vec![("dataset", address.to_string())],
        false,
    )
    .await?;
    ok(DatasetPage {
        dataset: DatasetInfo {
            address,
            owner: info.owner,
            name: info.name,
            multiaddr: info.multiaddr,
            checksum: info.checksum,
        },
        orders,
        deals,
    })
}

#[utoipa::path(get, path = "/workerpools/{address}", summary = "A workerpool, its orders and deals (poco)", params(("address" = String, Path, description = "the workerpool")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = WorkerpoolPage)))]
async fn asset_workerpool(State(shared): S, Path(address): Path<String>) -> Reply<WorkerpoolPage> {
    let address = parse_address(&address)?;
    registered(&shared, OrderKind::Workerpool, address, "workerpool")?;
    let info = shared
        .client
        .view_workerpool(address)
        .await
        .map_err(asset_read_error("viewWorkerpool", "workerpool", address))?;
    if info.owner.is_zero() {
        return Err(not_found(format!(
            "{address} is not a registered workerpool"
        )));
    }
    let (orders, deals) = related(
        &shared,
        IndexKey::Asset(address),
        &[OrderKind::Workerpool],
        vec![("workerpool", address.to_string())],
        false,
    )
    .await?;
    ok(WorkerpoolPage {
        workerpool: WorkerpoolInfo {
            address,
            owner: info.owner,
            description: info.description,
            worker_stake_ratio: info.worker_stake_ratio.saturating_to::<u64>(),
            scheduler_reward_ratio: info.scheduler_reward_ratio.saturating_to::<u64>(),
        },
        orders,
        deals,
    })
}

#[utoipa::path(get, path = "/addresses/{address}", summary = "An account: stake, assets, orders, deals (poco)", params(("address" = String, Path, description = "the account")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = AddressPage)))]
async fn address_page(State(shared): S, Path(address): Path<String>) -> Reply<AddressPage> {
    let address = parse_address(&address)?;
    let (stake, locked) = shared.client.account(address).await?;
    let owned = shared.index.owned(address);
    let of = |kind: OrderKind| -> Vec<Address> {
        owned
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, a)| *a)
            .collect()
    };
    let (orders, deals) = related(
        &shared,
        IndexKey::Signer(address),
        &OrderKind::ALL,
        vec![
            ("requester", address.to_string()),
            ("beneficiary", address.to_string()),
        ],
        true,
    )
    .await?;
    ok(AddressPage {
        address,
        account: AccountBalance {
            stake: stake.to_string(),
            locked: locked.to_string(),
        },
        apps: of(OrderKind::App),
        datasets: of(OrderKind::Dataset),
        workerpools: of(OrderKind::Workerpool),
        orders,
        deals,
    })
}

// ---- fill ----

/// The EIP-712 typed data of a request order, for `eth_signTypedData_v4`.
fn request_typed_data(shared: &Shared, request: &RequestOrder) -> Value {
    let fields = [
        ("app", "address"),
        ("appmaxprice", "uint256"),
        ("dataset", "address"),
        ("datasetmaxprice", "uint256"),
        ("workerpool", "address"),
        ("workerpoolmaxprice", "uint256"),
        ("requester", "address"),
        ("volume", "uint256"),
        ("tag", "bytes32"),
        ("category", "uint256"),
        ("trust", "uint256"),
        ("beneficiary", "address"),
        ("callback", "address"),
        ("params", "string"),
        ("salt", "bytes32"),
    ];
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "RequestOrder": fields
                .iter()
                .map(|(n, t)| json!({"name": n, "type": t}))
                .collect::<Vec<_>>(),
        },
        "domain": {
            "name": poco_types::DOMAIN_NAME,
            "version": poco_types::DOMAIN_VERSION,
            "chainId": shared.chain_id,
            "verifyingContract": shared.config.hub,
        },
        "primaryType": "RequestOrder",
        "message": serde_json::to_value(request).unwrap_or_default(),
    })
}

#[utoipa::path(get, path = "/fill", summary = "The best offer for a run and the request to sign (poco)", params(("app" = String, Query, description = "the app to run"), ("dataset" = Option<String>, Query, description = "a dataset to run on"), ("workerpool" = Option<String>, Query, description = "only this workerpool"), ("category" = Option<u64>, Query, description = "only this category"), ("trust" = Option<u64>, Query, description = "the trust asked [default: 1]"), ("tag" = Option<String>, Query, description = "tags asked on top of the app's and dataset's"), ("volume" = Option<u64>, Query, description = "number of tasks [default: 1]"), ("requester" = Option<String>, Query, description = "who will sign the request"), ("args" = Option<String>, Query, description = "the app's arguments"), ("inputFiles" = Option<String>, Query, description = "input file URLs, comma-separated")), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = FillOffer)))]
async fn fill(State(shared): S, Query(params): Query<Params>) -> Reply<FillOffer> {
    let q = Q(&params);
    let app = q
        .address("app")?
        .ok_or_else(|| bad("app is required: GET /fill?app=0x…"))?;
    let query = OfferQuery {
        app,
        dataset: q.address("dataset")?,
        workerpool: q.address("workerpool")?,
        category: q.u64("category")?,
        trust: q.u64("trust")?.unwrap_or(1),
        tag: q.tag("tag")?.unwrap_or_default(),
        volume: q.u64("volume")?.unwrap_or(1).max(1),
        requester: q.address("requester")?.unwrap_or_default(),
    };
    let args = q.str("args").unwrap_or_default().to_owned();
    let input_files: Vec<String> = q
        .str("inputFiles")
        .map(|s| s.split(',').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    let candidates = |kind: OrderKind, asset: Option<Address>| -> Vec<OrderEntry> {
        let book = shared.book();
        let Some(asset) = asset else {
            return Vec::new();
        };
        book.indexed(IndexKey::Asset(asset))
            .into_iter()
            .filter(|s| s.order.kind() == kind)
            .map(|s| s.entry(shared.chain_id))
            .collect()
    };
    let apps = candidates(OrderKind::App, Some(app));
    let datasets = candidates(OrderKind::Dataset, query.dataset);
    let pools: Vec<OrderEntry> = {
        let filter = Filter {
            asset: query.workerpool,
            category: query.category,
            app_restrict: Restrict::To(app),
            dataset_restrict: Restrict::To(query.dataset.unwrap_or_default()),
            requester_restrict: Restrict::To(query.requester),
            min_trust: Some(U256::from(query.trust)),
            min_volume: Some(query.volume),
            ..Default::default()
        };
        let book = shared.book();
        book.query(OrderKind::Workerpool, &filter, 0, 1000)
            .1
            .into_iter()
            .map(|s| s.entry(shared.chain_id))
            .collect()
    };
    let offer = best_offer(&query, &apps, &datasets, &pools).map_err(not_found)?;
    let mut deal_params = DealParams::with_args(args.clone());
    if !input_files.is_empty() {
        deal_params.iexec_input_files = Some(input_files.clone());
    }
    let request = RequestBuilder::new(
        &offer.app.order.order,
        offer.dataset.as_ref().map(|d| &d.order.order),
        &offer.workerpool.order.order,
        query.requester,
    )
    .volume(U256::from(query.volume))
    .trust(query.trust)
    .tag(query.tag)
    .params(deal_params.to_json_string())
    .build();
    let per_task = offer.price_per_task();
    let total = per_task
        .checked_mul(U256::from(query.volume))
        .ok_or_else(|| {
            bad(format!(
                "volume: {} tasks at {per_task} nRLC each cost more than 2^256 - 1 nRLC; ask for \
                 fewer tasks",
                query.volume
            ))
        })?;
    let mut command = vec!["poco".to_owned(), "run".to_owned(), app.to_string()];
    let mut flag = |name: &str, value: String| {
        command.push(name.to_owned());
        command.push(shell_quote(&value));
    };
    if let Some(d) = query.dataset {
        flag("--dataset", d.to_string());
    }
    if !args.is_empty() {
        flag("--args", args);
    }
    if !input_files.is_empty() {
        flag("--input-files", input_files.join(","));
    }
    if query.trust != 1 {
        flag("--trust", query.trust.to_string());
    }
    flag(
        "--category",
        offer.workerpool.order.order.category.to_string(),
    );
    if query.volume != 1 {
        flag("--volume", query.volume.to_string());
    }
    flag(
        "--workerpool",
        offer.workerpool.order.order.workerpool.to_string(),
    );
    let price = FillPrice {
        app: offer.app.order.order.appprice.to_string(),
        dataset: offer
            .dataset
            .as_ref()
            .map(|d| d.order.order.datasetprice)
            .unwrap_or_default()
            .to_string(),
        workerpool: offer.workerpool.order.order.workerpoolprice.to_string(),
        per_task: per_task.to_string(),
        total: total.to_string(),
    };
    ok(FillOffer {
        typed_data: request_typed_data(&shared, &request),
        apporder: offer.app.meta,
        datasetorder: offer.dataset.map(|d| d.meta),
        workerpoolorder: offer.workerpool.meta,
        price,
        requestorder: request,
        command: command.join(" "),
    })
}

#[utoipa::path(post, path = "/fill/transaction", summary = "The matchOrders transaction of four signed orders (poco)", request_body(content = serde_json::Value, description = "`{\"apporder\", \"datasetorder\" (optional), \"workerpoolorder\", \"requestorder\"}`: the four signed orders"), responses((status = 200, description = "`{\"ok\": true, …}` and these fields", body = FillTransaction)))]
async fn fill_transaction(
    State(shared): S,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Reply<FillTransaction> {
    // Rated before the body is read: every call counts, well-formed or not.
    let _running = shared
        .fill_limiter
        .admit(client.ip(), "POST /fill/transaction")?;
    let JsonBody(body) = JsonBody::from_request(request, &()).await?;
    fn field<O: poco_types::Order>(body: &Value, name: &str) -> Result<SignedOrder<O>, Refusal> {
        let value = body
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| bad(format!("{name} is required")))?;
        serde_json::from_value(value.clone()).map_err(|e| {
            bad(format!(
                "{name} is not a signed {}: {e}",
                O::KIND.primary_type()
            ))
        })
    }
    let app: SignedOrder<AppOrder> = field(&body, "apporder")?;
    let dataset: Option<SignedOrder<DatasetOrder>> =
        match body.get("datasetorder").filter(|v| !v.is_null()) {
            Some(_) => Some(field(&body, "datasetorder")?),
            None => None,
        };
    let pool: SignedOrder<WorkerpoolOrder> = field(&body, "workerpoolorder")?;
    let request: SignedOrder<RequestOrder> = field(&body, "requestorder")?;
    // Simulated first, so that a refusal is explained before the wallet is asked to sign.
    let tx = shared
        .client
        .prepare_match(&app, dataset.as_ref(), &pool, &request)
        .await
        .map_err(|e| Refusal::new(StatusCode::CONFLICT, e.to_string()))?;
    ok(FillTransaction {
        to: shared.config.hub,
        data: tx.data,
        fast: tx.fast,
    })
}

// ---- live feed ----

#[utoipa::path(get, path = "/ws", summary = "WebSocket live feed: orders and deals events (poco)", params(("topics" = Option<String>, Query, description = "orders, deals or orders,deals [default: both]")), responses((status = 101, description = "Switching to the WebSocket protocol")))]
async fn ws(State(shared): S, Query(params): Query<Params>, upgrade: WebSocketUpgrade) -> Response {
    let topics: Vec<Topic> = match params.get("topics") {
        None => vec![Topic::Orders, Topic::Deals],
        Some(list) => list
            .split(',')
            .filter_map(|t| match t.trim() {
                "orders" => Some(Topic::Orders),
                "deals" => Some(Topic::Deals),
                _ => None,
            })
            .collect(),
    };
    if topics.is_empty() {
        return bad("topics: expected orders, deals or orders,deals").into_response();
    }
    let Some((slot, events)) = shared.feed.subscribe() else {
        return Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "feed: {} listeners are already connected, this market's limit; retry later",
                shared.feed.max_listeners()
            ),
        )
        .into_response();
    };
    // Clients have nothing to say: a message larger than this closes the connection.
    upgrade
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| stream(socket, events, topics, slot))
}

async fn stream(
    mut socket: WebSocket,
    mut events: tokio::sync::broadcast::Receiver<crate::feed::Event>,
    topics: Vec<Topic>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if topics.contains(&event.topic)
                        && socket.send(Message::Text(event.text.into())).await.is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let text = json!({"event": "lagged", "data": {"missed": n}}).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The `nextPage` of a list page, `None` on the last page (and past the end, however large
/// `pageIndex` is).
fn next_page(page: usize, size: usize, count: usize) -> Option<usize> {
    let next = page.checked_add(1)?;
    (next.checked_mul(size)? < count).then_some(next)
}

/// Reads a list endpoint's query string (`/{kind}orders?{query}`) the way the API does (axum's
/// query decoding, the filter, the page) and runs it on an empty book: the entry point of the
/// fuzz target and property tests of the query parsing. `Err` is the API's 400 message.
#[doc(hidden)]
pub fn fuzz_order_query(kind: OrderKind, query: &str) -> Result<Option<usize>, String> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|e| format!("not a request target: {e}"))?;
    let Query(params) = Query::<Params>::try_from_uri(&uri).map_err(|e| e.body_text())?;
    let q = Q(&params);
    let filter = order_filter(kind, &q).map_err(|r| r.1)?;
    let (page, size) = q.page().map_err(|r| r.1)?;
    let book = crate::book::Book::default();
    let (count, orders) = book.query(kind, &filter, page, size);
    assert!(
        count == 0 && orders.is_empty(),
        "an empty book lists nothing"
    );
    Ok(next_page(page, size, count))
}
