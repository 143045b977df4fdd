//! `PocoClient` against a real anvil: the requester's whole flow, decoded reverts, nonces under
//! concurrency, log watching with confirmations, and connection failures.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, B256, U256},
    providers::{ext::AnvilApi, Provider},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use poco_chain::{
    bindings::hub::IPoco::{self, IPocoErrors},
    devchain::DevPoco,
    AppSpec, ClientConfig, Error, LogWatcher, PocoClient,
};
use poco_types::{AppOrder, DatasetOrder, Order as _, RequestOrder, WorkerpoolOrder, NRLC_PER_RLC};

pub(crate) const RLC: u64 = NRLC_PER_RLC;

/// A new wallet with 10 ETH and `rlc` RLC in its wallet, and a client sending from it.
pub(crate) async fn funded_client(dev: &DevPoco, rlc: u64) -> eyre::Result<PocoClient> {
    let signer = PrivateKeySigner::random();
    let admin = PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(dev.keys[0].clone()),
    )
    .await?;
    let eth = TransactionRequest::default()
        .with_to(signer.address())
        .with_value(U256::from(10u128 * 10u128.pow(18)));
    admin.send(eth, "ether transfer").await?;
    let token = admin.token();
    let call = token.transfer(signer.address(), U256::from(rlc * RLC));
    admin
        .send(call.into_transaction_request(), "RLC transfer")
        .await?;
    Ok(PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(signer),
    )
    .await?)
}

pub(crate) fn app_spec() -> AppSpec {
    AppSpec {
        name: "hello".into(),
        kind: "WASM".into(),
        multiaddr: "file:///apps/hello.wasm".into(),
        checksum: B256::repeat_byte(7),
        mrenclave: Bytes::new(),
    }
}

#[tokio::test]
async fn requester_flow_from_deposit_to_claim_and_withdraw() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let requester = funded_client(&dev, 100).await?;
    let app_owner = funded_client(&dev, 0).await?;
    let dataset_owner = funded_client(&dev, 0).await?;
    let scheduler = funded_client(&dev, 100).await?;
    let domain = requester.domain();
    assert_eq!(
        domain.separator(),
        requester.hub().eip712domain_separator().call().await?
    );

    requester.deposit(U256::from(40 * RLC)).await?;
    scheduler.deposit(U256::from(10 * RLC)).await?;
    let me = requester.sender()?;
    assert_eq!(
        requester.account(me).await?,
        (U256::from(40 * RLC), U256::ZERO)
    );
    assert_eq!(requester.wallet_rlc(me).await?, U256::from(60 * RLC));

    let app = app_owner.create_app(&app_spec()).await?;
    let dataset = dataset_owner
        .create_dataset("data", "https://example.org/data.txt", B256::repeat_byte(8))
        .await?;
    let pool = scheduler.create_workerpool("pool").await?;
    let view = requester.hub().viewApp(app).call().await?;
    assert_eq!(view.owner, app_owner.sender()?);

    let app_order = AppOrder {
        app,
        appprice: U256::from(RLC),
        volume: U256::from(10u64),
        salt: B256::repeat_byte(1),
        ..Default::default()
    }
    .sign(&domain, &PrivateKeySigner::random())?;
    // Signed by a stranger: refused with the rule in words, before anything is sent.
    let pool_order = WorkerpoolOrder {
        workerpool: pool,
        workerpoolprice: U256::from(2 * RLC),
        volume: U256::from(10u64),
        salt: B256::repeat_byte(2),
        ..Default::default()
    };
    let dataset_order = DatasetOrder {
        dataset,
        datasetprice: U256::from(RLC / 2),
        volume: U256::from(10u64),
        salt: B256::repeat_byte(3),
        ..Default::default()
    };
    let request = RequestOrder {
        app,
        appmaxprice: U256::from(RLC),
        dataset,
        datasetmaxprice: U256::from(RLC / 2),
        workerpoolmaxprice: U256::from(2 * RLC),
        requester: me,
        volume: U256::from(3u64),
        beneficiary: me,
        params: r#"{"iexec_args":"hello"}"#.into(),
        salt: B256::repeat_byte(4),
        ..Default::default()
    };
    let keys = |c: &PocoClient| {
        dev.keys
            .iter()
            .find(|k| Some(k.address()) == c.sender().ok())
            .cloned()
    };
    assert!(keys(&requester).is_none(), "fresh wallets are not anvil's");
    let (pool_signed, dataset_signed, request_signed) = (
        pool_order.sign_with_client(&scheduler)?,
        dataset_order.sign_with_client(&dataset_owner)?,
        request.sign_with_client(&requester)?,
    );
    let err = requester
        .match_orders(
            &app_order,
            Some(&dataset_signed),
            &pool_signed,
            &request_signed,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.revert().and_then(|r| r.as_poco()),
            Some(IPocoErrors::InvalidAppOrderSignature(_))
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "matchOrders refused: the app order is not signed by the app owner {}",
            app_owner.sender()?
        )
    );

    let app_signed = AppOrder {
        ..app_order.order.clone()
    }
    .sign_with_client(&app_owner)?;
    let deal = requester
        .match_orders(
            &app_signed,
            Some(&dataset_signed),
            &pool_signed,
            &request_signed,
        )
        .await?;
    assert_eq!(deal.volume, U256::from(3u64));
    assert_eq!(deal.tasks.len(), 3);
    assert_eq!(deal.tasks[0], poco_types::task_id(deal.dealid, U256::ZERO));
    let on_chain = requester.deal(deal.dealid).await?;
    assert_eq!(on_chain.requester, me);
    assert_eq!(on_chain.params, r#"{"iexec_args":"hello"}"#);
    let cost = U256::from(3 * (RLC + RLC / 2 + 2 * RLC));
    assert_eq!(
        requester.account(me).await?,
        (U256::from(40 * RLC) - cost, cost)
    );

    let tasks = requester.deal_tasks(deal.dealid, &on_chain).await?;
    assert!(tasks.iter().all(|t| t.status == "UNSET"));
    let err = requester.claim_deal(deal.dealid).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NothingToClaim {
                next_deadline: Some(_),
                ..
            }
        ),
        "{err}"
    );

    // Past the final deadline (10 × XS's 300 s), every task can be claimed.
    let deadline: u64 = tasks[0].final_deadline.to();
    let now = requester.now().await?;
    dev.provider.anvil_increase_time(deadline - now + 1).await?;
    dev.provider.evm_mine(None).await?;
    let claimed = requester.claim_deal(deal.dealid).await?;
    assert_eq!(claimed, deal.tasks);
    let tasks = requester.deal_tasks(deal.dealid, &on_chain).await?;
    assert!(tasks.iter().all(|t| t.status == "FAILED"), "{tasks:?}");
    assert_eq!(
        requester.account(me).await?,
        (U256::from(40 * RLC), U256::ZERO)
    );
    let err = requester.claim_deal(deal.dealid).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NothingToClaim {
                next_deadline: None,
                ..
            }
        ),
        "{err}"
    );

    requester.withdraw(U256::from(40 * RLC)).await?;
    assert_eq!(requester.account(me).await?, (U256::ZERO, U256::ZERO));
    assert_eq!(requester.wallet_rlc(me).await?, U256::from(100 * RLC));
    Ok(())
}

/// Signing with the key behind a client (the tests keep the signers inside the clients).
pub(crate) trait SignWithClient: poco_types::Order + Sized {
    fn sign_with_client(self, client: &PocoClient) -> eyre::Result<poco_types::SignedOrder<Self>>;
}

impl<O: poco_types::Order> SignWithClient for O {
    fn sign_with_client(self, client: &PocoClient) -> eyre::Result<poco_types::SignedOrder<Self>> {
        let signer = client
            .signer()
            .ok_or_else(|| eyre::eyre!("client without a signer"))?;
        Ok(self.sign(&client.domain(), signer)?)
    }
}

#[tokio::test]
async fn reverts_are_decoded_and_nothing_is_sent() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let client = funded_client(&dev, 5).await?;
    let me = client.sender()?;
    client.deposit(U256::from(2 * RLC)).await?;
    let nonce = client.provider().get_transaction_count(me).await?;
    let err = client.withdraw(U256::from(3 * RLC)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "withdraw refused: account {me} has 2 RLC free in its poco account but 3 RLC is needed"
        )
    );
    assert!(matches!(
        err.revert().and_then(|r| r.as_poco()),
        Some(IPocoErrors::InsufficientFreeBalance(e)) if e.free == U256::from(2 * RLC)
    ));
    let err = client.deposit(U256::from(10 * RLC)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "deposit refused: the RLC transfer of 10 RLC from {me} to {} failed (check the \
             wallet's RLC balance and allowance)",
            dev.deployment.hub
        )
    );
    assert_eq!(client.provider().get_transaction_count(me).await?, nonce);
    Ok(())
}

#[tokio::test]
async fn concurrent_sends_get_distinct_nonces() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let client = funded_client(&dev, 10).await?;
    let sends = (0..6).map(|_| client.deposit(U256::from(RLC)));
    let receipts = futures::future::try_join_all(sends).await?;
    assert_eq!(receipts.len(), 6);
    let me = client.sender()?;
    assert_eq!(client.account(me).await?.0, U256::from(6 * RLC));
    // A transaction sent around the client from the same account does not confuse it.
    let signer = client.signer().cloned().expect("signer");
    let other = PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        Some(signer),
    )
    .await?;
    other.deposit(U256::from(RLC)).await?;
    client.deposit(U256::from(RLC)).await?;
    assert_eq!(client.account(me).await?.0, U256::from(8 * RLC));
    Ok(())
}

#[tokio::test]
async fn watcher_returns_logs_once_confirmed() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let client = funded_client(&dev, 10).await?;
    let start = client.provider().get_block_number().await? + 1;
    let filter = Filter::new()
        .address(dev.deployment.hub)
        .event_signature(IPoco::Transfer::SIGNATURE_HASH);
    let mut watcher = LogWatcher::new(client.provider().clone(), filter, start, 2)
        .poll_interval(Duration::from_millis(50));
    client.deposit(U256::from(RLC)).await?;
    let deposit_block = client.provider().get_block_number().await?;
    let mut seen = Vec::new();
    while let Some(batch) = watcher.poll().await? {
        assert!(batch.to_block + 2 <= deposit_block);
        seen.extend(batch.logs);
    }
    assert!(seen.is_empty(), "a log was returned before 2 confirmations");
    dev.provider.anvil_mine(Some(2), None).await?;
    let batch = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await??;
    assert_eq!(batch.to_block, deposit_block);
    let transfers: Vec<_> = batch
        .logs
        .iter()
        .map(|l| IPoco::Transfer::decode_log(&l.inner).map(|e| e.data))
        .collect::<Result<_, _>>()?;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].from, Address::ZERO);
    assert_eq!(transfers[0].to, client.sender()?);
    assert_eq!(watcher.cursor(), deposit_block + 1);
    assert!(watcher.poll().await?.is_none(), "nothing new is confirmed");
    Ok(())
}

#[tokio::test]
async fn connection_failures_say_what_is_wrong() -> eyre::Result<()> {
    let mut config = ClientConfig::new("http://127.0.0.1:1", Address::repeat_byte(1));
    config.max_retries = 1;
    let err = PocoClient::connect(config, None).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "cannot reach the JSON-RPC endpoint http://127.0.0.1:1 (no connection after 1 retries)"
    );
    let dev = DevPoco::start().await?;
    let err = PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), Address::repeat_byte(1)),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotAContract(_)), "{err}");
    let reader = PocoClient::connect(
        ClientConfig::new(dev.anvil.endpoint(), dev.deployment.hub),
        None,
    )
    .await?;
    assert!(matches!(
        reader.withdraw(U256::from(1u64)).await,
        Err(Error::NoWallet)
    ));
    Ok(())
}

#[tokio::test]
async fn asset_reads_name_an_unknown_asset() -> eyre::Result<()> {
    use poco_chain::AssetKind;
    let dev = DevPoco::start().await?;
    let client = funded_client(&dev, 1).await?;
    let app = client.create_app(&app_spec()).await?;
    let view = client.view_app(app).await?;
    assert_eq!(view.owner, client.sender()?);
    assert_eq!(view.name, "hello");
    assert_eq!(view.checksum, B256::repeat_byte(7));
    assert!(client.is_registered(AssetKind::App, app).await?);
    assert!(!client.is_registered(AssetKind::Dataset, app).await?);
    let nobody = Address::repeat_byte(0xaa);
    let err = client.view_app(nobody).await.unwrap_err();
    assert!(matches!(
        err,
        Error::UnknownAsset { kind: AssetKind::App, address, chain_id: 31337 } if address == nobody
    ));
    assert_eq!(
        err.to_string(),
        format!("there is no app at {nobody} on chain 31337")
    );
    let err = client.view_dataset(app).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("there is no dataset at {app} on chain 31337")
    );
    let err = client.view_workerpool(nobody).await.unwrap_err();
    assert!(
        err.to_string().starts_with("there is no workerpool at"),
        "{err}"
    );
    Ok(())
}
