//! The answers of the routes, typed: the service writes them and [`crate::MarketClient`] reads
//! them. Every successful answer is one of these inside [`Answer`] (`{"ok": true, …fields}`);
//! a refusal is [`Refusal`] (`{"ok": false, "error": …}`).

use alloy::primitives::{Address, Bytes, B256};
use poco_types::{RequestOrder, ResultLink};
use serde::{Deserialize, Serialize};

use crate::{
    auth::ChallengeData,
    dto::{CategoryEntry, Deal, OrderEntry},
};

/// A successful answer: `{"ok": true}` and the fields of `T`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer<T> {
    /// Always true.
    pub ok: bool,
    /// The answer's fields.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Answer<T> {
    /// `body` with `"ok": true`.
    pub fn ok(body: T) -> Self {
        Self { ok: true, body }
    }
}

/// A refusal: `{"ok": false, "error": …}` with a 4xx or 5xx status.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    /// Always false.
    pub ok: bool,
    /// What was refused, naming the failed check and the fix.
    pub error: String,
}

/// `GET /version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The service's version.
    pub version: String,
    /// The chain it serves.
    pub chain_id: u64,
    /// The hub (with the chain id, the orders' EIP-712 domain).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hub: Address,
}

/// `GET /challenge`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeAnswer {
    /// The challenge to sign, as EIP-712 typed data.
    pub data: ChallengeData,
}

/// `GET /categories`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryList {
    /// How many are listed.
    pub count: usize,
    /// The categories.
    pub categories: Vec<CategoryEntry>,
}

/// `POST /{type}orders`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    /// The order as listed.
    pub published: OrderEntry,
}

/// `PUT /{type}orders`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unpublished {
    /// The hashes of the orders taken out.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub unpublished: Vec<B256>,
}

/// One trade of `GET /ohlc`: the block time (ISO 8601), the workerpool price (nRLC per task)
/// and the volume.
pub type OhlcPoint = (String, u64, u64);

/// `GET /ohlc`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ohlc {
    /// The last 100 trades of the category, oldest first.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<Object>>))]
    pub ohlc: Vec<OhlcPoint>,
}

/// A task as `GET /tasks/{taskid}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// The task.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub taskid: B256,
    /// Its deal.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub dealid: B256,
    /// Its index in the deal.
    pub idx: u64,
    /// Its status (`UNSET`, `ACTIVE`, `REVEALING`, `COMPLETED`, `FAILED`).
    pub status: String,
    /// Its contribution deadline (unix seconds).
    pub contribution_deadline: u64,
    /// Its final deadline (unix seconds).
    pub final_deadline: u64,
    /// The result digest.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub result_digest: B256,
    /// The result link, when it reads as one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub results: Option<ResultLink>,
    /// The result bytes as written on chain.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub results_raw: Bytes,
}

/// `GET /tasks/{taskid}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskAnswer {
    /// The task.
    pub task: TaskView,
}

/// An app as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppInfo {
    /// Its address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Its owner.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner: Address,
    /// Its name.
    pub name: String,
    /// Its type (`WASM`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where its module is.
    pub multiaddr: String,
    /// The sha256 of its module.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub checksum: B256,
    /// Its enclave measurement (empty for non-TEE apps).
    pub mrenclave: String,
}

/// A dataset as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetInfo {
    /// Its address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Its owner.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner: Address,
    /// Its name.
    pub name: String,
    /// Where its file is.
    pub multiaddr: String,
    /// The sha256 of its file.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub checksum: B256,
}

/// A workerpool as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkerpoolInfo {
    /// Its address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Its owner.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner: Address,
    /// Its description.
    pub description: String,
    /// The share of the task's price its workers stake, percent.
    pub worker_stake_ratio: u64,
    /// The scheduler's share of the reward, percent.
    pub scheduler_reward_ratio: u64,
}

/// `GET /apps/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPage {
    /// The app.
    pub app: AppInfo,
    /// Its open orders.
    pub orders: Vec<OrderEntry>,
    /// Its last deals.
    pub deals: Vec<Deal>,
}

/// `GET /datasets/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetPage {
    /// The dataset.
    pub dataset: DatasetInfo,
    /// Its open orders.
    pub orders: Vec<OrderEntry>,
    /// Its last deals.
    pub deals: Vec<Deal>,
}

/// `GET /workerpools/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerpoolPage {
    /// The workerpool.
    pub workerpool: WorkerpoolInfo,
    /// Its open orders.
    pub orders: Vec<OrderEntry>,
    /// Its last deals.
    pub deals: Vec<Deal>,
}

/// An account's RLC in the hub (nRLC, decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountBalance {
    /// Free stake.
    pub stake: String,
    /// Locked stake.
    pub locked: String,
}

/// `GET /addresses/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressPage {
    /// The account.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Its RLC in the hub.
    pub account: AccountBalance,
    /// The apps it owns.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub apps: Vec<Address>,
    /// The datasets it owns.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub datasets: Vec<Address>,
    /// The workerpools it owns.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub workerpools: Vec<Address>,
    /// Its open orders.
    pub orders: Vec<OrderEntry>,
    /// Its last deals, as requester or beneficiary.
    pub deals: Vec<Deal>,
}

/// The prices of a fill offer (nRLC, decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FillPrice {
    /// The app's price per task.
    pub app: String,
    /// The dataset's price per task (0 without a dataset).
    pub dataset: String,
    /// The workerpool's price per task.
    pub workerpool: String,
    /// All three per task.
    pub per_task: String,
    /// For the whole volume.
    pub total: String,
}

/// `GET /fill`: the best offer for a run and the request order to sign.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FillOffer {
    /// The app order.
    pub apporder: OrderEntry,
    /// The dataset order, when a dataset is used.
    pub datasetorder: Option<OrderEntry>,
    /// The workerpool order.
    pub workerpoolorder: OrderEntry,
    /// The prices.
    pub price: FillPrice,
    /// The request order as EIP-712 typed data, for `eth_signTypedData_v4`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub typed_data: serde_json::Value,
    /// The request order to sign.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub requestorder: RequestOrder,
    /// The `poco run` command that makes the same deal.
    pub command: String,
}

/// `POST /fill/transaction`: the matching transaction to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FillTransaction {
    /// The hub.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub to: Address,
    /// The calldata (`matchOrders` or `matchOrdersFast`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub data: Bytes,
    /// Whether it is the fast path.
    pub fast: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_ok_and_their_fields() {
        let answer = Answer::ok(Unpublished {
            unpublished: vec![B256::ZERO],
        });
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ok": true, "unpublished": [B256::ZERO]})
        );
        let back: Answer<Unpublished> = serde_json::from_value(json).unwrap();
        assert_eq!(back.body.unpublished, vec![B256::ZERO]);
        let ohlc = serde_json::to_value(Ohlc {
            ohlc: vec![("2026-01-01T00:00:00.000Z".into(), 5, 2)],
        })
        .unwrap();
        assert_eq!(
            ohlc["ohlc"][0],
            serde_json::json!(["2026-01-01T00:00:00.000Z", 5, 2])
        );
    }
}
