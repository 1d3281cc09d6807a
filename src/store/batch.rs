//! A batch of writes that belong together, encoded before the transaction so that the
//! transaction body (which sled may retry) does nothing but insert and remove bytes.

use strategies::{Changes, Trade};

use super::{
    corrupt, position_key, Counters, DecisionRecord, EventRecord, OutboxRecord, StoreError,
    META_BUDGET, META_COUNTERS, META_CURSOR, META_HALTED, META_PAUSE, META_TOTALS,
};
use crate::notify::Message;

/// A notification for one sink, waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyEntry {
    pub sink: String,
    pub seq: u64,
    pub message: Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TreeId {
    Events,
    Seen,
    Inbox,
    Decisions,
    Trades,
    Positions,
    Markets,
    Outbox,
    Notify,
    Meta,
    Deliveries,
    Equity,
}

pub(crate) struct Op {
    pub tree: TreeId,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Writes accumulated by the runner. Later entries override earlier ones for the same key, so
/// several batches can be merged into one group commit by [`Batch::absorb`].
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Newly received events (also marks their ids seen).
    pub events: Vec<EventRecord>,
    /// Intake seqs entering / leaving the inbox.
    pub inbox_add: Vec<u64>,
    pub inbox_remove: Vec<u64>,
    pub decisions: Vec<DecisionRecord>,
    pub trades: Vec<Trade>,
    /// The core's state as its audit says the decisions changed it (markets, positions,
    /// totals, budget, pauses): derived from [`strategies::Output::changes`], never assembled
    /// beside it.
    pub state: Changes,
    pub outbox: Vec<OutboxRecord>,
    pub notify: Vec<NotifyEntry>,
    pub cursor: Option<String>,
    pub counters: Option<Counters>,
    /// Webhook delivery keys seen with these events, and when each may be forgotten.
    pub deliveries: Vec<(String, strategies::Timestamp)>,
    /// The equity snapshots the decisions made ([`strategies::Output::snapshot`]).
    pub snapshots: Vec<strategies::report::EquitySnapshot>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.inbox_add.is_empty()
            && self.inbox_remove.is_empty()
            && self.decisions.is_empty()
            && self.trades.is_empty()
            && self.state.is_empty()
            && self.outbox.is_empty()
            && self.notify.is_empty()
            && self.cursor.is_none()
            && self.counters.is_none()
            && self.deliveries.is_empty()
            && self.snapshots.is_empty()
    }

    /// Append a later batch to this one.
    pub fn absorb(&mut self, later: Batch) {
        self.events.extend(later.events);
        self.inbox_add.extend(later.inbox_add);
        self.inbox_remove.extend(later.inbox_remove);
        self.decisions.extend(later.decisions);
        self.trades.extend(later.trades);
        self.state.absorb(later.state);
        self.outbox.extend(later.outbox);
        self.notify.extend(later.notify);
        self.cursor = later.cursor.or(self.cursor.take());
        self.counters = later.counters.or(self.counters.take());
        self.deliveries.extend(later.deliveries);
        self.snapshots.extend(later.snapshots);
    }

    pub(crate) fn encode(&self) -> Result<Vec<Op>, StoreError> {
        let mut ops = Vec::with_capacity(self.events.len() * 2 + self.decisions.len() + 8);
        let mut put = |tree, key: Vec<u8>, value: Vec<u8>| {
            ops.push(Op {
                tree,
                key,
                value: Some(value),
            })
        };
        for event in &self.events {
            put(
                TreeId::Events,
                event.seq.to_be_bytes().to_vec(),
                compact(event, "event")?,
            );
            put(
                TreeId::Seen,
                event.id.as_bytes().to_vec(),
                event.seq.to_be_bytes().to_vec(),
            );
        }
        for (key, expires) in &self.deliveries {
            let at = expires.timestamp_nanos_opt().unwrap_or(i64::MAX);
            put(
                TreeId::Deliveries,
                key.as_bytes().to_vec(),
                at.to_be_bytes().to_vec(),
            );
        }
        for seq in &self.inbox_add {
            put(TreeId::Inbox, seq.to_be_bytes().to_vec(), Vec::new());
        }
        for decision in &self.decisions {
            put(
                TreeId::Decisions,
                decision.seq.to_be_bytes().to_vec(),
                compact(decision, "decision")?,
            );
        }
        for snapshot in &self.snapshots {
            put(
                TreeId::Equity,
                snapshot_key(snapshot.at).to_vec(),
                compact(snapshot, "equity snapshot")?,
            );
        }
        for trade in &self.trades {
            put(
                TreeId::Trades,
                trade.trade_id.to_be_bytes().to_vec(),
                compact(trade, "trade")?,
            );
        }
        let state = &self.state;
        for (market, market_state) in &state.markets {
            put(
                TreeId::Markets,
                market.to_string().into_bytes(),
                compact(market_state, "market state")?,
            );
        }
        for order in &self.outbox {
            put(
                TreeId::Outbox,
                order.trade_id.to_be_bytes().to_vec(),
                json(order, "outbox entry")?,
            );
        }
        for entry in &self.notify {
            put(
                TreeId::Notify,
                super::notify::key(&entry.sink, entry.seq),
                json(&entry.message, "notification")?,
            );
        }
        if let Some(halted) = &state.halted {
            put(TreeId::Meta, META_HALTED.into(), json(halted, "halted")?);
        }
        if let Some(totals) = &state.totals {
            put(TreeId::Meta, META_TOTALS.into(), compact(totals, "totals")?);
        }
        if let Some(budget) = &state.budget {
            put(TreeId::Meta, META_BUDGET.into(), compact(budget, "budget")?);
        }
        if let Some(pause) = &state.pause {
            put(TreeId::Meta, META_PAUSE.into(), json(pause, "pause")?);
        }
        if let Some(cursor) = &self.cursor {
            put(TreeId::Meta, META_CURSOR.into(), json(cursor, "cursor")?);
        }
        if let Some(counters) = &self.counters {
            put(
                TreeId::Meta,
                META_COUNTERS.into(),
                compact(counters, "counters")?,
            );
        }
        for ((market, side), position) in &state.positions {
            let key = position_key(market, *side).into_bytes();
            let value = position
                .as_ref()
                .map(|p| compact(p, "position"))
                .transpose()?;
            ops.push(Op {
                tree: TreeId::Positions,
                key,
                value,
            });
        }
        for seq in &self.inbox_remove {
            ops.push(Op {
                tree: TreeId::Inbox,
                key: seq.to_be_bytes().to_vec(),
                value: None,
            });
        }
        Ok(ops)
    }
}

/// JSON, compressed against the record dictionary (see `codec`).
fn compact<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    super::codec::compress(&json(value, what)?).map_err(|e| corrupt(what, e))
}

fn json<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| corrupt(what, e))
}

/// Snapshots sort by time: nanoseconds since the epoch, big-endian (a later snapshot at the
/// same instant replaces the earlier, which it supersedes).
fn snapshot_key(at: strategies::Timestamp) -> [u8; 8] {
    let nanos = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
    u64::try_from(nanos).unwrap_or(0).to_be_bytes()
}
