//! The `notify` tree: notifications not yet delivered, per sink in the order they were made.
//!
//! Keys are the sink's name, a zero byte (names cannot hold one) and the message's seq,
//! big-endian, so one sink's backlog is one prefix scan in order. Entries are written in the
//! decision's batch ([`super::Batch::notify`]) and removed one by one once delivered.

use std::collections::BTreeMap;

use super::{decode, Store, StoreError};
use crate::notify::Message;

pub(crate) fn key(sink: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(sink.len() + 9);
    key.extend_from_slice(sink.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn prefix(sink: &str) -> Vec<u8> {
    let mut prefix = sink.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

impl Store {
    /// `sink`'s undelivered messages, oldest first.
    pub fn notify_backlog(&self, sink: &str) -> Result<Vec<(u64, Message)>, StoreError> {
        let mut out = Vec::new();
        for item in self.notify.scan_prefix(prefix(sink)) {
            let (key, value) = item.map_err(|e| self.io_err(e))?;
            let seq = key
                .get(key.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| {
                    super::corrupt("notification key", super::Unreadable::Shape("too short"))
                })?;
            out.push((seq, decode(&value, "notification")?));
        }
        Ok(out)
    }

    /// Undelivered messages by sink name.
    pub fn notify_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut counts = BTreeMap::new();
        for item in self.notify.iter().keys() {
            let key = item.map_err(|e| self.io_err(e))?;
            let name = key.split(|b| *b == 0).next().unwrap_or_default();
            *counts
                .entry(String::from_utf8_lossy(name).into_owned())
                .or_default() += 1;
        }
        Ok(counts)
    }

    /// A message was delivered (or given up on). Not flushed on its own: losing this removal
    /// in a crash only means the message is delivered once more, with the same id.
    pub fn notify_done(&self, sink: &str, seq: u64) -> Result<(), StoreError> {
        self.notify
            .remove(key(sink, seq))
            .map(drop)
            .map_err(|e| self.io_err(e))
    }

    /// How many trades were placed at or after `since` (read from the newest back: the daily
    /// summary reads one day, never the whole ledger).
    pub fn trades_since(&self, since: strategies::Timestamp) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.trades.iter().rev() {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            let trade: strategies::Trade = decode(&value, "trade")?;
            if trade.placed_at < since {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Drop every undelivered message of `sink` (no longer configured); returns how many.
    pub fn notify_forget(&self, sink: &str) -> Result<u64, StoreError> {
        let mut dropped = 0;
        for item in self.notify.scan_prefix(prefix(sink)).keys() {
            let key = item.map_err(|e| self.io_err(e))?;
            self.notify.remove(key).map_err(|e| self.io_err(e))?;
            dropped += 1;
        }
        Ok(dropped)
    }
}
