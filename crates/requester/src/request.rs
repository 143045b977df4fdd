//! Building the request order that matches chosen app, dataset and workerpool orders: the one
//! construction behind `poco run`, `poco order fill` and the market's `GET /fill`.

use alloy::{
    primitives::{Address, B256, U256},
    signers::SignerSync,
};
use poco_types::{
    AppOrder, DatasetOrder, Domain, Order as _, RequestOrder, SignedOrder, Tag, WorkerpoolOrder,
};

/// Builds the request order for chosen orders: it asks exactly their prices, their category,
/// the tags of the app and dataset (and any added with [`RequestBuilder::tag`]); the requester
/// is the beneficiary; the salt is random unless given. Volume 1, trust 0, no params, no
/// callback unless set.
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    order: RequestOrder,
    salt: Option<B256>,
}

impl RequestBuilder {
    /// A request of `requester` for these orders.
    pub fn new(
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        requester: Address,
    ) -> Self {
        Self {
            order: RequestOrder::matching(app, dataset, workerpool, requester),
            salt: None,
        }
    }

    /// The number of tasks.
    pub fn volume(mut self, volume: U256) -> Self {
        self.order.volume = volume;
        self
    }

    /// The trust asked.
    pub fn trust(mut self, trust: u64) -> Self {
        self.order.trust = U256::from(trust);
        self
    }

    /// Tags asked on top of the app's and dataset's.
    pub fn tag(mut self, tag: Tag) -> Self {
        self.order.tag = (Tag(self.order.tag) | tag).0;
        self
    }

    /// The deal params, as their JSON text.
    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.order.params = params.into();
        self
    }

    /// The contract that receives the result (zero: none).
    pub fn callback(mut self, callback: Address) -> Self {
        self.order.callback = callback;
        self
    }

    /// The salt [default: a random one].
    pub fn salt(mut self, salt: B256) -> Self {
        self.salt = Some(salt);
        self
    }

    /// The request order.
    pub fn build(self) -> RequestOrder {
        RequestOrder {
            salt: self
                .salt
                .unwrap_or_else(|| B256::from(rand::random::<[u8; 32]>())),
            ..self.order
        }
    }

    /// The request order, signed by the requester's wallet.
    pub fn sign<S: SignerSync + ?Sized>(
        self,
        domain: &Domain,
        signer: &S,
    ) -> crate::Result<SignedOrder<RequestOrder>> {
        Ok(self.build().sign(domain, signer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_the_offered_prices_and_what_was_set() {
        let app = AppOrder {
            app: Address::repeat_byte(0xaa),
            appprice: U256::from(3),
            tag: Tag::TEE.0,
            ..Default::default()
        };
        let dataset = DatasetOrder {
            dataset: Address::repeat_byte(0xdd),
            datasetprice: U256::from(4),
            ..Default::default()
        };
        let pool = WorkerpoolOrder {
            workerpool: Address::repeat_byte(0x77),
            workerpoolprice: U256::from(5),
            category: U256::from(2),
            ..Default::default()
        };
        let me = Address::repeat_byte(0x11);
        let request = RequestBuilder::new(&app, Some(&dataset), &pool, me)
            .volume(U256::from(3))
            .trust(5)
            .tag(Tag::GPU)
            .params(r#"{"iexec_args":"x"}"#)
            .callback(Address::repeat_byte(0xcc))
            .salt(B256::repeat_byte(9))
            .build();
        let expected = RequestOrder {
            app: app.app,
            appmaxprice: U256::from(3),
            dataset: dataset.dataset,
            datasetmaxprice: U256::from(4),
            workerpool: pool.workerpool,
            workerpoolmaxprice: U256::from(5),
            requester: me,
            beneficiary: me,
            volume: U256::from(3),
            tag: (Tag::TEE | Tag::GPU).0,
            category: U256::from(2),
            trust: U256::from(5),
            callback: Address::repeat_byte(0xcc),
            params: r#"{"iexec_args":"x"}"#.into(),
            salt: B256::repeat_byte(9),
        };
        assert_eq!(request, expected);

        // The defaults: one task, trust 0, no params, a random salt each time.
        let a = RequestBuilder::new(&app, None, &pool, me).build();
        let b = RequestBuilder::new(&app, None, &pool, me).build();
        assert_eq!(a.volume, U256::from(1));
        assert_eq!(a.trust, U256::ZERO);
        assert_eq!(a.tag, Tag::TEE.0);
        assert!(a.dataset.is_zero() && a.params.is_empty() && a.callback.is_zero());
        assert_ne!(a.salt, b.salt);

        // Signed by the requester: the signature recovers to it.
        let signer = alloy::signers::local::PrivateKeySigner::random();
        let domain = Domain::new(1, Address::repeat_byte(0x42));
        let signed = RequestBuilder::new(&app, None, &pool, signer.address())
            .sign(&domain, &signer)
            .unwrap();
        assert_eq!(signed.order.requester, signer.address());
    }
}
