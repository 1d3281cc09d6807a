//! Exact output of each command and format on the fixture store (numbers hand-computed in
//! `strategies::report`'s tests: equity 1004.34, realized −3.42, unrealized +7.76, ...).

use super::fixture::build;
use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(&dir.path().join("store"));
    (dir, store)
}

fn ledger(filters: Filters) -> ReviewCommand {
    ReviewCommand::Ledger(LedgerArgs {
        json: true,
        csv: false,
        filters,
    })
}

fn trade_ids(store: &Store, filters: Filters) -> Vec<u64> {
    output(store, ledger(filters))
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            value["trade_id"].as_u64().expect("trade_id")
        })
        .collect()
}

fn event_ids(store: &Store, args: DecisionsArgs) -> Vec<String> {
    let args = DecisionsArgs { json: true, ..args };
    output(store, ReviewCommand::Decisions(args))
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            value["event_id"].as_str().expect("event_id").to_string()
        })
        .collect()
}

#[test]
fn positions_table_values_open_positions_at_their_marks() {
    let (_dir, store) = store();
    let table = output(
        &store,
        ReviewCommand::Positions(PositionsArgs { json: false }),
    );
    assert_eq!(
        table,
        "\
MARKET      SIDE  CONTRACTS  AVG_PRICE  LAST_PRICE   COST  VALUE  UNREALIZED     AGE
kalshi/KXC  yes         200       0.20        0.25  40.00  50.00       +7.76  1d 21h
total                                               40.00  50.00       +7.76
unrealized = value - cost - entry fees; prices are of the side held
"
    );
}

#[test]
fn positions_json_is_one_exact_object_per_position() {
    let (_dir, store) = store();
    let json = output(
        &store,
        ReviewCommand::Positions(PositionsArgs { json: true }),
    );
    assert_eq!(
        json,
        "{\"platform\":\"kalshi\",\"market_id\":\"KXC\",\"side\":\"yes\",\"contracts\":200,\
         \"average_price\":\"0.2\",\"last_price\":\"0.25\",\"last_price_source\":\"stream\",\
         \"cost_basis\":\"40.00\",\"fees_paid\":\"2.24\",\"market_value\":\"50.00\",\
         \"unrealized_pnl\":\"7.76\",\"opened_at\":\"2026-03-03T15:00:00Z\",\
         \"updated_at\":\"2026-03-03T15:00:00Z\",\"age_seconds\":162000}\n"
    );
}

#[test]
fn ledger_table_shows_every_trade_newest_last() {
    let (_dir, store) = store();
    let table = output(&store, ReviewCommand::Ledger(LedgerArgs::default()));
    assert_eq!(
        table,
        "\
ID  PLACED_AT            MARKET             ACTION  SIDE  CONTRACTS  PRICE  AMOUNT   FEE  REALIZED  CASH_AFTER
 1  2026-03-01 10:00:00  kalshi/KXA         open    yes         100   0.40   40.00  1.68                958.32
 2  2026-03-01 12:00:00  polymarket/will-b  open    no           50   0.30   15.00  0.00                943.32
 3  2026-03-02 09:00:00  kalshi/KXA         close   yes         100   0.55   55.00  1.74    +11.58      996.58
 4  2026-03-03 15:00:00  kalshi/KXC         open    yes         200   0.20   40.00  2.24                954.34
 5  2026-03-04 11:00:00  polymarket/will-b  settle  no           50   0.00    0.00  0.00    -15.00      954.34
"
    );
}

#[test]
fn ledger_json_keeps_the_issue_2_contract() {
    let (_dir, store) = store();
    let json = output(&store, ledger(Filters::default()));
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 5);
    // Exactly the stored Trade, field for field, as `ledger --json` always printed it.
    for (line, trade) in lines.iter().zip(store.trades()) {
        let trade = trade.expect("a stored trade");
        assert_eq!(*line, serde_json::to_string(&trade).expect("serializes"));
    }
    assert_eq!(
        lines[0],
        "{\"trade_id\":1,\"event_id\":\"e1\",\"platform\":\"kalshi\",\"market_id\":\"KXA\",\
         \"side\":\"yes\",\"action\":\"open\",\"contracts\":100,\"price\":\"0.40\",\
         \"win_probability\":\"0.50\",\"cost\":\"40.00\",\"fee\":\"1.68\",\
         \"cash_before\":\"1000\",\"cash_after\":\"958.32\",\"realized_pnl\":null,\
         \"placed_at\":\"2026-03-01T10:00:00Z\"}"
    );
    assert!(
        lines[4].contains("\"action\":\"settle\"")
            && lines[4].contains("\"realized_pnl\":\"-15.00\"")
    );
}

#[test]
fn ledger_csv_has_a_header_and_rfc_4180_records() {
    let (_dir, store) = store();
    let csv = output(
        &store,
        ReviewCommand::Ledger(LedgerArgs {
            csv: true,
            ..LedgerArgs::default()
        }),
    );
    assert_eq!(
        csv,
        "trade_id,event_id,platform,market_id,side,action,contracts,price,win_probability,cost,fee,cash_before,cash_after,realized_pnl,placed_at\r\n\
         1,e1,kalshi,KXA,yes,open,100,0.40,0.50,40.00,1.68,1000,958.32,,2026-03-01T10:00:00Z\r\n\
         2,e2,polymarket,will-b,no,open,50,0.30,0.45,15.00,0,958.32,943.32,,2026-03-01T12:00:00Z\r\n\
         3,e3,kalshi,KXA,yes,close,100,0.55,,55.00,1.74,943.32,996.58,11.58,2026-03-02T09:00:00Z\r\n\
         4,e4,kalshi,KXC,yes,open,200,0.20,0.24,40.00,2.24,996.58,954.34,,2026-03-03T15:00:00Z\r\n\
         5,resolution:polymarket/will-b,polymarket,will-b,no,settle,50,0,,0,0,954.34,954.34,-15.00,2026-03-04T11:00:00Z\r\n"
    );
}

#[test]
fn ledger_filters_select_by_market_time_side_action_and_count() {
    let (_dir, store) = store();
    let f = |text: &str| args::parse_market(text).expect("valid");
    let s = |text: &str| args::parse_since(text).expect("valid");
    let cases: Vec<(Filters, Vec<u64>)> = vec![
        (Filters::default(), vec![1, 2, 3, 4, 5]),
        (
            Filters {
                market: Some(f("kalshi/KXA")),
                ..Filters::default()
            },
            vec![1, 3],
        ),
        (
            Filters {
                market: Some(f("polymarket/KXA")),
                ..Filters::default()
            },
            vec![],
        ),
        (
            Filters {
                market: Some(f("will-b")),
                ..Filters::default()
            },
            vec![2, 5],
        ),
        (
            Filters {
                since: Some(s("2026-03-02T09:00:00Z")),
                ..Filters::default()
            },
            vec![3, 4, 5],
        ),
        // now is 2026-03-05 12:00, so 48h ago is 03-03 12:00.
        (
            Filters {
                since: Some(s("48h")),
                ..Filters::default()
            },
            vec![4, 5],
        ),
        (
            Filters {
                side: Some(strategies::Side::No),
                ..Filters::default()
            },
            vec![2, 5],
        ),
        (
            Filters {
                action: Some(strategies::TradeAction::Settle),
                ..Filters::default()
            },
            vec![5],
        ),
        (
            Filters {
                action: Some(strategies::TradeAction::Close),
                ..Filters::default()
            },
            vec![3],
        ),
        (
            Filters {
                limit: Some(2),
                ..Filters::default()
            },
            vec![4, 5],
        ),
        (
            Filters {
                limit: Some(0),
                ..Filters::default()
            },
            vec![],
        ),
        (
            Filters {
                market: Some(f("KXA")),
                limit: Some(1),
                ..Filters::default()
            },
            vec![3],
        ),
    ];
    for (filters, expected) in cases {
        assert_eq!(trade_ids(&store, filters.clone()), expected, "{filters:?}");
    }
}

#[test]
fn decisions_table_and_json_lines() {
    let (_dir, store) = store();
    let table = output(&store, ReviewCommand::Decisions(DecisionsArgs::default()));
    assert_eq!(
        table,
        "\
DECIDED_AT           EVENT     MARKET             OUTCOME          REASON
2026-03-01 09:00:00  e0        kalshi/KXA         below_threshold  |change_pct| 1.2 < min_shift_pct 5
2026-03-01 10:00:00  e1        kalshi/KXA         traded           bought 100 yes at 0.40
2026-03-01 12:00:00  e2        polymarket/will-b  traded           bought 50 no at 0.30
2026-03-02 09:00:00  e3        kalshi/KXA         no_trade         signal says NO_TRADE; closed kalshi/KXA yes (take_profit)
2026-03-02 10:00:00  bad,\"id\"  -                  invalid          price 1.5 is outside (0, 1)
2026-03-03 15:00:00  e4        kalshi/KXC         traded           bought 200 yes at 0.20
2026-03-03 15:00:00  e5        kalshi/KXC         cooldown         kalshi/KXC was sent for a signal 30s ago (cooldown 60s)
2026-03-05 10:00:00  e6        kalshi/KXC         signal_error     signal request failed: 503
"
    );
    let json = output(
        &store,
        ReviewCommand::Decisions(DecisionsArgs {
            json: true,
            ..DecisionsArgs::default()
        }),
    );
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(
        lines[1],
        "{\"event_id\":\"e1\",\"type\":\"price_shift\",\"platform\":\"kalshi\",\
         \"market_id\":\"KXA\",\"outcome\":\"traded\",\"reason\":\"bought 100 yes at 0.40\",\
         \"decided_at\":\"2026-03-01T10:00:00Z\"}"
    );
    assert_eq!(
        lines[4],
        "{\"event_id\":\"bad,\\\"id\\\"\",\"type\":\"price_shift\",\"platform\":null,\
         \"market_id\":null,\"outcome\":\"invalid\",\"reason\":\"price 1.5 is outside (0, 1)\",\
         \"decided_at\":\"2026-03-02T10:00:00Z\"}"
    );
}

#[test]
fn decisions_filters_select_by_outcome_market_side_action_and_time() {
    let (_dir, store) = store();
    let f = |text: &str| args::parse_market(text).expect("valid");
    let s = |text: &str| args::parse_since(text).expect("valid");
    let cases: Vec<(DecisionsArgs, Vec<&str>)> = vec![
        (
            DecisionsArgs {
                outcome: vec![strategies::Outcome::Traded, strategies::Outcome::NoTrade],
                ..DecisionsArgs::default()
            },
            vec!["e1", "e2", "e3", "e4"],
        ),
        (
            DecisionsArgs {
                filters: Filters {
                    side: Some(strategies::Side::No),
                    ..Filters::default()
                },
                ..DecisionsArgs::default()
            },
            vec!["e2"],
        ),
        (
            DecisionsArgs {
                filters: Filters {
                    action: Some(strategies::TradeAction::Close),
                    ..Filters::default()
                },
                ..DecisionsArgs::default()
            },
            vec!["e3"],
        ),
        (
            DecisionsArgs {
                filters: Filters {
                    market: Some(f("kalshi/KXC")),
                    since: Some(s("24h")),
                    ..Filters::default()
                },
                ..DecisionsArgs::default()
            },
            vec!["e6"],
        ),
        (
            DecisionsArgs {
                outcome: vec![strategies::Outcome::Traded],
                filters: Filters {
                    limit: Some(1),
                    ..Filters::default()
                },
                ..DecisionsArgs::default()
            },
            vec!["e4"],
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(event_ids(&store, args.clone()), expected, "{args:?}");
    }
}

#[test]
fn decisions_summary_counts_outcomes_and_the_funnel() {
    let (_dir, store) = store();
    let summary = DecisionsArgs {
        summary: true,
        ..DecisionsArgs::default()
    };
    assert_eq!(
        output(&store, ReviewCommand::Decisions(summary.clone())),
        "\
OUTCOME          COUNT    SHARE
traded               3   37.50%
below_threshold      1   12.50%
invalid              1   12.50%
cooldown             1   12.50%
no_trade             1   12.50%
signal_error         1   12.50%
total                8  100.00%

FUNNEL            COUNT  OF_RECEIVED  OF_PREVIOUS
received              8      100.00%      100.00%
passed threshold      5       62.50%       62.50%
signalled             4       50.00%       80.00%
traded                3       37.50%       75.00%
"
    );
    assert_eq!(
        output(
            &store,
            ReviewCommand::Decisions(DecisionsArgs {
                json: true,
                ..summary.clone()
            })
        ),
        "{\"total\":8,\"outcomes\":{\"traded\":3,\"below_threshold\":1,\"invalid\":1,\
         \"ignored_type\":0,\"filtered_market\":0,\"cooldown\":1,\"stale\":0,\"market_busy\":0,\
         \"no_trade\":1,\"signal_error\":1,\"signal_expired\":0,\"signal_budget\":0,\
         \"edge_below_min\":0,\"size_zero\":0,\"exposure_limit\":0},\
         \"funnel\":{\"received\":8,\"passed_threshold\":5,\"signalled\":4,\"traded\":3}}\n"
    );
    // The summary honours the filters: Kalshi's KXC only.
    let kxc = DecisionsArgs {
        json: true,
        filters: Filters {
            market: Some(args::parse_market("kalshi/KXC").expect("valid")),
            ..Filters::default()
        },
        ..summary
    };
    let value: serde_json::Value =
        serde_json::from_str(&output(&store, ReviewCommand::Decisions(kxc))).expect("JSON");
    assert_eq!(
        value["funnel"],
        serde_json::json!({"received": 3, "passed_threshold": 2, "signalled": 1, "traded": 1})
    );
}

#[test]
fn every_outcome_has_a_funnel_stage_consistent_with_the_pipeline() {
    use strategies::Outcome;
    for outcome in Outcome::ALL {
        let depth = decisions::funnel_depth(outcome);
        assert_eq!(depth == 3, outcome == Outcome::Traded, "{outcome}");
    }
    assert_eq!(decisions::funnel_depth(Outcome::Stale), 0);
    assert_eq!(decisions::funnel_depth(Outcome::MarketBusy), 1);
    assert_eq!(decisions::funnel_depth(Outcome::ExposureLimit), 2);
}

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
        "average_entry_edge": "0.096667",
        "max_drawdown": {
            "amount": "17.24", "fraction": "0.017043",
            "peak_at": "2026-03-02T09:00:00Z", "trough_at": "2026-03-04T11:00:00Z"
        },
        "sharpe": "1.563489",
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
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    for label in [
        "shiftbot paper book: equity and drawdown",
        "equity ($)",
        "drawdown ($)",
        "time (UTC)",
        "starting bankroll",
        "now 1004.34",
        ">1015<",
        ">-20<",
        ">03-02 00:00<",
    ] {
        assert!(svg.contains(label), "missing {label:?}");
    }
    // The equity line: a move to the start, then a horizontal and a vertical step per point.
    let path = svg
        .lines()
        .find(|l| l.contains("stroke=\"#1f5fbf\""))
        .expect("the equity path");
    assert_eq!(path.matches(" L").count(), 2 * 6, "{path}");
    // Every element opened is closed (a cheap well-formedness check).
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

#[test]
fn the_same_report_writes_its_chart_file_through_review() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    drop(build(&path));
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

struct FixedClock;

impl crate::clock::Clock for FixedClock {
    fn now(&self) -> strategies::Timestamp {
        super::fixture::now()
    }
}

#[test]
fn a_missing_store_reads_as_an_empty_book_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = ReviewTarget {
        store_path: dir.path().join("never-run"),
        admin_listen: "127.0.0.1:9".into(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    let ask = |command| {
        fetch_or_render(&target, &super::fixture::request(command))
            .expect("renders")
            .output
    };
    assert_eq!(
        ask(ReviewCommand::Positions(PositionsArgs::default())),
        "no open positions\n"
    );
    assert_eq!(
        ask(ReviewCommand::Ledger(LedgerArgs::default())),
        "no trades\n"
    );
    assert_eq!(ask(ledger(Filters::default())), "");
    assert_eq!(
        ask(ReviewCommand::Decisions(DecisionsArgs::default())),
        "no decisions\n"
    );
    let report = ask(ReviewCommand::Report(ReportArgs::default()));
    assert!(
        report.contains("starting bankroll               777.00\n"),
        "{report}"
    );
    assert!(
        report.contains("period                               -  nothing decided yet\n"),
        "{report}"
    );
    assert!(report.ends_with("exposure: none\n"), "{report}");
    assert!(
        !target.store_path.exists(),
        "reading must not create a store"
    );
}
