//! Order builders with fresh salts.

use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::{Address, B256, U256};
use poco_types::{AppOrder, DatasetOrder, Domain, RequestOrder, WorkerpoolOrder};

/// Builds public orders, each with a salt no other order of this builder has; sign them with
/// [`Chain::sign`](crate::Chain::sign).
#[derive(Debug)]
pub struct Orders {
    /// The domain the orders are for.
    pub domain: Domain,
    salt: AtomicU64,
}

impl Orders {
    /// Builders for `domain`, salts counting from 1.
    pub fn new(domain: Domain) -> Self {
        Self {
            domain,
            salt: AtomicU64::new(0),
        }
    }

    /// A fresh salt.
    pub fn salt(&self) -> B256 {
        B256::from(U256::from(self.salt.fetch_add(1, Ordering::Relaxed) + 1))
    }

    /// A public order of `app` at `price` nRLC for `volume` tasks.
    pub fn app(&self, app: Address, price: u64, volume: u64) -> AppOrder {
        AppOrder {
            app,
            appprice: U256::from(price),
            volume: U256::from(volume),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// A public order of `dataset` at `price` nRLC for `volume` tasks.
    pub fn dataset(&self, dataset: Address, price: u64, volume: u64) -> DatasetOrder {
        DatasetOrder {
            dataset,
            datasetprice: U256::from(price),
            volume: U256::from(volume),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// A public order of `workerpool` in category 0 at `price` nRLC for `volume` tasks up
    /// to `trust`.
    pub fn workerpool(
        &self,
        workerpool: Address,
        price: u64,
        volume: u64,
        trust: u64,
    ) -> WorkerpoolOrder {
        WorkerpoolOrder {
            workerpool,
            workerpoolprice: U256::from(price),
            volume: U256::from(volume),
            trust: U256::from(trust),
            salt: self.salt(),
            ..Default::default()
        }
    }

    /// A request of `requester` (also its beneficiary) for `app` in category 0, no dataset,
    /// any workerpool, paying at most `app_price` and `pool_price` nRLC per task.
    pub fn request(
        &self,
        requester: Address,
        app: Address,
        app_price: u64,
        pool_price: u64,
        volume: u64,
        trust: u64,
    ) -> RequestOrder {
        RequestOrder {
            app,
            appmaxprice: U256::from(app_price),
            workerpoolmaxprice: U256::from(pool_price),
            requester,
            volume: U256::from(volume),
            trust: U256::from(trust),
            beneficiary: requester,
            salt: self.salt(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_never_repeat_and_requests_pay_to_the_requester() {
        let orders = Orders::new(Domain::new(1, Address::ZERO));
        let a = orders.app(Address::repeat_byte(1), 5, 2);
        let b = orders.app(Address::repeat_byte(1), 5, 2);
        assert_ne!(a.salt, b.salt);
        let who = Address::repeat_byte(7);
        let r = orders.request(who, a.app, 5, 6, 3, 1);
        assert_eq!((r.requester, r.beneficiary), (who, who));
        assert_eq!(r.workerpoolmaxprice, U256::from(6));
        assert_ne!(r.salt, b.salt);
    }
}
