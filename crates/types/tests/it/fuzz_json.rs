//! The JSON parsers strangers feed (published orders, `orders.json`, a request's `params`):
//! any input parses or is refused without a panic, and what parses comes back equal from its
//! own JSON. The long runs of the same parsers are the AFL++ targets in `fuzz/`.

use poco_types::{
    primitives::Address, AppOrder, DatasetOrder, DealParams, Domain, Order, OrdersFile,
    RequestOrder, SignedOrder, WorkerpoolOrder,
};
use proptest::prelude::*;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// Parses `text` as a signed order of type `O`; what parses must hash, recover or refuse a
/// signer, and round-trip through its own JSON.
fn check_signed<O>(text: &str) -> Result<bool, TestCaseError>
where
    O: Order + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
{
    let Ok(order) = serde_json::from_str::<SignedOrder<O>>(text) else {
        return Ok(false);
    };
    let domain = Domain::new(134, Address::repeat_byte(0x11));
    let _ = order.order_hash(&domain);
    let _ = order.recover(&domain);
    let json = serde_json::to_string(&order).unwrap();
    let back: SignedOrder<O> = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(back, order);
    Ok(true)
}

fn check_all(text: &str) -> Result<(), TestCaseError> {
    check_signed::<AppOrder>(text)?;
    check_signed::<DatasetOrder>(text)?;
    check_signed::<WorkerpoolOrder>(text)?;
    if check_signed::<RequestOrder>(text)? {
        let order: SignedOrder<RequestOrder> = serde_json::from_str(text).unwrap();
        let _ = order.order.deal_params();
    }
    if let Ok(file) = serde_json::from_str::<OrdersFile>(text) {
        let mut back: OrdersFile =
            serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();
        for (chain, orders) in &mut back {
            let other = &file[chain].other;
            prop_assert_eq!(orders.other.len(), other.len());
            for (key, value) in &orders.other {
                prop_assert!(
                    near(value, &other[key]),
                    "{}: {} != {}",
                    key,
                    value,
                    other[key]
                );
            }
            orders.other = other.clone();
        }
        prop_assert_eq!(back, file);
    }
    check_params(text)
}

fn check_params(text: &str) -> Result<(), TestCaseError> {
    if let Ok(params) = DealParams::parse(text) {
        let mut back = DealParams::parse(&params.to_json_string()).unwrap();
        prop_assert_eq!(back.extra.len(), params.extra.len());
        for (key, value) in &mut back.extra {
            prop_assert!(
                near(value, &params.extra[key]),
                "{}: {} != {}",
                key,
                value,
                params.extra[key]
            );
            *value = params.extra[key].clone();
        }
        prop_assert_eq!(back, params);
    }
    Ok(())
}

/// Equal JSON values, except that floats may differ in the last place: serde_json (without
/// its `float_roundtrip` feature) reads them with a fast, not always exact, algorithm.
/// Nothing reads floats in `params`, and the signed string itself is kept as it is.
fn near(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| near(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| near(v, w)))
        }
        _ => a == b,
    }
}

/// A request order as the SDK writes it, with every field present.
fn request_order_json() -> Value {
    json!({
        "app": "0x1111111111111111111111111111111111111111", "appmaxprice": "5",
        "dataset": "0x0000000000000000000000000000000000000000", "datasetmaxprice": "0",
        "workerpool": "0x0000000000000000000000000000000000000000", "workerpoolmaxprice": "7",
        "requester": "0x2222222222222222222222222222222222222222", "volume": "3",
        "tag": "0x0000000000000000000000000000000000000000000000000000000000000001",
        "category": "0", "trust": "0",
        "beneficiary": "0x2222222222222222222222222222222222222222",
        "callback": "0x0000000000000000000000000000000000000000",
        "params": "{\"iexec_args\":\"--x 1\"}",
        "salt": "0x00000000000000000000000000000000000000000000000000000000000000aa",
        "sign": "0x"
    })
}

/// A JSON value of any shape, a few levels deep, with the leaves a parser meets.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "(0x|0X)?[0-9a-fA-F]{0,70}".prop_map(Value::String),
        "[0-9]{1,90}".prop_map(Value::String),
        "[a-z, ]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,24}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        check_all(&text)?;
    }

    #[test]
    fn any_json_never_panics(value in any_json()) {
        check_all(&value.to_string())?;
    }

    /// One field of a valid order replaced by anything (or removed): parses or is refused.
    #[test]
    fn mutated_order_field_never_panics(field in 0usize..16, value in proptest::option::of(any_json())) {
        let mut order = request_order_json();
        let map = order.as_object_mut().unwrap();
        let key = map.keys().nth(field % map.len()).unwrap().clone();
        match value {
            Some(v) => { map.insert(key, v); }
            None => { map.remove(&key); }
        }
        check_all(&order.to_string())?;
    }

    /// `params` of any JSON object: parsed key by key, and back equal from its own JSON.
    #[test]
    fn params_objects_round_trip(map in proptest::collection::btree_map(
        prop_oneof!["iexec_[a-z_]{1,24}", "[a-z_]{1,12}", Just("iexec_input_files".to_string()),
            Just("iexec_secrets".to_string()), Just("iexec_args".to_string())],
        any_json(), 0..6)) {
        let text = Value::Object(map.into_iter().collect()).to_string();
        check_params(&text)?;
    }

    /// Every kind of order JSON with a few bytes flipped: parses or is refused.
    #[test]
    fn corrupted_order_text_never_panics(at in any::<proptest::sample::Index>(), bytes in proptest::collection::vec(any::<u8>(), 1..4)) {
        let mut text = request_order_json().to_string().into_bytes();
        let start = at.index(text.len());
        for (i, b) in bytes.into_iter().enumerate() {
            if let Some(slot) = text.get_mut(start + i) { *slot = b; }
        }
        check_all(&String::from_utf8_lossy(&text))?;
    }
}

#[test]
fn the_seed_order_parses() {
    let text = request_order_json().to_string();
    assert!(check_signed::<RequestOrder>(&text).unwrap());
    check_all(&text).unwrap();
}

/// Found by the fuzz tests: a hex tag with a multi-byte character in it was sliced inside the
/// character and panicked (a published order, an `orders.json`, or a `minTag` query could
/// take the thread down); `+` was read as a digit. Both are refused now.
#[test]
fn tag_hex_with_multibyte_char_is_refused() {
    // 64 bytes of "hex", one 3-byte character among them.
    let tag = format!("0x{}\u{7f6f}{}1", "0".repeat(10), "0".repeat(50));
    assert_eq!(tag.len(), 2 + 64);
    let mut order = request_order_json();
    order["tag"] = json!(&tag);
    let err = serde_json::from_value::<SignedOrder<RequestOrder>>(order).unwrap_err();
    assert!(err.to_string().contains("not a hex number"), "{err}");
    assert!(tag.parse::<poco_types::Tag>().is_err());
    assert!("0x+f".parse::<poco_types::Tag>().is_err());
    assert!("0xf".parse::<poco_types::Tag>().is_ok());
}

/// The float the params property found, among an `orders.json`'s other keys: it may come
/// back a unit in the last place off; the orders themselves come back equal.
#[test]
fn orders_file_with_a_float_round_trips() {
    let text = r#"{"1":{"x":8.797594564314313e226}}"#;
    check_all(text).unwrap();
}
