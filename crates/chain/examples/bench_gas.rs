//! Gas used per call and per task on a real local chain (anvil), from transaction receipts.
//!
//! `cargo run -p poco-chain --example bench_gas [-- --out target/bench/gas.json]`
//!
//! Scenarios: (a) one trust-1 task through matchOrders + initialize + contributeAndFinalize,
//! (b) the same through the fast path, (c) a 100-task deal through the fast path, per task,
//! (d) one task replicated on three agreeing workers, match to finalize. Each runs twice: "cold"
//! with fresh app and workerpool orders and first-time workers, and "warm" with app and
//! workerpool orders already used by an earlier deal and workers with a history, as in a running
//! market.
#![allow(clippy::disallowed_macros)] // prints its report

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use eyre::{bail, Result, WrapErr};
use poco_chain::{bindings::hub::IPoco, convert::no_dataset};
use poco_testkit::{Chain, Role, RLC};
use poco_types::{
    result_hash, result_seal, task_id, AppOrder, Domain, Order as _, RequestOrder, SignedAppOrder,
    SignedRequestOrder, SignedWorkerpoolOrder, WorkerAuthorization, WorkerpoolOrder,
};

const APP_PRICE: u64 = 2_000_000_000;
const WORKERPOOL_PRICE: u64 = 10_000_000_000;
const PARAMS: &str = r#"{"iexec_args":"hello"}"#;
/// A result location of typical length (an IPFS path).
const RESULTS: &str = "/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";

struct Bench<P> {
    provider: P,
    hub: Address,
    domain: Domain,
    app: Address,
    workerpool: Address,
    scheduler: PrivateKeySigner,
    requester: PrivateKeySigner,
    app_owner: PrivateKeySigner,
    workers: Vec<PrivateKeySigner>,
    salt: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let out = std::env::args()
        .skip_while(|a| a != "--out")
        .nth(1)
        .unwrap_or_else(|| "target/bench/gas.json".into());
    let chain = Chain::start_unfunded().await?;
    let provider = chain.provider().clone();
    let app_owner = chain.key(Role::AppOwner).clone();
    let scheduler = chain.key(Role::Scheduler).clone();
    let requester = chain.key(Role::Requester).clone();
    let worker_roles: Vec<Role> = (0..4).map(Role::Worker).collect();
    let workers: Vec<PrivateKeySigner> =
        worker_roles.iter().map(|&r| chain.key(r).clone()).collect();

    // Fund every actor with 10,000 RLC deposited in the hub.
    let actors: Vec<Role> = [Role::AppOwner, Role::Scheduler, Role::Requester]
        .into_iter()
        .chain(worker_roles)
        .collect();
    chain.fund(&actors, 10_000 * RLC).await?;
    let app_address = chain
        .create_app(
            Role::AppOwner,
            "hello",
            "file:///hello.wasm",
            B256::repeat_byte(7),
        )
        .await?;
    let pool_address = chain
        .create_workerpool(Role::Scheduler, "bench pool")
        .await?;

    let mut bench = Bench {
        provider,
        hub: chain.hub(),
        domain: chain.domain.clone(),
        app: app_address,
        workerpool: pool_address,
        scheduler,
        requester,
        app_owner,
        workers,
        salt: 0,
    };

    // "cold": each scenario with app and workerpool orders never used before and first-time
    // workers; "warm": the same orders again (their consumed volume is no longer zero) and
    // workers with a history, as in a running market.
    let mut report: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut used = Vec::new();
    for phase in ["cold", "warm"] {
        let mut orders = |i: usize| {
            if phase == "cold" {
                used.push(bench.supply_orders());
            }
            used[i].clone()
        };
        let (a0, p0) = orders(0);
        let (a1, p1) = orders(1);
        let (a2, p2) = orders(2);
        let (a3, p3) = orders(3);
        report.insert(
            format!("a_classic_trust1_{phase}"),
            bench.classic_trust1(&a0, &p0).await?,
        );
        report.insert(
            format!("b_fast_trust1_{phase}"),
            bench.fast(&a1, &p1, 1).await?,
        );
        report.insert(
            format!("d_replicated_3_workers_{phase}"),
            bench.replicated(&a2, &p2, false).await?,
        );
        report.insert(
            format!("d_replicated_3_workers_short_flow_{phase}"),
            bench.replicated(&a3, &p3, true).await?,
        );
    }
    let (app_order, pool_order) = bench.supply_orders();
    report.insert(
        "c_fast_100_tasks".into(),
        bench.fast(&app_order, &pool_order, 100).await?,
    );

    print_table(&report);
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("wrote {out}");
    Ok(())
}

fn ok(receipt: TransactionReceipt, what: &str) -> Result<TransactionReceipt> {
    if !receipt.status() {
        bail!("{what} reverted (tx {})", receipt.transaction_hash);
    }
    Ok(receipt)
}

fn print_table(report: &BTreeMap<String, BTreeMap<String, u64>>) {
    println!("{:<34} {:<28} {:>12}", "scenario", "call", "gas");
    for (scenario, calls) in report {
        for (call, gas) in calls {
            println!("{scenario:<34} {call:<28} {gas:>12}");
        }
    }
    println!();
    println!(
        "targets: b_fast_trust1 total <= 250000, c_fast_100_tasks per_task <= 80000, \
         d_replicated total <= 900000"
    );
}

impl<P: Provider + Clone> Bench<P> {
    fn next_salt(&mut self) -> B256 {
        self.salt += 1;
        B256::from(U256::from(self.salt))
    }

    /// Fresh app and workerpool orders, signed by their owners.
    fn supply_orders(&mut self) -> (SignedAppOrder, SignedWorkerpoolOrder) {
        let app = AppOrder {
            app: self.app,
            appprice: U256::from(APP_PRICE),
            volume: U256::from(1_000_000u64),
            salt: self.next_salt(),
            ..Default::default()
        };
        let pool = WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpoolprice: U256::from(WORKERPOOL_PRICE),
            volume: U256::from(1_000_000u64),
            category: U256::ZERO,
            trust: U256::from(100u64),
            salt: self.next_salt(),
            ..Default::default()
        };
        (
            app.sign(&self.domain, &self.app_owner)
                .expect("sign app order"),
            pool.sign(&self.domain, &self.scheduler)
                .expect("sign workerpool order"),
        )
    }

    fn request(&mut self, volume: u64, trust: u64) -> SignedRequestOrder {
        let order = RequestOrder {
            app: self.app,
            appmaxprice: U256::from(APP_PRICE),
            workerpoolmaxprice: U256::from(WORKERPOOL_PRICE),
            requester: self.requester.address(),
            volume: U256::from(volume),
            category: U256::ZERO,
            trust: U256::from(trust),
            beneficiary: self.requester.address(),
            params: PARAMS.into(),
            salt: self.next_salt(),
            ..Default::default()
        };
        order
            .sign(&self.domain, &self.requester)
            .expect("sign request order")
    }

    fn hub(&self) -> IPoco::IPocoInstance<&P> {
        IPoco::new(self.hub, &self.provider)
    }

    /// A contribution of `digest` by `worker`; with `init`, through initializeAndContribute.
    async fn contribute(
        &self,
        init: Option<B256>,
        taskid: B256,
        worker: Address,
        digest: B256,
    ) -> Result<TransactionReceipt> {
        let hub = self.hub();
        let (hash, seal, auth) = (
            result_hash(taskid, digest),
            result_seal(worker, taskid, digest),
            self.authorization(worker, taskid),
        );
        let sent = match init {
            Some(dealid) => {
                hub.initializeAndContribute(
                    dealid,
                    U256::ZERO,
                    hash,
                    seal,
                    Address::ZERO,
                    Bytes::new(),
                    auth,
                )
                .from(worker)
                .send()
                .await?
            }
            None => {
                hub.contribute(taskid, hash, seal, Address::ZERO, Bytes::new(), auth)
                    .from(worker)
                    .send()
                    .await?
            }
        };
        ok(sent.get_receipt().await?, "contribute")
    }

    fn authorization(&self, worker: Address, taskid: B256) -> Bytes {
        WorkerAuthorization::sign(&self.scheduler, worker, taskid, Address::ZERO)
            .expect("sign authorization")
            .sign
    }

    async fn classic_trust1(
        &mut self,
        app: &SignedAppOrder,
        pool: &SignedWorkerpoolOrder,
    ) -> Result<BTreeMap<String, u64>> {
        let request = self.request(1, 1);
        let hub = self.hub();
        let mut gas = BTreeMap::new();
        let receipt = ok(
            hub.matchOrders(app.into(), no_dataset(), pool.into(), (&request).into())
                .from(self.requester.address())
                .send()
                .await?
                .get_receipt()
                .await?,
            "matchOrders",
        )?;
        gas.insert("matchOrders".into(), receipt.gas_used);
        let dealid = deal_id(&receipt)?;
        let receipt = ok(
            hub.initialize(dealid, U256::ZERO)
                .from(self.scheduler.address())
                .send()
                .await?
                .get_receipt()
                .await?,
            "initialize",
        )?;
        gas.insert("initialize".into(), receipt.gas_used);
        let taskid = task_id(dealid, U256::ZERO);
        let worker = self.workers[0].address();
        let receipt = ok(
            hub.contributeAndFinalize(
                taskid,
                B256::repeat_byte(0x42),
                Bytes::from_static(RESULTS.as_bytes()),
                Bytes::new(),
                Address::ZERO,
                Bytes::new(),
                self.authorization(worker, taskid),
            )
            .from(worker)
            .send()
            .await?
            .get_receipt()
            .await?,
            "contributeAndFinalize",
        )?;
        gas.insert("contributeAndFinalize".into(), receipt.gas_used);
        let total = gas.values().sum();
        gas.insert("total".into(), total);
        Ok(gas)
    }

    async fn fast(
        &mut self,
        app: &SignedAppOrder,
        pool: &SignedWorkerpoolOrder,
        volume: u64,
    ) -> Result<BTreeMap<String, u64>> {
        let request = self.request(volume, 1);
        let hub = self.hub();
        let mut gas = BTreeMap::new();
        let receipt = ok(
            hub.matchOrdersFast(app.into(), no_dataset(), pool.into(), (&request).into())
                .from(self.requester.address())
                .send()
                .await?
                .get_receipt()
                .await?,
            "matchOrdersFast",
        )?;
        gas.insert("matchOrdersFast".into(), receipt.gas_used);
        let notice = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| IPoco::SchedulerNoticeFast::decode_log(&log.inner).ok())
            .ok_or_else(|| eyre::eyre!("no SchedulerNoticeFast in the match receipt"))?;
        let (dealid, deal) = (notice.dealid, notice.deal.clone());
        let mut pushes = Vec::new();
        for i in 0..volume {
            let idx = deal.botFirst + U256::from(i);
            let taskid = task_id(dealid, idx);
            let worker = self.workers[(i % self.workers.len() as u64) as usize].address();
            let receipt = ok(
                hub.pushResultFast(
                    deal.clone(),
                    dealid,
                    idx,
                    B256::repeat_byte(0x42),
                    Bytes::from_static(RESULTS.as_bytes()),
                    Bytes::new(),
                    Address::ZERO,
                    Bytes::new(),
                    self.authorization(worker, taskid),
                )
                .from(worker)
                .send()
                .await?
                .get_receipt()
                .await?,
                "pushResultFast",
            )?;
            pushes.push(receipt.gas_used);
        }
        let push_total: u64 = pushes.iter().sum();
        gas.insert("pushResultFast (mean)".into(), push_total / volume);
        let total = gas["matchOrdersFast"] + push_total;
        gas.insert("total".into(), total);
        gas.insert("per_task".into(), total / volume);
        Ok(gas)
    }

    /// Match to finalize with three agreeing workers: the PoCo flow (initialize, contribute,
    /// each worker reveals, finalize), or poco's shorter one (the first worker initializes as it
    /// contributes, the scheduler reveals for all with `revealAndFinalize`).
    async fn replicated(
        &mut self,
        app: &SignedAppOrder,
        pool: &SignedWorkerpoolOrder,
        reveal_and_finalize: bool,
    ) -> Result<BTreeMap<String, u64>> {
        // Trust 5: with first-time workers (weight 2 each) two agreeing votes give a likelihood
        // of 4/5, not above 1 - 1/5; the third vote gives 8/9 and reaches consensus.
        let request = self.request(1, 5);
        let hub = self.hub();
        let mut gas = BTreeMap::new();
        let receipt = ok(
            hub.matchOrders(app.into(), no_dataset(), pool.into(), (&request).into())
                .from(self.requester.address())
                .send()
                .await?
                .get_receipt()
                .await?,
            "matchOrders",
        )?;
        gas.insert("1 matchOrders".into(), receipt.gas_used);
        let dealid = deal_id(&receipt)?;
        let taskid = task_id(dealid, U256::ZERO);
        let digest = B256::repeat_byte(0x42);
        let mut first = 0;
        if reveal_and_finalize {
            // The first worker starts the task itself (initializeAndContribute).
            let receipt = self
                .contribute(Some(dealid), taskid, self.workers[0].address(), digest)
                .await?;
            gas.insert("2 initializeAndContribute #1".into(), receipt.gas_used);
            first = 1;
        } else {
            let receipt = ok(
                hub.initialize(dealid, U256::ZERO)
                    .from(self.scheduler.address())
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
                "initialize",
            )?;
            gas.insert("2 initialize".into(), receipt.gas_used);
        }
        for (i, w) in self.workers[first..3].iter().enumerate() {
            let i = i + first;
            let receipt = self.contribute(None, taskid, w.address(), digest).await?;
            gas.insert(format!("3 contribute #{}", i + 1), receipt.gas_used);
        }
        if reveal_and_finalize {
            let receipt = ok(
                hub.revealAndFinalize(
                    taskid,
                    digest,
                    Bytes::from_static(RESULTS.as_bytes()),
                    Bytes::new(),
                )
                .from(self.scheduler.address())
                .send()
                .await?
                .get_receipt()
                .await?,
                "revealAndFinalize",
            )?;
            gas.insert("4 revealAndFinalize".into(), receipt.gas_used);
        } else {
            for (i, w) in self.workers[..3].iter().enumerate() {
                let receipt = ok(
                    hub.reveal(taskid, digest)
                        .from(w.address())
                        .send()
                        .await?
                        .get_receipt()
                        .await?,
                    "reveal",
                )?;
                gas.insert(format!("4 reveal #{}", i + 1), receipt.gas_used);
            }
            let receipt = ok(
                hub.finalize(taskid, Bytes::from_static(RESULTS.as_bytes()), Bytes::new())
                    .from(self.scheduler.address())
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
                "finalize",
            )?;
            gas.insert("5 finalize".into(), receipt.gas_used);
        }
        let total = gas.values().sum();
        gas.insert("total".into(), total);
        Ok(gas)
    }
}

fn deal_id(receipt: &TransactionReceipt) -> Result<B256> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| IPoco::OrdersMatched::decode_log(&log.inner).ok())
        .map(|e| e.dealid)
        .ok_or_else(|| eyre::eyre!("no OrdersMatched event in the receipt"))
        .wrap_err("reading the deal id")
}
