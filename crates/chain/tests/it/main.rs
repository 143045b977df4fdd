//! poco-chain against a real anvil: deployment, and the Rust protocol types agreeing with the
//! contracts (domain separator, order hashes, deal and task ids, result hash and seal).

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes, B256, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use poco_chain::{
    bindings::{app::AppRegistry, hub::IPoco, rlc::RLC, workerpool::WorkerpoolRegistry},
    convert::no_dataset,
    deploy_poco, devchain,
};
use poco_types::{
    deal_id, result_hash, result_seal, task_id, AppOrder, Category, Domain, Order as _,
    RequestOrder, WorkerAuthorization, WorkerpoolOrder,
};

#[tokio::test]
async fn deploys_and_agrees_with_the_rust_protocol_types() -> eyre::Result<()> {
    let anvil = devchain::spawn_anvil(None)?;
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
    let mut wallet = EthereumWallet::new(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    let provider = ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(anvil.endpoint_url());
    let (owner, app_owner, scheduler, requester, worker) =
        (&keys[0], &keys[1], &keys[2], &keys[3], &keys[4]);
    let poco = deploy_poco(&provider, owner.address(), None).await?;
    let hub = IPoco::new(poco.hub, &provider);

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
    let rlc = RLC::new(poco.token, &provider);
    let amount = U256::from(100_000_000_000u64);
    for actor in [scheduler, requester, worker] {
        rlc.transfer(actor.address(), amount)
            .from(owner.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        rlc.approve(poco.hub, amount)
            .from(actor.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        hub.deposit(amount)
            .from(actor.address())
            .send()
            .await?
            .get_receipt()
            .await?;
    }
    let apps = AppRegistry::new(poco.app_registry, &provider);
    let create = apps
        .createApp(
            app_owner.address(),
            "app".into(),
            "WASM".into(),
            Bytes::from_static(b"file:///app.wasm"),
            B256::repeat_byte(1),
            Bytes::new(),
        )
        .from(app_owner.address());
    let app = create.call().await?;
    create.send().await?.get_receipt().await?;
    let pools = WorkerpoolRegistry::new(poco.workerpool_registry, &provider);
    let create = pools
        .createWorkerpool(scheduler.address(), "pool".into())
        .from(scheduler.address());
    let pool = create.call().await?;
    create.send().await?.get_receipt().await?;

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
