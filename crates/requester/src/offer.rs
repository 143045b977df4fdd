//! Choosing the orders of a run: the cheapest app, dataset and workerpool orders that can be
//! matched together with a request. `poco run` (orders from the market or from local order
//! files) and the market's `GET /fill` call the same function.

use alloy::primitives::{Address, B256, U256};
use poco_types::{AppOrder, DatasetOrder, Order, SignedOrder, Tag, WorkerpoolOrder};

use crate::OfferError;

/// An order that may be chosen: the signed order, the volume it has left, its hash, and what
/// its source attaches to it (`meta`: the market's listing entry, the pool's scheduler URL).
#[derive(Clone, Debug)]
pub struct Candidate<O, T = ()> {
    /// The signed order.
    pub order: SignedOrder<O>,
    /// Volume not matched yet.
    pub remaining: u64,
    /// The EIP-712 order hash.
    pub hash: B256,
    /// What the source knows about the order.
    pub meta: T,
}

impl<O: Order, T> Candidate<O, T> {
    /// A candidate with what its source attaches.
    pub fn new(order: SignedOrder<O>, remaining: u64, hash: B256, meta: T) -> Self {
        Self {
            order,
            remaining,
            hash,
            meta,
        }
    }
}

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
pub struct Offer<T = ()> {
    /// The app order.
    pub app: Candidate<AppOrder, T>,
    /// The dataset order, when a dataset is used.
    pub dataset: Option<Candidate<DatasetOrder, T>>,
    /// The workerpool order.
    pub workerpool: Candidate<WorkerpoolOrder, T>,
}

impl<T> Offer<T> {
    /// The price of one task, nRLC ([`best_offer`] never picks orders whose prices add up past
    /// 2^256 − 1; saturates there otherwise).
    pub fn price_per_task(&self) -> U256 {
        self.checked_price_per_task().unwrap_or(U256::MAX)
    }

    /// The price of one task, or `None` past 2^256 − 1 nRLC.
    fn checked_price_per_task(&self) -> Option<U256> {
        self.app
            .order
            .order
            .appprice
            .checked_add(
                self.dataset
                    .as_ref()
                    .map(|d| d.order.order.datasetprice)
                    .unwrap_or_default(),
            )?
            .checked_add(self.workerpool.order.order.workerpoolprice)
    }
}

fn allows(restrict: Address, who: Address) -> bool {
    restrict.is_zero() || restrict == who
}

/// Picks, among the candidates, the cheapest compatible combination in the lowest category:
/// every order has `volume` tasks left, the restrictions of each allow the others and the
/// requester, the workerpool offers the trust and every tag asked. Among equal offers, the
/// first candidates win. The error says what is missing.
pub fn best_offer<T: Clone>(
    query: &OfferQuery,
    apps: &[Candidate<AppOrder, T>],
    datasets: &[Candidate<DatasetOrder, T>],
    pools: &[Candidate<WorkerpoolOrder, T>],
) -> Result<Offer<T>, OfferError> {
    let volume = query.volume.max(1);
    let apps: Vec<_> = apps
        .iter()
        .filter(|c| {
            let o = &c.order.order;
            o.app == query.app
                && c.remaining >= volume
                && allows(o.requesterrestrict, query.requester)
                && allows(o.datasetrestrict, query.dataset.unwrap_or_default())
        })
        .collect();
    if apps.is_empty() {
        return Err(OfferError::NoAppOrder {
            app: query.app,
            volume,
            requester: query.requester,
        });
    }
    let datasets: Vec<_> = match query.dataset {
        None => Vec::new(),
        Some(dataset) => {
            let found: Vec<_> = datasets
                .iter()
                .filter(|c| {
                    let o = &c.order.order;
                    o.dataset == dataset
                        && c.remaining >= volume
                        && allows(o.requesterrestrict, query.requester)
                        && allows(o.apprestrict, query.app)
                })
                .collect();
            if found.is_empty() {
                return Err(OfferError::NoDatasetOrder {
                    dataset,
                    app: query.app,
                    volume,
                    requester: query.requester,
                });
            }
            found
        }
    };
    let mut best: Option<(u64, U256, Offer<T>)> = None;
    for pool in pools {
        let p = &pool.order.order;
        let category: u64 = p.category.saturating_to();
        if pool.remaining < volume
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
            .filter(|a| allows(a.order.order.workerpoolrestrict, p.workerpool))
            .min_by_key(|a| a.order.order.appprice)
        else {
            continue;
        };
        let dataset = if query.dataset.is_some() {
            match datasets
                .iter()
                .filter(|d| allows(d.order.order.workerpoolrestrict, p.workerpool))
                .min_by_key(|d| d.order.order.datasetprice)
            {
                Some(d) => Some((*d).clone()),
                None => continue,
            }
        } else {
            None
        };
        let needed = query.tag
            | Tag(app.order.order.tag)
            | dataset
                .as_ref()
                .map(|d| Tag(d.order.order.tag))
                .unwrap_or_default();
        if !Tag(p.tag).contains(needed) {
            continue;
        }
        let offer = Offer {
            app: (*app).clone(),
            dataset,
            workerpool: pool.clone(),
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
    best.map(|(_, _, offer)| offer)
        .ok_or(OfferError::NoWorkerpoolOrder {
            category: query.category,
            trust: query.trust,
            tag: query.tag,
            volume,
            app: query.app,
            dataset: query.dataset,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate<O: Order>(order: O, remaining: u64) -> Candidate<O> {
        Candidate::new(
            SignedOrder {
                order,
                sign: Default::default(),
            },
            remaining,
            B256::ZERO,
            (),
        )
    }

    fn pool(price: u64, category: u64, trust: u64, tag: Tag) -> Candidate<WorkerpoolOrder> {
        candidate(
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

    fn app_order(app: Address, price: u64, requesterrestrict: Address) -> Candidate<AppOrder> {
        candidate(
            AppOrder {
                app,
                appprice: U256::from(price),
                volume: U256::from(10),
                requesterrestrict,
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
            app_order(app, 5, Address::repeat_byte(0x22)),
            app_order(app, 7, Address::ZERO),
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
        assert_eq!(offer.app.order.order.appprice, U256::from(7));
        assert_eq!(offer.workerpool.order.order.workerpoolprice, U256::from(2));
        assert_eq!(offer.price_per_task(), U256::from(9));

        let gpu = OfferQuery {
            tag: Tag::GPU,
            ..query.clone()
        };
        let err = best_offer(&gpu, &apps, &[], &pools).unwrap_err();
        assert!(matches!(err, OfferError::NoWorkerpoolOrder { .. }), "{err}");
        assert!(err.to_string().contains("no workerpool order"), "{err}");
        assert!(err.to_string().contains(" and tag gpu"), "{err}");
        let too_many = OfferQuery {
            volume: 11,
            ..query.clone()
        };
        assert!(best_offer(&too_many, &apps, &[], &pools)
            .unwrap_err()
            .to_string()
            .contains("no app order"));
        let with_dataset = OfferQuery {
            dataset: Some(Address::repeat_byte(0xdd)),
            ..query
        };
        assert!(best_offer(&with_dataset, &apps, &[], &pools)
            .unwrap_err()
            .to_string()
            .contains("no dataset order"));
    }

    #[test]
    fn lowest_category_first_then_price_and_restrictions() {
        let app = Address::repeat_byte(0xaa);
        let me = Address::repeat_byte(0x11);
        let query = OfferQuery {
            app,
            trust: 1,
            volume: 1,
            requester: me,
            ..Default::default()
        };
        // A cheaper pool in a higher category loses to a dearer one in category 0.
        let pools = [pool(1, 2, 1, Tag::NONE), pool(8, 0, 1, Tag::NONE)];
        let apps = [app_order(app, 0, Address::ZERO)];
        let offer = best_offer(&query, &apps, &[], &pools).unwrap();
        assert_eq!(offer.workerpool.order.order.workerpoolprice, U256::from(8));
        // Asking for category 2 picks it.
        let in_two = OfferQuery {
            category: Some(2),
            ..query.clone()
        };
        let offer = best_offer(&in_two, &apps, &[], &pools).unwrap();
        assert_eq!(offer.workerpool.order.order.workerpoolprice, U256::from(1));
        // An app order restricted to another pool is not combined with this one.
        let mut restricted = app_order(app, 0, Address::ZERO);
        restricted.order.order.workerpoolrestrict = Address::repeat_byte(1);
        let offer = best_offer(&query, &[restricted], &[], &pools).unwrap();
        assert_eq!(offer.workerpool.order.order.workerpoolprice, U256::from(1));
        // Prices adding up past 2^256 − 1 are never an offer.
        let mut dear = pool(1, 0, 1, Tag::NONE);
        dear.order.order.workerpoolprice = U256::MAX;
        let expensive = [app_order(app, 1, Address::ZERO)];
        let err = best_offer(&query, &expensive, &[], &[dear]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no workerpool order with 1 task(s) left offers trust 1 to app {app}; try \
                 another category or a lower trust, or wait for a pool to publish"
            )
        );
    }

    #[test]
    fn dataset_orders_are_chosen_and_restricted() {
        let app = Address::repeat_byte(0xaa);
        let dataset = Address::repeat_byte(0xdd);
        let me = Address::repeat_byte(0x11);
        let data = |price: u64, apprestrict: Address| {
            candidate(
                DatasetOrder {
                    dataset,
                    datasetprice: U256::from(price),
                    volume: U256::from(10),
                    apprestrict,
                    ..Default::default()
                },
                10,
            )
        };
        let query = OfferQuery {
            app,
            dataset: Some(dataset),
            trust: 1,
            volume: 1,
            requester: me,
            ..Default::default()
        };
        let datasets = [data(1, Address::repeat_byte(0x99)), data(4, Address::ZERO)];
        let offer = best_offer(
            &query,
            &[app_order(app, 2, Address::ZERO)],
            &datasets,
            &[pool(3, 0, 1, Tag::NONE)],
        )
        .unwrap();
        assert_eq!(
            offer.dataset.unwrap().order.order.datasetprice,
            U256::from(4)
        );
        assert_eq!(offer.app.order.order.appprice, U256::from(2));
    }
}
