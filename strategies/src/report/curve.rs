//! The equity curve and what is measured on it: drawdown and the Sharpe ratio of daily (or,
//! on a short curve, hourly) returns. Definitions are in the parent module's docs.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::{Decimal, MathematicalOps};
use serde::Serialize;

use super::{ratio, side_price, yes_price_of, EquitySnapshot, DAYS_PER_YEAR};
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

/// The equity curve of a ledger without snapshots: `bankroll` at `start`, one point after every
/// trade (open positions marked at the last price traded in their market), and `final_equity`
/// at `now`.
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
    snapshot_curve(bankroll, trades, &[], start, now, final_equity)
}

/// The equity curve through the snapshots: `bankroll` at `start`, the trade-marked points of
/// [`curve`] for trades before the first snapshot (a ledger older than its snapshots), every
/// snapshot, and `final_equity` at `now`. Snapshots mark open positions at the prices seen,
/// so the curve moves between trades as the markets do.
pub fn snapshot_curve(
    bankroll: Decimal,
    trades: &[Trade],
    snapshots: &[EquitySnapshot],
    start: Timestamp,
    now: Timestamp,
    final_equity: Decimal,
) -> Vec<EquityPoint> {
    let mut raw: Vec<(Timestamp, Decimal)> = Vec::with_capacity(trades.len() + snapshots.len());
    raw.push((start, bankroll));
    let before = snapshots.first().map(|s| s.at);
    let unsnapshotted = trades
        .iter()
        .position(|t| before.is_some_and(|at| t.placed_at >= at))
        .unwrap_or(trades.len());
    raw.extend(trade_points(&trades[..unsnapshotted]));
    raw.extend(snapshots.iter().map(|s| (s.at, s.equity)));
    raw.push((now, final_equity));
    points(bankroll, start, raw)
}

/// Equity after each trade, open positions at the last price traded in their market.
fn trade_points(trades: &[Trade]) -> Vec<(Timestamp, Decimal)> {
    let mut raw = Vec::with_capacity(trades.len());
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
    raw
}

/// Clamp times to be non-decreasing and measure each point's drawdown.
fn points(bankroll: Decimal, start: Timestamp, raw: Vec<(Timestamp, Decimal)>) -> Vec<EquityPoint> {
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

/// What the Sharpe ratio's returns are taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SharpeBasis {
    /// UTC days, annualised by √365.
    Daily,
    /// UTC hours, annualised by √(365 × 24): a curve shorter than [`SharpeBasis::DAILY_FROM`]
    /// has too few days for a daily ratio.
    Hourly,
}

impl SharpeBasis {
    /// The shortest curve whose Sharpe ratio is taken on daily returns.
    pub const DAILY_FROM: chrono::Duration = chrono::Duration::days(2);

    /// Daily for a curve spanning two days or more, hourly below.
    pub fn for_curve(points: &[EquityPoint]) -> SharpeBasis {
        match (points.first(), points.last()) {
            (Some(first), Some(last)) if last.at - first.at < SharpeBasis::DAILY_FROM => {
                SharpeBasis::Hourly
            }
            _ => SharpeBasis::Daily,
        }
    }

    fn length(self) -> chrono::Duration {
        match self {
            SharpeBasis::Daily => chrono::Duration::days(1),
            SharpeBasis::Hourly => chrono::Duration::hours(1),
        }
    }

    /// Periods in a year, for annualising.
    pub fn per_year(self) -> u32 {
        match self {
            SharpeBasis::Daily => DAYS_PER_YEAR,
            SharpeBasis::Hourly => DAYS_PER_YEAR * 24,
        }
    }

    /// The UTC day or hour `at` falls in.
    fn start_of(self, at: Timestamp) -> Timestamp {
        let day = at.date_naive().and_time(NaiveTime::MIN).and_utc();
        match self {
            SharpeBasis::Daily => day,
            SharpeBasis::Hourly => day + chrono::Duration::hours((at - day).num_hours()),
        }
    }
}

/// One period's close and its return over the previous close.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodReturn {
    /// The start of the UTC day or hour.
    pub start: Timestamp,
    pub equity: Decimal,
    pub ret: Decimal,
}

/// Daily closes and returns (see the parent module's docs). Empty for an empty curve.
pub fn daily_returns(points: &[EquityPoint]) -> Vec<DailyReturn> {
    period_returns(points, SharpeBasis::Daily)
        .into_iter()
        .map(|p| DailyReturn {
            day: p.start.date_naive(),
            equity: p.equity,
            ret: p.ret,
        })
        .collect()
}

/// Closes and returns per UTC day or hour, from the first point's period to the last's (quiet
/// periods repeat the previous close); the first period's return is over the first point.
/// Empty for an empty curve, or once a close is at or below zero.
pub fn period_returns(points: &[EquityPoint], basis: SharpeBasis) -> Vec<PeriodReturn> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut previous = first.equity;
    let mut index = 0;
    let mut close = first.equity;
    let mut period = basis.start_of(first.at);
    let last_period = basis.start_of(last.at);
    while period <= last_period {
        let end = period + basis.length();
        while let Some(point) = points.get(index).filter(|p| p.at < end) {
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
        out.push(PeriodReturn {
            start: period,
            equity: close,
            ret,
        });
        previous = close;
        period = end;
    }
    out
}

/// Mean over sample standard deviation of the daily returns, × √365. None with fewer than two
/// returns or when they are all equal.
pub fn sharpe(daily: &[DailyReturn]) -> Option<Decimal> {
    let returns: Vec<Decimal> = daily.iter().map(|d| d.ret).collect();
    sharpe_of(&returns, DAYS_PER_YEAR)
}

/// Mean over sample standard deviation of `returns`, × √`per_year`. None with fewer than two
/// returns or when they are all equal.
pub fn sharpe_of(returns: &[Decimal], per_year: u32) -> Option<Decimal> {
    if returns.len() < 2 {
        return None;
    }
    let n = Decimal::from(returns.len() as u64);
    let sum = returns
        .iter()
        .try_fold(Decimal::ZERO, |acc, r| acc.checked_add(*r))?;
    let mean = sum.checked_div(n)?;
    let squares = returns.iter().try_fold(Decimal::ZERO, |acc, r| {
        let deviation = r.checked_sub(mean)?;
        acc.checked_add(deviation.checked_mul(deviation)?)
    })?;
    let stdev = squares.checked_div(n - Decimal::ONE)?.sqrt()?;
    if stdev.is_zero() {
        return None;
    }
    let annual = Decimal::from(per_year).sqrt()?;
    mean.checked_div(stdev)?.checked_mul(annual)
}
