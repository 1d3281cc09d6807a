//! `decisions` on the fixture store: table, JSON lines, filters, summary and funnel.

use super::*;

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
         \"edge_below_min\":0,\"size_zero\":0,\"exposure_limit\":0,\"paused\":0,\"control\":0},\
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
        let depth = crate::commands::decisions::funnel_depth(outcome);
        assert_eq!(depth == 3, outcome == Outcome::Traded, "{outcome}");
    }
    assert_eq!(crate::commands::decisions::funnel_depth(Outcome::Stale), 0);
    assert_eq!(
        crate::commands::decisions::funnel_depth(Outcome::MarketBusy),
        1
    );
    assert_eq!(
        crate::commands::decisions::funnel_depth(Outcome::ExposureLimit),
        2
    );
}

#[test]
fn a_limit_reads_the_newest_from_the_end_and_never_touches_the_rest() {
    let (_dir, store) = store();
    // Damage the oldest decision and the oldest trade: a read that starts at the beginning
    // fails on them; `--limit` reads from the end and never gets there.
    let first = |tree: &sled::Tree| tree.first().expect("readable").expect("a record").0;
    store
        .decisions
        .insert(first(&store.decisions), &b"not a record"[..])
        .expect("insert");
    store
        .trades
        .insert(first(&store.trades), &b"not a trade"[..])
        .expect("insert");
    let limited = |limit| DecisionsArgs {
        filters: Filters {
            limit: Some(limit),
            ..Filters::default()
        },
        ..DecisionsArgs::default()
    };
    assert_eq!(event_ids(&store, limited(3)), ["e4", "e5", "e6"]);
    let traded = DecisionsArgs {
        outcome: vec![strategies::Outcome::Traded],
        ..limited(2)
    };
    assert_eq!(event_ids(&store, traded), ["e2", "e4"]);
    let summary = output(
        &store,
        ReviewCommand::Decisions(DecisionsArgs {
            summary: true,
            json: true,
            ..limited(3)
        }),
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["outcomes"]["traded"], 1);
    let trades: Vec<u64> = output(
        &store,
        ledger(Filters {
            limit: Some(2),
            ..Filters::default()
        }),
    )
    .lines()
    .map(|l| {
        serde_json::from_str::<serde_json::Value>(l).expect("json")["trade_id"]
            .as_u64()
            .expect("id")
    })
    .collect();
    assert_eq!(trades.len(), 2);
    // Without a limit the whole history is read, and the damage is reported, not skipped.
    for command in [
        ReviewCommand::Decisions(DecisionsArgs::default()),
        ReviewCommand::Decisions(DecisionsArgs {
            json: true,
            ..DecisionsArgs::default()
        }),
        ReviewCommand::Decisions(DecisionsArgs {
            summary: true,
            ..DecisionsArgs::default()
        }),
        ledger(Filters::default()),
    ] {
        let err = render(Some(&store), &fixture::request(command)).expect_err("damaged");
        assert!(
            matches!(err, CommandError::Store(StoreError::Corrupt { .. })),
            "{err}"
        );
    }
}
