//! The attacks of the security review on the scheduler, played through its API.

use std::time::Duration;

use alloy::{
    primitives::{Bytes, B256},
    signers::{local::PrivateKeySigner, Signer},
};
use poco_scheduler::{
    api::{LoginRequest, ReplicateState, Report},
    SchedulerClient,
};

use poco_testkit::Role;

use crate::{archive, failed_report, Pool};

/// H2: a replicate holder with a vanity-low address reports the true digest first, with a
/// bogus location and bogus callback data. The scheduler used to reveal with the first row
/// by address and retry its reverting call forever; now it checks each candidate (on-chain
/// contribution, callback data, archive in the store) and finalizes with the honest one.
/// M1: before the consensus, the lazy attacker cannot list or read the honest upload; after
/// finalization only the requester can.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn h2_vanity_replicate_with_bogus_location_is_skipped_and_m1_results_are_private(
) -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(3, 1, r#"{"iexec_args":"h2"}"#).await?;
    let taskid = deal.tasks[0];
    let attacker = pool.vanity_worker().await?;
    let honest = pool.worker(0, 1).await?;
    assert!(attacker.address() < honest.address());
    let a_attacker = attacker.take().await?;
    let a_honest = honest.take().await?;
    assert_eq!((a_attacker.taskid, a_honest.taskid), (taskid, taskid));

    let (bytes, digest) = archive("the honest result")?;
    let location = honest.upload(&a_honest, bytes.clone()).await?;

    // M1, lazy copying: the attacker lists and downloads the honest upload before the
    // consensus. Refused, with its own session and without one.
    let token = attacker.api.token().await.unwrap();
    let store = poco_store::StoreClient::new(&a_attacker.store_url)?.with_bearer_token(token);
    let listed = store.list(taskid).await.unwrap_err();
    assert!(listed.to_string().contains("403"), "{listed}");
    let read = store.download(&location).await.unwrap_err();
    assert!(read.to_string().contains("403"), "{read}");
    let anonymous = poco_store::StoreClient::new(&a_attacker.store_url)?;
    assert!(anonymous.download(&location).await.is_err());

    // Both contribute the true digest; the attacker reports first, with bogus data.
    attacker.contribute(&a_attacker, digest).await?;
    attacker
        .report(
            &a_attacker,
            ReplicateState::Contributed,
            Some(digest),
            Some("x".into()),
            Some(Bytes::from_static(&[0])),
        )
        .await?;
    honest.contribute(&a_honest, digest).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    honest
        .report(
            &a_honest,
            ReplicateState::Contributed,
            Some(digest),
            Some(location.clone()),
            None,
        )
        .await?;

    let info = pool
        .wait_task(taskid, "finalization", |i| i.status == "COMPLETED")
        .await?;
    let on_chain = pool.requester.task(taskid).await?;
    assert_eq!(on_chain.status, 3);
    assert_eq!(on_chain.resultDigest, digest);
    let link = poco_types::ResultLink::from_bytes(&on_chain.results)?;
    assert_eq!(link.location, location, "{info:?}");
    assert!(on_chain.resultsCallback.is_empty());
    assert_eq!(
        pool.metric("poco_scheduler_reveal_rejections_total")
            .await?,
        1
    );
    assert_eq!(
        pool.metric("poco_scheduler_reveal_attempts_total").await?,
        1
    );

    // M1 after finalization: a stranger is refused, signed in or not; the requester reads.
    let stranger = pool.signed_in(pool.chain.key(Role::Other(0))).await?;
    let err = poco_store::StoreClient::new(&a_honest.store_url)?
        .download(&location)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let err = poco_store::StoreClient::new(&a_honest.store_url)?
        .with_bearer_token(stranger.token().await.unwrap())
        .download(&location)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let requester = pool.signed_in(pool.chain.key(Role::Requester)).await?;
    let got = poco_store::StoreClient::new(&a_honest.store_url)?
        .with_bearer_token(requester.token().await.unwrap())
        .download(&location)
        .await?;
    assert_eq!(&got[..], &bytes[..]);
    Ok(())
}

/// H2: every replicate agreeing with the consensus reports a bogus location. No
/// revealAndFinalize is sent at all (each candidate fails its checks once and is set aside),
/// the scheduler does not loop on them, and once the reveal deadline passes the task is
/// reopened for another replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn h2_every_candidate_bad_ends_without_a_hot_loop() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(3, 1, "").await?;
    let taskid = deal.tasks[0];
    let workers = [pool.worker(0, 1).await?, pool.worker(1, 1).await?];
    let (_, digest) = archive("a result nobody stored")?;
    for w in &workers {
        let a = w.take().await?;
        w.contribute(&a, digest).await?;
        w.report(
            &a,
            ReplicateState::Contributed,
            Some(digest),
            Some(format!(
                "{}/results/{taskid}/{}.zip",
                a.store_url,
                "ab".repeat(32)
            )),
            None,
        )
        .await?;
    }
    pool.wait_task(taskid, "the consensus", |i| i.status == "REVEALING")
        .await?;
    let started = std::time::Instant::now();
    while pool
        .metric("poco_scheduler_reveal_rejections_total")
        .await?
        < 2
    {
        eyre::ensure!(started.elapsed() < Duration::from_secs(30), "not set aside");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let transactions = pool.metric("poco_scheduler_transactions_total").await?;
    // Twenty ticks later: nothing more was tried.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        pool.metric("poco_scheduler_reveal_attempts_total").await?,
        0
    );
    assert_eq!(
        pool.metric("poco_scheduler_reveal_rejections_total")
            .await?,
        2
    );
    assert_eq!(
        pool.metric("poco_scheduler_transactions_total").await?,
        transactions
    );
    // After the reveal deadline the task is reopened and asks for one more replica.
    let task = pool.requester.task(taskid).await?;
    let now = pool.requester.now().await?;
    let wait: u64 = task
        .revealDeadline
        .saturating_to::<u64>()
        .saturating_sub(now)
        + 1;
    pool.advance(wait).await?;
    let info = pool
        .wait_task(taskid, "the reopening", |i| {
            i.status == "ACTIVE" && i.replicas_needed == 3
        })
        .await?;
    assert_eq!(info.replicas.len(), 2);
    Ok(())
}

/// M1: the public task view carries no app output (only a kind); the logs are served to the
/// requester after a sign-in, to nobody else. A deal asking for result encryption is given
/// up at once; a deal asking for public results is readable by anyone once completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn m1_logs_behind_sign_in_encryption_refused_public_results_open() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let encrypted = pool
        .deal(1, 1, r#"{"iexec_result_encryption":true}"#)
        .await?;
    let info = pool.wait_given_up(encrypted.tasks[0]).await?;
    let reason = info.failure.unwrap_or_default();
    assert!(
        reason.contains("does not support result encryption yet"),
        "{reason}"
    );

    let failing = pool.deal(1, 1, "").await?;
    let worker = pool.worker(0, 1).await?;
    let a = worker.take().await?;
    assert_eq!(a.taskid, failing.tasks[0]);
    worker
        .api
        .report(
            a.taskid,
            &Report {
                app_fault: true,
                ..failed_report("the app exited with 1: SECRET-FROM-STDERR")
            },
        )
        .await?;
    let info = pool.wait_given_up(a.taskid).await?;
    let public = reqwest::get(format!("{}/tasks/{}", pool.url(), a.taskid))
        .await?
        .text()
        .await?;
    assert!(!public.contains("SECRET"), "{public}");
    assert_eq!(info.replicas[0].error.as_deref(), Some("app-fault"));
    let anonymous = SchedulerClient::new(pool.url())?.task_logs(a.taskid).await;
    assert!(
        matches!(
            anonymous,
            Err(poco_scheduler::api::Error::Refused { status: 401, .. })
        ),
        "{anonymous:?}"
    );
    let stranger = pool.signed_in(pool.chain.key(Role::Other(0))).await?;
    let refused = stranger.task_logs(a.taskid).await;
    assert!(
        matches!(
            refused,
            Err(poco_scheduler::api::Error::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let requester = pool.signed_in(pool.chain.key(Role::Requester)).await?;
    let logs = requester.task_logs(a.taskid).await?;
    assert!(
        logs.replicas[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("SECRET-FROM-STDERR"),
        "{logs:?}"
    );

    // Public results: anyone reads them once the task is completed.
    let open = pool.deal(1, 1, r#"{"poco_public_results":true}"#).await?;
    let a = worker.take().await?;
    assert_eq!(a.taskid, open.tasks[0]);
    let (bytes, digest) = archive("public")?;
    let location = worker.upload(&a, bytes.clone()).await?;
    let early = poco_store::StoreClient::new(&a.store_url)?
        .download(&location)
        .await;
    assert!(early.is_err(), "readable before completion");
    worker
        .contribute_and_finalize(&a, digest, &location)
        .await?;
    worker
        .report(
            &a,
            ReplicateState::Done,
            Some(digest),
            Some(location.clone()),
            None,
        )
        .await?;
    pool.wait_task(a.taskid, "completion", |i| i.status == "COMPLETED")
        .await?;
    let got = poco_store::StoreClient::new(&a.store_url)?
        .download(&location)
        .await?;
    assert_eq!(&got[..], &bytes[..]);
    Ok(())
}

/// M6: challenges are keyed by nonce, so asking for challenges "for" the victim or posting a
/// bad login with the victim's address and challenge no longer overwrites or deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn m6_victims_challenge_cannot_be_overwritten_or_deleted() -> eyre::Result<()> {
    let pool = Pool::start().await?;
    let victim = pool.chain.key(Role::Other(1)).clone();
    let http = reqwest::Client::new();
    let challenge: poco_scheduler::api::Challenge = http
        .get(format!(
            "{}/challenge?address={}",
            pool.url(),
            victim.address()
        ))
        .send()
        .await?
        .json()
        .await?;
    // The attacker asks for challenges in the victim's name and posts a garbage login with
    // the victim's address and challenge.
    for _ in 0..3 {
        http.get(format!(
            "{}/challenge?address={}",
            pool.url(),
            victim.address()
        ))
        .send()
        .await?;
    }
    let garbage = LoginRequest {
        address: victim.address(),
        challenge: challenge.challenge.clone(),
        signature: Bytes::from(vec![7u8; 65]),
    };
    let status = http
        .post(format!("{}/login", pool.url()))
        .json(&garbage)
        .send()
        .await?
        .status();
    assert_eq!(status, 401);
    // The victim signs in with its challenge all the same.
    let signature = victim.sign_message(challenge.challenge.as_bytes()).await?;
    let login = LoginRequest {
        address: victim.address(),
        challenge: challenge.challenge.clone(),
        signature: signature.as_bytes().to_vec().into(),
    };
    let answer = http
        .post(format!("{}/login", pool.url()))
        .json(&login)
        .send()
        .await?;
    assert_eq!(answer.status(), 200, "{}", answer.text().await?);
    // A used challenge does not sign in twice.
    let again = http
        .post(format!("{}/login", pool.url()))
        .json(&login)
        .send()
        .await?;
    assert_eq!(again.status(), 401);
    Ok(())
}

/// H1: a worker registered with one slot gets no second replicate while it holds one, and a
/// session calling /work in a loop is rate limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn h1_slots_cap_replicates_and_work_flood_is_rate_limited() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let deal = pool.deal(1, 2, "").await?;
    let worker = pool.worker(0, 1).await?;
    let first = worker.take().await?;
    assert!(deal.tasks.contains(&first.taskid));
    assert!(worker.api.next_work(Duration::ZERO).await?.is_none());
    // With a second slot it takes the second task.
    worker
        .api
        .register(&poco_scheduler::api::Registration {
            cores: 1,
            memory_bytes: 1 << 30,
            tags: B256::ZERO,
            slots: 2,
        })
        .await?;
    let second = worker.take().await?;
    assert_ne!(second.taskid, first.taskid);

    let mut limited = 0;
    for _ in 0..100 {
        match worker.api.next_work(Duration::ZERO).await {
            Ok(_) => {}
            Err(poco_scheduler::api::Error::Refused { status: 429, .. }) => limited += 1,
            Err(e) => return Err(e.into()),
        }
    }
    assert!(limited > 0, "100 /work calls in a row, none refused");
    assert!(
        pool.metric("poco_scheduler_work_rate_limited_total")
            .await?
            >= limited
    );
    Ok(())
}

/// L2: the client signs only a sign-in challenge of the expected shape and pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_client_refuses_to_sign_a_foreign_text() -> eyre::Result<()> {
    use axum::{routing::get, Json, Router};
    let key = PrivateKeySigner::random();
    for text in [
        "Sign in with Ethereum to example.org\nNonce: 1".to_string(),
        "\u{19}Ethereum Signed Message:\n32aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string(),
        format!(
            "poco scheduler {} sign-in: {} and more",
            alloy::primitives::Address::ZERO,
            "ab".repeat(16)
        ),
    ] {
        let app = Router::new().route(
            "/challenge",
            get(move || {
                let text = text.clone();
                async move { Json(serde_json::json!({ "challenge": text })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let err = SchedulerClient::new(&url)?.login(&key).await.unwrap_err();
        assert!(
            matches!(err, poco_scheduler::api::Error::ForeignChallenge { .. }),
            "{err}"
        );
        assert!(!err.is_retryable());
        server.abort();
    }
    // The right shape for another pool than the expected one.
    let other = alloy::primitives::Address::repeat_byte(9);
    let text = format!("poco scheduler {other} sign-in: {}", "ab".repeat(16));
    let app = Router::new().route(
        "/challenge",
        get(move || {
            let text = text.clone();
            async move { Json(serde_json::json!({ "challenge": text })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let err = SchedulerClient::new(&url)?
        .expect_pool(alloy::primitives::Address::repeat_byte(1))
        .login(&key)
        .await
        .unwrap_err();
    assert!(
        matches!(err, poco_scheduler::api::Error::ForeignChallenge { .. }),
        "{err}"
    );
    server.abort();
    Ok(())
}
