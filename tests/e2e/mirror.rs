//! Mirroring to `/v1/trades/shadow`: each paper fill POSTed exactly once, also across a
//! restart; a 404 turns mirroring off for the run with one warning and leaves the ledger
//! untouched; a failing endpoint never holds up the pipeline.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use shiftbot::sim::Faults;

use crate::support::{eventually, fresh_price_shift, LedgerRow, Setup};

/// t1..t3 of `trades`: on a fresh default book, 881 YES, 678 NO, 556 NO.
fn three_fills() -> Vec<shiftbot::sim::ScriptedEvent> {
    vec![
        fresh_price_shift(Some("t1"), "kalshi", "KXE2E-C", "0.50", "0.55"),
        fresh_price_shift(Some("t2"), "polymarket", "e2e-a", "0.40", "0.30"),
        fresh_price_shift(Some("t3"), "kalshi", "KXE2E-D", "0.25", "0.20"),
    ]
}

fn assert_three_fills(ledger: &[LedgerRow]) {
    let got: Vec<(&str, u64, Decimal, Decimal)> = ledger
        .iter()
        .map(|t| (t.event_id.as_str(), t.contracts, t.cost, t.cash_after))
        .collect();
    assert_eq!(
        got,
        vec![
            ("t1", 881, dec!(484.55), dec!(9500.18)),
            ("t2", 678, dec!(474.60), dec!(9025.58)),
            ("t3", 556, dec!(444.80), dec!(8574.55)),
        ]
    );
}

fn body_key(body: &Value) -> (String, String, String, Decimal) {
    (
        body["ticker"].as_str().expect("ticker").to_string(),
        body["platform"].as_str().expect("platform").to_string(),
        body["side"].as_str().expect("side").to_string(),
        serde_json::from_value(body["size_usd"].clone()).expect("size_usd"),
    )
}

#[test]
fn every_fill_is_mirrored_exactly_once_even_across_a_restart() {
    let mut app = Setup::new(three_fills())
        .set("signal.max_in_flight", 1)
        .set("execution.mirror", true)
        .spawn();
    let stats = app.sim_stats();
    let mut bot = app.start();
    bot.wait_for_decisions(3);
    eventually("3 shadow trades", || {
        (stats.shadow_trades().len() == 3).then_some(())
    });
    bot.terminate();

    // The next run has nothing left to mirror.
    let mut bot = app.start();
    bot.wait_for_message("event stream connected");
    std::thread::sleep(std::time::Duration::from_millis(500));
    bot.terminate();

    assert_eq!(stats.shadow_calls(), 3);
    let ledger = app.ledger();
    assert_three_fills(&ledger);
    let mut mirrored: Vec<_> = stats.shadow_trades().iter().map(body_key).collect();
    mirrored.sort();
    let mut want: Vec<_> = ledger
        .iter()
        .map(|t| {
            (
                t.market_id.clone(),
                t.platform.clone(),
                t.side.clone(),
                t.cost,
            )
        })
        .collect();
    want.sort();
    assert_eq!(mirrored, want);
}

#[test]
fn a_404_turns_mirroring_off_without_touching_the_ledger() {
    let mut app = Setup::new(three_fills())
        .faults(Faults {
            shadow_status: Some(404),
            ..Faults::default()
        })
        .set("signal.max_in_flight", 1)
        .set("execution.mirror", true)
        .spawn();
    let stats = app.sim_stats();
    let mut bot = app.start();
    bot.wait_for_decisions(3);
    bot.wait_for("the mirroring-off warning", |logs| {
        logs.iter()
            .any(|l| {
                l["level"] == "WARN"
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("mirroring is off"))
            })
            .then_some(())
    });
    let finished = bot.terminate();
    let warnings = finished
        .logs
        .iter()
        .filter(|l| {
            l["level"] == "WARN" && l["message"].as_str().is_some_and(|m| m.contains("shadow"))
        })
        .count();
    assert_eq!(warnings, 1, "one warning:\n{}", finished.stderr);
    assert_eq!(stats.shadow_calls(), 1, "no call after the 404");
    assert!(stats.shadow_trades().is_empty());
    assert_three_fills(&app.ledger());
}

#[test]
fn a_failing_mirror_never_holds_up_the_pipeline() {
    let mut app = Setup::new(three_fills())
        .faults(Faults {
            shadow_status: Some(503),
            ..Faults::default()
        })
        .set("signal.max_in_flight", 1)
        .set("execution.mirror", true)
        .spawn();
    let stats = app.sim_stats();
    let mut bot = app.start();
    bot.wait_for_decisions(3);
    eventually("a mirror attempt", || {
        (stats.shadow_calls() > 0).then_some(())
    });
    bot.terminate();
    assert!(stats.shadow_trades().is_empty());
    assert_three_fills(&app.ledger());
}
