//! The consensus model against the deployed contract: random vote sequences on anvil (random
//! trust, scores set in the hub's storage before each sequence, agreeing and dissenting votes,
//! seals that do not match, extra votes after consensus, reveals then finalize or the
//! scheduler's revealAndFinalize), and after every step the model and the hub agree: the
//! contribution accepted or refused, consensus reached or not and on which value, the
//! winners, the finalize accepted or refused, every contributor's score, free and frozen
//! balance.
//!
//! `POCO_TRUST_SEQUENCES` sets the number of sequences (default 250) and `POCO_TRUST_SEED`
//! the seed (default random; printed, and named in every failure).

#![allow(clippy::disallowed_macros)] // prints its seed and what the sequences covered

use std::collections::HashMap;

use alloy::{
    network::TransactionBuilder,
    primitives::{keccak256, Address, Bytes, B256, U256},
    providers::{ext::AnvilApi, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use eyre::{bail, ensure, eyre, WrapErr};
use poco_chain::{devchain::DevPoco, ClientConfig, PocoClient};
use poco_trust::consensus::{Task, TaskStatus, Terms};
use poco_types::{
    result_hash, result_seal, AppOrder, Order as _, RequestOrder, WorkerAuthorization,
    WorkerpoolOrder, NRLC_PER_RLC,
};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

/// The hub's ERC-7201 storage namespace (`PocoStorage.SLOT`) and the index of the `accounts`
/// mapping in its layout: an account's word is balance | frozen << 96 | score << 192.
const STORAGE: B256 = B256::new(alloy::primitives::hex!(
    "a8395040508cec780b72b7eef305f639b1f200ca7cb05d81e256702f73e2c500"
));
const ACCOUNTS_FIELD: u64 = 11;
const WORKERS: usize = 10;
const TASKS_PER_DEAL: u64 = 30;
const TRUSTS: [u64; 10] = [2, 3, 4, 5, 8, 10, 16, 33, 100, 1000];

fn account_slot(account: Address) -> U256 {
    let base = U256::from_be_bytes(STORAGE.0) + U256::from(ACCOUNTS_FIELD);
    U256::from_be_bytes(keccak256((account, base).abi_encode()).0)
}

/// A new wallet with ETH and `rlc` RLC deposited in the hub.
async fn funded(dev: &DevPoco, admin: &PocoClient, rlc: u64) -> eyre::Result<PocoClient> {
    let signer = PrivateKeySigner::random();
    let eth = TransactionRequest::default()
        .with_to(signer.address())
        .with_value(U256::from(10u128.pow(19)));
    admin.send(eth, "ether transfer").await?;
    if rlc > 0 {
        let token = admin.token();
        let call = token.transfer(signer.address(), U256::from(rlc * NRLC_PER_RLC));
        admin
            .send(call.into_transaction_request(), "RLC transfer")
            .await?;
    }
    let client = PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(signer),
    )
    .await?;
    if rlc > 0 {
        client.deposit(U256::from(rlc * NRLC_PER_RLC)).await?;
    }
    Ok(client)
}

/// A score and the weight it gives, from small to capped.
fn random_score(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..100) {
        0..=44 => rng.gen_range(0..20),
        45..=79 => rng.gen_range(20..400),
        80..=96 => rng.gen_range(400..5_000),
        97 => u64::MAX,
        _ => rng.gen_range(196_605..300_000),
    }
}

struct Chain {
    dev: DevPoco,
    scheduler: PocoClient,
    requester: PocoClient,
    workers: Vec<PocoClient>,
    pool: Address,
    app_order: poco_types::SignedOrder<AppOrder>,
    salt: u64,
}

impl Chain {
    async fn new() -> eyre::Result<Self> {
        let dev = DevPoco::start().await?;
        let admin = PocoClient::connect(
            ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
            Some(dev.keys[0].clone()),
        )
        .await?;
        let requester = funded(&dev, &admin, 2_000).await?;
        let scheduler = funded(&dev, &admin, 1_000).await?;
        let app_owner = funded(&dev, &admin, 0).await?;
        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            workers.push(funded(&dev, &admin, 500).await?);
        }
        let app = app_owner
            .create_app(&poco_chain::AppSpec {
                name: "trust".into(),
                kind: "WASM".into(),
                multiaddr: "file:///apps/trust.wasm".into(),
                checksum: B256::repeat_byte(7),
                mrenclave: Bytes::new(),
            })
            .await?;
        let pool = scheduler.create_workerpool("trust").await?;
        let app_order = AppOrder {
            app,
            volume: U256::from(1_000_000u64),
            ..Default::default()
        }
        .sign(
            &app_owner.domain(),
            app_owner.signer().ok_or_else(|| eyre!("no signer"))?,
        )?;
        Ok(Self {
            dev,
            scheduler,
            requester,
            workers,
            pool,
            app_order,
            salt: 0,
        })
    }

    /// A classic deal of `TASKS_PER_DEAL` tasks at `trust`; returns its task ids and terms.
    async fn deal(&mut self, trust: u64) -> eyre::Result<(Vec<B256>, Terms)> {
        self.salt += 1;
        let salt = B256::from(U256::from(self.salt));
        let price = U256::from(NRLC_PER_RLC);
        let pool_order = WorkerpoolOrder {
            workerpool: self.pool,
            workerpoolprice: price,
            volume: U256::from(TASKS_PER_DEAL),
            trust: U256::from(trust),
            salt,
            ..Default::default()
        }
        .sign(
            &self.scheduler.domain(),
            self.scheduler.signer().ok_or_else(|| eyre!("no signer"))?,
        )?;
        let me = self.requester.sender()?;
        let request = RequestOrder {
            app: self.app_order.order.app,
            workerpoolmaxprice: price,
            requester: me,
            beneficiary: me,
            volume: U256::from(TASKS_PER_DEAL),
            trust: U256::from(trust),
            params: r#"{"iexec_args":"x"}"#.into(),
            salt,
            ..Default::default()
        }
        .sign(
            &self.requester.domain(),
            self.requester.signer().ok_or_else(|| eyre!("no signer"))?,
        )?;
        let deal = self
            .requester
            .match_orders(&self.app_order, None, &pool_order, &request)
            .await?;
        let view = self.requester.hub().viewDeal(deal.dealid).call().await?;
        ensure!(
            view.trust == U256::from(trust),
            "deal trust {} != {trust}",
            view.trust
        );
        let terms = Terms {
            workerpool_price: view.workerpool.price.to::<u128>(),
            worker_stake: view.workerStake.to::<u128>(),
            scheduler_ratio: view.schedulerRewardRatio.to::<u8>(),
        };
        let hub = self.scheduler.hub();
        let ids: Vec<U256> = (0..TASKS_PER_DEAL)
            .map(|i| deal.first_task + U256::from(i))
            .collect();
        let call = hub.initializeArray(vec![deal.dealid; ids.len()], ids);
        self.scheduler
            .send(call.into_transaction_request(), "initializeArray")
            .await?;
        Ok((deal.tasks, terms))
    }

    async fn set_score(&self, worker: Address, score: u64) -> eyre::Result<()> {
        let provider = &self.dev.provider;
        let slot = account_slot(worker);
        let word = provider
            .get_storage_at(self.dev.deployment.hub, slot)
            .await?;
        let word = (word & ((U256::from(1) << 192) - U256::from(1))) | (U256::from(score) << 192);
        provider
            .anvil_set_storage_at(self.dev.deployment.hub, slot, B256::from(word))
            .await?;
        let read = self.scheduler.hub().viewScore(worker).call().await?;
        ensure!(
            read == U256::from(score),
            "the score set in the hub's storage reads back as {read}, not {score}: the \
             accounts slot of PocoStorage moved; update ACCOUNTS_FIELD"
        );
        Ok(())
    }

    fn auth(&self, worker: Address, taskid: B256) -> eyre::Result<Bytes> {
        let key = self.scheduler.signer().ok_or_else(|| eyre!("no signer"))?;
        Ok(WorkerAuthorization::sign(key, worker, taskid, Address::ZERO)?.sign)
    }
}

/// One random sequence on one task; checks the model against the hub at every step.
async fn sequence(
    chain: &Chain,
    rng: &mut StdRng,
    taskid: B256,
    trust: u64,
    terms: &Terms,
    balances: &mut HashMap<Address, (U256, U256)>,
    stats: &mut Stats,
) -> eyre::Result<()> {
    let hub = chain.scheduler.hub();
    let digests = [
        B256::repeat_byte(0xd0),
        B256::repeat_byte(0xd1),
        B256::repeat_byte(0xd2),
    ];
    let mut order: Vec<usize> = (0..WORKERS).collect();
    order.shuffle(rng);
    let voters = rng.gen_range(1..=8);
    let mut scores = HashMap::new();
    for &i in &order[..voters] {
        let score = random_score(rng);
        chain.set_score(chain.workers[i].sender()?, score).await?;
        scores.insert(chain.workers[i].sender()?, score);
    }
    let mut model: Task<Address, B256> = Task::new(trust)?;
    let mut digest_of: HashMap<Address, B256> = HashMap::new();
    let mut extra_done = false;
    for &i in &order[..voters] {
        if model.status() != TaskStatus::Active {
            // One vote after consensus, now and then: both refuse it.
            if extra_done || !rng.gen_bool(0.3) {
                break;
            }
            extra_done = true;
        }
        let worker = &chain.workers[i];
        let me = worker.sender()?;
        let digest = *[0, 0, 0, 1, 1, 2]
            .map(|k| digests[k])
            .choose(rng)
            .unwrap_or(&digests[0]);
        // A seal for another digest (a copied vote) cannot be proved.
        let provable = rng.gen_bool(0.85);
        let sealed = if provable {
            digest
        } else {
            B256::repeat_byte(0xee)
        };
        let call = hub.contribute(
            taskid,
            result_hash(taskid, digest),
            result_seal(me, taskid, sealed),
            Address::ZERO,
            Bytes::new(),
            chain.auth(me, taskid)?,
        );
        let onchain = worker
            .send(call.into_transaction_request(), "contribute")
            .await;
        let modelled = model.contribute(me, result_hash(taskid, digest), scores[&me]);
        match (&onchain, &modelled) {
            (Ok(_), Ok(vote)) => {
                stats.votes += 1;
                stats.consensus += u64::from(vote.consensus);
                if provable {
                    digest_of.insert(me, digest);
                }
                let b = balances.entry(me).or_default();
                b.0 -= U256::from(terms.worker_stake);
                b.1 += U256::from(terms.worker_stake);
            }
            (Err(_), Err(_)) => stats.refused += 1,
            _ => bail!(
                "contribute of a worker with score {}: hub {:?}, model {:?}",
                scores[&me],
                onchain.as_ref().map(|_| "accepted"),
                modelled
            ),
        }
        let view = hub.viewTask(taskid).call().await?;
        let expected = match model.status() {
            TaskStatus::Active => 1,
            TaskStatus::Revealing => 2,
            TaskStatus::Completed => 3,
        };
        ensure!(
            view.status == expected,
            "task status {} on the hub, {:?} in the model after {} votes",
            view.status,
            model.status(),
            model.contributions().len()
        );
        if let Some(value) = model.consensus() {
            ensure!(view.consensusValue == *value, "consensus values differ");
            let winners = model
                .contributions()
                .iter()
                .filter(|c| model.values()[c.value] == *value)
                .count();
            ensure!(
                view.winnerCounter == U256::from(winners),
                "winner counts differ"
            );
        }
    }
    let Some(consensus) = model.consensus().copied() else {
        return Ok(());
    };
    let digest = digests
        .iter()
        .copied()
        .find(|d| result_hash(taskid, *d) == consensus)
        .ok_or_else(|| eyre!("no digest gives the consensus value"))?;
    let score_now = |w: &Address| scores[w];
    let settled = if rng.gen_bool(0.5) {
        // The scheduler proves every matching seal and finalizes.
        stats.reveal_and_finalize += 1;
        let call = hub.revealAndFinalize(taskid, digest, Bytes::from_static(b"{}"), Bytes::new());
        let onchain = chain
            .scheduler
            .send(call.into_transaction_request(), "revealAndFinalize")
            .await;
        let modelled =
            model.reveal_and_finalize(|w| digest_of.get(w) == Some(&digest), terms, score_now);
        match (onchain, modelled) {
            (Ok(_), Ok(s)) => Some(s),
            (Err(_), Err(_)) => None,
            (a, b) => bail!(
                "revealAndFinalize: hub {:?}, model {b:?}",
                a.map(|_| "accepted")
            ),
        }
    } else {
        // Each voter of the consensus that can reveals itself, then finalize.
        stats.reveal_then_finalize += 1;
        let winners: Vec<Address> = model
            .contributions()
            .iter()
            .filter(|c| model.values()[c.value] == consensus)
            .map(|c| c.worker)
            .collect();
        for w in winners {
            let client = chain
                .workers
                .iter()
                .find(|c| c.sender().ok() == Some(w))
                .ok_or_else(|| eyre!("unknown worker"))?;
            let onchain = client.reveal(taskid, digest).await;
            let proves = digest_of.get(&w) == Some(&digest);
            let modelled = if proves {
                model.reveal(&w).map(|_| ())
            } else {
                Ok(())
            };
            ensure!(
                onchain.is_ok() == proves && modelled.is_ok(),
                "reveal of a voter whose seal {} match: hub {:?}",
                if proves { "does" } else { "does not" },
                onchain.map(|_| "accepted")
            );
        }
        let call = hub.finalize(taskid, Bytes::from_static(b"{}"), Bytes::new());
        let onchain = chain
            .scheduler
            .send(call.into_transaction_request(), "finalize")
            .await;
        match (onchain, model.finalize(false, terms, score_now)) {
            (Ok(_), Ok(s)) => Some(s),
            (Err(_), Err(_)) => None,
            (a, b) => bail!("finalize: hub {:?}, model {b:?}", a.map(|_| "accepted")),
        }
    };
    let Some(settlement) = settled else {
        stats.unfinalized += 1;
        return Ok(());
    };
    stats.finalized += 1;
    for p in &settlement.payouts {
        let b = balances.entry(p.worker).or_default();
        b.1 -= U256::from(terms.worker_stake);
        if p.proved {
            b.0 += U256::from(terms.worker_stake + p.reward);
            stats.proved += 1;
        } else {
            stats.slashed += 1;
        }
        let score = hub.viewScore(p.worker).call().await?;
        ensure!(
            score == U256::from(p.score),
            "score after settlement: hub {score}, model {} (before {}, proved {})",
            p.score,
            scores[&p.worker],
            p.proved
        );
    }
    for (who, expected) in balances.iter() {
        if settlement.payouts.iter().any(|p| p.worker == *who) {
            let got = chain.scheduler.account(*who).await?;
            ensure!(
                got == *expected,
                "free and frozen balance: hub {got:?}, model {expected:?}"
            );
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Stats {
    votes: u64,
    refused: u64,
    consensus: u64,
    finalized: u64,
    unfinalized: u64,
    proved: u64,
    slashed: u64,
    reveal_and_finalize: u64,
    reveal_then_finalize: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_agrees_with_the_contract_on_random_vote_sequences() -> eyre::Result<()> {
    let seed: u64 = match std::env::var("POCO_TRUST_SEED") {
        Ok(s) => s
            .parse()
            .wrap_err("POCO_TRUST_SEED must be a whole number")?,
        Err(_) => rand::random(),
    };
    let sequences: u64 = match std::env::var("POCO_TRUST_SEQUENCES") {
        Ok(s) => s
            .parse()
            .wrap_err("POCO_TRUST_SEQUENCES must be a whole number")?,
        Err(_) => 250,
    };
    println!(
        "differential test: seed {seed} (rerun with POCO_TRUST_SEED={seed}), {sequences} sequences"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chain = Chain::new().await?;
    let mut balances = HashMap::new();
    for w in &chain.workers {
        balances.insert(w.sender()?, chain.scheduler.account(w.sender()?).await?);
    }
    let mut stats = Stats::default();
    let mut tasks: Vec<B256> = Vec::new();
    let mut trust = 0;
    let mut terms = None;
    for n in 0..sequences {
        if tasks.is_empty() {
            trust = *TRUSTS.choose(&mut rng).unwrap_or(&3);
            let (ids, t) = chain.deal(trust).await?;
            tasks = ids;
            terms = Some(t);
        }
        let taskid = tasks.pop().ok_or_else(|| eyre!("no task left"))?;
        let terms = terms.as_ref().ok_or_else(|| eyre!("no deal yet"))?;
        sequence(
            &chain,
            &mut rng,
            taskid,
            trust,
            terms,
            &mut balances,
            &mut stats,
        )
        .await
        .wrap_err_with(|| format!("sequence {n} (trust {trust}, seed {seed})"))?;
    }
    println!("{stats:?}");
    // The random sequences covered every path.
    ensure!(
        stats.refused > 0 && stats.consensus > 0 && stats.slashed > 0,
        "{stats:?}"
    );
    ensure!(stats.finalized > 0 && stats.unfinalized > 0, "{stats:?}");
    Ok(())
}
