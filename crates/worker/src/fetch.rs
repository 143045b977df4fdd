//! Downloads of apps, datasets and input files: `http(s)://` to public addresses only, and
//! `file://` (regular files, outside /proc, /sys and /dev) on development workers only;
//! size-capped while reading, time-capped, checked against their sha256.
//!
//! Everything fetched here is named by strangers (app and dataset owners on chain, requesters
//! in the deal's params), so nothing may reach the worker's own files or its network's
//! internal services. A failure's message goes to the scheduler, which shows it to anyone: it
//! names the problem but no local path, no hash of fetched bytes and no OS error; those go to
//! the worker's own log.

use std::{
    io::Read as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::primitives::{Address, B256};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::warn;

/// A failed fetch: the message, and whether it is the task's fault (another worker would fail
/// the same way) rather than this worker's.
pub(crate) type Failure = (String, bool);

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;
/// Longest wait for a TCP (and TLS) connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a URL is not fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Blocked {
    /// The host is (or resolves only to) an address workers never connect to.
    #[error("its host is a {0} address, which workers never fetch from")]
    Address(&'static str),
    /// A redirect to something else than http(s).
    #[error("it redirects to a {0}:// URL; only http and https are followed")]
    Scheme(String),
    /// A redirect chain too long.
    #[error("it redirects more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
}

/// The range `ip` belongs to when a worker must not connect to it, `None` when it is a public
/// address. `allow_local` (development workers) lets loopback and private addresses through,
/// never link-local ones (cloud metadata services live there) nor the metadata addresses.
pub(crate) fn refused_ip(ip: IpAddr, allow_local: bool) -> Option<&'static str> {
    let (range, local) = match ip {
        IpAddr::V4(v4) => classify_v4(v4)?,
        IpAddr::V6(v6) => classify_v6(v6)?,
    };
    (!(local && allow_local)).then_some(range)
}

/// A non-public IPv4 range: its name, and whether a development worker may reach it.
fn classify_v4(ip: Ipv4Addr) -> Option<(&'static str, bool)> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => ("cloud metadata", false),
        _ if ip.is_broadcast() => ("broadcast", false),
        (0, _, _) => ("unspecified", false),
        (127, _, _) => ("loopback", true),
        (10, _, _) | (192, 168, _) => ("private", true),
        (172, 16..=31, _) => ("private", true),
        (100, 64..=127, _) => ("shared (CGNAT)", true),
        (169, 254, _) => ("link-local", false),
        (192, 0, 0) => ("IETF protocol", false),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => ("documentation", false),
        (198, 18..=19, _) => ("benchmarking", false),
        (192, 88, 99) => ("6to4 relay", false),
        (224..=239, _, _) => ("multicast", false),
        (240..=255, _, _) => ("reserved", false),
        _ => return None,
    })
}

/// A non-public IPv6 range (IPv4 embedded in mapped, compatible, NAT64 and 6to4 forms is
/// judged as IPv4): its name, and whether a development worker may reach it.
fn classify_v6(ip: Ipv6Addr) -> Option<(&'static str, bool)> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(("cloud metadata", false));
    }
    if ip.is_unspecified() {
        return Some(("unspecified", false));
    }
    if ip.is_loopback() {
        return Some(("loopback", true));
    }
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff | 0, hi, lo] => return classify_v4(embedded(hi, lo)),
        // NAT64: 64:ff9b::/96 and 64:ff9b:1::/48
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => {
            return classify_v4(embedded(hi, lo))
        }
        // 6to4: 2002:a.b.c.d::/48
        [0x2002, hi, lo, ..] => return classify_v4(embedded(hi, lo)),
        _ => {}
    }
    Some(match s[0] {
        0xfc00..=0xfdff => ("private (unique local)", true),
        0xfe80..=0xfebf => ("link-local", false),
        0xfec0..=0xfeff => ("site-local", false),
        0xff00..=0xffff => ("multicast", false),
        0x2001 if s[1] == 0x0db8 => ("documentation", false),
        0x2001 if s[1] < 0x0200 => ("IETF protocol", false),
        0x3fff if s[1] < 0x1000 => ("documentation", false),
        0x0100 if s[1..4] == [0, 0, 0] => ("discard", false),
        _ => return None,
    })
}

/// The IP address a URL's host is written as, if it is one (such hosts skip the resolver).
fn ip_literal(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Which addresses and files a worker fetches from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    /// A development worker: `file://` URLs (regular files), loopback and private addresses.
    pub(crate) allow_local: bool,
    /// Addresses let through anyway (tests only: a local server standing for a public one).
    pub(crate) exempt: Vec<IpAddr>,
}

impl Policy {
    /// The range `ip` belongs to when it is refused.
    fn refused(&self, ip: IpAddr) -> Option<&'static str> {
        if self.exempt.contains(&ip) {
            return None;
        }
        refused_ip(ip, self.allow_local)
    }
}

/// Resolves host names and keeps only the addresses a worker may connect to: every
/// connection of the worker's fetch client, redirects included, goes through it.
struct PublicResolver {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let mut refused = None;
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| match policy.refused(addr.ip()) {
                    Some(range) => {
                        refused = Some(range);
                        false
                    }
                    None => true,
                })
                .collect();
            match (public.is_empty(), refused) {
                (true, Some(range)) => Err(Box::new(Blocked::Address(range)) as _),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The HTTP client of every fetch: only the addresses `policy` allows, at most
/// [`MAX_REDIRECTS`] redirects, each checked, no proxy, a connect timeout. The total time of a
/// fetch is bounded by [`Fetcher`].
pub(crate) fn http_client(policy: &Policy) -> reqwest::Result<reqwest::Client> {
    let policy = Arc::new(policy.clone());
    let checked = policy.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(Blocked::TooManyRedirects);
        }
        let scheme = attempt.url().scheme();
        if !matches!(scheme, "http" | "https") {
            let scheme = scheme.to_string();
            return attempt.error(Blocked::Scheme(scheme));
        }
        if let Some(range) = ip_literal(attempt.url()).and_then(|ip| checked.refused(ip)) {
            return attempt.error(Blocked::Address(range));
        }
        attempt.follow()
    });
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicResolver { policy }))
        .redirect(redirects)
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

/// The [`Blocked`] reason somewhere in an error's chain of causes.
fn blocked_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Blocked> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        cause = e.source();
    }
    None
}

/// How a URL is named in messages that leave the worker: http(s) URLs without credentials,
/// query or fragment; never a local path.
fn shown(url: &str) -> String {
    if url.starts_with("file://") {
        return "a file:// URL".into();
    }
    match reqwest::Url::parse(url) {
        Ok(u) => {
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + u.path()
        }
        Err(_) => "an invalid URL".into(),
    }
}

/// Why a local file is not read (the detail stays in the worker's log).
enum Local {
    /// Refused by the rules; the reason is safe to publish.
    Refused(&'static str),
    /// Larger than the cap.
    TooBig,
    /// An OS error: logged, not published.
    Io(std::io::Error),
}

/// Reads a regular file outside /proc, /sys and /dev, at most `limit` bytes (the cap is
/// applied while reading: metadata sizes lie for special files).
fn read_local(path: &str, limit: u64) -> Result<Vec<u8>, Local> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if !path.starts_with('/') {
        return Err(Local::Refused("a file:// URL must name an absolute path"));
    }
    let system = |p: &Path| ["/proc", "/sys", "/dev"].iter().any(|s| p.starts_with(s));
    if system(Path::new(path)) {
        return Err(Local::Refused(
            "it names a system file (/proc, /sys or /dev)",
        ));
    }
    // Symbolic links resolved: a link into /proc is refused as well.
    let real = std::fs::canonicalize(path).map_err(Local::Io)?;
    if system(&real) {
        return Err(Local::Refused(
            "it names a system file (/proc, /sys or /dev)",
        ));
    }
    if !std::fs::metadata(&real).map_err(Local::Io)?.is_file() {
        return Err(Local::Refused("it is not a regular file"));
    }
    // Non-blocking open: a FIFO swapped in after the check cannot hold the slot.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&real)
        .map_err(Local::Io)?;
    if !file.metadata().map_err(Local::Io)?.is_file() {
        return Err(Local::Refused("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Local::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Local::TooBig);
    }
    Ok(bytes)
}

fn sha256(bytes: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(bytes))
}

/// A plain file name from the last segment of a URL (fallback when there is none).
fn file_name(url: &str, fallback: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        fallback.to_string()
    } else {
        clean
    }
}

/// Fetches the files of one task.
pub(crate) struct Fetcher<'a> {
    http: &'a reqwest::Client,
    limit: u64,
    policy: &'a Policy,
    /// When every fetch of the task must be over.
    until: Instant,
}

impl<'a> Fetcher<'a> {
    /// Fetches with `http` (made by [`http_client`] with the same `policy`), at most `limit`
    /// bytes per file, all done within `time`.
    pub(crate) fn new(
        http: &'a reqwest::Client,
        limit: u64,
        policy: &'a Policy,
        time: Duration,
    ) -> Self {
        Self {
            http,
            limit,
            policy,
            until: Instant::now() + time,
        }
    }

    /// The bytes at `url`; `task_fault` says whose fault a failure is.
    async fn get(&self, url: &str, what: &str, task_fault: bool) -> Result<Vec<u8>, Failure> {
        let public = shown(url);
        let limit = self.limit;
        let too_big = || {
            (
                format!("the {what} at {public} is larger than the {limit} bytes allowed"),
                task_fault,
            )
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !self.policy.allow_local {
                return Err((
                    format!(
                        "the {what} is at a file:// URL: workers do not read their own files \
                         (only a development worker started with --allow-local-fetch does)"
                    ),
                    task_fault,
                ));
            }
            let path = path.to_string();
            let read = tokio::task::spawn_blocking(move || read_local(&path, limit))
                .await
                .map_err(|e| (format!("reading the {what} failed: {e}"), false))?;
            return match read {
                Ok(bytes) => Ok(bytes),
                Err(Local::Refused(why)) => Err((
                    format!("the {what} at {public} is refused: {why}"),
                    task_fault,
                )),
                Err(Local::TooBig) => Err(too_big()),
                Err(Local::Io(e)) => {
                    warn!("cannot read the {what} at {url}: {e}");
                    Err((
                        format!("cannot read the {what} at {public} (see the worker's log)"),
                        task_fault,
                    ))
                }
            };
        }
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        let Some(parsed) = parsed else {
            return Err((
                format!("the {what} location {public} is not an http(s):// URL"),
                true,
            ));
        };
        if let Some(range) = ip_literal(&parsed).and_then(|ip| self.policy.refused(ip)) {
            return Err((
                format!(
                    "the {what} at {public} is refused: {}",
                    Blocked::Address(range)
                ),
                task_fault,
            ));
        }
        let download = async {
            let mut response = self.http.get(parsed).send().await?;
            if !response.status().is_success() {
                return Ok(Err(format!(
                    "downloading the {what} at {public} failed: HTTP {}",
                    response.status()
                )));
            }
            if response.content_length().is_some_and(|n| n > limit) {
                return Ok(Err(too_big().0));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > limit {
                    return Ok(Err(too_big().0));
                }
            }
            Ok::<_, reqwest::Error>(Ok(bytes))
        };
        match tokio::time::timeout_at(self.until, download).await {
            Err(_) => Err((
                format!(
                    "downloading the {what} at {public} took longer than this task allows \
                     (its deadline, or the worker's fetch time limit)"
                ),
                task_fault,
            )),
            Ok(Ok(Ok(bytes))) => Ok(bytes),
            Ok(Ok(Err(message))) => Err((message, task_fault)),
            Ok(Err(e)) => {
                warn!("downloading the {what} at {url}: {e:?}");
                match blocked_in(&e) {
                    Some(blocked) => Err((
                        format!("the {what} at {public} is refused: {blocked}"),
                        task_fault,
                    )),
                    None if e.is_timeout() => Err((
                        format!("cannot connect to the host of the {what} at {public}: timed out"),
                        task_fault,
                    )),
                    None => Err((
                        format!("cannot download the {what} at {public}: the connection failed"),
                        false,
                    )),
                }
            }
        }
    }

    /// The app module, from the cache by checksum or downloaded and checked.
    pub(crate) async fn app(
        &self,
        cache: &Path,
        url: &str,
        checksum: B256,
    ) -> Result<PathBuf, Failure> {
        let path = cache.join(format!("{checksum:x}.wasm"));
        if path.is_file() {
            return Ok(path);
        }
        let bytes = self.get(url, "app", true).await?;
        let actual = sha256(&bytes);
        if actual != checksum {
            warn!("the app at {url} has sha256 {actual}, registered {checksum}");
            return Err((
                format!(
                    "the app's bytes at {} do not match its on-chain checksum; refusing to run it",
                    shown(url)
                ),
                true,
            ));
        }
        let local = |e: std::io::Error| {
            warn!("cannot cache the app in {}: {e}", cache.display());
            (
                "cannot keep the app in the worker's cache".to_string(),
                false,
            )
        };
        std::fs::create_dir_all(cache).map_err(local)?;
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, &bytes).map_err(local)?;
        std::fs::rename(&tmp, &path).map_err(local)?;
        Ok(path)
    }

    /// The dataset file into `dir`, checked against its checksum, then decrypted with `key` for a
    /// TEE task; returns its file name.
    pub(crate) async fn dataset(
        &self,
        dir: &Path,
        url: &str,
        checksum: B256,
        address: Address,
        key: Option<&poco_sms_api::dataset::DatasetKey>,
    ) -> Result<String, Failure> {
        let bytes = self.get(url, "dataset", true).await?;
        let actual = sha256(&bytes);
        if actual != checksum {
            warn!("the dataset at {url} has sha256 {actual}, registered {checksum}");
            return Err((
                format!(
                    "the dataset's bytes at {} do not match its on-chain checksum",
                    shown(url)
                ),
                true,
            ));
        }
        let name = file_name(url, &format!("{address:x}"));
        match key {
            None => write_input(dir, &name, &bytes)?,
            // A TEE task: the checksum is of the encrypted bytes; the plaintext goes only to
            // the task's own scratch (memory), removed with the task's folder.
            Some(key) => {
                let plain = poco_sms_api::dataset::decrypt(&bytes, key).map_err(|e| {
                    (
                        format!(
                            "the dataset at {} does not decrypt with the key its owner gave \
                             the SMS ({e}): the owner must register the file `poco dataset \
                             encrypt` wrote and push its key",
                            shown(url)
                        ),
                        true,
                    )
                })?;
                write_input(dir, &name, &plain)?
            }
        }
        Ok(name)
    }

    /// An input file into `dir`; a `#sha256=<hex>` fragment is checked. Returns its file name.
    pub(crate) async fn input_file(&self, dir: &Path, url: &str) -> Result<String, Failure> {
        let (location, expected) = match url.split_once("#sha256=") {
            Some((location, hex)) => (
                location,
                Some(hex.parse::<B256>().map_err(|_| {
                    (
                        format!(
                            "the input file {} has an invalid #sha256= fragment",
                            shown(location)
                        ),
                        true,
                    )
                })?),
            ),
            None => (url, None),
        };
        let bytes = self.get(location, "input file", true).await?;
        if let Some(expected) = expected {
            let actual = sha256(&bytes);
            if actual != expected {
                warn!("the input file {location} has sha256 {actual}, {expected} was expected");
                return Err((
                    format!(
                        "the input file {} does not match its #sha256= fragment",
                        shown(location)
                    ),
                    true,
                ));
            }
        }
        let mut name = file_name(location, "input");
        let mut n = 1;
        while dir.join(&name).exists() {
            n += 1;
            name = format!("{n}-{}", file_name(location, "input"));
        }
        write_input(dir, &name, &bytes)?;
        Ok(name)
    }
}

/// Writes a fetched file into the task's input folder.
fn write_input(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(dir.join(name), bytes).map_err(|e| {
        warn!("cannot write {}: {e}", dir.join(name).display());
        (
            "cannot write an input file into the task's folder".to_string(),
            false,
        )
    })
}

#[cfg(test)]
mod tests;
