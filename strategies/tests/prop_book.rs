//! The paper book: the accounting identity, round-trip P&L, no shorting, trade id and cash chains
//! (hand-computed cases are in `book_examples.rs`).

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::{Book, MarketKey, Platform, Price, Side, Trade, TradeAction};
use support::*;

fn markets() -> Vec<MarketKey> {
    vec![
        market(Platform::Kalshi, "KXFED-26MAR19"),
        market(Platform::Kalshi, "KXCPI-26APR"),
        market(Platform::Polymarket, "will-it-rain"),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Open {
        market: usize,
        side: Side,
        contracts: u64,
        price: Price,
        fee: Decimal,
    },
    Close {
        market: usize,
        side: Side,
        contracts: u64,
        price: Price,
        fee: Decimal,
    },
}

fn open_op() -> impl Strategy<Value = Op> {
    (0usize..3, side(), 1u64..=2_000, any_price(), money(2_000)).prop_map(
        |(market, side, contracts, price, fee)| Op::Open {
            market,
            side,
            contracts,
            price,
            fee,
        },
    )
}

/// Closes ask for 0..=2500 contracts, so they often ask for more than is held (or for nothing).
fn close_op() -> impl Strategy<Value = Op> {
    (0usize..3, side(), 0u64..=2_500, any_price(), money(2_000)).prop_map(
        |(market, side, contracts, price, fee)| Op::Close {
            market,
            side,
            contracts,
            price,
            fee,
        },
    )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(prop_oneof![3 => open_op(), 2 => close_op()], 0..60)
}

fn bankroll() -> impl Strategy<Value = Decimal> {
    (1i64..=100_000_000).prop_map(|n| dec(n, 2))
}

/// Apply one op; return the trade it made, if any.
fn apply(book: &mut Book, op: &Op, seq: usize) -> Option<Trade> {
    let markets = markets();
    let now = at(seq as i64);
    let event_id = format!("ev-{seq}");
    match op {
        Op::Open {
            market,
            side,
            contracts,
            price,
            fee,
        } => {
            let s = sizing(*contracts, *price, *fee);
            Some(book.open(&event_id, &markets[*market], *side, &s, Decimal::ONE, now))
        }
        Op::Close {
            market,
            side,
            contracts,
            price,
            fee,
        } => book.close(
            &event_id,
            &markets[*market],
            *side,
            TradeAction::Close,
            *contracts,
            price.get(),
            *fee,
            now,
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_identity_holds_after_any_opens_and_closes(bankroll in bankroll(), ops in ops()) {
        let mut book = Book::new(bankroll);
        prop_assert_eq!(book.accounted_total(), bankroll);
        for (i, op) in ops.iter().enumerate() {
            apply(&mut book, op, i);
            prop_assert_eq!(
                book.accounted_total(), bankroll,
                "after op {} {:?}: cash {} exposure {} open fees {} realized {}",
                i, op, book.cash(), book.open_exposure(), book.open_fees(), book.totals.realized_pnl
            );
        }
    }

    #[test]
    fn prop_only_opens_cash_plus_exposure_plus_fees_is_bankroll(
        bankroll in bankroll(),
        ops in prop::collection::vec(open_op(), 0..60),
    ) {
        let mut book = Book::new(bankroll);
        for (i, op) in ops.iter().enumerate() {
            apply(&mut book, op, i);
            prop_assert_eq!(book.cash() + book.open_exposure() + book.totals.fees_paid, bankroll);
            prop_assert_eq!(book.open_fees(), book.totals.fees_paid);
            prop_assert_eq!(book.totals.realized_pnl, Decimal::ZERO);
        }
    }

    #[test]
    fn prop_round_trip_realized_pnl(
        bankroll in bankroll(),
        n in 1u64..=100_000,
        c1 in any_price(),
        c2 in any_price(),
        f1 in money(10_000),
        f2 in money(10_000),
        side in side(),
    ) {
        let m = &markets()[0];
        let mut book = Book::new(bankroll);
        book.open("in", m, side, &sizing(n, c1, f1), Decimal::ONE, at(0));
        let t = book.close("out", m, side, TradeAction::Close, n, c2.get(), f2, at(1));
        let t = t.expect("a held position closes");
        let nd = Decimal::from(n);
        let expected = nd * c2.get() - nd * c1.get() - f1 - f2;
        prop_assert_eq!(t.realized_pnl, Some(expected));
        prop_assert_eq!(t.contracts, n);
        prop_assert_eq!(t.cost, nd * c2.get());
        prop_assert_eq!(t.fee, f2);
        prop_assert_eq!(book.totals.realized_pnl, expected);
        prop_assert_eq!(book.cash(), bankroll + expected);
        prop_assert!(book.positions.is_empty());
        prop_assert_eq!(book.totals.fees_paid, f1 + f2);
    }

    /// Closing a position in pieces realizes the same total as closing it at once.
    #[test]
    fn prop_partial_closes_add_up_to_the_round_trip(
        n in 1u64..=10_000,
        c1 in any_price(),
        c2 in any_price(),
        f1 in money(10_000),
        pieces in prop::collection::vec((1u64..=10_000, money(500)), 1..8),
        side in side(),
    ) {
        let bankroll = dec(100_000, 0);
        let m = &markets()[1];
        let mut book = Book::new(bankroll);
        book.open("in", m, side, &sizing(n, c1, f1), Decimal::ONE, at(0));
        let mut sold = 0u64;
        let mut exit_fees = Decimal::ZERO;
        for (i, (k, fee)) in pieces.iter().enumerate() {
            if let Some(t) = book.close(&format!("out-{i}"), m, side, TradeAction::Close, *k, c2.get(), *fee, at(1)) {
                sold += t.contracts;
                exit_fees += t.fee;
            }
        }
        // Whatever is left goes at the end, free of fees.
        let rest = n - sold;
        if rest > 0 {
            book.close("last", m, side, TradeAction::Close, rest, c2.get(), Decimal::ZERO, at(2));
        }
        prop_assert!(book.positions.is_empty());
        let nd = Decimal::from(n);
        prop_assert_eq!(book.totals.realized_pnl, nd * c2.get() - nd * c1.get() - f1 - exit_fees);
        prop_assert_eq!(book.cash(), bankroll + book.totals.realized_pnl);
        prop_assert_eq!(book.accounted_total(), bankroll);
    }

    /// Positions always hold what was opened minus what was closed, never less than zero, and a
    /// close of more than is held sells exactly what is held.
    #[test]
    fn prop_closing_never_goes_short(bankroll in bankroll(), ops in ops()) {
        let mut book = Book::new(bankroll);
        let mut held: BTreeMap<(usize, Side), u64> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            let before = book.clone();
            let trade = apply(&mut book, op, i);
            match op {
                Op::Open { market, side, contracts, .. } => {
                    *held.entry((*market, *side)).or_default() += contracts;
                }
                Op::Close { market, side, contracts, .. } => {
                    let h = held.get(&(*market, *side)).copied().unwrap_or(0);
                    let expect = (*contracts).min(h);
                    if expect == 0 {
                        prop_assert!(trade.is_none(), "close of {} with {} held traded", contracts, h);
                        prop_assert_eq!(&book, &before, "a refused close changed the book");
                    } else {
                        let t = trade.as_ref().expect("close of a held position trades");
                        prop_assert_eq!(t.contracts, expect);
                        prop_assert_eq!(t.action, TradeAction::Close);
                        held.insert((*market, *side), h - expect);
                    }
                }
            }
            let markets = markets();
            for ((m, s), h) in &held {
                let in_book = book.position(&markets[*m], *s).map_or(0, |p| p.contracts);
                prop_assert_eq!(in_book, *h, "position {}/{}", markets[*m], s);
            }
            prop_assert!(book.positions.values().all(|p| p.contracts > 0 && p.cost_basis > Decimal::ZERO));
        }
    }

    #[test]
    fn prop_trade_ids_dense_and_cash_chains(bankroll in bankroll(), ops in ops()) {
        let mut book = Book::new(bankroll);
        let mut trades = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let Some(t) = apply(&mut book, op, i) {
                trades.push(t);
            }
        }
        let mut cash = bankroll;
        for (i, t) in trades.iter().enumerate() {
            prop_assert_eq!(t.trade_id, i as u64 + 1);
            prop_assert_eq!(t.cash_before, cash, "trade {}", t.trade_id);
            let expected_after = match t.action {
                TradeAction::Open => t.cash_before - t.cost - t.fee,
                _ => t.cash_before + t.cost - t.fee,
            };
            prop_assert_eq!(t.cash_after, expected_after);
            prop_assert_eq!(t.cost, Decimal::from(t.contracts) * t.price);
            cash = t.cash_after;
        }
        prop_assert_eq!(book.cash(), cash);
        prop_assert_eq!(book.totals.next_trade_id, trades.len() as u64 + 1);
        let fees: Decimal = trades.iter().map(|t| t.fee).sum();
        prop_assert_eq!(book.totals.fees_paid, fees);
        let realized: Decimal = trades.iter().filter_map(|t| t.realized_pnl).sum();
        prop_assert_eq!(book.totals.realized_pnl, realized);
    }

    /// Opens at several prices average to total cost over total contracts.
    #[test]
    fn prop_average_price_is_cost_over_contracts(
        fills in prop::collection::vec((1u64..=1_000, cent_price()), 1..10),
        side in side(),
    ) {
        let m = &markets()[2];
        let mut book = Book::new(dec(1_000_000, 0));
        for (i, (n, c)) in fills.iter().enumerate() {
            book.open(&format!("e{i}"), m, side, &sizing(*n, *c, Decimal::ZERO), Decimal::ONE, at(i as i64));
        }
        let total_n: u64 = fills.iter().map(|(n, _)| n).sum();
        let total_cost: Decimal = fills.iter().map(|(n, c)| Decimal::from(*n) * c.get()).sum();
        let p = book.position(m, side).expect("open position");
        prop_assert_eq!(p.contracts, total_n);
        prop_assert_eq!(p.cost_basis, total_cost);
        prop_assert_eq!(p.average_price(), total_cost / Decimal::from(total_n));
        prop_assert_eq!(p.opened_at, at(0));
        prop_assert_eq!(p.updated_at, at(fills.len() as i64 - 1));
    }
}
