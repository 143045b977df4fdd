//! The market API's order and deal shapes (see the market's `API.md`), shared by the service
//! and [`crate::MarketClient`].

use alloy::primitives::{Address, B256, U256};
use poco_types::{
    AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, SignedOrder, Tag, WorkerpoolOrder,
};
use serde::{Deserialize, Serialize};

/// Where an order stands in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Listed, with volume left.
    Open,
    /// Its whole volume was matched.
    Filled,
    /// Closed on chain by its owner.
    Canceled,
    /// Can no longer match: the asset changed owner or the signer's stake fell too low.
    Dead,
}

impl Status {
    /// The name stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Filled => "filled",
            Self::Canceled => "canceled",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "filled" => Self::Filled,
            "canceled" => Self::Canceled,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// A signed order of any of the four kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyOrder {
    /// An app order.
    App(SignedOrder<AppOrder>),
    /// A dataset order.
    Dataset(SignedOrder<DatasetOrder>),
    /// A workerpool order.
    Workerpool(SignedOrder<WorkerpoolOrder>),
    /// A request order.
    Request(SignedOrder<RequestOrder>),
}

macro_rules! each {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            AnyOrder::App($o) => $e,
            AnyOrder::Dataset($o) => $e,
            AnyOrder::Workerpool($o) => $e,
            AnyOrder::Request($o) => $e,
        }
    };
}

impl AnyOrder {
    /// Parses the JSON of a signed order of `kind`.
    pub fn from_json(kind: OrderKind, value: serde_json::Value) -> serde_json::Result<Self> {
        Ok(match kind {
            OrderKind::App => Self::App(serde_json::from_value(value)?),
            OrderKind::Dataset => Self::Dataset(serde_json::from_value(value)?),
            OrderKind::Workerpool => Self::Workerpool(serde_json::from_value(value)?),
            OrderKind::Request => Self::Request(serde_json::from_value(value)?),
        })
    }

    /// The signed order as JSON (the SDK's shape).
    pub fn to_json(&self) -> serde_json::Value {
        each!(self, o => serde_json::to_value(o)).unwrap_or_default()
    }

    /// Which order this is.
    pub fn kind(&self) -> OrderKind {
        match self {
            Self::App(_) => OrderKind::App,
            Self::Dataset(_) => OrderKind::Dataset,
            Self::Workerpool(_) => OrderKind::Workerpool,
            Self::Request(_) => OrderKind::Request,
        }
    }

    /// The EIP-712 order hash.
    pub fn hash(&self, domain: &poco_types::Domain) -> B256 {
        each!(self, o => o.order_hash(domain))
    }

    /// The signature (`0x` when presigned).
    pub fn sign(&self) -> &[u8] {
        each!(self, o => &o.sign[..])
    }

    /// The order's volume.
    pub fn volume(&self) -> U256 {
        each!(self, o => o.order.volume())
    }

    /// The order's tag.
    pub fn tag(&self) -> Tag {
        each!(self, o => o.order.tag())
    }

    /// The price the book sorts on: the asking price, or a request's workerpool max price.
    pub fn price(&self) -> U256 {
        match self {
            Self::App(o) => o.order.appprice,
            Self::Dataset(o) => o.order.datasetprice,
            Self::Workerpool(o) => o.order.workerpoolprice,
            Self::Request(o) => o.order.workerpoolmaxprice,
        }
    }

    /// The asset the order sells (app, dataset or workerpool), or a request's app.
    pub fn asset(&self) -> Address {
        match self {
            Self::App(o) => o.order.app,
            Self::Dataset(o) => o.order.dataset,
            Self::Workerpool(o) => o.order.workerpool,
            Self::Request(o) => o.order.app,
        }
    }

    /// The category (workerpool and request orders).
    pub fn category(&self) -> Option<u64> {
        match self {
            Self::Workerpool(o) => o.order.category.try_into().ok(),
            Self::Request(o) => o.order.category.try_into().ok(),
            _ => None,
        }
    }
}

/// An order as the book lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderEntry {
    /// The EIP-712 order hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub order_hash: B256,
    /// The chain.
    pub chain_id: u64,
    /// The signed order, in the SDK's shape.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub order: serde_json::Value,
    /// Volume not matched yet.
    pub remaining: u64,
    /// Where the order stands.
    pub status: Status,
    /// Who signed it: the asset owner, or the requester.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signer: Address,
    /// When it was published (ISO 8601, UTC, milliseconds).
    pub publication_timestamp: String,
    /// The pool's scheduler URL (workerpool orders whose publisher gave it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerpool_api: Option<String>,
    /// Who may work for the pool, as its scheduler publishes it (workerpool orders; poco):
    /// one of [`ADMISSION_MODES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerpool_admission: Option<String>,
}

/// The admission modes a workerpool order's `workerpoolAdmission` may name: `closed` (the
/// operator's allowlist of workers), `open` (anyone, replicated tasks only) and
/// `unrestricted` (development pools).
pub const ADMISSION_MODES: [&str; 3] = ["closed", "open", "unrestricted"];

impl OrderEntry {
    /// The signed order, typed.
    pub fn typed<O: Order>(&self) -> serde_json::Result<SignedOrder<O>> {
        serde_json::from_value(self.order.clone())
    }
}

/// A page of orders.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    /// Matching orders in all pages.
    pub count: u64,
    /// This page.
    pub orders: Vec<OrderEntry>,
    /// The next page's index, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u64>,
}

/// One side of a deal: the asset, its owner and its price.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealAsset {
    /// The asset's address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pointer: Address,
    /// Its owner at the time of the deal.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner: Address,
    /// Price per task, nRLC.
    #[serde(with = "dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub price: U256,
}

/// A deal, as the market records it from `OrdersMatched`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deal {
    /// The deal id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub dealid: B256,
    /// The chain.
    pub chain_id: u64,
    /// The app side.
    pub app: DealAsset,
    /// The dataset side (zero when none).
    pub dataset: DealAsset,
    /// The workerpool side.
    pub workerpool: DealAsset,
    /// The app order's hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub app_hash: B256,
    /// The dataset order's hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub dataset_hash: B256,
    /// The workerpool order's hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub workerpool_hash: B256,
    /// The request order's hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub request_hash: B256,
    /// Who pays.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub requester: Address,
    /// Who gets the results.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub beneficiary: Address,
    /// The callback contract (zero when none).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub callback: Address,
    /// The category.
    pub category: u64,
    /// The deal's tag.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tag: B256,
    /// The trust asked.
    pub trust: u64,
    /// Number of tasks.
    pub volume: u64,
    /// Index of the first task.
    pub bot_first: u64,
    /// Number of tasks (bag of tasks size).
    pub bot_size: u64,
    /// The deal parameters (JSON string).
    pub params: String,
    /// Matched on the fast path.
    pub fast: bool,
    /// Start time (unix seconds).
    pub start_time: u64,
    /// The block of the match.
    pub block_number: u64,
    /// Its timestamp (ISO 8601).
    pub block_timestamp: String,
    /// The matching transaction.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub transaction_hash: B256,
    /// The task ids.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub tasks: Vec<B256>,
}

/// A page of deals.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DealPage {
    /// Matching deals in all pages.
    pub count: u64,
    /// This page, newest first.
    pub deals: Vec<Deal>,
    /// The next page's index, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u64>,
}

/// A category as the market lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CategoryEntry {
    /// Its index.
    pub catid: u64,
    /// Its name (XS, S, …).
    pub name: String,
    /// Its description.
    pub description: String,
    /// The reference work-clock time, seconds.
    pub work_clock_time_ref: u64,
    /// The chain.
    pub chain_id: u64,
}

/// The body of `POST /{type}orders` (unknown fields are refused).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRequest {
    /// The signed order.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub order: serde_json::Value,
    /// The pool's scheduler URL (workerpool orders; poco).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerpool_api: Option<String>,
    /// The pool's admission mode, one of [`ADMISSION_MODES`] (workerpool orders; poco).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerpool_admission: Option<String>,
}

/// What `PUT /{type}orders` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnpublishTarget {
    /// The order named by `orderHash` (`unpublish_orderHash`, as iExec spells it).
    #[serde(rename = "unpublish_orderHash")]
    UnpublishOrderHash,
    /// The last published open order of the resource.
    UnpublishLast,
    /// Every open order of the resource.
    UnpublishAll,
}

/// The body of `PUT /{type}orders` (unknown fields are refused).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnpublishRequest {
    /// What to remove.
    pub target: Option<UnpublishTarget>,
    /// With `unpublish_orderHash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub order_hash: Option<B256>,
    /// The resource of `unpublish_last` / `unpublish_all` on app orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub app: Option<Address>,
    /// … on dataset orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub dataset: Option<Address>,
    /// … on workerpool orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub workerpool: Option<Address>,
    /// … on request orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub requester: Option<Address>,
}

/// Formats unix milliseconds as ISO 8601 UTC (`2026-11-24T10:00:00.000Z`; the number itself
/// outside years -9999..=9999).
pub fn iso8601(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|at| {
            at.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| millis.to_string())
}

/// `U256` as a decimal string (numbers accepted on input).
pub(crate) mod dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            S(String),
            N(u64),
        }
        match Num::deserialize(d)? {
            Num::S(s) => s.parse().map_err(serde::de::Error::custom),
            Num::N(n) => Ok(U256::from(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_795_521_600_000), "2026-11-24T12:00:00.000Z");
    }

    #[test]
    fn status_names_round_trip() {
        for s in [Status::Open, Status::Filled, Status::Canceled, Status::Dead] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert_eq!(Status::parse("OPEN"), None);
    }
}
