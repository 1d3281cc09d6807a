//! The engine's side of notifications: deciding who is told what, into the decision's batch.
//!
//! [`Notifier::messages`] turns a trade, an error or the daily summary into one
//! [`NotifyEntry`] per sink that wants it, with the next seq. The engine appends them to the
//! batch that records the decision (the same transaction, so a message exists exactly when its
//! trade does) and, once that batch is durable, [`Notifier::send`] hands them to the sinks'
//! delivery tasks. A sink whose backlog is at `max_backlog` gets nothing more until it drains:
//! the message is dropped for it, counted and logged.
//!
//! The sinks' tasks are started by [`Notifier::start`] and stopped by dropping the notifier
//! (a reload that changes `[[notify]]` starts a new one: the store keeps what the old tasks had
//! not delivered, and the new ones pick it up).

use chrono::NaiveDate;
use strategies::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::warn;

use super::delivery::{run_sink, Backlog, Queued};
use super::{DailySummary, Message};
use crate::configuration::{NotifyOn, NotifySink};
use crate::store::{Counters, NotifyEntry, Store, StoreError};

struct Sink {
    config: NotifySink,
    backlog: Backlog,
    tx: mpsc::UnboundedSender<Queued>,
    /// The outage already reported (by its last event time): one alarm per outage.
    feed_alarm_for: Option<Timestamp>,
}

/// The sinks, as the engine sees them.
pub struct Notifier {
    sinks: Vec<Sink>,
    /// Stops the delivery tasks when the notifier goes.
    _stop: watch::Sender<bool>,
}

impl Notifier {
    /// No sinks: every call is a no-op.
    pub fn none() -> Notifier {
        Notifier {
            sinks: Vec::new(),
            _stop: watch::channel(false).0,
        }
    }

    /// Start one delivery task per sink, each with what the store still holds for it. Whatever
    /// the store holds for a sink no longer configured is dropped, counted in `counters` and
    /// logged. Also stops when `shutdown` fires.
    pub fn start(
        sinks: &[NotifySink],
        store: &Store,
        counters: &mut Counters,
        tasks: &mut JoinSet<()>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Notifier, StoreError> {
        for (name, n) in store.notify_counts()? {
            if !sinks.iter().any(|s| s.name == name) {
                let dropped = store.notify_forget(&name)?;
                warn!(sink = %name, dropped = n, "undelivered notifications of a sink no longer in [[notify]] are dropped");
                *counters.notify_dropped.entry(name.clone()).or_default() += dropped;
                crate::metrics::notification_dropped(&name, dropped);
                crate::metrics::notify_backlog(&name, 0);
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut started = Vec::new();
        for config in sinks {
            let backlog = store.notify_backlog(&config.name)?;
            let count = Backlog::new(backlog.len() as u64);
            crate::metrics::notify_backlog(&config.name, count.get());
            let dropped = counters
                .notify_dropped
                .get(&config.name)
                .copied()
                .unwrap_or(0);
            crate::metrics::notification_dropped(&config.name, 0);
            metrics::counter!(crate::metrics::NOTIFICATIONS_DROPPED, "sink" => config.name.clone())
                .absolute(dropped);
            let (tx, rx) = mpsc::unbounded_channel();
            let deliver = run_sink(
                config.clone(),
                store.clone(),
                backlog,
                rx,
                count.clone(),
                stop_rx.clone(),
            );
            let mut bot_stop = shutdown.clone();
            // The task ends when the notifier is dropped (a reload) or the bot stops.
            tasks.spawn(async move {
                tokio::select! {
                    _ = deliver => {}
                    _ = bot_stop.changed() => {}
                }
            });
            started.push(Sink {
                config: config.clone(),
                backlog: count,
                tx,
                feed_alarm_for: None,
            });
        }
        Ok(Notifier {
            sinks: started,
            _stop: stop_tx,
        })
    }

    /// The sinks without their delivery tasks, for a command on a stopped store: what it
    /// queues is persisted and delivered by the next `run`.
    pub fn offline(sinks: &[NotifySink], store: &Store) -> Result<Notifier, StoreError> {
        let counts = store.notify_counts()?;
        let sinks = sinks
            .iter()
            .map(|config| Sink {
                config: config.clone(),
                backlog: Backlog::new(counts.get(&config.name).copied().unwrap_or(0)),
                tx: mpsc::unbounded_channel().0,
                feed_alarm_for: None,
            })
            .collect();
        Ok(Notifier {
            sinks,
            _stop: watch::channel(false).0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// One entry per sink that wants `what`, seqs from `counters`. A sink at `max_backlog`
    /// is skipped, and that is counted and logged.
    pub fn messages(
        &mut self,
        what: NotifyOn,
        message: &Message,
        counters: &mut Counters,
    ) -> Vec<NotifyEntry> {
        self.sinks
            .iter_mut()
            .filter(|sink| sink.config.wants(what))
            .filter_map(|sink| offer(sink, message, counters))
            .collect()
    }

    /// Hand durable entries to their sinks' tasks.
    pub fn send(&self, entries: Vec<NotifyEntry>) {
        for entry in entries {
            if let Some(sink) = self.sinks.iter().find(|s| s.config.name == entry.sink) {
                let _ = sink.tx.send((entry.seq, entry.message));
            }
        }
    }

    /// Feed-down alarms due at `now`, the feed's last event (or the start) at `last_event`:
    /// one error per sink per outage, once it has lasted its sink's `feed_down_after`.
    pub fn feed_down(
        &mut self,
        last_event: Timestamp,
        now: Timestamp,
        counters: &mut Counters,
    ) -> Vec<NotifyEntry> {
        let mut due = Vec::new();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            let after = chrono::Duration::from_std(sink.config.feed_down_after)
                .unwrap_or(chrono::Duration::MAX);
            if !sink.config.wants(NotifyOn::Error)
                || sink.feed_alarm_for == Some(last_event)
                || now - last_event < after
            {
                continue;
            }
            sink.feed_alarm_for = Some(last_event);
            due.push(i);
        }
        let mut out = Vec::new();
        for i in due {
            let sink = &self.sinks[i].config;
            let text = format!(
                "no event from the feed since {} (longer than {})",
                last_event.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                humantime::format_duration(sink.feed_down_after)
            );
            let mut message = Message::error("feed_down", &text, now);
            message.id = format!(
                "msg_error_feed_down_{}",
                last_event.timestamp_nanos_opt().unwrap_or_default()
            );
            out.extend(self.one(i, &message, counters));
        }
        out
    }

    /// The sinks whose daily summary is due at `now` (their `daily_at` has passed today and
    /// today's has not been made). A sink never summarised before starts counting from now:
    /// no summary for a day that was over before the bot ran.
    pub fn daily_due(&self, now: Timestamp, counters: &mut Counters) -> Vec<(usize, NaiveDate)> {
        let today = now.date_naive();
        let mut due = Vec::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            if !sink.config.wants(NotifyOn::Daily) {
                continue;
            }
            let at = today.and_time(sink.config.daily_time()).and_utc();
            let last = counters
                .notify_daily
                .get(&sink.config.name)
                .and_then(|d| d.parse::<NaiveDate>().ok());
            match last {
                Some(last) if last >= today => {}
                None if now >= at => {
                    counters
                        .notify_daily
                        .insert(sink.config.name.clone(), today.to_string());
                }
                None => {
                    counters.notify_daily.insert(
                        sink.config.name.clone(),
                        (today - chrono::Days::new(1)).to_string(),
                    );
                }
                Some(_) if now >= at => due.push((i, today)),
                Some(_) => {}
            }
        }
        due
    }

    /// The daily summary for the sinks [`Notifier::daily_due`] returned.
    pub fn daily(
        &mut self,
        due: &[(usize, NaiveDate)],
        summary: DailySummary,
        now: Timestamp,
        counters: &mut Counters,
    ) -> Vec<NotifyEntry> {
        let message = Message::daily(summary, now);
        let mut out = Vec::new();
        for (i, day) in due {
            counters
                .notify_daily
                .insert(self.sinks[*i].config.name.clone(), day.to_string());
            out.extend(self.one(*i, &message, counters));
        }
        out
    }

    fn one(&mut self, i: usize, message: &Message, counters: &mut Counters) -> Vec<NotifyEntry> {
        self.sinks
            .get_mut(i)
            .and_then(|sink| offer(sink, message, counters))
            .into_iter()
            .collect()
    }

    /// The configured sinks.
    pub fn sinks(&self) -> impl Iterator<Item = &NotifySink> {
        self.sinks.iter().map(|s| &s.config)
    }
}

/// `message` for `sink` with the next seq, unless its backlog is full (then counted, logged).
fn offer(sink: &mut Sink, message: &Message, counters: &mut Counters) -> Option<NotifyEntry> {
    let name = &sink.config.name;
    if sink.backlog.get() >= sink.config.max_backlog {
        *counters.notify_dropped.entry(name.clone()).or_default() += 1;
        crate::metrics::notification_dropped(name, 1);
        warn!(
            sink = %name,
            id = %message.id,
            kind = message.kind.as_str(),
            max_backlog = sink.config.max_backlog,
            "notification dropped: the sink's backlog is full (it has not accepted messages for a while)"
        );
        return None;
    }
    sink.backlog.add();
    crate::metrics::notify_backlog(name, sink.backlog.get());
    let seq = counters.next_notify_seq;
    counters.next_notify_seq += 1;
    Some(NotifyEntry {
        sink: name.clone(),
        seq,
        message: message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::{LoadOptions, Settings};

    fn sinks(extra: &str) -> Vec<NotifySink> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"U\"\n{extra}\n\
                 [[notify]]\nname = \"b\"\nkind = \"slack\"\nurl_env = \"U\"\non = [\"open\"]\n"
            ),
        )
        .expect("write");
        Settings::load(LoadOptions {
            file: Some(path),
            env: vec![("U".into(), "http://127.0.0.1:9/".into())],
        })
        .expect("valid")
        .notify
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("time")
    }

    fn notifier(extra: &str) -> (tempfile::TempDir, Notifier) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("s")).expect("store");
        let notifier = Notifier::offline(&sinks(extra), &store).expect("notifier");
        (dir, notifier)
    }

    #[test]
    fn daily_summaries_start_the_day_after_the_first_run_and_come_once_a_day() {
        let (_dir, n) = notifier("daily_at = \"08:30\"");
        let mut counters = Counters::default();
        // First start after today's time: nothing for today (it was over before the bot ran).
        assert!(n
            .daily_due(at("2026-12-01T09:00:00Z"), &mut counters)
            .is_empty());
        assert_eq!(counters.notify_daily["a"], "2026-12-01");
        assert!(
            !counters.notify_daily.contains_key("b"),
            "b does not want daily"
        );
        assert!(n
            .daily_due(at("2026-12-02T08:29:59Z"), &mut counters)
            .is_empty());
        let due = n.daily_due(at("2026-12-02T08:30:00Z"), &mut counters);
        assert_eq!(due.len(), 1);
        let mut n = n;
        let summary = DailySummary {
            date: "2026-12-02".into(),
            starting_bankroll: 1.into(),
            cash: 1.into(),
            equity: 1.into(),
            pnl: 0.into(),
            realized_pnl: 0.into(),
            fees: 0.into(),
            trades: 0,
            open_positions: 0,
        };
        let entries = n.daily(&due, summary, at("2026-12-02T08:30:00Z"), &mut counters);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].sink, "a");
        assert!(n
            .daily_due(at("2026-12-02T23:00:00Z"), &mut counters)
            .is_empty());
        // A bot down at the time catches up when it comes back the same day.
        assert_eq!(
            n.daily_due(at("2026-12-03T12:00:00Z"), &mut counters).len(),
            1
        );
        // First start before today's time: today's summary comes at its time.
        let (_dir, n) = notifier("daily_at = \"08:30\"");
        let mut counters = Counters::default();
        assert!(n
            .daily_due(at("2026-12-01T07:00:00Z"), &mut counters)
            .is_empty());
        assert_eq!(
            n.daily_due(at("2026-12-01T08:31:00Z"), &mut counters).len(),
            1
        );
    }

    #[test]
    fn a_full_backlog_drops_and_counts_and_seqs_are_one_sequence() {
        let (_dir, mut n) = notifier("max_backlog = 2");
        let mut counters = Counters::default();
        let message = Message::test(at("2026-12-01T00:00:00Z"));
        let first = n.messages(NotifyOn::Open, &message, &mut counters);
        assert_eq!(
            first
                .iter()
                .map(|e| (e.sink.as_str(), e.seq))
                .collect::<Vec<_>>(),
            [("a", 0), ("b", 1)]
        );
        n.messages(NotifyOn::Open, &message, &mut counters);
        let third = n.messages(NotifyOn::Open, &message, &mut counters);
        assert_eq!(third.len(), 1, "a is full at 2, b (10000) is not");
        assert_eq!(third[0].sink, "b");
        assert_eq!(counters.notify_dropped["a"], 1);
        // `b` does not want closes.
        let closes = n.messages(NotifyOn::Close, &message, &mut counters);
        assert!(closes.is_empty());
        assert_eq!(counters.notify_dropped["a"], 2);
    }

    #[test]
    fn one_feed_alarm_per_outage() {
        let (_dir, mut n) = notifier("feed_down_after = \"1m\"");
        let mut counters = Counters::default();
        let last = at("2026-12-01T00:00:00Z");
        assert!(n
            .feed_down(last, at("2026-12-01T00:00:59Z"), &mut counters)
            .is_empty());
        let alarm = n.feed_down(last, at("2026-12-01T00:01:00Z"), &mut counters);
        assert_eq!(alarm.len(), 1, "only a wants errors");
        assert_eq!(
            alarm[0].message.error.as_ref().map(|e| e.code.as_str()),
            Some("feed_down")
        );
        assert!(n
            .feed_down(last, at("2026-12-01T00:05:00Z"), &mut counters)
            .is_empty());
        // Events came back, then stopped again: a new outage, a new alarm with a new id.
        let later = at("2026-12-01T01:00:00Z");
        let again = n.feed_down(later, at("2026-12-01T01:02:00Z"), &mut counters);
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].message.id, alarm[0].message.id);
    }
}
