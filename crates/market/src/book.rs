//! The in-memory order book: every open order, sorted the way the API lists them, with the
//! indexes the queries use. The database holds the same orders (and the closed ones); the book
//! is rebuilt from it at start.

use std::collections::{BTreeSet, HashMap};

use alloy::primitives::{Address, B256, U256};
use poco_types::{OrderKind, Tag};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

#[derive(Default, Debug)]
struct Side {
    all: BTreeSet<Key>,
    index: HashMap<IndexKey, BTreeSet<Key>>,
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
        side.all.insert(key);
        for index in stored.index_keys() {
            side.index.entry(index).or_default().insert(key);
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
        if let Some(s) = self.orders.get_mut(hash) {
            s.remaining = remaining;
        }
    }

    /// Number of open orders of a kind.
    pub(crate) fn len(&self, kind: OrderKind) -> usize {
        self.sides[side_index(kind)].all.len()
    }

    /// Open orders of `kind` signed by `signer`.
    pub(crate) fn count_signed(&self, kind: OrderKind, signer: Address) -> usize {
        self.sides[side_index(kind)]
            .index
            .get(&IndexKey::Signer(signer))
            .map_or(0, BTreeSet::len)
    }

    /// Open orders indexed under `key`, any kind, in book order per kind.
    pub(crate) fn indexed(&self, key: IndexKey) -> Vec<&Stored> {
        self.sides
            .iter()
            .filter_map(|side| side.index.get(&key))
            .flatten()
            .filter_map(|k| self.orders.get(&k.hash))
            .collect()
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
        for key in keys {
            let Some(stored) = self.orders.get(&key.hash) else {
                continue;
            };
            if !filter.admits(stored) {
                continue;
            }
            if count >= skip && out.len() < page_size {
                out.push(stored);
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
}
