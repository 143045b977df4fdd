//! Publishing and unpublishing orders: the challenge sign-in and every check of `API.md`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256};
use axum::http::StatusCode;
use poco_types::{DealParams, OrderKind};
use rand::{distributions::Alphanumeric, Rng};
use serde_json::Value;

use crate::{
    api::{
        challenge_hash, challenge_text, Action, AnyOrder, ChallengeData, OrderEntry,
        PublishRequest, Status, UnpublishRequest, UnpublishTarget,
    },
    book::{IndexKey, Stored},
    chain::{stake_needed, StakeNeed},
    db::Write,
    feed::Event,
    limits::{MAX_PARAMS_BYTES, MAX_WORKERPOOL_API_BYTES},
    recover::recover_signer,
    Shared,
};

/// How long a challenge can be used.
const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// A refusal: the HTTP status and the message naming the failed check.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) StatusCode, pub(crate) String);

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl From<crate::Error> for Refusal {
    fn from(e: crate::Error) -> Self {
        let status = match e {
            crate::Error::Chain(_) | crate::Error::ChainCall { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.to_string())
    }
}

impl From<poco_chain::Error> for Refusal {
    fn from(e: poco_chain::Error) -> Self {
        crate::Error::from(e).into()
    }
}

type Checked<T> = std::result::Result<T, Refusal>;

struct Live {
    address: Address,
    action: Option<Action>,
    /// The random part (alphanumeric).
    random: [u8; 32],
    issued: Instant,
    seq: u64,
}

impl Live {
    fn text(&self) -> String {
        challenge_text(
            std::str::from_utf8(&self.random).unwrap_or_default(),
            self.action,
        )
    }
}

#[derive(Default)]
struct LiveSet {
    /// By challenge hash (what the `authorization` header names).
    by_hash: HashMap<B256, Live>,
    /// The live challenge of an address: one at a time, a newer one replaces it (asked again
    /// for the same action, the same one is given).
    by_key: HashMap<Address, B256>,
    /// Hashes by issue order: the oldest first, to expire and to drop beyond the cap.
    order: BTreeMap<u64, B256>,
    seq: u64,
}

impl LiveSet {
    fn remove(&mut self, hash: &B256) -> Option<Live> {
        let live = self.by_hash.remove(hash)?;
        if self.by_key.get(&live.address) == Some(hash) {
            self.by_key.remove(&live.address);
        }
        self.order.remove(&live.seq);
        Some(live)
    }

    /// Drops expired challenges, the oldest first.
    fn expire(&mut self) {
        while let Some((_, hash)) = self.order.first_key_value() {
            let hash = *hash;
            match self.by_hash.get(&hash) {
                Some(live) if live.issued.elapsed() < CHALLENGE_TTL => break,
                _ => {
                    self.order.pop_first();
                    self.remove(&hash);
                }
            }
        }
    }
}

/// The live challenges: at most one per address (a newer one replaces the older), at most `max`
/// in all (beyond that the oldest is dropped), each for [`CHALLENGE_TTL`].
pub(crate) struct Challenges {
    live: Mutex<LiveSet>,
    max: usize,
}

impl Challenges {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            live: Mutex::default(),
            max: max.max(1),
        }
    }

    /// How many challenges are live.
    pub(crate) fn len(&self) -> usize {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.expire();
        live.by_hash.len()
    }

    /// The live challenge of `address` if it is for `action`, else a new one, which replaces
    /// the older challenge of `address`.
    pub(crate) fn get(
        &self,
        chain_id: u64,
        address: Address,
        action: Option<Action>,
    ) -> ChallengeData {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.expire();
        if let Some(&hash) = live.by_key.get(&address) {
            match live.by_hash.get(&hash) {
                Some(current) if current.action == action => {
                    return ChallengeData::new(chain_id, &current.text());
                }
                _ => {
                    live.remove(&hash);
                }
            }
        }
        while live.by_hash.len() >= self.max {
            let Some((_, oldest)) = live.order.pop_first() else {
                break;
            };
            live.remove(&oldest);
        }
        let mut random = [0u8; 32];
        for (byte, c) in random
            .iter_mut()
            .zip(rand::thread_rng().sample_iter(&Alphanumeric))
        {
            *byte = c;
        }
        live.seq += 1;
        let entry = Live {
            address,
            action,
            random,
            issued: Instant::now(),
            seq: live.seq,
        };
        let text = entry.text();
        let hash = challenge_hash(chain_id, &text);
        live.by_key.insert(address, hash);
        live.order.insert(entry.seq, hash);
        live.by_hash.insert(hash, entry);
        ChallengeData::new(chain_id, &text)
    }

    /// Checks an `authorization` header (`<hash>_<signature>_<address>`) for `action` and uses
    /// up its challenge; returns the authenticated address. A challenge bound to another
    /// action is refused (and stays live).
    pub(crate) fn check(&self, header: Option<&str>, action: Action) -> Checked<Address> {
        let unauthorized = |m: String| Refusal::new(StatusCode::UNAUTHORIZED, m);
        let header = header.ok_or_else(|| {
            unauthorized(format!(
                "authorization: missing header; get a challenge with GET \
                 /challenge?address=…&action={action}, sign it (EIP-712) and send \
                 `authorization: <hash>_<signature>_<address>`"
            ))
        })?;
        let mut parts = header.split('_');
        let (Some(hash), Some(sign), Some(address), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unauthorized(
                "authorization: expected `<hash>_<signature>_<address>`".into(),
            ));
        };
        let hash: B256 = hash
            .parse()
            .map_err(|_| unauthorized(format!("authorization: {hash:?} is not a 32-byte hash")))?;
        let address: Address = address
            .parse()
            .map_err(|_| unauthorized(format!("authorization: {address:?} is not an address")))?;
        let sign = alloy::primitives::hex::decode(sign)
            .map_err(|_| unauthorized("authorization: the signature is not hex".into()))?;
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.expire();
        let Some(challenge) = live.by_hash.get(&hash).filter(|c| c.address == address) else {
            return Err(unauthorized(format!(
                "authorization: no live challenge {hash} for {address} (challenges are used once, \
                 expire after {} minutes, and a newer challenge of the address replaces the \
                 older); request a new one with GET /challenge?address={address}&action={action}",
                CHALLENGE_TTL.as_secs() / 60
            )));
        };
        if let Some(bound) = challenge.action.filter(|bound| *bound != action) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "authorization: this sign-in was issued for {bound} only, not for {action}; \
                     request a challenge with GET /challenge?address={address}&action={action}"
                ),
            ));
        }
        let signer = recover_signer(&hash, &sign)
            .map_err(|e| unauthorized(format!("authorization: unreadable signature: {e}")))?;
        if signer != address {
            return Err(unauthorized(format!(
                "authorization: the challenge was signed by {signer}, not by {address}"
            )));
        }
        live.remove(&hash);
        Ok(address)
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The account that must sign an order: the asset's owner, or the requester.
async fn expected_signer(shared: &Shared, order: &AnyOrder) -> Checked<Address> {
    let (kind, what) = match order {
        AnyOrder::Request(o) => return Ok(o.order.requester),
        AnyOrder::App(_) => (OrderKind::App, "app"),
        AnyOrder::Dataset(_) => (OrderKind::Dataset, "dataset"),
        AnyOrder::Workerpool(_) => (OrderKind::Workerpool, "workerpool"),
    };
    let asset = order.asset();
    if shared.index.owner(kind, asset).is_none() {
        // Maybe created in a block the watcher has not read yet.
        catch_up(shared).await?;
    }
    shared.index.owner(kind, asset).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!(
                "{what} {asset} is not registered on chain {}; deploy it with `poco {what} \
                 deploy` first",
                shared.chain_id
            ),
        )
    })
}

/// Waits (a few seconds at most) until the index has read the chain's current confirmed head.
async fn catch_up(shared: &Shared) -> Checked<()> {
    let head = shared
        .client
        .block_number()
        .await
        .map_err(|source| Refusal::from(crate::Error::chain_call("eth_blockNumber", source)))?;
    let target = head.saturating_sub(shared.config.confirmations);
    let deadline = Instant::now() + Duration::from_secs(5);
    while shared.index.block() < target && Instant::now() < deadline {
        shared.poke.notify_one();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Checks the signature: an ECDSA signature by `signer`, a presignature, or (for contract
/// accounts) whatever the hub's `verifySignature` accepts.
async fn check_signature(
    shared: &Shared,
    order: &AnyOrder,
    hash: B256,
    signer: Address,
) -> Checked<()> {
    if shared.index.presigned(&hash) {
        return Ok(());
    }
    let sign = order.sign();
    let recovered = if sign.is_empty() {
        None
    } else {
        recover_signer(&hash, sign).ok()
    };
    if recovered == Some(signer) {
        return Ok(());
    }
    // The hub accepts an empty signature only as a presignature (checked above); its
    // `verifySignature` reverts on one for an EOA.
    let accepted = !sign.is_empty()
        && shared
            .client
            .verify_signature(signer, hash, sign.to_vec().into(), shared.index.block())
            .await
            .map_err(Refusal::from)?;
    if accepted {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::UNAUTHORIZED,
        match recovered {
            Some(other) => format!(
                "signature: order {hash} was signed by {other}, but it must be signed by {signer}"
            ),
            None if sign.is_empty() => format!(
                "signature: order {hash} has no signature and is not presigned on chain; sign it \
                 with `poco order sign`"
            ),
            None => format!("signature: the signature of order {hash} is unreadable"),
        },
    ))
}

/// Request orders need a listed app order (and dataset order) they can be matched with.
fn check_counterparts(shared: &Shared, order: &AnyOrder) -> Checked<()> {
    let AnyOrder::Request(r) = order else {
        return Ok(());
    };
    let r = &r.order;
    let allows = |restrict: Address, who: Address| restrict.is_zero() || restrict == who;
    let book = shared.book();
    let app_ok = book
        .indexed_iter(IndexKey::Asset(r.app))
        .any(|s| match &s.order {
            AnyOrder::App(a) => {
                let a = &a.order;
                a.appprice <= r.appmaxprice
                    && allows(a.datasetrestrict, r.dataset)
                    && (r.workerpool.is_zero() || allows(a.workerpoolrestrict, r.workerpool))
                    && allows(a.requesterrestrict, r.requester)
            }
            _ => false,
        });
    if !app_ok {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!(
                "counterpart: no open app order of {} that this request can use (price at most \
                 {} nRLC, restrictions allowing it) is listed; ask the app owner to publish one",
                r.app, r.appmaxprice
            ),
        ));
    }
    if r.dataset.is_zero() {
        return Ok(());
    }
    let dataset_ok = book
        .indexed_iter(IndexKey::Asset(r.dataset))
        .any(|s| match &s.order {
            AnyOrder::Dataset(d) => {
                let d = &d.order;
                d.datasetprice <= r.datasetmaxprice
                    && allows(d.apprestrict, r.app)
                    && (r.workerpool.is_zero() || allows(d.workerpoolrestrict, r.workerpool))
                    && allows(d.requesterrestrict, r.requester)
            }
            _ => false,
        });
    if dataset_ok {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::CONFLICT,
            format!(
                "counterpart: no open dataset order of {} that this request can use (price at \
                 most {} nRLC, restrictions allowing it) is listed; ask the dataset owner to \
                 publish one",
                r.dataset, r.datasetmaxprice
            ),
        ))
    }
}

/// Parses and checks the form of a publication.
/// A publication's order, its scheduler URL and its admission mode.
type Parsed = (AnyOrder, Option<String>, Option<String>);

fn parse(kind: OrderKind, body: Value) -> Checked<Parsed> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, m);
    let request: PublishRequest = serde_json::from_value(body)
        .map_err(|e| bad(format!("schema: expected {{\"order\": {{…}}}}: {e}")))?;
    let given = request.order.clone();
    let order = AnyOrder::from_json(kind, request.order).map_err(|e| {
        bad(format!(
            "schema: the order is not a signed {}: {e}",
            kind.primary_type()
        ))
    })?;
    // The shared order types flatten the order into its signed form, so serde cannot refuse
    // unknown fields itself: the fields given must be those the order writes back.
    if let (Value::Object(given), Value::Object(known)) = (&given, order.to_json()) {
        if let Some(unknown) = given.keys().find(|k| !known.contains_key(*k)) {
            let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(bad(format!(
                "schema: unknown field `{unknown}` in the {}, expected only {}",
                kind.primary_type(),
                names.join(", ")
            )));
        }
    }
    let volume = order.volume();
    if volume.is_zero() || volume > alloy::primitives::U256::from(u64::MAX) {
        return Err(bad(format!(
            "schema: volume must be between 1 and {}, got {volume}",
            u64::MAX
        )));
    }
    if !matches!(order.sign().len(), 0 | 64 | 65) {
        return Err(bad(format!(
            "schema: sign must be a 65-byte signature (or 0x for a presigned order), got {} bytes",
            order.sign().len()
        )));
    }
    if let AnyOrder::Request(r) = &order {
        let params = &r.order.params;
        if params.len() > MAX_PARAMS_BYTES {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "params: {} bytes, more than this market's limit of {MAX_PARAMS_BYTES} bytes; \
                     pass large inputs as input files (iexec_input_files URLs)",
                    params.len()
                ),
            ));
        }
        let params = DealParams::parse(params)
            .map_err(|e| bad(format!("schema: params is not valid deal parameters: {e}")))?;
        if params.result_encryption() {
            return Err(bad(
                "params: iexec_result_encryption is not supported yet (results would be stored \
                 in plaintext); publish the request without it, or with \
                 \"iexec_result_encryption\": false"
                    .into(),
            ));
        }
    }
    if let Some(api) = &request.workerpool_api {
        if kind != OrderKind::Workerpool {
            return Err(bad(
                "schema: workerpoolApi is only for workerpool orders".into()
            ));
        }
        if api.len() > MAX_WORKERPOOL_API_BYTES {
            return Err(bad(format!(
                "schema: workerpoolApi is {} bytes, more than the limit of \
                 {MAX_WORKERPOOL_API_BYTES}",
                api.len()
            )));
        }
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            return Err(bad(format!(
                "schema: workerpoolApi must be an http(s) URL, got {api:?}"
            )));
        }
    }
    if let Some(admission) = &request.workerpool_admission {
        if kind != OrderKind::Workerpool {
            return Err(bad(
                "schema: workerpoolAdmission is only for workerpool orders".into(),
            ));
        }
        if !crate::api::ADMISSION_MODES.contains(&admission.as_str()) {
            return Err(bad(format!(
                "schema: workerpoolAdmission must be one of {}, got {:?}",
                crate::api::ADMISSION_MODES.join(", "),
                admission.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok((order, request.workerpool_api, request.workerpool_admission))
}

/// `POST /{kind}orders`.
pub(crate) async fn publish(
    shared: &Arc<Shared>,
    kind: OrderKind,
    authorization: Option<&str>,
    body: Value,
) -> Checked<OrderEntry> {
    let (order, workerpool_api, workerpool_admission) = parse(kind, body)?;
    let hash = order.hash(&shared.domain);
    let publisher = shared
        .challenges
        .check(authorization, Action::Publish(hash))?;
    if shared.book().get(&hash).is_some() {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!("duplicate: order {hash} is already published"),
        ));
    }
    if !shared.index.synced() {
        shared.poke.notify_one();
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the market is catching up with the chain (at block {}); retry in a few seconds",
                shared.index.block()
            ),
        ));
    }
    let signer = expected_signer(shared, &order).await?;
    if signer != publisher {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "signer: you signed in as {publisher}, but this order can only be published by \
                 {signer} ({})",
                if kind == OrderKind::Request {
                    "its requester"
                } else {
                    "the owner of the asset"
                }
            ),
        ));
    }
    check_signature(shared, &order, hash, signer).await?;
    let max = shared.config.max_open_orders;
    let cap_refusal = || {
        Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "open orders: {signer} already has {max} open {}s, the most a wallet may have; \
                 unpublish some first",
                kind.key()
            ),
        )
    };
    let book_max = shared.config.max_book_orders;
    let full_refusal = || {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "book full: the market holds its limit of {book_max} open orders; retry once \
                 orders are filled or unpublished"
            ),
        )
    };
    {
        let book = shared.book();
        if book.count_signed(kind, signer) >= max {
            return Err(cap_refusal());
        }
        if book.total() >= book_max {
            return Err(full_refusal());
        }
    }
    let remaining: u64 = order
        .volume()
        .saturating_sub(shared.index.consumed(&hash))
        .saturating_to();
    if remaining == 0 {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!("remaining volume: order {hash} is fully consumed or canceled on chain"),
        ));
    }
    let needed = match stake_needed(&order, remaining) {
        StakeNeed::None => None,
        StakeNeed::Amount(needed) => Some(needed),
        StakeNeed::Unfundable => {
            let prices = if kind == OrderKind::Request {
                "(appmaxprice + datasetmaxprice + workerpoolmaxprice) × remaining volume"
            } else {
                "30 % of workerpoolprice × remaining volume"
            };
            return Err(Refusal::new(
                StatusCode::PAYMENT_REQUIRED,
                format!(
                    "stake: unfundable: this order needs {prices} = more than 2^256 - 1 nRLC of \
                     stake, which no account can hold; lower its prices or its volume"
                ),
            ));
        }
    };
    if let Some(needed) = needed {
        let stake = shared.index.stake(shared, signer).await?;
        if stake < needed {
            let who = if kind == OrderKind::Request {
                "the requester"
            } else {
                "the workerpool owner"
            };
            return Err(Refusal::new(
                StatusCode::PAYMENT_REQUIRED,
                format!(
                    "stake: {who} {signer} has {} free in its poco account, but this order needs \
                     {} for its {remaining} remaining tasks; deposit at least {} more with `poco \
                     account deposit`",
                    poco_types::format_rlc(stake),
                    poco_types::format_rlc(needed),
                    poco_types::format_rlc(needed - stake)
                ),
            ));
        }
    }
    check_counterparts(shared, &order)?;

    let stored = {
        let mut book = shared.book_mut();
        if book.get(&hash).is_some() {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                format!("duplicate: order {hash} is already published"),
            ));
        }
        if book.count_signed(kind, signer) >= max {
            return Err(cap_refusal());
        }
        if book.total() >= book_max {
            return Err(full_refusal());
        }
        let stored = Stored {
            hash,
            order,
            signer,
            remaining,
            status: Status::Open,
            published_at: now_millis(),
            seq: book.next_seq(),
            workerpool_api,
            workerpool_admission,
        };
        book.insert(stored.clone());
        stored
    };
    let entry = stored.entry(shared.chain_id);
    commit(
        shared,
        vec![Write::Order(Box::new(stored.clone()))],
        move |shared| {
            if shared.feed.listened() {
                shared.feed.send(Event::published(kind, &stored));
            }
        },
        move |shared| {
            shared.book_mut().remove(&hash);
        },
    )
    .await?;
    Ok(entry)
}

/// Writes a change already made to the book, then tells the feed, or undoes the change if the
/// write fails. It runs to the end in its own task even when the request that made the change
/// is dropped (time limit, client gone), so that the book and the database never disagree.
async fn commit(
    shared: &Arc<Shared>,
    writes: Vec<Write>,
    done: impl FnOnce(&Shared) + Send + 'static,
    undo: impl FnOnce(&Shared) + Send + 'static,
) -> Checked<()> {
    let shared = shared.clone();
    tokio::spawn(async move {
        match shared.db.write(writes).await {
            Ok(()) => {
                done(&shared);
                Ok(())
            }
            Err(e) => {
                undo(&shared);
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the database write stopped: {e}"),
        )
    })?
    .map_err(Refusal::from)
}

/// `PUT /{kind}orders`: returns the hashes taken out of the book.
pub(crate) async fn unpublish(
    shared: &Arc<Shared>,
    kind: OrderKind,
    authorization: Option<&str>,
    body: Value,
) -> Checked<Vec<B256>> {
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, m);
    let request: UnpublishRequest = serde_json::from_value(body)
        .map_err(|e| bad(format!("schema: not an unpublish request: {e}")))?;
    let target = request.target.ok_or_else(|| {
        bad(
            "schema: target is required: unpublish_orderHash, unpublish_last or unpublish_all"
                .into(),
        )
    })?;
    let action = match target {
        UnpublishTarget::UnpublishOrderHash => Action::Unpublish(
            request
                .order_hash
                .ok_or_else(|| bad("schema: orderHash is required".into()))?,
        ),
        UnpublishTarget::UnpublishLast => Action::UnpublishLast(kind),
        UnpublishTarget::UnpublishAll => Action::UnpublishAll(kind),
    };
    let publisher = shared.challenges.check(authorization, action)?;
    let hashes = {
        let mut book = shared.book_mut();
        let hashes = match target {
            UnpublishTarget::UnpublishOrderHash => {
                let hash = request
                    .order_hash
                    .ok_or_else(|| bad("schema: orderHash is required".into()))?;
                let stored = book
                    .get(&hash)
                    .filter(|s| s.order.kind() == kind)
                    .ok_or_else(|| {
                        Refusal::new(
                            StatusCode::NOT_FOUND,
                            format!("{} {hash} is not an open order of the book", kind.key()),
                        )
                    })?;
                if stored.signer != publisher {
                    return Err(Refusal::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "signer: order {hash} was published by {}, not by {publisher}",
                            stored.signer
                        ),
                    ));
                }
                vec![hash]
            }
            UnpublishTarget::UnpublishLast | UnpublishTarget::UnpublishAll => {
                let (field, resource) = match kind {
                    OrderKind::App => ("app", request.app),
                    OrderKind::Dataset => ("dataset", request.dataset),
                    OrderKind::Workerpool => ("workerpool", request.workerpool),
                    OrderKind::Request => ("requester", request.requester),
                };
                let resource =
                    resource.ok_or_else(|| bad(format!("schema: {field} is required")))?;
                let key = if kind == OrderKind::Request {
                    IndexKey::Signer(resource)
                } else {
                    IndexKey::Asset(resource)
                };
                let mut mine: Vec<&Stored> = book
                    .indexed(key)
                    .into_iter()
                    .filter(|s| s.order.kind() == kind && s.signer == publisher)
                    .collect();
                mine.sort_by_key(|s| s.seq);
                if mine.is_empty() {
                    return Err(Refusal::new(
                        StatusCode::NOT_FOUND,
                        format!(
                            "no open {} of {resource} published by {publisher}",
                            kind.key()
                        ),
                    ));
                }
                if target == UnpublishTarget::UnpublishLast {
                    mine.split_off(mine.len() - 1)
                } else {
                    mine
                }
                .into_iter()
                .map(|s| s.hash)
                .collect()
            }
        };
        let removed: Vec<Stored> = hashes.iter().filter_map(|h| book.remove(h)).collect();
        (hashes, removed)
    };
    let (hashes, removed) = hashes;
    let events: Vec<Event> = hashes
        .iter()
        .map(|hash| Event::unpublished(kind, *hash, Status::Open, "unpublished by its owner"))
        .collect();
    commit(
        shared,
        hashes.iter().map(|h| Write::DeleteOrder(*h)).collect(),
        move |shared| {
            for event in events {
                shared.feed.send(event);
            }
        },
        // Nothing half-done: the orders stay published.
        move |shared| {
            let mut book = shared.book_mut();
            for stored in removed {
                book.insert(stored);
            }
        },
    )
    .await?;
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l12_challenges_are_capped_and_bound() {
        let challenges = Challenges::new(3);
        let addresses: Vec<Address> = (1..=5u8).map(Address::repeat_byte).collect();
        for a in &addresses {
            challenges.get(1, *a, None);
        }
        assert_eq!(challenges.len(), 3);
        // Asking again gives the same one; another action, another one, which replaces it.
        let a = addresses[4];
        let first = challenges.get(1, a, None);
        assert_eq!(challenges.get(1, a, None), first);
        let bound = challenges.get(1, a, Some(Action::UnpublishAll(OrderKind::App)));
        assert_ne!(bound, first);
        let text = &bound.message.challenge;
        assert!(
            text.ends_with(&crate::api::bound_suffix(Action::UnpublishAll(
                OrderKind::App
            )))
        );
        assert_eq!(challenges.len(), 3);
        assert_ne!(challenges.get(1, a, None), first);
        assert_eq!(challenges.len(), 3);
    }
}
