//! The running bot's metrics, in Prometheus text on the admin listener's `GET /metrics`, and
//! its health (`/healthz`, `/readyz`).
//!
//! Recording goes through the `metrics` facade; `metrics-exporter-prometheus` (its recorder
//! only, no listener of its own: the admin listener is the one HTTP surface) renders them.
//! The names below are a public contract, documented in the README. Counters of what the
//! store holds (events by type, decisions by outcome, trades by action) start from the store's
//! own counts, so they survive a restart; the others count from the process's start. No label
//! carries a market id (unbounded cardinality).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use strategies::{Core, Outcome, Timestamp, TradeAction};

pub const EVENTS_RECEIVED: &str = "shiftbot_events_received_total";
pub const DECISIONS: &str = "shiftbot_decisions_total";
pub const SIGNAL_REQUESTS: &str = "shiftbot_signal_requests_total";
pub const SIGNAL_LATENCY: &str = "shiftbot_signal_latency_seconds";
pub const TRADES: &str = "shiftbot_trades_total";
pub const OPEN_POSITIONS: &str = "shiftbot_open_positions";
pub const CASH: &str = "shiftbot_cash";
pub const EQUITY: &str = "shiftbot_equity";
pub const REALIZED_PNL: &str = "shiftbot_realized_pnl";
pub const FEES: &str = "shiftbot_fees_total";
pub const FEED_RECONNECTS: &str = "shiftbot_feed_reconnects_total";
pub const LAST_EVENT_AGE: &str = "shiftbot_last_event_age_seconds";
pub const COMMIT_BATCH_EVENTS: &str = "shiftbot_commit_batch_events";
pub const FLUSH_SECONDS: &str = "shiftbot_flush_seconds";
pub const OUTBOX_BACKLOG: &str = "shiftbot_outbox_backlog";
pub const EVENTS_DROPPED: &str = "shiftbot_events_dropped_total";
pub const NOTIFICATIONS_DROPPED: &str = "shiftbot_notifications_dropped_total";
pub const WEBHOOK_REQUESTS: &str = "shiftbot_webhook_requests_total";
pub const WEBHOOK_DURABLE: &str = "shiftbot_webhook_durable_seconds";
pub const POLL_REQUESTS: &str = "shiftbot_poll_requests_total";

/// The intake label of today's one intake.
pub const STREAM: &str = "stream";

/// Event types that get a label of their own; anything else the feed sends is `other`, so a
/// server cannot grow the label set without bound.
const KNOWN_TYPES: [&str; 3] = ["price_shift", "whale_alert", "analysis_complete"];

/// The process's recorder, installed once (tests run several bots in one process).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0,
        ];
        let sizes = [
            1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 4096.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(SIGNAL_LATENCY.into()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(FLUSH_SECONDS.into()), &seconds))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WEBHOOK_DURABLE.into()), &seconds))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH_EVENTS.into()), &sizes)
            });
        let recorder = match builder {
            Ok(builder) => builder.build_recorder(),
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        // Another recorder already installed (an embedding program): ours still renders
        // what is recorded through it, which is nothing; the bot keeps running.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// The text for `GET /metrics`.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

fn type_label(event_type: &str) -> &'static str {
    KNOWN_TYPES
        .into_iter()
        .find(|known| *known == event_type)
        .unwrap_or("other")
}

/// Counters of what the store holds, set to the store's counts at start.
pub fn restore(
    events_by_type: &std::collections::BTreeMap<String, u64>,
    decisions_by_outcome: &std::collections::BTreeMap<String, u64>,
    trades_by_action: &[(TradeAction, u64)],
) {
    let _ = handle();
    let mut events = std::collections::BTreeMap::<&'static str, u64>::new();
    for (event_type, n) in events_by_type {
        *events.entry(type_label(event_type)).or_default() += n;
    }
    for (event_type, n) in events {
        counter!(EVENTS_RECEIVED, "intake" => STREAM, "type" => event_type).absolute(n);
    }
    for outcome in Outcome::ALL {
        let n = decisions_by_outcome
            .get(outcome.as_str())
            .copied()
            .unwrap_or(0);
        counter!(DECISIONS, "outcome" => outcome.as_str()).absolute(n);
    }
    for (action, n) in trades_by_action {
        counter!(TRADES, "action" => action.as_str()).absolute(*n);
    }
}

/// An event taken in through `intake` (the `[feed]` stream when `None`).
pub fn event_received(intake: Option<&str>, event_type: &str) {
    let intake = intake.unwrap_or(STREAM).to_string();
    counter!(EVENTS_RECEIVED, "intake" => intake, "type" => type_label(event_type)).increment(1);
}

/// A webhook request answered with `status` (200, 401, 413, 503) by `intake`.
pub fn webhook_request(intake: &str, status: u16) {
    counter!(WEBHOOK_REQUESTS, "intake" => intake.to_string(), "status" => status.to_string())
        .increment(1);
}

/// From a webhook's arrival to its answer once durable.
pub fn webhook_durable(intake: &str, took: Duration) {
    histogram!(WEBHOOK_DURABLE, "intake" => intake.to_string()).record(took.as_secs_f64());
}

/// One `GET /v1/markets` of a poll intake: `ok`, `error`, or `capped` (not made: the day's
/// `max_per_day` is spent).
pub fn poll_request(intake: &str, result: &'static str) {
    counter!(POLL_REQUESTS, "intake" => intake.to_string(), "result" => result).increment(1);
}

pub fn decided(outcome: Outcome, trades: &[strategies::Trade]) {
    counter!(DECISIONS, "outcome" => outcome.as_str()).increment(1);
    for trade in trades {
        counter!(TRADES, "action" => trade.action.as_str()).increment(1);
    }
}

/// One finished signal request: `ok` (a signal) or `error`, and how long it took.
pub fn signal_request(ok: bool, took: Duration) {
    let result = if ok { "ok" } else { "error" };
    counter!(SIGNAL_REQUESTS, "result" => result).increment(1);
    histogram!(SIGNAL_LATENCY).record(took.as_secs_f64());
}

/// A connection of `intake` (the stream, a WebSocket) lost and about to be replaced.
pub fn feed_reconnect(intake: &str) {
    counter!(FEED_RECONNECTS, "intake" => intake.to_string()).increment(1);
}

pub fn events_dropped(n: u64) {
    counter!(EVENTS_DROPPED, "intake" => STREAM).increment(n);
}

/// One group commit: how many events it carried and how long its flush took.
pub fn committed(events: usize, flush: Duration) {
    histogram!(COMMIT_BATCH_EVENTS).record(events as f64);
    histogram!(FLUSH_SECONDS).record(flush.as_secs_f64());
}

/// The book's figures (gauges; money as float for Prometheus only: the store keeps decimals).
pub fn book(core: &Core) {
    let book = core.book();
    let money = |value: rust_decimal::Decimal| value.to_f64().unwrap_or(f64::NAN);
    gauge!(OPEN_POSITIONS).set(book.positions.len() as f64);
    gauge!(CASH).set(money(book.cash()));
    gauge!(EQUITY).set(money(book.equity(|market| core.last_yes(market))));
    gauge!(REALIZED_PNL).set(money(book.totals.realized_pnl));
    gauge!(FEES).set(money(book.totals.fees_paid));
}

pub fn outbox_backlog(sink: &'static str, entries: usize) {
    gauge!(OUTBOX_BACKLOG, "sink" => sink).set(entries as f64);
}

/// A notification sink's undelivered messages (sink names come from the config: bounded).
pub fn notify_backlog(sink: &str, entries: u64) {
    gauge!(OUTBOX_BACKLOG, "sink" => sink.to_string()).set(entries as f64);
}

pub fn notification_dropped(sink: &str, n: u64) {
    counter!(NOTIFICATIONS_DROPPED, "sink" => sink.to_string()).increment(n);
}

/// What `/readyz` looks at, shared by the engine (writer) and the listener (reader).
#[derive(Debug)]
pub struct Health {
    started_ms: i64,
    last_event_ms: AtomicI64,
    paused_until_ms: AtomicI64,
    store_failed: AtomicBool,
    stale_after: Duration,
}

/// `GET /readyz`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub reasons: Vec<String>,
    /// Seconds since the last event was received (none yet: since start).
    pub last_event_age_seconds: f64,
}

impl Health {
    pub fn new(now: Timestamp, stale_after: Duration) -> Health {
        Health {
            started_ms: now.timestamp_millis(),
            last_event_ms: AtomicI64::new(0),
            paused_until_ms: AtomicI64::new(0),
            store_failed: AtomicBool::new(false),
            stale_after,
        }
    }

    pub fn event_received(&self, at: Timestamp) {
        self.last_event_ms
            .fetch_max(at.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn paused_until(&self, until: Option<Timestamp>) {
        let ms = until.map_or(0, |until| until.timestamp_millis());
        self.paused_until_ms.store(ms, Ordering::Relaxed);
    }

    pub fn store_failed(&self) {
        self.store_failed.store(true, Ordering::Relaxed);
    }

    /// Ready, or why not, at `now`; also sets the last-event-age gauge.
    pub fn readiness(&self, now: Timestamp) -> Readiness {
        let now_ms = now.timestamp_millis();
        let last = self
            .last_event_ms
            .load(Ordering::Relaxed)
            .max(self.started_ms);
        let age = Duration::from_millis(u64::try_from(now_ms - last).unwrap_or(0));
        gauge!(LAST_EVENT_AGE).set(age.as_secs_f64());
        let mut reasons = Vec::new();
        if age > self.stale_after {
            reasons.push(format!(
                "no event for {} (feed.stale_after is {})",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(self.stale_after)
            ));
        }
        let paused = self.paused_until_ms.load(Ordering::Relaxed);
        if paused > now_ms {
            let until = chrono::DateTime::from_timestamp_millis(paused)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            reasons.push(format!("signal requests are paused until {until}"));
        }
        if self.store_failed.load(Ordering::Relaxed) {
            reasons.push("the store failed to commit".to_string());
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            last_event_age_seconds: age.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn readiness_follows_events_pauses_and_the_store() {
        let health = Health::new(at(0), Duration::from_secs(60));
        assert!(health.readiness(at(30)).ready);
        let stale = health.readiness(at(61));
        assert!(!stale.ready);
        assert_eq!(
            stale.reasons,
            vec!["no event for 1m 1s (feed.stale_after is 1m)"]
        );
        health.event_received(at(100));
        assert!(health.readiness(at(120)).ready);
        health.paused_until(Some(at(200)));
        let paused = health.readiness(at(130));
        assert_eq!(
            paused.reasons,
            vec!["signal requests are paused until 2027-01-15T08:03:20Z"]
        );
        health.paused_until(None);
        health.store_failed();
        assert_eq!(
            health.readiness(at(130)).reasons,
            vec!["the store failed to commit"]
        );
    }

    #[test]
    fn unknown_event_types_share_one_label() {
        assert_eq!(type_label("price_shift"), "price_shift");
        assert_eq!(type_label("x-".repeat(50).as_str()), "other");
    }
}
