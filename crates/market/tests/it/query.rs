//! Every filter of the order lists, their sort order and pagination.

use alloy::primitives::{Address, B256, U256};
use poco_types::{AppOrder, DatasetOrder, Order, OrderKind, RequestOrder, Tag, WorkerpoolOrder};

use crate::fixture::*;

fn tag_hex(tag: Tag) -> String {
    tag.0.to_string()
}

/// Publishes and returns the order hash.
async fn put<O: Order>(env: &Env, key: poco_testkit::Role, order: O) -> R<B256> {
    Ok(env.publish(key, order).await?.1.order_hash)
}

#[tokio::test]
async fn app_and_dataset_order_filters() -> R {
    let env = Env::start().await?;
    let (a, d, p, r) = (env.app, env.dataset, env.pool, env.addr(REQUESTER));
    let stranger = Address::repeat_byte(0x77);
    let second_app = env.create_app(APP_OWNER, "second").await?;
    env.sync().await?;

    let base = |price: u64, volume: u64| env.app_order(price, volume);
    let a1 = put(&env, APP_OWNER, base(5, 10)).await?;
    let a2 = put(
        &env,
        APP_OWNER,
        AppOrder {
            tag: Tag::TEE.0,
            ..base(3, 10)
        },
    )
    .await?;
    // Same price as a1, published after it.
    let a3 = put(
        &env,
        APP_OWNER,
        AppOrder {
            tag: (Tag::TEE | Tag::GPU).0,
            ..base(5, 2)
        },
    )
    .await?;
    let a4 = put(
        &env,
        APP_OWNER,
        AppOrder {
            datasetrestrict: d,
            ..base(1, 10)
        },
    )
    .await?;
    let a5 = put(
        &env,
        APP_OWNER,
        AppOrder {
            workerpoolrestrict: p,
            ..base(1, 10)
        },
    )
    .await?;
    let a6 = put(
        &env,
        APP_OWNER,
        AppOrder {
            requesterrestrict: r,
            ..base(1, 10)
        },
    )
    .await?;
    let a7 = put(
        &env,
        APP_OWNER,
        AppOrder {
            datasetrestrict: stranger,
            ..base(2, 10)
        },
    )
    .await?;
    let b1 = put(
        &env,
        APP_OWNER,
        AppOrder {
            app: second_app,
            ..base(0, 10)
        },
    )
    .await?;

    let apps = |query: String| {
        let env = &env;
        async move { env.listed(OrderKind::App, &query).await }
    };
    // No restriction filter: only unrestricted orders; price ascending, then publication.
    assert_eq!(apps(format!("app={a}")).await?, [a2, a1, a3]);
    assert_eq!(
        apps(format!("app={a}&dataset=any")).await?,
        [a4, a7, a2, a1, a3]
    );
    assert_eq!(
        apps(format!("app={a}&dataset={d}")).await?,
        [a4, a2, a1, a3]
    );
    assert_eq!(
        apps(format!("app={a}&dataset={d}&isDatasetStrict=true")).await?,
        [a4]
    );
    assert_eq!(
        apps(format!("app={a}&workerpool={p}")).await?,
        [a5, a2, a1, a3]
    );
    assert_eq!(
        apps(format!("app={a}&workerpool={p}&isWorkerpoolStrict=true")).await?,
        [a5]
    );
    assert_eq!(
        apps(format!("app={a}&requester={r}")).await?,
        [a6, a2, a1, a3]
    );
    assert_eq!(
        apps(format!("app={a}&requester={r}&isRequesterStrict=true")).await?,
        [a6]
    );
    assert_eq!(
        apps(format!("app={a}&dataset=any&workerpool=any&requester=any")).await?,
        [a4, a5, a6, a7, a2, a1, a3]
    );
    // Tags: minTag = every bit present, maxTag = no bit outside.
    assert_eq!(
        apps(format!("app={a}&minTag={}", tag_hex(Tag::TEE))).await?,
        [a2, a3]
    );
    assert_eq!(
        apps(format!("app={a}&minTag={}", tag_hex(Tag::GPU))).await?,
        [a3]
    );
    assert_eq!(
        apps(format!("app={a}&maxTag={}", tag_hex(Tag::TEE))).await?,
        [a2, a1]
    );
    assert_eq!(apps(format!("app={a}&minVolume=5")).await?, [a2, a1]);
    assert_eq!(
        apps(format!("app={a}&minVolume=11")).await?,
        Vec::<B256>::new()
    );
    // By owner: both apps.
    assert_eq!(
        apps(format!("appOwner={}", env.addr(APP_OWNER))).await?,
        [b1, a2, a1, a3]
    );
    assert_eq!(apps(format!("app={second_app}")).await?, [b1]);
    assert_eq!(
        apps(format!("appOwner={}", env.addr(OTHER))).await?,
        Vec::<B256>::new()
    );
    let count = env
        .get_ok(&format!("/apporders?app={a}&dataset=any"))
        .await?;
    assert_eq!(count["count"], 5);
    let answer = env.get("/apporders").await?;
    assert_refused(&answer, 400, "app or appOwner is required");
    let answer = env.get("/apporders?app=0xnothex").await?;
    assert_refused(&answer, 400, "app:");
    let answer = env
        .get(&format!(
            "/apporders?app={a}&isDatasetStrict=maybe&dataset={d}"
        ))
        .await?;
    assert_refused(&answer, 400, "isDatasetStrict");
    let answer = env
        .get(&format!("/apporders?app={a}&minTag=nonsense"))
        .await?;
    assert_refused(&answer, 400, "minTag");

    // Dataset orders.
    let dbase = |price: u64| env.dataset_order(price, 10);
    let d1 = put(&env, DATASET_OWNER, dbase(4)).await?;
    let d2 = put(
        &env,
        DATASET_OWNER,
        DatasetOrder {
            apprestrict: a,
            ..dbase(2)
        },
    )
    .await?;
    let d3 = put(
        &env,
        DATASET_OWNER,
        DatasetOrder {
            requesterrestrict: r,
            ..dbase(6)
        },
    )
    .await?;
    let d4 = put(
        &env,
        DATASET_OWNER,
        DatasetOrder {
            workerpoolrestrict: p,
            ..dbase(1)
        },
    )
    .await?;
    let d5 = put(
        &env,
        DATASET_OWNER,
        DatasetOrder {
            tag: Tag::TEE.0,
            volume: U256::from(1),
            ..dbase(5)
        },
    )
    .await?;
    let datasets = |query: String| {
        let env = &env;
        async move { env.listed(OrderKind::Dataset, &query).await }
    };
    assert_eq!(datasets(format!("dataset={d}")).await?, [d1, d5]);
    assert_eq!(
        datasets(format!("dataset={d}&app={a}")).await?,
        [d2, d1, d5]
    );
    assert_eq!(
        datasets(format!("dataset={d}&app={a}&isAppStrict=true")).await?,
        [d2]
    );
    assert_eq!(
        datasets(format!("dataset={d}&app={second_app}")).await?,
        [d1, d5]
    );
    assert_eq!(
        datasets(format!("dataset={d}&requester=any")).await?,
        [d1, d5, d3]
    );
    assert_eq!(
        datasets(format!("dataset={d}&requester={r}&isRequesterStrict=true")).await?,
        [d3]
    );
    assert_eq!(
        datasets(format!("dataset={d}&workerpool={p}")).await?,
        [d4, d1, d5]
    );
    assert_eq!(
        datasets(format!("dataset={d}&minTag={}", tag_hex(Tag::TEE))).await?,
        [d5]
    );
    assert_eq!(
        datasets(format!("dataset={d}&maxTag={}", tag_hex(Tag::NONE))).await?,
        [d1]
    );
    assert_eq!(datasets(format!("dataset={d}&minVolume=2")).await?, [d1]);
    assert_eq!(
        datasets(format!(
            "datasetOwner={}&app=any&workerpool=any&requester=any",
            env.addr(DATASET_OWNER)
        ))
        .await?,
        [d4, d2, d1, d5, d3]
    );
    let answer = env.get("/datasetorders?app=any").await?;
    assert_refused(&answer, 400, "dataset or datasetOwner is required");
    Ok(())
}

#[tokio::test]
async fn workerpool_order_filters() -> R {
    let env = Env::start().await?;
    let (a, d, p, r) = (env.app, env.dataset, env.pool, env.addr(REQUESTER));
    let scheduler = env.chain_client(SCHEDULER).await?;
    let p2 = scheduler.create_workerpool("second pool").await?;
    let p3 = env
        .chain_client(OTHER)
        .await?
        .create_workerpool("other's pool")
        .await?;
    env.sync().await?;

    let base = |price: u64, category: u64, trust: u64| WorkerpoolOrder {
        category: U256::from(category),
        ..env.pool_order(price, 10, trust)
    };
    let w1 = put(&env, SCHEDULER, base(10, 0, 1)).await?;
    let w2 = put(&env, SCHEDULER, base(7, 1, 5)).await?;
    let w3 = put(
        &env,
        SCHEDULER,
        WorkerpoolOrder {
            workerpool: p2,
            tag: Tag::TEE.0,
            ..base(8, 0, 3)
        },
    )
    .await?;
    let w4 = put(
        &env,
        SCHEDULER,
        WorkerpoolOrder {
            apprestrict: a,
            ..base(6, 0, 1)
        },
    )
    .await?;
    let w5 = put(
        &env,
        SCHEDULER,
        WorkerpoolOrder {
            requesterrestrict: r,
            volume: U256::from(1),
            ..base(9, 0, 1)
        },
    )
    .await?;
    let w6 = put(
        &env,
        OTHER,
        WorkerpoolOrder {
            workerpool: p3,
            datasetrestrict: d,
            ..base(1, 2, 1)
        },
    )
    .await?;

    let pools = |query: &str| {
        let env = &env;
        let query = query.to_owned();
        async move { env.listed(OrderKind::Workerpool, &query).await }
    };
    // No filter at all is allowed on workerpool orders: the public ones, cheapest first.
    assert_eq!(pools("").await?, [w2, w3, w1]);
    assert_eq!(pools(&format!("workerpool={p}")).await?, [w2, w1]);
    assert_eq!(pools(&format!("workerpool={p2}")).await?, [w3]);
    assert_eq!(
        pools(&format!("workerpoolOwner={}", env.addr(SCHEDULER))).await?,
        [w2, w3, w1]
    );
    assert_eq!(
        pools(&format!("workerpoolOwner={}&dataset=any", env.addr(OTHER))).await?,
        [w6]
    );
    assert_eq!(pools("category=0").await?, [w3, w1]);
    assert_eq!(pools("category=1").await?, [w2]);
    assert_eq!(pools("category=2&dataset=any").await?, [w6]);
    assert_eq!(pools("minTrust=3").await?, [w2, w3]);
    assert_eq!(pools("minTrust=4").await?, [w2]);
    assert_eq!(pools(&format!("app={a}")).await?, [w4, w2, w3, w1]);
    assert_eq!(pools(&format!("app={a}&isAppStrict=true")).await?, [w4]);
    assert_eq!(pools(&format!("requester={r}")).await?, [w2, w3, w5, w1]);
    assert_eq!(
        pools(&format!("requester={r}&isRequesterStrict=true")).await?,
        [w5]
    );
    assert_eq!(pools(&format!("dataset={d}")).await?, [w6, w2, w3, w1]);
    assert_eq!(
        pools(&format!("dataset={d}&isDatasetStrict=true")).await?,
        [w6]
    );
    assert_eq!(pools(&format!("minTag={}", tag_hex(Tag::TEE))).await?, [w3]);
    assert_eq!(
        pools(&format!("maxTag={}", tag_hex(Tag::NONE))).await?,
        [w2, w1]
    );
    assert_eq!(
        pools("app=any&dataset=any&requester=any").await?,
        [w6, w4, w2, w3, w5, w1]
    );
    assert_eq!(
        pools("app=any&dataset=any&requester=any&minVolume=2").await?,
        [w6, w4, w2, w3, w1]
    );
    assert_eq!(
        pools(&format!("category=0&workerpool={p}&requester=any")).await?,
        [w5, w1]
    );
    let answer = env.get("/workerpoolorders?category=zero").await?;
    assert_refused(&answer, 400, "category");
    let answer = env.get("/workerpoolorders?minTrust=-1").await?;
    assert_refused(&answer, 400, "minTrust");
    Ok(())
}

#[tokio::test]
async fn request_order_filters_sort_by_bid_descending() -> R {
    let env = Env::start().await?;
    let (a, d, p) = (env.app, env.dataset, env.pool);
    let (me, other) = (env.addr(REQUESTER), env.addr(OTHER));
    let p2 = Address::repeat_byte(0x22);
    let second_app = env.create_app(APP_OWNER, "second").await?;
    env.sync().await?;
    // The counterparts every request needs.
    env.publish(APP_OWNER, env.app_order(0, 100)).await?;
    env.publish(DATASET_OWNER, env.dataset_order(0, 100))
        .await?;

    let base =
        |pool_price: u64, volume: u64, trust: u64| env.request_order(0, pool_price, volume, trust);
    let r1 = put(&env, REQUESTER, base(10, 5, 1)).await?;
    let r2 = put(
        &env,
        REQUESTER,
        RequestOrder {
            category: U256::from(1),
            beneficiary: other,
            ..base(20, 1, 5)
        },
    )
    .await?;
    // Same bid as r1, published after it.
    let r3 = put(
        &env,
        REQUESTER,
        RequestOrder {
            dataset: d,
            ..base(10, 5, 3)
        },
    )
    .await?;
    let r4 = put(
        &env,
        REQUESTER,
        RequestOrder {
            workerpool: p,
            ..base(15, 5, 1)
        },
    )
    .await?;
    let r5 = put(
        &env,
        OTHER,
        RequestOrder {
            requester: other,
            beneficiary: other,
            tag: Tag::TEE.0,
            ..base(5, 5, 1)
        },
    )
    .await?;

    let requests = |query: String| {
        let env = &env;
        async move { env.listed(OrderKind::Request, &query).await }
    };
    // Highest bid first, ties by publication; no workerpool filter means any workerpool.
    assert_eq!(requests(String::new()).await?, [r2, r4, r1, r3, r5]);
    assert_eq!(requests(format!("app={a}")).await?, [r2, r4, r1, r3, r5]);
    assert_eq!(
        requests(format!("app={second_app}")).await?,
        Vec::<B256>::new()
    );
    assert_eq!(requests(format!("requester={me}")).await?, [r2, r4, r1, r3]);
    assert_eq!(requests(format!("requester={other}")).await?, [r5]);
    assert_eq!(requests(format!("beneficiary={other}")).await?, [r2, r5]);
    assert_eq!(
        requests(format!("beneficiary={me}&requester={me}")).await?,
        [r4, r1, r3]
    );
    assert_eq!(requests(format!("dataset={d}")).await?, [r3]);
    assert_eq!(requests("category=1".into()).await?, [r2]);
    assert_eq!(requests("category=0".into()).await?, [r4, r1, r3, r5]);
    assert_eq!(requests("maxTrust=3".into()).await?, [r4, r1, r3, r5]);
    assert_eq!(requests("maxTrust=1".into()).await?, [r4, r1, r5]);
    assert_eq!(
        requests(format!("workerpool={p}")).await?,
        [r2, r4, r1, r3, r5]
    );
    assert_eq!(
        requests(format!("workerpool={p}&isWorkerpoolStrict=true")).await?,
        [r4]
    );
    assert_eq!(
        requests(format!("workerpool={p2}")).await?,
        [r2, r1, r3, r5]
    );
    assert_eq!(
        requests(format!("minTag={}", tag_hex(Tag::TEE))).await?,
        [r5]
    );
    assert_eq!(
        requests(format!("maxTag={}", tag_hex(Tag::NONE))).await?,
        [r2, r4, r1, r3]
    );
    assert_eq!(requests("minVolume=2".into()).await?, [r4, r1, r3, r5]);
    let answer = env.get("/requestorders?maxTrust=x").await?;
    assert_refused(&answer, 400, "maxTrust");
    Ok(())
}

#[tokio::test]
async fn lists_are_paginated() -> R {
    let env = Env::start().await?;
    let mut published = Vec::new();
    for price in (1..=12u64).rev() {
        published.push((price, put(&env, APP_OWNER, env.app_order(price, 1)).await?));
    }
    published.sort();
    let in_order: Vec<B256> = published.iter().map(|(_, h)| *h).collect();
    let a = env.app;

    let first = env
        .get_ok(&format!("/apporders?app={a}&pageSize=10"))
        .await?;
    assert_eq!(first["count"], 12);
    assert_eq!(first["nextPage"], 1);
    assert_eq!(hashes(&first["orders"])?, in_order[..10]);
    let second = env
        .get_ok(&format!("/apporders?app={a}&pageSize=10&pageIndex=1"))
        .await?;
    assert_eq!(second["count"], 12);
    assert!(second.get("nextPage").is_none(), "{second}");
    assert_eq!(hashes(&second["orders"])?, in_order[10..]);
    let beyond = env
        .get_ok(&format!("/apporders?app={a}&pageSize=10&pageIndex=5"))
        .await?;
    assert_eq!(beyond["count"], 12);
    assert_eq!(hashes(&beyond["orders"])?, Vec::<B256>::new());
    // Default page size: 20.
    let all = env.get_ok(&format!("/apporders?app={a}")).await?;
    assert_eq!(hashes(&all["orders"])?, in_order);
    assert!(all.get("nextPage").is_none());
    // The client reads every page.
    let read = env
        .client
        .all_orders(
            poco_market::api::AppOrderQuery {
                app: Some(a),
                ..Default::default()
            },
            100,
        )
        .await?;
    assert_eq!(
        read.iter().map(|e| e.order_hash).collect::<Vec<_>>(),
        in_order
    );

    for size in ["9", "1001", "0", "ten"] {
        let answer = env
            .get(&format!("/apporders?app={a}&pageSize={size}"))
            .await?;
        assert_refused(&answer, 400, "pageSize");
    }
    let answer = env.get(&format!("/apporders?app={a}&pageIndex=-1")).await?;
    assert_refused(&answer, 400, "pageIndex");
    let answer = env.get("/deals?pageSize=5").await?;
    assert_refused(&answer, 400, "pageSize must be between 10 and 1000");
    Ok(())
}
