//! Market benchmark: publication throughput and query latency of `poco market` with a full book.
//!
//! ```sh
//! cargo run --release -p poco-market --example bench_market -- [--out target/bench/market.json]
//!     [--orders 100000] [--concurrency 128] [--samples 2000] [--query-clients 8]
//!     [--pools 100] [--app-owners 10] [--requesters 20]
//!     [--client-threads 2] [--server-threads 2]
//! ```
//!
//! Setup (not timed): anvil with poco (`poco_testkit::Chain`), `--pools` workerpool owners,
//! `--app-owners` app owners and `--requesters` requesters, each a fresh account with gas, RLC
//! deposited in the hub (stake) and, for owners, one workerpool or app registered on chain. The
//! market runs in this process on its own tokio runtime (`--server-threads` threads) with an
//! SQLite file in a temporary directory; its open-order cap per wallet and type
//! (`max_open_orders`, a configuration parameter, 50 by default) is raised to what the run
//! needs. Every order is signed before the clock starts: signing orders is the publishers'
//! work, not the market's.
//!
//! 1. Publication throughput: `--orders` orders (90 % workerpool orders across the chain's
//!    categories, 5 % app orders, 5 % request orders, which need a listed app order and the
//!    requester's stake) published through `POST /{type}orders` over HTTP with
//!    `--concurrency` publications in flight (one at a time per wallet: the market keeps one
//!    live challenge per address). Each publication signs in the way iExec clients do:
//!    `GET /challenge`, EIP-712 signature of the challenge, `POST` with the `authorization`
//!    header. The market runs every check (challenge signature, schema, order hash, signer,
//!    order signature, cap, remaining volume on chain, stake, counterparts) and commits each
//!    order to SQLite before it answers. The figure is end-to-end: the clock runs from the
//!    first challenge to the last answer, with the load generator (`--client-threads` tokio
//!    threads) on the same machine; the CPU time of the market's threads and of the load
//!    generator's threads is reported apart.
//! 2. Query latency with the book full: `--samples` queries of each kind the UI and the SDK
//!    make, over HTTP with keep-alive, first one at a time, then from `--query-clients`
//!    concurrent clients; the clock runs from sending the request to the last byte of the
//!    answer.
//!
//! Targets: ≥ 5,000 publications per second, query p99 ≤ 10 ms at the default page size.
#![allow(clippy::disallowed_macros)] // prints its report

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use bytes::Bytes;
use eyre::{bail, ensure, eyre, WrapErr};
use http_body_util::{BodyExt, Full};
use poco_chain::{AppSpec, ClientConfig, PocoClient};
use poco_market::challenge_hash;
use poco_testkit::{Chain, Role};
use poco_types::{
    AppOrder, DealParams, Domain, Order, OrderKind, RequestOrder, Tag, WorkerpoolOrder,
    NRLC_PER_RLC,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinSet;

const PUBLISH_TARGET: f64 = 5_000.0;
const P99_TARGET_MS: f64 = 10.0;
/// RLC each account gets and deposits (its stake).
const DEPOSIT_RLC: u64 = 1_000;

struct Options {
    out: PathBuf,
    orders: usize,
    concurrency: usize,
    samples: usize,
    query_clients: usize,
    pools: usize,
    app_owners: usize,
    requesters: usize,
    client_threads: usize,
    server_threads: usize,
}

fn parse_options() -> eyre::Result<Options> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut o = Options {
        out: PathBuf::from("target/bench/market.json"),
        orders: 100_000,
        concurrency: 128,
        samples: 2_000,
        query_clients: 8,
        pools: 100,
        app_owners: 10,
        requesters: 20,
        client_threads: cores,
        server_threads: cores,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| eyre!("{arg} needs a value"));
        match arg.as_str() {
            "--out" => o.out = value()?.into(),
            "--orders" => o.orders = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--samples" => o.samples = value()?.parse()?,
            "--query-clients" => o.query_clients = value()?.parse()?,
            "--pools" => o.pools = value()?.parse()?,
            "--app-owners" => o.app_owners = value()?.parse()?,
            "--requesters" => o.requesters = value()?.parse()?,
            "--client-threads" => o.client_threads = value()?.parse()?,
            "--server-threads" => o.server_threads = value()?.parse()?,
            _ => bail!(
                "usage: bench_market [--out FILE] [--orders N] [--concurrency N] [--samples N] \
                 [--query-clients N] [--pools N] [--app-owners N] [--requesters N] \
                 [--client-threads N] [--server-threads N]"
            ),
        }
    }
    ensure!(
        o.orders >= 100
            && o.concurrency > 0
            && o.query_clients > 0
            && o.pools > 0
            && o.app_owners > 0
            && o.requesters > 0
            && o.client_threads > 0
            && o.server_threads > 0,
        "--orders must be at least 100 and every other number at least 1 (--samples 0 skips \
         the queries)"
    );
    Ok(o)
}

fn main() -> eyre::Result<()> {
    let o = parse_options()?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.server_threads)
        .thread_name("mkt-server")
        .enable_all()
        .build()?;
    let result = client.block_on(run(&o, server.handle().clone()));
    server.shutdown_background();
    client.shutdown_background();
    result
}

/// A publisher: its key and address (checksummed, as it goes in the headers).
struct Publisher {
    key: PrivateKeySigner,
    /// The same key for libsecp256k1, which signs the challenges.
    secret: secp256k1::SecretKey,
    address: String,
    /// One publication at a time per wallet (one live challenge per address).
    busy: tokio::sync::Mutex<()>,
}

/// A pre-signed publication.
struct Job {
    kind: OrderKind,
    publisher: usize,
    body: Bytes,
}

/// An order before its signature.
enum Unsigned {
    App(AppOrder),
    Workerpool(WorkerpoolOrder),
    Request(RequestOrder),
}

impl Unsigned {
    fn kind(&self) -> OrderKind {
        match self {
            Self::App(_) => OrderKind::App,
            Self::Workerpool(_) => OrderKind::Workerpool,
            Self::Request(_) => OrderKind::Request,
        }
    }

    fn sign(self, domain: &Domain, key: &PrivateKeySigner) -> eyre::Result<Vec<u8>> {
        let signed = match self {
            Self::App(o) => json!({ "order": o.sign(domain, key)? }),
            Self::Workerpool(o) => json!({ "order": o.sign(domain, key)? }),
            Self::Request(o) => json!({ "order": o.sign(domain, key)? }),
        };
        Ok(serde_json::to_vec(&signed)?)
    }
}

/// The chain and the accounts of the run.
struct World {
    chain: Chain,
    chain_id: u64,
    categories: u64,
    /// Workerpool owners, then app owners, then requesters.
    publishers: Vec<Arc<Publisher>>,
    workerpools: Vec<Address>,
    apps: Vec<Address>,
}

async fn setup(o: &Options) -> eyre::Result<World> {
    let chain = Chain::start_unfunded().await?;
    let hub = chain.hub();
    let rpc = chain.endpoint();
    let admin = chain.client(Role::Admin).await?;
    let chain_id = admin.chain_id();
    let categories: u64 = admin.category_count().await?.saturating_to();
    ensure!(categories > 0, "the chain has no category");

    let total = o.pools + o.app_owners + o.requesters;
    let keys: Vec<PrivateKeySigner> = (0..total).map(|_| PrivateKeySigner::random()).collect();
    for key in &keys {
        let wei = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
        chain
            .provider()
            .raw_request::<_, Value>("anvil_setBalance".into(), (key.address(), wei))
            .await
            .wrap_err("anvil_setBalance")?;
    }
    let amount = U256::from(DEPOSIT_RLC * NRLC_PER_RLC);
    let mut sends = JoinSet::new();
    for key in &keys {
        let (admin, to) = (admin.clone(), key.address());
        sends.spawn(async move { admin.transfer_rlc(to, amount).await.map(drop) });
    }
    while let Some(r) = sends.join_next().await {
        r??;
    }
    let mut created = JoinSet::new();
    for (i, key) in keys.iter().enumerate() {
        let (rpc, key) = (rpc.clone(), key.clone());
        let (pools, app_owners) = (o.pools, o.app_owners);
        created.spawn(async move {
            let client = PocoClient::connect(ClientConfig::new(rpc, hub), Some(key)).await?;
            client.deposit(amount).await?;
            let asset = if i < pools {
                Some(client.create_workerpool(&format!("bench pool {i}")).await?)
            } else if i < pools + app_owners {
                let spec = AppSpec {
                    name: format!("bench app {i}"),
                    kind: "WASM".into(),
                    multiaddr: format!("https://example.com/bench-{i}.wasm"),
                    checksum: B256::from(U256::from(i)),
                    mrenclave: Default::default(),
                };
                Some(client.create_app(&spec).await?)
            } else {
                None
            };
            Ok::<_, eyre::Report>((i, asset))
        });
    }
    let mut assets = vec![None; total];
    while let Some(r) = created.join_next().await {
        let (i, asset) = r??;
        assets[i] = asset;
    }
    let workerpools = assets[..o.pools].iter().map(|a| a.expect("pool")).collect();
    let apps = assets[o.pools..o.pools + o.app_owners]
        .iter()
        .map(|a| a.expect("app"))
        .collect();
    let publishers = keys
        .into_iter()
        .map(|key| {
            let secret = secp256k1::SecretKey::from_byte_array(key.to_bytes().0)
                .expect("a valid secret key");
            Arc::new(Publisher {
                address: key.address().to_string(),
                secret,
                key,
                busy: tokio::sync::Mutex::new(()),
            })
        })
        .collect();
    Ok(World {
        chain,
        chain_id,
        categories,
        publishers,
        workerpools,
        apps,
    })
}

/// The orders of the run, in publication order: every 20th an app order (round robin over the
/// apps, so each app has one listed from the start), every 20th (offset 10) after the first
/// 10 % a request order, the rest workerpool orders.
fn orders(o: &Options, w: &World) -> Vec<(usize, Unsigned)> {
    let mut rng = StdRng::seed_from_u64(0x6d61726b6574);
    let (mut pools, mut apps, mut requests) = (0usize, 0usize, 0usize);
    let requester_base = o.pools + o.app_owners;
    let params = DealParams::with_args("bench").to_json_string();
    let mut out = Vec::with_capacity(o.orders);
    for i in 0..o.orders {
        let salt = B256::from(rng.gen::<[u8; 32]>());
        if i % 20 == 0 {
            let a = apps % o.app_owners;
            apps += 1;
            out.push((
                o.pools + a,
                Unsigned::App(AppOrder {
                    app: w.apps[a],
                    appprice: U256::from(rng.gen_range(0..1_000u64)),
                    volume: U256::from(rng.gen_range(1..=1_000u64)),
                    salt,
                    ..Default::default()
                }),
            ));
        } else if i % 20 == 10 && i >= o.orders / 10 {
            let r = requests % o.requesters;
            requests += 1;
            let requester = w.publishers[requester_base + r].key.address();
            out.push((
                requester_base + r,
                Unsigned::Request(RequestOrder {
                    app: w.apps[rng.gen_range(0..w.apps.len())],
                    appmaxprice: U256::from(1_000u64),
                    workerpoolmaxprice: U256::from(rng.gen_range(100..10_100u64)),
                    requester,
                    volume: U256::from(rng.gen_range(1..=10u64)),
                    category: U256::from(rng.gen_range(0..w.categories)),
                    trust: U256::from(rng.gen_range(0..=10u64)),
                    beneficiary: requester,
                    params: params.clone(),
                    salt,
                    ..Default::default()
                }),
            ));
        } else {
            let p = pools % o.pools;
            pools += 1;
            let mut tag = Tag::NONE;
            if rng.gen_bool(0.1) {
                tag |= Tag::TEE;
            }
            if rng.gen_bool(0.1) {
                tag |= Tag::GPU;
            }
            let requesterrestrict = if rng.gen_bool(0.05) {
                w.publishers[requester_base + rng.gen_range(0..o.requesters)]
                    .key
                    .address()
            } else {
                Address::ZERO
            };
            out.push((
                p,
                Unsigned::Workerpool(WorkerpoolOrder {
                    workerpool: w.workerpools[p],
                    workerpoolprice: U256::from(rng.gen_range(100..10_100u64)),
                    volume: U256::from(rng.gen_range(1..=100u64)),
                    tag: tag.0,
                    category: U256::from(rng.gen_range(0..w.categories)),
                    trust: U256::from(rng.gen_range(0..=10u64)),
                    requesterrestrict,
                    salt,
                    ..Default::default()
                }),
            ));
        }
    }
    out
}

/// Signs every order, on every core.
fn sign_all(
    orders: Vec<(usize, Unsigned)>,
    publishers: &[Arc<Publisher>],
    domain: &Domain,
) -> eyre::Result<Vec<Job>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = orders.len().div_ceil(threads);
    let mut chunks: Vec<Vec<(usize, Unsigned)>> = Vec::new();
    let mut rest = orders.into_iter();
    loop {
        let c: Vec<_> = rest.by_ref().take(chunk).collect();
        if c.is_empty() {
            break;
        }
        chunks.push(c);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    c.into_iter()
                        .map(|(publisher, order)| {
                            Ok(Job {
                                kind: order.kind(),
                                publisher,
                                body: order.sign(domain, &publishers[publisher].key)?.into(),
                            })
                        })
                        .collect::<eyre::Result<Vec<Job>>>()
                })
            })
            .collect();
        let mut jobs = Vec::new();
        for h in handles {
            jobs.extend(h.join().map_err(|_| eyre!("a signing thread panicked"))??);
        }
        Ok(jobs)
    })
}

#[derive(Deserialize)]
struct ChallengeReply {
    data: ChallengeData,
}

#[derive(Deserialize)]
struct ChallengeData {
    domain: ChallengeDomain,
    message: ChallengeMessage,
}

#[derive(Deserialize)]
struct ChallengeDomain {
    #[serde(rename = "chainId")]
    chain_id: u64,
}

#[derive(Deserialize)]
struct ChallengeMessage {
    challenge: String,
}

/// The EIP-712 signature of a challenge hash (`r ‖ s ‖ v`, `v` ∈ {27, 28}, low `s`): what
/// `poco_types::signature::sign_digest` computes, with libsecp256k1 rather than k256 (the load
/// generator shares the machine with the market: its CPU time is kept low).
fn sign_challenge(secret: &secp256k1::SecretKey, hash: &B256) -> String {
    let sig = secp256k1::SECP256K1
        .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash.0), secret);
    let (id, rs) = sig.serialize_compact();
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&rs);
    bytes[64] = 27 + i32::from(id) as u8;
    alloy::primitives::hex::encode_prefixed(bytes)
}

/// One keep-alive HTTP/1.1 connection to the market (hyper, without a pool, so that the load
/// generator spends little of the CPU the market needs).
struct Conn {
    addr: SocketAddr,
    host: String,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> eyre::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self {
            addr,
            host: addr.to_string(),
            sender,
        })
    }

    /// Sends a request and reads the whole answer.
    async fn send(
        &mut self,
        request: http::request::Builder,
        body: Bytes,
    ) -> eyre::Result<(http::StatusCode, Bytes)> {
        let request = request
            .header(http::header::HOST, &self.host)
            .body(Full::new(body))?;
        // The market closes connections idle for longer than its header read timeout: reopen,
        // as a pooled client would.
        if self.sender.is_closed() {
            *self = Self::open(self.addr).await?;
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn get(&mut self, path: &str) -> eyre::Result<(http::StatusCode, Bytes)> {
        self.send(http::Request::get(path), Bytes::new()).await
    }
}

/// One publication as iExec clients make it: challenge, signature, `POST`.
async fn publish(conn: &mut Conn, publisher: &Publisher, job: &Job) -> Result<(), String> {
    let path = format!("/challenge?address={}", publisher.address);
    let (status, bytes) = conn
        .get(&path)
        .await
        .map_err(|e| format!("GET /challenge: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "GET /challenge: {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let reply: ChallengeReply =
        serde_json::from_slice(&bytes).map_err(|e| format!("GET /challenge: {e}"))?;
    let hash = challenge_hash(reply.data.domain.chain_id, &reply.data.message.challenge);
    let sign = sign_challenge(&publisher.secret, &hash);
    let path = format!("/{}s", job.kind.key());
    let request = http::Request::post(&path)
        .header(
            http::header::AUTHORIZATION,
            format!("{hash}_{sign}_{}", publisher.address),
        )
        .header(http::header::CONTENT_TYPE, "application/json");
    let (status, bytes) = conn
        .send(request, job.body.clone())
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    if !status.is_success() || !bytes.starts_with(b"{") {
        return Err(format!(
            "POST {path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    Ok(())
}

/// CPU time (seconds) of this process's threads, by group: the market's runtime, its SQLite
/// threads, the load generator, the rest.
fn thread_cpu() -> HashMap<&'static str, f64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns: f64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        let group = if comm.starts_with("mkt-server") {
            "market"
        } else if comm.starts_with("sqlx-sqlite") {
            "sqlite"
        } else if comm.starts_with("bench-client") {
            "load generator"
        } else {
            "other"
        };
        *out.entry(group).or_default() += ns / 1e9;
    }
    out
}

/// Busy and total jiffies of the whole machine (`/proc/stat`).
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

#[derive(Clone, Copy)]
struct Stats {
    samples: usize,
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// Latency percentiles in milliseconds (nearest rank).
fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let rank = |p: f64| ms[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
    Stats {
        samples: n,
        p50: rank(50.0),
        p99: rank(99.0),
        max: ms[n - 1],
        mean: ms.iter().sum::<f64>() / n as f64,
    }
}

fn stats_json(s: Stats) -> Value {
    json!({
        "samples": s.samples,
        "p50_ms": round3(s.p50),
        "p99_ms": round3(s.p99),
        "max_ms": round3(s.max),
        "mean_ms": round3(s.mean),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A kind of query: a name, the URL paths to cycle through, whether it uses the default page
/// size (the target applies to those).
struct QueryKind {
    name: &'static str,
    paths: Vec<String>,
    default_page: bool,
}

async fn get_ms(conn: &mut Conn, path: &str) -> eyre::Result<f64> {
    let start = Instant::now();
    let (status, bytes) = conn.get(path).await?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    ensure!(
        status.is_success(),
        "GET {path}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(ms)
}

/// `samples` queries from `clients` concurrent clients (one connection each).
async fn measure(
    addr: SocketAddr,
    q: &QueryKind,
    samples: usize,
    clients: usize,
) -> eyre::Result<Stats> {
    let paths: Arc<Vec<String>> = Arc::new(q.paths.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(Conn::open(addr).await?);
    }
    let mut tasks = JoinSet::new();
    for mut conn in conns {
        let (paths, next) = (paths.clone(), next.clone());
        tasks.spawn(async move {
            let mut ms = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= samples {
                    return Ok::<_, eyre::Report>(ms);
                }
                ms.push(get_ms(&mut conn, &paths[i % paths.len()]).await?);
            }
        });
    }
    let mut all = Vec::with_capacity(samples);
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    Ok(stats(all))
}

async fn get_json(conn: &mut Conn, path: &str) -> eyre::Result<Value> {
    let (status, bytes) = conn.get(path).await?;
    ensure!(
        status.is_success(),
        "GET {path}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(serde_json::from_slice(&bytes)?)
}

/// `GET /metrics` (Prometheus text): each sample (name and labels) to its value.
async fn get_metrics(conn: &mut Conn) -> eyre::Result<std::collections::HashMap<String, u64>> {
    let (status, bytes) = conn.get("/metrics").await?;
    ensure!(status.is_success(), "GET /metrics: {status}");
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (sample, value) = l.rsplit_once(' ')?;
            Some((sample.to_owned(), value.parse().ok()?))
        })
        .collect())
}

async fn count(conn: &mut Conn, path: &str) -> eyre::Result<u64> {
    let body = get_json(conn, path).await?;
    body["count"]
        .as_u64()
        .ok_or_else(|| eyre!("GET {path}: no count in {body}"))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

async fn run(o: &Options, server: tokio::runtime::Handle) -> eyre::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("bench-market: poco-market order book, {} orders", o.orders);
    println!(
        "machine: {cores} cores ({cpu_model}), load average at start {}",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let setup_start = Instant::now();
    let world = setup(o).await?;
    let domain = Domain::new(world.chain_id, world.chain.hub());
    let probe = B256::repeat_byte(0x42);
    let first = &world.publishers[0];
    ensure!(
        sign_challenge(&first.secret, &probe)
            == poco_types::signature::sign_digest(&first.key, &probe)?.to_string(),
        "the load generator's challenge signatures differ from poco_types' ones"
    );
    let unsigned = orders(o, &world);
    let mut per_wallet: HashMap<(usize, OrderKind), usize> = HashMap::new();
    for (publisher, order) in &unsigned {
        *per_wallet.entry((*publisher, order.kind())).or_default() += 1;
    }
    let max_open_orders = per_wallet.values().copied().max().unwrap_or(1);
    let kinds = |k: OrderKind| unsigned.iter().filter(|(_, u)| u.kind() == k).count();
    let (n_pool, n_app, n_request) = (
        kinds(OrderKind::Workerpool),
        kinds(OrderKind::App),
        kinds(OrderKind::Request),
    );

    let dir = tempfile::tempdir()?;
    let mut config = world.chain.market_config(dir.path(), "market.db");
    config.max_open_orders = max_open_orders;
    // The whole run's orders stay open, and every load generator connection stays open.
    config.max_book_orders = config.max_book_orders.max(unsigned.len() + 1);
    config.max_connections = config
        .max_connections
        .max(o.concurrency + o.query_clients + 16);
    config.poll_interval = Duration::from_millis(500);
    let running = server
        .spawn(poco_market::start(config))
        .await
        .map_err(|e| eyre!("market task: {e}"))??;
    let addr = running.addr;
    let mut conn = Conn::open(addr).await?;
    let synced = Instant::now();
    loop {
        let m = get_metrics(&mut conn).await?;
        if m.get("poco_market_synced") == Some(&1) {
            break;
        }
        ensure!(
            synced.elapsed() < Duration::from_secs(60),
            "the market did not catch up with the chain in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let sign_start = Instant::now();
    let jobs = Arc::new(sign_all(unsigned, &world.publishers, &domain)?);
    let sign_s = sign_start.elapsed().as_secs_f64();
    println!(
        "setup: anvil + poco, {} workerpool owners (one workerpool each), {} app owners (one app \
         each), {} requesters, {DEPOSIT_RLC} RLC staked each; market in process on {} tokio \
         threads, SQLite file (WAL) in a temp dir, max_open_orders raised from 50 to \
         {max_open_orders} (configuration parameter) [{:.1} s]",
        o.pools,
        o.app_owners,
        o.requesters,
        o.server_threads,
        setup_start.elapsed().as_secs_f64() - sign_s
    );
    println!(
        "pre-signed {} orders ({n_pool} workerpool over {} categories, {n_app} app, {n_request} \
         request) before the clock starts [{sign_s:.1} s]",
        o.orders, world.categories
    );

    // 1. Publication throughput.
    println!(
        "\n1. publish: POST /{{type}}orders over HTTP, each with its own challenge sign-in \
         (GET /challenge, EIP-712 signature, authorization header); {} in flight, at most one \
         per wallet; load generator on {} tokio threads in the same process",
        o.concurrency, o.client_threads
    );
    let next = Arc::new(AtomicUsize::new(0));
    let rejections = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let mut conns = Vec::new();
    for _ in 0..o.concurrency {
        conns.push(Conn::open(addr).await?);
    }
    let cpu_before = thread_cpu();
    let machine_before = machine_jiffies();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for mut conn in conns {
        let (jobs, next, rejections) = (jobs.clone(), next.clone(), rejections.clone());
        let publishers = world.publishers.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else {
                    return latencies;
                };
                let publisher = &publishers[job.publisher];
                let _busy = publisher.busy.lock().await;
                let t = Instant::now();
                let result = tokio::time::timeout(
                    Duration::from_secs(30),
                    publish(&mut conn, publisher, job),
                )
                .await
                .unwrap_or_else(|_| Err("no answer in 30 s".into()));
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                if let Err(e) = result {
                    {
                        let mut r = rejections.lock().unwrap_or_else(|p| p.into_inner());
                        r.0 += 1;
                        if r.1.len() < 5 {
                            eprintln!("   rejected: {e}");
                            r.1.push(e);
                        }
                    }
                    // A new connection, as a client would open after an error.
                    match Conn::open(addr).await {
                        Ok(fresh) => conn = fresh,
                        Err(e) => eprintln!("   cannot reconnect: {e}"),
                    }
                }
            }
        });
    }
    let mut latencies = Vec::with_capacity(o.orders);
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = thread_cpu();
    let machine_after = machine_jiffies();
    let (rejected, examples) = rejections.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let per_s = o.orders as f64 / elapsed;
    let cpu = |g: &str| cpu_after.get(g).unwrap_or(&0.0) - cpu_before.get(g).unwrap_or(&0.0);
    let (runtime_cpu, sqlite_cpu) = (cpu("market"), cpu("sqlite"));
    let (market_cpu, client_cpu) = (runtime_cpu + sqlite_cpu, cpu("load generator"));
    let machine_busy = (machine_after.0 - machine_before.0) as f64
        / (machine_after.1 - machine_before.1).max(1) as f64;
    let publish_latency = stats(latencies);
    let metrics = get_metrics(&mut conn).await?;
    let open_orders = |kind: &str| {
        metrics
            .get(&format!("poco_market_open_orders{{kind=\"{kind}\"}}"))
            .copied()
            .unwrap_or(0)
    };
    let open = ["apporder", "workerpoolorder", "requestorder"]
        .iter()
        .map(|k| open_orders(k))
        .sum::<u64>();
    println!(
        "   {} orders in {elapsed:.2} s: {per_s:.0} orders/s, {rejected} rejected; publication \
         latency p50 {:.2} ms, p99 {:.2} ms",
        o.orders, publish_latency.p50, publish_latency.p99
    );
    println!(
        "   CPU: market {:.0} µs per order ({:.0} runtime + {:.0} SQLite threads; {:.2} cores), \
         load generator {:.0} µs per order ({:.2} cores); whole machine busy {:.0} % (other \
         processes included)",
        market_cpu * 1e6 / o.orders as f64,
        runtime_cpu * 1e6 / o.orders as f64,
        sqlite_cpu * 1e6 / o.orders as f64,
        market_cpu / elapsed,
        client_cpu * 1e6 / o.orders as f64,
        client_cpu / elapsed,
        machine_busy * 100.0
    );
    println!(
        "   open orders in the book after the phase (GET /metrics): {open} ({} workerpool, {} \
         app, {} request)",
        open_orders("workerpoolorder"),
        open_orders("apporder"),
        open_orders("requestorder")
    );

    // 2. Query latency.
    if o.samples == 0 {
        drop(running);
        return Ok(());
    }
    let mut category_counts = Vec::new();
    for c in 0..world.categories {
        category_counts.push(count(&mut conn, &format!("/workerpoolorders?category={c}")).await?);
    }
    let cats = world.categories;
    let cycle = |f: &dyn Fn(u64) -> String| (0..cats).map(f).collect::<Vec<_>>();
    let deep: Vec<u64> = category_counts.iter().map(|n| n / 20 / 2).collect();
    let queries = vec![
        QueryKind {
            name: "/workerpoolorders?category=N",
            paths: cycle(&|c| format!("/workerpoolorders?category={c}")),
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders?category=N&minTag=tee",
            paths: cycle(&|c| format!("/workerpoolorders?category={c}&minTag={}", Tag::TEE.0)),
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders?category=N&minTrust=5",
            paths: cycle(&|c| format!("/workerpoolorders?category={c}&minTrust=5")),
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders?workerpool=…",
            paths: world
                .workerpools
                .iter()
                .map(|p| format!("/workerpoolorders?workerpool={p}"))
                .collect(),
            default_page: true,
        },
        QueryKind {
            name: "/apporders?app=…",
            paths: world
                .apps
                .iter()
                .map(|a| format!("/apporders?app={a}"))
                .collect(),
            default_page: true,
        },
        QueryKind {
            name: "/requestorders?category=N",
            paths: cycle(&|c| format!("/requestorders?category={c}")),
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders?category=N&pageIndex=mid",
            paths: cycle(&|c| {
                format!(
                    "/workerpoolorders?category={c}&pageIndex={}",
                    deep[c as usize]
                )
            }),
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders (every category)",
            paths: vec!["/workerpoolorders".into()],
            default_page: true,
        },
        QueryKind {
            name: "/workerpoolorders?category=N&pageSize=100 (web UI)",
            paths: cycle(&|c| format!("/workerpoolorders?category={c}&pageSize=100")),
            default_page: false,
        },
        QueryKind {
            name: "/workerpoolorders?category=N&pageSize=1000",
            paths: cycle(&|c| format!("/workerpoolorders?category={c}&pageSize=1000")),
            default_page: false,
        },
    ];
    println!(
        "\n2. queries with {open} open orders: GET over HTTP with keep-alive, {} samples each, \
         one client at a time, then {} concurrent clients (after 50 warm-up queries); \
         workerpool orders per category {:?}, pageIndex=mid is the middle page of the category \
         ({:?})",
        o.samples, o.query_clients, category_counts, deep
    );
    println!(
        "   {:<52} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
        "query", "p50 ms", "p99 ms", "max ms", "p50 ×C", "p99 ×C", "max ×C"
    );
    let mut query_results = Vec::new();
    let mut worst_p99: f64 = 0.0;
    for q in &queries {
        measure(addr, q, 50, 1).await?;
        let seq = measure(addr, q, o.samples, 1).await?;
        let conc = measure(addr, q, o.samples, o.query_clients).await?;
        if q.default_page {
            worst_p99 = worst_p99.max(seq.p99).max(conc.p99);
        }
        println!(
            "   {:<52} {:>8.2} {:>8.2} {:>8.2}   {:>8.2} {:>8.2} {:>8.2}",
            q.name, seq.p50, seq.p99, seq.max, conc.p50, conc.p99, conc.max
        );
        query_results.push(json!({
            "query": q.name,
            "default_page_size": q.default_page,
            "sequential": stats_json(seq),
            "concurrent": stats_json(conc),
        }));
    }

    // 3. Targets.
    let publish_ok = per_s >= PUBLISH_TARGET && rejected == 0;
    let query_ok = worst_p99 <= P99_TARGET_MS;
    println!("\n3. targets");
    println!(
        "   publish ≥ {PUBLISH_TARGET:.0} orders/s with 0 rejections: {per_s:.0} orders/s, \
         {rejected} rejected: {}",
        met(publish_ok)
    );
    println!(
        "   query p99 ≤ {P99_TARGET_MS} ms (default page size, sequential and concurrent): \
         worst p99 {worst_p99:.2} ms: {}",
        met(query_ok)
    );

    let report = json!({
        "machine": {
            "cores": cores,
            "cpu": cpu_model,
            "loadavg_at_start": loadavg.trim(),
        },
        "setup": {
            "workerpool_owners": o.pools,
            "app_owners": o.app_owners,
            "requesters": o.requesters,
            "max_open_orders": max_open_orders,
            "database": "sqlite file (WAL)",
            "server_threads": o.server_threads,
            "client_threads": o.client_threads,
        },
        "publish": {
            "orders": o.orders,
            "workerpool_orders": n_pool,
            "app_orders": n_app,
            "request_orders": n_request,
            "concurrency": o.concurrency,
            "seconds": round3(elapsed),
            "orders_per_s": per_s.round(),
            "rejected": rejected,
            "rejection_examples": examples,
            "latency": stats_json(publish_latency),
            "market_cpu_us_per_order": (market_cpu * 1e6 / o.orders as f64).round(),
            "market_sqlite_threads_cpu_us_per_order": (sqlite_cpu * 1e6 / o.orders as f64).round(),
            "load_generator_cpu_us_per_order": (client_cpu * 1e6 / o.orders as f64).round(),
            "machine_busy_percent": (machine_busy * 100.0).round(),
            "open_orders_after": open,
        },
        "queries": {
            "open_orders": open,
            "samples": o.samples,
            "concurrent_clients": o.query_clients,
            "workerpool_orders_per_category": category_counts,
            "results": query_results,
        },
        "targets": {
            "publish_orders_per_s": {"target": PUBLISH_TARGET, "value": per_s.round(), "met": publish_ok},
            "query_p99_ms": {"target": P99_TARGET_MS, "value": round3(worst_p99), "met": query_ok},
        },
    });
    if let Some(parent) = o.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&o.out, serde_json::to_string_pretty(&report)? + "\n")
        .wrap_err_with(|| format!("writing {}", o.out.display()))?;
    println!("\nJSON: {}", o.out.display());
    drop(running);
    Ok(())
}
