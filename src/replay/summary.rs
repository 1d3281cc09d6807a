//! The report of a replay: the decisions by outcome and the book's performance, measured with
//! the same definitions as `shiftbot report` ([`strategies::report`]), as text or JSON.
//!
//! The book is marked at the last price each market showed in the file, and the report's
//! instant is the last decision or trade of the replay (its virtual "now": a recorded
//! settlement may come after the last decision), so the same file and config always print the
//! same report.

use std::io::{self, Write};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use strategies::report::{self, Marks, Report, ReportInput};
use strategies::{Position, Timestamp};

use super::engine::{Fallback, ReplayRun, Tally};
use crate::commands::format::{money, percent, ratio, signed_money, time};
use crate::commands::report::MetricsJson;

/// The book's report after a replay (see the module docs for marks and instant).
pub fn replay_report(run: &ReplayRun) -> Report {
    let book = run.core().book();
    let positions: Vec<Position> = book.positions.values().cloned().collect();
    let marks = Marks::new(
        run.core()
            .markets()
            .iter()
            .filter_map(|(market, state)| state.last_yes.map(|price| (market, price))),
        &run.trades,
    );
    let last_trade = run.trades.iter().map(|t| t.placed_at).max();
    let now = run
        .decision_span
        .map(|(_, last)| last)
        .max(last_trade)
        .or_else(|| run.event_span.map(|(_, last)| last))
        .unwrap_or_default();
    report::compute(&ReportInput {
        starting_bankroll: book.totals.starting_bankroll,
        trades: &run.trades,
        positions: &positions,
        marks: &marks,
        snapshots: &run.snapshots,
        decision_span: run.decision_span,
        now,
    })
}

/// The share of unsignalled requests past which a result is marked as resting on
/// counterfactuals the recording lacks.
pub const UNSIGNALLED_MARK_PCT: u64 = 5;

/// Whether `unsignalled` exceeds [`UNSIGNALLED_MARK_PCT`] % of all signal requests.
pub fn unsignalled_share_exceeded(unsignalled: u64, recorded: u64) -> bool {
    let requests = unsignalled + recorded;
    requests > 0 && unsignalled * 100 > requests * UNSIGNALLED_MARK_PCT
}

/// What `shiftbot replay` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub events: u64,
    /// First and last event received.
    pub period: Option<SpanJson>,
    pub fallback: Fallback,
    /// Signal requests answered by a recorded reply, and by the fallback.
    pub recorded_replies: u64,
    pub fallback_replies: u64,
    /// Events that passed the filter with no recorded signal: the fallback's to answer
    /// (the same count as `fallback_replies`, under the name sweeps use).
    pub unsignalled: u64,
    /// Decisions by outcome (only outcomes that occurred), then `total`.
    #[serde(serialize_with = "tally_map")]
    pub decisions: Tally,
    /// The same shape as `report --json`.
    pub book: MetricsJson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SpanJson {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl ReplaySummary {
    pub fn new(run: &ReplayRun, fallback: Fallback, report: &Report) -> Self {
        ReplaySummary {
            events: run.events,
            period: run.event_span.map(|(start, end)| SpanJson { start, end }),
            fallback,
            recorded_replies: run.recorded_replies,
            fallback_replies: run.fallback_replies,
            unsignalled: run.fallback_replies,
            decisions: run.tally.clone(),
            book: MetricsJson::new(report, &report::daily_returns(&report.curve)),
        }
    }

    /// One JSON object on one line.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }

    /// Aligned text for a terminal.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let none = || "-".to_string();
        match self.period {
            Some(p) => writeln!(
                out,
                "replayed {} events, {} → {} UTC (fallback: {})",
                self.events,
                time(p.start),
                time(p.end),
                self.fallback.as_str()
            )?,
            None => writeln!(out, "replayed no events")?,
        }
        writeln!(
            out,
            "signal requests: {} answered by a recorded reply, {} by the fallback",
            self.recorded_replies, self.fallback_replies
        )?;
        if self.unsignalled > 0 {
            let what = match self.fallback {
                Fallback::Skip => "decided no_recorded_signal (each started its market's cooldown, as its request would have live)",
                Fallback::Model => "answered by the local model",
            };
            writeln!(
                out,
                "unsignalled: {} events passed the filter with no recorded signal, {what}{}",
                self.unsignalled,
                match unsignalled_share_exceeded(self.unsignalled, self.recorded_replies) {
                    true => "; more than 5 % of the signal requests: the figures rest on counterfactuals the recording lacks",
                    false => "",
                }
            )?;
        }
        writeln!(out)?;
        writeln!(out, "decisions")?;
        let mut rows: Vec<Vec<String>> = self
            .decisions
            .nonzero()
            .map(|(outcome, n)| vec![format!("  {outcome}"), n.to_string()])
            .collect();
        rows.push(vec!["  total".into(), self.decisions.total().to_string()]);
        crate::commands::format::table(out, &[], &rows, &[1])?;
        writeln!(out)?;
        let b = &self.book;
        let drawdown = if b.max_drawdown.amount.is_zero() {
            "equity never fell".to_string()
        } else {
            format!("{} of peak", percent(b.max_drawdown.fraction))
        };
        let rows: Vec<Vec<String>> = vec![
            row("starting bankroll", money(b.starting_bankroll), ""),
            row("cash", money(b.cash), ""),
            row(
                "market value",
                money(b.market_value),
                &format!(
                    "{} open position{}, at their last prices",
                    b.open_positions,
                    if b.open_positions == 1 { "" } else { "s" }
                ),
            ),
            row("equity", money(b.equity), "cash + market value"),
            row(
                "return",
                b.return_fraction.map_or_else(none, percent),
                &format!("total P&L {}", signed_money(b.equity - b.starting_bankroll)),
            ),
            row("realized P&L", signed_money(b.realized_pnl), "net of fees"),
            row("unrealized P&L", signed_money(b.unrealized_pnl), ""),
            row("fees", money(b.fees), ""),
            row(
                "trades",
                b.trades.total.to_string(),
                &format!(
                    "{} open, {} close, {} settle",
                    b.trades.open, b.trades.close, b.trades.settle
                ),
            ),
            row("win rate", b.win_rate.map_or_else(none, percent), ""),
            row(
                "profit factor",
                b.profit_factor.map_or_else(none, ratio),
                "",
            ),
            row(
                "expectancy",
                b.expectancy.map_or_else(none, signed_money),
                "per closed position",
            ),
            row("max drawdown", money(b.max_drawdown.amount), &drawdown),
            row(
                "sharpe",
                b.sharpe.map_or_else(none, ratio),
                &format!(
                    "of {} {} returns, annualised",
                    b.sharpe_returns,
                    match b.sharpe_basis {
                        strategies::report::SharpeBasis::Daily => "daily",
                        strategies::report::SharpeBasis::Hourly => "hourly",
                    }
                ),
            ),
        ];
        writeln!(out, "book")?;
        crate::commands::format::table(out, &[], &rows, &[1])
    }
}

fn row(label: &str, value: String, note: &str) -> Vec<String> {
    vec![format!("  {label}"), value, note.to_string()]
}

fn tally_map<S: Serializer>(tally: &Tally, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    for (outcome, n) in tally.nonzero() {
        map.serialize_entry(outcome.as_str(), &n)?;
    }
    map.serialize_entry("total", &tally.total())?;
    map.end()
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
