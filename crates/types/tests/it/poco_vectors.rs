//! The vectors the contracts generate (`contracts/vectors/poco-vectors.json`, checked by
//! `contracts/test/Vectors.t.sol`): the Rust hashing must agree with the contracts' own.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolStruct;
use poco_types::{
    deal_id, signature::recover_digest, task_id, AppOrder, DatasetOrder, Domain, Order,
    OrderOperation, RequestOrder, WorkerpoolOrder,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/vectors/poco-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read poco-vectors.json"))
        .expect("parse poco-vectors.json")
}

fn b256(v: &Value) -> B256 {
    v.as_str().expect("hex string").parse().expect("bytes32")
}

fn address(v: &Value) -> Address {
    v.as_str().expect("hex string").parse().expect("address")
}

fn domain(v: &Value) -> Domain {
    Domain::new(
        v["chainId"].as_u64().expect("chainId"),
        address(&v["verifyingContract"]),
    )
}

/// Checks one order vector: struct hash, order hash, both signature forms; returns the
/// operation hash for `op`.
fn check<O: Order + DeserializeOwned + SolStruct>(
    name: &str,
    v: &Value,
    domain: &Domain,
    op: Option<OrderOperation>,
) -> Option<B256> {
    let order: O =
        serde_json::from_value(v["order"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        order.struct_hash(),
        b256(&v["structHash"]),
        "{name}: struct hash"
    );
    let hash = order.order_hash(domain);
    assert_eq!(hash, b256(&v["orderHash"]), "{name}: order hash");
    let signer = address(&v["signer"]);
    for key in ["sign", "signCompact"] {
        let sign: alloy_primitives::Bytes = v[key].as_str().unwrap().parse().unwrap();
        assert_eq!(
            recover_digest(&hash, &sign).unwrap(),
            signer,
            "{name}: {key}"
        );
    }
    op.map(|op| order.operation_hash(op, domain))
}

#[test]
fn rust_hashing_matches_the_contracts_vectors() {
    let v = vectors();
    let domain = domain(&v["domain"]);
    assert_eq!(domain.separator(), b256(&v["domain"]["separator"]));
    assert_eq!(AppOrder::type_hash(), b256(&v["typeHashes"]["AppOrder"]));
    assert_eq!(
        DatasetOrder::type_hash(),
        b256(&v["typeHashes"]["DatasetOrder"])
    );
    assert_eq!(
        WorkerpoolOrder::type_hash(),
        b256(&v["typeHashes"]["WorkerpoolOrder"])
    );
    assert_eq!(
        RequestOrder::type_hash(),
        b256(&v["typeHashes"]["RequestOrder"])
    );

    let orders = v["orders"].as_object().expect("orders");
    assert!(orders.len() >= 4, "the vectors cover every order type");
    let mut checked = 0;
    for (name, o) in orders {
        match o["type"].as_str().unwrap() {
            "AppOrder" => check::<AppOrder>(name, o, &domain, None),
            "DatasetOrder" => check::<DatasetOrder>(name, o, &domain, None),
            "WorkerpoolOrder" => check::<WorkerpoolOrder>(name, o, &domain, None),
            "RequestOrder" => check::<RequestOrder>(name, o, &domain, None),
            other => panic!("{name}: unknown order type {other}"),
        };
        checked += 1;
    }
    assert_eq!(checked, orders.len());

    for (name, op) in v["operations"].as_object().expect("operations") {
        let o = &v["orders"][op["order"].as_str().unwrap()];
        let operation = match op["operation"].as_u64().unwrap() {
            0 => OrderOperation::Sign,
            1 => OrderOperation::Close,
            n => panic!("{name}: unknown operation {n}"),
        };
        let hash = match o["type"].as_str().unwrap() {
            "AppOrder" => check::<AppOrder>(name, o, &domain, Some(operation)),
            "DatasetOrder" => check::<DatasetOrder>(name, o, &domain, Some(operation)),
            "WorkerpoolOrder" => check::<WorkerpoolOrder>(name, o, &domain, Some(operation)),
            "RequestOrder" => check::<RequestOrder>(name, o, &domain, Some(operation)),
            other => panic!("{name}: unknown order type {other}"),
        }
        .unwrap();
        assert_eq!(hash, b256(&op["hash"]), "{name}: operation hash");
        let sign: alloy_primitives::Bytes = op["sign"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            recover_digest(&hash, &sign).unwrap(),
            address(&op["signer"]),
            "{name}: signer"
        );
    }

    let ids = &v["ids"];
    let request_hash = b256(&ids["requestOrderHash"]);
    for deal in ids["deals"].as_array().expect("deals") {
        let consumed: u64 = deal["consumedBefore"].as_str().unwrap().parse().unwrap();
        let dealid = deal_id(request_hash, U256::from(consumed));
        assert_eq!(dealid, b256(&deal["dealid"]), "deal id");
        let tasks = deal["tasks"].as_array().expect("tasks");
        assert!(!tasks.is_empty());
        for t in tasks {
            let idx: u64 = t["idx"].as_str().expect("idx").parse().expect("idx number");
            assert_eq!(
                task_id(dealid, U256::from(idx)),
                b256(&t["taskid"]),
                "task id {idx}"
            );
        }
    }
}
