//! Choosing the orders of a run for `GET /fill`: the market's listing entries as candidates of
//! the requester library's one best-offer function (`poco run` calls the same function).

use poco_requester::Candidate;
use poco_types::{AppOrder, DatasetOrder, Order};

use crate::api::OrderEntry;

pub use poco_requester::OfferQuery;

/// The chosen orders, each with its listing entry.
pub type Offer = poco_requester::Offer<OrderEntry>;

/// The listed orders of one kind as candidates of [`poco_requester::best_offer`] (entries
/// whose order does not parse are left out).
fn candidates<O: Order>(entries: &[OrderEntry]) -> Vec<Candidate<O, OrderEntry>> {
    entries
        .iter()
        .filter_map(|e| {
            let order = e.typed::<O>().ok()?;
            Some(Candidate::new(order, e.remaining, e.order_hash, e.clone()))
        })
        .collect()
}

/// Picks, among the listed orders, the cheapest compatible combination in the lowest
/// category ([`poco_requester::best_offer`] over the listing entries). The error says what is
/// missing.
pub fn best_offer(
    query: &OfferQuery,
    apps: &[OrderEntry],
    datasets: &[OrderEntry],
    pools: &[OrderEntry],
) -> Result<Offer, String> {
    poco_requester::best_offer(
        query,
        &candidates::<AppOrder>(apps),
        &candidates::<DatasetOrder>(datasets),
        &candidates(pools),
    )
    .map_err(|e| e.to_string())
}

/// Quotes a word for a POSIX shell.
pub(crate) fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{iso8601, Status};
    use alloy::primitives::{Address, B256, U256};
    use poco_types::{SignedOrder, Tag, WorkerpoolOrder};

    fn entry<O: poco_types::Order>(order: O, remaining: u64) -> OrderEntry {
        OrderEntry {
            order_hash: B256::ZERO,
            chain_id: 1,
            order: serde_json::to_value(SignedOrder {
                order,
                sign: Default::default(),
            })
            .unwrap(),
            remaining,
            status: Status::Open,
            signer: Address::ZERO,
            publication_timestamp: iso8601(0),
            workerpool_api: None,
            workerpool_admission: None,
        }
    }

    fn pool(price: u64, category: u64, trust: u64, tag: Tag) -> OrderEntry {
        entry(
            WorkerpoolOrder {
                workerpool: Address::repeat_byte(price as u8),
                workerpoolprice: U256::from(price),
                volume: U256::from(10),
                category: U256::from(category),
                trust: U256::from(trust),
                tag: tag.0,
                ..Default::default()
            },
            10,
        )
    }

    /// The listing entries go through the requester library's function (tested there): the
    /// chosen entries come back whole, unparseable ones are left out, errors are its messages.
    #[test]
    fn chooses_among_listing_entries() {
        let app = Address::repeat_byte(0xaa);
        let me = Address::repeat_byte(0x11);
        let app_order = |price: u64| AppOrder {
            app,
            appprice: U256::from(price),
            volume: U256::from(10),
            ..Default::default()
        };
        let mut broken = entry(app_order(1), 10);
        broken.order = serde_json::json!({"order": "not an order"});
        let apps = [broken, entry(app_order(7), 10)];
        let pools = [pool(4, 0, 5, Tag::NONE), pool(2, 0, 5, Tag::NONE)];
        let query = OfferQuery {
            app,
            trust: 3,
            volume: 2,
            requester: me,
            ..Default::default()
        };
        let offer = best_offer(&query, &apps, &[], &pools).unwrap();
        assert_eq!(offer.app.meta.order, apps[1].order);
        assert_eq!(offer.workerpool.meta.order, pools[1].order);
        assert_eq!(offer.price_per_task(), U256::from(9));
        let err = best_offer(
            &OfferQuery {
                volume: 11,
                ..query
            },
            &apps,
            &[],
            &pools,
        )
        .unwrap_err();
        assert!(err.starts_with("no app order of"), "{err}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("0xabc"), "0xabc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
