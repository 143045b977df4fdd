//! L12: a sign-in is bound to the action it authorizes (poco's client always asks for that),
//! while the unbound challenges iExec's SDK asks for keep working.

use poco_market::Action;
use poco_types::OrderKind;
use serde_json::json;

use crate::fixture::*;

/// A token bound to `publish:<h1>`, intercepted before use, cannot unpublish everything; it
/// stays good for what it was issued for.
#[tokio::test]
async fn l12_token_bound_to_publish_refused_for_unpublish_all() -> R {
    let env = Env::start().await?;
    let (_, listed) = env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    let next = env.sign(APP_OWNER, env.app_order(2, 10));
    let h1 = next.order_hash(&env.domain);
    let token = env.auth_for(APP_OWNER, Action::Publish(h1)).await?;

    let stolen = env
        .send(
            reqwest::Method::PUT,
            "/apporders",
            Some(&token),
            &json!({"target": "unpublish_all", "app": env.app}),
        )
        .await?;
    assert_refused(
        &stolen,
        403,
        &format!("issued for publish:{h1} only, not for unpublish_all:apporder"),
    );
    // Nor for publishing another order.
    let other = env.sign(APP_OWNER, env.app_order(3, 10));
    let answer = env
        .send(
            reqwest::Method::POST,
            "/apporders",
            Some(&token),
            &json!({ "order": other }),
        )
        .await?;
    assert_refused(&answer, 403, "not for publish:");
    assert_eq!(
        env.listed(OrderKind::App, &format!("app={}", env.app))
            .await?,
        [listed.order_hash]
    );
    // The token still does what it was issued for, once.
    let (status, published) = env
        .send(
            reqwest::Method::POST,
            "/apporders",
            Some(&token),
            &json!({ "order": next }),
        )
        .await?;
    assert_eq!(status, 200, "{published}");
    let again = env
        .send(
            reqwest::Method::POST,
            "/apporders",
            Some(&token),
            &json!({ "order": next }),
        )
        .await?;
    assert_refused(&again, 401, "no live challenge");

    // The challenge text names the action, so the wallet shows what is being signed.
    let challenge = env
        .get_ok(&format!(
            "/challenge?address={}&action=unpublish_all:apporder",
            env.addr(APP_OWNER)
        ))
        .await?;
    let text = challenge["data"]["message"]["challenge"]
        .as_str()
        .ok_or("text")?;
    assert!(
        text.starts_with(poco_market::CHALLENGE_PREFIX)
            && text.ends_with(" (only to unpublish_all:apporder)"),
        "{text}"
    );
    assert_refused(
        &env.get(&format!(
            "/challenge?address={}&action=delete_everything",
            env.addr(APP_OWNER)
        ))
        .await?,
        400,
        "action: \"delete_everything\" is not publish:<orderHash>",
    );
    Ok(())
}

/// An unbound challenge, as iExec's SDK asks for (`GET /challenge?chainId=&address=`), still
/// authorizes one publish or unpublish of its address.
#[tokio::test]
async fn l12_unbound_token_still_works() -> R {
    let env = Env::start().await?;
    let order = env.sign(APP_OWNER, env.app_order(1, 10));
    let (status, published) = env
        .post_order(OrderKind::App, Some(APP_OWNER), &json!({ "order": order }))
        .await?;
    assert_eq!(status, 200, "{published}");
    let (status, body) = env
        .unpublish(
            OrderKind::App,
            APP_OWNER,
            &json!({"target": "unpublish_all", "app": env.app}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["unpublished"],
        json!([published["published"]["orderHash"]])
    );

    // poco's client binds each of its sign-ins: publish, then each unpublish target.
    let (_, a) = env.publish(APP_OWNER, env.app_order(1, 10)).await?;
    let (_, b) = env.publish(APP_OWNER, env.app_order(2, 10)).await?;
    let (_, c) = env.publish(APP_OWNER, env.app_order(3, 10)).await?;
    let key = env.key(APP_OWNER);
    let one = poco_market::api::UnpublishRequest {
        target: Some(poco_market::api::UnpublishTarget::UnpublishOrderHash),
        order_hash: Some(a.order_hash),
        ..Default::default()
    };
    assert_eq!(
        env.client.unpublish(key, OrderKind::App, &one).await?,
        [a.order_hash]
    );
    let last = poco_market::api::UnpublishRequest {
        target: Some(poco_market::api::UnpublishTarget::UnpublishLast),
        app: Some(env.app),
        ..Default::default()
    };
    assert_eq!(
        env.client.unpublish(key, OrderKind::App, &last).await?,
        [c.order_hash]
    );
    let all = poco_market::api::UnpublishRequest {
        target: Some(poco_market::api::UnpublishTarget::UnpublishAll),
        app: Some(env.app),
        ..Default::default()
    };
    assert_eq!(
        env.client.unpublish(key, OrderKind::App, &all).await?,
        [b.order_hash]
    );
    Ok(())
}
