//! Removing what retention archived: raw events and decisions, never trades, positions, cash
//! or a dedupe key still inside its window (see [`crate::retention`]).
//!
//! An archived event's id may have to outlive its record: it then moves to `seen_aged`
//! (key: received time in ns, then seq, both u64 BE; value: the id), which keeps the ids in
//! the order they expire, so expiring them reads only the expired front of that tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strategies::Timestamp;

use super::{Store, StoreError, META_ARCHIVE};

/// What retention has done so far, kept under `meta` and changed in the same transaction as
/// each removal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveState {
    /// Event records removed so far (for the counters' cross-check).
    pub events: u64,
    /// Decision records removed so far.
    pub decisions: u64,
    /// The committed length of each archive file, by file name: bytes past it were written by
    /// a pass whose removal never committed, and are cut off before the file is appended to.
    pub files: BTreeMap<String, u64>,
    /// When the last archived event was received: settlements before it are in the archive.
    pub through: Option<Timestamp>,
}

/// An archived event, as the removal needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrunedEvent {
    pub seq: u64,
    pub id: String,
    pub received_at: Timestamp,
    /// Its id must still be recognised (it is inside the dedupe window).
    pub keep_id: bool,
}

impl Store {
    /// Retention's progress (default: nothing archived yet).
    pub fn archive_state(&self) -> Result<ArchiveState, StoreError> {
        Ok(self.meta_get(META_ARCHIVE)?.unwrap_or_default())
    }

    /// Remove these events (and their ids, or move the ids to `seen_aged`) and these decisions,
    /// and record `state`, in one transaction; then flush.
    pub fn prune(
        &self,
        events: &[PrunedEvent],
        decisions: &[u64],
        state: &ArchiveState,
    ) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let state_bytes = serde_json::to_vec(state).map_err(|e| self.encode_err(e))?;
        let trees = (
            &self.events,
            &self.seen,
            &self.seen_aged,
            &self.decisions,
            &self.meta,
        );
        let result: Result<(), TransactionError<()>> = sled::Transactional::transaction(
            &trees,
            |(events_tree, seen, aged, decisions_tree, meta)| {
                for event in events {
                    events_tree.remove(&event.seq.to_be_bytes())?;
                    if event.keep_id {
                        aged.insert(
                            aged_key(event.received_at, event.seq).as_slice(),
                            event.id.as_bytes(),
                        )?;
                    } else {
                        seen.remove(event.id.as_bytes())?;
                    }
                }
                for seq in decisions {
                    decisions_tree.remove(&seq.to_be_bytes())?;
                }
                meta.insert(META_ARCHIVE, state_bytes.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            },
        );
        result.map_err(|e| self.tx_err("pruning", e))?;
        self.flush()
    }

    /// Forget the ids of archived events received before `before`, at most `max` of them.
    /// Returns how many were forgotten. Each id goes with its `seen_aged` entry, atomically.
    pub fn expire_ids(&self, before: Timestamp, max: usize) -> Result<usize, StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let limit = nanos(before).to_be_bytes();
        let mut expired = Vec::new();
        for item in self.seen_aged.range(..limit.as_slice()).take(max) {
            let (key, id) = item.map_err(|e| self.io_err(e))?;
            expired.push((key, id));
        }
        if expired.is_empty() {
            return Ok(0);
        }
        let result: Result<(), TransactionError<()>> =
            sled::Transactional::transaction(&(&self.seen, &self.seen_aged), |(seen, aged)| {
                for (key, id) in &expired {
                    aged.remove(key)?;
                    seen.remove(id)?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| self.tx_err("id expiry", e))?;
        self.flush()?;
        Ok(expired.len())
    }

    /// The intake seq of the oldest event still waiting for its signal.
    pub fn first_waiting(&self) -> Result<Option<u64>, StoreError> {
        let first = self.inbox.first().map_err(|e| self.io_err(e))?;
        Ok(first.and_then(|(key, _)| {
            <[u8; 8]>::try_from(key.as_ref())
                .ok()
                .map(u64::from_be_bytes)
        }))
    }

    /// Ids of archived events still recognised as duplicates.
    pub fn aged_ids(&self) -> usize {
        self.seen_aged.len()
    }
}

fn aged_key(received_at: Timestamp, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&nanos(received_at).to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Nanoseconds since the epoch, clamped to u64 (chrono's range ends in 2262 at this scale).
fn nanos(at: Timestamp) -> u64 {
    at.timestamp_nanos_opt()
        .map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(0))
}
