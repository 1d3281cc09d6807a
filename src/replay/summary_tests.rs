use rust_decimal_macros::dec;
use strategies::CoreConfig;

use super::*;
use crate::replay::engine::{replay, ReplayOptions};
use crate::replay::test_support::{shift, signal, signalled, tape};

/// One trade: 810 YES of kalshi/A at 0.60 (fee 13.61), A last seen at 0.64.
fn one_trade() -> ReplayRun {
    let lines = vec![
        signalled(
            shift("1", "kalshi/A", "0.50", "0.56", 0),
            signal("BUY_YES", "0.10"),
            1_000,
        ),
        shift("2", "kalshi/A", "0.56", "0.60", 500),
        shift("3", "kalshi/A", "0.60", "0.64", 2_000),
        shift("4", "kalshi/B", "0.40", "0.30", 3_000),
        shift("5", "kalshi/B", "0.30", "0.25", 4_000),
    ];
    let tape = tape(&lines);
    replay(&tape, CoreConfig::default(), &ReplayOptions::default())
}

#[test]
fn the_report_marks_the_book_at_the_files_last_prices() {
    let run = one_trade();
    let report = replay_report(&run);
    assert_eq!(report.starting_bankroll, dec!(10000));
    assert_eq!(report.cash, dec!(9500.39));
    assert_eq!(report.market_value, dec!(518.40));
    assert_eq!(report.equity, dec!(10018.79));
    assert_eq!(report.unrealized_pnl, dec!(18.79));
    assert_eq!(report.fees, dec!(13.61));
    assert_eq!(report.open_positions, 1);
    // The instant of the report is the last decision.
    assert_eq!(report.as_of, crate::replay::test_support::at(4_000));
    // Equity fell by the entry fee right after the trade (marked at the price paid).
    assert_eq!(report.max_drawdown.amount, dec!(13.61));
}

#[test]
fn json_and_text_show_the_decisions_and_the_book() {
    let run = one_trade();
    let report = replay_report(&run);
    let summary = ReplaySummary::new(&run, Fallback::Skip, &report);
    let mut out = Vec::new();
    summary.write_json(&mut out).expect("write");
    let json: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
    assert_eq!(
        json["decisions"],
        serde_json::json!({"traded": 1, "cooldown": 3, "no_recorded_signal": 1, "total": 5})
    );
    assert_eq!(json["events"], 5);
    assert_eq!(json["fallback"], "skip");
    assert_eq!(json["recorded_replies"], 1);
    assert_eq!(json["fallback_replies"], 1);
    assert_eq!(json["unsignalled"], 1);
    assert_eq!(json["period"]["start"], "2026-01-01T00:00:00Z");
    assert_eq!(json["period"]["end"], "2026-01-01T00:00:04Z");
    let book = &json["book"];
    assert_eq!(book["cash"], "9500.39");
    assert_eq!(book["equity"], "10018.79");
    assert_eq!(book["return"], "0.001879");
    assert_eq!(book["trades"]["open"], 1);
    assert_eq!(book["max_drawdown"]["amount"], "13.61");
    assert_eq!(book["max_drawdown"]["fraction"], "0.001361");
    assert_eq!(book["sharpe"], serde_json::Value::Null);
    assert_eq!(book["exposure"]["kalshi"]["positions"], 1);
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);

    let mut text = Vec::new();
    summary.write_text(&mut text).expect("write");
    let text = String::from_utf8(text).expect("UTF-8");
    for expected in [
        "replayed 5 events, 2026-01-01 00:00:00 → 2026-01-01 00:00:04 UTC (fallback: skip)",
        "1 answered by a recorded reply, 1 by the fallback",
        "unsignalled: 1 events passed the filter with no recorded signal, decided no_recorded_signal (each started its market's cooldown, as its request would have live); more than 5 % of the signal requests",
        "  traded              1",
        "  no_recorded_signal  1",
        "  total               5",
        "  market value         518.40  1 open position, at their last prices",
        "  equity             10018.79  cash + market value",
        "  return                0.19%  total P&L +18.79",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn the_chart_draws_the_reports_curve() {
    let run = one_trade();
    let report = replay_report(&run);
    // The one chart module, the same axes as `report --chart`.
    let svg = crate::commands::chart::report_svg(&report, "replay of <test>").expect("drawn");
    assert!(svg.starts_with("<svg "));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("replay of &lt;test&gt;"));
    let texts = crate::commands::chart::texts(&svg);
    for label in [
        "now 10018.79",
        "max drawdown 13.61",
        "starting bankroll",
        "equity ($)",
        "drawdown ($)",
        "time (UTC)",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(label)),
            "missing {label:?} in {texts:?}"
        );
    }
    // The equity line: the start, then a horizontal and a vertical step per later point.
    let line = crate::commands::chart::equity_line(&svg).expect("the equity line");
    assert_eq!(line.len(), 1 + 2 * (report.curve.len() - 1), "{line:?}");
}
