//! A server that drops the connection mid-stream and redelivers on reconnect: nothing lost,
//! nothing doubled, and every reconnect resumes from a persisted event id.

use std::collections::{BTreeMap, BTreeSet};

use shiftbot::sim::{Faults, StreamFormat};

use crate::support::{ids, model_price_shifts, Setup};

/// Abort each stream connection after this many events...
const DROP_AFTER: u64 = 7;
/// ...and resend this many before the `Last-Event-ID` on every reconnect.
const REDELIVER: u64 = 3;

fn drops_and_redelivery_lose_and_double_nothing(format: StreamFormat) {
    let script = model_price_shifts(7, 12, 90, 0);
    let script_ids = ids(&script);
    let n = script_ids.len();
    assert!(n >= 40, "the model produced {n} price shifts");
    let mut app = Setup::new(script)
        .sim(|sim| sim.format = format)
        .faults(Faults {
            drop_after: Some(DROP_AFTER),
            redeliver: REDELIVER,
            ..Faults::default()
        })
        .set("filter.min_shift_pct", 1)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .spawn();
    let stats = app.sim_stats();

    let mut bot = app.start();
    let logged = bot.wait_for_decisions(n);
    let finished = bot.terminate();

    // The faults really happened: many connections, events sent more than once, and the bot
    // recognised the copies.
    let connections = stats.stream_connections();
    assert!(
        connections >= (n as u64).div_ceil(DROP_AFTER),
        "{connections} connections for {n} events"
    );
    assert!(stats.events_sent() > n as u64);
    let duplicates = finished.stop_line()["duplicates"]
        .as_u64()
        .expect("duplicates counter");
    assert!(duplicates > 0, "no redelivered copy reached the bot");
    assert_eq!(
        finished.stop_line()["received"].as_u64(),
        Some(n as u64),
        "every event received exactly once"
    );

    // Exactly one decision per event id, in the log and in the store.
    assert_eq!(logged.len(), n, "decisions logged: {}", logged.len());
    let decisions = app.decisions();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for decision in &decisions {
        *count.entry(decision.event_id.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = script_ids.iter().map(|id| (id.as_str(), 1)).collect();
    assert_eq!(count, expected);

    // No trade doubled: one entry per traded decision, trade ids dense.
    let ledger = app.ledger();
    let traded: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d.outcome == "traded")
        .map(|d| d.event_id.as_str())
        .collect();
    let opened: Vec<&str> = ledger
        .iter()
        .filter(|t| t.is_open())
        .map(|t| t.event_id.as_str())
        .collect();
    assert!(
        !traded.is_empty(),
        "the session must trade for this test to mean anything"
    );
    assert_eq!(opened.len(), traded.len(), "{opened:?} vs {traded:?}");
    assert_eq!(opened.iter().copied().collect::<BTreeSet<_>>(), traded);
    for (index, trade) in ledger.iter().enumerate() {
        assert_eq!(trade.trade_id, index as u64 + 1);
    }

    // Every reconnect resumed from a persisted id, never going backwards.
    let resumed = stats.last_event_ids();
    assert_eq!(resumed.len() as u64, connections);
    assert_eq!(resumed[0], None, "the first connection starts from scratch");
    let position: BTreeMap<&str, usize> = script_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut previous = 0;
    for id in &resumed[1..] {
        let id = id.as_deref().expect("every reconnect sends Last-Event-ID");
        let at = *position
            .get(id)
            .unwrap_or_else(|| panic!("Last-Event-ID {id:?} is not an event id"));
        assert!(count.contains_key(id), "{id} was never persisted");
        assert!(at >= previous, "Last-Event-ID went backwards: {resumed:?}");
        previous = at;
    }
}

#[test]
fn sse_drops_and_redelivery_lose_and_double_nothing() {
    drops_and_redelivery_lose_and_double_nothing(StreamFormat::Sse);
}

#[test]
fn json_lines_drops_and_redelivery_lose_and_double_nothing() {
    drops_and_redelivery_lose_and_double_nothing(StreamFormat::Lines);
}
