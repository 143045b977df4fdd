//! Issue 11: every error of the market is answered in its JSON envelope
//! (`{"ok": false, "error": …}`), whatever layer refused the request, and unknown fields of an
//! order body are refused by name.

use poco_market::Action;
use poco_types::OrderKind;
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixture::*;

/// Sends a raw request and reads the answer, which must be JSON.
async fn raw(
    env: &Env,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> R<(u16, Value)> {
    let mut request = env
        .http
        .request(method.clone(), format!("{}{path}", env.url))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    assert!(
        kind.starts_with("application/json"),
        "{method} {path}: {status} answered {kind:?}: {text:?}"
    );
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{method} {path}: {status} answered {text:?}: {e}"))?;
    Ok((status, body))
}

/// A request (method, path, content type, body) and its refusal (status, part of the message).
type Refusal<'a> = (Method, &'a str, Option<&'a str>, &'a [u8], u16, &'a str);

#[tokio::test]
async fn every_error_is_in_the_json_envelope() -> R {
    let env = Env::start().await?;
    let json_type = Some("application/json");
    let big = vec![b' '; 1 << 20];
    #[rustfmt::skip]
    let cases: [Refusal<'_>; 10] = [
        // Malformed JSON.
        (Method::POST, "/apporders", json_type, b"{\"order\": {", 400, "body: "),
        // JSON of the wrong shape.
        (Method::PUT, "/apporders", json_type, b"[1]", 400, "schema: "),
        // Over the body limit (with and without a content length).
        (Method::POST, "/requestorders", json_type, &big, 413, "limit of 65536 bytes"),
        (Method::POST, "/fill/transaction", json_type, &big, 413, "limit of 65536 bytes"),
        // No content type, or another one.
        (Method::POST, "/apporders", None, b"{}", 415, "application/json"),
        (Method::PUT, "/workerpoolorders", Some("text/plain"), b"{}", 415, "application/json"),
        // Unknown paths, on GET and on other methods.
        (Method::GET, "/nothing/here", None, b"", 404, "GET /nothing/here"),
        (Method::POST, "/orders", json_type, b"{}", 404, "POST /orders"),
        // A known path with a method it does not take.
        (Method::DELETE, "/apporders", None, b"", 405, "DELETE"),
        (Method::POST, "/version", json_type, b"{}", 405,
            "method POST is not allowed on /version; it takes GET"),
    ];
    for (method, path, content_type, body, status, needle) in cases {
        let delete = method == Method::DELETE;
        let answer = raw(&env, method, path, content_type, body.to_vec()).await?;
        assert_refused(&answer, status, needle);
        if delete {
            // The methods it takes are named.
            assert!(message(&answer.1).contains("GET"), "{}", answer.1);
        }
    }
    // A path parameter that does not parse stays in the envelope too.
    let answer = raw(&env, Method::GET, "/apporders/0x12", None, Vec::new()).await?;
    assert_eq!(answer.1["ok"], false, "{}", answer.1);
    // A WebSocket path asked without an upgrade.
    let answer = raw(&env, Method::GET, "/ws", None, Vec::new()).await?;
    assert_eq!(answer.1["ok"], false, "{}", answer.1);
    assert!(answer.0 >= 400, "{}", answer.0);
    Ok(())
}

#[tokio::test]
async fn unknown_order_fields_are_refused_by_name() -> R {
    let env = Env::start().await?;
    let signed = env.sign(APP_OWNER, env.app_order(1, 10));
    let mut order = serde_json::to_value(&signed)?;
    order["apppricee"] = json!("1");
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &json!({ "order": order }))
        .await?;
    assert_refused(&answer, 400, "unknown field `apppricee`");

    // Beside the order, too.
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({ "order": signed, "workerpoolURL": "http://x" }),
        )
        .await?;
    assert_refused(&answer, 400, "unknown field `workerpoolURL`");
    let answer = env
        .unpublish(
            OrderKind::App,
            APP_OWNER,
            &json!({"target": "unpublish_all", "app": env.app, "everything": true}),
        )
        .await?;
    assert_refused(&answer, 400, "unknown field `everything`");
    assert!(env
        .listed(OrderKind::App, &format!("app={}", env.app))
        .await?
        .is_empty());

    // The order as the SDK writes it (known fields only) is still published.
    let (status, body) = env
        .post_order(OrderKind::App, Some(APP_OWNER), &json!({ "order": signed }))
        .await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

/// `POST /apporders` of `order` signed in with the challenge `auth`.
async fn post_app_order(env: &Env, auth: &str, order: &impl serde::Serialize) -> R<(u16, Value)> {
    env.send(
        Method::POST,
        "/apporders",
        Some(auth),
        &json!({ "order": order }),
    )
    .await
}

/// The refusal of a challenge that a newer one replaced.
const REPLACED: &str = "a newer challenge of the address replaces the older";

/// A newer challenge of an address replaces its older one, as `API.md` says.
#[tokio::test]
async fn a_newer_challenge_replaces_the_older_one() -> R {
    let env = Env::start().await?;
    let first = env.sign(APP_OWNER, env.app_order(1, 10));
    let second = env.sign(APP_OWNER, env.app_order(2, 10));
    // Unbound (as the SDK asks), then bound to another action: the unbound one is gone.
    let older = env.auth(APP_OWNER).await?;
    let newer = env
        .auth_for(APP_OWNER, Action::Publish(second.order_hash(&env.domain)))
        .await?;
    let answer = post_app_order(&env, &older, &first).await?;
    assert_refused(&answer, 401, REPLACED);
    // Two bound ones: only the newer holds.
    let older_bound = env
        .auth_for(APP_OWNER, Action::Publish(first.order_hash(&env.domain)))
        .await?;
    let answer = post_app_order(&env, &newer, &second).await?;
    assert_refused(&answer, 401, REPLACED);
    let (status, body) = post_app_order(&env, &older_bound, &first).await?;
    assert_eq!(status, 200, "{body}");
    // Asking again for the same action gives the same live challenge (retries, SDK).
    let address = env.addr(APP_OWNER);
    let a = env.get_ok(&format!("/challenge?address={address}")).await?;
    let b = env.get_ok(&format!("/challenge?address={address}")).await?;
    assert_eq!(a["data"], b["data"]);
    // poco's client signs in again when its challenge was replaced in between.
    let (_, listed) = env.publish(APP_OWNER, env.app_order(3, 10)).await?;
    assert_eq!(listed.status, poco_market::api::Status::Open);
    Ok(())
}
