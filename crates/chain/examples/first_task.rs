//! A first task end to end on a local chain: start anvil, deploy poco, fund the actors,
//! register an app and a workerpool, sign the four orders, match them on the fast path, push
//! the worker's result and show who was paid.
//!
//! `cargo run -p poco-chain --example first_task` (or `make demo`).
#![allow(clippy::disallowed_macros)] // prints its report

use alloy::{
    primitives::{utils::format_units, Address, Bytes, B256, U256},
    providers::Provider,
    sol_types::SolEvent,
};
use eyre::{ensure, Result, WrapErr};
use poco_chain::{bindings::hub::IPoco, convert::no_dataset, devchain::DevPoco};
use poco_types::{
    sha256_digest, task_id, AppOrder, Domain, Order as _, RequestOrder, ResultLink,
    WorkerAuthorization, WorkerpoolOrder,
};

const NRLC: u64 = 1_000_000_000;

#[tokio::main]
async fn main() -> Result<()> {
    let dev = DevPoco::start()
        .await
        .wrap_err("starting a local chain with poco")?;
    let (provider, poco) = (&dev.provider, dev.deployment);
    let (app_owner, scheduler, requester, worker) =
        (&dev.keys[1], &dev.keys[2], &dev.keys[3], &dev.keys[4]);
    println!(
        "local chain   {} (chain id {})",
        dev.anvil.endpoint(),
        dev.anvil.chain_id()
    );
    println!("hub           {}", poco.hub);
    println!("RLC           {}", poco.token);

    let hub = dev.hub();
    let actors = [app_owner, scheduler, requester, worker].map(|k| k.address());
    dev.fund(&actors, U256::from(1_000 * NRLC)).await?;
    println!("funded        app owner, scheduler, requester and worker with 1000 RLC each");

    let wasm = b"(module)"; // the app's bytes; its sha256 is the on-chain checksum
    let app = dev
        .create_app(
            app_owner.address(),
            "hello",
            "file:///apps/hello/hello.wasm",
            sha256_digest(wasm),
        )
        .await?;
    let pool = dev
        .create_workerpool(scheduler.address(), "demo pool")
        .await?;
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
