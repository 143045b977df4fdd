//! The SMS's HTTP API as the iExec SDK calls it: owners read from a real chain (anvil and the
//! poco contracts), the attacks (a stranger, a wrong challenge, a replay, an oversized value)
//! refused, and the values sealed in the database.

mod common;

use alloy::primitives::{Address, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use common::Chain;
use poco_sms::{auth, SecretId, Store, Vault};
use reqwest::{Client, StatusCode};

fn sign(wallet: &PrivateKeySigner, challenge: &B256) -> String {
    let sig = wallet.sign_message_sync(challenge.as_slice()).unwrap();
    format!("0x{}", hex::encode(sig.as_bytes()))
}

struct Sms {
    url: String,
    http: Client,
}

impl Sms {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "text/plain")
            .body(body.to_owned());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    async fn post(&self, path: &str, auth: Option<&str>, body: &str) -> (StatusCode, String) {
        self.send(reqwest::Method::POST, path, auth, body).await
    }

    async fn head(&self, path: &str) -> StatusCode {
        self.send(reqwest::Method::HEAD, path, None, "").await.0
    }
}

#[tokio::test]
async fn the_sdk_routes_with_owners_on_chain_and_the_attacks() {
    let chain = Chain::start().await;
    let (owner, stranger) = (chain.owner.clone(), chain.stranger.clone());
    let (dataset, app, dev) = (chain.dataset, chain.app, &chain.dev);
    let dir = tempfile::tempdir().unwrap();
    let mut config = chain.sms_config(dir.path());
    let running = poco_sms::start(config.clone()).await.unwrap();
    let sms = Sms {
        url: running.url.clone(),
        http: Client::new(),
    };

    // dataset key: only the dataset's owner, once
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let web3 = format!("/secrets/web3?secretAddress={}", dataset.to_checksum(None));
    assert_eq!(sms.head(&web3).await, StatusCode::NOT_FOUND);
    let challenge = auth::web3_challenge(dataset, key.as_bytes());
    let (status, text) = sms
        .post(&web3, Some(&sign(&stranger, &challenge)), key)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains(&owner.address().to_string()), "{text}");
    let (status, text) = sms.post(&web3, None, key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("Authorization header is missing"), "{text}");
    // the owner's signature of another value does not authorize this one
    let other = auth::web3_challenge(dataset, b"another key");
    let (status, _) = sms.post(&web3, Some(&sign(&owner, &other)), key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = sms.post(&web3, Some(&sign(&owner, &challenge)), key).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains(key));
    assert_eq!(sms.head(&web3).await, StatusCode::OK);
    let again = auth::web3_challenge(dataset, b"new key");
    let (status, _) = sms
        .post(&web3, Some(&sign(&owner, &again)), "new key")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // an address that is no dataset
    let nowhere = Address::repeat_byte(9);
    let path = format!("/secrets/web3?secretAddress={nowhere}");
    let c = auth::web3_challenge(nowhere, b"k");
    let (status, text) = sms.post(&path, Some(&sign(&owner, &c)), "k").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("no dataset"), "{text}");

    // app developer secret: only the app's owner, once
    let path = format!("/apps/{app}/secrets");
    let c = auth::web2_challenge(app, "1", b"dev secret");
    assert_eq!(sms.head(&path).await, StatusCode::NOT_FOUND);
    let (status, _) = sms
        .post(&path, Some(&sign(&stranger, &c)), "dev secret")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = sms.post(&path, Some(&sign(&owner, &c)), "dev secret").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(sms.head(&path).await, StatusCode::OK);
    // the dataset's owner signature is not an app's
    let (status, _) = sms
        .post(
            &format!("/apps/{dataset}/secrets"),
            Some(&sign(&owner, &auth::web2_challenge(dataset, "1", b"x"))),
            "x",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // named (web2) secrets: only their owner; PUT replaces; a replayed PUT is refused
    let me = owner.address();
    let web2 =
        format!("/secrets/web2?ownerAddress={me}&secretName=iexec-result-encryption-public-key");
    let name = "iexec-result-encryption-public-key";
    let c1 = auth::web2_challenge(me, name, b"pem1");
    let (status, _) = sms.post(&web2, Some(&sign(&stranger, &c1)), "pem1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let put = |auth: String, body: &'static str| {
        let sms = &sms;
        let web2 = web2.clone();
        async move {
            sms.send(reqwest::Method::PUT, &web2, Some(&auth), body)
                .await
                .0
        }
    };
    assert_eq!(put(sign(&owner, &c1), "pem1").await, StatusCode::NOT_FOUND);
    let (status, _) = sms.post(&web2, Some(&sign(&owner, &c1)), "pem1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sms.head(&web2).await, StatusCode::OK);
    let c2 = auth::web2_challenge(me, name, b"pem2");
    let (status, _) = sms.post(&web2, Some(&sign(&owner, &c2)), "pem2").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(put(sign(&owner, &c2), "pem2").await, StatusCode::OK);
    // an attacker who saw the first request sends it again as an update: refused
    let (status, text) = sms
        .send(
            reqwest::Method::PUT,
            &web2,
            Some(&sign(&owner, &c1)),
            "pem1",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("already used"), "{text}");

    // requester secrets: the path's address only, once; same namespace as web2
    let path = format!("/requesters/{me}/secrets/api-token");
    let c = auth::web2_challenge(me, "api-token", b"requester-value-42");
    let (status, _) = sms
        .post(&path, Some(&sign(&stranger, &c)), "requester-value-42")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = sms
        .post(&path, Some(&sign(&owner, &c)), "requester-value-42")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sms.head(&path).await, StatusCode::OK);
    let c = auth::web2_challenge(me, "api-token", b"requester-value-43");
    let (status, _) = sms
        .post(&path, Some(&sign(&owner, &c)), "requester-value-43")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // malformed requests
    let (status, _) = sms
        .post("/secrets/web3?secretAddress=0x12", None, "k")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sms
        .post(&format!("/requesters/{me}/secrets/bad%20name"), None, "k")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let big = "x".repeat(poco_sms::MAX_SECRET_BYTES + 1);
    let c = auth::web2_challenge(me, "big", big.as_bytes());
    let path = format!("/requesters/{me}/secrets/big");
    let (status, _) = sms.post(&path, Some(&sign(&owner, &c)), &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = sms.post(&path, Some(&sign(&owner, &c)), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let metrics = sms
        .http
        .get(format!("{}/metrics", sms.url))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("poco_sms_secrets_stored_total 5\n"),
        "{metrics}"
    );

    // the client poco uses: same routes, same rules
    let client = poco_sms::SmsClient::new(&sms.url);
    let beneficiary = dev.keys[3].clone();
    let name = "iexec-result-encryption-public-key";
    assert!(!client
        .named_secret_exists(beneficiary.address(), name)
        .await
        .unwrap());
    let pushed = client
        .push_named_secret(&beneficiary, name, "pk1", false)
        .await;
    assert_eq!(pushed.unwrap(), poco_sms::Pushed::Created);
    let err = client
        .push_named_secret(&beneficiary, name, "pk2", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--force-update"), "{err}");
    let pushed = client
        .push_named_secret(&beneficiary, name, "pk2", true)
        .await;
    assert_eq!(pushed.unwrap(), poco_sms::Pushed::Updated);
    let err = client
        .push_dataset_secret(&stranger, dataset, "k")
        .await
        .unwrap_err();
    assert!(matches!(err, poco_sms_api::Error::Unauthorized(_)), "{err}");
    assert!(client.dataset_secret_exists(dataset).await.unwrap());
    client
        .push_requester_secret(&beneficiary, "token", "requester-value-44")
        .await
        .unwrap();
    assert!(client
        .requester_secret_exists(beneficiary.address(), "token")
        .await
        .unwrap());
    assert!(client.app_secret_exists(app).await.unwrap());

    running.shutdown().await.unwrap().unwrap();

    // at rest: the database holds no value; the right key file reads them back
    let mut bytes = Vec::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let file = file.unwrap().path();
        if file.to_string_lossy().contains("sms.db") {
            bytes.extend(std::fs::read(file).unwrap());
        }
    }
    for value in [key, "dev secret", "pem2", "requester-value-42"] {
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "{value} in clear"
        );
        assert!(!bytes
            .windows(value.len() * 2)
            .any(|w| w == hex::encode(value).as_bytes()));
    }
    let store = Store::open(
        &config.database_url,
        Vault::open_or_create(&config.key_file).unwrap(),
    )
    .await
    .unwrap();
    let value = store
        .value(&SecretId::dataset(dataset))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(value.as_slice(), key.as_bytes());
    let value = store
        .value(&SecretId::named(me, name))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(value.as_slice(), b"pem2");
    drop(store);

    // a restart with another key file is refused with the fix
    config.key_file = dir.path().join("other.key");
    let err = poco_sms::start(config).await.unwrap_err();
    assert!(err.to_string().contains("other.key"), "{err}");
    assert!(err.to_string().contains("--key-file"), "{err}");
}
