//! `GET /fill` and `POST /fill/transaction`: from the best offer to a deal on chain.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    rpc::types::TransactionRequest,
    sol_types::SolStruct,
};
use poco_types::{AppOrder, RequestOrder, SignedOrder, WorkerpoolOrder};
use serde_json::{json, Value};

use crate::fixture::*;

/// The EIP-712 type string described by the typed data's `types[primary]`.
fn encode_type(typed: &Value, primary: &str) -> R<String> {
    let fields: Vec<String> = typed["types"][primary]
        .as_array()
        .ok_or("no fields")?
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["type"].as_str().unwrap_or("?"),
                f["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    Ok(format!("{primary}({})", fields.join(",")))
}

/// Sends `{to, data}` of a `/fill/transaction` answer from the requester.
async fn send_fill(env: &Env, answer: &Value) -> R {
    let to: Address = serde_json::from_value(answer["to"].clone())?;
    let data: Bytes = serde_json::from_value(answer["data"].clone())?;
    let tx = TransactionRequest::default().with_to(to).with_input(data);
    env.chain_client(REQUESTER).await?.send(tx, "fill").await?;
    Ok(())
}

#[tokio::test]
async fn fill_offers_the_cheapest_orders_and_the_transaction_that_makes_the_deal() -> R {
    let env = Env::start().await?;
    let me = env.addr(REQUESTER);
    env.publish(APP_OWNER, env.app_order(5, 10)).await?;
    let (_, cheapest_app) = env.publish(APP_OWNER, env.app_order(3, 10)).await?;
    // Cheaper, but not for this requester.
    env.publish(
        APP_OWNER,
        AppOrder {
            requesterrestrict: env.addr(OTHER),
            ..env.app_order(1, 10)
        },
    )
    .await?;
    env.publish(SCHEDULER, env.pool_order(10, 10, 1)).await?;
    let (_, cheapest_pool) = env.publish(SCHEDULER, env.pool_order(8, 10, 1)).await?;
    // Cheaper, but in a higher category, or without the trust asked.
    env.publish(
        SCHEDULER,
        WorkerpoolOrder {
            category: U256::from(1),
            ..env.pool_order(2, 10, 1)
        },
    )
    .await?;
    env.publish(SCHEDULER, env.pool_order(1, 10, 0)).await?;
    let (_, trusted_pool) = env.publish(SCHEDULER, env.pool_order(20, 10, 5)).await?;

    let offer = env
        .get_ok(&format!(
            "/fill?app={}&requester={me}&args=hello%20world&volume=2",
            env.app
        ))
        .await?;
    let entry_json = |e: &poco_market::api::OrderEntry| serde_json::to_value(e);
    assert_eq!(offer["apporder"], entry_json(&cheapest_app)?);
    assert_eq!(offer["workerpoolorder"], entry_json(&cheapest_pool)?);
    assert_eq!(offer["datasetorder"], Value::Null);
    assert_eq!(
        offer["price"],
        json!({"app": "3", "dataset": "0", "workerpool": "8", "perTask": "11", "total": "22"})
    );
    let request: RequestOrder = serde_json::from_value(offer["requestorder"].clone())?;
    assert_eq!(
        request,
        RequestOrder {
            app: env.app,
            appmaxprice: U256::from(3),
            workerpool: env.pool,
            workerpoolmaxprice: U256::from(8),
            requester: me,
            volume: U256::from(2),
            trust: U256::from(1),
            beneficiary: me,
            params: r#"{"iexec_args":"hello world"}"#.into(),
            salt: request.salt,
            ..Default::default()
        }
    );
    assert_ne!(request.salt, alloy::primitives::B256::ZERO);
    assert_eq!(
        offer["command"],
        format!(
            "poco run {} --args 'hello world' --category 0 --volume 2 --workerpool {}",
            env.app, env.pool
        )
    );
    // The typed data is the request's EIP-712 form on this hub.
    let typed = &offer["typedData"];
    assert_eq!(typed["primaryType"], "RequestOrder");
    assert_eq!(typed["message"], offer["requestorder"]);
    assert_eq!(typed["domain"]["chainId"], json!(env.chain_id));
    assert_eq!(typed["domain"]["verifyingContract"], json!(env.chain.hub()));
    assert_eq!(typed["domain"]["name"], poco_types::DOMAIN_NAME);
    assert_eq!(typed["domain"]["version"], poco_types::DOMAIN_VERSION);
    assert_eq!(
        encode_type(typed, "RequestOrder")?,
        RequestOrder::eip712_encode_type()
    );

    // Signed by the requester, the transaction makes the deal (fast path: trust 1).
    let signed = SignedOrder::sign(request, &env.domain, env.key(REQUESTER))?;
    let request_hash = signed.order_hash(&env.domain);
    let orders = json!({
        "apporder": offer["apporder"]["order"],
        "datasetorder": null,
        "workerpoolorder": offer["workerpoolorder"]["order"],
        "requestorder": signed,
    });
    let (status, answer) = env
        .send(reqwest::Method::POST, "/fill/transaction", None, &orders)
        .await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["to"], json!(env.chain.hub()));
    assert_eq!(answer["fast"], true);
    send_fill(&env, &answer).await?;
    let deals = wait_for("the filled deal", || async {
        let deals = env
            .get_ok(&format!("/deals?requestorderHash={request_hash}"))
            .await?;
        Ok((deals["count"] == 1).then_some(deals))
    })
    .await?;
    let deal = &deals["deals"][0];
    assert_eq!(deal["fast"], true);
    assert_eq!(deal["volume"], 2);
    assert_eq!(deal["appHash"], json!(cheapest_app.order_hash));
    assert_eq!(deal["workerpoolHash"], json!(cheapest_pool.order_hash));
    env.wait_remaining(
        poco_types::OrderKind::Workerpool,
        cheapest_pool.order_hash,
        8,
    )
    .await?;

    // Trust 3: only the trusted pool offers it, and the classic path is used.
    let offer = env
        .get_ok(&format!("/fill?app={}&requester={me}&trust=3", env.app))
        .await?;
    assert_eq!(
        offer["workerpoolorder"]["orderHash"],
        json!(trusted_pool.order_hash)
    );
    assert_eq!(
        offer["command"],
        format!(
            "poco run {} --trust 3 --category 0 --workerpool {}",
            env.app, env.pool
        )
    );
    let request: RequestOrder = serde_json::from_value(offer["requestorder"].clone())?;
    assert_eq!(request.trust, U256::from(3));
    let signed = SignedOrder::sign(request.clone(), &env.domain, env.key(REQUESTER))?;
    let orders = json!({
        "apporder": offer["apporder"]["order"],
        "workerpoolorder": offer["workerpoolorder"]["order"],
        "requestorder": signed,
    });
    let (status, answer) = env
        .send(reqwest::Method::POST, "/fill/transaction", None, &orders)
        .await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["fast"], false);
    send_fill(&env, &answer).await?;
    env.wait_remaining(
        poco_types::OrderKind::Workerpool,
        trusted_pool.order_hash,
        9,
    )
    .await?;

    // A transaction the hub would refuse: 409 with the hub's reason in words.
    let forged = SignedOrder::sign(
        RequestOrder {
            trust: U256::from(1),
            ..request
        },
        &env.domain,
        env.key(OTHER),
    )?;
    let orders = json!({
        "apporder": offer["apporder"]["order"],
        "workerpoolorder": offer["workerpoolorder"]["order"],
        "requestorder": forged,
    });
    let answer = env
        .send(reqwest::Method::POST, "/fill/transaction", None, &orders)
        .await?;
    assert_refused(
        &answer,
        409,
        &format!("matchOrdersFast refused: the request order is not signed by the requester {me}"),
    );
    let answer = env
        .send(
            reqwest::Method::POST,
            "/fill/transaction",
            None,
            &json!({"apporder": offer["apporder"]["order"], "requestorder": signed}),
        )
        .await?;
    assert_refused(&answer, 400, "workerpoolorder is required");

    // With a dataset.
    let (_, dataset_entry) = env.publish(DATASET_OWNER, env.dataset_order(2, 10)).await?;
    let offer = env
        .get_ok(&format!(
            "/fill?app={}&dataset={}&requester={me}",
            env.app, env.dataset
        ))
        .await?;
    assert_eq!(offer["datasetorder"], entry_json(&dataset_entry)?);
    assert_eq!(offer["price"]["perTask"], "13");
    assert_eq!(offer["requestorder"]["dataset"], env.dataset.to_string());
    assert_eq!(offer["requestorder"]["datasetmaxprice"], "2");
    assert!(
        offer["command"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("--dataset {}", env.dataset))),
        "{offer}"
    );

    // What is missing, named.
    assert_refused(&env.get("/fill").await?, 400, "app is required");
    assert_refused(
        &env.get(&format!("/fill?app={}&category=4", env.app))
            .await?,
        404,
        "no workerpool order in category 4",
    );
    assert_refused(
        &env.get(&format!("/fill?app={}&trust=9", env.app)).await?,
        404,
        "offers trust 9",
    );
    let nobody = Address::repeat_byte(0x99);
    assert_refused(
        &env.get(&format!("/fill?app={nobody}")).await?,
        404,
        "no app order",
    );
    let unknown_dataset = Address::repeat_byte(0x98);
    assert_refused(
        &env.get(&format!("/fill?app={}&dataset={unknown_dataset}", env.app))
            .await?,
        404,
        "no dataset order",
    );
    Ok(())
}
