//! Out-of-sample tuning: the best row of a grid is the one that fit this recording's noise
//! best, so `sweep --holdout 30%` ranks on the first 70 % of the recording (by time) and shows
//! every combination's figures on the held-out 30 % beside them, and `sweep --walk-forward K`
//! cuts the recording into K consecutive folds of equal time, picks the best combination on
//! each fold and scores it on the next one.
//!
//! Each fold is replayed on a fresh book ([`super::engine::ReplayOptions::window`]): what a
//! combination earned in sample does not carry into its out-of-sample score. Folds are cut by
//! the events' receive times ([`windows`], pure): disjoint, in order, covering the recording.

use std::io::{self, Write};
use std::ops::Range;

use rust_decimal::Decimal;
use serde_json::json;
use strategies::Timestamp;

use super::sweep::{self, Metric, SweepRow};
use crate::commands::format::{money, percent, ratio, table};

/// Split a recording whose events have `times` (in recording order) into `shares` of its time
/// span, in order: each a range of event indexes. An index belongs to the first share whose
/// end time is after it; the ranges are disjoint, consecutive and cover `0..times.len()`
/// (a share with no event in its time is an empty range).
pub fn windows(times: &[Timestamp], shares: &[Decimal]) -> Vec<Range<usize>> {
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return shares.iter().map(|_| 0..0).collect();
    };
    let span = (*last - *first).num_nanoseconds().unwrap_or(i64::MAX);
    let total: Decimal = shares.iter().copied().sum();
    let mut cuts = Vec::with_capacity(shares.len());
    let mut acc = Decimal::ZERO;
    for share in &shares[..shares.len().saturating_sub(1)] {
        acc += *share;
        let fraction = if total.is_zero() {
            Decimal::ZERO
        } else {
            acc / total
        };
        let offset = (Decimal::from(span) * fraction)
            .round()
            .try_into()
            .unwrap_or(i64::MAX);
        cuts.push(*first + chrono::Duration::nanoseconds(offset));
    }
    let mut out = Vec::with_capacity(shares.len());
    let mut start = 0;
    for cut in cuts {
        // The first index from `start` on whose time reaches the cut (times are in recording
        // order; one out of order stays with its neighbours).
        let end = (start..times.len())
            .find(|&i| times[i] >= cut)
            .unwrap_or(times.len());
        out.push(start..end);
        start = end;
    }
    out.push(start..times.len());
    out
}

/// `--holdout P%`: the share held out, in (0, 100).
pub fn parse_holdout(text: &str) -> Result<Decimal, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    let pct: Decimal = number
        .parse()
        .map_err(|_| format!("--holdout {text:?}: expected a percentage such as 30%"))?;
    if pct <= Decimal::ZERO || pct >= Decimal::ONE_HUNDRED {
        return Err(format!("--holdout {text:?}: must be between 0% and 100%"));
    }
    Ok(pct)
}

/// A combination's rows in and out of sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldoutRow {
    pub in_sample: SweepRow,
    pub out_of_sample: SweepRow,
}

/// Rank by the in-sample metric (the out-of-sample rows follow their combination).
pub fn rank_holdout(rows: &mut Vec<HoldoutRow>, metric: Metric) {
    let mut inside: Vec<SweepRow> = rows.iter().map(|r| r.in_sample.clone()).collect();
    sweep::rank(&mut inside, metric);
    let mut by_number: Vec<Option<HoldoutRow>> = Vec::new();
    for row in rows.drain(..) {
        let n = row.in_sample.combination;
        if by_number.len() <= n {
            by_number.resize(n + 1, None);
        }
        by_number[n] = Some(row);
    }
    rows.extend(
        inside
            .iter()
            .filter_map(|r| by_number.get_mut(r.combination).and_then(Option::take)),
    );
}

fn figures(row: &SweepRow) -> [String; 4] {
    let none = || "-".to_string();
    [
        row.return_fraction.map_or_else(none, percent),
        percent(row.max_drawdown_fraction),
        row.sharpe.map_or_else(none, ratio),
        row.traded.to_string(),
    ]
}

/// The holdout table: in-sample and out-of-sample columns side by side, ranked in sample.
pub fn write_holdout(rows: &[HoldoutRow], out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<&str> = rows
        .first()
        .map(|r| r.in_sample.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut header = vec!["rank"];
    header.extend(keys.iter().copied());
    header.extend([
        "in_return",
        "in_max_dd",
        "in_sharpe",
        "in_traded",
        "out_return",
        "out_max_dd",
        "out_sharpe",
        "out_traded",
    ]);
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![(i + 1).to_string()];
            cells.extend(r.in_sample.values.iter().map(|(_, v)| v.clone()));
            cells.extend(figures(&r.in_sample));
            cells.extend(figures(&r.out_of_sample));
            cells
        })
        .collect();
    let right: Vec<usize> = (0..header.len())
        .filter(|&i| i == 0 || i > keys.len())
        .collect();
    table(out, &header, &body, &right)
}

/// One JSON object per line: `rank`, `set`, `in_sample` and `out_of_sample` figures (exact).
pub fn write_holdout_json(rows: &[HoldoutRow], out: &mut dyn Write) -> io::Result<()> {
    for (i, r) in rows.iter().enumerate() {
        let set =
            serde_json::to_value(sweep::SetMap(&r.in_sample.values)).map_err(io::Error::other)?;
        let line = json!({
            "rank": i + 1,
            "set": set,
            "in_sample": row_json(&r.in_sample),
            "out_of_sample": row_json(&r.out_of_sample),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn row_json(row: &SweepRow) -> serde_json::Value {
    json!({
        "equity": row.equity,
        "return": row.return_fraction,
        "max_drawdown_fraction": row.max_drawdown_fraction,
        "sharpe": row.sharpe,
        "trades": row.trades,
        "traded": row.traded,
    })
}

/// One fold of a walk-forward: the winner on it, and that winner's score on the next fold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub fold: usize,
    pub winner: SweepRow,
    pub next: SweepRow,
}

/// The walk-forward's result, from the rows of every combination on every fold
/// (`per_fold[f]`, in combination order): winners by `metric`, scored on the fold after.
pub fn walk_forward(per_fold: &[Vec<SweepRow>], metric: Metric) -> Vec<Step> {
    (0..per_fold.len().saturating_sub(1))
        .filter_map(|fold| {
            let mut ranked = per_fold[fold].clone();
            sweep::rank(&mut ranked, metric);
            let winner = ranked.into_iter().next()?;
            let next = per_fold[fold + 1]
                .iter()
                .find(|r| r.combination == winner.combination)?
                .clone();
            Some(Step { fold, winner, next })
        })
        .collect()
}

/// The chained out-of-sample return: the next folds' returns compounded.
pub fn chained_return(steps: &[Step]) -> Decimal {
    steps
        .iter()
        .map(|s| Decimal::ONE + s.next.return_fraction.unwrap_or_default())
        .product::<Decimal>()
        - Decimal::ONE
}

/// How many times the winner differed from the previous fold's.
pub fn winner_changes(steps: &[Step]) -> usize {
    steps
        .windows(2)
        .filter(|w| w[0].winner.combination != w[1].winner.combination)
        .count()
}

/// The walk-forward table and its summary line.
pub fn write_walk_forward(
    steps: &[Step],
    folds: &[Range<usize>],
    times: &[Timestamp],
    metric: Metric,
    out: &mut dyn Write,
) -> io::Result<()> {
    let keys: Vec<&str> = steps
        .first()
        .map(|s| s.winner.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let when = |range: &Range<usize>| {
        times
            .get(range.start)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".to_string())
    };
    let mut header = vec!["fold", "from", "events"];
    header.extend(keys.iter().copied());
    let in_metric = format!("in_{}", metric.name());
    header.extend([
        in_metric.as_str(),
        "next_return",
        "next_equity",
        "next_traded",
    ]);
    let none = || "-".to_string();
    let body: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let fold = &folds[s.fold];
            let mut cells = vec![(s.fold + 1).to_string(), when(fold), fold.len().to_string()];
            cells.extend(s.winner.values.iter().map(|(_, v)| v.clone()));
            cells.push(match metric {
                Metric::Equity => money(s.winner.equity),
                Metric::Return => s.winner.return_fraction.map_or_else(none, percent),
                Metric::Drawdown => percent(s.winner.max_drawdown_fraction),
                Metric::Sharpe => s.winner.sharpe.map_or_else(none, ratio),
            });
            cells.extend([
                s.next.return_fraction.map_or_else(none, percent),
                money(s.next.equity),
                s.next.traded.to_string(),
            ]);
            cells
        })
        .collect();
    let right: Vec<usize> = (0..header.len())
        .filter(|&i| i == 0 || i == 2 || i > keys.len() + 2)
        .collect();
    table(out, &header, &body, &right)?;
    writeln!(
        out,
        "chained out-of-sample return {} over {} folds; the winner changed {} of {} times",
        percent(chained_return(steps)),
        steps.len(),
        winner_changes(steps),
        steps.len().saturating_sub(1)
    )
}

#[cfg(test)]
mod tests;
