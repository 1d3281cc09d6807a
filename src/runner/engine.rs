//! The engine: the one owner of the core's state, turning raw events and signal replies into
//! decisions and store batches, exactly once.
//!
//! Exactly-once in four rules:
//! 1. An event id already in the store (`seen`) or in a batch not yet flushed is a duplicate
//!    and is dropped: redelivery and reconnects change nothing.
//! 2. A new event is written together with its decision, or — if it needs a signal — with an
//!    inbox entry; the decision later removes the inbox entry in the same transaction.
//! 3. Batches are committed in order and each one atomically, so after `kill -9` the store is
//!    a consistent prefix of what the engine did; the cursor (`Last-Event-ID`) in that prefix
//!    is the last event it contains, so the server resends exactly what was lost.
//! 4. Nothing leaves the process (cursor, mirror order, notification, an operator's answer,
//!    a webhook's 200) before its batch is durable. A webhook delivery already seen (by its
//!    delivery key, or its event's id) is answered once the first copy is durable.
//! 5. The core is driven only through its [`Timeline`] (the decision clock replay and the
//!    property tests share), and the core's state reaches the store only as its audit
//!    ([`strategies::Changes`]) of the input being recorded: nothing here assembles state.
//!
//! Operator actions and notifications are in [`operator`].

pub mod operator;

#[cfg(test)]
mod backpressure_tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use strategies::{
    Core, Decision, Effect, Input, Outcome, Output, SignalTicket, Timeline, TradeAction,
};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::clock::SharedClock;
use crate::configuration::NotifyOn;
use crate::feed::RawEvent;
use crate::intake::{Ack, Delivery};
use crate::mirror::MirrorOrder;
use crate::notify::outbox::Notifier;
use crate::notify::Message;
use crate::signal::http::Redactor;
use crate::signal::SignalFetch;
use crate::store::{
    Batch, Committer, Counters, DecisionRecord, EventRecord, NotifyEntry, OutboxRecord, Store,
};
use crate::wire;

use super::{RunError, RunStats};

/// Events taken in but not yet durable, at most: four of the loop's turns, enough to keep
/// the writer's group commits large while the next batch is being decided.
pub const MAX_UNFLUSHED_EVENTS: usize = 16_384;

/// Signal requests waiting for a free slot, at most, before the intake waits.
pub const MAX_WAITING_SIGNALS: usize = 16_384;

/// A signal request the engine wants made (by the caller, concurrently).
pub struct SignalJob {
    pub ticket: SignalTicket,
    pub event_seq: u64,
    pub arrived: Instant,
}

/// A finished signal request.
pub struct SignalDone {
    pub job: SignalJob,
    pub fetch: SignalFetch,
}

/// Bookkeeping for a batch handed to the writer but not yet durable.
#[derive(Default)]
struct Pending {
    number: u64,
    event_ids: Vec<String>,
    cursor: Option<String>,
    mirror: Vec<MirrorOrder>,
    notify: Vec<NotifyEntry>,
    replies: Vec<operator::Reply>,
    decided_arrivals: Vec<Instant>,
    /// Webhook senders waiting for this batch to be durable, and the delivery keys it holds.
    acks: Vec<(tokio::sync::oneshot::Sender<Ack>, Ack)>,
    delivery_keys: Vec<String>,
}

/// What became of a raw event offered to the engine.
enum Taken {
    New,
    /// Its id is in a batch not yet durable.
    DuplicatePending,
    /// Its id is in the store.
    DuplicateDurable,
}

pub struct Engine {
    timeline: Timeline,
    store: Store,
    committer: Committer,
    clock: SharedClock,
    counters: Counters,
    /// The counters changed without an event or decision (a daily summary's bookkeeping):
    /// the next batch writes them.
    counters_changed: bool,
    batch: Batch,
    current: Pending,
    pending: VecDeque<Pending>,
    unflushed_ids: HashSet<String>,
    unflushed_deliveries: HashSet<String>,
    /// The intake of each event taken through one (not the `[feed]` stream) and not decided
    /// yet, for its decision's log line.
    sources: HashMap<u64, Arc<str>>,
    mirror_enabled: bool,
    cursor_tx: watch::Sender<Option<String>>,
    mirror_tx: Option<mpsc::UnboundedSender<MirrorOrder>>,
    /// Signal requests the caller should start, in order.
    pub jobs: VecDeque<SignalJob>,
    pub stats: RunStats,
    /// Removes every secret the bot holds from raw bodies before they are stored.
    redactor: Redactor,
    health: Option<std::sync::Arc<crate::metrics::Health>>,
    notifier: Notifier,
    /// When the feed last delivered an event (or the engine started): for the feed-down alarm.
    last_event_at: strategies::Timestamp,
    /// Retention's "far behind" flag, when retention is on.
    retention_behind: Option<watch::Receiver<bool>>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Core,
        store: Store,
        committer: Committer,
        clock: SharedClock,
        counters: Counters,
        cursor_tx: watch::Sender<Option<String>>,
        mirror_tx: Option<mpsc::UnboundedSender<MirrorOrder>>,
    ) -> Engine {
        Engine {
            timeline: Timeline::new(core),
            store,
            committer,
            counters,
            counters_changed: false,
            batch: Batch::default(),
            current: Pending::default(),
            pending: VecDeque::new(),
            unflushed_ids: HashSet::new(),
            unflushed_deliveries: HashSet::new(),
            sources: HashMap::new(),
            mirror_enabled: mirror_tx.is_some(),
            cursor_tx,
            mirror_tx,
            jobs: VecDeque::new(),
            stats: RunStats::default(),
            redactor: Redactor::default(),
            health: None,
            notifier: Notifier::none(),
            last_event_at: clock.now(),
            retention_behind: None,
            clock,
        }
    }

    /// Stop taking events while retention is far behind ([`crate::retention::Retention::behind`]).
    pub fn set_retention_behind(&mut self, behind: watch::Receiver<bool>) {
        self.retention_behind = Some(behind);
    }

    /// Where `/readyz` learns that events arrive.
    pub fn set_health(&mut self, health: std::sync::Arc<crate::metrics::Health>) {
        self.health = Some(health);
    }

    /// Secrets to keep out of stored raw events (a server may echo the key back).
    pub(crate) fn set_redactor(&mut self, redactor: Redactor) {
        self.redactor = redactor;
    }

    pub fn core(&self) -> &Core {
        self.timeline.core()
    }

    /// New rules for the next event (a config reload).
    pub fn reconfigure(&mut self, config: strategies::CoreConfig) {
        self.timeline.core_mut().reconfigure(config);
    }

    /// Decide `input` on the timeline; what it changed joins the batch being built.
    fn apply(
        &mut self,
        input: Input<'_>,
        at: strategies::Timestamp,
    ) -> (strategies::Timestamp, Effect) {
        let Output {
            at,
            effect,
            changes,
            snapshot,
        } = self.timeline.apply(input, at);
        self.batch.state.absorb(changes);
        self.batch.snapshots.extend(snapshot);
        (at, effect)
    }

    /// The resolution poller says a held market resolved: settle it by its last price when
    /// that is decisive (`crate::settle::settle_resolved`), in the next batch. Idempotent.
    ///
    /// A settlement takes its time from the decision clock, like a decision: after everything
    /// decided before it, before every event taken after it (an event stamped earlier but
    /// still queued is moved past it). A recording places it by that time, so replay settles
    /// at the same point of the timeline. A poll that settles nothing takes no time.
    pub fn on_resolution(&mut self, resolution: crate::resolution::Resolution) {
        let now = self.clock.now();
        if let Some(batch) = crate::settle::settle_resolved(&mut self.timeline, &resolution, now) {
            let reason = format!("{} resolved ({})", resolution.market, resolution.status);
            for trade in &batch.trades {
                self.notify_trade(trade, &reason);
            }
            self.batch.absorb(batch);
        }
    }

    /// Pick up events that were waiting for their signal when the bot stopped.
    pub fn resume(&mut self, inbox: Vec<EventRecord>) {
        let now = self.clock.now();
        for record in inbox {
            let raw = RawEvent {
                id: record.server_id.clone(),
                sse_event: record.sse_event.clone(),
                data: record.data.clone(),
                received_at: record.received_at,
            };
            let mut event = wire::decode_event(&raw);
            event.id = record.id.clone();
            let arrived = Instant::now();
            if let Some(source) = &record.source {
                self.sources.insert(record.seq, Arc::from(source.as_str()));
            }
            let (_, effect) = self.apply(Input::Resume(&event), now);
            match &effect {
                Effect::NeedSignal(ticket) => {
                    info!(event_id = %event.id, market = %ticket.market, "resuming signal request after restart");
                }
                _ => self.batch.inbox_remove.push(record.seq),
            }
            self.follow(effect, record.seq, None, arrived);
        }
    }

    /// Carry out what the core did with an input of the event numbered `event_seq`.
    fn follow(
        &mut self,
        effect: Effect,
        event_seq: u64,
        signal_raw: Option<crate::wire::Json>,
        arrived: Instant,
    ) {
        match effect {
            Effect::Decided(decision) => self.record(decision, event_seq, signal_raw, arrived),
            Effect::NeedSignal(ticket) => self.jobs.push_back(SignalJob {
                ticket,
                event_seq,
                arrived,
            }),
            Effect::Settled(trades) => self.batch.trades.extend(trades),
        }
    }

    /// Take one raw event from the `[feed]` stream.
    pub fn on_raw(&mut self, raw: RawEvent, arrived: Instant) -> Result<(), RunError> {
        self.take(raw, None, arrived).map(drop)
    }

    /// Take one webhook delivery: a new event is recorded like a streamed one and its sender
    /// answered when the batch is durable; a redelivery (same delivery key, or an event id
    /// already taken) is answered once the first copy is durable, and decided never again.
    pub fn on_delivery(&mut self, delivery: Delivery, arrived: Instant) -> Result<(), RunError> {
        let Delivery {
            intake,
            raw,
            key,
            ack,
        } = delivery;
        if let Some((key, _)) = &key {
            if self.unflushed_deliveries.contains(key) {
                self.stats.duplicates += 1;
                self.answer_after_pending(ack);
                return Ok(());
            }
            if self.store.is_delivered(key)? {
                self.stats.duplicates += 1;
                let _ = ack.send(Ack::Duplicate);
                return Ok(());
            }
        }
        let received_at = raw.received_at;
        match self.take(raw, Some(&intake), arrived)? {
            Taken::New => {
                if let Some((key, keep)) = key {
                    let expires = chrono::Duration::from_std(keep)
                        .ok()
                        .and_then(|keep| received_at.checked_add_signed(keep))
                        .unwrap_or(received_at);
                    self.batch.deliveries.push((key.clone(), expires));
                    self.unflushed_deliveries.insert(key.clone());
                    self.current.delivery_keys.push(key);
                }
                self.current.acks.push((ack, Ack::Recorded));
            }
            Taken::DuplicatePending => self.answer_after_pending(ack),
            Taken::DuplicateDurable => {
                let _ = ack.send(Ack::Duplicate);
            }
        }
        Ok(())
    }

    /// Answer a redelivery once everything taken so far is durable (the first copy is in the
    /// batch being built or in one already handed to the writer).
    fn answer_after_pending(&mut self, ack: tokio::sync::oneshot::Sender<Ack>) {
        if !self.batch.is_empty() {
            self.current.acks.push((ack, Ack::Duplicate));
        } else if let Some(last) = self.pending.back_mut() {
            last.acks.push((ack, Ack::Duplicate));
        } else {
            let _ = ack.send(Ack::Duplicate);
        }
    }

    /// Take one raw event from an intake (`source`: its name; `None` for the `[feed]` stream).
    fn take(
        &mut self,
        mut raw: RawEvent,
        source: Option<&str>,
        arrived: Instant,
    ) -> Result<Taken, RunError> {
        if self.redactor.finds(&raw.data) {
            warn!("an event carried a secret of the bot's; it is redacted before it is stored");
            raw.data = self.redactor.clean(&raw.data);
        }
        if let Some(id) = raw.id.take() {
            match wire::usable_id(&id) {
                true => raw.id = Some(id),
                false => warn!(
                    id_bytes = id.len(),
                    "event id longer than {} bytes: not used as id or resume cursor; the event \
                     is known by its derived id",
                    wire::MAX_EVENT_ID_BYTES
                ),
            }
        }
        let mut event = wire::decode_event(&raw);
        let duplicate = if self.unflushed_ids.contains(&event.id) {
            Some(Taken::DuplicatePending)
        } else if self.store.is_seen(&event.id)? {
            Some(Taken::DuplicateDurable)
        } else {
            None
        };
        if let Some(duplicate) = duplicate {
            self.stats.duplicates += 1;
            debug!(event_id = %event.id, source = source.unwrap_or("stream"), "duplicate event ignored");
            return Ok(duplicate);
        }
        let seq = self.counters.next_event_seq;
        self.counters.next_event_seq += 1;
        count(&mut self.counters.event_types, &event.event_type);
        crate::metrics::event_received(source, &event.event_type);
        // The receive time, moved on the decision clock, is the event's decision time, so a
        // replay of the recorded events (which carry it) makes the same decisions.
        let (received_at, effect) = self.apply(Input::Event(&mut event), raw.received_at);
        if let Some(health) = &self.health {
            health.event_received(received_at);
        }
        self.last_event_at = received_at;
        self.stats.received += 1;
        if let Some(server_id) = &raw.id {
            self.batch.cursor = Some(server_id.clone());
            self.current.cursor = Some(server_id.clone());
        }
        self.batch.events.push(EventRecord {
            seq,
            id: event.id.clone(),
            server_id: raw.id,
            event_type: event.event_type.clone(),
            sse_event: raw.sse_event,
            data: raw.data,
            received_at,
            source: source.map(str::to_string),
        });
        self.unflushed_ids.insert(event.id.clone());
        self.current.event_ids.push(event.id.clone());
        if let Some(source) = source {
            self.sources.insert(seq, Arc::from(source));
        }
        if let Effect::NeedSignal(_) = effect {
            self.batch.inbox_add.push(seq);
        }
        self.follow(effect, seq, None, arrived);
        Ok(Taken::New)
    }

    /// Take the reply to a signal request.
    pub fn on_signal(&mut self, done: SignalDone) {
        let SignalDone { job, fetch } = done;
        let paused_before = self.core().pause().map(|p| p.until);
        let (now, effect) = self.apply(Input::Reply(&job.ticket, fetch.reply), self.clock.now());
        self.batch.inbox_remove.push(job.event_seq);
        let paused = self
            .core()
            .pause()
            .filter(|p| Some(p.until) != paused_before);
        if let Some(pause) = paused.cloned() {
            let text = format!(
                "signal requests paused until {}: {}",
                pause
                    .until
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                pause.reason
            );
            let mut message = Message::error("quota_pause", &text, now);
            message.id = format!(
                "msg_error_quota_pause_{}",
                pause.until.timestamp_nanos_opt().unwrap_or_default()
            );
            self.notify(NotifyOn::Error, &message);
        }
        self.follow(effect, job.event_seq, fetch.raw, job.arrived);
    }

    fn record(
        &mut self,
        decision: Decision,
        event_seq: u64,
        signal_raw: Option<crate::wire::Json>,
        arrived: Instant,
    ) {
        let source = self.sources.remove(&event_seq);
        log_decision(
            &decision,
            source.as_deref().unwrap_or(crate::metrics::STREAM),
        );
        self.stats.decided += 1;
        if decision.outcome == Outcome::Traded {
            self.stats.traded += 1;
        }
        for trade in &decision.trades {
            // The shadow-trade endpoint records buys; exits (closes) are paper-only.
            if self.mirror_enabled && trade.action == TradeAction::Open {
                let order = OutboxRecord {
                    trade_id: trade.trade_id,
                    ticker: trade.market_id.clone(),
                    platform: trade.platform,
                    side: trade.side,
                    size_usd: trade.cost,
                };
                self.current.mirror.push(to_order(&order));
                self.batch.outbox.push(order);
            }
            self.batch.trades.push(trade.clone());
        }
        for trade in &decision.trades {
            self.notify_trade(trade, &decision.reason);
        }
        let seq = self.counters.next_decision_seq;
        self.counters.next_decision_seq += 1;
        count(&mut self.counters.outcomes, decision.outcome.as_str());
        crate::metrics::decided(decision.outcome, &decision.trades);
        self.batch.decisions.push(DecisionRecord {
            seq,
            event_seq,
            decision,
            signal_raw,
        });
        self.current.decided_arrivals.push(arrived);
    }

    /// Hand the accumulated writes to the writer (it merges whatever queues up into one
    /// transaction and one flush).
    /// Returns whether anything was handed over.
    pub fn submit(&mut self) -> bool {
        if !self.batch.events.is_empty()
            || !self.batch.decisions.is_empty()
            || !self.batch.notify.is_empty()
            || self.counters_changed
        {
            self.counters_changed = false;
            // Once per batch, not per decision: the counters carry maps.
            self.batch.counters = Some(self.counters.clone());
        }
        let batch = std::mem::take(&mut self.batch);
        match self.committer.submit(batch) {
            Some(number) => {
                let mut pending = std::mem::take(&mut self.current);
                pending.number = number;
                self.pending.push_back(pending);
                true
            }
            None => false,
        }
    }

    /// Back the store up to `dir` once everything submitted so far is committed.
    pub fn backup(&self, dir: std::path::PathBuf, reply: crate::store::BackupReply) {
        self.committer.backup(dir, reply);
    }

    /// Persist the starting book of a fresh store, so `ledger`/`report` know the bankroll.
    pub fn write_initial_totals(&mut self) {
        self.batch.state.totals = Some(self.core().book().totals.clone());
    }

    /// The writer made every batch up to `number` durable: now, and only now, those events
    /// count as done.
    pub fn on_durable(&mut self, number: u64) {
        let now = Instant::now();
        while self.pending.front().is_some_and(|p| p.number <= number) {
            let Some(done) = self.pending.pop_front() else {
                break;
            };
            for id in &done.event_ids {
                self.unflushed_ids.remove(id);
            }
            for key in &done.delivery_keys {
                self.unflushed_deliveries.remove(key);
            }
            for (ack, answer) in done.acks {
                let _ = ack.send(answer);
            }
            if let Some(cursor) = done.cursor {
                self.cursor_tx.send_replace(Some(cursor));
            }
            if let Some(tx) = &self.mirror_tx {
                for order in done.mirror {
                    let _ = tx.send(order);
                }
            }
            self.notifier.send(done.notify);
            for reply in done.replies {
                reply.send();
            }
            for arrived in done.decided_arrivals {
                self.stats.persisted += 1;
                self.stats
                    .latencies_us
                    .push(now.duration_since(arrived).as_micros() as u64);
            }
        }
    }

    /// Whether the engine may take another event: fewer than `MAX_UNFLUSHED_EVENTS` events
    /// wait to be durable, fewer than `MAX_WAITING_SIGNALS` signal requests wait to start, and
    /// retention is not far behind.
    /// Without the first bound an engine faster than the writer queues batches without limit
    /// (the writer then merges them into ever larger transactions); without the second a slow
    /// signal API does the same with requests.
    pub fn has_room(&self) -> bool {
        self.unflushed_ids.len() < MAX_UNFLUSHED_EVENTS
            && self.jobs.len() < MAX_WAITING_SIGNALS
            && !self
                .retention_behind
                .as_ref()
                .is_some_and(|behind| *behind.borrow())
    }

    /// Everything submitted is durable.
    pub fn settled(&self) -> bool {
        self.pending.is_empty() && self.batch.is_empty()
    }

    /// Submit what is left and stop the writer after it has committed and flushed all of it.
    /// The writer's last reports are read here: a commit that fails during shutdown is an
    /// error, and the final group commit's decisions count as persisted.
    pub fn close(
        mut self,
        reports: &mut mpsc::UnboundedReceiver<crate::store::WriterEvent>,
    ) -> Result<RunStats, RunError> {
        self.submit();
        self.committer.close();
        while let Ok(report) = reports.try_recv() {
            match report {
                crate::store::WriterEvent::Durable(n) => self.on_durable(n),
                crate::store::WriterEvent::Failed(err) => {
                    self.abandon();
                    return Err(RunError::StoreWrite(err));
                }
            }
        }
        self.store.flush()?;
        Ok(self.stats)
    }

    /// A commit failed: drop everything without touching the store again. sled flushes on
    /// the drop of its last handle and, on a full disk, waits on that flush for ever, so this
    /// engine's handle is leaked on purpose (the process is about to exit).
    pub fn abandon(self) {
        std::mem::forget(self.store);
    }

    pub fn last_submitted(&self) -> u64 {
        self.committer.last_submitted()
    }
}

/// One more of `key` in a count kept by name.
fn count(counts: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

pub(crate) fn to_order(record: &OutboxRecord) -> MirrorOrder {
    MirrorOrder {
        trade_id: record.trade_id,
        ticker: record.ticker.clone(),
        platform: record.platform,
        side: record.side,
        size_usd: record.size_usd,
    }
}

/// One line per decision on `shiftbot::decision`, and one per trade it made on
/// `shiftbot::trade` (opens, closes, settlements alike), so `RUST_LOG=shiftbot::trade=info`
/// keeps the trades only. Reasons are `&str` fields: quoted in text logs, plain in JSON.
fn log_decision(decision: &Decision, intake: &str) {
    let market = decision
        .market
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match decision.trades.last() {
        Some(trade) => info!(
            target: "shiftbot::decision",
            event_id = %decision.event_id,
            intake,
            market = %market,
            outcome = %decision.outcome,
            side = %trade.side,
            contracts = trade.contracts,
            price = %trade.price,
            cost = %trade.cost,
            fee = %trade.fee,
            cash_after = %trade.cash_after,
            reason = decision.reason.as_str(),
            "decision"
        ),
        None => info!(
            target: "shiftbot::decision",
            event_id = %decision.event_id,
            intake,
            market = %market,
            outcome = %decision.outcome,
            reason = decision.reason.as_str(),
            "decision"
        ),
    }
    for trade in &decision.trades {
        log_trade(trade, &decision.reason);
    }
}

/// One trade, with the reason of the decision (or settlement) that made it.
pub(crate) fn log_trade(trade: &strategies::Trade, reason: &str) {
    info!(
        target: "shiftbot::trade",
        trade_id = trade.trade_id,
        event_id = %trade.event_id,
        market = %trade.market(),
        action = trade.action.as_str(),
        side = %trade.side,
        contracts = trade.contracts,
        price = %trade.price,
        cost = %trade.cost,
        fee = %trade.fee,
        realized_pnl = %trade.realized_pnl.unwrap_or_default(),
        cash_after = %trade.cash_after,
        reason,
        "trade"
    );
}
