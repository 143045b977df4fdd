//! Property tests: JSON round trips of the orders, and sign → recover round trips.

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use poco_types::{
    recover_enclave, signature, AppOrder, Contribution, DatasetOrder, DealParams, Domain, Order,
    OrderOperation, RequestOrder, SignedOperation, SignedOrder, Tag, WorkerAuthorization,
    WorkerpoolOrder,
};
use proptest::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::ZERO),
        any::<[u8; 20]>().prop_map(Address::from)
    ]
}

fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
        Just(U256::MAX),
        Just(U256::ZERO),
    ]
}

fn sign_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        proptest::collection::vec(any::<u8>(), 64..=65).prop_map(Bytes::from)
    ]
}

prop_compose! {
    fn app_order()(
        app in address(), appprice in u256(), volume in u256(), tag in b256(),
        datasetrestrict in address(), workerpoolrestrict in address(),
        requesterrestrict in address(), salt in b256(),
    ) -> AppOrder {
        AppOrder { app, appprice, volume, tag, datasetrestrict, workerpoolrestrict, requesterrestrict, salt }
    }
}

prop_compose! {
    fn dataset_order()(
        dataset in address(), datasetprice in u256(), volume in u256(), tag in b256(),
        apprestrict in address(), workerpoolrestrict in address(),
        requesterrestrict in address(), salt in b256(),
    ) -> DatasetOrder {
        DatasetOrder { dataset, datasetprice, volume, tag, apprestrict, workerpoolrestrict, requesterrestrict, salt }
    }
}

prop_compose! {
    fn workerpool_order()(
        workerpool in address(), workerpoolprice in u256(), volume in u256(), tag in b256(),
        category in u256(), trust in u256(), apprestrict in address(),
        datasetrestrict in address(), requesterrestrict in address(), salt in b256(),
    ) -> WorkerpoolOrder {
        WorkerpoolOrder {
            workerpool, workerpoolprice, volume, tag, category, trust, apprestrict,
            datasetrestrict, requesterrestrict, salt,
        }
    }
}

prop_compose! {
    fn request_order()(
        (app, appmaxprice, dataset, datasetmaxprice, workerpool, workerpoolmaxprice) in
            (address(), u256(), address(), u256(), address(), u256()),
        (requester, volume, tag, category, trust, beneficiary, callback) in
            (address(), u256(), b256(), u256(), u256(), address(), address()),
        params in any::<String>(),
        salt in b256(),
    ) -> RequestOrder {
        RequestOrder {
            app, appmaxprice, dataset, datasetmaxprice, workerpool, workerpoolmaxprice,
            requester, volume, tag, category, trust, beneficiary, callback, params, salt,
        }
    }
}

fn signer() -> impl Strategy<Value = PrivateKeySigner> {
    b256().prop_filter_map("not a valid secp256k1 scalar", |k| {
        PrivateKeySigner::from_bytes(&k).ok()
    })
}

fn domain() -> impl Strategy<Value = Domain> {
    (any::<u64>(), address()).prop_map(|(chain, hub)| Domain::new(chain, hub))
}

fn json_round_trip<O>(order: O, sign: Bytes) -> Result<(), TestCaseError>
where
    O: Order + PartialEq + Serialize + DeserializeOwned,
{
    let signed = SignedOrder { order, sign };
    let json = serde_json::to_string(&signed).unwrap();
    let back: SignedOrder<O> = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&back, &signed);
    // Amounts are decimal strings and addresses are checksummed.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for (key, v) in value.as_object().unwrap() {
        let text = v.as_str().unwrap();
        if text.len() == 42 && text.starts_with("0x") {
            let address: Address = text.parse().unwrap();
            prop_assert_eq!(text, address.to_checksum(None), "{}", key);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn app_order_json(order in app_order(), sign in sign_bytes()) {
        json_round_trip(order, sign)?;
    }

    #[test]
    fn dataset_order_json(order in dataset_order(), sign in sign_bytes()) {
        json_round_trip(order, sign)?;
    }

    #[test]
    fn workerpool_order_json(order in workerpool_order(), sign in sign_bytes()) {
        json_round_trip(order, sign)?;
    }

    #[test]
    fn request_order_json(order in request_order(), sign in sign_bytes()) {
        json_round_trip(order, sign)?;
    }

    #[test]
    fn amounts_read_from_numbers(order in workerpool_order(), price in any::<u64>(), volume in 0u64..(1 << 53)) {
        let mut value = serde_json::to_value(&order).unwrap();
        value["workerpoolprice"] = serde_json::json!(price);
        value["volume"] = serde_json::json!(volume as f64);
        let back: WorkerpoolOrder = serde_json::from_value(value).unwrap();
        prop_assert_eq!(back.workerpoolprice, U256::from(price));
        prop_assert_eq!(back.volume, U256::from(volume));
    }

    #[test]
    fn tag_text_round_trip(bits in proptest::collection::btree_set(any::<u8>(), 0..6)) {
        let tag = Tag::from_bits(bits.iter().copied());
        prop_assert_eq!(tag.to_string().parse::<Tag>().unwrap(), tag);
        prop_assert_eq!(tag.bits().collect::<Vec<_>>(), bits.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn deal_params_round_trip(
        args in proptest::option::of(any::<String>()),
        files in proptest::option::of(proptest::collection::vec(any::<String>(), 0..3)),
        encryption in proptest::option::of(any::<bool>()),
        extra_key in "[a-z]{1,8}", extra_value in any::<i64>(),
    ) {
        let mut params = DealParams { iexec_args: args, iexec_input_files: files, iexec_result_encryption: encryption, ..Default::default() };
        params.extra.insert(format!("x_{extra_key}"), extra_value.into());
        prop_assert_eq!(DealParams::parse(&params.to_json_string()).unwrap(), params);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn order_sign_recover(order in request_order(), key in signer(), domain in domain(), other in domain()) {
        let signed = order.sign(&domain, &key).unwrap();
        prop_assert_eq!(signed.sign.len(), 65);
        prop_assert!(signed.sign[64] == 27 || signed.sign[64] == 28);
        prop_assert_eq!(signed.recover(&domain).unwrap(), key.address());
        signed.verify(&domain, key.address()).unwrap();
        // EIP-2098 compact form.
        let compact = signature::parse_signature(&signed.sign).unwrap().as_erc2098();
        prop_assert_eq!(signature::recover_digest(&signed.order_hash(&domain), &compact).unwrap(), key.address());
        // Another domain (replay on another chain or hub) does not verify.
        if other != domain {
            prop_assert!(signed.verify(&other, key.address()).is_err());
        }
        // Any change of the order breaks the signature.
        let mut changed = signed.clone();
        changed.order.volume = changed.order.volume.wrapping_add(U256::from(1));
        prop_assert!(changed.verify(&domain, key.address()).is_err());
    }

    #[test]
    fn app_order_sign_recover(order in app_order(), key in signer(), domain in domain()) {
        let signed = order.sign(&domain, &key).unwrap();
        prop_assert_eq!(signed.recover(&domain).unwrap(), key.address());
        let op = SignedOperation::sign(signed.order.clone(), OrderOperation::Close, &domain, &key).unwrap();
        prop_assert_eq!(op.recover(&domain).unwrap(), key.address());
        prop_assert_ne!(op.operation_hash(&domain), signed.order_hash(&domain));
    }

    #[test]
    fn authorization_and_enclave_sign_recover(
        scheduler in signer(), enclave in signer(), worker in address(), task in b256(), digest in b256(),
    ) {
        let auth = WorkerAuthorization::sign(&scheduler, worker, task, enclave.address()).unwrap();
        prop_assert_eq!(auth.recover().unwrap(), scheduler.address());
        let c = Contribution::new(worker, task, digest);
        let sign = poco_types::sign_enclave(&enclave, c.result_hash, c.result_seal).unwrap();
        prop_assert_eq!(recover_enclave(c.result_hash, c.result_seal, &sign).unwrap(), enclave.address());
    }
}
