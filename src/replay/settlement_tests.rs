use rust_decimal_macros::dec;
use strategies::Platform;

use super::*;
use crate::replay::tape::{Tape, TapeError};
use crate::replay::test_support::{at, ndjson, settled, shift};

fn market(id: &str) -> MarketKey {
    MarketKey::new(Platform::Kalshi, id).expect("market")
}

fn settle_trade(trade_id: u64, event_id: &str, side: Side, price: Decimal, millis: i64) -> Trade {
    Trade {
        trade_id,
        event_id: event_id.to_string(),
        platform: Platform::Kalshi,
        market_id: "X".to_string(),
        side,
        action: TradeAction::Settle,
        contracts: 10,
        price,
        win_probability: None,
        cost: price * dec!(10),
        fee: dec!(0),
        cash_before: dec!(100),
        cash_after: dec!(100) + price * dec!(10),
        realized_pnl: Some(dec!(1)),
        placed_at: at(millis),
    }
}

#[test]
fn a_settlement_line_has_the_documented_shape_at_full_precision() {
    let settlement = Settlement {
        id: "resolution:kalshi/X:finalized".to_string(),
        market: market("X"),
        winner: Side::Yes,
        at: at(1_500) + chrono::Duration::nanoseconds(123),
    };
    let mut out = Vec::new();
    settlement.write(&mut out).expect("write to memory");
    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        "{\"id\":\"resolution:kalshi/X:finalized\",\"type\":\"settlement\",\
         \"data\":{\"market\":\"kalshi/X\",\"winner\":\"yes\"},\
         \"received_at\":\"2026-01-01T00:00:01.500000123Z\",\"signal\":null,\
         \"settlement\":{\"market\":\"kalshi/X\",\"winner\":\"yes\"}}\n"
    );
}

#[test]
fn a_tape_keeps_settlements_apart_from_the_events_with_their_place() {
    let text = format!(
        "{}{}{}{}",
        settled("manual-settle:kalshi/X", "kalshi/X", Side::No, 0),
        ndjson(&[
            shift("1", "kalshi/X", "0.50", "0.56", 100),
            shift("2", "kalshi/Y", "0.50", "0.56", 200),
        ]),
        settled("resolution:kalshi/Y:determined", "kalshi/Y", Side::Yes, 300),
        ndjson(&[shift("3", "kalshi/X", "0.56", "0.60", 400)]),
    );
    // A feed event *named* "settlement" is still an event: only the top-level field counts.
    let named = ndjson(&[crate::replay::test_support::line(
        "4",
        "settlement",
        serde_json::json!({"market": "kalshi/X", "winner": "yes"}),
        500,
    )]);
    let tape = Tape::read(format!("{text}{named}").as_bytes(), "x").expect("valid");
    assert_eq!(tape.len(), 4);
    assert_eq!(tape.id(2), Some("3"));
    assert_eq!(tape.id(3), Some("4"));
    assert_eq!(tape.span(), Some((at(100), at(500))));
    assert_eq!(
        tape.settlements(),
        &[
            PlacedSettlement {
                position: 0,
                settlement: Settlement {
                    id: "manual-settle:kalshi/X".into(),
                    market: market("X"),
                    winner: Side::No,
                    at: at(0),
                },
            },
            PlacedSettlement {
                position: 2,
                settlement: Settlement {
                    id: "resolution:kalshi/Y:determined".into(),
                    market: market("Y"),
                    winner: Side::Yes,
                    at: at(300),
                },
            },
        ]
    );
}

#[test]
fn a_malformed_settlement_is_a_line_error_saying_what_is_wrong() {
    let good = ndjson(&[shift("1", "kalshi/X", "0.50", "0.56", 0)]);
    let valid = settled("s", "kalshi/X", Side::Yes, 100);
    for (broken, expected) in [
        (
            valid.replace("\"settlement\":{", "\"settlement\":{\"extra\":1,"),
            None,
        ),
        (
            valid.replace(",\"winner\":\"yes\"}}", "}}"),
            Some("settlement: expected {\"market\""),
        ),
        (
            valid.replace("\"winner\":\"yes\"}}", "\"winner\":\"maybe\"}}"),
            Some("settlement.winner: expected \"yes\" or \"no\", got \"maybe\""),
        ),
        (
            valid.replace(
                "\"settlement\":{\"market\":\"kalshi/X\"",
                "\"settlement\":{\"market\":\"X\"",
            ),
            Some("settlement.market: market \"X\" is not of the form"),
        ),
        (
            valid.replace(
                "\"settlement\":{\"market\":\"kalshi/X\"",
                "\"settlement\":{\"market\":\"nasdaq/X\"",
            ),
            Some("settlement.market: unknown platform \"nasdaq\""),
        ),
        (
            valid.replace(
                "\"settlement\":{\"market\":\"kalshi/X\",\"winner\":\"yes\"}",
                "\"settlement\":\"kalshi/X yes\"",
            ),
            Some("settlement: expected {"),
        ),
    ] {
        let result = Tape::read(format!("{good}{broken}").as_bytes(), "rec.ndjson");
        match (result, expected) {
            (Ok(tape), None) => assert_eq!(tape.settlements().len(), 1, "{broken}"),
            (Err(TapeError::Line { line, message, .. }), Some(expected)) => {
                assert_eq!(line, 2, "{broken}");
                assert!(message.starts_with(expected), "{broken}: {message}");
            }
            (other, expected) => panic!("{broken}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[test]
fn settle_trades_group_into_settlements_and_give_back_the_winner() {
    let mut open = settle_trade(1, "e1", Side::Yes, dec!(0.4), 0);
    open.action = TradeAction::Open;
    let mut close = settle_trade(2, "e2", Side::Yes, dec!(0.5), 100);
    close.action = TradeAction::Close;
    let trades = vec![
        open,
        close,
        // Both sides held, settled at once: one settlement, YES won.
        settle_trade(3, "manual-settle:kalshi/X", Side::Yes, dec!(1), 200),
        settle_trade(4, "manual-settle:kalshi/X", Side::No, dec!(0), 200),
        // The same id again later (the market was held again): a settlement of its own.
        settle_trade(5, "manual-settle:kalshi/X", Side::Yes, dec!(0), 300),
        settle_trade(6, "resolution:kalshi/X:finalized", Side::No, dec!(1), 300),
    ];
    let settlements = settlements_from_trades(trades).expect("readable");
    let summary: Vec<(&str, Side, Timestamp)> = settlements
        .iter()
        .map(|s| (s.id.as_str(), s.winner, s.at))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("manual-settle:kalshi/X", Side::Yes, at(200)),
            ("manual-settle:kalshi/X", Side::No, at(300)),
            ("resolution:kalshi/X:finalized", Side::No, at(300)),
        ]
    );
    assert!(settlements.iter().all(|s| s.market == market("X")));
}

#[test]
fn settle_trades_that_hide_the_winner_are_refused() {
    let odd = settle_trade(3, "s", Side::Yes, dec!(0.5), 0);
    let err = settlements_from_trades(vec![odd]).expect_err("paid 0.5");
    assert!(err.contains("paid 0.5 per contract"), "{err}");
    let both_won = vec![
        settle_trade(3, "s", Side::Yes, dec!(1), 0),
        settle_trade(4, "s", Side::No, dec!(1), 0),
    ];
    let err = settlements_from_trades(both_won).expect_err("disagree");
    assert!(err.contains("disagree on the winner"), "{err}");
}
