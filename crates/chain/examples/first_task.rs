//! A first task end to end on a local chain: start anvil, deploy poco, fund the actors,
//! register an app and a workerpool, sign the four orders, match them on the fast path, push
//! the worker's result and show who was paid.
//!
//! `cargo run -p poco-chain --example first_task` (or `make demo`).

use alloy::{
    network::EthereumWallet,
    primitives::{utils::format_units, Address, Bytes, B256, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use eyre::{ensure, Result, WrapErr};
use poco_chain::{
    bindings::{app::AppRegistry, hub::IPoco, rlc::RLC, workerpool::WorkerpoolRegistry},
    convert::no_dataset,
    deploy_poco, devchain,
};
use poco_types::{
    sha256_digest, task_id, AppOrder, Domain, Order as _, RequestOrder, ResultLink,
    WorkerAuthorization, WorkerpoolOrder,
};

const NRLC: u64 = 1_000_000_000;

#[tokio::main]
async fn main() -> Result<()> {
    let anvil = devchain::spawn_anvil(None).wrap_err("starting the local chain")?;
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
    let mut wallet = EthereumWallet::new(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    let provider = ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(anvil.endpoint_url());
    let (deployer, app_owner, scheduler, requester, worker) =
        (&keys[0], &keys[1], &keys[2], &keys[3], &keys[4]);
    println!(
        "local chain   {} (chain id {})",
        anvil.endpoint(),
        anvil.chain_id()
    );

    let poco = deploy_poco(&provider, deployer.address(), None).await?;
    println!("hub           {}", poco.hub);
    println!("RLC           {}", poco.token);

    let rlc = RLC::new(poco.token, &provider);
    let hub = IPoco::new(poco.hub, &provider);
    let amount = U256::from(1_000 * NRLC);
    for actor in [app_owner, scheduler, requester, worker] {
        let a = actor.address();
        rlc.transfer(a, amount)
            .from(deployer.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        rlc.approve(poco.hub, amount)
            .from(a)
            .send()
            .await?
            .get_receipt()
            .await?;
        hub.deposit(amount)
            .from(a)
            .send()
            .await?
            .get_receipt()
            .await?;
    }
    println!("funded        app owner, scheduler, requester and worker with 1000 RLC each");

    let apps = AppRegistry::new(poco.app_registry, &provider);
    let wasm = b"(module)"; // the app's bytes; its sha256 is the on-chain checksum
    let create = apps
        .createApp(
            app_owner.address(),
            "hello".into(),
            "WASM".into(),
            Bytes::from_static(b"file:///apps/hello/hello.wasm"),
            sha256_digest(wasm),
            Bytes::new(),
        )
        .from(app_owner.address());
    let app = create.call().await?;
    create.send().await?.get_receipt().await?;
    let pools = WorkerpoolRegistry::new(poco.workerpool_registry, &provider);
    let create = pools
        .createWorkerpool(scheduler.address(), "demo pool".into())
        .from(scheduler.address());
    let pool = create.call().await?;
    create.send().await?.get_receipt().await?;
    println!("app           {app}\nworkerpool    {pool}");

    let domain = Domain::new(provider.get_chain_id().await?, poco.hub);
    let app_order = AppOrder {
        app,
        appprice: U256::from(NRLC),
        volume: U256::from(100u64),
        salt: B256::repeat_byte(1),
        ..Default::default()
    }
    .sign(&domain, app_owner)?;
    let pool_order = WorkerpoolOrder {
        workerpool: pool,
        workerpoolprice: U256::from(2 * NRLC),
        volume: U256::from(100u64),
        trust: U256::from(1u64),
        salt: B256::repeat_byte(2),
        ..Default::default()
    }
    .sign(&domain, scheduler)?;
    let request = RequestOrder {
        app,
        appmaxprice: U256::from(NRLC),
        workerpoolmaxprice: U256::from(2 * NRLC),
        requester: requester.address(),
        volume: U256::from(1u64),
        trust: U256::from(1u64),
        beneficiary: requester.address(),
        params: r#"{"iexec_args":"hello poco"}"#.into(),
        salt: B256::repeat_byte(3),
        ..Default::default()
    }
    .sign(&domain, requester)?;
    println!(
        "orders        app {} · workerpool {} · request {}",
        app_order.order_hash(&domain),
        pool_order.order_hash(&domain),
        request.order_hash(&domain)
    );

    let receipt = hub
        .matchOrdersFast(
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
    ensure!(receipt.status(), "matchOrdersFast reverted");
    let notice = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| IPoco::SchedulerNoticeFast::decode_log(&log.inner).ok())
        .ok_or_else(|| eyre::eyre!("no SchedulerNoticeFast in the match receipt"))?;
    let (dealid, deal) = (notice.dealid, notice.deal.clone());
    let taskid = task_id(dealid, deal.botFirst);
    println!(
        "deal          {dealid} ({} gas)\ntask          {taskid}",
        receipt.gas_used
    );

    // The worker's result, its digest, and where it is stored; the scheduler authorizes it.
    let output = b"hello poco\n";
    let digest = sha256_digest(output);
    let results = ResultLink::new("poco", format!("http://127.0.0.1/results/{taskid}"));
    let authorization =
        WorkerAuthorization::sign(scheduler, worker.address(), taskid, Address::ZERO)?;
    let receipt = hub
        .pushResultFast(
            deal.clone(),
            dealid,
            deal.botFirst,
            digest,
            results.to_bytes(),
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
    ensure!(receipt.status(), "pushResultFast reverted");
    let first = deal.botFirst;
    let status = hub.viewTaskFast(deal, dealid, first).call().await?;
    println!(
        "result        digest {digest} pushed ({} gas), task status {status} (3 = COMPLETED)",
        receipt.gas_used
    );

    for (name, who) in [
        ("app owner", app_owner),
        ("scheduler", scheduler),
        ("requester", requester),
        ("worker", worker),
    ] {
        let balance = hub.balanceOf(who.address()).call().await?;
        println!("{name:<13} {} RLC free", format_units(balance, 9)?);
    }
    Ok(())
}
