//! The market's `/metrics` in the Prometheus text format every poco service uses: the chain
//! cursor, the open orders of each type, the deals and the live sign-in challenges, read at
//! each scrape.

use poco_service::metrics::{gauge, gauge_vec};
use poco_types::OrderKind;
use prometheus::Registry;

use crate::{Result, Shared};

/// The figures of `/metrics`, as Prometheus text:
///
/// - `poco_market_last_block`, `poco_market_checkpoint_block`: the last block read;
/// - `poco_market_synced`: 1 once the watcher has caught up with the chain, else 0;
/// - `poco_market_open_orders{kind}`: open orders of each type (`apporder`, `datasetorder`,
///   `workerpoolorder`, `requestorder`);
/// - `poco_market_deals`: deals recorded;
/// - `poco_market_challenges`: live sign-in challenges.
pub(crate) async fn render(shared: &Shared) -> Result<String> {
    let counts: Vec<(OrderKind, usize)> = {
        let book = shared.book();
        OrderKind::ALL.iter().map(|k| (*k, book.len(*k))).collect()
    };
    let deals = shared.db.deal_count().await?;
    let registry = Registry::new();
    let gauge = |name: &str, help: &str, value: u64| {
        gauge(
            &registry,
            name,
            help,
            i64::try_from(value).unwrap_or(i64::MAX),
        );
    };
    let block = shared.index.block();
    gauge("poco_market_last_block", "The last block read.", block);
    gauge(
        "poco_market_checkpoint_block",
        "The block the stored book is checkpointed at.",
        block,
    );
    gauge(
        "poco_market_synced",
        "1 once the chain watcher has caught up with the chain.",
        u64::from(shared.index.synced()),
    );
    gauge("poco_market_deals", "Deals recorded.", deals);
    gauge(
        "poco_market_challenges",
        "Live sign-in challenges.",
        shared.challenges.len() as u64,
    );
    gauge_vec(
        &registry,
        "poco_market_open_orders",
        "Open orders of each type.",
        "kind",
        counts
            .into_iter()
            .map(|(kind, count)| (kind.key(), i64::try_from(count).unwrap_or(i64::MAX))),
    );
    Ok(poco_service::metrics::encode(&registry.gather()))
}
