//! Watching logs with a confirmation depth.
//!
//! A [`LogWatcher`] polls the node and returns the logs of a filter block range by block range,
//! only once each block is `confirmations` deep (a block with `confirmations = 0` counts as soon
//! as it is the head). Its cursor, the next block to read, can be stored and given back after a
//! restart so that nothing is missed or read twice.

use std::time::Duration;

use alloy::{
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
};

use crate::{Error, Result};

/// Reads the logs of a filter as blocks become confirmed.
#[derive(Debug, Clone)]
pub struct LogWatcher {
    provider: DynProvider,
    filter: Filter,
    next_block: u64,
    confirmations: u64,
    poll_interval: Duration,
    max_range: u64,
}

/// Logs of a confirmed block range.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The first block of the range.
    pub from_block: u64,
    /// The last block of the range (inclusive).
    pub to_block: u64,
    /// The matching logs, in chain order.
    pub logs: Vec<Log>,
}

impl LogWatcher {
    /// Watches `filter` (its own block range is ignored) from `from_block`, returning blocks
    /// once they are `confirmations` deep. Polls every second and reads at most 2,000 blocks
    /// per request; see [`poll_interval`](Self::poll_interval) and
    /// [`max_range`](Self::max_range).
    pub fn new(provider: DynProvider, filter: Filter, from_block: u64, confirmations: u64) -> Self {
        Self {
            provider,
            filter,
            next_block: from_block,
            confirmations,
            poll_interval: Duration::from_secs(1),
            max_range: 2_000,
        }
    }

    /// Sets how often the node is asked for new blocks.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the largest block range of one `eth_getLogs` request.
    pub fn max_range(mut self, blocks: u64) -> Self {
        self.max_range = blocks.max(1);
        self
    }

    /// The next block to read: store it to resume after a restart.
    pub fn cursor(&self) -> u64 {
        self.next_block
    }

    /// Moves the cursor: the next read starts at `block` (to read a range again after its
    /// logs could not be handled).
    pub fn set_cursor(&mut self, block: u64) {
        self.next_block = block;
    }

    /// The highest confirmed block now, if any.
    pub async fn confirmed_head(&self) -> Result<Option<u64>> {
        let head = self.provider.get_block_number().await.map_err(Error::rpc)?;
        Ok(head.checked_sub(self.confirmations))
    }

    /// Reads the next confirmed range without waiting: `None` when no new block is confirmed.
    pub async fn poll(&mut self) -> Result<Option<LogBatch>> {
        let Some(confirmed) = self.confirmed_head().await? else {
            return Ok(None);
        };
        if confirmed < self.next_block {
            return Ok(None);
        }
        let from = self.next_block;
        let to = confirmed.min(from.saturating_add(self.max_range - 1));
        let filter = self.filter.clone().from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(Error::rpc)?;
        self.next_block = to + 1;
        Ok(Some(LogBatch {
            from_block: from,
            to_block: to,
            logs,
        }))
    }

    /// Waits for the next confirmed range and returns it (possibly with no logs).
    pub async fn next(&mut self) -> Result<LogBatch> {
        loop {
            if let Some(batch) = self.poll().await? {
                return Ok(batch);
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}
