//! Exits and settlement: when an open position is sold back, and what a resolved market pays.
//!
//! Everything here is a pure function of the rules, the book and the prices the caller passes;
//! [`crate::core::Core`] decides *when* to call them (see "When exits run" there).
//!
//! - Take-profit and stop-loss are absolute moves of the held side's price from the position's
//!   average entry price (fees excluded): holding YES bought at an average 0.40 with
//!   `take_profit = 0.15`, the position is sold once YES trades at 0.55 or more; with
//!   `stop_loss = 0.10`, once it trades at 0.30 or less. A NO position is judged on the NO price
//!   (`1 - yes`). Thresholds are inclusive: a move of exactly the threshold fires.
//! - `max_hold` counts from when the position was first opened; adding to a position does not
//!   restart the clock, so the oldest contracts set the limit.
//! - An exit is a paper sell of the whole position at the held side's current price minus the
//!   fee an entry of that size would pay (`trade_fee`), capped at the proceeds (see
//!   [`exit_fee`]).
//! - Settlement pays 1 per winning contract and 0 per losing one, with no fee.

use chrono::Duration;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::book::{Book, Position};
use crate::decision::{Trade, TradeAction};
use crate::sizing::{trade_fee, FeeSchedule};
use crate::types::{MarketKey, Price, Side, Timestamp};

/// `[exits]` settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRules {
    /// Sell once the held side's price is this far above the average entry price. `None`: never.
    pub take_profit: Option<Decimal>,
    /// Sell once the held side's price is this far below the average entry price. `None`: never.
    pub stop_loss: Option<Decimal>,
    /// Sell a position this long after it was opened. `None`: hold until settlement.
    pub max_hold: Option<Duration>,
    /// A `BUY_NO` while holding YES (or the reverse) sells the held side before buying.
    pub close_on_opposite_signal: bool,
    /// A resolved market whose last YES price is at or above this settles YES; at or below
    /// `1 - settle_at` it settles NO; in between the bot waits.
    pub settle_at: Decimal,
}

impl Default for ExitRules {
    /// 15 points of profit, 10 points of loss, a week at most: a price-shift strategy bets on
    /// the next move, not on the market's resolution months away, so positions are turned over.
    /// `settle_at` 0.99 treats a market quoted at 99 % after it has been determined as decided.
    fn default() -> Self {
        ExitRules {
            take_profit: Some(Decimal::new(15, 2)),
            stop_loss: Some(Decimal::new(10, 2)),
            max_hold: Some(Duration::days(7)),
            close_on_opposite_signal: true,
            settle_at: Decimal::new(99, 2),
        }
    }
}

impl ExitRules {
    /// Every setting outside its legal range, as `(key, problem)`; empty when all are valid.
    /// The config loader reports these under `exits.<key>`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let inside_unit = |v: Decimal| v > Decimal::ZERO && v < Decimal::ONE;
        if let Some(tp) = self.take_profit {
            if !inside_unit(tp) {
                out.push(("take_profit", format!("{tp} is outside (0, 1)")));
            }
        }
        if let Some(sl) = self.stop_loss {
            if !inside_unit(sl) {
                out.push(("stop_loss", format!("{sl} is outside (0, 1)")));
            }
        }
        if let Some(max) = self.max_hold {
            if max <= Duration::zero() {
                out.push(("max_hold", "must be longer than zero".to_string()));
            }
        }
        if self.settle_at <= Decimal::new(5, 1) || self.settle_at >= Decimal::ONE {
            out.push((
                "settle_at",
                format!("{} is outside (0.5, 1)", self.settle_at),
            ));
        }
        out
    }
}

/// Why a position was sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    TakeProfit,
    StopLoss,
    MaxHold,
    OppositeSignal,
    /// `shiftbot close`: the operator's paper close at the last price.
    Manual,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::TakeProfit => "take_profit",
            ExitReason::StopLoss => "stop_loss",
            ExitReason::MaxHold => "max_hold",
            ExitReason::OppositeSignal => "opposite_signal",
            ExitReason::Manual => "manual",
        }
    }
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rule, if any, says to sell `position` now, with its side trading at `held_price`.
///
/// Stop-loss is checked before take-profit (only one can hold for positive thresholds), and
/// both before `max_hold`, so a position that is both old and past a price threshold reports
/// the price reason. Compared as `contracts * price` against the cost basis, never by dividing,
/// so the thresholds are exact however the average entry price is written.
pub fn exit_reason(
    rules: &ExitRules,
    position: &Position,
    held_price: Price,
    now: Timestamp,
) -> Option<ExitReason> {
    if position.contracts == 0 {
        return None;
    }
    let held = Decimal::from(position.contracts);
    let value = held * held_price.get();
    if let Some(stop) = rules.stop_loss {
        if position.cost_basis - value >= stop * held {
            return Some(ExitReason::StopLoss);
        }
    }
    if let Some(take) = rules.take_profit {
        if value - position.cost_basis >= take * held {
            return Some(ExitReason::TakeProfit);
        }
    }
    if let Some(max) = rules.max_hold {
        if now - position.opened_at >= max {
            return Some(ExitReason::MaxHold);
        }
    }
    None
}

/// The side a resolved market settled to, judged by its last YES price; `None` while the
/// price is not at or beyond `settle_at` / `1 - settle_at` (the bot waits for a clearer quote
/// or a manual `shiftbot settle`).
pub fn settlement_side(last_yes: Price, settle_at: Decimal) -> Option<Side> {
    let yes = last_yes.get();
    if yes >= settle_at {
        Some(Side::Yes)
    } else if yes <= Decimal::ONE - settle_at {
        Some(Side::No)
    } else {
        None
    }
}

/// The fee for selling `contracts` at `c`: the entry formula, rounded up to the cent, but never
/// more than the sale brings in. Without the cap, selling one sub-cent contract would cost a
/// whole cent and a close could take cash below zero; a paper sell is never worse than
/// abandoning the contracts.
pub fn exit_fee(rate: Decimal, contracts: u64, c: Decimal) -> Decimal {
    trade_fee(rate, contracts, c).min(Decimal::from(contracts) * c)
}

/// Sell the whole `(market, side)` position at the side's price given `yes`, paying
/// [`exit_fee`]. `None` when nothing is held.
pub fn close_position(
    book: &mut Book,
    fees: &FeeSchedule,
    market: &MarketKey,
    side: Side,
    yes: Price,
    event_id: &str,
    now: Timestamp,
) -> Option<Trade> {
    let contracts = book.position(market, side)?.contracts;
    let c = side.price_of(yes).get();
    let fee = exit_fee(fees.rate(market.platform), contracts, c);
    book.close(
        event_id,
        market,
        side,
        TradeAction::Close,
        contracts,
        c,
        fee,
        now,
    )
}

/// Trades made by one decision besides its entry, with a note for each to append to the
/// decision's reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closes {
    pub trades: Vec<Trade>,
    notes: Vec<String>,
}

impl Closes {
    pub fn push(&mut self, trade: Trade, reason: ExitReason) {
        self.notes.push(format!(
            "closed {}/{} {} x{} @ {} on {} (realized {})",
            trade.platform,
            trade.market_id,
            trade.side,
            trade.contracts,
            trade.price,
            reason,
            trade.realized_pnl.unwrap_or_default().round_dp(2),
        ));
        self.trades.push(trade);
    }

    /// `reason` followed by `; closed ...` for every close, in order.
    pub fn annotate(&self, reason: String) -> String {
        self.notes
            .iter()
            .fold(reason, |acc, note| format!("{acc}; {note}"))
    }
}

/// Apply the exit rules to every open position, each at its market's last YES price from
/// `last_yes` (positions in a market with no known price are left alone: there is nothing to
/// sell at). Closes go into `closes` in the book's (market, side) order.
#[allow(clippy::too_many_arguments)]
pub fn run_exits(
    rules: &ExitRules,
    fees: &FeeSchedule,
    book: &mut Book,
    last_yes: impl Fn(&MarketKey) -> Option<Price>,
    consider: impl Fn(&Position) -> bool,
    event_id: &str,
    now: Timestamp,
    closes: &mut Closes,
) {
    let due = due_exits(
        rules,
        book.positions.values().filter(|p| consider(p)),
        last_yes,
        now,
    );
    close_due(book, fees, due, event_id, now, closes);
}

/// A position an exit rule says to close: its key, the YES price to close at, and the rule.
pub type DueExit = (MarketKey, Side, Price, ExitReason);

/// The exits due among `candidates`, in the order given (see [`run_exits`]).
pub fn due_exits<'a>(
    rules: &ExitRules,
    candidates: impl Iterator<Item = &'a Position>,
    last_yes: impl Fn(&MarketKey) -> Option<Price>,
    now: Timestamp,
) -> Vec<DueExit> {
    candidates
        .filter_map(|position| {
            let yes = last_yes(&position.market)?;
            let held = position.side.price_of(yes);
            let reason = exit_reason(rules, position, held, now)?;
            Some((position.market.clone(), position.side, yes, reason))
        })
        .collect()
}

/// Close the `due` positions in order, each close into `closes`.
pub fn close_due(
    book: &mut Book,
    fees: &FeeSchedule,
    due: Vec<DueExit>,
    event_id: &str,
    now: Timestamp,
    closes: &mut Closes,
) {
    for (market, side, yes, reason) in due {
        if let Some(trade) = close_position(book, fees, &market, side, yes, event_id, now) {
            closes.push(trade, reason);
        }
    }
}

/// Settle every open position in `market`: the `winner` side is paid 1 per contract, the other
/// 0, with no fee. Returns the settle trades (YES first); none when nothing is held, so
/// settling twice changes nothing the second time.
pub fn settle(
    book: &mut Book,
    market: &MarketKey,
    winner: Side,
    event_id: &str,
    now: Timestamp,
) -> Vec<Trade> {
    [Side::Yes, Side::No]
        .into_iter()
        .filter_map(|side| {
            let contracts = book.position(market, side)?.contracts;
            let payout = if side == winner {
                Decimal::ONE
            } else {
                Decimal::ZERO
            };
            book.close(
                event_id,
                market,
                side,
                TradeAction::Settle,
                contracts,
                payout,
                Decimal::ZERO,
                now,
            )
        })
        .collect()
}
