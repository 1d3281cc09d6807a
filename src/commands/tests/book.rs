//! `positions` and `ledger` on the fixture store: exact tables, JSON, CSV and filters;
//! and an empty book when there is no store.

use super::*;

fn trade_ids(store: &Store, filters: Filters) -> Vec<u64> {
    output(store, ledger(filters))
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            value["trade_id"].as_u64().expect("trade_id")
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
fn a_missing_store_is_an_error_naming_it_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = ReviewTarget {
        store_path: dir.path().join("never-run"),
        admin_listen: "127.0.0.1:9".into(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    for command in [
        ReviewCommand::Positions(PositionsArgs::default()),
        ReviewCommand::Ledger(LedgerArgs::default()),
        ReviewCommand::Decisions(DecisionsArgs::default()),
        ReviewCommand::Report(ReportArgs::default()),
    ] {
        let err = fetch_or_render(&target, &super::fixture::request(command))
            .expect_err("no store, no book");
        assert!(matches!(err, CommandError::NoStore(_)), "{err}");
        assert!(
            err.to_string()
                .contains(&target.store_path.display().to_string()),
            "{err}"
        );
    }
    assert!(
        !target.store_path.exists(),
        "reading must not create a store"
    );
}

/// The renderers on no store at all (a store that exists but never ran is read the same way).
#[test]
fn no_book_renders_as_an_empty_book() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = ReviewTarget {
        store_path: dir.path().join("never-run"),
        admin_listen: "127.0.0.1:9".into(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    let ask = |command| {
        render(None, &super::fixture::request(command))
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
