//! The market's resource limits: sizes of what it accepts, time per request, and the rate at
//! which one client may make it call the chain.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRequest, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{publish::Refusal, Shared};

/// The largest request body any route reads (orders are far smaller, even at the params cap).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest `params` string of a request order.
pub const MAX_PARAMS_BYTES: usize = 4096;
/// The largest `workerpoolApi` URL of a workerpool order.
pub const MAX_WORKERPOOL_API_BYTES: usize = 512;
/// The largest WebSocket message a `/ws` client may send (clients have nothing to say).
pub const MAX_WS_MESSAGE_BYTES: usize = 1024;
/// Task ids a deal lists (`tasks`); a zero-price self-deal can have billions of tasks, and
/// task `i` is `keccak256(dealid, botFirst + i)` anyway.
pub const MAX_DEAL_TASKS_LISTED: u64 = 10_000;
/// `POST /fill/transaction` simulations run at once, all clients together.
pub const MAX_FILL_SIMULATIONS: usize = 4;
/// Client addresses the `/fill/transaction` rate limiter remembers at once.
const MAX_RATE_CLIENTS: usize = 65_536;

/// A token bucket: `burst` calls at once, then `per_second` calls per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Calls a client may make at once.
    pub burst: u32,
    /// Calls per second a client gets back, up to `burst`.
    pub per_second: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per client address (IPv6 clients by /64 prefix), and a cap on the calls
/// running at once.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    running: Arc<Semaphore>,
}

/// The key of a client: its IPv4 address, or the /64 network of its IPv6 address (one host
/// usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl Limiter {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
            running: Arc::new(Semaphore::new(MAX_FILL_SIMULATIONS)),
        }
    }

    /// Takes one token of `ip`'s bucket and a running slot, or says why not (429 or 503).
    pub(crate) fn admit(&self, ip: IpAddr, what: &str) -> Result<OwnedSemaphorePermit, Refusal> {
        let Rate { burst, per_second } = self.rate;
        let burst = f64::from(burst);
        let now = Instant::now();
        let refill = |b: &Bucket| {
            (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(burst)
        };
        {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let key = client_key(ip);
            if !buckets.contains_key(&key) && buckets.len() >= MAX_RATE_CLIENTS {
                // Clients whose bucket is full again are no different from new ones.
                buckets.retain(|_, b| refill(b) < burst);
                if buckets.len() >= MAX_RATE_CLIENTS {
                    return Err(Refusal::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "rate limit: too many clients are calling {what} right now; retry in \
                             a few seconds"
                        ),
                    ));
                }
            }
            let bucket = buckets.entry(key).or_insert(Bucket {
                tokens: burst,
                at: now,
            });
            bucket.tokens = refill(bucket);
            bucket.at = now;
            if bucket.tokens < 1.0 {
                let wait = ((1.0 - bucket.tokens) / per_second).ceil().max(1.0);
                return Err(Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "rate limit: {what} allows {} calls at once then {per_second} per second \
                         per client; retry in {wait} s",
                        self.rate.burst
                    ),
                ));
            }
            bucket.tokens -= 1.0;
        }
        self.running.clone().try_acquire_owned().map_err(|_| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "busy: {MAX_FILL_SIMULATIONS} {what} calls are already running; retry in a \
                     second"
                ),
            )
        })
    }
}

/// A JSON request body; every rejection (too large, not JSON, wrong content type) answers in
/// the API's `{"ok": false, "error": …}` envelope.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &S) -> Result<Self, Refusal> {
        match Json::<Value>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "body: larger than this market's limit of {MAX_BODY_BYTES} bytes (an \
                         order, params included, is far smaller: params are limited to \
                         {MAX_PARAMS_BYTES} bytes)"
                    ),
                ))
            }
            Err(rejection) => Err(Refusal::new(
                rejection.status(),
                format!("body: {}", rejection.body_text()),
            )),
        }
    }
}

/// Every request, body included, gets at most the configured time; then a 503.
pub(crate) async fn time_limit(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let limit: Duration = shared.config.request_time_limit;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "time limit: the request took longer than this market's limit of {:.1} s (the \
                 chain node may be slow); retry later",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_refused_after_its_tokens() {
        let limiter = Limiter::new(Rate {
            burst: 3,
            per_second: 0.001,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut permits = Vec::new();
        for _ in 0..3 {
            permits.push(limiter.admit(ip, "x").unwrap());
            permits.pop();
        }
        let refused = limiter.admit(ip, "x").unwrap_err();
        assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.1.contains("rate limit"), "{}", refused.1);
        // Another client has its own bucket.
        assert!(limiter.admit("10.0.0.2".parse().unwrap(), "x").is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn running_calls_are_capped() {
        let limiter = Limiter::new(Rate {
            burst: 100,
            per_second: 1.0,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_FILL_SIMULATIONS)
            .map(|_| limiter.admit(ip, "x").unwrap())
            .collect();
        let refused = limiter.admit(ip, "x").unwrap_err();
        assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(limiter.admit(ip, "x").is_ok());
    }
}
