//! The order lists' query strings, which anyone sends: any query is answered or refused with
//! a 400 message, never a panic. The long runs of the same parser are the AFL++ target
//! `market_query` in `fuzz/`.

use poco_market::fuzzing::order_query;
use poco_types::OrderKind;
use proptest::prelude::*;

use crate::fixture::*;

const KINDS: [OrderKind; 4] = [
    OrderKind::App,
    OrderKind::Dataset,
    OrderKind::Workerpool,
    OrderKind::Request,
];

/// The parameters the list endpoints read.
const NAMES: [&str; 26] = [
    "app",
    "appOwner",
    "dataset",
    "datasetOwner",
    "workerpool",
    "workerpoolOwner",
    "requester",
    "beneficiary",
    "category",
    "minTag",
    "maxTag",
    "minVolume",
    "minTrust",
    "maxTrust",
    "isAppStrict",
    "isDatasetStrict",
    "isWorkerpoolStrict",
    "isRequesterStrict",
    "pageIndex",
    "pageSize",
    "chainId",
    "any",
    "strict",
    "",
    "app[]",
    "pageSize[0]",
];

/// Values a stranger would try on them.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("any".to_string()),
        Just("true".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        "0x[0-9a-fA-F]{0,66}",
        "[0-9]{0,25}",
        "-?[0-9]{1,4}",
        "[a-z, ]{0,16}",
        any::<String>(),
    ]
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query() -> impl Strategy<Value = String> {
    proptest::collection::vec((0..NAMES.len(), value()), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, v)| format!("{}={}", encode(NAMES[name]), encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_query_text_is_answered_or_refused(kind in 0..4usize, text in any::<String>()) {
        let _ = order_query(KINDS[kind], &text);
    }

    #[test]
    fn any_list_query_is_answered_or_refused(kind in 0..4usize, q in query()) {
        if let Err(message) = order_query(KINDS[kind], &q) {
            prop_assert!(!message.is_empty());
        }
    }

    /// The page size cap holds whatever else the query says.
    #[test]
    fn page_size_cap_holds(kind in 0..4usize, size in any::<u64>(), index in any::<u64>(), q in query()) {
        let q = format!("app=0x{}&requester=0x{}&{q}&pageSize={size}&pageIndex={index}",
            "1".repeat(40), "2".repeat(40));
        let answer = order_query(KINDS[kind], &q);
        if !(10..=1000).contains(&size) {
            prop_assert!(answer.is_err(), "pageSize {} accepted", size);
        }
    }
}

/// Found by the fuzz tests: `pageIndex` near 2^64 overflowed the next-page arithmetic
/// (`(page + 1) * size`), a panic in the handler (builds with overflow checks) or a wrong
/// `nextPage`. A page past the end has no next page now.
#[test]
fn huge_page_index_has_no_next_page() {
    let app = format!("0x{}", "1".repeat(40));
    for index in [u64::MAX, u64::MAX / 20] {
        let q = format!("app={app}&pageIndex={index}&pageSize=20");
        assert_eq!(order_query(OrderKind::App, &q), Ok(None));
    }
}

/// Found by the fuzz tests: a hex `minTag` with a multi-byte character panicked in the tag
/// parser; it is a 400 now.
#[test]
fn multibyte_min_tag_is_refused() {
    let tag = format!("0x{}%E7%BD%AF{}1", "0".repeat(10), "0".repeat(50));
    let app = format!("0x{}", "1".repeat(40));
    let message = order_query(OrderKind::App, &format!("app={app}&minTag={tag}")).unwrap_err();
    assert!(message.contains("minTag"), "{message}");
}

/// The same queries played against a running market over HTTP: each is answered. The deal
/// list's huge `pageIndex` was also an SQL offset past i64, a 500 (datatype mismatch).
#[tokio::test]
async fn fuzz_found_queries_answered_over_http() -> R {
    let env = Env::start().await?;
    let app = env.app;
    let body = env
        .get_ok(&format!(
            "/apporders?app={app}&pageIndex={}&pageSize=20",
            u64::MAX
        ))
        .await?;
    assert_eq!(body["count"], 0, "{body}");
    assert!(body.get("nextPage").is_none(), "{body}");
    let body = env
        .get_ok(&format!("/deals?pageIndex={}&pageSize=20", u64::MAX))
        .await?;
    assert!(body.get("nextPage").is_none(), "{body}");
    let tag = format!("0x{}%E7%BD%AF{}1", "0".repeat(10), "0".repeat(50));
    let (status, body) = env
        .get(&format!("/apporders?app={app}&minTag={tag}"))
        .await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}
