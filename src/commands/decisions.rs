//! `shiftbot decisions`: why each event was or was not traded; `--summary` counts outcomes and
//! shows the funnel.
//!
//! # The funnel
//! Every received event gets exactly one decision, so the stages are sets of outcomes, in the
//! order the core decides (see `strategies::core`):
//! - **received**: every decision.
//! - **passed threshold**: the event was a valid, traded event type that passed every filter
//!   (`filter.max_event_age`, the platform/market lists, `|change_pct| >= min_shift_pct`, the
//!   cooldown): all outcomes except `invalid`, `ignored_type`, `stale`, `filtered_market`,
//!   `below_threshold` and `cooldown`.
//! - **signalled**: a signal answer came back and was acted on: `no_trade`, `signal_expired`,
//!   `edge_below_min`, `size_zero`, `exposure_limit`, `traded`. (Between the two stages fall
//!   `market_busy`, `signal_budget` and `signal_error`: no usable answer.)
//! - **traded**: `traded`.

use std::io::Write;

use serde::Serialize;
use strategies::{Outcome, Platform, Timestamp};

use super::args::newest;
use super::format::{percent, table, time};
use super::{json_line, CommandError, DecisionsArgs, ReviewRequest};
use crate::store::{DecisionRecord, Store};

/// `decisions --json` line: the issue-2 contract.
#[derive(Serialize)]
struct DecisionLine<'a> {
    event_id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    platform: Option<Platform>,
    market_id: Option<&'a str>,
    outcome: &'a str,
    reason: &'a str,
    decided_at: Timestamp,
}

/// The funnel stages, in order.
pub const FUNNEL: [(&str, &str); 4] = [
    ("received", "received"),
    ("passed_threshold", "passed threshold"),
    ("signalled", "signalled"),
    ("traded", "traded"),
];

/// How far down the funnel a decision with this outcome got: 0 received, 1 passed threshold,
/// 2 signalled, 3 traded.
pub fn funnel_depth(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Invalid
        | Outcome::IgnoredType
        | Outcome::Stale
        | Outcome::FilteredMarket
        | Outcome::BelowThreshold
        | Outcome::Cooldown
        | Outcome::Control => 0,
        Outcome::MarketBusy | Outcome::SignalBudget | Outcome::SignalError | Outcome::Paused => 1,
        Outcome::NoTrade
        | Outcome::SignalExpired
        | Outcome::EdgeBelowMin
        | Outcome::SizeZero
        | Outcome::ExposureLimit => 2,
        Outcome::Traded => 3,
    }
}

/// `decisions --summary --json`.
#[derive(Serialize)]
struct Summary {
    total: u64,
    /// Every outcome, in contract order, with its count (zero included).
    outcomes: Ordered,
    /// The funnel stages in order.
    funnel: Ordered,
}

/// A JSON object whose keys keep the order given (serde_json's own map sorts them).
struct Ordered(Vec<(&'static str, u64)>);

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

pub(super) fn render(
    store: Option<&Store>,
    request: &ReviewRequest,
    args: &DecisionsArgs,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let since = args.filters.since.map(|s| s.resolve(request.now));
    let keep = |record: &DecisionRecord| {
        let d = &record.decision;
        (args.outcome.is_empty() || args.outcome.contains(&d.outcome))
            && args.filters.keeps_decision(d, since)
    };
    let limit = args.filters.limit;
    if limit.is_none() && (args.summary || args.json) {
        // Streamed: counted or printed as read, whatever the length of the history.
        let mut tally = Tally::default();
        for record in store.into_iter().flat_map(Store::decisions) {
            let record = record?;
            if !keep(&record) {
                continue;
            }
            match args.summary {
                true => tally.add(record.decision.outcome),
                false => json_decision(out, &record)?,
            }
        }
        return match args.summary {
            true => summary(&tally, args.json, out),
            false => Ok(()),
        };
    }
    let kept = match store {
        Some(store) => newest(store.decisions(), keep, limit)?,
        None => Vec::new(),
    };
    if args.summary {
        let mut tally = Tally::default();
        kept.iter().for_each(|r| tally.add(r.decision.outcome));
        return summary(&tally, args.json, out);
    }
    if args.json {
        for record in &kept {
            json_decision(out, record)?;
        }
        return Ok(());
    }
    if kept.is_empty() {
        writeln!(out, "no decisions")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = kept
        .iter()
        .map(|record| {
            let d = &record.decision;
            vec![
                time(d.decided_at),
                d.event_id.clone(),
                d.market
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                d.outcome.as_str().to_string(),
                d.reason.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["DECIDED_AT", "EVENT", "MARKET", "OUTCOME", "REASON"],
        &rows,
        &[],
    )?;
    Ok(())
}

fn json_decision(out: &mut dyn Write, record: &DecisionRecord) -> std::io::Result<()> {
    let d = &record.decision;
    json_line(
        out,
        &DecisionLine {
            event_id: &d.event_id,
            event_type: &d.event_type,
            platform: d.market.as_ref().map(|m| m.platform),
            market_id: d.market.as_ref().map(|m| m.market_id.as_str()),
            outcome: d.outcome.as_str(),
            reason: &d.reason,
            decided_at: d.decided_at,
        },
    )
}

/// Decisions counted by outcome and by funnel stage, one at a time.
#[derive(Default)]
struct Tally {
    total: u64,
    by_outcome: [u64; Outcome::ALL.len()],
    stages: [u64; FUNNEL.len()],
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.total += 1;
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.by_outcome[i] += 1;
        }
        for stage in self.stages.iter_mut().take(funnel_depth(outcome) + 1) {
            *stage += 1;
        }
    }
}

fn summary(tally: &Tally, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let Tally {
        total,
        by_outcome,
        stages,
    } = *tally;
    if json {
        let outcomes = Ordered(
            Outcome::ALL
                .iter()
                .zip(by_outcome)
                .map(|(o, n)| (o.as_str(), n))
                .collect(),
        );
        let funnel = Ordered(
            FUNNEL
                .iter()
                .zip(stages)
                .map(|((key, _), n)| (*key, n))
                .collect(),
        );
        json_line(
            out,
            &Summary {
                total,
                outcomes,
                funnel,
            },
        )?;
        return Ok(());
    }
    let share = |n: u64| {
        rust_decimal::Decimal::from(n)
            .checked_div(rust_decimal::Decimal::from(total))
            .map(percent)
            .unwrap_or_else(|| "-".to_string())
    };
    let mut rows: Vec<Vec<String>> = Outcome::ALL
        .iter()
        .zip(by_outcome)
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| vec![o.as_str().to_string(), n.to_string(), share(n)])
        .collect();
    rows.push(vec!["total".to_string(), total.to_string(), share(total)]);
    table(out, &["OUTCOME", "COUNT", "SHARE"], &rows, &[1, 2])?;
    writeln!(out)?;
    let mut previous = total;
    let funnel_rows: Vec<Vec<String>> = FUNNEL
        .iter()
        .zip(stages)
        .map(|((_, label), n)| {
            let of_previous = rust_decimal::Decimal::from(n)
                .checked_div(rust_decimal::Decimal::from(previous))
                .map(percent)
                .unwrap_or_else(|| "-".to_string());
            previous = n;
            vec![label.to_string(), n.to_string(), share(n), of_previous]
        })
        .collect();
    table(
        out,
        &["FUNNEL", "COUNT", "OF_RECEIVED", "OF_PREVIOUS"],
        &funnel_rows,
        &[1, 2, 3],
    )?;
    Ok(())
}
