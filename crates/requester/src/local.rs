//! Candidates from local order files (the iExec SDK's `orders.json` shape: chain id → signed
//! orders, plus the pool's scheduler URL as `workerpoolApi` next to a workerpool order), with
//! their remaining volume read from the chain.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use poco_chain::PocoClient;
use poco_types::{
    AppOrder, ChainOrders, DatasetOrder, Order, OrdersFile, SignedAppOrder, SignedDatasetOrder,
    SignedOrder, SignedWorkerpoolOrder, WorkerpoolOrder,
};
use serde_json::Value;

use crate::Candidate;

/// The key, next to a workerpool order in an order file, of its scheduler's URL.
pub const WORKERPOOL_API_KEY: &str = "workerpoolApi";

/// The orders of a chain in one order file (empty when unreadable).
pub fn orders_in(path: &Path, chain_id: u64) -> ChainOrders {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<OrdersFile>(&text).ok())
        .and_then(|file| file.get(&chain_id).cloned())
        .unwrap_or_default()
}

/// The orders of local order files, with the scheduler URL of each workerpool order.
#[derive(Clone, Debug, Default)]
pub struct LocalOrders {
    /// The app orders.
    pub apps: Vec<SignedAppOrder>,
    /// The dataset orders.
    pub datasets: Vec<SignedDatasetOrder>,
    /// The workerpool orders and their scheduler URL, when the file gives it.
    pub pools: Vec<(SignedWorkerpoolOrder, Option<String>)>,
}

impl LocalOrders {
    /// The orders of `chain_id` in these files, in order (unreadable files are skipped).
    pub fn read(paths: &[PathBuf], chain_id: u64) -> Self {
        let mut all = Self::default();
        for path in paths {
            let orders = orders_in(path, chain_id);
            let api = orders
                .other
                .get(WORKERPOOL_API_KEY)
                .and_then(Value::as_str)
                .map(str::to_string);
            all.apps.extend(orders.apporder);
            all.datasets.extend(orders.datasetorder);
            if let Some(pool) = orders.workerpoolorder {
                all.pools.push((pool, api));
            }
        }
        all
    }

    /// The candidates for a run of `app` (on `dataset`): the app and dataset orders of those
    /// assets and every workerpool order (its scheduler URL as `meta`), each with the volume
    /// the chain says it has left.
    pub async fn candidates(
        &self,
        client: &PocoClient,
        app: Address,
        dataset: Option<Address>,
    ) -> Result<LocalCandidates, poco_chain::Error> {
        let mut out = LocalCandidates::default();
        for order in self.apps.iter().filter(|o| o.order.app == app) {
            out.apps.push(candidate(client, order, None).await?);
        }
        for order in self
            .datasets
            .iter()
            .filter(|o| Some(o.order.dataset) == dataset)
        {
            out.datasets.push(candidate(client, order, None).await?);
        }
        for (order, api) in &self.pools {
            out.pools.push(candidate(client, order, api.clone()).await?);
        }
        Ok(out)
    }
}

/// Candidates from local order files; `meta` is the scheduler URL of a workerpool order.
#[derive(Clone, Debug, Default)]
pub struct LocalCandidates {
    /// The app orders.
    pub apps: Vec<Candidate<AppOrder, Option<String>>>,
    /// The dataset orders.
    pub datasets: Vec<Candidate<DatasetOrder, Option<String>>>,
    /// The workerpool orders.
    pub pools: Vec<Candidate<WorkerpoolOrder, Option<String>>>,
}

async fn candidate<O: Order>(
    client: &PocoClient,
    order: &SignedOrder<O>,
    meta: Option<String>,
) -> Result<Candidate<O, Option<String>>, poco_chain::Error> {
    let left = remaining(client, order).await?;
    Ok(Candidate::new(
        order.clone(),
        left.saturating_to(),
        order.order_hash(&client.domain()),
        meta,
    ))
}

/// The volume of a signed order that the chain has not matched yet.
pub async fn remaining<O: Order>(
    client: &PocoClient,
    order: &SignedOrder<O>,
) -> Result<U256, poco_chain::Error> {
    let consumed = client.consumed(order.order_hash(&client.domain())).await?;
    Ok(order.order.volume().saturating_sub(consumed))
}
