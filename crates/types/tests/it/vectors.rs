//! Reproduces every value of `contracts/vectors/iexec-compat.json` (known-good iExec PoCo 5/6
//! values signed with anvil's default keys).

use alloy_primitives::{hex, keccak256, Address, Bytes, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolStruct;
use poco_types::{
    authorization_hash, callback_digest, deal_id, enclave_hash, recover_enclave, result_hash,
    result_seal, sha256_digest, signature, task_id, verify_enclave, AppOrder, Contribution,
    DatasetOrder, Domain, Order, RequestOrder, SignedOrder, WorkerAuthorization, WorkerpoolOrder,
};
use serde_json::Value;
use std::sync::OnceLock;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/vectors/iexec-compat.json"
);

/// anvil's first default accounts (mnemonic "test test … junk"), private keys as anvil prints
/// them.
const ANVIL_KEYS: [&str; 6] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
            panic!("cannot read {VECTORS}: {e} (the vectors are kept in contracts/vectors/)")
        });
        serde_json::from_str(&text).expect("vectors are JSON")
    })
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(v, |v, key| {
            v.get(key).unwrap_or_else(|| panic!("missing {path}"))
        })
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn b256(v: &Value, path: &str) -> B256 {
    s(v, path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn addr(v: &Value, path: &str) -> Address {
    s(v, path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bytes(v: &Value, path: &str) -> Bytes {
    s(v, path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn signer_for(address: Address) -> PrivateKeySigner {
    ANVIL_KEYS
        .iter()
        .map(|k| k.parse::<PrivateKeySigner>().unwrap())
        .find(|k| k.address() == address)
        .unwrap_or_else(|| panic!("{address} is not one of anvil's first default accounts"))
}

fn domain() -> Domain {
    let v = vectors();
    let domain = Domain {
        name: s(v, "domain.name").to_owned(),
        version: s(v, "domain.version").to_owned(),
        chain_id: v["domain"]["chainId"].as_u64().unwrap(),
        verifying_contract: addr(v, "domain.verifyingContract"),
    };
    // The vectors use the standard PoCo domain.
    assert_eq!(
        domain,
        Domain::new(domain.chain_id, domain.verifying_contract)
    );
    domain
}

#[test]
fn domain_separator() {
    assert_eq!(domain().separator(), b256(vectors(), "domain.separator"));
    // The JSON form reads the vector's domain object as is.
    let parsed: Domain = serde_json::from_value(vectors()["domain"].clone()).unwrap();
    assert_eq!(parsed, domain());
}

fn check_type<O: Order>() {
    let v = vectors();
    let name = O::KIND.primary_type();
    assert_eq!(
        O::eip712_encode_type(),
        s(v, &format!("typeStrings.{name}")),
        "{name}"
    );
    let expected = b256(v, &format!("typeHashes.{name}"));
    assert_eq!(O::type_hash(), expected, "{name}");
    assert_eq!(
        keccak256(s(v, &format!("typeStrings.{name}"))),
        expected,
        "{name}"
    );
}

#[test]
fn type_strings_and_hashes() {
    check_type::<AppOrder>();
    check_type::<DatasetOrder>();
    check_type::<WorkerpoolOrder>();
    check_type::<RequestOrder>();
}

fn check_order<O: Order + PartialEq>() {
    let v = &vectors()["orders"][O::KIND.primary_type()];
    let name = O::KIND.primary_type();
    let order: O = serde_json::from_value(v["order"].clone()).unwrap();
    let domain = domain();

    assert_eq!(
        order.struct_hash(),
        b256(v, "structHash"),
        "{name} struct hash"
    );
    assert_eq!(
        order.order_hash(&domain),
        b256(v, "orderHash"),
        "{name} order hash"
    );

    // Signing with the signer's key reproduces the vector signature byte for byte (RFC 6979).
    let signer_address = addr(v, "signer");
    let signed = order
        .clone()
        .sign(&domain, &signer_for(signer_address))
        .unwrap();
    assert_eq!(signed.sign, bytes(v, "sign"), "{name} signature");

    // The vector signature recovers to the signer, in 65-byte and EIP-2098 compact forms.
    let from_vector = SignedOrder {
        order: order.clone(),
        sign: bytes(v, "sign"),
    };
    assert_eq!(
        from_vector.recover(&domain).unwrap(),
        signer_address,
        "{name} recover"
    );
    from_vector.verify(&domain, signer_address).unwrap();
    let compact = signature::parse_signature(&from_vector.sign)
        .unwrap()
        .as_erc2098();
    assert_eq!(
        signature::recover_digest(&order.order_hash(&domain), &compact).unwrap(),
        signer_address,
        "{name} compact recover"
    );

    // JSON: the signed order serialises exactly as the SDK's orders.json entry.
    let mut expected = v["order"].clone();
    expected["sign"] = v["sign"].clone();
    assert_eq!(
        serde_json::to_value(&signed).unwrap(),
        expected,
        "{name} JSON"
    );
    let back: SignedOrder<O> = serde_json::from_value(expected).unwrap();
    assert_eq!(back, signed, "{name} JSON round trip");
}

#[test]
fn app_order() {
    check_order::<AppOrder>();
}

#[test]
fn dataset_order() {
    check_order::<DatasetOrder>();
}

#[test]
fn workerpool_order() {
    check_order::<WorkerpoolOrder>();
}

#[test]
fn request_order() {
    check_order::<RequestOrder>();
    // The params string (quotes, non-ASCII) is hashed as its UTF-8 bytes and parses.
    let v = &vectors()["orders"]["RequestOrder"]["order"];
    let order: RequestOrder = serde_json::from_value(v.clone()).unwrap();
    let params = order.deal_params().unwrap();
    assert_eq!(params.args(), "--size 64 \"quoted\" é");
    assert_eq!(params.input_files(), ["https://example.org/in.png"]);
    assert_eq!(
        order.eip712_hash_struct(),
        b256(&vectors()["orders"]["RequestOrder"], "structHash")
    );
}

#[test]
fn deal_and_task_ids() {
    let v = &vectors()["ids"];
    let request_hash = b256(v, "requestOrderHash");
    assert_eq!(
        request_hash,
        b256(&vectors()["orders"]["RequestOrder"], "orderHash")
    );
    let consumed: U256 = s(v, "consumedBefore").parse().unwrap();
    let deal = deal_id(request_hash, consumed);
    assert_eq!(deal, b256(v, "dealid"));
    let tasks = v["taskids"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for t in tasks {
        let idx = t["idx"].as_u64().unwrap();
        assert_eq!(
            task_id(deal, U256::from(idx)),
            b256(t, "taskid"),
            "task {idx}"
        );
    }
}

#[test]
fn result_digest_hash_and_seal() {
    let v = &vectors()["result"];
    let task = b256(v, "taskid");
    assert_eq!(task, b256(&vectors()["ids"]["taskids"][0], "taskid"));
    let worker = addr(v, "worker");
    let digest = b256(v, "resultDigest");
    assert_eq!(sha256_digest(b"42\n"), digest, "{}", s(v, "digestOf"));
    assert_eq!(result_hash(task, digest), b256(v, "resultHash"));
    assert_eq!(result_seal(worker, task, digest), b256(v, "resultSeal"));
    let c = Contribution::new(worker, task, digest);
    assert_eq!(c.result_hash, b256(v, "resultHash"));
    assert_eq!(c.result_seal, b256(v, "resultSeal"));
    assert!(c.reveals(worker, task, digest));
}

#[test]
fn worker_authorization() {
    let v = &vectors()["result"];
    let a = &v["authorization"];
    let worker = addr(v, "worker");
    let task = b256(v, "taskid");
    let enclave = addr(a, "enclaveChallenge");
    let scheduler = addr(a, "scheduler");

    let packed = authorization_hash(worker, task, enclave);
    assert_eq!(packed, b256(a, "packedHash"));
    assert_eq!(
        signature::personal_hash(&packed),
        b256(a, "personalSignHash")
    );

    let auth = WorkerAuthorization::sign(&signer_for(scheduler), worker, task, enclave).unwrap();
    assert_eq!(auth.sign, bytes(a, "sign"));
    assert_eq!(auth.hash(), packed);

    let from_vector = WorkerAuthorization {
        worker,
        task_id: task,
        enclave_challenge: enclave,
        sign: bytes(a, "sign"),
    };
    from_vector.verify(scheduler).unwrap();
    assert_eq!(
        signature::recover_digest(&b256(a, "personalSignHash"), &from_vector.sign).unwrap(),
        scheduler
    );
}

#[test]
fn enclave_signature() {
    let v = &vectors()["result"];
    let e = &v["enclave"];
    let enclave = addr(e, "address");
    assert_eq!(enclave, addr(&v["authorization"], "enclaveChallenge"));
    let (hash, seal) = (b256(v, "resultHash"), b256(v, "resultSeal"));
    assert_eq!(enclave_hash(hash, seal), b256(e, "packedHash"));
    let sign = bytes(e, "sign");
    // The enclave challenge key is not an anvil account: check by recovery.
    assert_eq!(recover_enclave(hash, seal, &sign).unwrap(), enclave);
    verify_enclave(hash, seal, &sign, enclave).unwrap();
    assert!(verify_enclave(seal, hash, &sign, enclave).is_err());
}

#[test]
fn callback_digest_vector() {
    let c = &vectors()["result"]["callback"];
    let data = hex::decode(s(c, "data")).unwrap();
    assert_eq!(callback_digest(&data), b256(c, "resultDigest"));
}
