//! Performance of the paper book, computed from the ledger: pure, exact (`Decimal`), no I/O.
//!
//! Inputs are what the store holds: every trade in order, the open positions, the latest YES
//! price seen per market (the *mark*), the starting bankroll and the instant of the report.
//! [`compute`] turns them into a [`Report`]; [`value_position`] values one open position and is
//! shared with `shiftbot positions`, so both commands agree to the cent.
//!
//! # Definitions
//! - **Cash**: `cash_after` of the last trade (the starting bankroll before any trade).
//! - **Mark** of a position: the price of the held side from its market's latest YES price `p`
//!   (`p` for YES, `1 - p` for NO). Without a streamed price the last trade price in that market
//!   is used, and without that the position's average entry price ([`MarkSource`]).
//! - **Market value**: `contracts × mark`. **Equity**: cash + market value of open positions.
//! - **Unrealized P&L** of a position: market value − cost basis − entry fees paid. Realized
//!   P&L (on close and settle trades) is net of both legs' fees, so with this definition
//!   `equity − starting bankroll = realized + unrealized` exactly (the book's accounting
//!   identity, property-tested). Exit fees not yet paid are not deducted.
//! - **Return**: `(equity − bankroll) / bankroll`.
//! - **Closed positions**: every close or settle trade is one closed position (a partial close
//!   is one too), scored by its `realized_pnl`. A *win* has realized P&L > 0, a *loss* < 0; a
//!   flat close is neither. **Win rate** = wins / closed. **Profit factor** = gross profit /
//!   gross loss (none when nothing lost). **Expectancy** = mean realized P&L per closed position.
//! - **Average edge at entry**: mean of `win_probability − price` over opening trades (the edge
//!   the signal claimed when the bot bought, before fees).
//! - **Equity curve** ([`snapshot_curve`]): one point at the start of the period (the starting
//!   bankroll), one per [`EquitySnapshot`] (after every trade, and at most once per
//!   `report.snapshot_every` while held markets' prices move, each marking open positions at
//!   the prices seen by then), one at the report instant at the current marks. A ledger kept
//!   before snapshots existed has, for its trades before the first snapshot, one point after
//!   each trade marking positions at the last price *traded* in their market ([`curve`]): a
//!   step function between trades.
//! - **Max drawdown**: the largest fall of the equity curve from a preceding peak, in money and,
//!   separately, as the largest fraction of its peak.
//! - **Sharpe ratio**: of daily returns. A day's equity is the last curve point at or before
//!   the end of that UTC day, for every day from the first point's to the last point's (quiet
//!   days repeat the previous equity); the return of day `d` is `E(d) / E(d−1) − 1` with
//!   `E(−1)` the starting bankroll. Sharpe = mean / sample standard deviation × √365
//!   (prediction markets trade every day; risk-free rate 0). A curve shorter than two days
//!   uses UTC hours the same way, × √(365 × 24), and says so ([`SharpeBasis`]). It needs at
//!   least two returns that are not all equal, otherwise it is not reported.
//! - **Exposure per platform**: cost basis and market value of open positions per platform.
//! - **Period**: the first and last trade or decision.

mod curve;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::book::Position;
use crate::decision::{Trade, TradeAction};
use crate::types::{MarketKey, Platform, Price, Side, Timestamp};

pub use curve::{
    curve, daily_returns, max_drawdown, period_returns, sharpe, sharpe_of, snapshot_curve,
    DailyReturn, Drawdown, EquityPoint, PeriodReturn, SharpeBasis,
};
pub use snapshot::EquitySnapshot;

/// Annualisation of the daily Sharpe ratio: prediction markets trade every calendar day.
pub const DAYS_PER_YEAR: u32 = 365;

/// Where the price that values a position came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkSource {
    /// The latest YES price seen on the stream.
    Stream,
    /// The last trade in the market (no streamed price known).
    LastTrade,
    /// The position's own average entry price (nothing else known).
    Entry,
}

/// Latest known YES price per market: streamed marks first, the last trade price otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    yes: BTreeMap<MarketKey, (Decimal, MarkSource)>,
}

impl Marks {
    /// Streamed marks win over trade prices; among trades the latest wins.
    pub fn new<'a>(
        stream: impl IntoIterator<Item = (&'a MarketKey, Price)>,
        trades: &[Trade],
    ) -> Marks {
        let mut yes = BTreeMap::new();
        for trade in trades {
            yes.insert(trade.market(), (yes_price_of(trade), MarkSource::LastTrade));
        }
        for (market, price) in stream {
            yes.insert(market.clone(), (price.get(), MarkSource::Stream));
        }
        Marks { yes }
    }

    /// The price of `side` in `market`, and where it came from.
    pub fn price_of(&self, market: &MarketKey, side: Side) -> Option<(Decimal, MarkSource)> {
        self.yes
            .get(market)
            .map(|&(yes, source)| (side_price(side, yes), source))
    }
}

/// The YES price implied by a trade: its own price on YES, the complement on NO.
pub(crate) fn yes_price_of(trade: &Trade) -> Decimal {
    side_price(trade.side, trade.price)
}

/// `yes` for YES, `1 − yes` for NO (also maps a NO price back to the YES price).
pub(crate) fn side_price(side: Side, yes: Decimal) -> Decimal {
    match side {
        Side::Yes => yes,
        Side::No => Decimal::ONE - yes,
    }
}

/// An open position valued at its mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValuedPosition {
    pub position: Position,
    /// Price of the held side used to value it.
    pub mark: Decimal,
    pub mark_source: MarkSource,
    /// `contracts × mark`.
    pub market_value: Decimal,
    /// `market_value − cost_basis − fees_paid` (see the module docs).
    pub unrealized_pnl: Decimal,
}

/// Value one position at its mark (falling back as [`MarkSource`] describes).
pub fn value_position(position: &Position, marks: &Marks) -> ValuedPosition {
    let (mark, mark_source) = marks
        .price_of(&position.market, position.side)
        .unwrap_or((position.average_price(), MarkSource::Entry));
    let market_value = Decimal::from(position.contracts) * mark;
    ValuedPosition {
        position: position.clone(),
        mark,
        mark_source,
        market_value,
        unrealized_pnl: market_value - position.cost_basis - position.fees_paid,
    }
}

/// What [`compute`] needs.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    pub starting_bankroll: Decimal,
    /// Every trade, in the order it was made.
    pub trades: &'a [Trade],
    /// Open positions now.
    pub positions: &'a [Position],
    pub marks: &'a Marks,
    /// The equity snapshots, in time order (none for a ledger kept before them).
    pub snapshots: &'a [EquitySnapshot],
    /// First and last decision, when any (the period covers trades and decisions).
    pub decision_span: Option<(Timestamp, Timestamp)>,
    /// The instant of the report: the equity curve's last point.
    pub now: Timestamp,
}

/// Trades by action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TradeCounts {
    pub total: u64,
    pub open: u64,
    pub close: u64,
    pub settle: u64,
}

/// Closed positions (close and settle trades) and how they went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClosedStats {
    pub count: u64,
    pub wins: u64,
    pub losses: u64,
    /// Sum of the positive realized P&Ls.
    pub gross_profit: Decimal,
    /// Sum of the negative realized P&Ls, as a positive amount.
    pub gross_loss: Decimal,
    /// `wins / count`; none without closed positions.
    pub win_rate: Option<Decimal>,
    /// `gross_profit / gross_loss`; none without a loss.
    pub profit_factor: Option<Decimal>,
    /// Mean realized P&L per closed position; none without closed positions.
    pub expectancy: Option<Decimal>,
}

/// Open positions on one platform.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub positions: u64,
    pub cost_basis: Decimal,
    pub market_value: Decimal,
}

/// The first and last trade or decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Everything `shiftbot report` shows. Values are exact; rounding is for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub as_of: Timestamp,
    pub starting_bankroll: Decimal,
    pub cash: Decimal,
    /// Market value of open positions at their marks.
    pub market_value: Decimal,
    pub equity: Decimal,
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
    /// All fees paid, entries and exits.
    pub fees: Decimal,
    /// `(equity − bankroll) / bankroll`; none for a zero bankroll.
    pub return_fraction: Option<Decimal>,
    pub trades: TradeCounts,
    pub closed: ClosedStats,
    /// Mean `win_probability − price` of opening trades; none without any.
    pub average_entry_edge: Option<Decimal>,
    pub max_drawdown: Drawdown,
    /// Annualised Sharpe ratio of the `sharpe_basis` returns; none with fewer than two returns
    /// or no variation.
    pub sharpe: Option<Decimal>,
    /// Daily, or hourly on a curve shorter than two days.
    pub sharpe_basis: SharpeBasis,
    /// Number of returns (days or hours) the Sharpe ratio was computed from.
    pub sharpe_returns: u64,
    /// Number of daily returns on the curve.
    pub sharpe_days: u64,
    pub exposure: BTreeMap<Platform, Exposure>,
    pub open_positions: u64,
    pub period: Option<Period>,
    pub curve: Vec<EquityPoint>,
}

/// Compute the report (see the module docs for every definition).
pub fn compute(input: &ReportInput<'_>) -> Report {
    let bankroll = input.starting_bankroll;
    let trades = input.trades;
    let cash = trades.last().map_or(bankroll, |t| t.cash_after);
    let valued: Vec<ValuedPosition> = input
        .positions
        .iter()
        .map(|p| value_position(p, input.marks))
        .collect();
    let market_value: Decimal = valued.iter().map(|v| v.market_value).sum();
    let unrealized_pnl: Decimal = valued.iter().map(|v| v.unrealized_pnl).sum();
    let equity = cash + market_value;

    let mut exposure: BTreeMap<Platform, Exposure> = BTreeMap::new();
    for v in &valued {
        let entry = exposure.entry(v.position.market.platform).or_default();
        entry.positions += 1;
        entry.cost_basis += v.position.cost_basis;
        entry.market_value += v.market_value;
    }

    let period = period(trades, input.decision_span);
    let start = period.map_or(input.now, |p| p.start);
    let points = snapshot_curve(bankroll, trades, input.snapshots, start, input.now, equity);
    let daily = daily_returns(&points);
    let sharpe_basis = SharpeBasis::for_curve(&points);
    let returns: Vec<Decimal> = match sharpe_basis {
        SharpeBasis::Daily => daily.iter().map(|d| d.ret).collect(),
        SharpeBasis::Hourly => period_returns(&points, sharpe_basis)
            .iter()
            .map(|p| p.ret)
            .collect(),
    };

    Report {
        as_of: input.now,
        starting_bankroll: bankroll,
        cash,
        market_value,
        equity,
        realized_pnl: trades.iter().filter_map(|t| t.realized_pnl).sum(),
        unrealized_pnl,
        fees: trades.iter().map(|t| t.fee).sum(),
        return_fraction: ratio(equity - bankroll, bankroll),
        trades: trade_counts(trades),
        closed: closed_stats(trades),
        average_entry_edge: average_entry_edge(trades),
        max_drawdown: max_drawdown(&points),
        sharpe: sharpe_of(&returns, sharpe_basis.per_year()),
        sharpe_basis,
        sharpe_returns: returns.len() as u64,
        sharpe_days: daily.len() as u64,
        exposure,
        open_positions: valued.len() as u64,
        period,
        curve: points,
    }
}

fn trade_counts(trades: &[Trade]) -> TradeCounts {
    let mut counts = TradeCounts::default();
    for trade in trades {
        counts.total += 1;
        match trade.action {
            TradeAction::Open => counts.open += 1,
            TradeAction::Close => counts.close += 1,
            TradeAction::Settle => counts.settle += 1,
        }
    }
    counts
}

/// Scores close and settle trades (a closing trade without a recorded P&L counts as flat).
pub fn closed_stats(trades: &[Trade]) -> ClosedStats {
    let mut stats = ClosedStats::default();
    let mut total = Decimal::ZERO;
    for trade in trades.iter().filter(|t| t.action != TradeAction::Open) {
        let pnl = trade.realized_pnl.unwrap_or_default();
        stats.count += 1;
        total += pnl;
        if pnl > Decimal::ZERO {
            stats.wins += 1;
            stats.gross_profit += pnl;
        } else if pnl < Decimal::ZERO {
            stats.losses += 1;
            stats.gross_loss -= pnl;
        }
    }
    let count = Decimal::from(stats.count);
    stats.win_rate = ratio(Decimal::from(stats.wins), count);
    stats.profit_factor = ratio(stats.gross_profit, stats.gross_loss);
    stats.expectancy = ratio(total, count);
    stats
}

fn average_entry_edge(trades: &[Trade]) -> Option<Decimal> {
    let edges: Vec<Decimal> = trades
        .iter()
        .filter(|t| t.action == TradeAction::Open)
        .filter_map(|t| t.win_probability.map(|w| w - t.price))
        .collect();
    ratio(
        edges.iter().copied().sum(),
        Decimal::from(edges.len() as u64),
    )
}

fn period(trades: &[Trade], decisions: Option<(Timestamp, Timestamp)>) -> Option<Period> {
    let times = trades
        .iter()
        .map(|t| t.placed_at)
        .chain(decisions.into_iter().flat_map(|(a, b)| [a, b]));
    times.fold(None, |span: Option<Period>, at| {
        Some(match span {
            None => Period { start: at, end: at },
            Some(p) => Period {
                start: p.start.min(at),
                end: p.end.max(at),
            },
        })
    })
}

/// `a / b`, or none when `b` is zero (or the quotient does not fit).
pub(crate) fn ratio(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_div(b)
}
