//! Configurations opening their backends (S3 without a live bucket: only its setup).

use crate::harness::task;
use alloy_primitives::Address;
use bytes::Bytes;
use poco_store::{Backend, Error, S3Config, StoreConfig, StoreState};

fn trusted() -> Vec<Address> {
    vec![Address::repeat_byte(1)]
}

#[tokio::test]
async fn s3_backend_is_built_from_toml_without_network() {
    let config = StoreConfig::from_toml(
        r#"
        backend = "s3"
        trusted_schedulers = ["0x0101010101010101010101010101010101010101"]
        public_url = "https://results.example.org"
        [s3]
        endpoint = "http://127.0.0.1:9000"
        bucket = "poco-results"
        region = "eu-west-1"
        access_key_id = "minio"
        secret_access_key = "minio123"
        allow_http = true
        "#,
    )
    .unwrap();
    assert_eq!(config.backend, Backend::S3);
    let objects = config.object_store().unwrap();
    assert_eq!(objects.to_string(), "AmazonS3(poco-results)");
    let state = StoreState::new(&config).unwrap();
    assert_eq!(
        state.location(task(1), task(2)),
        format!(
            "https://results.example.org/results/{}/{}.zip",
            task(1),
            alloy_primitives::hex::encode(task(2))
        )
    );
}

#[tokio::test]
async fn s3_without_bucket_is_refused() {
    let config = StoreConfig {
        backend: Backend::S3,
        s3: S3Config {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..S3Config::default()
        },
        trusted_schedulers: trusted(),
        public_url: Some("http://127.0.0.1:1".into()),
        ..StoreConfig::default()
    };
    let err = StoreState::new(&config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid store configuration: backend is \"s3\" but s3.bucket is empty: name the bucket"
    );
}

#[tokio::test]
async fn local_backend_creates_its_folder_and_memory_keeps_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/results");
    let config = StoreConfig {
        path: path.clone(),
        trusted_schedulers: trusted(),
        public_url: Some("http://store".into()),
        ..StoreConfig::default()
    };
    let state = StoreState::new(&config).unwrap();
    assert!(path.is_dir());
    state
        .store()
        .put(task(1), Bytes::from_static(b"zip"))
        .await
        .unwrap();
    assert_eq!(std::fs::read_dir(path.join("results")).unwrap().count(), 1);

    let memory = StoreConfig {
        backend: Backend::Memory,
        path: dir.path().join("unused"),
        ..config
    };
    let state = StoreState::new(&memory).unwrap();
    state
        .store()
        .put(task(1), Bytes::from_static(b"zip"))
        .await
        .unwrap();
    assert_eq!(state.store().list(task(1)).await.unwrap().len(), 1);
    assert!(!dir.path().join("unused").exists());
}

#[tokio::test]
async fn state_needs_a_public_url_and_a_trusted_scheduler() {
    let config = StoreConfig {
        backend: Backend::Memory,
        trusted_schedulers: trusted(),
        ..StoreConfig::default()
    };
    let err = StoreState::new(&config).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("public_url is not set"));

    let config = StoreConfig {
        backend: Backend::Memory,
        public_url: Some("http://store".into()),
        ..StoreConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = poco_store::serve(config, listener).await.unwrap_err();
    assert!(
        err.to_string().contains("trusted_schedulers is empty"),
        "{err}"
    );
}
