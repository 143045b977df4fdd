//! Choosing the orders of a run: the cheapest app, dataset and workerpool orders that can be
//! matched together with a request. Used by `GET /fill` and by `poco run`.

use alloy::primitives::{Address, U256};
use poco_types::{AppOrder, DatasetOrder, SignedOrder, Tag, WorkerpoolOrder};

use crate::api::OrderEntry;

/// What the requester wants.
#[derive(Clone, Debug, Default)]
pub struct OfferQuery {
    /// The app.
    pub app: Address,
    /// The dataset, if any.
    pub dataset: Option<Address>,
    /// Only this workerpool.
    pub workerpool: Option<Address>,
    /// Only this category [default: the lowest offered].
    pub category: Option<u64>,
    /// The trust asked.
    pub trust: u64,
    /// Tags the requester asks for on top of the app's and dataset's.
    pub tag: Tag,
    /// Number of tasks.
    pub volume: u64,
    /// Who will sign the request (restrictions are checked against it).
    pub requester: Address,
}

/// The chosen orders.
#[derive(Clone, Debug)]
pub struct Offer {
    /// The app order.
    pub app: (OrderEntry, SignedOrder<AppOrder>),
    /// The dataset order, when a dataset is used.
    pub dataset: Option<(OrderEntry, SignedOrder<DatasetOrder>)>,
    /// The workerpool order.
    pub workerpool: (OrderEntry, SignedOrder<WorkerpoolOrder>),
}

impl Offer {
    /// The price of one task, nRLC ([`best_offer`] never picks orders whose prices add up past
    /// 2^256 − 1; saturates there otherwise).
    pub fn price_per_task(&self) -> U256 {
        self.checked_price_per_task().unwrap_or(U256::MAX)
    }

    /// The price of one task, or `None` past 2^256 − 1 nRLC.
    fn checked_price_per_task(&self) -> Option<U256> {
        self.app
            .1
            .order
            .appprice
            .checked_add(
                self.dataset
                    .as_ref()
                    .map(|d| d.1.order.datasetprice)
                    .unwrap_or_default(),
            )?
            .checked_add(self.workerpool.1.order.workerpoolprice)
    }
}

fn allows(restrict: Address, who: Address) -> bool {
    restrict.is_zero() || restrict == who
}

fn typed<O: poco_types::Order>(entries: &[OrderEntry]) -> Vec<(OrderEntry, SignedOrder<O>)> {
    entries
        .iter()
        .filter_map(|e| e.typed::<O>().ok().map(|o| (e.clone(), o)))
        .collect()
}

/// Picks, among the listed orders, the cheapest compatible combination in the lowest
/// category: every order has `volume` tasks left, the restrictions of each allow the others
/// and the requester, the workerpool offers the trust and every tag asked. The error says what
/// is missing.
pub fn best_offer(
    query: &OfferQuery,
    apps: &[OrderEntry],
    datasets: &[OrderEntry],
    pools: &[OrderEntry],
) -> Result<Offer, String> {
    let volume = query.volume.max(1);
    let apps: Vec<_> = typed::<AppOrder>(apps)
        .into_iter()
        .filter(|(e, o)| {
            o.order.app == query.app
                && e.remaining >= volume
                && allows(o.order.requesterrestrict, query.requester)
                && allows(o.order.datasetrestrict, query.dataset.unwrap_or_default())
        })
        .collect();
    if apps.is_empty() {
        return Err(format!(
            "no app order of {} with {volume} task(s) left is open to {}; ask the app owner to \
             publish one",
            query.app, query.requester
        ));
    }
    let datasets: Vec<_> = match query.dataset {
        None => Vec::new(),
        Some(dataset) => {
            let found: Vec<_> = typed::<DatasetOrder>(datasets)
                .into_iter()
                .filter(|(e, o)| {
                    o.order.dataset == dataset
                        && e.remaining >= volume
                        && allows(o.order.requesterrestrict, query.requester)
                        && allows(o.order.apprestrict, query.app)
                })
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "no dataset order of {dataset} with {volume} task(s) left is open to {} and \
                     app {}; ask the dataset owner to publish one",
                    query.requester, query.app
                ));
            }
            found
        }
    };
    let mut best: Option<(u64, U256, Offer)> = None;
    for (entry, pool) in typed::<WorkerpoolOrder>(pools) {
        let p = &pool.order;
        let category: u64 = p.category.saturating_to();
        if entry.remaining < volume
            || p.trust < U256::from(query.trust)
            || query.category.is_some_and(|c| c != category)
            || query.workerpool.is_some_and(|w| w != p.workerpool)
            || !allows(p.apprestrict, query.app)
            || !allows(p.datasetrestrict, query.dataset.unwrap_or_default())
            || !allows(p.requesterrestrict, query.requester)
        {
            continue;
        }
        let Some(app) = apps
            .iter()
            .filter(|(_, a)| allows(a.order.workerpoolrestrict, p.workerpool))
            .min_by_key(|(_, a)| a.order.appprice)
        else {
            continue;
        };
        let dataset = if query.dataset.is_some() {
            match datasets
                .iter()
                .filter(|(_, d)| allows(d.order.workerpoolrestrict, p.workerpool))
                .min_by_key(|(_, d)| d.order.datasetprice)
            {
                Some(d) => Some(d.clone()),
                None => continue,
            }
        } else {
            None
        };
        let needed = query.tag
            | Tag(app.1.order.tag)
            | dataset
                .as_ref()
                .map(|d| Tag(d.1.order.tag))
                .unwrap_or_default();
        if !Tag(p.tag).contains(needed) {
            continue;
        }
        let offer = Offer {
            app: app.clone(),
            dataset,
            workerpool: (entry.clone(), pool.clone()),
        };
        // Prices adding up past 2^256 − 1 can never be paid: not an offer.
        let Some(price) = offer.checked_price_per_task() else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(c, p, _)| (category, price) < (*c, *p))
        {
            best = Some((category, price, offer));
        }
    }
    best.map(|(_, _, offer)| offer).ok_or_else(|| {
        format!(
            "no workerpool order{} with {volume} task(s) left offers trust {}{} to app {}{}; \
             try another category or a lower trust, or wait for a pool to publish",
            query
                .category
                .map(|c| format!(" in category {c}"))
                .unwrap_or_default(),
            query.trust,
            if query.tag.is_empty() {
                String::new()
            } else {
                format!(" and tag {}", query.tag)
            },
            query.app,
            query
                .dataset
                .map(|d| format!(" with dataset {d}"))
                .unwrap_or_default()
        )
    })
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
    use alloy::primitives::B256;
    use poco_types::Order as _;

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

    #[test]
    fn picks_cheapest_compatible_in_lowest_category() {
        let app = Address::repeat_byte(0xaa);
        let me = Address::repeat_byte(0x11);
        let apps = [
            entry(
                AppOrder {
                    app,
                    appprice: U256::from(5),
                    volume: U256::from(10),
                    requesterrestrict: Address::repeat_byte(0x22),
                    ..Default::default()
                },
                10,
            ),
            entry(
                AppOrder {
                    app,
                    appprice: U256::from(7),
                    volume: U256::from(10),
                    ..Default::default()
                },
                10,
            ),
        ];
        let pools = [
            pool(3, 1, 5, Tag::NONE),
            pool(9, 0, 5, Tag::NONE),
            pool(4, 0, 5, Tag::NONE),
            pool(1, 0, 0, Tag::NONE),
            pool(2, 0, 5, Tag::TEE),
        ];
        let query = OfferQuery {
            app,
            trust: 3,
            volume: 2,
            requester: me,
            ..Default::default()
        };
        let offer = best_offer(&query, &apps, &[], &pools).unwrap();
        // The restricted app order is skipped; trust 0 is too low; cheapest left in cat 0.
        assert_eq!(offer.app.1.order.appprice, U256::from(7));
        assert_eq!(offer.workerpool.1.order.workerpoolprice, U256::from(2));
        assert_eq!(offer.price_per_task(), U256::from(9));

        let tee = OfferQuery {
            tag: Tag::GPU,
            ..query.clone()
        };
        let err = best_offer(&tee, &apps, &[], &pools).unwrap_err();
        assert!(err.contains("no workerpool order"), "{err}");
        let too_many = OfferQuery {
            volume: 11,
            ..query.clone()
        };
        assert!(best_offer(&too_many, &apps, &[], &pools)
            .unwrap_err()
            .contains("no app order"));
        let with_dataset = OfferQuery {
            dataset: Some(Address::repeat_byte(0xdd)),
            ..query
        };
        assert!(best_offer(&with_dataset, &apps, &[], &pools)
            .unwrap_err()
            .contains("no dataset order"));
        assert_eq!(
            apps[1].typed::<AppOrder>().unwrap().order.volume(),
            U256::from(10)
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("0xabc"), "0xabc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
