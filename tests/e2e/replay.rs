//! Record, replay and sweep with the real binary: a live run's events exported and replayed
//! with the same config reproduce that run's decisions and trades exactly; `sim --record`,
//! `replay` and `sweep` work end to end and refuse bad input with the documented exit codes.

use std::collections::BTreeMap;

use shiftbot::configuration::{LoadOptions, Settings};
use shiftbot::replay::cli::replay_options;
use shiftbot::replay::{replay, ReplayOptions, Tape};
use shiftbot::store::Store;
use strategies::Trade;

use crate::support::{model_price_shifts, Setup, TestApp};

/// The settings the bot ran with, as `replay --config FILE` loads them.
fn settings_of(app: &TestApp) -> Settings {
    Settings::load(LoadOptions {
        file: app.config_path.clone(),
        env: Vec::new(),
    })
    .expect("the test config is valid")
}

/// `(event id, outcome, reason, decided_at)` of every decision in the store, in order made.
type Row = (String, String, String, String);

fn live_decisions(store: &Store) -> Vec<Row> {
    store
        .decisions()
        .map(|record| {
            let d = record.expect("readable decision").decision;
            (
                d.event_id,
                d.outcome.as_str().to_string(),
                d.reason,
                d.decided_at.to_rfc3339(),
            )
        })
        .collect()
}

/// Run the bot on a burst of model price shifts with signals concurrently in flight, then
/// replay what it recorded and compare everything.
#[test]
fn replaying_a_live_runs_events_reproduces_its_decisions_and_trades() {
    let script = model_price_shifts(11, 16, 400, 0);
    let n = script.len();
    assert!(n >= 300, "the model produced {n} price shifts");
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 400)
        .set("filter.min_shift_pct", 2)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .set("signal.max_in_flight", 8)
        .set("signal.risk_limit", "high")
        .spawn();
    let bot = {
        let mut bot = app.start();
        bot.wait_for_decisions(n);
        bot
    };
    bot.terminate();

    let (code, recording, stderr) = app.output(&["export-events"]);
    assert_eq!(code, 0, "export-events failed: {stderr}");
    assert_eq!(recording.lines().count(), n);
    let recording_path = app.dir.path().join("events.ndjson");
    std::fs::write(&recording_path, &recording).expect("write the recording");

    let settings = settings_of(&app);
    let tape = Tape::read(recording.as_bytes(), "export").expect("the export reads back");
    assert!(
        tape.signalled() > 20,
        "{} signalled events: {:?}",
        tape.signalled(),
        replay(&tape, settings.core_config(), &ReplayOptions::default()).tally
    );
    let options = ReplayOptions {
        keep_decisions: true,
        ..replay_options(&settings)
    };
    let run = replay(&tape, settings.core_config(), &options);

    let store = Store::open(&app.store_path).expect("the bot has stopped");
    let live = live_decisions(&store);
    let live_trades: Vec<Trade> = store.trades().map(|t| t.expect("readable trade")).collect();
    drop(store);
    assert_eq!(live.len(), n, "one decision per event");
    assert!(
        live_trades.len() >= 5,
        "the live run traded {} times",
        live_trades.len()
    );

    // Event id → outcome, the whole decision, in the order made; then every field of every
    // trade.
    let outcome_by_id = |rows: &[Row]| -> BTreeMap<String, String> {
        rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect()
    };
    let replayed: Vec<Row> = run
        .decisions
        .iter()
        .map(|d| {
            (
                d.event_id.clone(),
                d.outcome.as_str().to_string(),
                d.reason.clone(),
                d.decided_at.to_rfc3339(),
            )
        })
        .collect();
    assert_eq!(outcome_by_id(&replayed), outcome_by_id(&live));
    for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
        assert_eq!(live, replayed, "decision #{i} differs");
    }
    assert_eq!(replayed.len(), live.len());
    assert_eq!(run.trades, live_trades);
    assert_eq!(
        run.fallback_replies, 0,
        "every signal request had its reply"
    );

    // The command line gives the same book.
    let (code, text, stderr) = app.output(&[
        "replay",
        "--events",
        recording_path.to_str().expect("UTF-8 temp path"),
        "--json",
    ]);
    assert_eq!(code, 0, "replay failed: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(report["events"], n);
    assert_eq!(report["decisions"]["total"], n);
    assert_eq!(report["book"]["trades"]["total"], live_trades.len());
    let cash = live_trades.last().map(|t| t.cash_after.to_string());
    assert_eq!(report["book"]["cash"].as_str(), cash.as_deref());
}
