//! Conversions between the protocol types of `poco-types` and the ABI structures.

use crate::bindings::hub::IexecLibOrders_v5 as abi;
use poco_types::{SignedAppOrder, SignedDatasetOrder, SignedRequestOrder, SignedWorkerpoolOrder};

impl From<&SignedAppOrder> for abi::AppOrder {
    fn from(s: &SignedAppOrder) -> Self {
        let o = &s.order;
        Self {
            app: o.app,
            appprice: o.appprice,
            volume: o.volume,
            tag: o.tag,
            datasetrestrict: o.datasetrestrict,
            workerpoolrestrict: o.workerpoolrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: s.sign.clone(),
        }
    }
}

impl From<&SignedDatasetOrder> for abi::DatasetOrder {
    fn from(s: &SignedDatasetOrder) -> Self {
        let o = &s.order;
        Self {
            dataset: o.dataset,
            datasetprice: o.datasetprice,
            volume: o.volume,
            tag: o.tag,
            apprestrict: o.apprestrict,
            workerpoolrestrict: o.workerpoolrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: s.sign.clone(),
        }
    }
}

impl From<&SignedWorkerpoolOrder> for abi::WorkerpoolOrder {
    fn from(s: &SignedWorkerpoolOrder) -> Self {
        let o = &s.order;
        Self {
            workerpool: o.workerpool,
            workerpoolprice: o.workerpoolprice,
            volume: o.volume,
            tag: o.tag,
            category: o.category,
            trust: o.trust,
            apprestrict: o.apprestrict,
            datasetrestrict: o.datasetrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: s.sign.clone(),
        }
    }
}

impl From<&SignedRequestOrder> for abi::RequestOrder {
    fn from(s: &SignedRequestOrder) -> Self {
        let o = &s.order;
        Self {
            app: o.app,
            appmaxprice: o.appmaxprice,
            dataset: o.dataset,
            datasetmaxprice: o.datasetmaxprice,
            workerpool: o.workerpool,
            workerpoolmaxprice: o.workerpoolmaxprice,
            requester: o.requester,
            volume: o.volume,
            tag: o.tag,
            category: o.category,
            trust: o.trust,
            beneficiary: o.beneficiary,
            callback: o.callback,
            params: o.params.clone(),
            salt: o.salt,
            sign: s.sign.clone(),
        }
    }
}

/// The ABI form of "no dataset": every field zero.
pub fn no_dataset() -> abi::DatasetOrder {
    abi::DatasetOrder {
        dataset: Default::default(),
        datasetprice: Default::default(),
        volume: Default::default(),
        tag: Default::default(),
        apprestrict: Default::default(),
        workerpoolrestrict: Default::default(),
        requesterrestrict: Default::default(),
        salt: Default::default(),
        sign: Default::default(),
    }
}

/// Any of the four signed orders, for operations that take one of each kind.
#[derive(Clone, Debug)]
pub enum AnySignedOrder {
    /// An app order.
    App(SignedAppOrder),
    /// A dataset order.
    Dataset(SignedDatasetOrder),
    /// A workerpool order.
    Workerpool(SignedWorkerpoolOrder),
    /// A request order.
    Request(SignedRequestOrder),
}

impl AnySignedOrder {
    /// The order's EIP-712 hash (its id on chain).
    pub fn order_hash(&self, domain: &poco_types::Domain) -> alloy::primitives::B256 {
        match self {
            Self::App(o) => o.order_hash(domain),
            Self::Dataset(o) => o.order_hash(domain),
            Self::Workerpool(o) => o.order_hash(domain),
            Self::Request(o) => o.order_hash(domain),
        }
    }

    /// The order's volume.
    pub fn volume(&self) -> alloy::primitives::U256 {
        match self {
            Self::App(o) => o.order.volume,
            Self::Dataset(o) => o.order.volume,
            Self::Workerpool(o) => o.order.volume,
            Self::Request(o) => o.order.volume,
        }
    }

    /// The `manage*Order` call that applies `operation` to this order, sent by its owner.
    pub(crate) fn manage<P: alloy::providers::Provider>(
        &self,
        hub: &crate::bindings::hub::IPoco::IPocoInstance<P>,
        operation: poco_types::OrderOperation,
    ) -> alloy::rpc::types::TransactionRequest {
        let operation = operation as u8;
        let sign = alloy::primitives::Bytes::new();
        match self {
            Self::App(o) => hub
                .manageAppOrder(abi::AppOrderOperation {
                    order: o.into(),
                    operation,
                    sign,
                })
                .into_transaction_request(),
            Self::Dataset(o) => hub
                .manageDatasetOrder(abi::DatasetOrderOperation {
                    order: o.into(),
                    operation,
                    sign,
                })
                .into_transaction_request(),
            Self::Workerpool(o) => hub
                .manageWorkerpoolOrder(abi::WorkerpoolOrderOperation {
                    order: o.into(),
                    operation,
                    sign,
                })
                .into_transaction_request(),
            Self::Request(o) => hub
                .manageRequestOrder(abi::RequestOrderOperation {
                    order: o.into(),
                    operation,
                    sign,
                })
                .into_transaction_request(),
        }
    }
}
