//! `shiftbot ledger`: the paper trades, oldest first (newest last).
//!
//! `--json` is the issue-2 contract: each stored `Trade` serialized as it is, one per line.
//! `--csv` has the same columns in the same order, as a spreadsheet reads them.

use std::io::Write;

use strategies::Trade;

use super::args::{action_name, newest};
use super::format::{csv_record, money, price, signed_money, table, time};
use super::{json_line, CommandError, LedgerArgs, ReviewRequest};
use crate::store::Store;

/// Columns of `ledger --csv`: the fields of `ledger --json`, in order.
pub const CSV_HEADER: [&str; 15] = [
    "trade_id",
    "event_id",
    "platform",
    "market_id",
    "side",
    "action",
    "contracts",
    "price",
    "win_probability",
    "cost",
    "fee",
    "cash_before",
    "cash_after",
    "realized_pnl",
    "placed_at",
];

pub(super) fn render(
    store: Option<&Store>,
    request: &ReviewRequest,
    args: &LedgerArgs,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let since = args.filters.since.map(|s| s.resolve(request.now));
    let Some(store) = store else {
        return render_kept(&[], args, out);
    };
    let keep = |t: &Trade| args.filters.keeps_trade(t, since);
    if args.json && args.filters.limit.is_none() {
        // Streamed: one line per trade as it is read, whatever the length of the history.
        for trade in store.trades() {
            let trade = trade?;
            if keep(&trade) {
                json_line(out, &trade)?;
            }
        }
        return Ok(());
    }
    let kept: Vec<Trade> = newest(store.trades(), keep, args.filters.limit)?;
    render_kept(&kept, args, out)
}

fn render_kept(kept: &[Trade], args: &LedgerArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    if args.json {
        for trade in kept {
            json_line(out, trade)?;
        }
        return Ok(());
    }
    if args.csv {
        let header: Vec<String> = CSV_HEADER.iter().map(|h| h.to_string()).collect();
        csv_record(out, &header)?;
        for t in kept {
            let optional =
                |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
            csv_record(
                out,
                &[
                    t.trade_id.to_string(),
                    t.event_id.clone(),
                    t.platform.to_string(),
                    t.market_id.clone(),
                    t.side.to_string(),
                    action_name(t.action).to_string(),
                    t.contracts.to_string(),
                    t.price.to_string(),
                    optional(t.win_probability),
                    t.cost.to_string(),
                    t.fee.to_string(),
                    t.cash_before.to_string(),
                    t.cash_after.to_string(),
                    optional(t.realized_pnl),
                    t.placed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ],
            )?;
        }
        return Ok(());
    }
    if kept.is_empty() {
        writeln!(out, "no trades")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = kept
        .iter()
        .map(|t| {
            vec![
                t.trade_id.to_string(),
                time(t.placed_at),
                format!("{}/{}", t.platform, t.market_id),
                action_name(t.action).to_string(),
                t.side.to_string(),
                t.contracts.to_string(),
                price(t.price),
                money(t.cost),
                money(t.fee),
                t.realized_pnl.map(signed_money).unwrap_or_default(),
                money(t.cash_after),
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
            "AMOUNT",
            "FEE",
            "REALIZED",
            "CASH_AFTER",
        ],
        &rows,
        &[0, 5, 6, 7, 8, 9, 10],
    )?;
    Ok(())
}
