//! The live feed: book and deal events, broadcast to WebSocket subscribers (`GET /ws`).

use std::sync::Arc;

use alloy::primitives::B256;
use poco_types::OrderKind;
use serde_json::{json, Value};
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};

use crate::{
    api::{Deal, Status},
    book::Stored,
};

/// The topics a subscriber can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topic {
    Orders,
    Deals,
}

/// One feed message.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) topic: Topic,
    /// `{"event": name, "data": …}`, serialized once for every subscriber.
    pub(crate) text: String,
}

impl Event {
    fn new(topic: Topic, name: String, data: Value) -> Self {
        Self {
            topic,
            text: json!({ "event": name, "data": data }).to_string(),
        }
    }

    /// An order's summary: fixed-size fields only, never the order itself (whose `params`
    /// may be kilobytes); a listener that wants the order reads `GET /{type}s/{orderHash}`.
    fn order(kind: OrderKind, name: &str, stored: &Stored) -> Self {
        Self::new(
            Topic::Orders,
            format!("{}_{name}", kind.key()),
            json!({
                "orderHash": stored.hash,
                "signer": stored.signer,
                "asset": stored.order.asset(),
                "price": stored.order.price().to_string(),
                "remaining": stored.remaining,
                "status": stored.status,
            }),
        )
    }

    pub(crate) fn published(kind: OrderKind, stored: &Stored) -> Self {
        Self::order(kind, "published", stored)
    }

    pub(crate) fn filled(kind: OrderKind, stored: &Stored) -> Self {
        Self::order(kind, "filled", stored)
    }

    pub(crate) fn unpublished(kind: OrderKind, hash: B256, status: Status, reason: &str) -> Self {
        Self::new(
            Topic::Orders,
            format!("{}_unpublished", kind.key()),
            json!({ "orderHash": hash, "status": status, "reason": reason }),
        )
    }

    /// A deal's summary (no params, no task list); the deal is at `GET /deals/{dealid}`.
    pub(crate) fn deal(deal: &Deal) -> Self {
        Self::new(
            Topic::Deals,
            "deal_created".into(),
            json!({
                "dealid": deal.dealid,
                "requestHash": deal.request_hash,
                "requester": deal.requester,
                "app": deal.app.pointer,
                "workerpool": deal.workerpool.pointer,
                "category": deal.category,
                "volume": deal.volume,
                "fast": deal.fast,
                "blockNumber": deal.block_number,
            }),
        )
    }
}

/// Events kept for slow listeners; each is a summary of a few hundred bytes.
const RING: usize = 4096;

/// The broadcast channel, and the listener slots of `/ws`.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Event>,
    listeners: Arc<Semaphore>,
    max_listeners: usize,
}

impl Feed {
    pub(crate) fn new(max_listeners: usize) -> Self {
        Self {
            tx: broadcast::channel(RING).0,
            listeners: Arc::new(Semaphore::new(max_listeners)),
            max_listeners,
        }
    }

    /// Sends to whoever listens (nobody is fine).
    pub(crate) fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// Whether anybody listens (events need not be built otherwise).
    pub(crate) fn listened(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A listener slot and the events from now on, or `None` when every slot is taken.
    pub(crate) fn subscribe(&self) -> Option<(OwnedSemaphorePermit, broadcast::Receiver<Event>)> {
        let slot = self.listeners.clone().try_acquire_owned().ok()?;
        Some((slot, self.tx.subscribe()))
    }

    /// How many listeners may be connected at once.
    pub(crate) fn max_listeners(&self) -> usize {
        self.max_listeners
    }
}
