#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod category;
pub mod domain;
mod error;
pub mod ids;
pub mod lifecycle;
pub mod order;
pub mod params;
pub mod result;
mod serde_util;
pub mod signature;
pub mod tag;
pub mod units;

pub use category::{
    Category, CONTRIBUTION_DEADLINE_RATIO, DEFAULT_CATEGORIES, FINAL_DEADLINE_RATIO,
    GROUPMEMBER_PURPOSE, KITTY_ADDRESS, KITTY_MIN, KITTY_RATIO, REVEAL_DEADLINE_RATIO,
    WORKERPOOL_STAKE_RATIO,
};
pub use domain::{Domain, DOMAIN_NAME, DOMAIN_VERSION, EIP712_DOMAIN_TYPEHASH};
pub use error::{Error, Result};
pub use ids::{deal_id, task_id};
pub use lifecycle::{Fault, PoolTaskState, ReplicateState, TaskStatus, UnknownName, UnknownStatus};
pub use order::{
    AppOrder, AppOrderOperation, ChainOrders, DatasetOrder, DatasetOrderOperation, Order,
    OrderKind, OrderOperation, OrdersFile, RequestOrder, RequestOrderOperation, SignedAppOrder,
    SignedDatasetOrder, SignedOperation, SignedOrder, SignedRequestOrder, SignedWorkerpoolOrder,
    WorkerpoolOrder, WorkerpoolOrderOperation,
};
pub use params::DealParams;
pub use result::{
    authorization_hash, callback_digest, enclave_hash, fast_enclave_hash, recover_enclave,
    result_hash, result_seal, sha256_digest, sign_enclave, sign_enclave_async, sign_enclave_fast,
    verify_enclave, Contribution, ResultLink, WorkerAuthorization,
};
pub use tag::Tag;
pub use units::{format_rlc, parse_rlc, NRLC_PER_RLC};

/// Re-exports of the primitive types used in this crate's API.
pub mod primitives {
    pub use alloy_primitives::{address, b256, hex, keccak256, Address, Bytes, B256, U256};
}
