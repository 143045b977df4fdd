//! The query filters of the list routes, typed: one struct per order kind ([`AppOrderQuery`],
//! [`DatasetOrderQuery`], [`WorkerpoolOrderQuery`], [`RequestOrderQuery`]), [`DealQuery`] and
//! the page ([`Page`]). Each writes the query string parameters of `API.md`.

use std::str::FromStr;

use alloy::primitives::{Address, B256};
use poco_types::{OrderKind, Tag};

/// Query string pairs, as `reqwest` sends them.
pub type Pairs = Vec<(&'static str, String)>;

/// Which orders restricted to an app, dataset, workerpool or requester a list includes (absent:
/// only the orders open to everyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// `any`: every order, whatever its restriction.
    Any,
    /// An address: the orders open to everyone and those restricted to it.
    To(Address),
    /// An address with `is…Strict=true`: only the orders restricted to it.
    Strict(Address),
}

impl FromStr for Restriction {
    type Err = String;

    /// `any` or an address.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "any" => Ok(Self::Any),
            _ => s
                .parse()
                .map(Self::To)
                .map_err(|_| format!("{s:?} is neither an address nor `any`")),
        }
    }
}

/// Writes `name` (and `strict` when strict) for a restriction.
fn restriction(out: &mut Pairs, name: &'static str, strict: &'static str, r: Option<Restriction>) {
    match r {
        None => {}
        Some(Restriction::Any) => out.push((name, "any".into())),
        Some(Restriction::To(a)) => out.push((name, a.to_string())),
        Some(Restriction::Strict(a)) => {
            out.push((name, a.to_string()));
            out.push((strict, "true".into()));
        }
    }
}

/// Writes `name` when `value` is there.
fn opt(out: &mut Pairs, name: &'static str, value: Option<impl ToString>) {
    if let Some(v) = value {
        out.push((name, v.to_string()));
    }
}

/// The filters every order list takes: tags and volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommonFilters {
    /// `minTag`: orders whose tag holds all these bits.
    pub min_tag: Option<Tag>,
    /// `maxTag`: orders whose tag holds no bit beyond these.
    pub max_tag: Option<Tag>,
    /// `minVolume`: orders with at least this volume left.
    pub min_volume: Option<u64>,
}

impl CommonFilters {
    fn write(&self, out: &mut Pairs) {
        opt(out, "minTag", self.min_tag.map(|t| t.0));
        opt(out, "maxTag", self.max_tag.map(|t| t.0));
        opt(out, "minVolume", self.min_volume);
    }
}

/// `GET /apporders`: `app` or `app_owner` is required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppOrderQuery {
    /// `app`.
    pub app: Option<Address>,
    /// `appOwner`.
    pub app_owner: Option<Address>,
    /// `dataset` (and `isDatasetStrict`).
    pub dataset: Option<Restriction>,
    /// `workerpool` (and `isWorkerpoolStrict`).
    pub workerpool: Option<Restriction>,
    /// `requester` (and `isRequesterStrict`).
    pub requester: Option<Restriction>,
    /// Tags and volume.
    pub common: CommonFilters,
}

/// `GET /datasetorders`: `dataset` or `dataset_owner` is required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatasetOrderQuery {
    /// `dataset`.
    pub dataset: Option<Address>,
    /// `datasetOwner`.
    pub dataset_owner: Option<Address>,
    /// `app` (and `isAppStrict`).
    pub app: Option<Restriction>,
    /// `workerpool` (and `isWorkerpoolStrict`).
    pub workerpool: Option<Restriction>,
    /// `requester` (and `isRequesterStrict`).
    pub requester: Option<Restriction>,
    /// Tags and volume.
    pub common: CommonFilters,
}

/// `GET /workerpoolorders`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerpoolOrderQuery {
    /// `workerpool`.
    pub workerpool: Option<Address>,
    /// `workerpoolOwner`.
    pub workerpool_owner: Option<Address>,
    /// `category`.
    pub category: Option<u64>,
    /// `app` (and `isAppStrict`).
    pub app: Option<Restriction>,
    /// `dataset` (and `isDatasetStrict`).
    pub dataset: Option<Restriction>,
    /// `requester` (and `isRequesterStrict`).
    pub requester: Option<Restriction>,
    /// `minTrust`: pools that accept at least this trust.
    pub min_trust: Option<u64>,
    /// Tags and volume.
    pub common: CommonFilters,
}

/// `GET /requestorders`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOrderQuery {
    /// `app`.
    pub app: Option<Address>,
    /// `dataset`.
    pub dataset: Option<Address>,
    /// `requester`.
    pub requester: Option<Address>,
    /// `beneficiary`.
    pub beneficiary: Option<Address>,
    /// `category`.
    pub category: Option<u64>,
    /// `maxTrust`: requests that ask for at most this trust.
    pub max_trust: Option<u64>,
    /// `workerpool` (and `isWorkerpoolStrict`); absent: every request.
    pub workerpool: Option<Restriction>,
    /// Tags and volume.
    pub common: CommonFilters,
}

/// The filters of one order list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderQuery {
    /// App orders.
    App(AppOrderQuery),
    /// Dataset orders.
    Dataset(DatasetOrderQuery),
    /// Workerpool orders.
    Workerpool(WorkerpoolOrderQuery),
    /// Request orders.
    Request(RequestOrderQuery),
}

impl OrderQuery {
    /// The kind of orders listed.
    pub fn kind(&self) -> OrderKind {
        match self {
            Self::App(_) => OrderKind::App,
            Self::Dataset(_) => OrderKind::Dataset,
            Self::Workerpool(_) => OrderKind::Workerpool,
            Self::Request(_) => OrderKind::Request,
        }
    }

    /// The filters common to every kind.
    pub fn common_mut(&mut self) -> &mut CommonFilters {
        match self {
            Self::App(q) => &mut q.common,
            Self::Dataset(q) => &mut q.common,
            Self::Workerpool(q) => &mut q.common,
            Self::Request(q) => &mut q.common,
        }
    }

    /// The query string parameters.
    pub fn pairs(&self) -> Pairs {
        let mut out = Pairs::new();
        let common = match self {
            Self::App(q) => {
                opt(&mut out, "app", q.app);
                opt(&mut out, "appOwner", q.app_owner);
                restriction(&mut out, "dataset", "isDatasetStrict", q.dataset);
                restriction(&mut out, "workerpool", "isWorkerpoolStrict", q.workerpool);
                restriction(&mut out, "requester", "isRequesterStrict", q.requester);
                q.common
            }
            Self::Dataset(q) => {
                opt(&mut out, "dataset", q.dataset);
                opt(&mut out, "datasetOwner", q.dataset_owner);
                restriction(&mut out, "app", "isAppStrict", q.app);
                restriction(&mut out, "workerpool", "isWorkerpoolStrict", q.workerpool);
                restriction(&mut out, "requester", "isRequesterStrict", q.requester);
                q.common
            }
            Self::Workerpool(q) => {
                opt(&mut out, "workerpool", q.workerpool);
                opt(&mut out, "workerpoolOwner", q.workerpool_owner);
                opt(&mut out, "category", q.category);
                restriction(&mut out, "app", "isAppStrict", q.app);
                restriction(&mut out, "dataset", "isDatasetStrict", q.dataset);
                restriction(&mut out, "requester", "isRequesterStrict", q.requester);
                opt(&mut out, "minTrust", q.min_trust);
                q.common
            }
            Self::Request(q) => {
                opt(&mut out, "app", q.app);
                opt(&mut out, "dataset", q.dataset);
                opt(&mut out, "requester", q.requester);
                opt(&mut out, "beneficiary", q.beneficiary);
                opt(&mut out, "category", q.category);
                opt(&mut out, "maxTrust", q.max_trust);
                restriction(&mut out, "workerpool", "isWorkerpoolStrict", q.workerpool);
                q.common
            }
        };
        common.write(&mut out);
        out
    }
}

macro_rules! into_query {
    ($($t:ident => $v:ident),+) => {$(
        impl From<$t> for OrderQuery {
            fn from(q: $t) -> Self {
                Self::$v(q)
            }
        }
    )+};
}

into_query!(
    AppOrderQuery => App,
    DatasetOrderQuery => Dataset,
    WorkerpoolOrderQuery => Workerpool,
    RequestOrderQuery => Request
);

/// `GET /deals`: every filter is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DealQuery {
    /// `category`.
    pub category: Option<u64>,
    /// `requester`.
    pub requester: Option<Address>,
    /// `beneficiary`.
    pub beneficiary: Option<Address>,
    /// `app`.
    pub app: Option<Address>,
    /// `dataset`.
    pub dataset: Option<Address>,
    /// `workerpool`.
    pub workerpool: Option<Address>,
    /// `appOwner`.
    pub app_owner: Option<Address>,
    /// `datasetOwner`.
    pub dataset_owner: Option<Address>,
    /// `workerpoolOwner`.
    pub workerpool_owner: Option<Address>,
    /// `apporderHash`.
    pub apporder_hash: Option<B256>,
    /// `datasetorderHash`.
    pub datasetorder_hash: Option<B256>,
    /// `workerpoolorderHash`.
    pub workerpoolorder_hash: Option<B256>,
    /// `requestorderHash`.
    pub requestorder_hash: Option<B256>,
}

impl DealQuery {
    /// The query string parameters.
    pub fn pairs(&self) -> Pairs {
        let mut out = Pairs::new();
        opt(&mut out, "category", self.category);
        for (name, a) in [
            ("requester", self.requester),
            ("beneficiary", self.beneficiary),
            ("app", self.app),
            ("dataset", self.dataset),
            ("workerpool", self.workerpool),
            ("appOwner", self.app_owner),
            ("datasetOwner", self.dataset_owner),
            ("workerpoolOwner", self.workerpool_owner),
        ] {
            opt(&mut out, name, a);
        }
        for (name, h) in [
            ("apporderHash", self.apporder_hash),
            ("datasetorderHash", self.datasetorder_hash),
            ("workerpoolorderHash", self.workerpoolorder_hash),
            ("requestorderHash", self.requestorder_hash),
        ] {
            opt(&mut out, name, h);
        }
        out
    }
}

/// A page of a list: `pageIndex` and `pageSize` (10 to 1000; the market's default is 20).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// `pageIndex`, from 0.
    pub index: Option<u64>,
    /// `pageSize`.
    pub size: Option<u64>,
}

impl Page {
    /// Page `index` of `size` entries.
    pub fn new(index: u64, size: u64) -> Self {
        Self {
            index: Some(index),
            size: Some(size),
        }
    }

    /// Adds the page's parameters to `out`.
    pub fn write(&self, out: &mut Pairs) {
        opt(out, "pageSize", self.size);
        opt(out, "pageIndex", self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_write_the_api_names() {
        let a = Address::repeat_byte(1);
        let q = OrderQuery::from(WorkerpoolOrderQuery {
            workerpool: Some(a),
            app: Some(Restriction::Any),
            requester: Some(Restriction::Strict(a)),
            min_trust: Some(3),
            common: CommonFilters {
                min_volume: Some(2),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(q.kind(), OrderKind::Workerpool);
        assert_eq!(
            q.pairs(),
            vec![
                ("workerpool", a.to_string()),
                ("app", "any".into()),
                ("requester", a.to_string()),
                ("isRequesterStrict", "true".into()),
                ("minTrust", "3".into()),
                ("minVolume", "2".into()),
            ]
        );
        assert_eq!("any".parse(), Ok(Restriction::Any));
        assert_eq!(a.to_string().parse(), Ok(Restriction::To(a)));
        assert!("0x12".parse::<Restriction>().is_err());
        let deals = DealQuery {
            requestorder_hash: Some(B256::repeat_byte(2)),
            ..Default::default()
        };
        assert_eq!(
            deals.pairs(),
            vec![("requestorderHash", B256::repeat_byte(2).to_string())]
        );
    }
}

/// The query parameters of the lists for the OpenAPI document (feature `openapi`).
#[cfg(feature = "openapi")]
mod openapi {
    use utoipa::{
        openapi::{
            path::{Parameter, ParameterBuilder, ParameterIn},
            schema::{ObjectBuilder, Type},
            Required,
        },
        IntoParams,
    };

    use super::*;

    /// What a parameter holds.
    #[derive(Clone, Copy)]
    enum Kind {
        /// An address.
        Addr,
        /// A restriction: an address or `any`, with its `is…Strict` flag.
        Restrict(&'static str),
        /// A non-negative integer.
        Int,
        /// A tag: bytes32 hex or names like `tee,gpu`.
        Tags,
        /// A 32-byte hash.
        H32,
    }

    fn parameter(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .schema(Some(schema))
            .description(Some(description))
            .build()
    }

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    /// The parameters of `fields`, then the tag and volume filters when `common`.
    fn parameters(fields: &[(&str, Kind)], common: bool) -> Vec<Parameter> {
        let mut out = Vec::new();
        for (name, kind) in fields {
            out.push(match kind {
                Kind::Addr => parameter(name, string(), "an address"),
                Kind::H32 => parameter(name, string(), "a 32-byte hash"),
                Kind::Tags => parameter(name, string(), "bytes32 hex, or names like tee,gpu"),
                Kind::Int => parameter(
                    name,
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                    "a non-negative integer",
                ),
                Kind::Restrict(_) => parameter(
                    name,
                    string(),
                    "absent: only orders open to everyone; an address: also those restricted to \
                     it; `any`: every order",
                ),
            });
            if let Kind::Restrict(strict) = kind {
                out.push(parameter(
                    strict,
                    ObjectBuilder::new().schema_type(Type::Boolean),
                    "only the orders restricted to the address",
                ));
            }
        }
        if common {
            out.extend(parameters(
                &[
                    ("minTag", Kind::Tags),
                    ("maxTag", Kind::Tags),
                    ("minVolume", Kind::Int),
                ],
                false,
            ));
        }
        out
    }

    macro_rules! params {
        ($t:ty, $common:expr, [$(($name:literal, $kind:expr)),* $(,)?]) => {
            impl IntoParams for $t {
                fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                    parameters(&[$(($name, $kind)),*], $common)
                }
            }
        };
    }

    use Kind::*;

    params!(
        AppOrderQuery,
        true,
        [
            ("app", Addr),
            ("appOwner", Addr),
            ("dataset", Restrict("isDatasetStrict")),
            ("workerpool", Restrict("isWorkerpoolStrict")),
            ("requester", Restrict("isRequesterStrict")),
        ]
    );
    params!(
        DatasetOrderQuery,
        true,
        [
            ("dataset", Addr),
            ("datasetOwner", Addr),
            ("app", Restrict("isAppStrict")),
            ("workerpool", Restrict("isWorkerpoolStrict")),
            ("requester", Restrict("isRequesterStrict")),
        ]
    );
    params!(
        WorkerpoolOrderQuery,
        true,
        [
            ("workerpool", Addr),
            ("workerpoolOwner", Addr),
            ("category", Int),
            ("app", Restrict("isAppStrict")),
            ("dataset", Restrict("isDatasetStrict")),
            ("requester", Restrict("isRequesterStrict")),
            ("minTrust", Int),
        ]
    );
    params!(
        RequestOrderQuery,
        true,
        [
            ("app", Addr),
            ("dataset", Addr),
            ("requester", Addr),
            ("beneficiary", Addr),
            ("category", Int),
            ("maxTrust", Int),
            ("workerpool", Restrict("isWorkerpoolStrict")),
        ]
    );
    params!(
        DealQuery,
        false,
        [
            ("category", Int),
            ("requester", Addr),
            ("beneficiary", Addr),
            ("app", Addr),
            ("dataset", Addr),
            ("workerpool", Addr),
            ("appOwner", Addr),
            ("datasetOwner", Addr),
            ("workerpoolOwner", Addr),
            ("apporderHash", H32),
            ("datasetorderHash", H32),
            ("workerpoolorderHash", H32),
            ("requestorderHash", H32),
        ]
    );
    params!(Page, false, [("pageIndex", Int), ("pageSize", Int)]);

    impl OrderQuery {
        /// The query parameters of the list of `kind` (feature `openapi`).
        pub fn parameters(kind: OrderKind) -> Vec<Parameter> {
            let none = || None;
            match kind {
                OrderKind::App => AppOrderQuery::into_params(none),
                OrderKind::Dataset => DatasetOrderQuery::into_params(none),
                OrderKind::Workerpool => WorkerpoolOrderQuery::into_params(none),
                OrderKind::Request => RequestOrderQuery::into_params(none),
            }
        }
    }
}
