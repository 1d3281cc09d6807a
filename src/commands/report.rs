//! `shiftbot report`: the book's performance (metrics defined in `strategies::report`).

use std::collections::BTreeMap;
use std::io::Write;

use rust_decimal::Decimal;
use serde::Serialize;
use strategies::report::{self, DailyReturn, Exposure, Period, Report, ReportInput, TradeCounts};
use strategies::{Platform, Timestamp};

use super::chart;
use super::format::{age, exact6, money, percent, price, ratio, signed_money, table, time};
use super::positions::Book;
use super::{json_line, CommandError, ReportArgs, ReviewRequest};
use crate::store::Store;

/// The one JSON shape of a report's metrics: `report --json`, and the `book` of
/// `replay --json`. Money is exact; derived ratios are rounded to 6 decimals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricsJson {
    pub as_of: Timestamp,
    pub period: Option<Period>,
    pub starting_bankroll: Decimal,
    pub cash: Decimal,
    pub market_value: Decimal,
    pub equity: Decimal,
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
    pub total_pnl: Decimal,
    pub fees: Decimal,
    /// `(equity − bankroll) / bankroll` as a fraction (0.0043 = 0.43 %).
    #[serde(rename = "return")]
    pub return_fraction: Option<Decimal>,
    pub trades: TradeCounts,
    pub closed: ClosedJson,
    /// `closed.count`, `closed.win_rate`, `closed.profit_factor` and `closed.expectancy` also at
    /// the top level, where `replay --json` has always had them.
    pub closed_positions: u64,
    pub win_rate: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub expectancy: Option<Decimal>,
    pub average_entry_edge: Option<Decimal>,
    pub max_drawdown: DrawdownJson,
    pub sharpe: Option<Decimal>,
    /// `daily`, or `hourly` on a curve shorter than two days.
    pub sharpe_basis: report::SharpeBasis,
    /// How many returns (days or hours) the Sharpe ratio was taken over.
    pub sharpe_returns: u64,
    pub sharpe_days: u64,
    pub open_positions: u64,
    pub exposure: BTreeMap<Platform, Exposure>,
    pub daily: Vec<DailyJson>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosedJson {
    pub count: u64,
    pub wins: u64,
    pub losses: u64,
    pub gross_profit: Decimal,
    pub gross_loss: Decimal,
    pub win_rate: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub expectancy: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrawdownJson {
    pub amount: Decimal,
    pub fraction: Decimal,
    pub peak_at: Option<Timestamp>,
    pub trough_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DailyJson {
    pub day: chrono::NaiveDate,
    pub equity: Decimal,
    #[serde(rename = "return")]
    pub ret: Decimal,
}

/// Render the report; returns the chart's SVG when `--chart` asked for one.
pub(super) fn render(
    store: Option<&Store>,
    request: &ReviewRequest,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> Result<Option<String>, CommandError> {
    let r = compute(store, request)?;
    let daily = report::daily_returns(&r.curve);
    if args.json {
        json_line(out, &MetricsJson::new(&r, &daily))?;
    } else {
        text(&r, out)?;
    }
    Ok(args
        .chart
        .as_ref()
        .map(|_| chart::report_svg(&r, chart::BOOK_TITLE))
        .transpose()?)
}

/// The report of `store` at `request.now` (what `report` prints, and the dashboard shows).
pub(crate) fn compute(
    store: Option<&Store>,
    request: &ReviewRequest,
) -> Result<Report, CommandError> {
    let book = Book::load(store)?;
    let bankroll = book
        .totals
        .as_ref()
        .map_or(request.bankroll, |t| t.starting_bankroll);
    let decision_span = match store {
        // Decision times increase in the order decisions are made (the engine's clock is
        // monotonic per decision), so the first and the last record span them all: two reads,
        // not the whole history.
        Some(store) => {
            let mut decisions = store.decisions();
            let first = decisions.next().transpose()?;
            let last = decisions.next_back().transpose()?;
            first.map(|first| {
                let start = first.decision.decided_at;
                let end = last.map_or(start, |l| l.decision.decided_at);
                (start.min(end), start.max(end))
            })
        }
        None => None,
    };
    let r = report::compute(&ReportInput {
        starting_bankroll: bankroll,
        trades: &book.trades,
        positions: &book.positions,
        marks: &book.marks,
        snapshots: &book.snapshots,
        decision_span,
        now: request.now,
    });
    Ok(r)
}

impl MetricsJson {
    pub fn new(r: &Report, daily: &[DailyReturn]) -> MetricsJson {
        let c = &r.closed;
        MetricsJson {
            as_of: r.as_of,
            period: r.period,
            starting_bankroll: r.starting_bankroll,
            cash: r.cash,
            market_value: r.market_value,
            equity: r.equity,
            realized_pnl: r.realized_pnl,
            unrealized_pnl: r.unrealized_pnl,
            total_pnl: r.equity - r.starting_bankroll,
            fees: r.fees,
            return_fraction: r.return_fraction.map(exact6),
            trades: r.trades.clone(),
            closed_positions: c.count,
            win_rate: c.win_rate.map(exact6),
            profit_factor: c.profit_factor.map(exact6),
            expectancy: c.expectancy.map(exact6),
            closed: ClosedJson {
                count: c.count,
                wins: c.wins,
                losses: c.losses,
                gross_profit: c.gross_profit,
                gross_loss: c.gross_loss,
                win_rate: c.win_rate.map(exact6),
                profit_factor: c.profit_factor.map(exact6),
                expectancy: c.expectancy.map(exact6),
            },
            average_entry_edge: r.average_entry_edge.map(exact6),
            max_drawdown: DrawdownJson {
                amount: r.max_drawdown.amount,
                fraction: exact6(r.max_drawdown.fraction),
                peak_at: r.max_drawdown.peak_at,
                trough_at: r.max_drawdown.trough_at,
            },
            sharpe: r.sharpe.map(exact6),
            sharpe_basis: r.sharpe_basis,
            sharpe_returns: r.sharpe_returns,
            sharpe_days: r.sharpe_days,
            open_positions: r.open_positions,
            exposure: r.exposure.clone(),
            daily: daily
                .iter()
                .map(|d| DailyJson {
                    day: d.day,
                    equity: d.equity,
                    ret: exact6(d.ret),
                })
                .collect(),
        }
    }
}

fn text(r: &Report, out: &mut dyn Write) -> Result<(), CommandError> {
    let none = || "-".to_string();
    let c = &r.closed;
    let period = match r.period {
        Some(p) => vec![
            "period".into(),
            age((p.end - p.start).num_seconds()),
            format!("{} → {} UTC", time(p.start), time(p.end)),
        ],
        None => vec!["period".into(), none(), "nothing decided yet".into()],
    };
    let drawdown_note = match (r.max_drawdown.peak_at, r.max_drawdown.trough_at) {
        (Some(peak), Some(trough)) => format!(
            "{} of peak; worst fall {} → {}",
            percent(r.max_drawdown.fraction),
            time(peak),
            time(trough)
        ),
        _ => "equity never fell".to_string(),
    };
    let rows: Vec<Vec<String>> = vec![
        vec!["as of".into(), time(r.as_of), "UTC".into()],
        period,
        vec![
            "starting bankroll".into(),
            money(r.starting_bankroll),
            String::new(),
        ],
        vec!["cash".into(), money(r.cash), String::new()],
        vec![
            "market value".into(),
            money(r.market_value),
            format!(
                "{} open position{}, at their last prices",
                r.open_positions,
                if r.open_positions == 1 { "" } else { "s" }
            ),
        ],
        vec![
            "equity".into(),
            money(r.equity),
            "cash + market value".into(),
        ],
        vec![
            "return".into(),
            r.return_fraction.map_or_else(none, percent),
            format!("total P&L {}", signed_money(r.equity - r.starting_bankroll)),
        ],
        vec![
            "realized P&L".into(),
            signed_money(r.realized_pnl),
            "closed and settled, net of fees".into(),
        ],
        vec![
            "unrealized P&L".into(),
            signed_money(r.unrealized_pnl),
            "open, net of entry fees".into(),
        ],
        vec!["fees".into(), money(r.fees), String::new()],
        vec![
            "trades".into(),
            r.trades.total.to_string(),
            format!(
                "{} open, {} close, {} settle",
                r.trades.open, r.trades.close, r.trades.settle
            ),
        ],
        vec![
            "closed positions".into(),
            c.count.to_string(),
            format!(
                "{} won, {} lost, {} flat",
                c.wins,
                c.losses,
                c.count - c.wins - c.losses
            ),
        ],
        vec![
            "win rate".into(),
            c.win_rate.map_or_else(none, percent),
            String::new(),
        ],
        vec![
            "profit factor".into(),
            c.profit_factor.map_or_else(none, ratio),
            format!(
                "gross profit {} / gross loss {}",
                money(c.gross_profit),
                money(c.gross_loss)
            ),
        ],
        vec![
            "expectancy".into(),
            c.expectancy.map_or_else(none, signed_money),
            "mean realized P&L per closed position".into(),
        ],
        vec![
            "avg edge at entry".into(),
            r.average_entry_edge.map_or_else(none, price),
            "win probability - price, before fees".into(),
        ],
        vec![
            "max drawdown".into(),
            money(r.max_drawdown.amount),
            drawdown_note,
        ],
        vec![
            "sharpe".into(),
            r.sharpe.map_or_else(none, ratio),
            sharpe_note(r),
        ],
    ];
    table(out, &[], &rows, &[1])?;
    writeln!(out)?;
    if r.exposure.is_empty() {
        writeln!(out, "exposure: none")?;
        return Ok(());
    }
    let exposure: Vec<Vec<String>> = r
        .exposure
        .iter()
        .map(|(platform, e)| {
            vec![
                platform.to_string(),
                e.positions.to_string(),
                money(e.cost_basis),
                money(e.market_value),
                e.cost_basis
                    .checked_div(r.starting_bankroll)
                    .map_or_else(none, percent),
            ]
        })
        .collect();
    table(
        out,
        &["EXPOSURE", "POSITIONS", "COST", "VALUE", "OF_BANKROLL"],
        &exposure,
        &[1, 2, 3, 4],
    )?;
    Ok(())
}

/// What the Sharpe ratio was taken over, or why there is none.
pub(crate) fn sharpe_note(r: &Report) -> String {
    let (unit, per_year, periods) = match r.sharpe_basis {
        report::SharpeBasis::Daily => ("daily", "sqrt(365)", "days"),
        report::SharpeBasis::Hourly => ("hourly", "sqrt(8760)", "hours (under 2 days)"),
    };
    let n = r.sharpe_returns;
    match r.sharpe {
        Some(_) => format!("{unit} returns x {per_year}, {n} {periods}"),
        None => format!("needs 2+ {periods} of varying returns ({n} so far)"),
    }
}
