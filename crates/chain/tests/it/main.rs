//! poco-chain against a real anvil: deployment, and the Rust protocol types agreeing with the
//! contracts (domain separator, order hashes, deal and task ids, result hash and seal).

mod client;
mod settle;
mod timeouts;

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    sol_types::SolEvent,
};
use poco_chain::{bindings::hub::IPoco, convert::no_dataset, devchain::DevPoco};
use poco_types::{
    deal_id, result_hash, result_seal, task_id, AppOrder, Category, Domain, Order as _,
    RequestOrder, WorkerAuthorization, WorkerpoolOrder,
};

#[tokio::test]
async fn deploys_and_agrees_with_the_rust_protocol_types() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let (provider, poco) = (&dev.provider, dev.deployment);
    let (owner, app_owner, scheduler, requester, worker) = (
        &dev.keys[0],
        &dev.keys[1],
        &dev.keys[2],
        &dev.keys[3],
        &dev.keys[4],
    );
    let hub = dev.hub();

    // Configuration as deployed.
    assert_eq!(hub.owner().call().await?, owner.address());
    assert_eq!(hub.token().call().await?, poco.token);
    assert_eq!(hub.appregistry().call().await?, poco.app_registry);
    let defaults = Category::defaults();
    assert_eq!(
        hub.countCategory().call().await?,
        U256::from(defaults.len())
    );
    for (i, c) in defaults.iter().enumerate() {
        let on_chain = hub.viewCategory(U256::from(i)).call().await?;
        assert_eq!(on_chain.name, c.name);
        assert_eq!(on_chain.workClockTimeRef, U256::from(c.work_clock_time_ref));
    }
    let domain = Domain::new(provider.get_chain_id().await?, poco.hub);
    assert_eq!(
        hub.eip712domain_separator().call().await?,
        domain.separator()
    );

    // Fund, register, sign in Rust, match on chain.
    let actors = [scheduler, requester, worker].map(|k| k.address());
    dev.fund(&actors, U256::from(100_000_000_000u64)).await?;
    let app = dev
        .create_app(
            app_owner.address(),
            "app",
            "file:///app.wasm",
            B256::repeat_byte(1),
        )
        .await?;
    let pool = dev.create_workerpool(scheduler.address(), "pool").await?;

    let app_order = AppOrder {
        app,
        appprice: U256::from(5u64),
        volume: U256::from(10u64),
        ..Default::default()
    }
    .sign(&domain, app_owner)?;
    let pool_order = WorkerpoolOrder {
        workerpool: pool,
        workerpoolprice: U256::from(100u64),
        volume: U256::from(10u64),
        trust: U256::from(1u64),
        ..Default::default()
    }
    .sign(&domain, scheduler)?;
    let request = RequestOrder {
        app,
        appmaxprice: U256::from(5u64),
        workerpoolmaxprice: U256::from(100u64),
        requester: requester.address(),
        volume: U256::from(2u64),
        trust: U256::from(1u64),
        beneficiary: requester.address(),
        params: r#"{"iexec_args":"x"}"#.into(),
        salt: B256::repeat_byte(9),
        ..Default::default()
    }
    .sign(&domain, requester)?;
    let receipt = hub
        .matchOrders(
            (&app_order).into(),
            no_dataset(),
            (&pool_order).into(),
            (&request).into(),
        )
        .from(requester.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(receipt.status(), "matchOrders reverted");
    let matched = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IPoco::OrdersMatched::decode_log(&l.inner).ok())
        .expect("OrdersMatched");
    let request_hash = request.order_hash(&domain);
    assert_eq!(matched.requestHash, request_hash);
    assert_eq!(matched.appHash, app_order.order_hash(&domain));
    assert_eq!(matched.workerpoolHash, pool_order.order_hash(&domain));
    let dealid = deal_id(request_hash, U256::ZERO);
    assert_eq!(matched.dealid, dealid);
    assert_eq!(
        hub.viewConsumed(request_hash).call().await?,
        U256::from(2u64)
    );
    let deal = hub.viewDeal(dealid).call().await?;
    assert_eq!(deal.app.owner, app_owner.address());
    assert_eq!(deal.workerpool.owner, scheduler.address());
    assert_eq!(deal.botSize, U256::from(2u64));

    // Task 1: initialize, then contributeAndFinalize with a Rust-signed authorization.
    let taskid = task_id(dealid, U256::from(1u64));
    hub.initialize(dealid, U256::from(1u64))
        .from(scheduler.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    let digest = B256::repeat_byte(0x42);
    let authorization =
        WorkerAuthorization::sign(scheduler, worker.address(), taskid, Address::ZERO)?;
    let receipt = hub
        .contributeAndFinalize(
            taskid,
            digest,
            Bytes::from_static(b"results"),
            Bytes::new(),
            Address::ZERO,
            Bytes::new(),
            authorization.sign,
        )
        .from(worker.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(receipt.status(), "contributeAndFinalize reverted");
    let task = hub.viewTask(taskid).call().await?;
    assert_eq!(task.consensusValue, result_hash(taskid, digest));
    assert_eq!(task.resultDigest, digest);
    let contribution = hub
        .viewContribution(taskid, worker.address())
        .call()
        .await?;
    assert_eq!(contribution.resultHash, result_hash(taskid, digest));
    // Only the low 72 bits of the seal are kept on chain.
    let seal = result_seal(worker.address(), taskid, digest);
    assert_eq!(contribution.resultSeal.0[23..], seal.0[23..]);
    Ok(())
}
