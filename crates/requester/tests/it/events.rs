//! The hub's events through `PocoClient::hub_events`, and a match found again in them with
//! `PocoClient::find_match` (what the requester does when a match's answer was lost).

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
};
use poco_chain::{bindings::hub::IPoco, devchain::DevPoco, PocoClient};
use poco_requester::RequestBuilder;
use poco_types::{
    AppOrder, Order as _, SignedAppOrder, SignedRequestOrder, SignedWorkerpoolOrder,
    WorkerpoolOrder,
};

use crate::{admin, client_of, registered_app};

/// Free orders of `app` and `pool` (owned by `owner`) and a request of `requester` for them.
fn orders(
    owner: &PocoClient,
    requester: &PocoClient,
    app: Address,
    pool: Address,
    volume: u64,
) -> eyre::Result<(SignedAppOrder, SignedWorkerpoolOrder, SignedRequestOrder)> {
    let domain = owner.domain();
    let signer = owner.signer().ok_or_else(|| eyre::eyre!("no wallet"))?;
    let app = AppOrder {
        app,
        volume: U256::from(10u64),
        salt: B256::with_last_byte(volume as u8),
        ..Default::default()
    }
    .sign(&domain, signer)?;
    let pool = WorkerpoolOrder {
        workerpool: pool,
        volume: U256::from(10u64),
        trust: U256::from(1u64),
        salt: B256::with_last_byte(volume as u8),
        ..Default::default()
    }
    .sign(&domain, signer)?;
    let request = RequestBuilder::new(&app.order, None, &pool.order, requester.sender()?)
        .volume(U256::from(volume))
        .trust(1)
        .sign(
            &domain,
            requester.signer().ok_or_else(|| eyre::eyre!("no wallet"))?,
        )?;
    Ok((app, pool, request))
}

#[tokio::test]
async fn matches_are_found_in_the_hubs_events() -> eyre::Result<()> {
    let dev = DevPoco::start().await?;
    let owner = admin(&dev).await?;
    let requester = client_of(&dev, 3).await?;
    let app = registered_app(&owner, "app", 1).await?;
    let pool = owner.create_workerpool("pool").await?;
    let other_pool = owner.create_workerpool("other pool").await?;
    let from = requester.provider().get_block_number().await?;

    let (a, p, fast_request) = orders(&owner, &requester, app, pool, 2)?;
    let (fast, _) = requester
        .match_orders_fast(&a, None, &p, &fast_request)
        .await?;
    let (a, p, classic_request) = orders(&owner, &requester, app, pool, 3)?;
    let classic = requester
        .match_orders(&a, None, &p, &classic_request)
        .await?;
    let domain = requester.domain();

    // Each request's deal is found from the block before the matches, with its tasks.
    let found = requester
        .find_match(true, pool, fast_request.order_hash(&domain), from)
        .await?
        .expect("the fast match");
    assert_eq!(
        (found.dealid, &found.tasks, found.tx_hash),
        (fast.dealid, &fast.tasks, fast.tx_hash)
    );
    assert_eq!(found.tasks.len(), 2);
    let found = requester
        .find_match(false, pool, classic_request.order_hash(&domain), from)
        .await?
        .expect("the classic match");
    assert_eq!(
        (found.dealid, &found.tasks, found.first_task, found.tx_hash),
        (
            classic.dealid,
            &classic.tasks,
            classic.first_task,
            classic.tx_hash
        )
    );
    assert_eq!(found.tasks.len(), 3);

    // Not found: another pool, a request never matched, or only blocks after the match (the
    // head holds the classic match, mined after the fast one).
    let head = requester.provider().get_block_number().await?;
    assert!(requester
        .find_match(true, other_pool, fast_request.order_hash(&domain), from)
        .await?
        .is_none());
    assert!(requester
        .find_match(false, pool, B256::repeat_byte(9), from)
        .await?
        .is_none());
    assert!(requester
        .find_match(true, pool, fast_request.order_hash(&domain), head)
        .await?
        .is_none());

    // The events come decoded, in chain order, with their logs' metadata; the filter's block
    // range and topics select them.
    let matched = requester
        .hub_events::<IPoco::OrdersMatched>(Filter::new().from_block(from))
        .await?;
    let ids: Vec<_> = matched.iter().map(|l| l.inner.data.dealid).collect();
    assert_eq!(ids, [fast.dealid, classic.dealid]);
    assert_eq!(matched[0].transaction_hash, Some(fast.tx_hash));
    assert_eq!(matched[1].transaction_hash, Some(classic.tx_hash));
    let first_block = matched[0].block_number.expect("a mined log");
    assert!(matched[1].block_number > Some(first_block));
    let only_first = requester
        .hub_events::<IPoco::OrdersMatched>(Filter::new().from_block(from).to_block(first_block))
        .await?;
    assert_eq!(only_first.len(), 1);
    assert_eq!(only_first[0].inner.data.dealid, fast.dealid);
    let notices = requester
        .hub_events::<IPoco::SchedulerNoticeFast>(Filter::new().from_block(0).topic2(fast.dealid))
        .await?;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].inner.data.workerpool, pool);
    assert!(requester
        .hub_events::<IPoco::SchedulerNoticeFast>(
            Filter::new().from_block(0).topic1(other_pool.into_word()),
        )
        .await?
        .is_empty());
    // Reads of fast deals go through the same events.
    let record = requester
        .fast_deal(fast.dealid)
        .await?
        .expect("the fast deal");
    assert_eq!(record.workerpool, pool);
    assert_eq!(record.tx_hash, Some(fast.tx_hash));
    let (of_task, idx) = requester
        .fast_deal_of_task(fast.tasks[1], None)
        .await?
        .expect("the fast deal of its second task");
    assert_eq!(
        (of_task.dealid, idx),
        (fast.dealid, fast.first_task + U256::from(1))
    );
    assert!(requester.fast_deal(classic.dealid).await?.is_none());
    Ok(())
}
