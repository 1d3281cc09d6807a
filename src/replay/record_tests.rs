use rust_decimal_macros::dec;
use serde_json::json;
use strategies::{Decision, Platform, Side, SignalReply, Trade, TradeAction};

use super::*;
use crate::replay::tape::Tape;
use crate::replay::test_support::at;
use crate::store::Batch;

const QUOTA: &str = "signal quota exhausted until 2026-01-02T00:00:00Z";

fn event(seq: u64, data: &str, millis: i64) -> EventRecord {
    EventRecord {
        seq,
        id: format!("e{seq}"),
        server_id: Some(format!("e{seq}")),
        event_type: "price_shift".to_string(),
        sse_event: Some("price_shift".to_string()),
        data: data.to_string(),
        received_at: at(millis),
        source: None,
    }
}

fn decision(
    seq: u64,
    event: &EventRecord,
    outcome: Outcome,
    reason: &str,
    millis: i64,
) -> DecisionRecord {
    DecisionRecord {
        seq,
        event_seq: event.seq,
        decision: Decision {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            market: None,
            outcome,
            reason: reason.to_string(),
            decided_at: at(millis),
            signal: None,
            trades: Vec::new(),
        },
        signal_raw: None,
    }
}

fn close_trade() -> Trade {
    Trade {
        trade_id: 7,
        event_id: "e2".into(),
        platform: Platform::Kalshi,
        market_id: "K".into(),
        side: Side::Yes,
        action: TradeAction::Close,
        contracts: 10,
        price: dec!(0.5),
        win_probability: None,
        cost: dec!(5),
        fee: dec!(0.18),
        cash_before: dec!(100),
        cash_after: dec!(104.82),
        realized_pnl: Some(dec!(1.00)),
        placed_at: at(3_000),
    }
}

const SHIFT: &str = r#"{"type":"price_shift","platform":"kalshi","market_id":"K","old_yes":0.50,"new_yes":0.56,"change_pct":12}"#;

/// A store holding one event of every kind the export distinguishes.
fn store_with_history(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("store")).expect("open store");
    let events: Vec<EventRecord> = vec![
        event(0, SHIFT, 0),
        event(1, SHIFT, 1_000),
        event(2, SHIFT, 2_000),
        event(3, SHIFT, 4_000),
        event(4, "not json at all", 5_000),
        event(5, SHIFT, 6_000),
    ];
    let immediate = decision(0, &events[0], Outcome::BelowThreshold, "|change| small", 0);
    let mut signalled = decision(
        1,
        &events[1],
        Outcome::NoTrade,
        "signal recommends NO_TRADE",
        1_250,
    );
    signalled.signal_raw =
        Some(json!({"recommendation":"NO_TRADE","edge":0.01,"extra":[1]}).into());
    let mut failed = decision(
        2,
        &events[2],
        Outcome::SignalError,
        &format!("{QUOTA}; closed kalshi/K yes x10 @ 0.5 on max_hold (realized 1.00)"),
        3_000,
    );
    failed.decision.trades.push(close_trade());
    let paused = decision(
        3,
        &events[3],
        Outcome::SignalError,
        &format!("signals paused until 2026-01-02T00:00:00+00:00: {QUOTA}"),
        4_000,
    );
    let garbage = decision(
        4,
        &events[4],
        Outcome::Invalid,
        "payload is not JSON",
        5_000,
    );
    // events[5] waits in the inbox: no decision yet.
    let batch = Batch {
        events,
        decisions: vec![immediate, signalled, failed, paused, garbage],
        ..Batch::default()
    };
    store.commit(&batch).expect("commit");
    store
}

fn exported(store: &Store, since: Option<Timestamp>) -> (ExportStats, Vec<RecordLine>, String) {
    let mut out = Vec::new();
    let stats = export_events(store, since, &mut out).expect("export");
    let text = String::from_utf8(out).expect("UTF-8");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record line"))
        .collect();
    (stats, lines, text)
}

#[test]
fn every_event_is_exported_with_the_signal_its_decision_was_based_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_history(dir.path());
    let (stats, lines, text) = exported(&store, None);
    assert_eq!(
        stats,
        ExportStats {
            events: 6,
            signalled: 2,
            settlements: 0,
        }
    );
    let ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4", "e5"]);
    // The five named fields are always there, `signal` as null when there is none.
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        first,
        json!({
            "id": "e0",
            "type": "price_shift",
            "data": {"type":"price_shift","platform":"kalshi","market_id":"K",
                     "old_yes":0.50,"new_yes":0.56,"change_pct":12},
            "received_at": "2026-01-01T00:00:00Z",
            "signal": null,
        })
    );
    assert_eq!(
        lines[1].signal,
        Some(json!({"recommendation":"NO_TRADE","edge":0.01,"extra":[1]}).into())
    );
    assert_eq!(lines[1].signal_at, Some(at(1_250)));
    assert_eq!(lines[1].signal_error, None);
    // The failure's reason without the exit notes, and the pause it caused.
    assert_eq!(lines[2].signal, None);
    assert_eq!(lines[2].signal_at, Some(at(3_000)));
    assert_eq!(lines[2].signal_error.as_deref(), Some(QUOTA));
    assert_eq!(lines[2].signal_pause_until, Some(at(86_400_000)));
    // A refusal during the pause was never signalled.
    assert_eq!((lines[3].signal_at, &lines[3].signal_error), (None, &None));
    // A payload that is not a JSON object is kept as its text.
    assert_eq!(lines[4].data, json!("not json at all").into());
    assert_eq!(lines[5].signal_at, None);
}

#[test]
fn since_keeps_the_events_received_from_then_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_history(dir.path());
    let (stats, lines, _) = exported(&store, Some(at(2_000)));
    assert_eq!(stats.events, 4);
    assert_eq!(lines.first().map(|l| l.id.as_str()), Some("e2"));
}

#[test]
fn an_export_reads_back_as_a_tape_with_the_live_replies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_history(dir.path());
    let (_, _, text) = exported(&store, None);
    let tape = Tape::read(text.as_bytes(), "export").expect("readable");
    assert_eq!(tape.len(), 6);
    assert!(matches!(
        tape.reply(1).map(|r| r.reply),
        Some(SignalReply::Signal(_))
    ));
    assert_eq!(
        tape.reply(2).map(|r| r.reply),
        Some(SignalReply::Failed {
            reason: QUOTA.to_string(),
            pause_until: Some(at(86_400_000)),
        })
    );
    assert_eq!(tape.signalled(), 2);
}

#[test]
fn payloads_round_trip_through_the_data_field() {
    for payload in [SHIFT, "not json", "[1,2]", "\"a string\"", "42", "{}"] {
        let value = payload_value(payload);
        assert_eq!(
            value.value().is_object(),
            payload.starts_with('{'),
            "{payload}: {value}"
        );
        let again = payload_text(value.raw()).expect("payload");
        let reparsed = serde_json::from_str::<serde_json::Value>(&again).ok();
        let original = serde_json::from_str::<serde_json::Value>(payload).ok();
        assert_eq!(reparsed, original, "{payload}");
    }
}

#[test]
fn close_notes_are_stripped_from_the_right() {
    assert_eq!(strip_close_notes("boom", 0), "boom");
    assert_eq!(strip_close_notes("boom; closed a; closed b", 2), "boom");
    assert_eq!(
        strip_close_notes("boom; closed a; closed b", 1),
        "boom; closed a"
    );
    assert_eq!(strip_close_notes("boom", 3), "boom");
}

fn settle_trade(trade_id: u64, event_id: &str, side: Side, price: rust_decimal::Decimal) -> Trade {
    Trade {
        trade_id,
        event_id: event_id.into(),
        action: TradeAction::Settle,
        side,
        price,
        ..close_trade()
    }
}

/// [`store_with_history`] plus a close (not a settlement), a settlement of both sides held
/// between e2 (2 s) and e3 (4 s), and one after the last event.
fn store_with_settlements(dir: &std::path::Path) -> Store {
    let store = store_with_history(dir);
    let between = at(3_000) + chrono::Duration::nanoseconds(7);
    let mut trades = vec![
        close_trade(),
        settle_trade(8, "manual-settle:kalshi/K", Side::Yes, dec!(1)),
        settle_trade(9, "manual-settle:kalshi/K", Side::No, dec!(0)),
        settle_trade(10, "resolution:kalshi/K:finalized", Side::Yes, dec!(0)),
    ];
    trades[1].placed_at = between;
    trades[2].placed_at = between;
    trades[3].placed_at = at(9_000);
    store
        .commit(&Batch {
            trades,
            ..Batch::default()
        })
        .expect("commit");
    store
}

#[test]
fn settlements_are_exported_among_the_events_at_their_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_settlements(dir.path());
    let mut out = Vec::new();
    let stats = export_events(&store, None, &mut out).expect("export");
    let text = String::from_utf8(out).expect("UTF-8");
    assert_eq!(
        stats,
        ExportStats {
            events: 6,
            signalled: 2,
            settlements: 2,
        }
    );
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l).expect("JSON");
            value["id"].as_str().expect("an id").to_string()
        })
        .collect();
    assert_eq!(
        ids,
        [
            "e0",
            "e1",
            "e2",
            "manual-settle:kalshi/K",
            "e3",
            "e4",
            "e5",
            "resolution:kalshi/K:finalized"
        ]
    );
    // The documented line, byte for byte: both sides settled at once are one line, YES won.
    assert_eq!(
        text.lines().nth(3),
        Some(
            "{\"id\":\"manual-settle:kalshi/K\",\"type\":\"settlement\",\
             \"data\":{\"market\":\"kalshi/K\",\"winner\":\"yes\"},\
             \"received_at\":\"2026-01-01T00:00:03.000000007Z\",\"signal\":null,\
             \"settlement\":{\"market\":\"kalshi/K\",\"winner\":\"yes\"}}"
        )
    );
    // The YES held was paid 0 at the end: NO won.
    assert!(text
        .lines()
        .last()
        .is_some_and(|l| l.contains("\"winner\":\"no\"}}")));

    // Read back: six events, and the settlements where they were.
    let tape = Tape::read(text.as_bytes(), "export").expect("readable");
    assert_eq!(tape.len(), 6);
    let placed: Vec<(usize, &str, Side)> = tape
        .settlements()
        .iter()
        .map(|p| (p.position, p.settlement.id.as_str(), p.settlement.winner))
        .collect();
    assert_eq!(
        placed,
        vec![
            (3, "manual-settle:kalshi/K", Side::Yes),
            (6, "resolution:kalshi/K:finalized", Side::No),
        ]
    );
}

#[test]
fn since_treats_settlements_like_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_settlements(dir.path());
    let (stats, _, text) = {
        let mut out = Vec::new();
        let stats = export_events(&store, Some(at(3_500)), &mut out).expect("export");
        (stats, (), String::from_utf8(out).expect("UTF-8"))
    };
    assert_eq!((stats.events, stats.settlements), (3, 1));
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["id"], "e3");
    // From the settlement's own time on, it is in.
    let mut out = Vec::new();
    let stats = export_events(
        &store,
        Some(at(3_000) + chrono::Duration::nanoseconds(7)),
        &mut out,
    )
    .expect("export");
    assert_eq!((stats.events, stats.settlements), (3, 2));
}

#[test]
fn a_settle_trade_that_hides_its_winner_fails_the_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_history(dir.path());
    store
        .commit(&Batch {
            trades: vec![settle_trade(
                8,
                "manual-settle:kalshi/K",
                Side::Yes,
                dec!(0.5),
            )],
            ..Batch::default()
        })
        .expect("commit");
    let err = export_events(&store, None, &mut Vec::new()).expect_err("unknown winner");
    assert!(
        matches!(&err, ExportError::Settlement(m) if m.contains("paid 0.5")),
        "{err}"
    );
}
