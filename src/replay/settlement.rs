//! Settlements in a recording: when a market the live bot held was settled, to which winner,
//! under which ledger id, so that replay pays out at the same point of the timeline.
//!
//! ```json
//! {"id":"manual-settle:kalshi/X","type":"settlement","data":{"market":"kalshi/X","winner":"yes"},
//!  "received_at":"2026-01-01T00:00:09.500Z","signal":null,"settlement":{"market":"kalshi/X","winner":"yes"}}
//! ```
//! - The top-level `settlement` object is what marks the line: only the exporter writes it (a
//!   feed event may well be *named* "settlement", so `type` cannot decide). `data` repeats it,
//!   so a reader that knows only event lines still sees what happened.
//! - `id`: the ledger's `event_id` of the settle trades (`resolution:<market>:<status>` from the
//!   resolution poller, `manual-settle:<market>` from `shiftbot settle`); replay gives its own
//!   settle trades the same id.
//! - `received_at`: the settle trades' time, full precision.
//!
//! What an export captures is what the ledger shows: a settlement that paid something. A market
//! that resolved while the live bot held nothing there leaves no trade and so no line, and a
//! replay (under another config) that holds a position there keeps it open. `sim --record`
//! knows every market's outcome, so it writes a line for every market when the model
//! determines it (`resolution:<market>:determined`): a synthetic session has no such gaps.
//!
//! The winner is not stored with the trades; it is read back from them: a side paid 1 per
//! contract won, a side paid 0 lost (see `strategies::exits::settle`).

use std::io::{self, Write};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use strategies::{MarketKey, Side, Timestamp, Trade, TradeAction};

/// The `type` of a settlement line (informational: the `settlement` field decides).
pub const SETTLEMENT_TYPE: &str = "settlement";

/// A market settled to a winner at a time, under a ledger id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The ledger's `event_id` of the settle trades.
    pub id: String,
    pub market: MarketKey,
    pub winner: Side,
    pub at: Timestamp,
}

/// A settlement of a recording and where it sits among the events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedSettlement {
    /// How many event lines came before it in the file: it applies before event `position`
    /// (after the last event when `position` is the tape's length).
    pub position: usize,
    pub settlement: Settlement,
}

/// The `settlement` (and `data`) object of a line.
#[derive(Serialize)]
struct SettlementOut {
    market: String,
    winner: Side,
}

/// A settlement line, field order as documented.
#[derive(Serialize)]
struct LineOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'static str,
    data: &'a SettlementOut,
    received_at: Timestamp,
    /// Always `null`: a settlement asks for no signal.
    signal: Option<()>,
    settlement: &'a SettlementOut,
}

/// The `settlement` object as read; unknown fields are ignored, like everywhere in a line.
#[derive(Deserialize)]
struct SettlementIn {
    market: String,
    winner: String,
}

impl Settlement {
    /// Write as one NDJSON line.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let object = SettlementOut {
            market: self.market.to_string(),
            winner: self.winner,
        };
        let line = LineOut {
            id: &self.id,
            event_type: SETTLEMENT_TYPE,
            data: &object,
            received_at: self.at,
            signal: None,
            settlement: &object,
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }

    /// The settlement of a line whose top-level `settlement` field holds `object` (JSON text);
    /// `id` and `received_at` are the line's. The error says what is wrong with the object.
    pub fn from_line(id: &str, received_at: Timestamp, object: &str) -> Result<Self, String> {
        let parsed: SettlementIn = serde_json::from_str(object).map_err(|e| {
            format!("settlement: expected {{\"market\": \"<platform>/<market_id>\", \"winner\": \"yes\"|\"no\"}}: {e}")
        })?;
        let market = parsed
            .market
            .parse::<MarketKey>()
            .map_err(|e| format!("settlement.market: {e}"))?;
        let winner = match parsed.winner.as_str() {
            "yes" => Side::Yes,
            "no" => Side::No,
            other => {
                return Err(format!(
                    "settlement.winner: expected \"yes\" or \"no\", got {other:?}"
                ))
            }
        };
        Ok(Settlement {
            id: id.to_string(),
            market,
            winner,
            at: received_at,
        })
    }
}

/// The settlements behind the ledger's settle trades, in ledger order: consecutive settle trades
/// with the same `event_id`, market and time are one settlement (one `Core::settle` call pays
/// both sides held at once). Fails on a settle trade whose payout is neither 0 nor 1, or on
/// trades of one settlement that disagree on the winner: the winner cannot be read back then.
pub fn settlements_from_trades(
    trades: impl IntoIterator<Item = Trade>,
) -> Result<Vec<Settlement>, String> {
    let mut settlements: Vec<Settlement> = Vec::new();
    let mut last_trade: Option<Trade> = None;
    for trade in trades {
        if trade.action != TradeAction::Settle {
            continue;
        }
        let winner = winner_of(&trade)?;
        let market = trade.market();
        let same_group = last_trade.as_ref().is_some_and(|last| {
            last.event_id == trade.event_id
                && last.placed_at == trade.placed_at
                && last.platform == trade.platform
                && last.market_id == trade.market_id
        });
        match settlements.last() {
            Some(current) if same_group => {
                if current.winner != winner {
                    return Err(format!(
                        "settle trades {} and {} of {market} disagree on the winner",
                        last_trade.as_ref().map_or(0, |t| t.trade_id),
                        trade.trade_id
                    ));
                }
            }
            _ => settlements.push(Settlement {
                id: trade.event_id.clone(),
                market,
                winner,
                at: trade.placed_at,
            }),
        }
        last_trade = Some(trade);
    }
    Ok(settlements)
}

/// The side that won, from a settle trade: its own side when it was paid 1, the other at 0.
fn winner_of(trade: &Trade) -> Result<Side, String> {
    if trade.price == Decimal::ONE {
        Ok(trade.side)
    } else if trade.price.is_zero() {
        Ok(trade.side.opposite())
    } else {
        Err(format!(
            "settle trade {} of {} paid {} per contract (expected 0 or 1): its winner is unknown",
            trade.trade_id,
            trade.market(),
            trade.price
        ))
    }
}

#[cfg(test)]
#[path = "settlement_tests.rs"]
mod tests;
