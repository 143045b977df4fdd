//! The HTTP API seen with a plain HTTP client: statuses, bodies, files on disk, counters.

use crate::harness::{archive, error, send, stranger, task, Store};
use alloy_primitives::{hex, Address, B256};
use poco_store::{AUTHORIZATION_HEADER, SIGNATURE_HEADER, WORKER_HEADER};
use poco_types::sha256_digest;
use reqwest::{header, StatusCode};
use serde_json::json;

#[tokio::test]
async fn upload_is_stored_under_its_digest_and_served() {
    let store = Store::start().await;
    let task = task(1);
    let body = archive(1, 1000);
    let sha = sha256_digest(&body);

    let (status, receipt) = store.put(task, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let location = format!("{}/results/{task}/{}.zip", store.url, hex::encode(sha));
    assert_eq!(
        receipt,
        json!({
            "storage": "poco",
            "location": location,
            "sha256": sha.to_string(),
            "size": body.len(),
        })
    );
    // Content-addressed key in the folder, and nothing else.
    assert_eq!(
        store.files(),
        vec![format!("results/{task}/{}.zip", hex::encode(sha))]
    );
    assert_eq!(std::fs::read(store.file_of(task, &body)).unwrap(), body);

    let response = store.http.get(&location).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/zip");
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        body.len().to_string()
    );
    assert_eq!(response.bytes().await.unwrap(), body);
}

#[tokio::test]
async fn same_bytes_again_is_idempotent() {
    let store = Store::start().await;
    let task = task(2);
    let body = archive(2, 300);
    let (first_status, first) = store.put(task, &body).await;
    let (second_status, second) = store.put(task, &body).await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(second_status, StatusCode::OK);
    assert_eq!(first, second);
    assert_eq!(store.files().len(), 1);
    assert_eq!(
        store
            .metric("poco_store_uploads_total{outcome=\"created\"}")
            .await,
        1
    );
    assert_eq!(
        store
            .metric("poco_store_uploads_total{outcome=\"existing\"}")
            .await,
        1
    );
    assert_eq!(
        store.metric("poco_store_stored_bytes_total").await,
        body.len() as u64
    );
}

#[tokio::test]
async fn untrusted_scheduler_is_refused() {
    let store = Store::start().await;
    let task = task(3);
    let body = archive(3, 100);
    let rogue = stranger();
    let headers = Store::headers_by(&rogue, &store.worker, task, &body);
    let (status, answer) = send(store.put_raw(&task.to_string(), body, &headers)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error(&answer),
        format!(
            "the authorization of worker {} for task {task} was signed by {}, which this store \
             does not trust: it trusts only {}, {}. Use an authorization signed by the pool's \
             scheduler for this very worker and task (enclave 0x0)",
            store.worker.address(),
            rogue.address(),
            Address::repeat_byte(0x11),
            store.scheduler.address(),
        )
    );
    assert!(store.files().is_empty());
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"untrusted_scheduler\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn authorization_of_another_task_is_refused() {
    let store = Store::start().await;
    let body = archive(4, 100);
    // Authorized for task 5, used for task 4 (with a worker signature for task 4).
    let mut headers = store.headers(task(4), &body);
    headers[0] = (
        AUTHORIZATION_HEADER,
        hex::encode_prefixed(&store.authorization(task(5)).sign),
    );
    let (status, answer) = send(store.put_raw(&task(4).to_string(), body, &headers)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let message = error(&answer);
    assert!(
        message.starts_with(&format!(
            "the authorization of worker {} for task {} was signed by 0x",
            store.worker.address(),
            task(4)
        )),
        "{message}"
    );
    assert!(!message.contains(&format!("signed by {},", store.scheduler.address())));
    assert!(store.files().is_empty());
}

#[tokio::test]
async fn authorization_of_another_worker_is_refused() {
    let store = Store::start().await;
    let task = task(6);
    let body = archive(6, 100);
    // A thief signs its own upload with the honest worker's authorization.
    let thief = stranger();
    let mut headers = Store::headers_by(&store.scheduler, &thief, task, &body);
    headers[0] = (
        AUTHORIZATION_HEADER,
        hex::encode_prefixed(&store.authorization(task).sign),
    );
    let (status, answer) = send(store.put_raw(&task.to_string(), body, &headers)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(error(&answer).contains("which this store does not trust"));
    assert!(store.files().is_empty());
}

#[tokio::test]
async fn forged_worker_signature_is_refused() {
    let store = Store::start().await;
    let task = task(7);
    let body = archive(7, 100);

    // Signed by someone else than the worker named in the header.
    let forger = stranger();
    let mut headers = store.headers(task, &body);
    headers[2] = Store::headers_by(&store.scheduler, &forger, task, &body)[2].clone();
    let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error(&answer),
        format!(
            "the upload signature recovers to {}, not to the worker {} named in x-poco-worker: \
             the worker must personal-sign upload_hash(taskid, sha256(body)) over exactly the \
             bytes it uploads",
            forger.address(),
            store.worker.address()
        )
    );

    // The worker's signature of other bytes.
    let headers = store.headers(task, &archive(8, 100));
    let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error(&answer).starts_with("the upload signature recovers to 0x"));

    // Not a signature at all.
    let mut headers = store.headers(task, &body);
    headers[2] = (SIGNATURE_HEADER, "0x1234".into());
    let (status, answer) = send(store.put_raw(&task.to_string(), body, &headers)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error(&answer).starts_with("unusable x-poco-signature: invalid signature length 2 bytes"),
        "{answer}"
    );

    assert!(store.files().is_empty());
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"worker_signature\"}")
            .await,
        3
    );
}

#[tokio::test]
async fn missing_or_malformed_headers_are_named() {
    let store = Store::start().await;
    let task = task(9);
    let body = archive(9, 10);
    let good = store.headers(task, &body);
    let missing = |name: &str| {
        format!(
            "missing header {name}: an upload needs x-poco-authorization (the scheduler's \
             authorization), x-poco-worker (the worker address) and x-poco-signature (the \
             worker's signature of the upload)"
        )
    };
    for skip in 0..3 {
        let headers: Vec<_> = good
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, h)| h.clone())
            .collect();
        let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error(&answer), missing(good[skip].0));
    }

    let mut headers = good.clone();
    headers[1] = (WORKER_HEADER, "bob".into());
    let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&answer),
        "malformed header x-poco-worker: expected the worker's 20-byte address as 0x-prefixed hex"
    );

    let mut headers = good.clone();
    headers[0] = (AUTHORIZATION_HEADER, "0xzz".into());
    let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&answer),
        "malformed header x-poco-authorization: expected a 65-byte signature as 0x-prefixed hex"
    );

    // Hex of the wrong length is a signature the chain would refuse too.
    let mut headers = good.clone();
    headers[0] = (AUTHORIZATION_HEADER, format!("0x{}", "ab".repeat(70)));
    let (status, answer) = send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error(&answer).starts_with("unusable x-poco-authorization: invalid signature length 70"),
        "{answer}"
    );

    let (status, answer) = send(store.put_raw("0x1234", body, &good)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&answer),
        "\"0x1234\" is not a task id: write the 32-byte task id as 0x followed by 64 hex digits"
    );

    assert!(store.files().is_empty());
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"bad_header\"}")
            .await,
        5
    );
}

#[tokio::test]
async fn oversize_body_is_refused_and_nothing_is_left() {
    let store = Store::with_limits(1024, 16).await;
    let task = task(10);
    let message = "the archive is larger than this store's limit of 1024 bytes: shrink the \
                   result, or ask the pool operator to raise max_upload_bytes";

    // Declared length over the limit.
    let body = archive(10, 4096);
    let (status, answer) = store.put(task, &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error(&answer), message);

    // No declared length (chunked): refused while streaming.
    let headers = store.headers(task, &body);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let mut request = store
        .http
        .put(format!("{}/results/{task}", store.url))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let (status, answer) = send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error(&answer), message);

    // Exactly at the limit is fine.
    let at_limit = archive(10, 1020);
    assert_eq!(at_limit.len(), 1024);
    assert_eq!(store.put(task, &at_limit).await.0, StatusCode::CREATED);

    assert_eq!(
        store.files(),
        vec![format!(
            "results/{task}/{}.zip",
            hex::encode(sha256_digest(&at_limit))
        )]
    );
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"too_large\"}")
            .await,
        2
    );
}

#[tokio::test]
async fn empty_body_is_refused() {
    let store = Store::start().await;
    let (status, answer) = store.put(task(11), b"").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&answer),
        "empty body: send the result archive (a zip of iexec_out) as the body"
    );
    assert!(store.files().is_empty());
}

#[tokio::test]
async fn distinct_archives_per_task_are_capped() {
    let store = Store::with_limits(1024, 2).await;
    let task = task(12);
    assert_eq!(
        store.put(task, &archive(1, 10)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        store.put(task, &archive(2, 10)).await.0,
        StatusCode::CREATED
    );
    let (status, answer) = store.put(task, &archive(3, 10)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error(&answer),
        format!(
            "task {task} already has 2 different result archives, the most this store keeps per \
             task: upload one of the stored archives again, or ask the operator to raise \
             max_objects_per_task"
        )
    );
    // A stored archive can still be uploaded again, and other tasks are not affected.
    assert_eq!(store.put(task, &archive(2, 10)).await.0, StatusCode::OK);
    assert_eq!(
        store.put(crate::harness::task(13), &archive(3, 10)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(store.files().len(), 3);
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"too_many_objects\"}")
            .await,
        1
    );
}

/// H1e / L5: one worker assigned to a task uploads junk archives to use up the task's quota,
/// so that honest workers cannot store their result. It is stopped at its own share.
#[tokio::test]
async fn h1e_one_worker_cannot_fill_a_task_quota() {
    let store = Store::with_worker_cap(2).await;
    let task = task(17);
    for seed in 0..2 {
        assert_eq!(
            store.put(task, &archive(seed, 10)).await.0,
            StatusCode::CREATED
        );
    }
    for seed in 2..16 {
        let (status, answer) = store.put(task, &archive(seed, 10)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            error(&answer).contains("max_objects_per_worker"),
            "{answer}"
        );
    }
    // Its own archives upload again; an honest worker stores its result.
    assert_eq!(store.put(task, &archive(1, 10)).await.0, StatusCode::OK);
    let honest = crate::harness::stranger();
    let body = archive(99, 10);
    let headers = Store::headers_by(&store.scheduler, &honest, task, &body);
    let (status, _) =
        crate::harness::send(store.put_raw(&task.to_string(), body.clone(), &headers)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(store.files().len(), 3);
}

/// L5: an upload is streamed to disk and refused as soon as it passes the limit, even when
/// it declares no length (chunked), and nothing is left behind.
#[tokio::test]
async fn l5_chunked_upload_over_the_limit_is_cut_off() {
    let store = Store::with_limits(1024, 16).await;
    let task = task(18);
    let body = archive(5, 4096);
    let headers = store.headers(task, &body);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(256).map(|c| Ok(c.to_vec())).collect();
    let stream = futures::stream::iter(chunks);
    let mut request = reqwest::Client::new()
        .put(format!("{}/results/{task}", store.url))
        .body(reqwest::Body::wrap_stream(stream));
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let (status, answer) = crate::harness::send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(store.files().is_empty());
}

#[tokio::test]
async fn concurrent_uploads_respect_the_cap() {
    let store = Store::with_limits(1024, 3).await;
    let task = task(14);
    let uploads = (0..32u8).map(|seed| {
        let body = archive(seed, 50);
        let request = store.put_raw(&task.to_string(), body.clone(), &store.headers(task, &body));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(uploads).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (3, 29), "{statuses:?}");
    assert_eq!(store.files().len(), 3);
}

#[tokio::test]
async fn listing_shows_the_task_archives() {
    let store = Store::start().await;
    let task = task(15);
    let (a, b) = (archive(1, 10), archive(2, 20));
    store.put(task, &a).await;
    store.put(task, &b).await;
    store.put(crate::harness::task(16), &archive(3, 30)).await;

    let (status, listing) = store.get(&format!("/results/{task}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["taskId"], task.to_string());
    let objects = listing["objects"].as_array().unwrap();
    let mut expected = vec![(sha256_digest(&a), a.len()), (sha256_digest(&b), b.len())];
    expected.sort();
    assert_eq!(objects.len(), 2);
    for (object, (sha, size)) in objects.iter().zip(expected) {
        assert_eq!(object["sha256"], sha.to_string());
        assert_eq!(object["size"], size);
        assert_eq!(
            object["location"],
            format!("{}/results/{task}/{}.zip", store.url, hex::encode(sha))
        );
        assert!(object["lastModified"].as_str().unwrap().contains('T'));
    }

    let (status, listing) = store.get(&format!("/results/{}", B256::ZERO)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listing,
        json!({ "taskId": B256::ZERO.to_string(), "objects": [] })
    );

    let (status, answer) = store.get("/results/nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&answer).starts_with("\"nope\" is not a task id"));
}

#[tokio::test]
async fn head_and_missing_archives() {
    let store = Store::start().await;
    let task = task(17);
    let body = archive(17, 777);
    store.put(task, &body).await;
    let name = format!("{}.zip", hex::encode(sha256_digest(&body)));

    let response = store
        .http
        .head(format!("{}/results/{task}/{name}", store.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "781");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/zip");
    assert!(response.bytes().await.unwrap().is_empty());

    let missing = format!("{}.zip", hex::encode(B256::repeat_byte(0xee)));
    let response = store
        .http
        .head(format!("{}/results/{task}/{missing}", store.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let (status, answer) = store.get(&format!("/results/{task}/{missing}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error(&answer),
        format!(
            "no result archive {missing} for task {task}: check the location, or list the task's \
             archives at /results/{task}"
        )
    );
    // The same archive under another task does not exist.
    let (status, _) = store
        .get(&format!("/results/{}/{name}", crate::harness::task(18)))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, answer) = store.get(&format!("/results/{task}/report.pdf")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&answer).starts_with("\"report.pdf\" is not a result archive name"));

    assert_eq!(
        store
            .metric("poco_store_downloads_total{outcome=\"not_found\"}")
            .await,
        2
    );
    assert_eq!(
        store
            .metric("poco_store_downloads_total{outcome=\"served\"}")
            .await,
        0
    );
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let store = Store::start().await;
    let (status, body) = store.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));

    let response = store
        .http
        .get(format!("{}/metrics", store.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE poco_store_uploads_rejected_total counter"));

    let task = task(19);
    let body = archive(19, 64);
    let (_, receipt) = store.put(task, &body).await;
    let location = receipt["location"].as_str().unwrap();
    store
        .http
        .get(location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    store
        .http
        .get(location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        store
            .metric("poco_store_downloads_total{outcome=\"served\"}")
            .await,
        2
    );
    assert_eq!(store.metric("poco_store_served_bytes_total").await, 2 * 68);
    assert_eq!(
        store
            .metric("poco_store_uploads_total{outcome=\"created\"}")
            .await,
        1
    );

    let (status, answer) = store.get("/ipfs/Qm").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&answer).starts_with("no such route"));
    let (status, answer) = send(store.http.delete(location)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(error(&answer).starts_with("method not allowed"));
}
