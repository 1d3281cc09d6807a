//! Every trade is logged on its own line, on target `shiftbot::trade`, with action, side,
//! contracts, price, cost, fee, realized P&L and reason: `RUST_LOG=shiftbot::trade=info` keeps
//! the trades and nothing else.

use std::collections::BTreeMap;

use crate::support::{message, model_price_shifts, Setup};

#[test]
fn every_trade_has_its_line_and_rust_log_can_keep_only_trades() {
    let rate = 200;
    let script = model_price_shifts(9, 6, 2000, rate);
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = rate)
        .screen_every_event()
        .set("exits.take_profit", 0.001)
        .set("exits.stop_loss", 0.001)
        .env("RUST_LOG", "shiftbot::trade=info")
        .spawn();
    let mut running = app.start();
    running.wait_for("a close", |logs| {
        logs.iter()
            .any(|line| message(line) == "trade" && line["action"] == "close")
            .then_some(())
    });
    // Let the burst end so that the ledger read below is the run's whole ledger.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let finished = running.terminate();
    let ledger = app.ledger();
    assert!(!ledger.is_empty());
    let logged: BTreeMap<u64, &serde_json::Value> = finished
        .logs
        .iter()
        .map(|line| {
            assert_eq!(line["target"], "shiftbot::trade", "only trades: {line}");
            assert_eq!(message(line), "trade", "{line}");
            (line["trade_id"].as_u64().expect("trade_id"), line)
        })
        .collect();
    for trade in &ledger {
        let line = logged
            .get(&trade.trade_id)
            .unwrap_or_else(|| panic!("trade {} not logged", trade.trade_id));
        assert_eq!(line["side"], trade.side.as_str());
        assert_eq!(line["contracts"], trade.contracts);
        assert_eq!(line["price"], trade.price.to_string());
        assert_eq!(line["cost"], trade.cost.to_string());
        assert_eq!(line["fee"], trade.fee.to_string());
        assert_eq!(line["action"], trade.action.as_deref().unwrap_or("open"));
        assert!(line["realized_pnl"].is_string(), "{line}");
        assert!(!line["reason"].as_str().unwrap_or("").is_empty(), "{line}");
    }
    assert_eq!(logged.len(), ledger.len());
}
