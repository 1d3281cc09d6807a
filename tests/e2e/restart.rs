//! SIGTERM stops cleanly and the next start resumes the same book (cash, positions, cursor);
//! a restart never resets; `reset --yes` archives the store and the next run starts afresh.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::support::{
    decisions_in, fresh_price_shift, ids, message, model_price_shifts, LedgerRow, Setup,
};

/// Open positions implied by a ledger: (platform, market, side) with contracts still held.
fn open_positions(ledger: &[LedgerRow]) -> usize {
    let mut held: BTreeMap<(&str, &str, &str), i128> = BTreeMap::new();
    for trade in ledger {
        let sign = if trade.is_open() { 1 } else { -1 };
        *held
            .entry((&trade.platform, &trade.market_id, &trade.side))
            .or_default() += sign * i128::from(trade.contracts);
    }
    held.values().filter(|&&n| n > 0).count()
}

fn loaded_cash(line: &Value) -> Decimal {
    line["cash"]
        .as_str()
        .expect("cash is logged as a string")
        .parse()
        .expect("cash is a decimal")
}

#[test]
fn sigterm_then_restart_resumes_the_same_book_and_cursor() {
    let rate = 40;
    let script = model_price_shifts(5, 12, 300, rate);
    let script_ids = ids(&script);
    let position: BTreeMap<&str, usize> = script_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = rate)
        .set("filter.min_shift_pct", 1)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .spawn();
    let stats = app.sim_stats();

    let mut first = app.start();
    first.wait_for("40 decisions and a trade", |logs| {
        let decisions = decisions_in(logs);
        (decisions.len() >= 40 && decisions.iter().any(|d| d.outcome == "traded")).then_some(())
    });
    first.terminate();
    let connections_before = stats.stream_connections() as usize;
    let persisted: BTreeSet<String> = app.decisions().into_iter().map(|d| d.event_id).collect();
    let ledger_before = app.ledger();
    assert!(persisted.len() < script_ids.len(), "stopped mid-stream");
    let cash_before = ledger_before.last().expect("a trade").cash_after;

    let mut second = app.start();
    let loaded = second.wait_for_message("book loaded");
    assert_eq!(loaded_cash(&loaded), cash_before);
    assert_eq!(
        loaded["positions"].as_u64(),
        Some(open_positions(&ledger_before) as u64)
    );
    let missing: BTreeSet<String> = script_ids
        .iter()
        .filter(|id| !persisted.contains(*id))
        .cloned()
        .collect();
    let logs = second.wait_for("the rest of the script decided", |logs| {
        let decided: BTreeSet<String> =
            decisions_in(logs).into_iter().map(|d| d.event_id).collect();
        decided.is_superset(&missing).then(|| logs.to_vec())
    });
    second.terminate();

    // Nothing decided twice, nothing lost.
    let decided_again: Vec<String> = decisions_in(&logs)
        .into_iter()
        .map(|d| d.event_id)
        .filter(|id| persisted.contains(id))
        .collect();
    assert!(decided_again.is_empty(), "decided again: {decided_again:?}");
    let decisions = app.decisions();
    let mut all: Vec<&str> = decisions.iter().map(|d| d.event_id.as_str()).collect();
    all.sort_unstable();
    let mut expected: Vec<&str> = script_ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(all, expected);

    // The cursor: the last event the first run received, persisted or waiting in the inbox.
    let resumed: Vec<String> = logs
        .iter()
        .filter(|l| l["message"] == "resuming signal request after restart")
        .filter_map(|l| l["event_id"].as_str().map(str::to_string))
        .collect();
    let cursor = persisted
        .iter()
        .chain(&resumed)
        .max_by_key(|id| position[id.as_str()])
        .expect("something was received");
    assert_eq!(
        loaded["cursor"].as_str(),
        Some(format!("{:?}", Some(cursor)).as_str())
    );
    assert_eq!(
        stats.last_event_ids()[connections_before],
        Some(cursor.clone()),
        "the restart resumed the stream from the persisted cursor"
    );

    // The ledger continues the first run's: same trades, then more, one cash chain.
    let ledger = app.ledger();
    assert!(ledger.len() >= ledger_before.len());
    for (before, after) in ledger_before.iter().zip(&ledger) {
        assert_eq!(
            (before.trade_id, &before.event_id, before.cash_after),
            (after.trade_id, &after.event_id, after.cash_after)
        );
    }
    for pair in ledger.windows(2) {
        assert_eq!(pair[0].cash_after, pair[1].cash_before);
        assert_eq!(pair[0].trade_id + 1, pair[1].trade_id);
    }
}

#[test]
fn a_restart_never_resets_but_reset_yes_archives_and_starts_afresh() {
    let script = vec![
        fresh_price_shift(Some("r1"), "kalshi", "KXE2E-C", "0.50", "0.55"),
        fresh_price_shift(Some("r2"), "polymarket", "e2e-a", "0.40", "0.30"),
    ];
    let mut app = Setup::new(script).set("signal.max_in_flight", 1).spawn();
    let stats = app.sim_stats();

    let mut bot = app.start();
    bot.wait_for_decisions(2);
    bot.terminate();
    let ledger = app.ledger();
    let fills: Vec<(u64, Decimal, Decimal)> = ledger
        .iter()
        .map(|t| (t.contracts, t.cash_before, t.cash_after))
        .collect();
    let hand = vec![
        (881, dec!(10000), dec!(9500.18)),
        (678, dec!(9500.18), dec!(9025.58)),
    ];
    assert_eq!(fills, hand);

    // A restart keeps the book and the cursor, and decides nothing again.
    let mut bot = app.start();
    let loaded = bot.wait_for_message("book loaded");
    bot.wait_for_message("event stream connected");
    let finished = bot.terminate();
    assert_eq!(loaded_cash(&loaded), dec!(9025.58));
    assert_eq!(loaded["positions"].as_u64(), Some(2));
    assert_eq!(loaded["cursor"].as_str(), Some("Some(\"r2\")"));
    assert_eq!(stats.last_event_ids().last(), Some(&Some("r2".to_string())));
    assert!(finished.decisions().is_empty());
    assert_eq!(app.ledger().len(), 2);

    // Without --yes nothing happens.
    let (code, _, stderr) = app.output(&["reset"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(app.ledger().len(), 2);

    let (code, stdout, stderr) = app.output(&["reset", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let archive = stdout
        .trim()
        .split_once(" to ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(path, _)| PathBuf::from(path))
        .unwrap_or_else(|| panic!("unexpected reset output {stdout:?}"));
    assert!(archive.is_dir(), "{stdout}");
    assert!(!app.store_path.exists(), "the store was moved away");

    // The archive still holds the old book.
    let archived_config = app.dir.path().join("archive.toml");
    let text = std::fs::read_to_string(app.config_path.as_ref().expect("config")).expect("read");
    let store = app.store_path.to_str().expect("utf-8").to_string();
    std::fs::write(
        &archived_config,
        text.replace(&store, archive.to_str().expect("utf-8")),
    )
    .expect("write");
    let (code, stdout, stderr) =
        app.output_with_config(Some(&archived_config), &["ledger", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2);

    // The next run starts at the bankroll with no cursor: the stream replays from the start
    // and the same events make the same first fills on the fresh book.
    let mut bot = app.start();
    let loaded = bot.wait_for_message("book loaded");
    bot.wait_for_decisions(2);
    bot.terminate();
    assert_eq!(loaded_cash(&loaded), dec!(10000));
    assert_eq!(loaded["positions"].as_u64(), Some(0));
    assert_eq!(loaded["cursor"].as_str(), Some("None"));
    assert_eq!(stats.last_event_ids().last(), Some(&None));
    let fresh: Vec<(u64, Decimal, Decimal)> = app
        .ledger()
        .iter()
        .map(|t| (t.contracts, t.cash_before, t.cash_after))
        .collect();
    assert_eq!(fresh, hand);
    let trade_ids: Vec<u64> = app.ledger().iter().map(|t| t.trade_id).collect();
    assert_eq!(trade_ids, vec![1, 2]);
}

/// SIGTERM while a signal is still in flight: the bot stops within 5 s without deciding the
/// event, keeps it in its inbox, and decides it (once) after the restart.
#[test]
fn an_event_waiting_for_its_signal_at_sigterm_is_decided_after_the_restart() {
    let script = vec![fresh_price_shift(
        Some("h1"),
        "kalshi",
        "KXE2E-C",
        "0.50",
        "0.55",
    )];
    let mut app = Setup::new(script.clone())
        .faults(shiftbot::sim::Faults {
            signal_hang: Some(std::time::Duration::from_secs(30)),
            ..shiftbot::sim::Faults::default()
        })
        .set("signal.timeout", "20s")
        .spawn();
    let stats = app.sim_stats();
    let bot = app.start();
    crate::support::eventually("the signal request", || {
        (stats.signal_calls() == 1).then_some(())
    });
    let finished = bot.terminate();
    assert!(finished.decisions().is_empty());
    assert!(
        app.decisions().is_empty(),
        "nothing decided without its signal"
    );

    // The same script from a simulator that answers at once.
    app.switch_sim(crate::support::scripted_sim(script));
    let stats = app.sim_stats();
    let mut bot = app.start();
    let loaded = bot.wait_for_message("book loaded");
    assert_eq!(loaded["waiting"].as_u64(), Some(1));
    let resumed = bot.wait_for_message("resuming signal request after restart");
    assert_eq!(resumed["event_id"].as_str(), Some("h1"));
    bot.wait_for_decisions(1);
    bot.terminate();
    assert_eq!(stats.last_event_ids(), vec![Some("h1".to_string())]);
    let decisions = app.decisions();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].event_id, "h1");
    assert_eq!(decisions[0].outcome, "traded", "{}", decisions[0].reason);
    let ledger = app.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].contracts, 881);
}

/// SIGTERM in the middle of a burst, with signals in flight and a writer behind the intake:
/// the bot still stops within 5 s (`terminate` asserts it), and the next start decides
/// exactly the events the first run had not, each once.
#[test]
fn sigterm_mid_burst_stops_within_5s_and_the_next_start_decides_the_rest() {
    let script = model_price_shifts(9, 200, 20_000, 0);
    let script_ids = ids(&script);
    let mut app = Setup::new(script)
        .sim(|sim| {
            sim.events_per_second = 0;
            sim.signal_latency = std::time::Duration::from_millis(50);
        })
        .screen_every_event()
        .set("signal.max_in_flight", 32)
        .spawn();
    let mut first = app.start();
    first.wait_for_decisions(2_000);
    let finished = first.terminate();
    let persisted: BTreeSet<String> = app.decisions().into_iter().map(|d| d.event_id).collect();
    assert!(
        persisted.len() < script_ids.len(),
        "stopped mid-burst ({} of {} decided)",
        persisted.len(),
        script_ids.len()
    );
    assert!(finished
        .logs
        .iter()
        .any(|l| message(l) == "stopped; store flushed"));

    let mut second = app.start();
    second.wait_for("every event of the burst decided", |logs| {
        let decided: BTreeSet<String> =
            decisions_in(logs).into_iter().map(|d| d.event_id).collect();
        (decided.len() + persisted.len() >= script_ids.len()).then_some(())
    });
    second.terminate();
    let mut all: Vec<String> = app.decisions().into_iter().map(|d| d.event_id).collect();
    all.sort_unstable();
    let mut expected = script_ids.clone();
    expected.sort_unstable();
    assert_eq!(
        all.len(),
        expected.len(),
        "one decision per event, none twice"
    );
    assert_eq!(all, expected);
}
