//! The equity curve and what is measured on it: drawdown and the Sharpe ratio of daily returns.
//! Definitions and the marking approximation are in the parent module's docs.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::{Decimal, MathematicalOps};
use serde::Serialize;

use super::{ratio, side_price, yes_price_of, DAYS_PER_YEAR};
use crate::decision::{Trade, TradeAction};
use crate::types::{MarketKey, Side, Timestamp};

/// Equity at one instant, and how far it stands below the highest equity before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EquityPoint {
    pub at: Timestamp,
    pub equity: Decimal,
    /// `peak so far − equity`, never negative.
    pub drawdown: Decimal,
}

/// The worst fall of the curve.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Drawdown {
    /// Largest `peak − equity`, in money (0 when equity never fell).
    pub amount: Decimal,
    /// Largest `(peak − equity) / peak` anywhere on the curve (0 when equity never fell).
    pub fraction: Decimal,
    /// The peak and the trough of the largest fall in money; none when equity never fell.
    pub peak_at: Option<Timestamp>,
    pub trough_at: Option<Timestamp>,
}

/// One day's close and its return over the previous close.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DailyReturn {
    pub day: NaiveDate,
    pub equity: Decimal,
    pub ret: Decimal,
}

/// The equity curve: `bankroll` at `start`, one point after every trade (open positions marked
/// at the last price traded in their market), and `final_equity` at `now`.
///
/// A point never goes before the previous one: timestamps out of order (a clock step back) are
/// clamped, so the curve stays a function of time.
pub fn curve(
    bankroll: Decimal,
    trades: &[Trade],
    start: Timestamp,
    now: Timestamp,
    final_equity: Decimal,
) -> Vec<EquityPoint> {
    let mut raw: Vec<(Timestamp, Decimal)> = Vec::with_capacity(trades.len() + 2);
    raw.push((start, bankroll));
    let mut held: BTreeMap<(MarketKey, Side), u64> = BTreeMap::new();
    let mut last_yes: BTreeMap<MarketKey, Decimal> = BTreeMap::new();
    for trade in trades {
        let market = trade.market();
        last_yes.insert(market.clone(), yes_price_of(trade));
        let contracts = held.entry((market, trade.side)).or_insert(0);
        *contracts = match trade.action {
            TradeAction::Open => contracts.saturating_add(trade.contracts),
            TradeAction::Close | TradeAction::Settle => contracts.saturating_sub(trade.contracts),
        };
        held.retain(|_, n| *n > 0);
        let value: Decimal = held
            .iter()
            .map(|((m, side), n)| {
                let yes = last_yes.get(m).copied().unwrap_or_default();
                Decimal::from(*n) * side_price(*side, yes)
            })
            .sum();
        raw.push((trade.placed_at, trade.cash_after + value));
    }
    raw.push((now, final_equity));

    let mut points = Vec::with_capacity(raw.len());
    let mut peak = bankroll;
    let mut last_at = start;
    for (at, equity) in raw {
        last_at = last_at.max(at);
        peak = peak.max(equity);
        points.push(EquityPoint {
            at: last_at,
            equity,
            drawdown: peak - equity,
        });
    }
    points
}

/// The largest fall from a preceding peak, in money and as a fraction of that peak.
pub fn max_drawdown(points: &[EquityPoint]) -> Drawdown {
    let mut worst = Drawdown::default();
    let mut peak: Option<&EquityPoint> = None;
    for point in points {
        let top = match peak {
            Some(p) if p.equity >= point.equity => p,
            _ => {
                peak = Some(point);
                continue;
            }
        };
        let fall = top.equity - point.equity;
        if fall > worst.amount {
            worst.amount = fall;
            worst.peak_at = Some(top.at);
            worst.trough_at = Some(point.at);
        }
        if top.equity > Decimal::ZERO {
            if let Some(fraction) = ratio(fall, top.equity) {
                worst.fraction = worst.fraction.max(fraction);
            }
        }
    }
    worst
}

/// Daily closes and returns (see the parent module's docs). Empty for an empty curve.
pub fn daily_returns(points: &[EquityPoint]) -> Vec<DailyReturn> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut previous = first.equity;
    let mut index = 0;
    let mut close = first.equity;
    let mut day = first.at.date_naive();
    let last_day = last.at.date_naive();
    while day <= last_day {
        let end_of_day = day.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1);
        while let Some(point) = points.get(index).filter(|p| p.at < end_of_day) {
            close = point.equity;
            index += 1;
        }
        // After a close at or below zero returns mean nothing: the series is not usable.
        if previous <= Decimal::ZERO {
            return Vec::new();
        }
        let Some(ret) = ratio(close, previous).map(|r| r - Decimal::ONE) else {
            return Vec::new();
        };
        out.push(DailyReturn {
            day,
            equity: close,
            ret,
        });
        previous = close;
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// Mean over sample standard deviation of the daily returns, × √365. None with fewer than two
/// returns or when they are all equal.
pub fn sharpe(daily: &[DailyReturn]) -> Option<Decimal> {
    if daily.len() < 2 {
        return None;
    }
    let n = Decimal::from(daily.len() as u64);
    let sum = daily
        .iter()
        .try_fold(Decimal::ZERO, |acc, d| acc.checked_add(d.ret))?;
    let mean = sum.checked_div(n)?;
    let squares = daily.iter().try_fold(Decimal::ZERO, |acc, d| {
        let deviation = d.ret.checked_sub(mean)?;
        acc.checked_add(deviation.checked_mul(deviation)?)
    })?;
    let stdev = squares.checked_div(n - Decimal::ONE)?.sqrt()?;
    if stdev.is_zero() {
        return None;
    }
    let annual = Decimal::from(DAYS_PER_YEAR).sqrt()?;
    mean.checked_div(stdev)?.checked_mul(annual)
}
