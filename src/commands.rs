//! The review commands: `decisions`, `ledger`, `reset`. Output formats are a public contract.
//!
//! `--json` prints one JSON object per line (decimals as strings); without it, an aligned
//! table for a terminal.

use std::io::{self, Write};

use serde::Serialize;
use strategies::{Platform, Timestamp, Trade};

use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Io(#[from] io::Error),
}

/// `decisions --json` line.
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

fn open(settings: &Settings) -> Result<Store, CommandError> {
    Ok(Store::open(&settings.storage.path)?)
}

/// Why each event was, or was not, traded, in decision order.
pub fn decisions(settings: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let store = open(settings)?;
    let mut rows = Vec::new();
    for record in store.decisions() {
        let record = record?;
        let d = &record.decision;
        let line = DecisionLine {
            event_id: &d.event_id,
            event_type: &d.event_type,
            platform: d.market.as_ref().map(|m| m.platform),
            market_id: d.market.as_ref().map(|m| m.market_id.as_str()),
            outcome: d.outcome.as_str(),
            reason: &d.reason,
            decided_at: d.decided_at,
        };
        if json {
            serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        } else {
            rows.push(vec![
                d.decided_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                d.event_id.clone(),
                d.market
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                d.outcome.as_str().to_string(),
                d.reason.clone(),
            ]);
        }
    }
    if !json {
        table(
            out,
            &["DECIDED_AT", "EVENT", "MARKET", "OUTCOME", "REASON"],
            &rows,
            &[],
        )?;
    }
    Ok(())
}

/// The paper trades, oldest first.
pub fn ledger(settings: &Settings, json: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    let store = open(settings)?;
    let trades: Vec<Trade> = store.trades().collect::<Result<_, _>>()?;
    if json {
        for trade in &trades {
            serde_json::to_writer(&mut *out, trade).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = trades
        .iter()
        .map(|t| {
            vec![
                t.trade_id.to_string(),
                t.placed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("{}/{}", t.platform, t.market_id),
                format!("{:?}", t.action).to_lowercase(),
                t.side.to_string(),
                t.contracts.to_string(),
                t.price.to_string(),
                t.cost.to_string(),
                t.fee.to_string(),
                t.cash_after.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "PLACED_AT",
            "MARKET",
            "ACTION",
            "SIDE",
            "CONTRACTS",
            "PRICE",
            "COST",
            "FEE",
            "CASH_AFTER",
        ],
        &rows,
        &[0, 5, 6, 7, 8, 9],
    )
}

/// Archive the store so the next run starts a fresh bankroll.
pub fn reset(
    settings: &Settings,
    clock: &SharedClock,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    match store::archive(&settings.storage.path, clock.now())? {
        Some(archived) => writeln!(
            out,
            "archived {} to {}; the next run starts a fresh bankroll of {}",
            settings.storage.path.display(),
            archived.display(),
            settings.sizing.bankroll
        )?,
        None => writeln!(
            out,
            "no store at {}; the next run starts a fresh bankroll of {}",
            settings.storage.path.display(),
            settings.sizing.bankroll
        )?,
    }
    Ok(())
}

/// Print rows as aligned columns; columns listed in `right` are right-aligned (numbers).
pub fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
) -> Result<(), CommandError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right.contains(&i) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i != last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                line.push_str("  ");
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
