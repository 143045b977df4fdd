//! The four PoCo orders, their EIP-712 hashing, signing and JSON form.
//!
//! The structs are declared with alloy's `sol!` so that their EIP-712 type strings are exactly
//! the contracts' ones (`AppOrder(address app,uint256 appprice,…)`). `sign` is not part of the
//! hashed struct: a signed order is a [`SignedOrder`] wrapping the order and its signature.
//!
//! JSON follows the iExec SDK's `orders.json` and the market API: field names as in the type
//! strings, `uint256` amounts as decimal strings (numbers are accepted on input), checksummed
//! addresses, `bytes32` as hex and `sign` as hex:
//!
//! ```json
//! {"app":"0x…","appprice":"1000000000","volume":"1000000","tag":"0x…09",
//!  "datasetrestrict":"0x0000000000000000000000000000000000000000", …,
//!  "salt":"0x…","sign":"0x…"}
//! ```

use crate::{
    signature::{check_signer, recover_digest, sign_digest, sign_digest_async},
    Domain, Error, Result, Tag,
};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer::{Signer, SignerSync};
use alloy_sol_types::{sol, SolStruct};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;

sol! {
    /// An app owner's offer: run `app` for `appprice` nRLC per task, `volume` times.
    #[derive(Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    struct AppOrder {
        /// The app contract.
        #[serde(with = "crate::serde_util::checksummed")]
        address app;
        /// Price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 appprice;
        /// Number of tasks the order may take part in.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 volume;
        /// Required features ([`Tag`]).
        #[serde(with = "crate::serde_util::tag_b256")]
        bytes32 tag;
        /// Only this dataset (or members of this ERC-734 group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address datasetrestrict;
        /// Only this workerpool (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address workerpoolrestrict;
        /// Only this requester (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address requesterrestrict;
        /// Makes the order unique.
        bytes32 salt;
    }

    /// A dataset owner's offer: use `dataset` for `datasetprice` nRLC per task.
    #[derive(Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    struct DatasetOrder {
        /// The dataset contract.
        #[serde(with = "crate::serde_util::checksummed")]
        address dataset;
        /// Price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 datasetprice;
        /// Number of tasks the order may take part in.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 volume;
        /// Required features ([`Tag`]).
        #[serde(with = "crate::serde_util::tag_b256")]
        bytes32 tag;
        /// Only this app (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address apprestrict;
        /// Only this workerpool (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address workerpoolrestrict;
        /// Only this requester (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address requesterrestrict;
        /// Makes the order unique.
        bytes32 salt;
    }

    /// A workerpool owner's (scheduler's) offer of computing power in one category.
    #[derive(Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    struct WorkerpoolOrder {
        /// The workerpool contract.
        #[serde(with = "crate::serde_util::checksummed")]
        address workerpool;
        /// Price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 workerpoolprice;
        /// Number of tasks the order may take part in.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 volume;
        /// Offered features ([`Tag`]).
        #[serde(with = "crate::serde_util::tag_b256")]
        bytes32 tag;
        /// Category index (see [`crate::Category`]).
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 category;
        /// Highest trust level the pool accepts.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 trust;
        /// Only this app (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address apprestrict;
        /// Only this dataset (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address datasetrestrict;
        /// Only this requester (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address requesterrestrict;
        /// Makes the order unique.
        bytes32 salt;
    }

    /// A requester's bid: run `app` (on `dataset`, in `category`) up to the given prices.
    #[derive(Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    struct RequestOrder {
        /// The app to run (must equal the app order's).
        #[serde(with = "crate::serde_util::checksummed")]
        address app;
        /// Highest app price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 appmaxprice;
        /// The dataset (must equal the dataset order's); `0x0` = no dataset.
        #[serde(with = "crate::serde_util::checksummed")]
        address dataset;
        /// Highest dataset price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 datasetmaxprice;
        /// Only this workerpool (or group); `0x0` = any.
        #[serde(with = "crate::serde_util::checksummed")]
        address workerpool;
        /// Highest workerpool price per task, in nRLC.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 workerpoolmaxprice;
        /// Who pays and signs.
        #[serde(with = "crate::serde_util::checksummed")]
        address requester;
        /// Number of tasks wanted.
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 volume;
        /// Required features ([`Tag`]).
        #[serde(with = "crate::serde_util::tag_b256")]
        bytes32 tag;
        /// Category index (must equal the workerpool order's).
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 category;
        /// Wanted trust level (replication confidence).
        #[serde(with = "crate::serde_util::u256_dec")]
        uint256 trust;
        /// Who receives the results.
        #[serde(with = "crate::serde_util::checksummed")]
        address beneficiary;
        /// Contract called with the result; `0x0` = none.
        #[serde(with = "crate::serde_util::checksummed")]
        address callback;
        /// Deal parameters, a JSON string (see [`crate::DealParams`]).
        string params;
        /// Makes the order unique.
        bytes32 salt;
    }

    /// EIP-712 struct signed to presign or close an app order (`manageAppOrder`).
    #[derive(Debug, PartialEq, Eq)]
    struct AppOrderOperation {
        /// The order.
        AppOrder order;
        /// [`OrderOperation`] as `uint256`.
        uint256 operation;
    }

    /// EIP-712 struct signed to presign or close a dataset order (`manageDatasetOrder`).
    #[derive(Debug, PartialEq, Eq)]
    struct DatasetOrderOperation {
        /// The order.
        DatasetOrder order;
        /// [`OrderOperation`] as `uint256`.
        uint256 operation;
    }

    /// EIP-712 struct signed to presign or close a workerpool order (`manageWorkerpoolOrder`).
    #[derive(Debug, PartialEq, Eq)]
    struct WorkerpoolOrderOperation {
        /// The order.
        WorkerpoolOrder order;
        /// [`OrderOperation`] as `uint256`.
        uint256 operation;
    }

    /// EIP-712 struct signed to presign or close a request order (`manageRequestOrder`).
    #[derive(Debug, PartialEq, Eq)]
    struct RequestOrderOperation {
        /// The order.
        RequestOrder order;
        /// [`OrderOperation`] as `uint256`.
        uint256 operation;
    }
}

/// Which of the four orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    /// [`AppOrder`]
    App,
    /// [`DatasetOrder`]
    Dataset,
    /// [`WorkerpoolOrder`]
    Workerpool,
    /// [`RequestOrder`]
    Request,
}

impl OrderKind {
    /// All kinds, in matching order.
    pub const ALL: [Self; 4] = [Self::App, Self::Dataset, Self::Workerpool, Self::Request];

    /// The SDK's key in `orders.json` and the market API's path stem: `"apporder"`, ….
    pub const fn key(self) -> &'static str {
        match self {
            Self::App => "apporder",
            Self::Dataset => "datasetorder",
            Self::Workerpool => "workerpoolorder",
            Self::Request => "requestorder",
        }
    }

    /// The EIP-712 primary type: `"AppOrder"`, ….
    pub const fn primary_type(self) -> &'static str {
        match self {
            Self::App => "AppOrder",
            Self::Dataset => "DatasetOrder",
            Self::Workerpool => "WorkerpoolOrder",
            Self::Request => "RequestOrder",
        }
    }
}

/// The `operation` of `manage*Order`: presign (`SIGN`) or cancel (`CLOSE`) an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[repr(u8)]
pub enum OrderOperation {
    /// 0: mark the order hash as presigned by its owner.
    Sign = 0,
    /// 1: set the consumed volume to the order volume (cancel).
    Close = 1,
}

impl OrderOperation {
    /// The value as the `uint256` of the EIP-712 operation struct.
    pub fn as_u256(self) -> U256 {
        U256::from(self as u8)
    }
}

impl TryFrom<u8> for OrderOperation {
    type Error = Error;

    fn try_from(value: u8) -> Result<Self> {
        match value {
            0 => Ok(Self::Sign),
            1 => Ok(Self::Close),
            other => Err(Error::OrderOperation(other)),
        }
    }
}

/// What the four orders have in common: EIP-712 hashing, signing and a few fields.
pub trait Order:
    SolStruct + Clone + core::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Which order this is.
    const KIND: OrderKind;
    /// The matching `…OrderOperation` EIP-712 struct.
    type Operation: SolStruct;

    /// The operation struct for `operation` on this order.
    fn operation(&self, operation: OrderOperation) -> Self::Operation;
    /// The order's volume.
    fn volume(&self) -> U256;
    /// The order's tag.
    fn tag(&self) -> Tag;
    /// The order's salt.
    fn salt(&self) -> B256;

    /// The EIP-712 type hash, `keccak256` of the type string.
    fn type_hash() -> B256 {
        alloy_primitives::keccak256(Self::eip712_encode_type().as_bytes())
    }

    /// `keccak256(abi.encode(TYPEHASH, fields…))`, with `params` hashed.
    fn struct_hash(&self) -> B256 {
        self.eip712_hash_struct()
    }

    /// The order hash: the EIP-712 digest the owner signs, also the key of `viewConsumed`,
    /// `viewPresigned` and the market API.
    fn order_hash(&self, domain: &Domain) -> B256 {
        domain.digest(self.struct_hash())
    }

    /// The EIP-712 digest of `manage*Order(operation)` on this order.
    fn operation_hash(&self, operation: OrderOperation, domain: &Domain) -> B256 {
        domain.digest(self.operation(operation).eip712_hash_struct())
    }

    /// Signs the order hash with `signer` (65 bytes, `v` ∈ {27, 28}).
    fn sign<S: SignerSync + ?Sized>(
        self,
        domain: &Domain,
        signer: &S,
    ) -> Result<SignedOrder<Self>> {
        let sign = sign_digest(signer, &self.order_hash(domain))?;
        Ok(SignedOrder { order: self, sign })
    }
}

macro_rules! impl_order {
    ($order:ident, $op:ident, $kind:ident) => {
        impl Order for $order {
            const KIND: OrderKind = OrderKind::$kind;
            type Operation = $op;

            fn operation(&self, operation: OrderOperation) -> $op {
                $op {
                    order: self.clone(),
                    operation: operation.as_u256(),
                }
            }

            fn volume(&self) -> U256 {
                self.volume
            }

            fn tag(&self) -> Tag {
                Tag(self.tag)
            }

            fn salt(&self) -> B256 {
                self.salt
            }
        }
    };
}

impl_order!(AppOrder, AppOrderOperation, App);
impl_order!(DatasetOrder, DatasetOrderOperation, Dataset);
impl_order!(WorkerpoolOrder, WorkerpoolOrderOperation, Workerpool);
impl_order!(RequestOrder, RequestOrderOperation, Request);

impl RequestOrder {
    /// A request of `requester` (also the beneficiary) for one task that accepts exactly what
    /// the offered orders ask: their prices, the workerpool's category and workerpool, and the
    /// app's and dataset's tags. Set the volume, trust, params and salt on the result.
    pub fn matching(
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        requester: Address,
    ) -> Self {
        Self {
            app: app.app,
            appmaxprice: app.appprice,
            dataset: dataset.map(|d| d.dataset).unwrap_or_default(),
            datasetmaxprice: dataset.map(|d| d.datasetprice).unwrap_or_default(),
            workerpool: workerpool.workerpool,
            workerpoolmaxprice: workerpool.workerpoolprice,
            requester,
            volume: U256::from(1u64),
            tag: app.tag | dataset.map(|d| d.tag).unwrap_or_default(),
            category: workerpool.category,
            beneficiary: requester,
            ..Default::default()
        }
    }

    /// Parses `params` as [`crate::DealParams`].
    pub fn deal_params(&self) -> Result<crate::DealParams> {
        crate::DealParams::parse(&self.params)
    }
}

/// An order and its owner's signature, as in `orders.json` and the market API.
///
/// `sign` is empty (`"0x"`) for an order presigned on chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOrder<O> {
    /// The order fields.
    #[serde(flatten)]
    pub order: O,
    /// 65-byte `r ‖ s ‖ v` (or 64-byte EIP-2098) signature of the order hash.
    #[serde(default)]
    pub sign: Bytes,
}

/// A signed [`AppOrder`].
pub type SignedAppOrder = SignedOrder<AppOrder>;
/// A signed [`DatasetOrder`].
pub type SignedDatasetOrder = SignedOrder<DatasetOrder>;
/// A signed [`WorkerpoolOrder`].
pub type SignedWorkerpoolOrder = SignedOrder<WorkerpoolOrder>;
/// A signed [`RequestOrder`].
pub type SignedRequestOrder = SignedOrder<RequestOrder>;

impl<O: Order> SignedOrder<O> {
    /// Signs `order` with `signer` (same as [`Order::sign`]).
    pub fn sign<S: SignerSync + ?Sized>(order: O, domain: &Domain, signer: &S) -> Result<Self> {
        order.sign(domain, signer)
    }

    /// Signs `order` with an async `signer` (hardware wallets, remote signers).
    pub async fn sign_async<S: Signer + ?Sized>(
        order: O,
        domain: &Domain,
        signer: &S,
    ) -> Result<Self> {
        let sign = sign_digest_async(signer, &order.order_hash(domain)).await?;
        Ok(Self { order, sign })
    }

    /// The order hash (see [`Order::order_hash`]).
    pub fn order_hash(&self, domain: &Domain) -> B256 {
        self.order.order_hash(domain)
    }

    /// The account that signed the order.
    pub fn recover(&self, domain: &Domain) -> Result<Address> {
        recover_digest(&self.order_hash(domain), &self.sign)
    }

    /// Checks that `owner` signed the order (the asset owner, or the requester of a request
    /// order). An empty `sign` fails: presigned orders are checked on chain.
    pub fn verify(&self, domain: &Domain, owner: Address) -> Result<()> {
        check_signer(owner, self.recover(domain)?)
    }
}

/// A signed `manage*Order` request: presign or close `order` without sending the transaction
/// from the owner's account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOperation<O> {
    /// The order.
    pub order: O,
    /// What to do with it.
    pub operation: OrderOperation,
    /// The owner's signature of [`Order::operation_hash`].
    pub sign: Bytes,
}

impl<O: Order> SignedOperation<O> {
    /// Signs `operation` on `order` with `signer`.
    pub fn sign<S: SignerSync + ?Sized>(
        order: O,
        operation: OrderOperation,
        domain: &Domain,
        signer: &S,
    ) -> Result<Self> {
        let sign = sign_digest(signer, &order.operation_hash(operation, domain))?;
        Ok(Self {
            order,
            operation,
            sign,
        })
    }

    /// Async variant of [`SignedOperation::sign`].
    pub async fn sign_async<S: Signer + ?Sized>(
        order: O,
        operation: OrderOperation,
        domain: &Domain,
        signer: &S,
    ) -> Result<Self> {
        let sign = sign_digest_async(signer, &order.operation_hash(operation, domain)).await?;
        Ok(Self {
            order,
            operation,
            sign,
        })
    }

    /// The signed digest (see [`Order::operation_hash`]).
    pub fn operation_hash(&self, domain: &Domain) -> B256 {
        self.order.operation_hash(self.operation, domain)
    }

    /// The account that signed the operation.
    pub fn recover(&self, domain: &Domain) -> Result<Address> {
        recover_digest(&self.operation_hash(domain), &self.sign)
    }

    /// Checks that `owner` signed the operation.
    pub fn verify(&self, domain: &Domain, owner: Address) -> Result<()> {
        check_signer(owner, self.recover(domain)?)
    }
}

/// The orders of one chain in the SDK's `orders.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainOrders {
    /// `apporder`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apporder: Option<SignedAppOrder>,
    /// `datasetorder`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasetorder: Option<SignedDatasetOrder>,
    /// `workerpoolorder`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workerpoolorder: Option<SignedWorkerpoolOrder>,
    /// `requestorder`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requestorder: Option<SignedRequestOrder>,
    /// Other keys, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The SDK's `orders.json`: `{"<chainId>": {"apporder": {…}, …}}`.
pub type OrdersFile = BTreeMap<u64, ChainOrders>;

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, keccak256};
    use alloy_signer_local::PrivateKeySigner;

    fn domain() -> Domain {
        Domain::new(
            31337,
            address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        )
    }

    #[test]
    fn type_strings_and_hashes() {
        assert_eq!(
            AppOrder::eip712_encode_type(),
            "AppOrder(address app,uint256 appprice,uint256 volume,bytes32 tag,address \
             datasetrestrict,address workerpoolrestrict,address requesterrestrict,bytes32 salt)"
        );
        assert_eq!(
            AppOrder::type_hash(),
            b256!("0x60815a0eeec47dddf1615fe53b31d016c31444e01b9d796db365443a6445d008")
        );
        assert_eq!(
            DatasetOrder::type_hash(),
            b256!("0x6cfc932a5a3d22c4359295b9f433edff52b60703fa47690a04a83e40933dd47c")
        );
        assert_eq!(
            WorkerpoolOrder::type_hash(),
            b256!("0xaa3429fb281b34691803133d3d978a75bb77c617ed6bc9aa162b9b30920022bb")
        );
        assert_eq!(
            RequestOrder::type_hash(),
            b256!("0xf24e853034a3a450aba845a82914fbb564ad85accca6cf62be112a154520fae0")
        );
    }

    #[test]
    fn operation_type_hashes() {
        // Typehashes of the nested operation structs, from the protocol notes (§1.2).
        let cases = [
            (
                AppOrderOperation::eip712_encode_type(),
                b256!("0x0638bb0702457e2b4b01be8a202579b8bf97e587fb4f2cc4d4aad01f21a06ee0"),
            ),
            (
                DatasetOrderOperation::eip712_encode_type(),
                b256!("0x075eb6f7578ff4292c241bd2484cd5c1d5e6ecc2ddd3317e1d8176b5a45865ec"),
            ),
            (
                WorkerpoolOrderOperation::eip712_encode_type(),
                b256!("0x322d980b7d7a6a1f7c39ff0c5445da6ae1d8e0393ff0dd468c8be3e2c8644388"),
            ),
            (
                RequestOrderOperation::eip712_encode_type(),
                b256!("0x0ded7b52c2d77595a40d242eca751df172b18e686326dbbed3f4748828af77c7"),
            ),
        ];
        for (type_string, hash) in cases {
            assert!(
                type_string.contains("Operation(")
                    && type_string.contains(" order,uint256 operation)")
            );
            assert_eq!(keccak256(type_string.as_bytes()), hash, "{type_string}");
        }
    }

    #[test]
    fn operation_struct_hash_is_nested() {
        let order = AppOrder {
            volume: U256::from(3),
            ..Default::default()
        };
        let op = order.operation(OrderOperation::Close);
        let manual = keccak256(
            [
                keccak256(AppOrderOperation::eip712_encode_type().as_bytes()).0,
                order.struct_hash().0,
                U256::from(1).to_be_bytes::<32>(),
            ]
            .concat(),
        );
        assert_eq!(op.eip712_hash_struct(), manual);
        assert_eq!(
            order.operation_hash(OrderOperation::Close, &domain()),
            domain().digest(manual)
        );
    }

    #[test]
    fn signed_operation_round_trip() {
        let signer = PrivateKeySigner::random();
        let order = RequestOrder {
            requester: signer.address(),
            ..Default::default()
        };
        let op = SignedOperation::sign(order, OrderOperation::Sign, &domain(), &signer).unwrap();
        op.verify(&domain(), signer.address()).unwrap();
        // The operation signature is not a signature of the order itself.
        let as_order = SignedOrder {
            order: op.order.clone(),
            sign: op.sign.clone(),
        };
        assert_ne!(as_order.recover(&domain()).unwrap(), signer.address());
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["operation"], "SIGN");
        assert_eq!(
            serde_json::from_value::<SignedOperation<RequestOrder>>(json).unwrap(),
            op
        );
        assert!(OrderOperation::try_from(2).is_err());
    }

    #[test]
    fn params_change_the_hash() {
        let a = RequestOrder {
            params: "{}".into(),
            ..Default::default()
        };
        let b = RequestOrder {
            params: "{ }".into(),
            ..Default::default()
        };
        assert_ne!(a.struct_hash(), b.struct_hash());
    }

    #[test]
    fn json_accepts_numbers_and_keeps_sdk_form() {
        let json = r#"{
            "workerpool":"0x3333333333333333333333333333333333333333",
            "workerpoolprice":3000000000,"volume":"0xa","tag":"tee,tdx",
            "category":2,"trust":"100",
            "apprestrict":"0x0000000000000000000000000000000000000000",
            "datasetrestrict":"0x0000000000000000000000000000000000000000",
            "requesterrestrict":"0x90f79bf6eb2c4f870365e785982e1f101e93b906",
            "salt":"0xe35b2940ca10a9581573918a0d9ed2422f97cc9196f63510c77f5a0ed5393cfd",
            "sign":"0x","remaining":5
        }"#;
        let order: SignedWorkerpoolOrder = serde_json::from_str(json).unwrap();
        assert_eq!(order.order.volume, U256::from(10));
        assert_eq!(order.order.workerpoolprice, U256::from(3_000_000_000u64));
        assert_eq!(order.order.tag(), Tag::TEE | Tag::TDX);
        assert!(order.sign.is_empty());
        let out = serde_json::to_value(&order).unwrap();
        assert_eq!(out["volume"], "10");
        assert_eq!(out["category"], "2");
        assert_eq!(
            out["requesterrestrict"],
            "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
        );
        assert_eq!(
            out["tag"],
            "0x0000000000000000000000000000000000000000000000000000000000000009"
        );
        assert_eq!(out["sign"], "0x");
        assert!(out.get("remaining").is_none());

        let bad = json.replace("\"trust\":\"100\"", "\"trust\":-1");
        assert!(serde_json::from_str::<SignedWorkerpoolOrder>(&bad).is_err());
        let bad = json.replace("\"trust\":\"100\"", "\"trust\":1.5");
        assert!(serde_json::from_str::<SignedWorkerpoolOrder>(&bad).is_err());
    }

    #[test]
    fn orders_file_shape() {
        let signer = PrivateKeySigner::random();
        let app = AppOrder {
            app: signer.address(),
            volume: U256::from(1),
            ..Default::default()
        }
        .sign(&domain(), &signer)
        .unwrap();
        let mut file = OrdersFile::new();
        file.entry(31337).or_default().apporder = Some(app.clone());
        let json = serde_json::to_value(&file).unwrap();
        assert!(json["31337"]["apporder"]["sign"].as_str().unwrap().len() == 132);
        assert!(json["31337"].get("requestorder").is_none());
        let back: OrdersFile = serde_json::from_value(json).unwrap();
        assert_eq!(back[&31337].apporder.as_ref().unwrap(), &app);
        back[&31337]
            .apporder
            .as_ref()
            .unwrap()
            .verify(&domain(), signer.address())
            .unwrap();
        assert_eq!(OrderKind::Workerpool.key(), "workerpoolorder");
        assert_eq!(<RequestOrder as Order>::KIND.primary_type(), "RequestOrder");
    }
}
