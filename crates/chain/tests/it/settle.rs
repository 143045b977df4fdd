//! The typed settle calls and the owner and administration calls of `PocoClient` against a real
//! anvil: a fast push, contribute-and-finalize, contribute and reveal with the contribution
//! read back, the same calls on TEE deals (the enclave's signatures as the hub checks them),
//! and the registry, policy, category and transfer methods.

use alloy::signers::local::PrivateKeySigner;
use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
};
use poco_chain::{
    bindings::hub::IPoco::IPocoErrors, devchain::DevPoco, AssetKind, ContributionStatus, Enclave,
    PocoClient, WorkerResult,
};
use poco_types::{
    result_hash, sign_enclave, sign_enclave_fast, AppOrder, Contribution, RequestOrder, Tag,
    TaskStatus, WorkerAuthorization, WorkerpoolOrder,
};

use crate::client::{app_spec, funded_client, SignWithClient, RLC};

/// The scheduler's signature authorizing `worker` on `taskid`.
fn authorize(scheduler: &PocoClient, worker: &PocoClient, taskid: B256) -> eyre::Result<Bytes> {
    let key = scheduler
        .signer()
        .ok_or_else(|| eyre::eyre!("client without a signer"))?;
    Ok(WorkerAuthorization::sign(key, worker.sender()?, taskid, Address::ZERO)?.sign)
}

/// A requester, a scheduler with a workerpool, an app order and three workers, all funded and
/// deposited.
struct Market {
    requester: PocoClient,
    scheduler: PocoClient,
    workers: Vec<PocoClient>,
    pool: Address,
    app_order: poco_types::SignedOrder<AppOrder>,
    /// The same app's order for TEE deals (the app order must carry the tee tag too).
    tee_app_order: poco_types::SignedOrder<AppOrder>,
}

impl Market {
    async fn new(dev: &DevPoco) -> eyre::Result<Self> {
        let requester = funded_client(dev, 100).await?;
        let app_owner = funded_client(dev, 0).await?;
        let scheduler = funded_client(dev, 100).await?;
        requester.deposit(U256::from(50 * RLC)).await?;
        scheduler.deposit(U256::from(50 * RLC)).await?;
        let mut workers = Vec::new();
        for _ in 0..2 {
            let worker = funded_client(dev, 10).await?;
            worker.deposit(U256::from(10 * RLC)).await?;
            workers.push(worker);
        }
        let app = app_owner.create_app(&app_spec()).await?;
        let pool = scheduler.create_workerpool("pool").await?;
        let app_order = AppOrder {
            app,
            volume: U256::from(100u64),
            ..Default::default()
        }
        .sign_with_client(&app_owner)?;
        let tee_app_order = AppOrder {
            app,
            volume: U256::from(100u64),
            tag: Tag::TEE.0,
            ..Default::default()
        }
        .sign_with_client(&app_owner)?;
        Ok(Self {
            requester,
            scheduler,
            workers,
            pool,
            app_order,
            tee_app_order,
        })
    }

    fn orders(
        &self,
        trust: u64,
        salt: u8,
    ) -> eyre::Result<(
        poco_types::SignedOrder<WorkerpoolOrder>,
        poco_types::SignedOrder<RequestOrder>,
    )> {
        self.tagged_orders(trust, salt, Tag::NONE)
    }

    /// The orders of a deal whose pool offers and request asks for `tag`.
    fn tagged_orders(
        &self,
        trust: u64,
        salt: u8,
        tag: Tag,
    ) -> eyre::Result<(
        poco_types::SignedOrder<WorkerpoolOrder>,
        poco_types::SignedOrder<RequestOrder>,
    )> {
        let pool = WorkerpoolOrder {
            workerpool: self.pool,
            workerpoolprice: U256::from(RLC),
            volume: U256::from(1u64),
            trust: U256::from(trust),
            tag: tag.0,
            salt: B256::repeat_byte(salt),
            ..Default::default()
        }
        .sign_with_client(&self.scheduler)?;
        let me = self.requester.sender()?;
        let request = RequestOrder {
            app: self.app_order.order.app,
            workerpoolmaxprice: U256::from(RLC),
            requester: me,
            beneficiary: me,
            volume: U256::from(1u64),
            trust: U256::from(trust),
            params: r#"{"iexec_args":"x"}"#.into(),
            tag: tag.0,
            salt: B256::repeat_byte(salt),
            ..Default::default()
        }
        .sign_with_client(&self.requester)?;
        Ok((pool, request))
    }
}

fn pushed(digest: u8) -> WorkerResult {
    WorkerResult {
        digest: B256::repeat_byte(digest),
        results: Bytes::from_static(br#"{"storage":"poco","location":"/x"}"#),
        callback: Bytes::new(),
    }
}

#[tokio::test]
async fn workers_settle_through_typed_calls() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let m = Market::new(&dev).await?;
    let worker = &m.workers[0];

    // Fast path: one push settles the task.
    let (pool, request) = m.orders(1, 1)?;
    let (deal, fast) = m
        .requester
        .match_orders_fast(&m.app_order, None, &pool, &request)
        .await?;
    let idx = deal.first_task;
    let taskid = deal.tasks[0];
    assert_eq!(
        worker
            .fast_task_state(fast.clone(), deal.dealid, idx)
            .await?,
        TaskStatus::Active
    );
    let receipt = worker
        .push_result_fast(
            fast.clone(),
            deal.dealid,
            idx,
            &pushed(0x11),
            authorize(&m.scheduler, worker, taskid)?,
            None,
        )
        .await?;
    assert!(receipt.status());
    assert_eq!(
        worker
            .fast_task_state(fast.clone(), deal.dealid, idx)
            .await?,
        TaskStatus::Completed
    );
    // Pushed twice: refused before anything is sent, with the hub's reason.
    let err = worker
        .push_result_fast(
            fast,
            deal.dealid,
            idx,
            &pushed(0x11),
            authorize(&m.scheduler, worker, taskid)?,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("pushResultFast refused"),
        "{err}"
    );

    // Classic trust 1: contribute and finalize in one transaction.
    let (pool, request) = m.orders(1, 2)?;
    let deal = m
        .requester
        .match_orders(&m.app_order, None, &pool, &request)
        .await?;
    let taskid = deal.tasks[0];
    let hub = m.scheduler.hub();
    let call = hub.initialize(deal.dealid, deal.first_task);
    m.scheduler
        .send(call.into_transaction_request(), "initialize")
        .await?;
    worker
        .contribute_and_finalize(
            taskid,
            &pushed(0x22),
            authorize(&m.scheduler, worker, taskid)?,
            None,
        )
        .await?;
    let task = worker.task(taskid).await?;
    assert_eq!(
        TaskStatus::try_from(task.status).ok(),
        Some(TaskStatus::Completed)
    );
    assert_eq!(task.resultDigest, B256::repeat_byte(0x22));
    let mine = worker.contribution(taskid, worker.sender()?).await?;
    assert_eq!(mine.status, ContributionStatus::Proved);
    assert_eq!(
        mine.result_hash,
        result_hash(taskid, B256::repeat_byte(0x22))
    );

    // Trust 3: two agreeing contributions reach the consensus, each worker reveals its own.
    let (pool, request) = m.orders(3, 3)?;
    let deal = m
        .requester
        .match_orders(&m.app_order, None, &pool, &request)
        .await?;
    let taskid = deal.tasks[0];
    let call = hub.initialize(deal.dealid, deal.first_task);
    m.scheduler
        .send(call.into_transaction_request(), "initialize")
        .await?;
    let digest = B256::repeat_byte(0x33);
    let nobody = m.workers[1].sender()?;
    assert_eq!(
        worker.contribution(taskid, nobody).await?.status,
        ContributionStatus::Unset
    );
    for w in &m.workers {
        w.contribute(taskid, digest, authorize(&m.scheduler, w, taskid)?, None)
            .await?;
        let c = w.contribution(taskid, w.sender()?).await?;
        assert_eq!(c.status, ContributionStatus::Contributed);
        assert_eq!(c.result_hash, result_hash(taskid, digest));
    }
    let task = worker.task(taskid).await?;
    assert_eq!(
        TaskStatus::try_from(task.status).ok(),
        Some(TaskStatus::Revealing)
    );
    // A reveal of another digest is refused with the hub's reason.
    let err = worker
        .reveal(taskid, B256::repeat_byte(0x34))
        .await
        .unwrap_err();
    assert!(err.revert().is_some(), "{err}");
    for w in &m.workers {
        w.reveal(taskid, digest).await?;
        let c = w.contribution(taskid, w.sender()?).await?;
        assert_eq!(c.status, ContributionStatus::Proved);
    }
    Ok(())
}

/// The scheduler's signature authorizing `worker` on `taskid` with the enclave `challenge`.
fn authorize_enclave(
    scheduler: &PocoClient,
    worker: &PocoClient,
    taskid: B256,
    challenge: Address,
) -> eyre::Result<Bytes> {
    let key = scheduler
        .signer()
        .ok_or_else(|| eyre::eyre!("client without a signer"))?;
    Ok(WorkerAuthorization::sign(key, worker.sender()?, taskid, challenge)?.sign)
}

/// What a TEE settle call is tried with: the scheduler's authorization without and with the
/// enclave challenge, the enclave signatures the hub must refuse, and the right one.
struct TeeCase {
    plain_auth: Bytes,
    auth: Bytes,
    refused: Vec<Enclave>,
    signed: Enclave,
}

impl TeeCase {
    /// Tries `settle` (authorization, enclave): refused without an enclave
    /// (`EnclaveChallengeRequired`), with each of `refused` (`InvalidEnclaveSignature`);
    /// accepted with `signed`.
    async fn check<F, Fut>(self, settle: F) -> eyre::Result<()>
    where
        F: Fn(Bytes, Option<Enclave>) -> Fut,
        Fut: std::future::Future<Output = poco_chain::Result<TransactionReceipt>>,
    {
        let err = settle(self.plain_auth, None).await.unwrap_err();
        let code = err.revert().and_then(|r| r.as_poco());
        assert!(
            matches!(code, Some(IPocoErrors::EnclaveChallengeRequired(_))),
            "{err}"
        );
        for enclave in self.refused {
            let err = settle(self.auth.clone(), Some(enclave)).await.unwrap_err();
            let code = err.revert().and_then(|r| r.as_poco());
            assert!(
                matches!(code, Some(IPocoErrors::InvalidEnclaveSignature(_))),
                "{err}"
            );
        }
        settle(self.auth, Some(self.signed)).await?;
        Ok(())
    }
}

#[tokio::test]
async fn tee_deals_settle_only_with_the_enclave_signature() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let m = Market::new(&dev).await?;
    let worker = &m.workers[0];
    let me = worker.sender()?;
    let enclave = PrivateKeySigner::random();
    let impostor = PrivateKeySigner::random();
    let challenge = enclave.address();
    let with = |sign: Bytes| Enclave { challenge, sign };
    let case = |taskid: B256, signed: Bytes, refused: Vec<Bytes>| -> eyre::Result<TeeCase> {
        Ok(TeeCase {
            plain_auth: authorize(&m.scheduler, worker, taskid)?,
            auth: authorize_enclave(&m.scheduler, worker, taskid, challenge)?,
            refused: refused.into_iter().map(with).collect(),
            signed: with(signed),
        })
    };
    let m = &m;
    let initialize = |dealid: B256, idx: U256| async move {
        let hub = m.scheduler.hub();
        let call = hub.initialize(dealid, idx);
        m.scheduler
            .send(call.into_transaction_request(), "initialize")
            .await
    };

    // Fast path: the enclave signs keccak256(worker ‖ taskid ‖ resultDigest); another key's
    // signature, or the contribute message, is refused.
    let (pool, request) = m.tagged_orders(1, 0x41, Tag::TEE)?;
    let (deal, fast) = m
        .requester
        .match_orders_fast(&m.tee_app_order, None, &pool, &request)
        .await?;
    let (idx, taskid) = (deal.first_task, deal.tasks[0]);
    let result = pushed(0x41);
    let c = Contribution::new(me, taskid, result.digest);
    case(
        taskid,
        sign_enclave_fast(&enclave, me, taskid, result.digest)?,
        vec![
            sign_enclave_fast(&impostor, me, taskid, result.digest)?,
            sign_enclave(&enclave, c.result_hash, c.result_seal)?,
        ],
    )?
    .check(|auth, enclave| {
        let (fast, result) = (fast.clone(), result.clone());
        async move {
            worker
                .push_result_fast(fast, deal.dealid, idx, &result, auth, enclave.as_ref())
                .await
        }
    })
    .await?;
    assert_eq!(
        worker.fast_task_state(fast, deal.dealid, idx).await?,
        TaskStatus::Completed
    );

    // Classic deals: the enclave signs keccak256(resultHash ‖ resultSeal). A deal of one task
    // at `trust`, initialized: its task and the case of the digest `byte` repeated.
    let (case, enclave, impostor, initialize) = (&case, &enclave, &impostor, &initialize);
    let classic = |trust: u64, byte: u8| async move {
        let (pool, request) = m.tagged_orders(trust, byte, Tag::TEE)?;
        let deal = m
            .requester
            .match_orders(&m.tee_app_order, None, &pool, &request)
            .await?;
        let taskid = deal.tasks[0];
        initialize(deal.dealid, deal.first_task).await?;
        let c = Contribution::new(me, taskid, B256::repeat_byte(byte));
        let tee = case(
            taskid,
            sign_enclave(enclave, c.result_hash, c.result_seal)?,
            vec![sign_enclave(impostor, c.result_hash, c.result_seal)?],
        )?;
        eyre::Ok((taskid, tee))
    };

    // Trust 1: contributed and finalized at once.
    let result = pushed(0x42);
    let (taskid, tee) = classic(1, 0x42).await?;
    tee.check(|auth, enclave| {
        let result = result.clone();
        async move {
            worker
                .contribute_and_finalize(taskid, &result, auth, enclave.as_ref())
                .await
        }
    })
    .await?;
    assert_eq!(
        worker.contribution(taskid, me).await?.status,
        ContributionStatus::Proved
    );

    // Replicated: each contribution carries its own enclave signature.
    let (taskid, tee) = classic(3, 0x43).await?;
    tee.check(|auth, enclave| async move {
        worker
            .contribute(taskid, B256::repeat_byte(0x43), auth, enclave.as_ref())
            .await
    })
    .await?;
    assert_eq!(
        worker.contribution(taskid, me).await?.status,
        ContributionStatus::Contributed
    );
    Ok(())
}

#[tokio::test]
async fn owners_and_the_admin_act_through_typed_calls() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let m = Market::new(&dev).await?;
    let admin = PocoClient::connect(
        poco_chain::ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(dev.keys[0].clone()),
    )
    .await?;

    // Registries: count and enumerate an owner's assets.
    let owner = m.scheduler.sender()?;
    assert_eq!(
        m.scheduler
            .asset_count(AssetKind::Workerpool, owner)
            .await?,
        U256::from(1u64)
    );
    assert_eq!(
        m.scheduler
            .asset_of_owner(AssetKind::Workerpool, owner, U256::ZERO)
            .await?,
        m.pool
    );
    assert_eq!(
        m.scheduler.asset_count(AssetKind::App, owner).await?,
        U256::ZERO
    );

    // The pool's policy, changed by its owner only.
    m.scheduler
        .change_policy(m.pool, U256::from(40u64), U256::from(5u64))
        .await?;
    let view = m.requester.view_workerpool(m.pool).await?;
    assert_eq!(view.worker_stake_ratio, U256::from(40u64));
    assert_eq!(view.scheduler_reward_ratio, U256::from(5u64));
    assert!(m
        .requester
        .change_policy(m.pool, U256::from(1u64), U256::from(1u64))
        .await
        .unwrap_err()
        .to_string()
        .starts_with("changePolicy refused"));

    // Categories: the hub owner creates one; anyone else is refused.
    assert_eq!(admin.hub_owner().await?, dev.keys[0].address());
    let count = admin.category_count().await?;
    admin.create_category("XXS", "tiny", 60).await?;
    assert_eq!(admin.category_count().await?, count + U256::from(1u64));
    let created = admin.category(count).await?;
    assert_eq!(
        (created.name.as_str(), created.work_clock_time_ref),
        ("XXS", 60)
    );
    let err = m.requester.create_category("no", "", 1).await.unwrap_err();
    assert!(
        matches!(
            err.revert().and_then(|r| r.as_poco()),
            Some(IPocoErrors::NotHubOwner(_))
        ),
        "{err}"
    );

    // RLC moves between wallets; balances are read at a block.
    let to = Address::repeat_byte(0x77);
    m.requester.transfer_rlc(to, U256::from(RLC)).await?;
    assert_eq!(m.requester.wallet_rlc(to).await?, U256::from(RLC));
    let block = m.requester.block_number().await?;
    assert_eq!(block, dev.provider.get_block_number().await?);
    assert!(m.requester.block_timestamp(block).await?.is_some());
    assert_eq!(m.requester.block_timestamp(block + 1_000).await?, None);
    let me = m.requester.sender()?;
    assert_eq!(
        m.requester.account_at(me, block).await?,
        m.requester.account(me).await?
    );

    // Signatures as the hub checks them, and a match prepared for the requester's wallet.
    let (pool, request) = m.orders(1, 9)?;
    let hash = request.order_hash(&m.requester.domain());
    assert!(
        m.requester
            .verify_signature(me, hash, request.sign.clone(), block)
            .await?
    );
    assert!(
        !m.requester
            .verify_signature(owner, hash, request.sign.clone(), block)
            .await?
    );
    let tx = m
        .scheduler
        .prepare_match(&m.app_order, None, &pool, &request)
        .await?;
    assert!(tx.fast);
    assert_eq!(tx.to, dev.deployment.hub);
    assert!(!tx.data.is_empty());
    Ok(())
}
