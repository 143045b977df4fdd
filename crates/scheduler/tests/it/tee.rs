//! TEE tasks: a TEE-tagged deal goes only to a worker that registered TEE, with the task's
//! enclave challenge from the SMS (answered here by a small server of the test that plays the
//! SMS's `POST /tee/challenges`), the SMS's URL, the deal's tag, and an authorization over
//! (worker, task, challenge) that the hub accepts with the enclave's signature; a TEE worker's
//! own failure gives the task back to it (plain workers are no other worker for it) with the
//! same challenge; a down SMS holds the task back without charging anyone.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use poco_chain::{Enclave, MatchedDeal, WorkerResult};
use poco_scheduler::api::Assignment;
use poco_sms_api::tee::{ChallengeRequest, ChallengeResponse};
use poco_testkit::Role;
use poco_types::{sign_enclave, task_id, Contribution, Order as _, Tag, WorkerAuthorization};
use tokio::sync::watch;

use crate::{Pool, TestWorker, RLC};

/// The test's SMS: answers each task's enclave challenge with the address of one key the
/// test holds (or refuses the deals it is told to), and counts the requests.
struct FakeSms {
    url: String,
    enclave: PrivateKeySigner,
    state: SmsState,
    _server: tokio::task::JoinHandle<()>,
}

/// What the test's SMS handler shares: the challenge it answers, the request count, the deals
/// it refuses (403), and whether it answers at all yet (a hanging SMS until it is sent `true`).
#[derive(Clone)]
struct SmsState {
    enclave: Address,
    requests: Arc<AtomicUsize>,
    refused: Arc<std::sync::Mutex<Vec<B256>>>,
    answering: watch::Receiver<bool>,
}

impl FakeSms {
    /// Serves on `addr` (a port of 0: any).
    async fn start(addr: SocketAddr) -> eyre::Result<Self> {
        let (_, answering) = watch::channel(true);
        Self::serve(addr, answering).await
    }

    /// Serves on any port, answering no request until `answering` turns true.
    async fn hanging(answering: watch::Receiver<bool>) -> eyre::Result<Self> {
        Self::serve(SocketAddr::from(([127, 0, 0, 1], 0)), answering).await
    }

    async fn serve(addr: SocketAddr, answering: watch::Receiver<bool>) -> eyre::Result<Self> {
        let enclave = PrivateKeySigner::random();
        let state = SmsState {
            enclave: enclave.address(),
            requests: Arc::new(AtomicUsize::new(0)),
            refused: Default::default(),
            answering,
        };
        let app = Router::new()
            .route("/tee/challenges", post(challenge))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            enclave,
            state,
            _server: server,
        })
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Waits until the scheduler has asked for a challenge (`what` names the wait).
    async fn wait_asked(&self, what: &str) -> eyre::Result<()> {
        poco_testkit::wait_for(what, poco_testkit::WAIT, || {
            let asked = self.requests() > 0;
            async move { eyre::Ok(asked.then_some(())) }
        })
        .await
    }

    /// Refuses the challenges of `dealid`'s tasks from now on.
    fn refuse(&self, dealid: B256) {
        self.state.refused.lock().unwrap().push(dealid);
    }
}

async fn challenge(
    State(mut s): State<SmsState>,
    Json(r): Json<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, (StatusCode, String)> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let _ = s.answering.wait_for(|yes| *yes).await;
    if s.refused.lock().unwrap().contains(&r.dealid) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("deal {} is not a TEE deal", r.dealid),
        ));
    }
    Ok(Json(ChallengeResponse {
        taskid: task_id(r.dealid, alloy::primitives::U256::from(r.idx)),
        enclave_challenge: s.enclave,
    }))
}

impl Pool {
    /// A classic deal of one task at `trust` whose app, pool and request orders carry `tag`.
    async fn tagged_deal(&mut self, trust: u64, tag: Tag) -> eyre::Result<MatchedDeal> {
        self.tagged_deal_then(trust, tag, |_| {}).await
    }

    /// [`Self::tagged_deal`], calling `before` with the deal's id before it is made.
    async fn tagged_deal_then(
        &mut self,
        trust: u64,
        tag: Tag,
        before: impl FnOnce(B256),
    ) -> eyre::Result<MatchedDeal> {
        let (app_order, pool_order, request) = self.orders(trust, 1, "{}")?;
        let domain = &self.chain.domain;
        let app_order = poco_types::AppOrder {
            tag: tag.0,
            ..app_order.order
        }
        .sign(domain, self.chain.key(Role::AppOwner))?;
        let pool_order = poco_types::WorkerpoolOrder {
            tag: tag.0,
            ..pool_order.order
        }
        .sign(domain, self.chain.key(Role::Scheduler))?;
        let request = poco_types::RequestOrder {
            tag: tag.0,
            ..request.order
        }
        .sign(domain, self.chain.key(Role::Requester))?;
        // a fresh request order: nothing consumed yet
        before(poco_types::deal_id(
            request.order_hash(domain),
            alloy::primitives::U256::ZERO,
        ));
        Ok(self
            .requester
            .match_orders(&app_order, None, &pool_order, &request)
            .await?)
    }

    /// A worker on `Role::Worker(n)`'s account registering `tag`.
    async fn tagged_worker(&self, n: usize, tag: Tag) -> eyre::Result<TestWorker> {
        TestWorker::with_tags(self, self.chain.key(Role::Worker(n)).clone(), 1, tag.0).await
    }
}

/// Checks a TEE assignment: the deal's tag, the SMS's challenge and URL, and an authorization
/// by the pool's owner over (worker, task, challenge).
fn check_tee_assignment(
    pool: &Pool,
    a: &Assignment,
    worker: &TestWorker,
    sms: &FakeSms,
) -> eyre::Result<()> {
    assert_eq!(Tag(a.tag), Tag::TEE);
    assert_eq!(a.enclave_challenge, sms.enclave.address());
    assert_ne!(a.enclave_challenge, Address::ZERO);
    assert_eq!(a.sms_url.as_deref(), Some(sms.url.as_str()));
    let authorization = WorkerAuthorization {
        worker: worker.address(),
        task_id: a.taskid,
        enclave_challenge: a.enclave_challenge,
        sign: a.authorization.clone(),
    };
    authorization.verify(pool.chain.address(Role::Scheduler))?;
    // Not an authorization of the standard task.
    let standard = WorkerAuthorization {
        enclave_challenge: Address::ZERO,
        ..authorization
    };
    assert!(standard
        .verify(pool.chain.address(Role::Scheduler))
        .is_err());
    Ok(())
}

#[tokio::test]
async fn tee_tasks_go_only_to_tee_workers_with_their_enclave_challenge() -> eyre::Result<()> {
    let sms = FakeSms::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = sms.url.clone();
    let mut pool = Pool::start_with(|c| {
        c.sms_url = Some(url);
        c.retry_backoff = Duration::from_secs(1);
    })
    .await?;
    let plain = pool.worker(0, 1).await?;
    let gpu = pool.tagged_worker(1, Tag::GPU).await?;
    let tee = pool.tagged_worker(2, Tag::TEE).await?;

    let deal = pool.tagged_deal(1, Tag::TEE).await?;
    let taskid = deal.tasks[0];
    pool.wait_task(taskid, "activation", |i| i.status == "ACTIVE")
        .await?;
    // Workers without the TEE tag get nothing, however long they poll.
    for w in [&plain, &gpu] {
        let got = w.api.next_work(Duration::from_secs(2)).await?;
        assert!(got.is_none(), "{}: {got:?}", w.address());
    }
    // An untagged deal behind it still reaches the plain worker.
    let untagged = pool.tagged_deal(1, Tag::NONE).await?;
    let a = plain.take().await?;
    assert_eq!(a.taskid, untagged.tasks[0]);
    assert_eq!(
        (Tag(a.tag), a.enclave_challenge, a.sms_url),
        (Tag::NONE, Address::ZERO, None)
    );

    let a = tee.take().await?;
    assert_eq!(a.taskid, taskid);
    check_tee_assignment(&pool, &a, &tee, &sms)?;
    assert_eq!(sms.requests(), 1, "one challenge per task");

    // The TEE worker fails on its own: the plain worker, live, is not another worker for this
    // task, so the TEE worker gets it back (after the backoff), with the same challenge.
    tee.api
        .report(
            taskid,
            &crate::failed_report("the enclave ran out of memory"),
        )
        .await?;
    let again = plain.api.next_work(Duration::from_secs(1)).await?;
    assert!(again.is_none(), "{again:?}");
    let a = tee.take().await?;
    assert_eq!(a.taskid, taskid);
    check_tee_assignment(&pool, &a, &tee, &sms)?;
    assert_eq!(sms.requests(), 1, "the task keeps its challenge");

    // The hub takes the result with the enclave's signature under that authorization.
    let digest = B256::repeat_byte(0x5e);
    let c = Contribution::new(tee.address(), taskid, digest);
    let enclave = Enclave {
        challenge: a.enclave_challenge,
        sign: sign_enclave(&sms.enclave, c.result_hash, c.result_seal)?,
    };
    let result = WorkerResult {
        digest,
        results: poco_types::ResultLink::new("poco", "/x").to_bytes(),
        callback: Default::default(),
    };
    tee.chain
        .contribute_and_finalize(taskid, &result, a.authorization.clone(), Some(&enclave))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_down_sms_holds_tee_tasks_back_without_charging_anyone() -> eyre::Result<()> {
    // A port nothing listens on yet: the SMS is down.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut pool = Pool::start_with(|c| {
        c.sms_url = Some(format!("http://{addr}"));
        c.max_attempts = 1;
    })
    .await?;
    let tee = pool.tagged_worker(0, Tag::TEE).await?;
    let deal = pool.tagged_deal(1, Tag::TEE).await?;
    let taskid = deal.tasks[0];
    pool.wait_task(taskid, "activation", |i| i.status == "ACTIVE")
        .await?;
    let got = tee.api.next_work(Duration::from_secs(3)).await?;
    assert!(got.is_none(), "{got:?}");
    assert!(pool.metric("poco_scheduler_sms_errors_total").await? >= 1);
    assert_eq!(pool.metric("poco_scheduler_assignments_total").await?, 0);
    // Nothing counted: with one attempt allowed, a counted failure would have given it up.
    let info = pool
        .wait_task(taskid, "a view", |i| i.status == "ACTIVE")
        .await?;
    assert!(
        info.replicas.is_empty() && info.failure.is_none(),
        "{info:?}"
    );

    // The SMS comes up: the task is handed out with its challenge.
    let sms = FakeSms::start(addr).await?;
    let a = tee.take().await?;
    assert_eq!(a.taskid, taskid);
    check_tee_assignment(&pool, &a, &tee, &sms)?;
    Ok(())
}

/// An SMS that takes the request and never answers (slow, overloaded or hostile) holds back
/// the TEE task only: the other tasks are handed out meanwhile, while the request for the
/// challenge is still outstanding (before the scheduler's timeout counts an SMS error), and a
/// TEE worker polling for work does not wait on the SMS either.
#[tokio::test]
async fn a_hanging_sms_holds_back_only_the_tee_tasks() -> eyre::Result<()> {
    let (answer, answering) = watch::channel(false);
    let sms = FakeSms::hanging(answering).await?;
    let url = sms.url.clone();
    // A timeout far beyond the test's steps: no SMS error is counted while they run.
    let mut pool = Pool::start_with(|c| {
        c.sms_url = Some(url);
        c.sms_timeout = Duration::from_secs(600);
    })
    .await?;
    let plain = pool.worker(0, 1).await?;
    let tee = pool.tagged_worker(1, Tag::TEE).await?;
    let untagged = pool.tagged_deal(1, Tag::NONE).await?;
    let deal = pool.tagged_deal(1, Tag::TEE).await?;
    let taskid = deal.tasks[0];
    for task in [untagged.tasks[0], taskid] {
        pool.wait_task(task, "activation", |i| i.status == "ACTIVE")
            .await?;
    }
    sms.wait_asked("the scheduler to ask the SMS").await?;

    // While the SMS holds the request: the plain worker gets the untagged task, and the TEE
    // worker polling gets nothing.
    let a = plain.take().await?;
    assert_eq!(a.taskid, untagged.tasks[0]);
    let got = tee.api.next_work(Duration::from_secs(1)).await?;
    assert!(got.is_none(), "{got:?}");
    assert_eq!(
        pool.metric("poco_scheduler_sms_errors_total").await?,
        0,
        "an SMS error was counted while the SMS held the request"
    );

    // The SMS answers: the TEE task goes out with its challenge.
    answer.send(true)?;
    let a = tee.take().await?;
    assert_eq!(a.taskid, taskid);
    check_tee_assignment(&pool, &a, &tee, &sms)?;
    Ok(())
}

/// The SMS refusing one task's challenge (it does not know the deal yet, or says it is no TEE
/// deal) holds back that task only: a later TEE deal's task is handed out meanwhile, and the
/// refused one is asked again later and handed out once the SMS agrees.
#[tokio::test]
async fn a_task_the_sms_refuses_does_not_hold_back_the_others() -> eyre::Result<()> {
    let sms = FakeSms::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = sms.url.clone();
    let mut pool = Pool::start_with(|c| c.sms_url = Some(url)).await?;
    let tee = pool.tagged_worker(0, Tag::TEE).await?;
    // The first deal (the nearest deadline, asked first) is refused from the start.
    let refused = pool
        .tagged_deal_then(1, Tag::TEE, |dealid| sms.refuse(dealid))
        .await?;
    let first = refused.tasks[0];
    sms.wait_asked("the SMS to refuse the first task").await?;
    // A block at least a second later: the later deal's deadline is strictly after the first
    // one's, so the refused task keeps coming first in the scheduler's list.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let later = pool.tagged_deal(1, Tag::TEE).await?.tasks[0];
    let a = tee.take().await?;
    assert_eq!(a.taskid, later);
    check_tee_assignment(&pool, &a, &tee, &sms)?;
    assert!(pool.metric("poco_scheduler_sms_errors_total").await? >= 1);
    let info = pool
        .wait_task(first, "a view", |i| i.status == "ACTIVE")
        .await?;
    assert!(info.replicas.is_empty(), "{info:?}");

    // The SMS agrees: the refused task is asked again and handed out (to another TEE worker:
    // the first one's only slot holds the later task).
    let other = pool.tagged_worker(1, Tag::TEE).await?;
    sms.state.refused.lock().unwrap().clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let a = loop {
        if let Some(a) = other.api.next_work(Duration::from_secs(5)).await? {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refused task was never asked again"
        );
    };
    assert_eq!(a.taskid, first);
    check_tee_assignment(&pool, &a, &other, &sms)?;
    Ok(())
}

#[tokio::test]
async fn a_pool_offering_tee_without_an_sms_refuses_to_start() -> eyre::Result<()> {
    let chain = poco_testkit::Chain::start().await?;
    let pool = chain.create_workerpool(Role::Scheduler, "tee pool").await?;
    let dir = tempfile::tempdir()?;
    let mut config = chain.scheduler_config(pool, dir.path());
    config.publish = Some(poco_scheduler::PublishConfig {
        price: alloy::primitives::U256::from(RLC),
        volume: alloy::primitives::U256::from(10u64),
        category: alloy::primitives::U256::ZERO,
        trust: alloy::primitives::U256::ZERO,
        tag: (Tag::TEE | Tag::TDX).0,
        salt: None,
    });
    let err = chain
        .start_scheduler(config.clone())
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("a TEE pool without an SMS started"))?
        .to_string();
    assert!(
        err.contains("no SMS") && err.contains("--sms") && err.contains("--tag"),
        "{err}"
    );
    // With an SMS it starts.
    config.sms_url = Some("http://127.0.0.1:9".into());
    chain.start_scheduler(config).await?;
    Ok(())
}
