//! The official iExec SDK (iexec 9.0.1, pinned in the root package.json; `npm ci` installs it)
//! against a running poco SMS on a real chain: tests/sdk/sms.mjs calls the SDK's secret,
//! result-key and storage functions (those of `iexec dataset|app|requester push-secret`,
//! `iexec result push-encryption-key`, `iexec storage init` and their checks), and encrypts a
//! dataset in the SDK's format, which poco decrypts here.

mod common;

use std::{path::PathBuf, process::Command};

use common::Chain;
use poco_sms::{dataset, SecretId, Store, Vault};
use serde_json::Value;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn the_official_sdk_pushes_and_checks_secrets_on_a_poco_sms() {
    let root = repository();
    assert!(
        root.join("node_modules/iexec/package.json").is_file(),
        "the iExec SDK is not installed: run `npm ci` at the repository root"
    );
    let chain = Chain::start().await;
    let (owner, stranger) = (chain.owner.clone(), chain.stranger.clone());
    let (dataset_address, app, dev) = (chain.dataset, chain.app, &chain.dev);
    let dir = tempfile::tempdir().unwrap();
    let config = chain.sms_config(dir.path());
    let running = poco_sms::start(config.clone()).await.unwrap();

    let key_hex =
        |k: &alloy_signer_local::PrivateKeySigner| format!("0x{}", hex::encode(k.to_bytes()));
    let url = running.url.clone();
    let script = root.join("tests/sdk/sms.mjs");
    let out_dir = dir.path().to_path_buf();
    let (rpc, hub) = (dev.anvil.endpoint(), dev.deployment.hub.to_string());
    let (owner_key, stranger_key) = (key_hex(&owner), key_hex(&stranger));
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .current_dir(&root)
            .env("POCO_RPC", rpc)
            .env("POCO_HUB", hub)
            .env("POCO_SMS", url)
            .env("OWNER_KEY", owner_key)
            .env("STRANGER_KEY", stranger_key)
            .env("DATASET", dataset_address.to_string())
            .env("APP", app.to_string())
            .env("OUT_DIR", out_dir)
            .output()
            .expect("node is installed")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK script failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let o: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let s = |k: &str| o[k].as_str().unwrap_or_default().to_owned();

    assert_eq!(o["datasetBefore"], false);
    assert!(
        s("datasetStranger").contains("is not allowed to set secret"),
        "{o}"
    );
    assert_eq!(o["datasetOwner"], true);
    assert_eq!(o["datasetAfter"], true);
    assert!(s("datasetAgain").contains("already exists"), "{o}");
    assert!(
        s("appStranger").contains("is not allowed to set secret"),
        "{o}"
    );
    assert_eq!(o["appOwner"], true);
    assert_eq!(o["appAfter"], true);
    assert_eq!(o["requesterBefore"], false);
    assert_eq!(o["requesterPush"]["isPushed"], true);
    assert_eq!(o["requesterAfter"], true);
    assert_eq!(o["resultBefore"], false);
    assert_eq!(o["resultPush"]["isPushed"], true);
    assert_eq!(o["resultAfter"], true);
    assert!(s("resultAgain").contains("already exists"), "{o}");
    assert_eq!(o["resultUpdate"]["isUpdated"], true);
    assert_eq!(o["resultRotate"]["isUpdated"], true);
    assert!(s("resultRevert").contains("401"), "{o}");
    assert_eq!(o["storageBefore"], false);
    assert_eq!(o["storagePush"]["isPushed"], true);
    assert_eq!(o["storageAfter"], true);

    // the SDK's encrypted dataset opens with poco, and its checksum is poco's
    let encrypted = std::fs::read(dir.path().join("sdk.enc")).unwrap();
    let key_text = std::fs::read_to_string(dir.path().join("sdk.key")).unwrap();
    let key = dataset::DatasetKey::from_base64(&key_text).unwrap();
    let plain = std::fs::read(dir.path().join("sdk.plain")).unwrap();
    assert_eq!(
        dataset::decrypt(&encrypted, &key).unwrap().as_slice(),
        plain
    );
    assert_eq!(
        s("checksum"),
        format!("0x{}", hex::encode(dataset::checksum(&encrypted)))
    );

    running.shutdown().await.unwrap().unwrap();
    // what the SDK pushed is what the store holds, under the SDK's names
    let store = Store::open(
        &config.database_url,
        Vault::open_or_create(&config.key_file).unwrap(),
    )
    .await
    .unwrap();
    let held = store
        .value(&SecretId::dataset(dataset_address))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.as_slice(), key_text.as_bytes());
    let storage = SecretId::named(owner.address(), "iexec-result-dropbox-token");
    assert_eq!(
        store.value(&storage).await.unwrap().unwrap().as_slice(),
        b"dropbox token"
    );
}
