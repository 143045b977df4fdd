//! `StoreClient` against a live store.

use crate::harness::{archive, stranger, task, Store};
use alloy_primitives::{hex, Address};
use poco_store::{Error, StoreClient, STORAGE_KIND};
use poco_types::{sha256_digest, ResultLink, WorkerAuthorization};

#[tokio::test]
async fn upload_then_download_round_trip() {
    let store = Store::start().await;
    let task = task(1);
    let body = archive(1, 5000);
    let receipt = store
        .client
        .upload(
            task,
            body.clone(),
            &store.authorization(task),
            &store.worker,
        )
        .await
        .unwrap();
    let sha = sha256_digest(&body);
    assert_eq!(receipt.storage, STORAGE_KIND);
    assert_eq!(receipt.sha256, sha);
    assert_eq!(receipt.size, body.len() as u64);
    assert_eq!(
        receipt.location,
        format!("{}/results/{task}/{}.zip", store.url, hex::encode(sha))
    );
    // The on-chain link, read back as the requester would.
    let link = ResultLink::from_bytes(&receipt.result_link().to_bytes()).unwrap();
    assert_eq!(link.storage, "poco");

    let requester = StoreClient::new("http://127.0.0.1:1/unused").unwrap();
    let downloaded = requester.download(&link.location).await.unwrap();
    assert_eq!(downloaded, body);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iexec_out.zip");
    let size = requester.download_to(&link.location, &path).await.unwrap();
    assert_eq!(size, body.len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(!dir.path().join("iexec_out.zip.part").exists());

    // Idempotent through the client too.
    let again = store
        .client
        .upload(
            task,
            body.clone(),
            &store.authorization(task),
            &store.worker,
        )
        .await
        .unwrap();
    assert_eq!(again, receipt);

    let listing = store.client.list(task).await.unwrap();
    assert_eq!(listing.task_id, task);
    assert_eq!(listing.objects.len(), 1);
    assert_eq!(listing.objects[0].location, receipt.location);
}

#[tokio::test]
async fn server_refusals_become_typed_errors() {
    let store = Store::start().await;
    let task = task(2);
    let rogue = stranger();
    let authorization =
        WorkerAuthorization::sign(&rogue, store.worker.address(), task, Address::ZERO).unwrap();
    let err = store
        .client
        .upload(task, archive(2, 10), &authorization, &store.worker)
        .await
        .unwrap_err();
    match &err {
        Error::Rejected { status, message } => {
            assert_eq!(*status, 403);
            assert!(
                message.contains(&format!("was signed by {},", rogue.address())),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(err.to_string().starts_with(
        "the result store refused the request (HTTP 403): the authorization of worker"
    ));

    let missing = format!(
        "{}/results/{task}/{}.zip",
        store.url,
        hex::encode(sha256_digest(b"none"))
    );
    match store.client.download(&missing).await.unwrap_err() {
        Error::Rejected { status, message } => {
            assert_eq!(status, 404);
            assert!(message.starts_with("no result archive"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn mismatched_authorization_is_caught_before_sending() {
    let store = Store::start().await;
    let err = store
        .client
        .upload(
            task(3),
            archive(3, 10),
            &store.authorization(task(4)),
            &store.worker,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the authorization is for task {}, not {}: ask the scheduler for an authorization of \
             this worker for this task (enclave 0x0)",
            task(4),
            task(3)
        )
    );
    let other = stranger();
    let err = store
        .client
        .upload(
            task(3),
            archive(3, 10),
            &store.authorization(task(3)),
            &other,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AuthorizationMismatch { what: "worker", .. }),
        "{err}"
    );
    let enclave_bound = WorkerAuthorization::sign(
        &store.scheduler,
        store.worker.address(),
        task(3),
        Address::repeat_byte(0xe),
    )
    .unwrap();
    let err = store
        .client
        .upload(task(3), archive(3, 10), &enclave_bound, &store.worker)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AuthorizationMismatch {
                what: "enclave",
                ..
            }
        ),
        "{err}"
    );
    // Nothing reached the server.
    assert_eq!(
        store
            .metric("poco_store_uploads_rejected_total{reason=\"untrusted_scheduler\"}")
            .await,
        0
    );
    assert!(store.files().is_empty());
}

#[tokio::test]
async fn download_cap_and_digest_are_enforced() {
    let store = Store::start().await;
    let task = task(5);
    let body = archive(5, 2000);
    let receipt = store
        .client
        .upload(
            task,
            body.clone(),
            &store.authorization(task),
            &store.worker,
        )
        .await
        .unwrap();

    let capped = store.client.clone().with_max_download_bytes(1000);
    let err = capped.download(&receipt.location).await.unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    assert!(capped.download_to(&receipt.location, &path).await.is_err());
    assert!(!path.exists());

    // Bytes changed behind the store's back are caught by their name.
    std::fs::write(store.file_of(task, &body), b"tampered").unwrap();
    match store.client.download(&receipt.location).await.unwrap_err() {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, receipt.sha256);
            assert_eq!(actual, sha256_digest(b"tampered"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_store_is_retryable_and_bad_urls_are_refused() {
    // Bind then drop to get a port with nothing behind it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = StoreClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = client.list(task(6)).await.unwrap_err();
    assert!(matches!(err, Error::Http(_)), "{err:?}");
    assert!(err.is_retryable());

    let err = StoreClient::new("results.example.org").unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    let err = client.download("ftp://store/x.zip").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid result store URL \"ftp://store/x.zip\": only http and https are supported"
    );
}

#[tokio::test]
async fn base_url_with_a_path_keeps_it() {
    let client = StoreClient::new("https://example.org/pool").unwrap();
    assert_eq!(client.base_url().as_str(), "https://example.org/pool/");
}

#[tokio::test]
async fn large_refused_upload_still_gets_the_explanation() {
    // The store answers before reading the body; the client must still see the JSON error.
    let store = Store::with_limits(1024 * 1024, 16).await;
    let task = task(7);
    let err = store
        .client
        .upload(
            task,
            archive(7, 8 << 20),
            &store.authorization(task),
            &store.worker,
        )
        .await
        .unwrap_err();
    match err {
        Error::Rejected { status, message } => {
            assert_eq!(status, 413);
            assert!(message.contains("limit of 1048576 bytes"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(store.files().is_empty());
}

/// A TEE task's upload names its enclave challenge, which the scheduler's authorization covers;
/// the same authorization presented as a standard one (enclave 0x0) recovers to another signer
/// and is refused.
#[tokio::test]
async fn a_tee_upload_names_its_enclave_challenge() {
    let store = Store::start().await;
    let challenge = Address::repeat_byte(0xe);
    let authorization =
        WorkerAuthorization::sign(&store.scheduler, store.worker.address(), task(5), challenge)
            .unwrap();
    let receipt = store
        .client
        .upload_tee(task(5), archive(5, 10), &authorization, &store.worker)
        .await
        .unwrap();
    assert_eq!(receipt.sha256, sha256_digest(&archive(5, 10)));

    // Without the header, the server checks the signature over 0x0: not the scheduler's.
    let signed =
        WorkerAuthorization::sign(&store.scheduler, store.worker.address(), task(6), challenge)
            .unwrap();
    let stripped = WorkerAuthorization {
        enclave_challenge: Address::ZERO,
        ..signed
    };
    let err = store
        .client
        .upload(task(6), archive(6, 10), &stripped, &store.worker)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not trust"), "{err}");
    // A standard worker's authorization (0x0) is refused under an enclave challenge.
    let standard = store.authorization(task(7));
    let claimed = WorkerAuthorization {
        enclave_challenge: challenge,
        ..standard
    };
    let err = store
        .client
        .upload_tee(task(7), archive(7, 10), &claimed, &store.worker)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not trust"), "{err}");
}
