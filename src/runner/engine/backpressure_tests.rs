//! Backpressure with a real store and writer: the engine refuses more events past
//! [`MAX_UNFLUSHED_EVENTS`] until the writer reports them durable, and while retention says
//! it is far behind.

use std::time::Instant;

use strategies::{Core, CoreConfig};

use super::{Engine, MAX_UNFLUSHED_EVENTS};
use crate::feed::RawEvent;
use crate::store::{Committer, Counters, Store, WriterEvent};

fn raw(n: usize) -> RawEvent {
    RawEvent {
        id: Some(format!("ev-{n}")),
        sse_event: None,
        data: format!(
            r#"{{"type":"price_shift","platform":"kalshi","market_id":"KX{}","old_yes":0.40,"new_yes":0.41,"change_pct":2.5}}"#,
            n % 50
        ),
        received_at: chrono::Utc::now(),
    }
}

#[test]
fn intake_waits_past_the_unflushed_bound_until_durable_and_while_retention_is_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("s")).expect("store");
    let (committer, mut reports) = Committer::start(store.clone());
    let (cursor_tx, _cursor_rx) = tokio::sync::watch::channel(None);
    let mut engine = Engine::new(
        Core::new(CoreConfig::default()),
        store.clone(),
        committer,
        crate::clock::system(),
        Counters::default(),
        cursor_tx,
        None,
    );
    for n in 0..MAX_UNFLUSHED_EVENTS {
        assert!(engine.has_room(), "room for event {n}");
        engine.on_raw(raw(n), Instant::now()).expect("decided");
    }
    assert!(!engine.has_room(), "full: nothing is durable yet");
    engine.submit();
    assert!(!engine.has_room(), "handed to the writer is not durable");
    while !engine.has_room() {
        match reports.blocking_recv() {
            Some(WriterEvent::Durable(n)) => engine.on_durable(n),
            other => panic!("the writer failed: {other:?}"),
        }
    }
    assert!(engine.settled());

    let (behind_tx, behind_rx) = tokio::sync::watch::channel(false);
    engine.set_retention_behind(behind_rx);
    assert!(engine.has_room());
    behind_tx.send_replace(true);
    assert!(!engine.has_room(), "retention far behind");
    behind_tx.send_replace(false);
    assert!(engine.has_room(), "retention caught up");
    engine.close(&mut reports).expect("close");
    assert_eq!(store.decisions().count(), MAX_UNFLUSHED_EVENTS);
}
