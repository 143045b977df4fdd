//! The live feed: book and deal events, broadcast to WebSocket subscribers (`GET /ws`).

use alloy::primitives::B256;
use poco_types::OrderKind;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::api::{Deal, OrderEntry, Status};

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

    pub(crate) fn published(kind: OrderKind, entry: OrderEntry) -> Self {
        Self::new(
            Topic::Orders,
            format!("{}_published", kind.key()),
            serde_json::to_value(entry).unwrap_or_default(),
        )
    }

    pub(crate) fn filled(kind: OrderKind, entry: OrderEntry) -> Self {
        Self::new(
            Topic::Orders,
            format!("{}_filled", kind.key()),
            serde_json::to_value(entry).unwrap_or_default(),
        )
    }

    pub(crate) fn unpublished(kind: OrderKind, hash: B256, status: Status, reason: &str) -> Self {
        Self::new(
            Topic::Orders,
            format!("{}_unpublished", kind.key()),
            json!({ "orderHash": hash, "status": status, "reason": reason }),
        )
    }

    pub(crate) fn deal(deal: Deal) -> Self {
        Self::new(
            Topic::Deals,
            "deal_created".into(),
            serde_json::to_value(deal).unwrap_or_default(),
        )
    }
}

/// The broadcast channel.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Event>,
}

impl Feed {
    pub(crate) fn new() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
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

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
