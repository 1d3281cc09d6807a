//! The engine's operator side: notifications into the decision's batch, and the operator's
//! actions (`pause`, `resume`, `close`) decided like events.
//!
//! An operator action is recorded as a received event of type `control` (its JSON the action)
//! with one decision of outcome `control`, so the journal (`decisions`) says what was done and
//! when, and a manual close's trades are persisted with it. The action is answered only once
//! that batch is durable. Control events are made here only: no intake can produce one (the
//! wire decoder knows no such type), so nobody on the feed can pause the bot.

use std::time::Instant;

use strategies::{Control, Effect, Input, Timestamp, Trade, TradeAction};
use tokio::sync::oneshot;

use super::{count, Engine};
use crate::configuration::NotifyOn;
use crate::notify::outbox::Notifier;
use crate::notify::{DailySummary, Message};
use crate::store::{EventRecord, NotifyEntry};

/// The answer to an operator action, once it is durable.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ControlDone {
    pub action: String,
    /// Whether new positions are paused after it.
    pub paused: bool,
    pub reason: String,
    /// A close's trades, as `ledger --json` lines.
    pub trades: Vec<Trade>,
}

pub(super) struct Reply {
    tx: oneshot::Sender<ControlDone>,
    done: ControlDone,
}

impl Reply {
    pub(super) fn send(self) {
        let _ = self.tx.send(self.done);
    }
}

impl Engine {
    /// The sinks to tell, from now on (start, or a reload that changed `[[notify]]`).
    pub fn set_notifier(&mut self, notifier: Notifier) {
        self.notifier = notifier;
    }

    pub(crate) fn counters_mut(&mut self) -> &mut crate::store::Counters {
        &mut self.counters
    }

    /// Queue `message` for every sink that wants `what`, in the current batch.
    pub(super) fn notify(&mut self, what: NotifyOn, message: &Message) {
        if self.notifier.is_empty() {
            return;
        }
        let entries = self.notifier.messages(what, message, &mut self.counters);
        self.current.notify.extend(entries.iter().cloned());
        self.batch.notify.extend(entries);
    }

    pub(super) fn notify_trade(&mut self, trade: &Trade, reason: &str) {
        let what = match trade.action {
            TradeAction::Open => NotifyOn::Open,
            TradeAction::Close => NotifyOn::Close,
            TradeAction::Settle => NotifyOn::Settle,
        };
        self.notify(what, &Message::trade(trade, reason));
    }

    /// An error for the sinks that want errors (`key_rejected`, ...), persisted in the next
    /// batch; returns the message and its entries.
    pub fn notify_error(&mut self, code: &str, text: &str) -> (Message, Vec<NotifyEntry>) {
        let message = Message::error(code, text, self.clock.now());
        let before = self.batch.notify.len();
        self.notify(NotifyOn::Error, &message);
        let entries = self.batch.notify[before..].to_vec();
        (message, entries)
    }

    /// Time-driven notifications due now: the feed-down alarm and daily summaries.
    pub fn notify_tick(&mut self) -> Result<(), crate::store::StoreError> {
        if self.notifier.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let alarms = self
            .notifier
            .feed_down(self.last_event_at, now, &mut self.counters);
        self.current.notify.extend(alarms.iter().cloned());
        self.batch.notify.extend(alarms);
        let before = self.counters.notify_daily.clone();
        let due = self.notifier.daily_due(now, &mut self.counters);
        if !due.is_empty() {
            let summary = self.daily_summary(now)?;
            let entries = self.notifier.daily(&due, summary, now, &mut self.counters);
            self.current.notify.extend(entries.iter().cloned());
            self.batch.notify.extend(entries);
        }
        if self.counters.notify_daily != before {
            self.counters_changed = true;
        }
        Ok(())
    }

    fn daily_summary(&self, now: Timestamp) -> Result<DailySummary, crate::store::StoreError> {
        let core = self.core();
        let book = core.book();
        let equity = book.equity(|m| core.last_yes(m));
        let trades = self.store.trades_since(now - chrono::Duration::hours(24))?;
        Ok(DailySummary {
            date: now.date_naive().to_string(),
            starting_bankroll: book.totals.starting_bankroll,
            cash: book.cash(),
            equity,
            pnl: equity - book.totals.starting_bankroll,
            realized_pnl: book.totals.realized_pnl,
            fees: book.totals.fees_paid,
            trades,
            open_positions: book.positions.len() as u64,
        })
    }

    /// Apply an operator action: recorded as a `control` event with its decision, answered on
    /// `reply` once durable.
    pub fn on_control(&mut self, control: &Control, reply: Option<oneshot::Sender<ControlDone>>) {
        let now = self.timeline.next_time(self.clock.now());
        let id = format!(
            "control:{}:{}",
            control.name(),
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        let seq = self.counters.next_event_seq;
        self.counters.next_event_seq += 1;
        count(&mut self.counters.event_types, "control");
        self.batch.events.push(EventRecord {
            seq,
            id: id.clone(),
            server_id: None,
            event_type: "control".to_string(),
            sse_event: None,
            data: serde_json::to_string(control).unwrap_or_default(),
            received_at: now,
            source: None,
        });
        let (_, effect) = self.apply(Input::Control { control, id: &id }, now);
        let done = ControlDone {
            action: control.name().to_string(),
            paused: self.core().halted(),
            reason: match &effect {
                Effect::Decided(decision) => decision.reason.clone(),
                _ => String::new(),
            },
            trades: effect.trades().to_vec(),
        };
        self.follow(effect, seq, None, Instant::now());
        if let Some(tx) = reply {
            self.current.replies.push(Reply { tx, done });
        }
    }
}

#[cfg(test)]
#[path = "operator_tests.rs"]
mod tests;
