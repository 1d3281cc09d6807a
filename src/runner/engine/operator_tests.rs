//! The engine's operator side with a real store and writer: a daily summary is persisted at
//! its time with the day's figures; an operator action is journaled and its pause persisted.

use std::sync::{Arc, Mutex};

use strategies::{Control, Core, CoreConfig, Outcome, Timestamp};

use crate::notify::outbox::Notifier;
use crate::notify::MessageKind;
use crate::store::{Committer, Counters, Store};

struct ManualClock(Mutex<Timestamp>);

impl crate::clock::Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("time")
}

fn sinks() -> Vec<crate::configuration::NotifySink> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"U\"\ndaily_at = \"08:30\"\non = [\"daily\"]\n",
    )
    .expect("write");
    crate::configuration::Settings::load(crate::configuration::LoadOptions {
        file: Some(path),
        env: vec![("U".into(), "http://127.0.0.1:9/".into())],
    })
    .expect("valid")
    .notify
}

#[test]
fn the_daily_summary_and_operator_actions_are_persisted_through_the_writer() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("s")).expect("store");
    let clock = Arc::new(ManualClock(Mutex::new(at("2026-12-01T09:00:00Z"))));
    let (committer, mut reports) = Committer::start(store.clone());
    let (cursor_tx, _cursor_rx) = tokio::sync::watch::channel(None);
    let mut engine = super::Engine::new(
        Core::new(CoreConfig::default()),
        store.clone(),
        committer,
        clock.clone(),
        Counters::default(),
        cursor_tx,
        None,
    );
    engine.set_notifier(Notifier::offline(&sinks(), &store).expect("notifier"));
    engine.write_initial_totals();
    engine.notify_tick().expect("tick");
    assert!(
        engine.batch.notify.is_empty(),
        "no summary for a day already over"
    );
    engine.on_control(&Control::Pause, None);
    *clock.0.lock().unwrap_or_else(|e| e.into_inner()) = at("2026-12-02T08:30:05Z");
    engine.notify_tick().expect("tick");
    assert_eq!(engine.batch.notify.len(), 1);
    engine.notify_tick().expect("tick");
    assert_eq!(engine.batch.notify.len(), 1, "once a day");
    engine.close(&mut reports).expect("close");

    let backlog = store.notify_backlog("a").expect("backlog");
    assert_eq!(backlog.len(), 1);
    let message = &backlog[0].1;
    assert_eq!(message.kind, MessageKind::Daily);
    assert_eq!(message.id, "msg_daily_2026-12-02");
    let summary = message.summary.as_ref().expect("summary");
    assert_eq!(summary.equity, rust_decimal::Decimal::from(10_000));
    assert_eq!((summary.trades, summary.open_positions), (0, 0));
    let loaded = store.load().expect("load");
    assert!(loaded.halted, "the pause is persisted");
    assert_eq!(loaded.counters.notify_daily["a"], "2026-12-02");
    assert_eq!(loaded.counters.next_notify_seq, 1);
    let decisions: Vec<_> = store
        .decisions()
        .collect::<Result<_, _>>()
        .expect("decisions");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision.outcome, Outcome::Control);
    let events: Vec<_> = store.events().collect::<Result<_, _>>().expect("events");
    assert_eq!(events[0].event_type, "control");
    assert_eq!(events[0].data, r#"{"action":"pause"}"#);
}
