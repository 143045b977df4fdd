//! TEE tasks end to end with the development attestation provider: an SMS in this process
//! (started with its insecure development flag), a scheduler that asks it for each TEE task's
//! enclave challenge, one TEE (dev) worker and one standard worker.
//!
//! An encrypted dataset (iExec's format) whose key its owner pushed to the SMS, sold at a
//! price per task; a TEE-tagged fast deal that asks for an encrypted result: the task completes
//! on the TEE worker only, the result in the store is ciphertext that the beneficiary's key
//! opens to what the same app computes on the plaintext (a standard deal run beside it), with
//! `tee.json` saying the run was not confidential; the dataset owner is paid. A TEE task on a
//! pool whose only worker is standard stays unassigned. A replicated TEE deal (trust 3, result
//! in the clear) reaches consensus among three TEE workers.
//!
//! `cargo test -p poco-worker --test e2e tee -- --nocapture` prints the gas and the
//! match-to-result latency of the TEE task against the standard one.

use std::{
    io::Read,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use poco_chain::MatchedDeal;
use poco_sms::{dataset, result_crypto, SmsClient};
use poco_testkit::Role;
use poco_types::{
    AppOrder, DatasetOrder, Order as _, RequestOrder, SignedAppOrder, SignedDatasetOrder,
    SignedRequestOrder, SignedWorkerpoolOrder, Tag, WorkerpoolOrder,
};

use crate::{Pool, RLC};

/// What the dataset holds: words the app (wordcount) counts.
const PLAINTEXT: &[u8] = b"the quokka weights are secret\nquokka quokka model\n";

/// The dataset's price per task.
const DATASET_PRICE: u64 = 3 * RLC;

/// An SMS of the pool's chain, accepting the development attestation provider.
async fn start_sms(pool: &Pool) -> eyre::Result<poco_sms::Running> {
    let mut config = poco_sms::SmsConfig::new(pool.chain.endpoint(), pool.chain.hub());
    config.database_url = "sqlite::memory:".into();
    config.key_file = pool.dir.path().join("sms.key");
    config.listen = "127.0.0.1:0".parse()?;
    config.policy.allow_dev = true;
    Ok(poco_sms::start(config).await?)
}

/// Restarts the pool's scheduler with the SMS.
async fn with_sms(pool: &mut Pool, sms_url: &str) -> eyre::Result<()> {
    pool.stop_scheduler().await;
    let mut config = pool.scheduler_config(None);
    config.sms_url = Some(sms_url.to_owned());
    let scheduler = pool.chain.start_scheduler(config).await?;
    pool.scheduler_url = scheduler.url.clone();
    pool.scheduler = Some(scheduler);
    Ok(())
}

/// A registered dataset of [`Role::DatasetOwner`] at `file`, checksummed as is.
async fn dataset_at(pool: &Pool, name: &str, file: &std::path::Path) -> eyre::Result<Address> {
    let bytes = std::fs::read(file)?;
    Ok(pool
        .chain
        .create_dataset(
            Role::DatasetOwner,
            name,
            &format!("file://{}", file.display()),
            poco_types::sha256_digest(&bytes),
        )
        .await?)
}

/// [`PLAINTEXT`] encrypted, registered by [`Role::DatasetOwner`], its key pushed to the SMS.
async fn encrypted_dataset(pool: &Pool, sms_url: &str) -> eyre::Result<Address> {
    let key = dataset::DatasetKey::generate();
    let file = pool.dir.path().join("data.enc");
    std::fs::write(&file, dataset::encrypt(PLAINTEXT, &key))?;
    let dataset = dataset_at(pool, "data", &file).await?;
    SmsClient::new(sms_url)
        .push_dataset_secret(
            pool.chain.key(Role::DatasetOwner),
            dataset,
            &key.to_base64(),
        )
        .await?;
    Ok(dataset)
}

/// The signed orders of a deal of `app` on `dataset` at `trust`, tagged `tag`, with `params`.
fn orders(
    pool: &mut Pool,
    app: Address,
    dataset: Address,
    tag: Tag,
    params: &str,
    trust: u64,
) -> eyre::Result<(
    SignedAppOrder,
    SignedDatasetOrder,
    SignedWorkerpoolOrder,
    SignedRequestOrder,
)> {
    let domain = pool.requester.domain();
    let app_order = AppOrder {
        app,
        appprice: U256::from(RLC),
        volume: U256::from(100u64),
        // The hub wants a TEE deal's app order to ask for TEE too.
        tag: (tag & Tag::TEE).0,
        salt: pool.next_salt(),
        ..Default::default()
    }
    .sign(&domain, pool.chain.key(Role::AppOwner))?;
    let dataset_order = DatasetOrder {
        dataset,
        datasetprice: U256::from(DATASET_PRICE),
        volume: U256::from(100u64),
        salt: pool.next_salt(),
        ..Default::default()
    }
    .sign(&domain, pool.chain.key(Role::DatasetOwner))?;
    let pool_order = WorkerpoolOrder {
        workerpool: pool.pool,
        workerpoolprice: U256::from(2 * RLC),
        volume: U256::from(100u64),
        trust: U256::from(trust),
        tag: (Tag::TEE | Tag::TDX).0,
        salt: pool.next_salt(),
        ..Default::default()
    }
    .sign(&domain, pool.chain.key(Role::Scheduler))?;
    let request = RequestOrder {
        app,
        appmaxprice: U256::from(RLC),
        dataset,
        datasetmaxprice: U256::from(DATASET_PRICE),
        workerpool: pool.pool,
        workerpoolmaxprice: U256::from(2 * RLC),
        requester: pool.chain.address(Role::Requester),
        beneficiary: pool.chain.address(Role::Requester),
        volume: U256::from(1u64),
        trust: U256::from(trust),
        tag: tag.0,
        params: params.into(),
        salt: pool.next_salt(),
        ..Default::default()
    }
    .sign(&domain, pool.chain.key(Role::Requester))?;
    Ok((app_order, dataset_order, pool_order, request))
}

/// Waits until the deal's task is final, with the replicates' failures in the error.
async fn wait_final(
    pool: &Pool,
    deal: &MatchedDeal,
) -> eyre::Result<Vec<poco_scheduler::api::TaskInfo>> {
    match pool.wait_final(deal, Duration::from_secs(60)).await {
        Ok(infos) => Ok(infos),
        Err(e) => {
            let client = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
            client.login(pool.chain.key(Role::Requester)).await?;
            let logs = client.task_logs(deal.tasks[0]).await;
            Err(e.wrap_err(format!("the task's logs: {logs:#?}")))
        }
    }
}

/// Matches on the fast path; returns the deal and when the match was mined.
async fn fast_match(
    pool: &mut Pool,
    app: Address,
    dataset: Address,
    tag: Tag,
    params: &str,
) -> eyre::Result<(MatchedDeal, Instant)> {
    let (a, d, w, r) = orders(pool, app, dataset, tag, params, 1)?;
    let (deal, _) = pool
        .requester
        .match_orders_fast(&a, Some(&d), &w, &r)
        .await?;
    Ok((deal, Instant::now()))
}

/// The gas of the transaction that pushed task 0 of a fast deal.
async fn push_gas(pool: &Pool, deal: &MatchedDeal) -> eyre::Result<u64> {
    use alloy::{rpc::types::Filter, sol_types::SolEvent};
    use poco_chain::bindings::hub::IPoco;
    let filter = Filter::new()
        .address(pool.chain.hub())
        .event_signature(IPoco::ResultPushedFast::SIGNATURE_HASH)
        .topic1(deal.dealid)
        .from_block(0);
    let log = pool
        .chain
        .provider()
        .get_logs(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| eyre::eyre!("deal {} has no pushed result", deal.dealid))?;
    let tx = log
        .transaction_hash
        .ok_or_else(|| eyre::eyre!("a log without its transaction"))?;
    let receipt = pool
        .chain
        .provider()
        .get_transaction_receipt(tx)
        .await?
        .ok_or_else(|| eyre::eyre!("no receipt of {tx}"))?;
    Ok(receipt.gas_used)
}

/// The bytes of task 0's result in the pool's store, downloaded as the requester, and the
/// digest on chain.
async fn stored_result(pool: &Pool, deal: &MatchedDeal) -> eyre::Result<(Vec<u8>, B256)> {
    let info = pool
        .wait_task(deal.tasks[0], "result link", |i| i.results.is_some())
        .await?;
    let link = poco_types::ResultLink::from_bytes(info.results.unwrap_or_default().as_bytes())?;
    let scheduler = poco_scheduler::SchedulerClient::new(&pool.scheduler_url)?;
    scheduler.login(pool.chain.key(Role::Requester)).await?;
    let token = scheduler.token().await.unwrap_or_default();
    let bytes = poco_store::StoreClient::new(&pool.scheduler_url)?
        .with_bearer_token(token)
        .download(&link.location)
        .await?;
    Ok((bytes.to_vec(), pool.onchain_digest(deal, 0).await?))
}

/// Entry `name` of a zip.
fn entry(zip: &[u8], name: &str) -> eyre::Result<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    let mut out = Vec::new();
    archive.by_name(name)?.read_to_end(&mut out)?;
    Ok(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_tee_deal_decrypts_the_dataset_in_the_enclave_and_encrypts_the_result() -> eyre::Result<()>
{
    let mut pool = Pool::start().await?;
    let sms = start_sms(&pool).await?;
    with_sms(&mut pool, &sms.url).await?;
    let tee_worker = pool.worker_address(0);
    let standard_worker = pool.worker_address(1);
    pool.start_worker_configured(0, |c| {
        c.tee = Some(std::sync::Arc::new(poco_attest::DevProvider));
    });
    pool.start_worker(1);
    let app = pool.app("apps/wordcount/wordcount.wasm").await?;
    let client = SmsClient::new(&sms.url);

    // The owner encrypts the dataset, registers the encrypted file and pushes its key.
    let key = dataset::DatasetKey::generate();
    let encrypted_file = pool.dir.path().join("model.enc");
    std::fs::write(&encrypted_file, dataset::encrypt(PLAINTEXT, &key))?;
    let secret_dataset = dataset_at(&pool, "secret model", &encrypted_file).await?;
    client
        .push_dataset_secret(
            pool.chain.key(Role::DatasetOwner),
            secret_dataset,
            &key.to_base64(),
        )
        .await?;
    // The same words in the clear, for the standard deal that gives the expected output.
    let plain_file = pool.dir.path().join("model.txt");
    std::fs::write(&plain_file, PLAINTEXT)?;
    let plain_dataset = dataset_at(&pool, "public model", &plain_file).await?;

    // The beneficiary's result key, as `poco result push-encryption-key` pushes it.
    let keys = result_crypto::generate_keypair()?;
    use base64::Engine;
    client
        .push_named_secret(
            pool.chain.key(Role::Requester),
            poco_sms::RESULT_KEY_NAME,
            &base64::engine::general_purpose::STANDARD.encode(&keys.public_pem),
            false,
        )
        .await?;
    let owner = pool.chain.address(Role::DatasetOwner);
    let (owner_before, _) = pool.balance(owner).await?;

    // The standard deal first: its result is what the TEE task must compute.
    let (plain_deal, _) = fast_match(&mut pool, app, plain_dataset, Tag::NONE, "").await?;
    wait_final(&pool, &plain_deal).await?;
    let (plain_bytes, _) = stored_result(&pool, &plain_deal).await?;
    let expected = entry(&plain_bytes, "result.txt")?;
    assert!(
        entry(&plain_bytes, "tee.json").is_err(),
        "a standard result has no tee.json"
    );
    assert!(
        contains(&expected, b"quokka"),
        "{}",
        String::from_utf8_lossy(&expected)
    );

    let (deal, _) = fast_match(
        &mut pool,
        app,
        secret_dataset,
        Tag::TEE | Tag::TDX,
        r#"{"iexec_result_encryption":true}"#,
    )
    .await?;
    let infos = wait_final(&pool, &deal).await?;
    assert_eq!(infos[0].status.as_str(), "COMPLETED", "{infos:#?}");
    // Only the TEE worker was given the task.
    assert!(
        infos[0].replicas.iter().all(|r| r.worker == tee_worker),
        "{infos:#?}"
    );
    assert!(!infos[0]
        .replicas
        .iter()
        .any(|r| r.worker == standard_worker));

    // The store holds ciphertext, certified by its sha256 on chain.
    let (bytes, digest) = stored_result(&pool, &deal).await?;
    assert_eq!(poco_types::sha256_digest(&bytes), digest);
    assert!(
        !contains(&bytes, b"quokka"),
        "the stored result reads as plaintext"
    );
    assert!(!contains(&bytes, &expected));
    let opened = result_crypto::decrypt_result(&bytes, &keys.private_pem)?;
    assert_eq!(entry(&opened, "result.txt")?, expected);
    let tee: serde_json::Value = serde_json::from_slice(&entry(&opened, "tee.json")?)?;
    assert_eq!(tee["confidential"], false, "{tee}");
    assert_eq!(tee["platform"], "dev", "{tee}");
    // Another key does not open it.
    let stranger = result_crypto::generate_keypair()?;
    assert!(result_crypto::decrypt_result(&bytes, &stranger.private_pem).is_err());

    // The dataset owner was paid for both deals; its URL serves only ciphertext.
    let (owner_after, _) = pool.balance(owner).await?;
    assert_eq!(owner_after - owner_before, U256::from(2 * DATASET_PRICE));
    let served = std::fs::read(&encrypted_file)?;
    assert!(!contains(&served, b"quokka"));
    assert_eq!(dataset::decrypt(&served, &key)?.as_slice(), PLAINTEXT);

    // The figures: one more task of each kind, now that both workers have compiled the app.
    let mut figures = Vec::new();
    for (what, dataset, tag, params) in [
        ("standard task", plain_dataset, Tag::NONE, ""),
        (
            "TEE task (dev provider, encrypted dataset and result)",
            secret_dataset,
            Tag::TEE | Tag::TDX,
            r#"{"iexec_result_encryption":true}"#,
        ),
    ] {
        let (deal, matched) = fast_match(&mut pool, app, dataset, tag, params).await?;
        let infos = wait_final(&pool, &deal).await?;
        let latency = matched.elapsed();
        assert_eq!(infos[0].status.as_str(), "COMPLETED", "{infos:#?}");
        figures.push((what, deal.gas_used, push_gas(&pool, &deal).await?, latency));
    }
    for (what, match_gas, push_gas, latency) in figures {
        println!(
            "{what}: matchOrdersFast {match_gas} gas, pushResultFast {push_gas} gas, match to \
             result {:.2} s",
            latency.as_secs_f64()
        );
    }
    Ok(())
}

/// A replicated TEE deal (trust 3, the result in the clear): each enclave gets the dataset's
/// key, computes the same result, and signs its contribution with the task's challenge key;
/// the votes agree and the task completes on the TEE workers alone, paying the dataset owner.
#[tokio::test]
async fn a_replicated_tee_deal_reaches_consensus_among_enclaves() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let sms = start_sms(&pool).await?;
    with_sms(&mut pool, &sms.url).await?;
    let enclaves: Vec<Address> = (0..3).map(|n| pool.worker_address(n)).collect();
    for n in 0..3 {
        pool.start_worker_configured(n, |c| {
            c.tee = Some(std::sync::Arc::new(poco_attest::DevProvider));
        });
    }
    pool.start_worker(3);
    let app = pool.app("apps/wordcount/wordcount.wasm").await?;
    let dataset = encrypted_dataset(&pool, &sms.url).await?;
    let owner = pool.chain.address(Role::DatasetOwner);
    let (owner_before, _) = pool.balance(owner).await?;

    let (a, d, w, r) = orders(&mut pool, app, dataset, Tag::TEE | Tag::TDX, "", 3)?;
    let deal = pool.requester.match_orders(&a, Some(&d), &w, &r).await?;
    let infos = wait_final(&pool, &deal).await?;
    assert_eq!(infos[0].status.as_str(), "COMPLETED", "{infos:#?}");
    let voters: Vec<Address> = infos[0].replicas.iter().map(|r| r.worker).collect();
    assert!(voters.len() >= 2, "{infos:#?}");
    assert!(voters.iter().all(|w| enclaves.contains(w)), "{infos:#?}");

    // The consensus result is the wordcount of the plaintext, with the enclaves' tee.json.
    let (bytes, digest) = stored_result(&pool, &deal).await?;
    assert_eq!(poco_types::sha256_digest(&bytes), digest);
    assert!(contains(&entry(&bytes, "result.txt")?, b"quokka"));
    let tee: serde_json::Value = serde_json::from_slice(&entry(&bytes, "tee.json")?)?;
    assert_eq!(tee["platform"], "dev", "{tee}");
    let (owner_after, _) = pool.balance(owner).await?;
    assert_eq!(owner_after - owner_before, U256::from(DATASET_PRICE));
    Ok(())
}

#[tokio::test]
async fn a_tee_task_waits_when_the_pool_has_no_tee_worker() -> eyre::Result<()> {
    let mut pool = Pool::start().await?;
    let sms = start_sms(&pool).await?;
    with_sms(&mut pool, &sms.url).await?;
    pool.start_worker(1);
    let app = pool.app("apps/wordcount/wordcount.wasm").await?;
    let dataset = encrypted_dataset(&pool, &sms.url).await?;
    let (deal, _) = fast_match(&mut pool, app, dataset, Tag::TEE | Tag::TDX, "").await?;
    let taskid = deal.tasks[0];
    pool.wait_task(taskid, "the task at the scheduler", |_| true)
        .await?;
    // The standard worker asks for work all along (2 s polls): it is never given the task.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let info = pool.wait_task(taskid, "the task", |_| true).await?;
    assert!(info.replicas.is_empty(), "{info:#?}");
    assert_ne!(info.status.as_str(), "COMPLETED");
    Ok(())
}
