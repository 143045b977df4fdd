//! Orders as the market's publish endpoint and `orders.json` read them: any bytes, as JSON,
//! into the four signed order types, the market's `AnyOrder`, and an orders file. Whatever
//! parses must hash, recover (or refuse) a signer, and come back equal from its own JSON.

use afl::fuzz;
#[cfg(feature = "services")]
use poco_market::api::AnyOrder;
#[cfg(feature = "services")]
use poco_types::OrderKind;
use poco_types::{
    primitives::Address, AppOrder, DatasetOrder, Domain, Order, OrdersFile, RequestOrder,
    SignedOrder, WorkerpoolOrder,
};
use serde::{de::DeserializeOwned, Serialize};

fn signed<O>(bytes: &[u8], domain: &Domain)
where
    O: Order + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
{
    let Ok(order) = serde_json::from_slice::<SignedOrder<O>>(bytes) else {
        return;
    };
    let _ = order.order_hash(domain);
    let _ = order.recover(domain);
    let text = serde_json::to_string(&order).expect("a parsed order serialises");
    let back: SignedOrder<O> = serde_json::from_str(&text).expect("an order's JSON parses");
    assert_eq!(back, order);
}

fn main() {
    let domain = Domain::new(134, Address::repeat_byte(0x11));
    fuzz!(|bytes: &[u8]| {
        signed::<AppOrder>(bytes, &domain);
        signed::<DatasetOrder>(bytes, &domain);
        signed::<WorkerpoolOrder>(bytes, &domain);
        signed::<RequestOrder>(bytes, &domain);
        if let Ok(order) = serde_json::from_slice::<SignedOrder<RequestOrder>>(bytes) {
            let _ = order.order.deal_params();
        }
        // The market's own order type (with the `services` feature: it builds the market).
        #[cfg(feature = "services")]
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            for kind in [
                OrderKind::App,
                OrderKind::Dataset,
                OrderKind::Workerpool,
                OrderKind::Request,
            ] {
                if let Ok(order) = AnyOrder::from_json(kind, value.clone()) {
                    assert_eq!(order.kind(), kind);
                    let _ = (order.hash(&domain), order.price(), order.tag());
                    let back =
                        AnyOrder::from_json(kind, order.to_json()).expect("an order's JSON parses");
                    assert_eq!(back.to_json(), order.to_json());
                }
            }
        }
        if let Ok(file) = serde_json::from_slice::<OrdersFile>(bytes) {
            let text = serde_json::to_string(&file).expect("an orders file serialises");
            let mut back: OrdersFile = serde_json::from_str(&text).expect("an orders file parses");
            // Floats among the other keys may come back a unit in the last place off
            // (serde_json's fast float reading): compare their keys only.
            for (chain, orders) in &mut back {
                let other = &file[chain].other;
                assert!(orders.other.keys().eq(other.keys()));
                orders.other = other.clone();
            }
            assert_eq!(back, file);
        }
    });
}
