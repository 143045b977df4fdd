//! Where a run's orders come from: a market's order book or the local order files. Each source
//! is read into [`Candidate`]s for the one [`best_offer`], with a free app order of the
//! wallet's own ([`Plan::own_app_order`]) when the wallet owns the app and nobody offers one.

use alloy::primitives::Address;
use poco_chain::PocoClient;
use poco_market_api::{
    AppOrderQuery, CommonFilters, DatasetOrderQuery, MarketClient, OrderEntry, Restriction,
    WorkerpoolOrderQuery,
};
use poco_types::AppOrder;

use crate::{best_offer, local::LocalOrders, Candidate, Offer, OfferError, OfferQuery, Plan};

/// Orders listed per query: a run needs a handful; the best come first.
const LISTED: usize = 1000;

/// The orders chosen for a run, each with the scheduler URL its source gave (the workerpool
/// order's is where its tasks are followed).
#[derive(Debug)]
pub struct Sourced {
    /// The chosen app, dataset and workerpool orders.
    pub offer: Offer<Option<String>>,
    /// The app order is the wallet's own and new: publish it before matching.
    pub publish_app: bool,
}

/// Why a source gave no offer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The market did not answer, or refused the query.
    #[error(transparent)]
    Market(#[from] poco_market_api::Error),
    /// The chain could not be read (local orders are checked against it).
    #[error(transparent)]
    Chain(#[from] poco_chain::Error),
    /// The wallet's own app order could not be made.
    #[error(transparent)]
    Requester(Box<crate::Error>),
    /// No orders fit the run.
    #[error(transparent)]
    Offer(#[from] OfferError),
}

/// The wallet's own free app order as a candidate, when the plan makes one.
fn own_app_candidate(
    client: &PocoClient,
    plan: &Plan,
) -> Result<Option<Candidate<AppOrder, Option<String>>>, SourceError> {
    let order = plan
        .own_app_order(client)
        .map_err(|e| SourceError::Requester(Box::new(e)))?;
    Ok(order.map(|order| {
        let hash = order.order_hash(&client.domain());
        let remaining = order.order.volume.saturating_to();
        Candidate::new(order, remaining, hash, None)
    }))
}

/// A market's listed orders as candidates, with the pool's scheduler URL (entries whose order
/// does not parse are left out).
fn market_candidates<O: poco_types::Order>(
    entries: Vec<OrderEntry>,
) -> Vec<Candidate<O, Option<String>>> {
    entries
        .into_iter()
        .filter_map(|e| {
            let order = e.typed::<O>().ok()?;
            Some(Candidate::new(
                order,
                e.remaining,
                e.order_hash,
                e.workerpool_api,
            ))
        })
        .collect()
}

/// The best offer for `query` on `market`: the app orders open to the wallet (or its own free
/// one), the dataset's orders open to the app and the wallet, and the workerpool orders with
/// the trust, category and volume asked.
pub async fn from_market(
    client: &PocoClient,
    market: &MarketClient,
    plan: &Plan,
    query: &OfferQuery,
) -> Result<Sourced, SourceError> {
    let (app, me) = (query.app, query.requester);
    let listed = market
        .all_orders(
            AppOrderQuery {
                app: Some(app),
                requester: Some(Restriction::To(me)),
                ..Default::default()
            },
            LISTED,
        )
        .await?;
    let mut apps = market_candidates(listed);
    let mut publish_app = false;
    if apps.is_empty() {
        if let Some(own) = own_app_candidate(client, plan)? {
            apps.push(own);
            publish_app = true;
        }
    }
    let datasets = match query.dataset {
        Some(dataset) => market_candidates(
            market
                .all_orders(
                    DatasetOrderQuery {
                        dataset: Some(dataset),
                        app: Some(Restriction::To(app)),
                        requester: Some(Restriction::To(me)),
                        ..Default::default()
                    },
                    LISTED,
                )
                .await?,
        ),
        None => Vec::new(),
    };
    let pools = WorkerpoolOrderQuery {
        workerpool: query.workerpool,
        category: query.category,
        app: Some(Restriction::To(app)),
        dataset: query.dataset.map(Restriction::To),
        requester: Some(Restriction::To(me)),
        min_trust: Some(query.trust),
        common: CommonFilters {
            min_volume: Some(query.volume),
            ..Default::default()
        },
        ..Default::default()
    };
    let pools = market_candidates(market.all_orders(pools, LISTED).await?);
    let offer = best_offer(query, &apps, &datasets, &pools)?;
    Ok(Sourced { offer, publish_app })
}

/// The best offer for `query` among the local order files, checked against the chain; the
/// wallet's own free app order takes the place of app orders with too little volume left.
pub async fn from_local(
    client: &PocoClient,
    local: &LocalOrders,
    plan: &Plan,
    query: &OfferQuery,
) -> Result<Sourced, SourceError> {
    let app: Address = query.app;
    let mut candidates = local.candidates(client, app, query.dataset).await?;
    let mut publish_app = false;
    if !candidates.apps.iter().any(|c| c.remaining >= query.volume) {
        if let Some(own) = own_app_candidate(client, plan)? {
            candidates.apps = vec![own];
            publish_app = true;
        }
    }
    let offer = best_offer(
        query,
        &candidates.apps,
        &candidates.datasets,
        &candidates.pools,
    )?;
    Ok(Sourced { offer, publish_app })
}
