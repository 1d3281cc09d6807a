//! Property tests of the report metrics, over books built by the real `Book`.

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Open(usize, Side, u64, i64, i64, i64),
    Close(usize, Side, u64, i64, i64),
    Settle(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let side = prop_oneof![Just(Side::Yes), Just(Side::No)];
    prop_oneof![
        4 => (0usize..3, side.clone(), 1u64..500, 1i64..100, 0i64..300, 0i64..=100)
            .prop_map(|(m, s, n, p, f, w)| Op::Open(m, s, n, p, f, w)),
        2 => (0usize..3, side, 0u64..600, 1i64..100, 0i64..300)
            .prop_map(|(m, s, n, p, f)| Op::Close(m, s, n, p, f)),
        1 => (0usize..3, any::<bool>()).prop_map(|(m, yes)| Op::Settle(m, yes)),
    ]
}

fn markets() -> [MarketKey; 3] {
    [
        market(Platform::Kalshi, "K1"),
        market(Platform::Kalshi, "K2"),
        market(Platform::Polymarket, "P1"),
    ]
}

/// Run the ops through the real book, each an hour (plus `gap` hours) after the previous.
fn replay(bankroll: Decimal, ops: &[Op], gaps: &[i64]) -> (Book, Vec<Trade>) {
    let markets = markets();
    let mut book = Book::new(bankroll);
    let mut trades = Vec::new();
    let mut now = day(1, 0);
    for (i, op) in ops.iter().enumerate() {
        now += Duration::hours(1 + gaps.get(i).copied().unwrap_or(0));
        let id = format!("e{i}");
        match *op {
            Op::Open(m, side, n, p, f, w) => {
                let s = sizing(n, dec(p, 2), dec(f, 2));
                if s.cost + s.fee <= book.cash() {
                    trades.push(book.open(&id, &markets[m], side, &s, dec(w, 2), now));
                }
            }
            Op::Close(m, side, n, p, f) => {
                let fee = dec(f, 2).min(Decimal::from(n) * dec(p, 2));
                let action = TradeAction::Close;
                trades.extend(book.close(&id, &markets[m], side, action, n, dec(p, 2), fee, now));
            }
            Op::Settle(m, yes) => {
                for side in [Side::Yes, Side::No] {
                    let paid = if (side == Side::Yes) == yes {
                        Decimal::ONE
                    } else {
                        Decimal::ZERO
                    };
                    let action = TradeAction::Settle;
                    let n = u64::MAX;
                    let z = Decimal::ZERO;
                    trades.extend(book.close(&id, &markets[m], side, action, n, paid, z, now));
                }
            }
        }
    }
    (book, trades)
}

fn brute_force_drawdown(equity: &[Decimal]) -> (Decimal, Decimal) {
    let mut amount = Decimal::ZERO;
    let mut fraction = Decimal::ZERO;
    for j in 0..equity.len() {
        for i in 0..j {
            let fall = equity[i] - equity[j];
            amount = amount.max(fall);
            if equity[i] > Decimal::ZERO && fall > Decimal::ZERO {
                fraction = fraction.max(fall / equity[i]);
            }
        }
    }
    (amount, fraction)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// equity − bankroll = realized + unrealized, and the report agrees with the book's totals,
    /// for any opens, closes and settlements and any marks.
    #[test]
    fn prop_equity_is_bankroll_plus_realized_plus_unrealized(
        bankroll in (100i64..1_000_000).prop_map(|c| dec(c, 0)),
        ops in prop::collection::vec(op(), 0..40),
        gaps in prop::collection::vec(0i64..40, 40),
        marks in prop::collection::vec(1i64..100, 3),
    ) {
        let (book, trades) = replay(bankroll, &ops, &gaps);
        let stream: Vec<(MarketKey, Price)> = markets()
            .into_iter()
            .zip(marks)
            .map(|(m, p)| (m, price(p, 2)))
            .collect();
        let marks = Marks::new(stream.iter().map(|(m, p)| (m, *p)), &trades);
        let positions: Vec<Position> = book.positions.values().cloned().collect();
        let now = trades.last().map_or(day(1, 0), |t| t.placed_at) + Duration::hours(1);
        let r = compute(&ReportInput {
            snapshots: &[],
            starting_bankroll: bankroll,
            trades: &trades,
            positions: &positions,
            marks: &marks,
            decision_span: None,
            now,
        });
        prop_assert_eq!(r.cash, book.cash());
        prop_assert_eq!(r.fees, book.totals.fees_paid);
        prop_assert_eq!(r.realized_pnl, book.totals.realized_pnl);
        prop_assert_eq!(r.equity - bankroll, r.realized_pnl + r.unrealized_pnl);
        prop_assert_eq!(r.trades.total as usize, trades.len());
        prop_assert_eq!(r.trades.open + r.trades.close + r.trades.settle, r.trades.total);

        // The curve: bankroll first, today's equity last, one point per trade in between.
        prop_assert_eq!(r.curve.len(), trades.len() + 2);
        prop_assert_eq!(r.curve[0].equity, bankroll);
        prop_assert_eq!(r.curve.last().map(|p| p.equity), Some(r.equity));
        prop_assert!(r.curve.iter().all(|p| p.drawdown >= Decimal::ZERO));

        let equity: Vec<Decimal> = r.curve.iter().map(|p| p.equity).collect();
        let (amount, fraction) = brute_force_drawdown(&equity);
        prop_assert_eq!(r.max_drawdown.amount, amount);
        prop_assert_eq!(r.max_drawdown.fraction, fraction);
        prop_assert_eq!(
            r.curve.iter().map(|p| p.drawdown).max().unwrap_or_default(),
            amount
        );

        let c = &r.closed;
        prop_assert!(c.wins + c.losses <= c.count);
        if let Some(rate) = c.win_rate {
            prop_assert!(rate >= Decimal::ZERO && rate <= Decimal::ONE);
        }
        if let (Some(pf), true) = (c.profit_factor, c.gross_profit > Decimal::ZERO) {
            prop_assert!(pf > Decimal::ZERO);
        }
        prop_assert_eq!(c.gross_profit - c.gross_loss, r.realized_pnl);

        // A daily close for every calendar day the curve spans.
        if let (Some(first), Some(last)) = (r.curve.first(), r.curve.last()) {
            let days = (last.at.date_naive() - first.at.date_naive()).num_days() + 1;
            prop_assert_eq!(r.sharpe_days as i64, days);
        }
    }

    /// Scaling every daily return's equity path by a constant changes no return, so the
    /// Sharpe ratio is the same.
    #[test]
    fn prop_sharpe_does_not_depend_on_the_size_of_the_book(
        equity in prop::collection::vec(50i64..200, 3..30),
        scale in 2i64..50,
    ) {
        let days: Vec<(u32, u32)> = (0..equity.len()).map(|i| (1 + i as u32, 12)).collect();
        let base: Vec<Decimal> = equity.iter().map(|&e| dec(e, 0)).collect();
        let scaled: Vec<Decimal> = base.iter().map(|&e| e * Decimal::from(scale)).collect();
        let a = sharpe(&daily_returns(&points(&base, &days)));
        let b = sharpe(&daily_returns(&points(&scaled, &days)));
        match (a, b) {
            (Some(a), Some(b)) => prop_assert!((a - b).abs() < dec(1, 15), "{} vs {}", a, b),
            (a, b) => prop_assert_eq!(a, b),
        }
    }
}
