//! Record, replay and sweep with the real binary: a live run's events exported and replayed
//! with the same config reproduce that run's decisions and trades exactly, settlements
//! included; `sim --record`, `replay` and `sweep` work end to end and refuse bad input with
//! the documented exit codes.

use std::collections::BTreeMap;

use shiftbot::configuration::{LoadOptions, Settings};
use shiftbot::replay::cli::replay_options;
use shiftbot::replay::{replay, ReplayOptions, Tape};
use shiftbot::store::Store;
use strategies::{Trade, TradeAction};

use crate::support::{model_price_shifts, scripted_sim, Setup, TestApp};

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

/// The settings of a live run that replay has to reproduce: signals concurrently in flight,
/// no cooldown, no staleness, many trades.
pub fn busy(setup: Setup) -> Setup {
    setup
        .sim(|sim| sim.events_per_second = 400)
        .set("filter.min_shift_pct", 2)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .set("signal.max_in_flight", 8)
        .set("signal.risk_limit", "high")
}

/// Export the stopped bot's store, replay it with the bot's own config, and assert that the
/// replay made every decision (whole, in the order made) and every trade (every field) the
/// live run made, and that `shiftbot replay --json` reports the same book. Returns the export
/// and the live trades.
pub fn assert_replay_reproduces_the_store(app: &TestApp) -> (String, Vec<Trade>) {
    let (code, recording, stderr) = app.output(&["export-events"]);
    assert_eq!(code, 0, "export-events failed: {stderr}");
    let recording_path = app.dir.path().join("events.ndjson");
    std::fs::write(&recording_path, &recording).expect("write the recording");

    let settings = settings_of(app);
    let tape = Tape::read(recording.as_bytes(), "export").expect("the export reads back");
    let options = ReplayOptions {
        keep_decisions: true,
        ..replay_options(&settings)
    };
    let run = replay(&tape, settings.core_config(), &options);

    let store = Store::open(&app.store_path).expect("the bot has stopped");
    let live = live_decisions(&store);
    let live_trades: Vec<Trade> = store.trades().map(|t| t.expect("readable trade")).collect();
    drop(store);
    assert_eq!(live.len(), tape.len(), "one decision per exported event");

    // Event id → outcome first (the criterion), then every decision whole, in the
    // order made, then every field of every trade.
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
    let outcomes = |rows: &[Row]| -> BTreeMap<String, String> {
        rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect()
    };
    let (live_outcomes, replayed_outcomes) = (outcomes(&live), outcomes(&replayed));
    let differing: Vec<String> = live_outcomes
        .iter()
        .filter(|(id, outcome)| replayed_outcomes.get(*id) != Some(outcome))
        .map(|(id, outcome)| {
            format!(
                "{id}: live {outcome}, replay {:?}",
                replayed_outcomes.get(id)
            )
        })
        .collect();
    assert!(
        differing.is_empty() && live_outcomes.len() == replayed_outcomes.len(),
        "{} of {} outcomes differ, e.g. {:?}",
        differing.len(),
        live_outcomes.len(),
        &differing[..differing.len().min(5)]
    );
    assert_eq!(replayed.len(), live.len());
    for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
        assert_eq!(live, replayed, "decision #{i} differs");
    }
    assert_eq!(run.trades.len(), live_trades.len());
    for (i, (live, replayed)) in live_trades.iter().zip(&run.trades).enumerate() {
        assert_eq!(live, replayed, "trade #{i} differs");
    }
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
    assert_eq!(report["events"], tape.len());
    assert_eq!(report["decisions"]["total"], tape.len());
    assert_eq!(report["book"]["trades"]["total"], live_trades.len());
    let settles = live_trades
        .iter()
        .filter(|t| t.action == TradeAction::Settle)
        .count();
    assert_eq!(report["book"]["trades"]["settle"], settles);
    let cash = live_trades.last().map(|t| t.cash_after.to_string());
    assert_eq!(report["book"]["cash"].as_str(), cash.as_deref());
    (recording, live_trades)
}

/// Run the bot on a burst of model price shifts with signals concurrently in flight, then
/// replay what it recorded and compare everything.
///
/// Replay orders a signal reply before an event exactly when its decision time (`signal_at`)
/// is not after the event's `received_at`. So this holds only if the live engine's decision
/// times strictly increase in the order it makes decisions — which a feed timestamp taken
/// before an event waits in the channel breaks when a signal reply is handled meanwhile.
#[test]
fn replaying_a_live_runs_events_reproduces_its_decisions_and_trades() {
    let script = model_price_shifts(11, 16, 400, 0);
    let n = script.len();
    assert!(n >= 300, "the model produced {n} price shifts");
    let mut app = busy(Setup::new(script)).spawn();
    let bot = {
        let mut bot = app.start();
        bot.wait_for_decisions(n);
        bot
    };
    bot.terminate();

    let (recording, live_trades) = assert_replay_reproduces_the_store(&app);
    assert_eq!(recording.lines().count(), n);
    let tape = Tape::read(recording.as_bytes(), "export").expect("the export reads back");
    assert!(
        tape.signalled() > 20,
        "{} signalled events: {:?}",
        tape.signalled(),
        replay(
            &tape,
            settings_of(&app).core_config(),
            &ReplayOptions::default()
        )
        .tally
    );
    assert!(
        live_trades.len() >= 5,
        "the live run traded {} times",
        live_trades.len()
    );
}

/// A live run that settled: the bot trades the first half of a stream and stops holding
/// positions, `shiftbot settle` pays one of them out, the bot restarts and trades the rest
/// (sized on the cash after the payout). The export carries the settlement, and replaying it
/// with the same config reproduces every decision and every trade, settle trades included.
#[test]
fn replaying_a_live_run_that_settled_reproduces_its_settle_trades() {
    let script = model_price_shifts(11, 16, 400, 0);
    let n = script.len();
    let half = n / 2;
    let mut app = busy(Setup::new(script[..half].to_vec())).spawn();
    let bot = {
        let mut bot = app.start();
        bot.wait_for_decisions(half);
        bot
    };
    bot.terminate();

    let store = Store::open(&app.store_path).expect("the bot has stopped");
    let held = store.positions().expect("readable positions");
    drop(store);
    let position = held.first().expect("the first half left a position open");
    let market = position.market.to_string();
    let (code, out, stderr) = app.output(&["settle", &market, position.side.as_str()]);
    assert_eq!(code, 0, "settle failed: {stderr}");
    assert!(out.starts_with(&format!("settled {market}")), "{out}");

    // The same stream, whole: the bot resumes after the last event it decided.
    let mut sim = scripted_sim(script);
    sim.events_per_second = 400;
    app.switch_sim(sim);
    let bot = {
        let mut bot = app.start();
        bot.wait_for_decisions(n - half);
        bot
    };
    bot.terminate();

    let (recording, live_trades) = assert_replay_reproduces_the_store(&app);
    assert_eq!(
        recording.lines().count(),
        n + 1,
        "the events and one settlement"
    );
    let settlement: serde_json::Value = recording
        .lines()
        .nth(half)
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a JSON line after the first half");
    assert_eq!(settlement["id"], format!("manual-settle:{market}"));
    assert_eq!(
        settlement["settlement"],
        serde_json::json!({"market": market, "winner": position.side.as_str()})
    );
    let settled = live_trades
        .iter()
        .position(|t| t.action == TradeAction::Settle)
        .expect("a settle trade in the ledger");
    assert_eq!(
        live_trades[settled].contracts, position.contracts,
        "the whole position was paid out"
    );
    assert!(
        live_trades[settled + 1..]
            .iter()
            .any(|t| t.action == TradeAction::Open),
        "the bot traded again after the settlement"
    );
}

/// `sim --record`, then `replay` and `sweep` on the recording, through the real binary.
#[test]
fn a_recorded_session_replays_and_sweeps_from_the_command_line() {
    let app = Setup::embedded_default().spawn();
    let dir = app.dir.path();
    let (code, stdout, stderr) =
        app.output(&["sim", "--record", "events.ndjson", "--events", "600"]);
    assert_eq!(code, 0, "sim --record failed: {stderr}");
    assert!(stdout.starts_with("recorded 600 events ("), "{stdout}");
    let recording = std::fs::read_to_string(dir.join("events.ndjson")).expect("recorded file");
    let settlements = recording
        .lines()
        .filter(|l| l.contains("\"settlement\":{"))
        .count();
    assert_eq!(recording.lines().count(), 600 + settlements);
    assert!(
        stdout.contains(&format!("and {settlements} settlements to")),
        "{stdout}"
    );

    let (code, text, stderr) = app.output(&["replay", "--events", "events.ndjson"]);
    assert_eq!(code, 0, "replay failed: {stderr}");
    assert!(
        text.starts_with("replayed 600 events, 2026-01-01 00:00:00"),
        "{text}"
    );
    let (code, json, stderr) = app.output(&[
        "replay",
        "--events",
        "events.ndjson",
        "--json",
        "--chart",
        "equity.svg",
    ]);
    assert_eq!(code, 0, "replay --json failed: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(report["events"], 600);
    assert_eq!(report["decisions"]["total"], 600);
    assert!(
        report["book"]["trades"]["total"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{json}"
    );
    let svg = std::fs::read_to_string(dir.join("equity.svg")).expect("chart written");
    // The one chart module: the same axes as `report --chart`.
    assert!(svg.starts_with("<svg") && svg.contains("stroke=\"#1F5FBF\""));
    assert!(svg.contains("starting bankroll") && svg.contains("replay of events.ndjson"));
    // Same file, same config: the same report.
    let (_, again, _) = app.output(&["replay", "--events", "events.ndjson", "--json"]);
    assert_eq!(again, json);

    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--events",
            "events.ndjson",
            "--set",
            "filter.min_shift_pct=2,5",
            "--set",
            "sizing.kelly_fraction=0.1,0.5",
        ];
        args.extend_from_slice(extra);
        app.output(&args)
    };
    let (code, csv, stderr) = sweep(&["--csv"]);
    assert_eq!(code, 0, "sweep failed: {stderr}");
    // Piped: no progress bar escapes on either stream.
    assert!(!csv.contains('\r') || csv.lines().count() == 5);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("rank,filter.min_shift_pct,sizing.kelly_fraction,equity,"));
    let equities: Vec<rust_decimal::Decimal> = lines[1..]
        .iter()
        .map(|l| {
            l.split(',')
                .nth(3)
                .and_then(|e| e.parse().ok())
                .expect("equity")
        })
        .collect();
    assert!(equities.windows(2).all(|w| w[0] >= w[1]), "{csv}");
    let (code, json, _) = sweep(&["--json", "--by", "drawdown"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON row"))
        .collect();
    assert_eq!(rows.len(), 4);
    let drawdowns: Vec<rust_decimal::Decimal> = rows
        .iter()
        .map(|r| {
            r["max_drawdown_fraction"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .expect("drawdown")
        })
        .collect();
    assert!(drawdowns.windows(2).all(|w| w[0] <= w[1]), "{json}");
}

#[test]
fn bad_input_gets_the_documented_exit_codes() {
    let app = Setup::embedded_default().spawn();
    let dir = app.dir.path();
    // Bad --set values or keys: exit 2, every problem by key path.
    std::fs::write(dir.join("one.ndjson"), "").expect("write");
    let (code, _, stderr) = app.output(&[
        "sweep",
        "--events",
        "one.ndjson",
        "--set",
        "filter.min_shift_pct=2,abc",
        "--set",
        "filter.bogus=1",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("filter.min_shift_pct:"), "{stderr}");
    assert!(stderr.contains("filter.bogus: unknown key"), "{stderr}");
    // Malformed --set syntax is a usage error.
    let (code, _, _) = app.output(&["sweep", "--events", "one.ndjson", "--set", "nonsense"]);
    assert_eq!(code, 2);
    // A missing or malformed recording: exit 1, saying where.
    let (code, _, stderr) = app.output(&["replay", "--events", "missing.ndjson"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.ndjson"), "{stderr}");
    std::fs::write(
        dir.join("bad.ndjson"),
        "{\"id\":\"1\",\"type\":\"price_shift\",\"data\":{},\"received_at\":\"2026-01-01T00:00:00Z\",\"signal\":null}\n{oops\n",
    )
    .expect("write");
    let (code, _, stderr) = app.output(&["replay", "--events", "bad.ndjson"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("bad.ndjson:2:"), "{stderr}");
    // No store yet: nothing to export, and none is created.
    let (code, stdout, stderr) = app.output(&["export-events"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!app.store_path.exists());
}
