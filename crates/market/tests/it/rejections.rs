//! Every refusal of publication, with its status and a message naming the check.

use alloy::primitives::{Address, Bytes, U256};
use poco_chain::{bindings::hub::IexecLibOrders_v5 as abi, convert::AnySignedOrder};
use poco_market::challenge_hash;
use poco_types::{
    signature::sign_digest, AppOrder, Domain, Order as _, OrderKind, RequestOrder, SignedOrder,
    WorkerpoolOrder,
};
use serde_json::{json, Value};

use crate::fixture::*;

fn body<T: serde::Serialize>(order: &T) -> Value {
    json!({ "order": order })
}

#[tokio::test]
async fn authorization_is_checked() -> R {
    let env = Env::start().await?;
    let order = body(&env.sign(APP_OWNER, env.app_order(1, 10)));
    let post = |auth: Option<String>, order: Value| {
        let env = &env;
        async move {
            env.send(reqwest::Method::POST, "/apporders", auth.as_deref(), &order)
                .await
        }
    };

    let answer = post(None, order.clone()).await?;
    assert_refused(&answer, 401, "authorization: missing header");
    let answer = post(Some("garbage".into()), order.clone()).await?;
    assert_refused(
        &answer,
        401,
        "authorization: expected `<hash>_<signature>_<address>`",
    );
    let owner = env.addr(APP_OWNER);
    let answer = post(Some(format!("0x12_0x34_{owner}")), order.clone()).await?;
    assert_refused(&answer, 401, "is not a 32-byte hash");
    let valid = env.auth(APP_OWNER).await?;
    let (hash, rest) = valid.split_once('_').ok_or("hash")?;
    let (sign, _) = rest.split_once('_').ok_or("sign")?;
    let answer = post(Some(format!("{hash}_{sign}_0xnotanaddress")), order.clone()).await?;
    assert_refused(&answer, 401, "is not an address");
    let answer = post(Some(format!("{hash}_zz_{owner}")), order.clone()).await?;
    assert_refused(&answer, 401, "the signature is not hex");

    // The challenge signed by another key.
    let challenge = env.get_ok(&format!("/challenge?address={owner}")).await?;
    let data = &challenge["data"];
    assert_eq!(data["primaryType"], "Challenge");
    assert_eq!(
        data["domain"],
        json!({"name": "iExec Gateway", "version": "1", "chainId": env.chain_id})
    );
    let text = data["message"]["challenge"]
        .as_str()
        .ok_or("challenge text")?;
    assert!(text.starts_with(poco_market::CHALLENGE_PREFIX), "{text}");
    let hash = challenge_hash(env.chain_id, text);
    let by_other = sign_digest(env.key(REQUESTER), &hash)?;
    let answer = post(Some(format!("{hash}_{by_other}_{owner}")), order.clone()).await?;
    assert_refused(
        &answer,
        401,
        &format!("signed by {}, not by {owner}", env.addr(REQUESTER)),
    );
    // One live challenge per address: asking again gives the same one, still usable.
    let again = env.get_ok(&format!("/challenge?address={owner}")).await?;
    assert_eq!(again["data"]["message"]["challenge"], text);
    let by_owner = sign_digest(env.key(APP_OWNER), &hash)?;
    let auth = format!("{hash}_{by_owner}_{owner}");
    let (status, published) = post(Some(auth.clone()), order.clone()).await?;
    assert_eq!(status, 200, "{published}");
    // Used once.
    let second = body(&env.sign(APP_OWNER, env.app_order(2, 10)));
    let answer = post(Some(auth), second.clone()).await?;
    assert_refused(&answer, 401, "no live challenge");
    // A challenge of another chain id is not the live one either.
    let wrong_chain = challenge_hash(env.chain_id + 1, text);
    let sign = sign_digest(env.key(APP_OWNER), &wrong_chain)?;
    let answer = post(Some(format!("{wrong_chain}_{sign}_{owner}")), second).await?;
    assert_refused(&answer, 401, "no live challenge");

    assert_refused(&env.get("/challenge").await?, 400, "address is required");
    assert_refused(
        &env.get(&format!("/challenge?address={owner}&chainId=1"))
            .await?,
        400,
        "chainId",
    );
    // Unpublishing needs it too.
    let answer = env
        .send(
            reqwest::Method::PUT,
            "/apporders",
            Some("garbage"),
            &json!({"target": "unpublish_all", "app": env.app}),
        )
        .await?;
    assert_refused(&answer, 401, "authorization");
    Ok(())
}

#[tokio::test]
async fn publications_are_checked() -> R {
    let env = Env::start().await?;
    let owner = env.addr(APP_OWNER);

    // Schema.
    let mut missing = serde_json::to_value(env.sign(APP_OWNER, env.app_order(1, 10)))?;
    missing.as_object_mut().ok_or("object")?.remove("appprice");
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({ "order": missing }),
        )
        .await?;
    assert_refused(&answer, 400, "schema: the order is not a signed AppOrder");
    assert!(
        super::fixture::message(&answer.1).contains("appprice"),
        "{}",
        answer.1
    );
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &json!({ "apporder": {} }))
        .await?;
    assert_refused(&answer, 400, "schema");
    let zero = env.sign(APP_OWNER, env.app_order(1, 0));
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&zero))
        .await?;
    assert_refused(&answer, 400, "schema: volume must be between 1");
    let short = SignedOrder {
        sign: Bytes::from_static(&[1, 2, 3]),
        ..env.sign(APP_OWNER, env.app_order(1, 10))
    };
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&short))
        .await?;
    assert_refused(&answer, 400, "schema: sign must be a 65-byte signature");
    let bad_params = env.sign(
        REQUESTER,
        RequestOrder {
            params: r#"{"iexec_input_files": 5}"#.into(),
            ..env.request_order(1, 1, 1, 1)
        },
    );
    let answer = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&bad_params))
        .await?;
    assert_refused(&answer, 400, "schema: params");
    let app = env.sign(APP_OWNER, env.app_order(1, 10));
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({"order": app, "workerpoolApi": "http://127.0.0.1:7001"}),
        )
        .await?;
    assert_refused(&answer, 400, "workerpoolApi is only for workerpool orders");
    let pool = env.sign(SCHEDULER, env.pool_order(1, 10, 1));
    let answer = env
        .post_order(
            OrderKind::Workerpool,
            Some(SCHEDULER),
            &json!({"order": pool, "workerpoolApi": "ftp://pool"}),
        )
        .await?;
    assert_refused(&answer, 400, "workerpoolApi must be an http(s) URL");
    // The admission mode: workerpool orders only, one of the known modes.
    let answer = env
        .post_order(
            OrderKind::App,
            Some(APP_OWNER),
            &json!({"order": app, "workerpoolAdmission": "open"}),
        )
        .await?;
    assert_refused(
        &answer,
        400,
        "workerpoolAdmission is only for workerpool orders",
    );
    let answer = env
        .post_order(
            OrderKind::Workerpool,
            Some(SCHEDULER),
            &json!({"order": pool, "workerpoolAdmission": "<script>trusted</script>"}),
        )
        .await?;
    assert_refused(
        &answer,
        400,
        "workerpoolAdmission must be one of closed, open",
    );

    // Signatures: by the wrong key, for another domain, none.
    let by_wrong_key = env.app_order(1, 10).sign(&env.domain, env.key(REQUESTER))?;
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&by_wrong_key))
        .await?;
    assert_refused(
        &answer,
        401,
        &format!(
            "was signed by {}, but it must be signed by {owner}",
            env.addr(REQUESTER)
        ),
    );
    let other_domain = Domain::new(env.chain_id, Address::repeat_byte(0x42));
    let wrong_hash = env
        .app_order(1, 10)
        .sign(&other_domain, env.key(APP_OWNER))?;
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&wrong_hash))
        .await?;
    assert_refused(&answer, 401, "signature: order");
    assert!(
        !super::fixture::message(&answer.1).contains(&format!("was signed by {owner}")),
        "{}",
        answer.1
    );
    let unsigned = SignedOrder {
        order: env.app_order(1, 10),
        sign: Bytes::new(),
    };
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&unsigned))
        .await?;
    assert_refused(&answer, 401, "has no signature and is not presigned");
    // Presigned on chain by the owner, the same order is accepted without a signature.
    let owner_client = env.chain_client(APP_OWNER).await?;
    let presign = owner_client
        .hub()
        .manageAppOrder(abi::AppOrderOperation {
            order: (&unsigned).into(),
            operation: 0,
            sign: Bytes::new(),
        })
        .into_transaction_request();
    owner_client.send(presign, "presign").await?;
    env.sync().await?;
    let entry = env
        .client
        .publish(env.key(APP_OWNER), &unsigned, None)
        .await?;
    assert_eq!(entry.order["sign"], "0x");

    // Publisher and owner.
    let answer = env
        .post_order(OrderKind::App, Some(REQUESTER), &body(&app))
        .await?;
    assert_refused(
        &answer,
        403,
        &format!(
            "signer: you signed in as {}, but this order can only be published by {owner}",
            env.addr(REQUESTER)
        ),
    );
    let request = env.sign(REQUESTER, env.request_order(1, 1, 1, 1));
    let answer = env
        .post_order(OrderKind::Request, Some(APP_OWNER), &body(&request))
        .await?;
    assert_refused(&answer, 403, "its requester");
    let unregistered = env.sign(
        APP_OWNER,
        AppOrder {
            app: Address::repeat_byte(0x77),
            ..env.app_order(1, 10)
        },
    );
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&unregistered))
        .await?;
    assert_refused(&answer, 404, "is not registered on chain");
    let not_a_pool = env.sign(
        SCHEDULER,
        WorkerpoolOrder {
            workerpool: env.app,
            ..env.pool_order(1, 10, 1)
        },
    );
    let answer = env
        .post_order(OrderKind::Workerpool, Some(SCHEDULER), &body(&not_a_pool))
        .await?;
    assert_refused(&answer, 404, "workerpool");

    // Duplicate.
    let (status, _) = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&app))
        .await?;
    assert_eq!(status, 200);
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&app))
        .await?;
    assert_refused(&answer, 409, "duplicate");

    // Fully consumed: closed on chain before being published.
    let closed = env.sign(APP_OWNER, env.app_order(1, 10));
    owner_client
        .cancel_order(&AnySignedOrder::App(closed.clone()))
        .await?;
    env.sync().await?;
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&closed))
        .await?;
    assert_refused(&answer, 409, "remaining volume");

    // Stake.
    let expensive_pool = env.sign(SCHEDULER, env.pool_order(10_000 * RLC, 1, 1));
    let answer = env
        .post_order(
            OrderKind::Workerpool,
            Some(SCHEDULER),
            &body(&expensive_pool),
        )
        .await?;
    assert_refused(&answer, 402, "stake: the workerpool owner");
    assert!(
        super::fixture::message(&answer.1).contains("3000"),
        "30 % of 10,000 RLC: {}",
        answer.1
    );
    let expensive_request = env.sign(REQUESTER, env.request_order(1, 10_000 * RLC, 1, 1));
    let answer = env
        .post_order(
            OrderKind::Request,
            Some(REQUESTER),
            &body(&expensive_request),
        )
        .await?;
    assert_refused(&answer, 402, "stake: the requester");
    // Several tasks: the stake must cover all of them.
    let many = env.sign(REQUESTER, env.request_order(1, 200 * RLC, 10, 1));
    let answer = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&many))
        .await?;
    assert_refused(&answer, 402, "for its 10 remaining tasks");

    // Counterparts of a request: an app order it can afford, a dataset order if it uses one.
    let too_cheap = env.sign(REQUESTER, env.request_order(0, 1, 1, 1));
    let answer = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&too_cheap))
        .await?;
    assert_refused(&answer, 409, "counterpart: no open app order");
    let with_dataset = env.sign(
        REQUESTER,
        RequestOrder {
            dataset: env.dataset,
            datasetmaxprice: U256::from(5),
            ..env.request_order(1, 1, 1, 1)
        },
    );
    let answer = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&with_dataset))
        .await?;
    assert_refused(&answer, 409, "counterpart: no open dataset order");
    env.publish(DATASET_OWNER, env.dataset_order(5, 1)).await?;
    let (status, published) = env
        .post_order(OrderKind::Request, Some(REQUESTER), &body(&with_dataset))
        .await?;
    assert_eq!(status, 200, "{published}");

    // The chain id of every call.
    let answer = env
        .get(&format!("/apporders?app={}&chainId=1", env.app))
        .await?;
    assert_refused(
        &answer,
        400,
        &format!("chainId: this market serves chain {}, not 1", env.chain_id),
    );
    assert_eq!(
        env.get(&format!(
            "/apporders?app={}&chainId={}",
            env.app, env.chain_id
        ))
        .await?
        .0,
        200
    );
    for path in [
        "/deals?chainId=1".to_owned(),
        "/workerpoolorders?chainId=1".to_owned(),
        "/categories?chainId=1".to_owned(),
        format!("/fill?app={}&chainId=1", env.app),
        format!("/apporders/{}?chainId=1", entry.order_hash),
    ] {
        assert_refused(&env.get(&path).await?, 400, "chainId");
    }
    let fresh = env.sign(APP_OWNER, env.app_order(7, 10));
    let auth = env.auth(APP_OWNER).await?;
    let answer = env
        .send(
            reqwest::Method::POST,
            "/apporders?chainId=1",
            Some(&auth),
            &body(&fresh),
        )
        .await?;
    assert_refused(&answer, 400, "chainId");
    Ok(())
}

#[tokio::test]
async fn open_orders_per_wallet_are_capped() -> R {
    let mut env = Env::chain().await?;
    let mut config = env.market_config("capped.db");
    config.max_open_orders = 2;
    env.start_market(config).await?;

    let first = env.publish(APP_OWNER, env.app_order(1, 10)).await?.1;
    env.publish(APP_OWNER, env.app_order(2, 10)).await?;
    let third = env.sign(APP_OWNER, env.app_order(3, 10));
    let answer = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&third))
        .await?;
    assert_refused(
        &answer,
        429,
        &format!(
            "open orders: {} already has 2 open apporders",
            env.addr(APP_OWNER)
        ),
    );
    // Per type and per wallet.
    env.publish(DATASET_OWNER, env.dataset_order(1, 10)).await?;
    env.publish(SCHEDULER, env.pool_order(1, 10, 1)).await?;
    env.publish(SCHEDULER, env.pool_order(2, 10, 1)).await?;
    env.publish(REQUESTER, env.request_order(1, 1, 1, 1))
        .await?;
    // Room again once one is unpublished.
    env.unpublish(
        OrderKind::App,
        APP_OWNER,
        &json!({"target": "unpublish_orderHash", "orderHash": first.order_hash}),
    )
    .await?;
    let (status, published) = env
        .post_order(OrderKind::App, Some(APP_OWNER), &body(&third))
        .await?;
    assert_eq!(status, 200, "{published}");

    // A market refuses a cap of zero.
    let mut zero = env.market_config("zero.db");
    zero.max_open_orders = 0;
    let err = poco_market::start(zero).await.unwrap_err();
    assert!(err.to_string().contains("max open orders"), "{err}");
    Ok(())
}
