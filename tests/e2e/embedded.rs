//! The embedded default: `shiftbot run` with no config file, no key and no network trades on
//! the built-in simulator through the live code path, and stores under the working directory.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::support::Setup;

#[test]
fn run_on_the_built_in_default_trades_without_a_key() {
    let mut app = Setup::embedded_default()
        .env("SHIFTBOT__SIM__EVENTS_PER_SECOND", "200")
        .spawn();
    let mut bot = app.start();
    let started = bot.wait_for_message("embedded simulator started");
    let url = started["base_url"].as_str().expect("base_url");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    bot.wait_for("a trade", |logs| {
        crate::support::decisions_in(logs)
            .iter()
            .any(|d| d.outcome == "traded")
            .then_some(())
    });
    let finished = bot.terminate();
    assert!(app.store_path.is_dir(), "store at shiftbot-data/store");

    // Everything logged as decided was persisted by the orderly stop, and nothing else.
    let logged: BTreeSet<String> = finished
        .decisions()
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    let decisions = app.decisions();
    let stored: BTreeSet<String> = decisions.iter().map(|d| d.event_id.clone()).collect();
    assert_eq!(stored.len(), decisions.len(), "one decision per event");
    assert_eq!(stored, logged);

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
    assert!(!traded.is_empty());
    assert_eq!(opened.len(), traded.len());
    assert_eq!(opened.into_iter().collect::<BTreeSet<_>>(), traded);
    let mut cash = Decimal::from(10_000);
    for (index, trade) in ledger.iter().enumerate() {
        assert_eq!(trade.trade_id, index as u64 + 1);
        assert_eq!(trade.cash_before, cash);
        assert_eq!(trade.cash_after, trade.expected_cash_after());
        cash = trade.cash_after;
    }
}
