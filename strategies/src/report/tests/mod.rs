//! Hand-computed examples of the report metrics; the properties are in `props`.

mod props;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::{Decimal, MathematicalOps};

use super::*;
use crate::book::Book;
use crate::sizing::Sizing;

fn dec(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

fn day(d: u32, hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, d, hour, 0, 0)
        .single()
        .unwrap_or_default()
}

fn market(platform: Platform, id: &str) -> MarketKey {
    MarketKey::new(platform, id).unwrap_or_else(|e| panic!("test literal: {e}"))
}

fn price(mantissa: i64, scale: u32) -> Price {
    Price::new(dec(mantissa, scale)).unwrap_or_else(|e| panic!("test literal: {e}"))
}

fn sizing(contracts: u64, price: Decimal, fee: Decimal) -> Sizing {
    Sizing {
        contracts,
        price,
        cost: Decimal::from(contracts) * price,
        fee,
        stake: Decimal::from(contracts) * price + fee,
        kelly: Decimal::ZERO,
        edge_after_fees: Decimal::ZERO,
    }
}

/// The worked example of `docs/reviewing.md`: two opens, a take-profit, another open, a
/// settlement lost. Every expected number below is computed by hand in the comments.
struct Example {
    trades: Vec<Trade>,
    book: Book,
    marks: Marks,
}

fn example() -> Example {
    let a = market(Platform::Kalshi, "A");
    let b = market(Platform::Polymarket, "B");
    let c = market(Platform::Kalshi, "C");
    let mut book = Book::new(dec(1000, 0));
    let mut trades = Vec::new();
    // 100 YES @ 0.40, fee 0.07·100·0.4·0.6 = 1.68; cash 1000 − 40 − 1.68 = 958.32; edge 0.10.
    trades.push(book.open(
        "e1",
        &a,
        Side::Yes,
        &sizing(100, dec(40, 2), dec(168, 2)),
        dec(50, 2),
        day(1, 10),
    ));
    // 50 NO @ 0.30 on Polymarket (no fee); cash 943.32; edge 0.15.
    trades.push(book.open(
        "e2",
        &b,
        Side::No,
        &sizing(50, dec(30, 2), Decimal::ZERO),
        dec(45, 2),
        day(1, 12),
    ));
    // Sell A at 0.55, fee 1.74: realized 55 − 40 − 1.68 − 1.74 = 11.58; cash 996.58.
    trades.extend(book.close(
        "e3",
        &a,
        Side::Yes,
        TradeAction::Close,
        100,
        dec(55, 2),
        dec(174, 2),
        day(2, 9),
    ));
    // 200 YES @ 0.20, fee 2.24; cash 954.34; edge 0.04.
    trades.push(book.open(
        "e4",
        &c,
        Side::Yes,
        &sizing(200, dec(20, 2), dec(224, 2)),
        dec(24, 2),
        day(3, 15),
    ));
    // B resolves YES: the 50 NO pay 0; realized −15.
    trades.extend(book.close(
        "settle",
        &b,
        Side::No,
        TradeAction::Settle,
        50,
        Decimal::ZERO,
        Decimal::ZERO,
        day(4, 11),
    ));
    let stream = [(c.clone(), price(25, 2))];
    let marks = Marks::new(stream.iter().map(|(m, p)| (m, *p)), &trades);
    Example {
        trades,
        book,
        marks,
    }
}

fn example_report() -> (Report, Example) {
    let ex = example();
    let positions: Vec<Position> = ex.book.positions.values().cloned().collect();
    let report = compute(&ReportInput {
        snapshots: &[],
        starting_bankroll: dec(1000, 0),
        trades: &ex.trades,
        positions: &positions,
        marks: &ex.marks,
        decision_span: Some((day(1, 9), day(5, 10))),
        now: day(5, 12),
    });
    (report, ex)
}

#[test]
fn the_worked_example_matches_the_hand_computation() {
    let (r, _) = example_report();
    assert_eq!(r.cash, dec(95434, 2));
    // C: 200 × 0.25 = 50; unrealized 50 − 40 − 2.24 = 7.76.
    assert_eq!(r.market_value, dec(50, 0));
    assert_eq!(r.equity, dec(100434, 2));
    assert_eq!(r.unrealized_pnl, dec(776, 2));
    assert_eq!(r.realized_pnl, dec(-342, 2));
    assert_eq!(r.fees, dec(566, 2));
    assert_eq!(r.return_fraction, Some(dec(434, 5)));
    assert_eq!(
        r.trades,
        TradeCounts {
            total: 5,
            open: 3,
            close: 1,
            settle: 1
        }
    );
    assert_eq!(r.closed.count, 2);
    assert_eq!((r.closed.wins, r.closed.losses), (1, 1));
    assert_eq!(r.closed.win_rate, Some(dec(5, 1)));
    assert_eq!(r.closed.gross_profit, dec(1158, 2));
    assert_eq!(r.closed.gross_loss, dec(15, 0));
    assert_eq!(r.closed.profit_factor, Some(dec(772, 3)));
    assert_eq!(r.closed.expectancy, Some(dec(-171, 2)));
    assert_eq!(
        r.average_entry_edge.map(|e| e.round_dp(20)),
        Some(Decimal::from_str_exact("0.09666666666666666667").unwrap_or_default())
    );
    assert_eq!(r.open_positions, 1);
    assert_eq!(
        r.exposure.get(&Platform::Kalshi),
        Some(&Exposure {
            positions: 1,
            cost_basis: dec(40, 0),
            market_value: dec(50, 0)
        })
    );
    assert_eq!(r.exposure.get(&Platform::Polymarket), None);
    assert_eq!(
        r.period,
        Some(Period {
            start: day(1, 9),
            end: day(5, 10)
        })
    );
}

#[test]
fn the_worked_example_curve_drawdown_and_sharpe() {
    let (r, _) = example_report();
    let equity: Vec<Decimal> = r.curve.iter().map(|p| p.equity).collect();
    // start; A bought (A at 0.40); B bought (B NO at 0.30); A sold; C bought; B settled at 0; now.
    let expected = [
        dec(1000, 0),
        dec(99832, 2),
        dec(99832, 2),
        dec(101158, 2),
        dec(100934, 2),
        dec(99434, 2),
        dec(100434, 2),
    ];
    assert_eq!(equity, expected);
    let at: Vec<Timestamp> = r.curve.iter().map(|p| p.at).collect();
    assert_eq!(
        at,
        [
            day(1, 9),
            day(1, 10),
            day(1, 12),
            day(2, 9),
            day(3, 15),
            day(4, 11),
            day(5, 12)
        ]
    );
    assert_eq!(r.curve[5].drawdown, dec(1724, 2));
    // Worst fall: 1011.58 → 994.34.
    assert_eq!(r.max_drawdown.amount, dec(1724, 2));
    assert_eq!(r.max_drawdown.peak_at, Some(day(2, 9)));
    assert_eq!(r.max_drawdown.trough_at, Some(day(4, 11)));
    assert_eq!(
        r.max_drawdown.fraction.round_dp(12),
        Decimal::from_str_exact("0.017042646157").unwrap_or_default()
    );
    // Daily closes 998.32, 1011.58, 1009.34, 994.34, 1004.34 over a 1000 start; the Sharpe
    // ratio was computed independently with Python's decimal module at 50 digits.
    assert_eq!(r.sharpe_days, 5);
    assert_eq!(
        r.sharpe.map(|s| s.round_dp(10)),
        Some(Decimal::from_str_exact("1.5634889899").unwrap_or_default())
    );
}

#[test]
fn positions_are_valued_at_the_stream_then_the_last_trade_then_the_entry() {
    let (_, ex) = example_report();
    let c = market(Platform::Kalshi, "C");
    let held = ex
        .book
        .position(&c, Side::Yes)
        .cloned()
        .unwrap_or_else(|| panic!("C is held"));
    let v = value_position(&held, &ex.marks);
    assert_eq!((v.mark, v.mark_source), (dec(25, 2), MarkSource::Stream));

    // Without a streamed price: the last trade in C (the open at 0.20).
    let only_trades = Marks::new(std::iter::empty(), &ex.trades);
    let v = value_position(&held, &only_trades);
    assert_eq!((v.mark, v.mark_source), (dec(20, 2), MarkSource::LastTrade));
    assert_eq!(v.unrealized_pnl, dec(-224, 2));

    // A NO position is valued at 1 − the YES price.
    let mut no = held.clone();
    no.side = Side::No;
    let v = value_position(&no, &ex.marks);
    assert_eq!(v.mark, dec(75, 2));
    assert_eq!(v.market_value, dec(150, 0));

    // Nothing known: the average entry price, so unrealized is minus the entry fees.
    let v = value_position(&held, &Marks::default());
    assert_eq!((v.mark, v.mark_source), (dec(20, 2), MarkSource::Entry));
    assert_eq!(v.unrealized_pnl, dec(-224, 2));
}

#[test]
fn an_empty_ledger_reports_the_bankroll_and_nothing_else() {
    let now = day(3, 12);
    let r = compute(&ReportInput {
        snapshots: &[],
        starting_bankroll: dec(500, 0),
        trades: &[],
        positions: &[],
        marks: &Marks::default(),
        decision_span: None,
        now,
    });
    assert_eq!((r.cash, r.equity), (dec(500, 0), dec(500, 0)));
    assert_eq!(r.return_fraction, Some(Decimal::ZERO));
    assert_eq!(r.closed.win_rate, None);
    assert_eq!(r.closed.profit_factor, None);
    assert_eq!(r.closed.expectancy, None);
    assert_eq!(r.average_entry_edge, None);
    assert_eq!(r.sharpe, None);
    assert_eq!(r.period, None);
    assert_eq!(r.max_drawdown, Drawdown::default());
    assert_eq!(r.curve.len(), 2);
}

fn points(equity: &[Decimal], days: &[(u32, u32)]) -> Vec<EquityPoint> {
    let mut peak = equity[0];
    equity
        .iter()
        .zip(days)
        .map(|(&e, &(d, h))| {
            peak = peak.max(e);
            EquityPoint {
                at: day(d, h),
                equity: e,
                drawdown: peak - e,
            }
        })
        .collect()
}

#[test]
fn sharpe_of_a_known_series() {
    // Daily returns +10 %, −10 %, +10 %: mean 1/30, sample stdev 1/√75, so
    // Sharpe = (1/30)·√75·√365 = √1095 / 6.
    let curve = points(
        &[dec(100, 0), dec(110, 0), dec(99, 0), dec(1089, 1)],
        &[(1, 0), (1, 18), (2, 18), (3, 18)],
    );
    let daily = daily_returns(&curve);
    let rets: Vec<Decimal> = daily.iter().map(|d| d.ret).collect();
    assert_eq!(rets, [dec(1, 1), dec(-1, 1), dec(1, 1)]);
    let expected = Decimal::from(1095)
        .sqrt()
        .unwrap_or_default()
        .checked_div(dec(6, 0))
        .unwrap_or_default();
    let got = sharpe(&daily).unwrap_or_default();
    assert!((got - expected).abs() < dec(1, 20), "{got} vs {expected}");
    assert_eq!(got.round_dp(6), dec(5_515_131, 6));
}

#[test]
fn quiet_days_repeat_the_last_close_and_a_single_day_has_no_sharpe() {
    let curve = points(
        &[dec(100, 0), dec(120, 0), dec(90, 0)],
        &[(1, 0), (1, 5), (4, 5)],
    );
    let daily = daily_returns(&curve);
    let closes: Vec<(NaiveDate, Decimal)> = daily.iter().map(|d| (d.day, d.equity)).collect();
    let date = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap_or_default();
    assert_eq!(
        closes,
        [
            (date(1), dec(120, 0)),
            (date(2), dec(120, 0)),
            (date(3), dec(120, 0)),
            (date(4), dec(90, 0))
        ]
    );
    assert_eq!(daily[1].ret, Decimal::ZERO);
    assert_eq!(daily[3].ret, dec(-25, 2));

    let one_day = points(&[dec(100, 0), dec(120, 0)], &[(1, 0), (1, 5)]);
    assert_eq!(sharpe(&daily_returns(&one_day)), None);
    // Two equal returns: no variation, no ratio.
    let flat = points(
        &[dec(100, 0), dec(100, 0), dec(100, 0)],
        &[(1, 0), (1, 1), (2, 1)],
    );
    assert_eq!(sharpe(&daily_returns(&flat)), None);
}

#[test]
fn drawdown_of_a_known_series_takes_the_largest_fall_and_the_largest_fraction() {
    // Falls: 100→80 (20, 20 %), then 200→170 (30, 15 %).
    let curve = points(
        &[
            dec(100, 0),
            dec(80, 0),
            dec(200, 0),
            dec(170, 0),
            dec(190, 0),
        ],
        &[(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)],
    );
    let dd = max_drawdown(&curve);
    assert_eq!(dd.amount, dec(30, 0));
    assert_eq!(dd.fraction, dec(2, 1));
    assert_eq!(
        (dd.peak_at, dd.trough_at),
        (Some(day(1, 2)), Some(day(1, 3)))
    );
}

#[test]
fn profit_factor_is_none_without_losses_and_flat_closes_are_neither() {
    let (_, ex) = example_report();
    let mut trades: Vec<Trade> = ex.trades.clone();
    trades.retain(|t| t.action != TradeAction::Settle);
    let mut flat = trades[2].clone();
    flat.realized_pnl = Some(Decimal::ZERO);
    trades.push(flat);
    let stats = closed_stats(&trades);
    assert_eq!((stats.count, stats.wins, stats.losses), (2, 1, 0));
    assert_eq!(stats.profit_factor, None);
    assert_eq!(stats.win_rate, Some(dec(5, 1)));
    assert_eq!(stats.expectancy, Some(dec(579, 2)));
}

#[test]
fn a_clock_step_back_never_makes_the_curve_go_back_in_time() {
    let (_, mut ex) = example_report();
    ex.trades[3].placed_at = day(1, 11);
    let r = compute(&ReportInput {
        snapshots: &[],
        starting_bankroll: dec(1000, 0),
        trades: &ex.trades,
        positions: &[],
        marks: &ex.marks,
        decision_span: None,
        now: day(1, 8),
    });
    assert!(r.curve.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn stream_marks_override_trade_prices() {
    let (_, ex) = example_report();
    let a = market(Platform::Kalshi, "A");
    let from_trades = Marks::new(std::iter::empty(), &ex.trades);
    assert_eq!(
        from_trades.price_of(&a, Side::Yes),
        Some((dec(55, 2), MarkSource::LastTrade))
    );
    let mut stream = BTreeMap::new();
    stream.insert(a.clone(), price(61, 2));
    let marks = Marks::new(stream.iter().map(|(m, p)| (m, *p)), &ex.trades);
    assert_eq!(
        marks.price_of(&a, Side::No),
        Some((dec(39, 2), MarkSource::Stream))
    );
}

fn snapshot_at(at: Timestamp, cash: Decimal, market_value: Decimal) -> EquitySnapshot {
    EquitySnapshot {
        at,
        cash,
        market_value,
        equity: cash + market_value,
        realized_pnl: Decimal::ZERO,
        unrealized_pnl: Decimal::ZERO,
    }
}

/// One trade, then the market moves: the trade-only curve is flat until "now", the snapshot
/// curve follows the marks in between.
#[test]
fn the_snapshot_curve_moves_between_trades() {
    let m = market(Platform::Kalshi, "KX-MOVE");
    let mut book = Book::new(dec(1000, 0));
    let trade = book.open(
        "e1",
        &m,
        Side::Yes,
        &sizing(100, dec(4, 1), dec(0, 0)),
        dec(6, 1),
        day(1, 0),
    );
    let snapshots = [
        snapshot_at(day(1, 0), dec(960, 0), dec(40, 0)),
        snapshot_at(day(1, 1), dec(960, 0), dec(50, 0)),
        snapshot_at(day(1, 2), dec(960, 0), dec(30, 0)),
    ];
    let trades = [trade];
    let flat = curve(dec(1000, 0), &trades, day(1, 0), day(1, 3), dec(995, 0));
    let equities = |c: &[EquityPoint]| c.iter().map(|p| p.equity).collect::<Vec<_>>();
    assert_eq!(equities(&flat), [dec(1000, 0), dec(1000, 0), dec(995, 0)]);
    let moving = snapshot_curve(
        dec(1000, 0),
        &trades,
        &snapshots,
        day(1, 0),
        day(1, 3),
        dec(995, 0),
    );
    assert_eq!(
        equities(&moving),
        [
            dec(1000, 0),
            dec(1000, 0),
            dec(1010, 0),
            dec(990, 0),
            dec(995, 0)
        ]
    );
    assert_eq!(max_drawdown(&moving).amount, dec(20, 0));
}

/// Trades made before the first snapshot (a store older than snapshots) keep their points.
#[test]
fn trades_before_the_first_snapshot_keep_their_points() {
    let m = market(Platform::Kalshi, "KX-OLD");
    let mut book = Book::new(dec(1000, 0));
    let old = book.open(
        "e1",
        &m,
        Side::Yes,
        &sizing(100, dec(4, 1), dec(1, 0)),
        dec(6, 1),
        day(1, 0),
    );
    let new = book.open(
        "e2",
        &m,
        Side::Yes,
        &sizing(100, dec(5, 1), dec(1, 0)),
        dec(6, 1),
        day(1, 5),
    );
    let snapshots = [snapshot_at(day(1, 5), dec(908, 0), dec(100, 0))];
    let c = snapshot_curve(
        dec(1000, 0),
        &[old, new],
        &snapshots,
        day(1, 0),
        day(1, 6),
        dec(1008, 0),
    );
    let at: Vec<Timestamp> = c.iter().map(|p| p.at).collect();
    assert_eq!(at, [day(1, 0), day(1, 0), day(1, 5), day(1, 6)]);
    assert_eq!(
        c[1].equity,
        dec(999, 0),
        "the old trade's point: cash 959 + 100 × 0.40"
    );
}

/// Under two days the Sharpe ratio is taken on hourly returns, annualised by √8760.
#[test]
fn a_short_curve_has_an_hourly_sharpe() {
    let curve = points(
        &[dec(100, 0), dec(110, 0), dec(99, 0), dec(1089, 1)],
        &[(1, 0), (1, 1), (1, 2), (1, 3)],
    );
    assert_eq!(SharpeBasis::for_curve(&curve), SharpeBasis::Hourly);
    let hourly = period_returns(&curve, SharpeBasis::Hourly);
    let rets: Vec<Decimal> = hourly.iter().map(|p| p.ret).collect();
    assert_eq!(rets, [dec(0, 0), dec(1, 1), dec(-1, 1), dec(1, 1)]);
    let got = sharpe_of(&rets, SharpeBasis::Hourly.per_year()).unwrap_or_default();
    assert!(got > Decimal::ZERO);
    assert_eq!(
        sharpe(&daily_returns(&curve)),
        None,
        "one day has no daily Sharpe"
    );
    let long = points(&[dec(100, 0), dec(110, 0)], &[(1, 0), (3, 0)]);
    assert_eq!(SharpeBasis::for_curve(&long), SharpeBasis::Daily);
}
