//! The checks before money moves: each refusal names the problem and sends nothing; once they
//! pass, deploying a module file's app is the first transaction, made once.

use alloy::primitives::{Address, B256, U256};
use poco_chain::{devchain::DevPoco, AssetKind, PocoClient};
use poco_requester::{check_input_files, AppInput, AppToRun, Error, Plan, PlanError, Prepared};
use poco_types::{
    AppOrder, DatasetOrder, Order as _, SignedAppOrder, SignedDatasetOrder, SignedWorkerpoolOrder,
    WorkerpoolOrder,
};

use crate::{admin, client_of, deposit, nonce, registered_app, RLC};

const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps/hello/hello.wasm");

fn plan_error(result: poco_requester::Result<impl std::fmt::Debug>) -> PlanError {
    match result {
        Err(Error::Plan(e)) => *e,
        other => panic!("expected a refusal before anything is sent, got {other:?}"),
    }
}

/// Why preparing `plan` (a copy: the plan is kept) with these orders is refused.
async fn refused(
    plan: &Plan,
    client: &PocoClient,
    app: SignedAppOrder,
    dataset: Option<SignedDatasetOrder>,
    pool: SignedWorkerpoolOrder,
    volume: u64,
) -> PlanError {
    plan_error(
        plan.clone()
            .prepare(client, app, dataset, pool, volume)
            .await,
    )
}

#[test]
fn the_app_argument_is_an_address_or_a_runnable_module() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let address = "0x00000000000000000000000000000000000000aa";
    assert!(matches!(
        AppInput::read(address)?,
        AppInput::Address(a) if a == address.parse::<Address>()?
    ));
    let missing = dir.path().join("missing.wasm");
    let e = plan_error(AppInput::read(&missing.display().to_string()));
    assert!(matches!(e, PlanError::NotAnApp(_)), "{e}");
    assert!(e.to_string().contains("neither an app address"), "{e}");

    let library = dir.path().join("library.wasm");
    std::fs::write(
        &library,
        wat::parse_str("(module (func (export \"main\")))")?,
    )?;
    let e = plan_error(AppInput::read(&library.display().to_string()));
    assert!(matches!(e, PlanError::BadModule { .. }), "{e}");
    assert!(e.to_string().contains("no `_start` function export"), "{e}");

    let corrupt = dir.path().join("corrupt.wasm");
    std::fs::write(&corrupt, b"\0asm\x01\0\0\0this is not a module")?;
    let e = plan_error(AppInput::read(&corrupt.display().to_string()));
    assert!(
        e.to_string()
            .contains("not a runnable WASI preview 1 command module"),
        "{e}"
    );

    match AppInput::read(HELLO)? {
        AppInput::Module { bytes, .. } => assert_eq!(bytes, std::fs::read(HELLO)?),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn input_files_are_urls_a_worker_can_download() {
    let urls = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    let digest = format!("https://example.org/a#sha256={}", B256::repeat_byte(1));
    let good = urls(&[
        "https://example.org/data.csv",
        "http://host:8080/x",
        &digest,
    ]);
    for devnet in [None, Some(true), Some(false)] {
        check_input_files(&good, devnet).unwrap();
    }
    let e = plan_error(check_input_files(&urls(&["data.csv"]), None));
    assert!(
        matches!(e, PlanError::NotAnInputUrl(ref u) if u == "data.csv"),
        "{e}"
    );
    let e = plan_error(check_input_files(
        &urls(&["https://example.org/a#sha256=12"]),
        Some(true),
    ));
    assert!(matches!(e, PlanError::BadInputDigest(_)), "{e}");
    // Another scheme is refused: workers download over http(s).
    let e = plan_error(check_input_files(&urls(&["ftp://example.org/x"]), None));
    assert!(matches!(e, PlanError::NotAnInputUrl(_)), "{e}");
    // file:// is for a devnet's development workers: accepted until the chain is known.
    let local = urls(&["file:///tmp/data.csv"]);
    check_input_files(&local, None).unwrap();
    check_input_files(&local, Some(true)).unwrap();
    let e = plan_error(check_input_files(&local, Some(false)));
    assert!(matches!(e, PlanError::LocalInputFile(_)), "{e}");
}

/// An app order of `app` at `price` nRLC, signed by `owner`.
fn app_order(client: &PocoClient, app: Address, price: u64) -> eyre::Result<SignedAppOrder> {
    Ok(AppOrder {
        app,
        appprice: U256::from(price),
        volume: U256::from(100u64),
        ..Default::default()
    }
    .sign(
        &client.domain(),
        client.signer().ok_or_else(|| eyre::eyre!("no wallet"))?,
    )?)
}

/// A workerpool order of `pool` at `price` nRLC, signed by its owner.
fn pool_order(
    owner: &PocoClient,
    pool: Address,
    price: u64,
) -> eyre::Result<SignedWorkerpoolOrder> {
    Ok(WorkerpoolOrder {
        workerpool: pool,
        workerpoolprice: U256::from(price),
        volume: U256::from(100u64),
        trust: U256::from(1u64),
        ..Default::default()
    }
    .sign(
        &owner.domain(),
        owner.signer().ok_or_else(|| eyre::eyre!("no wallet"))?,
    )?)
}

#[tokio::test]
async fn refusals_before_money_moves_send_nothing() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let owner = admin(&dev).await?;
    let requester = client_of(&dev, 3).await?;
    let pool = owner.create_workerpool("pool").await?;
    let app = registered_app(&owner, "registered", 3).await?;
    let sent = nonce(&requester).await?;

    // Unknown assets: the chain's error names the kind and the address.
    let unknown: Address = "0x00000000000000000000000000000000000000aa".parse()?;
    for (app_input, dataset, workerpool, kind) in [
        (AppInput::Address(unknown), None, None, AssetKind::App),
        (
            AppInput::Address(app),
            Some(unknown),
            None,
            AssetKind::Dataset,
        ),
        (
            AppInput::Address(app),
            None,
            Some(unknown),
            AssetKind::Workerpool,
        ),
    ] {
        match Plan::new(&requester, app_input, dataset, workerpool, &[]).await {
            Err(Error::Chain(poco_chain::Error::UnknownAsset {
                kind: k, address, ..
            })) => assert_eq!((k, address), (kind, unknown)),
            other => panic!("expected an unknown {kind}, got {other:?}"),
        }
    }
    // A file:// input passes on a devnet (its development workers read it).
    let plan = Plan::new(
        &requester,
        AppInput::Address(app),
        None,
        Some(pool),
        &["file:///tmp/in.csv".to_string()],
    )
    .await?;
    assert!(matches!(plan.app, AppToRun::Registered { owner: o, .. } if o == owner.sender()?));
    // Somebody else's app: the requester cannot make its own app order.
    assert!(plan.own_app_order(&requester)?.is_none());

    // The orders must be those of the assets planned.
    let other_app = registered_app(&owner, "other", 4).await?;
    let e = refused(
        &plan,
        &requester,
        app_order(&owner, other_app, 1)?,
        None,
        pool_order(&owner, pool, 1)?,
        1,
    )
    .await;
    assert!(
        matches!(e, PlanError::OrderMismatch { kind: AssetKind::App, expected, got }
            if expected == app && got == other_app),
        "{e}"
    );
    let other_pool = owner.create_workerpool("other pool").await?;
    let e = refused(
        &plan,
        &requester,
        app_order(&owner, app, 1)?,
        None,
        pool_order(&owner, other_pool, 1)?,
        1,
    )
    .await;
    assert!(
        matches!(
            e,
            PlanError::OrderMismatch {
                kind: AssetKind::Workerpool,
                ..
            }
        ),
        "{e}"
    );
    let dataset_order = DatasetOrder {
        dataset: unknown,
        volume: U256::from(1u64),
        ..Default::default()
    }
    .sign(&owner.domain(), &dev.keys[0])?;
    let e = refused(
        &plan,
        &requester,
        app_order(&owner, app, 1)?,
        Some(dataset_order),
        pool_order(&owner, pool, 1)?,
        1,
    )
    .await;
    assert!(
        matches!(e, PlanError::DatasetOrderMismatch { chosen: true }),
        "{e}"
    );

    // Nothing deposited: the run's price and the missing amount are named, with the fix.
    let e = refused(
        &plan,
        &requester,
        app_order(&owner, app, 3 * RLC)?,
        None,
        pool_order(&owner, pool, 2 * RLC)?,
        4,
    )
    .await;
    match &e {
        PlanError::Deposit {
            price,
            volume,
            cost,
            account,
            free,
        } => {
            assert_eq!(*price, U256::from(5 * RLC));
            assert_eq!(*volume, U256::from(4u64));
            assert_eq!(*cost, U256::from(20 * RLC));
            assert_eq!(*account, requester.sender()?);
            assert_eq!(*free, U256::ZERO);
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string().contains("deposit at least 20 RLC more")
            && e.to_string().contains("poco account deposit"),
        "{e}"
    );
    assert_eq!(
        nonce(&requester).await?,
        sent,
        "a refusal sent a transaction"
    );

    // With the deposit, the run is prepared (still nothing sent by the plan).
    deposit(&dev, &requester, U256::from(20 * RLC)).await?;
    let sent = nonce(&requester).await?;
    let prepared = plan
        .prepare(
            &requester,
            app_order(&owner, app, 3 * RLC)?,
            None,
            pool_order(&owner, pool, 2 * RLC)?,
            4,
        )
        .await?;
    assert_eq!(prepared.cost, U256::from(20 * RLC));
    // A registered app: nothing to deploy.
    assert_eq!(prepared.deploy(&requester).await?, None);
    assert_eq!(nonce(&requester).await?, sent);
    Ok(())
}

#[tokio::test]
async fn a_module_file_is_deployed_once_and_only_after_every_check() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let owner = admin(&dev).await?;
    let requester = client_of(&dev, 3).await?;
    let pool = owner.create_workerpool("pool").await?;
    let dir = tempfile::tempdir()?;
    let module = dir.path().join("hello.wasm");
    std::fs::copy(HELLO, &module)?;
    let arg = module.display().to_string();
    let sent = nonce(&requester).await?;

    let plan = Plan::new(&requester, AppInput::read(&arg)?, None, None, &[]).await?;
    let AppToRun::File {
        address,
        ref spec,
        deployed: false,
        ..
    } = plan.app
    else {
        panic!("expected a module file to deploy, got {:?}", plan.app);
    };
    assert_eq!(spec.name, "hello");
    assert_eq!(
        spec.checksum,
        poco_types::sha256_digest(&std::fs::read(HELLO)?)
    );
    assert!(!requester.is_registered(AssetKind::App, address).await?);
    // The wallet will own the app: it makes its own free app order.
    let own = plan
        .own_app_order(&requester)?
        .expect("an app order of the wallet's own app");
    assert_eq!(own.order.app, address);
    assert_eq!(own.order.appprice, U256::ZERO);

    // The deposit refuses the run: nothing deployed, nothing sent.
    let e = refused(
        &plan,
        &requester,
        own.clone(),
        None,
        pool_order(&owner, pool, RLC)?,
        1,
    )
    .await;
    assert!(matches!(e, PlanError::Deposit { .. }), "{e}");
    assert_eq!(nonce(&requester).await?, sent);
    assert!(!requester.is_registered(AssetKind::App, address).await?);

    deposit(&dev, &requester, U256::from(RLC)).await?;
    let prepared: Prepared = plan
        .prepare(&requester, own, None, pool_order(&owner, pool, RLC)?, 1)
        .await?;
    assert_eq!(prepared.deploy(&requester).await?, Some(address));
    assert!(requester.is_registered(AssetKind::App, address).await?);
    assert_eq!(
        requester.view_app(address).await?.owner,
        requester.sender()?
    );

    // Planned again, the module file's app is found registered and not deployed twice.
    let again = Plan::new(&requester, AppInput::read(&arg)?, None, None, &[]).await?;
    assert!(matches!(again.app, AppToRun::File { address: a, deployed: true, .. } if a == address));
    assert!(again.app.to_deploy().is_none());
    Ok(())
}

/// A TEE run's needs at the SMS are checked before paying: a requester secret the run names
/// and the beneficiary's result key must be there; each refusal names the push command, and
/// nothing is sent.
#[tokio::test]
async fn a_tee_run_missing_a_secret_or_its_result_key_is_refused_before_paying() -> eyre::Result<()>
{
    let dev = DevPoco::start().await?;
    let requester = client_of(&dev, 3).await?;
    let wallet = dev.keys[3].clone();
    let me = requester.sender()?;
    let dir = tempfile::tempdir()?;
    let mut config = poco_sms::SmsConfig::new(dev.anvil.endpoint(), dev.deployment.hub);
    config.database_url = "sqlite::memory:".into();
    config.key_file = dir.path().join("sms.key");
    config.listen = "127.0.0.1:0".parse()?;
    let running = poco_sms::start(config).await?;
    let sms = poco_sms::SmsClient::new(&running.url);
    let sent = nonce(&requester).await?;

    let secrets: std::collections::BTreeMap<String, String> =
        [("1".to_owned(), "api-key".to_owned())].into();
    let e = plan_error(poco_requester::check_sms(&sms, me, me, &secrets, false).await);
    assert!(
        matches!(&e, PlanError::MissingSecret { index, name, .. } if index == "1" && name == "api-key"),
        "{e}"
    );
    assert!(
        e.to_string().contains("poco requester push-secret api-key"),
        "{e}"
    );
    let bad: std::collections::BTreeMap<String, String> =
        [("0".to_owned(), "api-key".to_owned())].into();
    let e = plan_error(poco_requester::check_sms(&sms, me, me, &bad, false).await);
    assert!(matches!(e, PlanError::BadSecretIndex(_)), "{e}");

    sms.push_requester_secret(&wallet, "api-key", "s3cret")
        .await?;
    poco_requester::check_sms(&sms, me, me, &secrets, false).await?;
    let e = plan_error(poco_requester::check_sms(&sms, me, me, &secrets, true).await);
    assert!(
        matches!(e, PlanError::NoResultKey { beneficiary, .. } if beneficiary == me),
        "{e}"
    );
    assert!(
        e.to_string().contains("poco result push-encryption-key"),
        "{e}"
    );
    // Another beneficiary's key is not the one the run needs.
    let other = dev.keys[4].clone();
    sms.push_named_secret(&other, poco_sms::RESULT_KEY_NAME, "a2V5", false)
        .await?;
    assert!(poco_requester::check_sms(&sms, me, me, &secrets, true)
        .await
        .is_err());
    sms.push_named_secret(&wallet, poco_sms::RESULT_KEY_NAME, "a2V5", false)
        .await?;
    poco_requester::check_sms(&sms, me, me, &secrets, true).await?;
    assert_eq!(nonce(&requester).await?, sent, "nothing was sent");

    // An SMS that does not answer is said so.
    let away = poco_sms::SmsClient::new("http://127.0.0.1:9");
    let e = plan_error(poco_requester::check_sms(&away, me, me, &secrets, false).await);
    assert!(matches!(e, PlanError::Sms(_)), "{e}");
    Ok(())
}
