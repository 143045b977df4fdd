//! The in-memory order book: every open order, sorted the way the API lists them, with the
//! indexes the queries use. The database holds the same orders (and the closed ones); the book
//! is rebuilt from it at start.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use poco_types::{OrderKind, Tag};
use serde::{ser::SerializeStruct, Serialize, Serializer};

use crate::api::{AnyOrder, OrderEntry, Status};

/// An order of the book.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) hash: B256,
    pub(crate) order: AnyOrder,
    pub(crate) signer: Address,
    pub(crate) remaining: u64,
    pub(crate) status: Status,
    /// Unix milliseconds.
    pub(crate) published_at: i64,
    /// Publication sequence number (ties after the price).
    pub(crate) seq: u64,
    pub(crate) workerpool_api: Option<String>,
    /// The pool's admission mode, as its publisher gave it (workerpool orders).
    pub(crate) workerpool_admission: Option<String>,
}

impl Stored {
    pub(crate) fn entry(&self, chain_id: u64) -> OrderEntry {
        OrderEntry {
            order_hash: self.hash,
            chain_id,
            order: self.order.to_json(),
            remaining: self.remaining,
            status: self.status,
            signer: self.signer,
            publication_timestamp: crate::api::iso8601(self.published_at),
            workerpool_api: self.workerpool_api.clone(),
            workerpool_admission: self.workerpool_admission.clone(),
        }
    }

    /// [`Stored::entry`] to serialize as is: the same JSON, written straight from the order.
    pub(crate) fn view(&self, chain_id: u64) -> EntryView<'_> {
        EntryView {
            stored: self,
            chain_id,
        }
    }

    fn key(&self) -> Key {
        let price = self.order.price();
        Key {
            // Request orders list the highest bid first.
            price: if self.order.kind() == OrderKind::Request {
                U256::MAX - price
            } else {
                price
            },
            seq: self.seq,
            hash: self.hash,
        }
    }

    /// The secondary index keys the order is filed under.
    fn index_keys(&self) -> Vec<IndexKey> {
        let mut keys = vec![IndexKey::Signer(self.signer)];
        match &self.order {
            AnyOrder::App(o) => keys.push(IndexKey::Asset(o.order.app)),
            AnyOrder::Dataset(o) => keys.push(IndexKey::Asset(o.order.dataset)),
            AnyOrder::Workerpool(o) => {
                keys.push(IndexKey::Asset(o.order.workerpool));
                keys.extend(self.order.category().map(IndexKey::Category));
            }
            AnyOrder::Request(o) => {
                keys.push(IndexKey::Asset(o.order.app));
                keys.extend(self.order.category().map(IndexKey::Category));
            }
        }
        keys
    }
}

/// An order of the book as its [`OrderEntry`] serializes, without building the entry (and its
/// `order` as a JSON value): list answers write every entry of a page this way.
pub(crate) struct EntryView<'a> {
    stored: &'a Stored,
    chain_id: u64,
}

impl Serialize for EntryView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.stored;
        let fields = 7
            + usize::from(s.workerpool_api.is_some())
            + usize::from(s.workerpool_admission.is_some());
        let mut entry = serializer.serialize_struct("OrderEntry", fields)?;
        entry.serialize_field("orderHash", &s.hash)?;
        entry.serialize_field("chainId", &self.chain_id)?;
        match &s.order {
            AnyOrder::App(o) => entry.serialize_field("order", o)?,
            AnyOrder::Dataset(o) => entry.serialize_field("order", o)?,
            AnyOrder::Workerpool(o) => entry.serialize_field("order", o)?,
            AnyOrder::Request(o) => entry.serialize_field("order", o)?,
        }
        entry.serialize_field("remaining", &s.remaining)?;
        entry.serialize_field("status", &s.status)?;
        entry.serialize_field("signer", &s.signer)?;
        entry.serialize_field("publicationTimestamp", &crate::api::iso8601(s.published_at))?;
        if let Some(api) = &s.workerpool_api {
            entry.serialize_field("workerpoolApi", api)?;
        }
        if let Some(admission) = &s.workerpool_admission {
            entry.serialize_field("workerpoolAdmission", admission)?;
        }
        entry.end()
    }
}

/// What the list filters read of an order, in 40 bytes kept next to its key in every sorted
/// set. The count of a list query walks every order of its index; reading these from the set's
/// own nodes, rather than looking each order up, makes that walk several times faster. What
/// does not fit (a restriction's address, tag bits above 63, a trust above 2^64) is only
/// flagged, and the few orders concerned are checked on the order itself.
#[derive(Clone, Copy, Debug)]
struct Brief {
    /// Bits 0 to 63 of the tag.
    tag: u64,
    /// The trust (workerpool and request orders), saturated.
    trust: u64,
    remaining: u64,
    category: u64,
    /// `NONZERO << i`: the `i`th address the restriction filters read is not zero (app orders:
    /// `datasetrestrict`, `workerpoolrestrict`, `requesterrestrict`; dataset orders:
    /// `apprestrict`, `workerpoolrestrict`, `requesterrestrict`; workerpool orders:
    /// `apprestrict`, `datasetrestrict`, `requesterrestrict`; request orders: `workerpool`,
    /// `dataset`, `beneficiary`); `TAG_HIGH`, `TRUST_HIGH`, `HAS_CATEGORY`.
    flags: u8,
}

const NONZERO: u8 = 1;
const TAG_HIGH: u8 = 1 << 3;
const TRUST_HIGH: u8 = 1 << 4;
const HAS_CATEGORY: u8 = 1 << 5;

/// Bits 0 to 63 of a tag, and whether it has any bit above.
fn tag_split(tag: Tag) -> (u64, bool) {
    let bytes = tag.0 .0;
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[24..]);
    (u64::from_be_bytes(low), bytes[..24].iter().any(|b| *b != 0))
}

impl Brief {
    fn of(s: &Stored) -> Self {
        let (addresses, trust) = match &s.order {
            AnyOrder::App(o) => {
                let o = &o.order;
                (
                    [o.datasetrestrict, o.workerpoolrestrict, o.requesterrestrict],
                    U256::ZERO,
                )
            }
            AnyOrder::Dataset(o) => {
                let o = &o.order;
                (
                    [o.apprestrict, o.workerpoolrestrict, o.requesterrestrict],
                    U256::ZERO,
                )
            }
            AnyOrder::Workerpool(o) => {
                let o = &o.order;
                (
                    [o.apprestrict, o.datasetrestrict, o.requesterrestrict],
                    o.trust,
                )
            }
            AnyOrder::Request(o) => {
                let o = &o.order;
                ([o.workerpool, o.dataset, o.beneficiary], o.trust)
            }
        };
        let (tag, tag_high) = tag_split(s.order.tag());
        let mut flags = 0;
        for (i, a) in addresses.iter().enumerate() {
            if !a.is_zero() {
                flags |= NONZERO << i;
            }
        }
        if tag_high {
            flags |= TAG_HIGH;
        }
        if trust > U256::from(u64::MAX) {
            flags |= TRUST_HIGH;
        }
        let category = s.order.category();
        if category.is_some() {
            flags |= HAS_CATEGORY;
        }
        Self {
            tag,
            trust: trust.saturating_to(),
            remaining: s.remaining,
            category: category.unwrap_or_default(),
            flags,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    price: U256,
    seq: u64,
    hash: B256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum IndexKey {
    /// App, dataset or workerpool orders of an asset; request orders of an app.
    Asset(Address),
    /// Orders signed by an account (asset owner or requester).
    Signer(Address),
    /// Workerpool and request orders of a category.
    Category(u64),
}

/// Most entries a [`Sorted`] chunk holds before it is split in two.
const CHUNK: usize = 128;

/// A sorted set of keys, each with its order's [`Brief`], in chunks of at most [`CHUNK`]
/// entries whose briefs lie side by side: a list query walks them in order the way memory is
/// laid out (a `BTreeMap` walk, node after scattered node, spent most of its time waiting for
/// memory).
#[derive(Default, Debug)]
struct Sorted {
    chunks: Vec<Chunk>,
    len: usize,
}

#[derive(Default, Debug)]
struct Chunk {
    /// The last key (a copy, so that finding a chunk reads the chunk list only).
    last: Key,
    keys: Vec<Key>,
    briefs: Vec<Brief>,
}

impl Chunk {
    fn new(keys: Vec<Key>, briefs: Vec<Brief>) -> Self {
        Self {
            last: keys.last().copied().unwrap_or_default(),
            keys,
            briefs,
        }
    }

    fn update_last(&mut self) {
        if let Some(last) = self.keys.last() {
            self.last = *last;
        }
    }
}

impl Sorted {
    /// The chunk where `key` is or would go.
    fn chunk_of(&self, key: &Key) -> usize {
        self.chunks
            .partition_point(|c| c.last < *key)
            .min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, key: Key, brief: Brief) {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::default());
        }
        let i = self.chunk_of(&key);
        let chunk = &mut self.chunks[i];
        match chunk.keys.binary_search(&key) {
            Ok(at) => chunk.briefs[at] = brief,
            Err(at) => {
                chunk.keys.insert(at, key);
                chunk.briefs.insert(at, brief);
                self.len += 1;
                if chunk.keys.len() > CHUNK {
                    let upper = Chunk::new(
                        chunk.keys.split_off(CHUNK / 2),
                        chunk.briefs.split_off(CHUNK / 2),
                    );
                    chunk.update_last();
                    self.chunks.insert(i + 1, upper);
                } else {
                    chunk.update_last();
                }
            }
        }
    }

    fn remove(&mut self, key: &Key) {
        if self.chunks.is_empty() {
            return;
        }
        let i = self.chunk_of(key);
        let chunk = &mut self.chunks[i];
        if let Ok(at) = chunk.keys.binary_search(key) {
            chunk.keys.remove(at);
            chunk.briefs.remove(at);
            self.len -= 1;
            // Merges a small chunk into its successor, so that chunks stay large.
            if chunk.keys.len() < CHUNK / 4 && i + 1 < self.chunks.len() {
                let next = &self.chunks[i + 1];
                if self.chunks[i].keys.len() + next.keys.len() <= CHUNK {
                    let next = self.chunks.remove(i + 1);
                    let chunk = &mut self.chunks[i];
                    chunk.keys.extend(next.keys);
                    chunk.briefs.extend(next.briefs);
                }
            }
            self.chunks[i].update_last();
            if self.chunks[i].keys.is_empty() {
                self.chunks.remove(i);
            }
        }
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Brief> {
        let i = self.chunk_of(key);
        let chunk = self.chunks.get_mut(i)?;
        let at = chunk.keys.binary_search(key).ok()?;
        chunk.briefs.get_mut(at)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries, in order.
    fn iter(&self) -> impl Iterator<Item = (&Key, &Brief)> {
        self.chunks
            .iter()
            .flat_map(|c| c.keys.iter().zip(c.briefs.iter()))
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.chunks.iter().flat_map(|c| c.keys.iter())
    }
}

#[derive(Default, Debug)]
struct Side {
    all: Sorted,
    index: HashMap<IndexKey, Sorted>,
}

/// A restriction filter on a `*restrict` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Restrict {
    /// Absent: only orders without this restriction.
    #[default]
    Public,
    /// `any`: no filter.
    Any,
    /// An address: unrestricted or restricted to it.
    To(Address),
    /// An address with `is…Strict=true`: restricted to exactly it.
    Strict(Address),
}

impl Restrict {
    fn admits(self, restrict: Address) -> bool {
        match self {
            Self::Public => restrict == Address::ZERO,
            Self::Any => true,
            Self::To(a) => restrict == Address::ZERO || restrict == a,
            Self::Strict(a) => restrict == a,
        }
    }
}

/// A [`Filter`]'s tests on [`Brief`]s (see [`Filter::plan`]).
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Flags that must be clear, and set.
    zero: u8,
    one: u8,
    /// Flags with which only the order can tell.
    unsure: u8,
    /// Tag bits (0 to 63) that must be set, and clear.
    tag_all: u64,
    tag_none: u64,
    category: Option<u64>,
    min_volume: u64,
    min_trust: u64,
    max_trust: u64,
    /// Only the order can tell, for every order.
    always_unsure: bool,
}

impl Plan {
    /// Whether the order passes, or `None` when only the order itself can tell.
    fn admits(&self, b: &Brief) -> Option<bool> {
        if b.flags & self.zero != 0
            || b.flags & self.one != self.one
            || b.tag & self.tag_all != self.tag_all
            || b.tag & self.tag_none != 0
            || b.remaining < self.min_volume
            || b.trust < self.min_trust
            || b.trust > self.max_trust
            || self.category.is_some_and(|c| b.category != c)
        {
            return Some(false);
        }
        if self.always_unsure || b.flags & self.unsure != 0 {
            return None;
        }
        Some(true)
    }
}

/// A query on one side of the book; `None` fields do not filter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    pub(crate) asset: Option<Address>,
    pub(crate) signer: Option<Address>,
    pub(crate) category: Option<u64>,
    /// Request orders: their `dataset` field.
    pub(crate) dataset_field: Option<Address>,
    /// Request orders: their `beneficiary` field.
    pub(crate) beneficiary: Option<Address>,
    pub(crate) app_restrict: Restrict,
    pub(crate) dataset_restrict: Restrict,
    pub(crate) workerpool_restrict: Restrict,
    pub(crate) requester_restrict: Restrict,
    pub(crate) min_tag: Option<Tag>,
    pub(crate) max_tag: Option<Tag>,
    pub(crate) min_trust: Option<U256>,
    pub(crate) max_trust: Option<U256>,
    pub(crate) min_volume: Option<u64>,
}

impl Filter {
    fn admits(&self, s: &Stored) -> bool {
        let tag = s.order.tag();
        if self.min_tag.is_some_and(|t| !tag.contains(t))
            || self.max_tag.is_some_and(|t| !tag.is_subset_of(t))
            || self.min_volume.is_some_and(|v| s.remaining < v)
            || self.signer.is_some_and(|a| s.signer != a)
            || self.asset.is_some_and(|a| s.order.asset() != a)
            || self.category.is_some_and(|c| s.order.category() != Some(c))
        {
            return false;
        }
        match &s.order {
            AnyOrder::App(o) => {
                let o = &o.order;
                self.dataset_restrict.admits(o.datasetrestrict)
                    && self.workerpool_restrict.admits(o.workerpoolrestrict)
                    && self.requester_restrict.admits(o.requesterrestrict)
            }
            AnyOrder::Dataset(o) => {
                let o = &o.order;
                self.app_restrict.admits(o.apprestrict)
                    && self.workerpool_restrict.admits(o.workerpoolrestrict)
                    && self.requester_restrict.admits(o.requesterrestrict)
            }
            AnyOrder::Workerpool(o) => {
                let o = &o.order;
                self.app_restrict.admits(o.apprestrict)
                    && self.dataset_restrict.admits(o.datasetrestrict)
                    && self.requester_restrict.admits(o.requesterrestrict)
                    && self.min_trust.is_none_or(|t| o.trust >= t)
            }
            AnyOrder::Request(o) => {
                let o = &o.order;
                self.workerpool_restrict.admits(o.workerpool)
                    && self.dataset_field.is_none_or(|d| o.dataset == d)
                    && self.beneficiary.is_none_or(|b| o.beneficiary == b)
                    && self.max_trust.is_none_or(|t| o.trust <= t)
            }
        }
    }

    /// The tests of [`Filter::admits`] on the briefs of the orders of `kind` found under
    /// `index` (whose own condition holds for them).
    fn plan(&self, kind: OrderKind, index: Option<IndexKey>) -> Plan {
        let mut p = Plan {
            zero: 0,
            one: 0,
            unsure: 0,
            tag_all: 0,
            tag_none: 0,
            category: self.category,
            min_volume: self.min_volume.unwrap_or(0),
            min_trust: 0,
            max_trust: u64::MAX,
            always_unsure: false,
        };
        if let Some(t) = self.min_tag {
            let (low, high) = tag_split(t);
            p.tag_all = low;
            if high {
                p.one |= TAG_HIGH;
                p.unsure |= TAG_HIGH;
            }
        }
        if let Some(t) = self.max_tag {
            let (low, high) = tag_split(t);
            p.tag_none = !low;
            if high {
                p.unsure |= TAG_HIGH;
            } else {
                p.zero |= TAG_HIGH;
            }
        }
        if self.category.is_some() {
            p.one |= HAS_CATEGORY;
        }
        // The asset and the signer are not in the brief: the index is theirs, or the order
        // must tell.
        let implied = |key: IndexKey| index == Some(key);
        if self.asset.is_some_and(|a| !implied(IndexKey::Asset(a)))
            || self.signer.is_some_and(|a| !implied(IndexKey::Signer(a)))
        {
            p.always_unsure = true;
        }
        let (restricts, equals): ([Restrict; 3], [Option<Address>; 3]) = match kind {
            OrderKind::App => (
                [
                    self.dataset_restrict,
                    self.workerpool_restrict,
                    self.requester_restrict,
                ],
                [None; 3],
            ),
            OrderKind::Dataset => (
                [
                    self.app_restrict,
                    self.workerpool_restrict,
                    self.requester_restrict,
                ],
                [None; 3],
            ),
            OrderKind::Workerpool => (
                [
                    self.app_restrict,
                    self.dataset_restrict,
                    self.requester_restrict,
                ],
                [None; 3],
            ),
            OrderKind::Request => (
                [self.workerpool_restrict, Restrict::Any, Restrict::Any],
                [None, self.dataset_field, self.beneficiary],
            ),
        };
        for (i, (restrict, equal)) in restricts.into_iter().zip(equals).enumerate() {
            let bit = NONZERO << i;
            let exactly = match restrict {
                Restrict::Any => None,
                Restrict::Public => Some(Address::ZERO),
                // Unrestricted passes; a restriction must be read on the order.
                Restrict::To(_) => {
                    p.unsure |= bit;
                    None
                }
                Restrict::Strict(a) => Some(a),
            };
            for a in exactly.into_iter().chain(equal) {
                if a.is_zero() {
                    p.zero |= bit;
                } else {
                    p.one |= bit;
                    p.unsure |= bit;
                }
            }
        }
        // A saturated trust compares right with bounds below 2^64, but for `trust ≤ bound`
        // when the trust is above 2^64.
        let bound = |t: U256| -> Option<u64> { t.try_into().ok() };
        if kind == OrderKind::Workerpool {
            if let Some(t) = self.min_trust {
                match bound(t) {
                    Some(t) => p.min_trust = t,
                    None => p.always_unsure = true,
                }
            }
        }
        if kind == OrderKind::Request {
            if let Some(t) = self.max_trust {
                match bound(t) {
                    Some(t) => {
                        p.max_trust = t;
                        p.zero |= TRUST_HIGH;
                    }
                    None => p.always_unsure = true,
                }
            }
        }
        p
    }

    /// The most selective index this filter can start from.
    fn index(&self) -> Option<IndexKey> {
        self.asset
            .map(IndexKey::Asset)
            .or(self.signer.map(IndexKey::Signer))
            .or(self.category.map(IndexKey::Category))
    }
}

/// The open orders.
#[derive(Debug, Default)]
pub(crate) struct Book {
    orders: HashMap<B256, Stored>,
    sides: [Side; 4],
    next_seq: u64,
}

fn side_index(kind: OrderKind) -> usize {
    match kind {
        OrderKind::App => 0,
        OrderKind::Dataset => 1,
        OrderKind::Workerpool => 2,
        OrderKind::Request => 3,
    }
}

impl Book {
    /// The next publication sequence number.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Makes the next sequence numbers larger than `seq` (orders no longer open used them).
    pub(crate) fn seq_floor(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    /// Adds an open order (replacing one with the same hash).
    pub(crate) fn insert(&mut self, stored: Stored) {
        self.remove(&stored.hash);
        self.next_seq = self.next_seq.max(stored.seq);
        let side = &mut self.sides[side_index(stored.order.kind())];
        let key = stored.key();
        let brief = Brief::of(&stored);
        side.all.insert(key, brief);
        for index in stored.index_keys() {
            side.index.entry(index).or_default().insert(key, brief);
        }
        self.orders.insert(stored.hash, stored);
    }

    /// Takes an order out of the book.
    pub(crate) fn remove(&mut self, hash: &B256) -> Option<Stored> {
        let stored = self.orders.remove(hash)?;
        let side = &mut self.sides[side_index(stored.order.kind())];
        let key = stored.key();
        side.all.remove(&key);
        for index in stored.index_keys() {
            if let Some(set) = side.index.get_mut(&index) {
                set.remove(&key);
                if set.is_empty() {
                    side.index.remove(&index);
                }
            }
        }
        Some(stored)
    }

    pub(crate) fn get(&self, hash: &B256) -> Option<&Stored> {
        self.orders.get(hash)
    }

    /// Sets the remaining volume of an open order.
    pub(crate) fn set_remaining(&mut self, hash: &B256, remaining: u64) {
        let Some(s) = self.orders.get_mut(hash) else {
            return;
        };
        s.remaining = remaining;
        let side = &mut self.sides[side_index(s.order.kind())];
        let key = s.key();
        if let Some(brief) = side.all.get_mut(&key) {
            brief.remaining = remaining;
        }
        for index in s.index_keys() {
            if let Some(brief) = side.index.get_mut(&index).and_then(|set| set.get_mut(&key)) {
                brief.remaining = remaining;
            }
        }
    }

    /// Number of open orders of a kind.
    pub(crate) fn len(&self, kind: OrderKind) -> usize {
        self.sides[side_index(kind)].all.len()
    }

    /// Number of open orders of all kinds.
    pub(crate) fn total(&self) -> usize {
        self.sides.iter().map(|side| side.all.len()).sum()
    }

    /// Open orders of `kind` signed by `signer`.
    pub(crate) fn count_signed(&self, kind: OrderKind, signer: Address) -> usize {
        self.sides[side_index(kind)]
            .index
            .get(&IndexKey::Signer(signer))
            .map_or(0, Sorted::len)
    }

    /// Open orders indexed under `key`, any kind, in book order per kind.
    pub(crate) fn indexed(&self, key: IndexKey) -> Vec<&Stored> {
        self.indexed_iter(key).collect()
    }

    /// [`Book::indexed`], one order at a time (app orders first).
    pub(crate) fn indexed_iter(&self, key: IndexKey) -> impl Iterator<Item = &Stored> {
        self.sides
            .iter()
            .filter_map(move |side| side.index.get(&key))
            .flat_map(Sorted::keys)
            .filter_map(|k| self.orders.get(&k.hash))
    }

    /// One page of the orders of `kind` that pass `filter`, and how many pass in all.
    pub(crate) fn query(
        &self,
        kind: OrderKind,
        filter: &Filter,
        page: usize,
        page_size: usize,
    ) -> (usize, Vec<&Stored>) {
        let side = &self.sides[side_index(kind)];
        let keys = match filter.index() {
            Some(index) => match side.index.get(&index) {
                Some(set) => set,
                None => return (0, Vec::new()),
            },
            None => &side.all,
        };
        let skip = page.saturating_mul(page_size);
        let mut count = 0;
        let mut out = Vec::with_capacity(page_size.min(64));
        let plan = filter.plan(kind, filter.index());
        for (key, brief) in keys.iter() {
            let admitted = match plan.admits(brief) {
                Some(answer) => answer,
                None => self
                    .orders
                    .get(&key.hash)
                    .is_some_and(|stored| filter.admits(stored)),
            };
            if !admitted {
                continue;
            }
            if count >= skip && out.len() < page_size {
                out.extend(self.orders.get(&key.hash));
            }
            count += 1;
        }
        (count, out)
    }

    /// Every open order (for re-checks after chain events).
    pub(crate) fn all(&self) -> impl Iterator<Item = &Stored> {
        self.orders.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poco_types::{SignedOrder, WorkerpoolOrder};

    fn pool(price: u64, category: u64, seq: u64, restrict: Address) -> Stored {
        let order = WorkerpoolOrder {
            workerpool: Address::repeat_byte(1),
            workerpoolprice: U256::from(price),
            volume: U256::from(10),
            category: U256::from(category),
            trust: U256::from(seq % 3),
            requesterrestrict: restrict,
            salt: B256::from(U256::from(seq)),
            ..Default::default()
        };
        Stored {
            hash: B256::from(U256::from(seq)),
            order: AnyOrder::Workerpool(SignedOrder {
                order,
                sign: Default::default(),
            }),
            signer: Address::repeat_byte(2),
            remaining: 10,
            status: Status::Open,
            published_at: 0,
            seq,
            workerpool_api: None,
            workerpool_admission: None,
        }
    }

    #[test]
    fn sorted_by_price_then_publication_and_paged() {
        let mut book = Book::default();
        for (i, price) in [5u64, 3, 5, 1, 9].into_iter().enumerate() {
            book.insert(pool(price, 0, i as u64 + 1, Address::ZERO));
        }
        let filter = Filter {
            category: Some(0),
            ..Default::default()
        };
        let (count, page) = book.query(OrderKind::Workerpool, &filter, 0, 3);
        assert_eq!(count, 5);
        let seqs: Vec<u64> = page.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [4, 2, 1]);
        let (_, page) = book.query(OrderKind::Workerpool, &filter, 1, 3);
        let seqs: Vec<u64> = page.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [3, 5]);
        assert_eq!(
            book.query(
                OrderKind::Workerpool,
                &Filter {
                    category: Some(1),
                    ..Default::default()
                },
                0,
                10
            )
            .0,
            0
        );
    }

    #[test]
    fn restrictions_and_removal() {
        let me = Address::repeat_byte(7);
        let mut book = Book::default();
        book.insert(pool(1, 0, 1, Address::ZERO));
        book.insert(pool(1, 0, 2, me));
        book.insert(pool(1, 0, 3, Address::repeat_byte(8)));
        let count = |r: Restrict, book: &Book| {
            book.query(
                OrderKind::Workerpool,
                &Filter {
                    requester_restrict: r,
                    ..Default::default()
                },
                0,
                10,
            )
            .0
        };
        assert_eq!(count(Restrict::Public, &book), 1);
        assert_eq!(count(Restrict::Any, &book), 3);
        assert_eq!(count(Restrict::To(me), &book), 2);
        assert_eq!(count(Restrict::Strict(me), &book), 1);
        assert!(book.remove(&B256::from(U256::from(2))).is_some());
        assert_eq!(count(Restrict::Any, &book), 2);
        assert_eq!(
            book.count_signed(OrderKind::Workerpool, Address::repeat_byte(2)),
            2
        );
        assert_eq!(book.len(OrderKind::App), 0);
    }

    /// Random orders of every kind and random filters: the briefs' answers agree with the
    /// orders' ones, and every list query with a plain filter over every order.
    #[test]
    fn briefs_agree_with_orders() {
        use poco_types::{AppOrder, DatasetOrder, RequestOrder};
        use rand::{rngs::StdRng, Rng, SeedableRng};

        let mut rng = StdRng::seed_from_u64(7);
        let addresses = [
            Address::ZERO,
            Address::repeat_byte(1),
            Address::repeat_byte(2),
        ];
        let pick = |rng: &mut StdRng| addresses[rng.gen_range(0..3)];
        let tag = |rng: &mut StdRng| {
            let bits: Vec<u8> = (0..rng.gen_range(0..3))
                .map(|_| [0u8, 1, 8, 63, 64, 200][rng.gen_range(0..6)])
                .collect();
            Tag::from_bits(bits).0
        };
        let trust = |rng: &mut StdRng| match rng.gen_range(0..4) {
            0 => U256::MAX,
            1 => U256::from(u64::MAX),
            _ => U256::from(rng.gen_range(0..5u64)),
        };
        let mut book = Book::default();
        let mut all = Vec::new();
        for seq in 1..=600u64 {
            let salt = B256::from(U256::from(seq));
            let volume = U256::from(rng.gen_range(1..4u64));
            let price = U256::from(rng.gen_range(0..5u64));
            let order = match seq % 4 {
                0 => AnyOrder::App(SignedOrder {
                    order: AppOrder {
                        app: pick(&mut rng),
                        appprice: price,
                        volume,
                        tag: tag(&mut rng),
                        datasetrestrict: pick(&mut rng),
                        workerpoolrestrict: pick(&mut rng),
                        requesterrestrict: pick(&mut rng),
                        salt,
                    },
                    sign: Default::default(),
                }),
                1 => AnyOrder::Dataset(SignedOrder {
                    order: DatasetOrder {
                        dataset: pick(&mut rng),
                        datasetprice: price,
                        volume,
                        tag: tag(&mut rng),
                        apprestrict: pick(&mut rng),
                        workerpoolrestrict: pick(&mut rng),
                        requesterrestrict: pick(&mut rng),
                        salt,
                    },
                    sign: Default::default(),
                }),
                2 => AnyOrder::Workerpool(SignedOrder {
                    order: WorkerpoolOrder {
                        workerpool: pick(&mut rng),
                        workerpoolprice: price,
                        volume,
                        tag: tag(&mut rng),
                        category: [U256::ZERO, U256::from(1), U256::MAX][rng.gen_range(0..3)],
                        trust: trust(&mut rng),
                        apprestrict: pick(&mut rng),
                        datasetrestrict: pick(&mut rng),
                        requesterrestrict: pick(&mut rng),
                        salt,
                    },
                    sign: Default::default(),
                }),
                _ => AnyOrder::Request(SignedOrder {
                    order: RequestOrder {
                        app: pick(&mut rng),
                        dataset: pick(&mut rng),
                        workerpool: pick(&mut rng),
                        workerpoolmaxprice: price,
                        requester: pick(&mut rng),
                        volume,
                        tag: tag(&mut rng),
                        category: U256::from(rng.gen_range(0..2u64)),
                        trust: trust(&mut rng),
                        beneficiary: pick(&mut rng),
                        salt,
                        ..Default::default()
                    },
                    sign: Default::default(),
                }),
            };
            let stored = Stored {
                hash: B256::from(U256::from(seq)),
                remaining: rng.gen_range(1..4),
                order,
                signer: pick(&mut rng),
                status: Status::Open,
                published_at: 0,
                seq,
                workerpool_api: None,
                workerpool_admission: None,
            };
            book.insert(stored.clone());
            all.push(stored);
        }
        // Some orders leave the book, some are partly filled.
        for stored in all.iter_mut().step_by(7) {
            book.remove(&stored.hash);
            stored.status = Status::Filled;
        }
        for stored in all.iter_mut().step_by(5) {
            if stored.status == Status::Open {
                stored.remaining = 1;
                book.set_remaining(&stored.hash, 1);
            }
        }
        let open: Vec<&Stored> = all.iter().filter(|s| s.status == Status::Open).collect();

        let restrict = |rng: &mut StdRng| match rng.gen_range(0..4) {
            0 => Restrict::Public,
            1 => Restrict::Any,
            2 => Restrict::To(pick(rng)),
            _ => Restrict::Strict(pick(rng)),
        };
        let maybe = |rng: &mut StdRng| rng.gen_bool(0.3).then(|| pick(rng));
        let mut decided = 0;
        for _ in 0..3000 {
            let filter = Filter {
                asset: maybe(&mut rng),
                signer: maybe(&mut rng),
                category: rng.gen_bool(0.5).then(|| rng.gen_range(0..2)),
                dataset_field: maybe(&mut rng),
                beneficiary: maybe(&mut rng),
                app_restrict: restrict(&mut rng),
                dataset_restrict: restrict(&mut rng),
                workerpool_restrict: restrict(&mut rng),
                requester_restrict: restrict(&mut rng),
                min_tag: rng.gen_bool(0.3).then(|| Tag(tag(&mut rng))),
                max_tag: rng.gen_bool(0.3).then(|| Tag(tag(&mut rng))),
                min_trust: rng.gen_bool(0.3).then(|| trust(&mut rng)),
                max_trust: rng.gen_bool(0.3).then(|| trust(&mut rng)),
                min_volume: rng.gen_bool(0.2).then(|| rng.gen_range(0..4)),
            };
            for kind in OrderKind::ALL {
                let plan = filter.plan(kind, None);
                let expected: Vec<&Stored> = open
                    .iter()
                    .copied()
                    .filter(|s| s.order.kind() == kind && filter.admits(s))
                    .collect();
                for s in open.iter().filter(|s| s.order.kind() == kind) {
                    if let Some(answer) = plan.admits(&Brief::of(s)) {
                        decided += 1;
                        assert_eq!(answer, filter.admits(s), "{filter:?} on {s:?}");
                    }
                }
                let (count, page) = book.query(kind, &filter, 0, 1000);
                assert_eq!(count, expected.len(), "{kind:?} {filter:?}");
                let mut sorted = expected.clone();
                sorted.sort_by_key(|s| s.key());
                let hashes = |v: &[&Stored]| v.iter().map(|s| s.hash).collect::<Vec<_>>();
                assert_eq!(hashes(&page), hashes(&sorted), "{kind:?} {filter:?}");
            }
        }
        assert!(
            decided > 100_000,
            "the briefs decide most cases ({decided})"
        );
    }

    /// A view serializes as the entry.
    #[test]
    fn views_serialize_as_entries() {
        let mut with_api = pool(7, 2, 9, Address::repeat_byte(3));
        with_api.workerpool_api = Some("http://127.0.0.1:7001".into());
        with_api.published_at = 1_795_521_600_123;
        let request = Stored {
            order: AnyOrder::Request(SignedOrder {
                order: poco_types::RequestOrder {
                    app: Address::repeat_byte(5),
                    params: "{\"iexec_args\":\"a b\"}".into(),
                    ..Default::default()
                },
                sign: vec![1u8; 65].into(),
            }),
            ..pool(1, 0, 1, Address::ZERO)
        };
        for s in [pool(1, 0, 1, Address::ZERO), with_api, request] {
            assert_eq!(
                serde_json::to_value(s.view(31337)).unwrap(),
                serde_json::to_value(s.entry(31337)).unwrap()
            );
        }
    }

    /// Many inserts and removals: chunks split and merge, the set stays sorted.
    #[test]
    fn sorted_chunks() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let mut set = Sorted::default();
        let mut model = std::collections::BTreeSet::new();
        let brief = Brief::of(&pool(1, 0, 1, Address::ZERO));
        for round in 0..20_000u64 {
            let key = Key {
                price: U256::from(rng.gen_range(0..50u64)),
                seq: rng.gen_range(0..2_000),
                hash: B256::ZERO,
            };
            if round % 3 == 2 {
                set.remove(&key);
                model.remove(&key);
            } else {
                set.insert(key, brief);
                model.insert(key);
            }
            assert_eq!(set.len(), model.len());
        }
        assert!(set.chunks.len() > 4);
        assert!(set.chunks.iter().all(|c| !c.keys.is_empty()
            && c.keys.len() <= CHUNK
            && c.keys.last() == Some(&c.last)));
        assert!(set.keys().copied().eq(model.iter().copied()));
        for key in model.clone() {
            set.remove(&key);
        }
        assert!(set.is_empty() && set.chunks.is_empty());
    }
}
