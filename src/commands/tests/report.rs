//! `report` on the fixture store (numbers hand-computed in `strategies::report`'s tests:
//! equity 1004.34, realized −3.42, unrealized +7.76, ...): table, JSON, chart, and
//! consistency while the store is being written.

use super::*;

#[test]
fn report_table_shows_every_metric() {
    let (_dir, store) = store();
    let rendered = run(Some(&store), ReviewCommand::Report(ReportArgs::default()));
    assert_eq!(rendered.chart, None, "no chart unless asked for");
    assert_eq!(
        rendered.output,
        "\
as of              2026-03-05 12:00:00  UTC
period                           4d 1h  2026-03-01 09:00:00 → 2026-03-05 10:00:00 UTC
starting bankroll              1000.00
cash                            954.34
market value                     50.00  1 open position, at their last prices
equity                         1004.34  cash + market value
return                           0.43%  total P&L +4.34
realized P&L                     -3.42  closed and settled, net of fees
unrealized P&L                   +7.76  open, net of entry fees
fees                              5.66
trades                               5  3 open, 1 close, 1 settle
closed positions                     2  1 won, 1 lost, 0 flat
win rate                        50.00%
profit factor                     0.77  gross profit 11.58 / gross loss 15.00
expectancy                       -1.71  mean realized P&L per closed position
avg edge at entry               0.0967  win probability - price, before fees
max drawdown                     17.24  1.70% of peak; worst fall 2026-03-02 09:00:00 → 2026-03-04 11:00:00
sharpe                            1.56  daily returns x sqrt(365), 5 days

EXPOSURE  POSITIONS   COST  VALUE  OF_BANKROLL
kalshi            1  40.00  50.00        4.00%
"
    );
}

#[test]
fn report_json_has_exact_money_and_rounded_ratios() {
    let (_dir, store) = store();
    let json = output(
        &store,
        ReviewCommand::Report(ReportArgs {
            json: true,
            chart: None,
        }),
    );
    assert_eq!(json.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    let expected = serde_json::json!({
        "as_of": "2026-03-05T12:00:00Z",
        "period": {"start": "2026-03-01T09:00:00Z", "end": "2026-03-05T10:00:00Z"},
        "starting_bankroll": "1000",
        "cash": "954.34",
        "market_value": "50.00",
        "equity": "1004.34",
        "realized_pnl": "-3.42",
        "unrealized_pnl": "7.76",
        "total_pnl": "4.34",
        "fees": "5.66",
        "return": "0.00434",
        "trades": {"total": 5, "open": 3, "close": 1, "settle": 1},
        "closed": {
            "count": 2, "wins": 1, "losses": 1,
            "gross_profit": "11.58", "gross_loss": "15.00",
            "win_rate": "0.5", "profit_factor": "0.772", "expectancy": "-1.71"
        },
        // The same figures flat, as `replay --json`'s book has them: one shape for both.
        "closed_positions": 2, "win_rate": "0.5", "profit_factor": "0.772", "expectancy": "-1.71",
        "average_entry_edge": "0.096667",
        "max_drawdown": {
            "amount": "17.24", "fraction": "0.017043",
            "peak_at": "2026-03-02T09:00:00Z", "trough_at": "2026-03-04T11:00:00Z"
        },
        "sharpe": "1.563489",
        "sharpe_basis": "daily",
        "sharpe_returns": 5,
        "sharpe_days": 5,
        "open_positions": 1,
        "exposure": {"kalshi": {"positions": 1, "cost_basis": "40.00", "market_value": "50.00"}},
        "daily": [
            {"day": "2026-03-01", "equity": "998.32", "return": "-0.00168"},
            {"day": "2026-03-02", "equity": "1011.58", "return": "0.013282"},
            {"day": "2026-03-03", "equity": "1009.34", "return": "-0.002214"},
            {"day": "2026-03-04", "equity": "994.34", "return": "-0.014861"},
            {"day": "2026-03-05", "equity": "1004.34", "return": "0.010057"}
        ]
    });
    assert_eq!(v, expected);
}

#[test]
fn report_chart_is_an_svg_of_the_curve_with_axes_and_title() {
    let (_dir, store) = store();
    let rendered = run(
        Some(&store),
        ReviewCommand::Report(ReportArgs {
            json: false,
            chart: Some("equity.svg".into()),
        }),
    );
    let svg = rendered.chart.expect("a chart when --chart is given");
    assert!(svg.starts_with("<svg ") && svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
    assert!(svg.ends_with("</svg>\n"));
    let texts = crate::commands::chart::texts(&svg);
    for label in [
        "shiftbot paper book: equity and drawdown",
        "equity ($)",
        "drawdown ($)",
        "time (UTC)",
        "starting bankroll",
        "now 1004.34",
        // Round ticks, thousands grouped.
        "1,015",
        "990",
        "-20",
        "03-02 00:00",
    ] {
        assert!(texts.contains(&label), "missing {label:?} in {texts:?}");
    }
    // The equity line: the start, then a horizontal and a vertical step per later point.
    let line = crate::commands::chart::equity_line(&svg).expect("the equity line");
    assert_eq!(line.len(), 1 + 2 * 6, "{line:?}");
    // Steps: every other segment is horizontal, then vertical, left to right.
    for pair in line.windows(2) {
        assert!(pair[1].0 >= pair[0].0, "{line:?}");
    }
    // The axes are the values': the bankroll line (1,000) lies on the "1,000" tick, and the
    // last point (1,004.34) between the "1,000" and "1,005" ticks, near the latter.
    let y = |label| crate::commands::chart::text_y(&svg, label).expect(label);
    let bankroll = crate::commands::chart::bankroll_line(&svg).expect("the bankroll line");
    assert!((bankroll[0].1 - y("1,000")).abs() <= 1.0, "{bankroll:?}");
    let now = line.last().expect("a last point").1;
    let fraction = (y("1,000") - now) / (y("1,000") - y("1,005"));
    assert!((fraction - 0.868).abs() < 0.05, "{fraction}");
    // Every element opened is closed (a cheap well-formedness check).
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

#[test]
fn the_same_report_writes_its_chart_file_through_review() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    drop(fixture::build(&path));
    let chart = dir.path().join("equity.svg");
    let target = ReviewTarget {
        store_path: path,
        admin_listen: "127.0.0.1:9".into(),
        bankroll: rust_decimal_macros::dec!(1000),
    };
    let clock: SharedClock = std::sync::Arc::new(FixedClock);
    let mut out = Vec::new();
    let command = ReviewCommand::Report(ReportArgs {
        json: true,
        chart: Some(chart.clone()),
    });
    review(&target, command, &clock, &mut out).expect("review");
    let written = std::fs::read_to_string(&chart).expect("the chart file");
    assert!(written.contains("now 1004.34"));
    assert!(String::from_utf8(out)
        .expect("utf-8")
        .contains("\"equity\":\"1004.34\""));
}

/// The admin listener reads a store the bot is writing: a report must never mix positions of
/// one commit with trades of another (it would break equity − bankroll = realized + unrealized).
#[test]
fn reports_stay_consistent_while_trades_are_being_committed() {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;
    use strategies::{Book, MarketKey, Platform, Side, TradeAction};

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("open");
    let markets: Vec<MarketKey> = (0..4)
        .map(|i| MarketKey::new(Platform::Kalshi, format!("M{i}")).expect("valid"))
        .collect();
    let writer_store = store.clone();
    let writer = std::thread::spawn(move || {
        let mut book = Book::new(dec!(100000));
        for i in 0..300u32 {
            let market = &markets[i as usize % markets.len()];
            let now = super::fixture::day(1, 0) + chrono::Duration::seconds(i64::from(i));
            let trade = if i % 3 == 2 {
                book.close(
                    "x",
                    market,
                    Side::Yes,
                    TradeAction::Close,
                    7,
                    dec!(0.55),
                    dec!(0.02),
                    now,
                )
            } else {
                let sizing = strategies::sizing::Sizing {
                    contracts: 10,
                    price: dec!(0.41),
                    cost: dec!(4.10),
                    fee: dec!(0.02),
                    stake: dec!(5),
                    kelly: Decimal::ZERO,
                    edge_after_fees: Decimal::ZERO,
                };
                Some(book.open("o", market, Side::Yes, &sizing, dec!(0.5), now))
            };
            let batch = crate::store::Batch {
                trades: trade.into_iter().collect(),
                state: strategies::Changes {
                    positions: vec![(
                        (market.clone(), Side::Yes),
                        book.position(market, Side::Yes).cloned(),
                    )],
                    totals: Some(book.totals.clone()),
                    ..Default::default()
                },
                ..crate::store::Batch::default()
            };
            // Back to back, faster than any bot commits: optimistic reads tear, and the
            // report must fall back to a quiesced read rather than fail or mix commits.
            writer_store.commit(&batch).expect("commit");
        }
    });
    let report = ReviewCommand::Report(ReportArgs {
        json: true,
        chart: None,
    });
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let v: serde_json::Value =
            serde_json::from_str(&output(&store, report.clone())).expect("JSON");
        let d = |key: &str| -> Decimal { v[key].as_str().expect(key).parse().expect(key) };
        assert_eq!(
            d("equity") - d("starting_bankroll"),
            d("realized_pnl") + d("unrealized_pnl"),
            "a torn read: {v}"
        );
        checked += 1;
    }
    writer.join().expect("writer");
    assert!(checked > 0);
}
