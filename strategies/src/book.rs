//! The paper book: cash, open positions and the running totals that prove it balances.
//!
//! Invariant (checked by property tests):
//! `cash + Σ open cost_basis + Σ open entry fees - realized_pnl == starting bankroll`, exactly.
//! Realized P&L is net of both legs' fees, so a position's entry fee moves out of the "open"
//! term into `realized_pnl` when it closes. While nothing has closed, the open entry fees are
//! all the fees paid, which is the simpler form `cash + cost basis + fees = bankroll`.
//!
//! The issue states the identity as "cash + cost basis of open positions + fees paid −
//! realized P&L". With *all* fees paid in that sum, realized P&L must be taken gross of fees
//! (proceeds − cost basis): [`Book::realized_pnl_gross`]. Both forms are the same equation,
//! since gross − net realized = fees of closed legs = all fees − open entry fees; the ledger
//! reports the net figure because that is what a trader keeps. [`Book::accounted_total`] and
//! [`Book::accounted_total_gross`] compute each form; the property tests check both.
//!
//! Marking: with the last YES price of each market, a position is worth `contracts × price of
//! its side`; unrealized P&L is that value minus cost basis and entry fees, so that
//! `cash + Σ market value == starting bankroll + realized + unrealized` (equity).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decision::{Trade, TradeAction};
use crate::sizing::Sizing;
use crate::types::{MarketKey, Price, Side, Timestamp};

/// Decimal places kept on the pro-rata cost basis and entry fees taken out by a partial close.
const PRO_RATA_DP: u32 = 10;

/// An open position in one side of one market.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub market: MarketKey,
    pub side: Side,
    pub contracts: u64,
    /// What was paid for the contracts held, fees excluded.
    pub cost_basis: Decimal,
    /// Entry fees paid on the contracts held.
    pub fees_paid: Decimal,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Position {
    /// Average entry price per contract.
    pub fn average_price(&self) -> Decimal {
        if self.contracts == 0 {
            Decimal::ZERO
        } else {
            self.cost_basis / Decimal::from(self.contracts)
        }
    }

    /// What the contracts would fetch at the side's current price, before exit fees.
    pub fn market_value(&self, yes: Price) -> Decimal {
        Decimal::from(self.contracts) * self.side.price_of(yes).get()
    }

    /// Market value minus what the position cost, entry fees included.
    pub fn unrealized_pnl(&self, yes: Price) -> Decimal {
        self.market_value(yes) - self.cost_basis - self.fees_paid
    }
}

/// Scalar totals of the book, persisted together with every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookTotals {
    pub starting_bankroll: Decimal,
    pub cash: Decimal,
    pub fees_paid: Decimal,
    pub realized_pnl: Decimal,
    /// Id the next trade gets; trade ids are dense and start at 1.
    pub next_trade_id: u64,
}

/// Cash, positions and totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Book {
    pub totals: BookTotals,
    pub positions: BTreeMap<(MarketKey, Side), Position>,
}

impl Book {
    pub fn new(bankroll: Decimal) -> Book {
        Book {
            totals: BookTotals {
                starting_bankroll: bankroll,
                cash: bankroll,
                fees_paid: Decimal::ZERO,
                realized_pnl: Decimal::ZERO,
                next_trade_id: 1,
            },
            positions: BTreeMap::new(),
        }
    }

    pub fn restore(totals: BookTotals, positions: impl IntoIterator<Item = Position>) -> Book {
        let positions = positions
            .into_iter()
            .map(|p| ((p.market.clone(), p.side), p))
            .collect();
        Book { totals, positions }
    }

    pub fn cash(&self) -> Decimal {
        self.totals.cash
    }

    /// Total cost basis of open positions: what `max_exposure_pct` caps.
    pub fn open_exposure(&self) -> Decimal {
        self.positions.values().map(|p| p.cost_basis).sum()
    }

    pub fn position(&self, market: &MarketKey, side: Side) -> Option<&Position> {
        self.positions.get(&(market.clone(), side))
    }

    /// Entry fees paid on contracts still held.
    pub fn open_fees(&self) -> Decimal {
        self.positions.values().map(|p| p.fees_paid).sum()
    }

    /// The accounting identity; equals the starting bankroll when the book is consistent.
    pub fn accounted_total(&self) -> Decimal {
        self.totals.cash + self.open_exposure() + self.open_fees() - self.totals.realized_pnl
    }

    /// Realized P&L before fees: proceeds minus cost basis of everything closed or settled.
    pub fn realized_pnl_gross(&self) -> Decimal {
        self.totals.realized_pnl + self.totals.fees_paid - self.open_fees()
    }

    /// The identity in the words: cash + open cost basis + all fees paid − gross
    /// realized P&L. Always equal to [`Book::accounted_total`].
    pub fn accounted_total_gross(&self) -> Decimal {
        self.totals.cash + self.open_exposure() + self.totals.fees_paid - self.realized_pnl_gross()
    }

    /// Cash plus every open position marked at its market's YES price from `last_yes`; a
    /// position whose market has no price is carried at its cost basis.
    pub fn equity(&self, last_yes: impl Fn(&MarketKey) -> Option<Price>) -> Decimal {
        self.totals.cash
            + self
                .positions
                .values()
                .map(|p| last_yes(&p.market).map_or(p.cost_basis, |yes| p.market_value(yes)))
                .sum::<Decimal>()
    }

    /// Record a paper buy at the sized price and return the trade.
    pub fn open(
        &mut self,
        event_id: &str,
        market: &MarketKey,
        side: Side,
        sizing: &Sizing,
        win_probability: Decimal,
        now: Timestamp,
    ) -> Trade {
        let cash_before = self.totals.cash;
        let cash_after = cash_before - sizing.cost - sizing.fee;
        self.totals.cash = cash_after;
        self.totals.fees_paid += sizing.fee;
        let position = self
            .positions
            .entry((market.clone(), side))
            .or_insert_with(|| Position {
                market: market.clone(),
                side,
                contracts: 0,
                cost_basis: Decimal::ZERO,
                fees_paid: Decimal::ZERO,
                opened_at: now,
                updated_at: now,
            });
        position.contracts += sizing.contracts;
        position.cost_basis += sizing.cost;
        position.fees_paid += sizing.fee;
        position.updated_at = now;
        self.next_trade(
            event_id,
            market,
            side,
            TradeAction::Open,
            sizing.contracts,
            sizing.price,
        )
        .finish(
            sizing.cost,
            sizing.fee,
            cash_before,
            cash_after,
            Some(win_probability),
            None,
            now,
        )
    }

    /// Sell (or settle) `contracts` of a held position at `price` per contract, paying `fee`.
    /// Realized P&L is proceeds minus the proportional cost basis minus both legs' fees.
    /// Returns `None` when nothing is held; never sells more than is held.
    #[allow(clippy::too_many_arguments)]
    pub fn close(
        &mut self,
        event_id: &str,
        market: &MarketKey,
        side: Side,
        action: TradeAction,
        contracts: u64,
        price: Decimal,
        fee: Decimal,
        now: Timestamp,
    ) -> Option<Trade> {
        let key = (market.clone(), side);
        let position = self.positions.get_mut(&key)?;
        let contracts = contracts.min(position.contracts);
        if contracts == 0 {
            return None;
        }
        let held = Decimal::from(position.contracts);
        let sold = Decimal::from(contracts);
        let (basis_out, entry_fees_out) = if contracts == position.contracts {
            (position.cost_basis, position.fees_paid)
        } else {
            (
                pro_rata(position.cost_basis, sold, held),
                pro_rata(position.fees_paid, sold, held),
            )
        };
        position.contracts -= contracts;
        position.cost_basis -= basis_out;
        position.fees_paid -= entry_fees_out;
        position.updated_at = now;
        if position.contracts == 0 {
            self.positions.remove(&key);
        }
        let proceeds = sold * price;
        let realized = proceeds - basis_out - entry_fees_out - fee;
        let cash_before = self.totals.cash;
        let cash_after = cash_before + proceeds - fee;
        self.totals.cash = cash_after;
        self.totals.fees_paid += fee;
        self.totals.realized_pnl += realized;
        Some(
            self.next_trade(event_id, market, side, action, contracts, price)
                .finish(
                    proceeds,
                    fee,
                    cash_before,
                    cash_after,
                    None,
                    Some(realized),
                    now,
                ),
        )
    }

    fn next_trade(
        &mut self,
        event_id: &str,
        market: &MarketKey,
        side: Side,
        action: TradeAction,
        contracts: u64,
        price: Decimal,
    ) -> TradeDraft {
        let trade_id = self.totals.next_trade_id;
        self.totals.next_trade_id += 1;
        TradeDraft {
            trade_id,
            event_id: event_id.to_string(),
            market: market.clone(),
            side,
            action,
            contracts,
            price,
        }
    }
}

struct TradeDraft {
    trade_id: u64,
    event_id: String,
    market: MarketKey,
    side: Side,
    action: TradeAction,
    contracts: u64,
    price: Decimal,
}

impl TradeDraft {
    #[allow(clippy::too_many_arguments)]
    fn finish(
        self,
        cost: Decimal,
        fee: Decimal,
        cash_before: Decimal,
        cash_after: Decimal,
        win_probability: Option<Decimal>,
        realized_pnl: Option<Decimal>,
        placed_at: Timestamp,
    ) -> Trade {
        Trade {
            trade_id: self.trade_id,
            event_id: self.event_id,
            platform: self.market.platform,
            market_id: self.market.market_id,
            side: self.side,
            action: self.action,
            contracts: self.contracts,
            price: self.price,
            win_probability,
            cost,
            fee,
            cash_before,
            cash_after,
            realized_pnl,
            placed_at,
        }
    }
}

/// `amount * sold / held`, rounded to [`PRO_RATA_DP`]. When the product does not fit a
/// `Decimal` (astronomical positions) the share is taken first, which rounds at the 28th digit
/// instead of panicking; `sold < held`, so the share is below 1 and cannot overflow.
fn pro_rata(amount: Decimal, sold: Decimal, held: Decimal) -> Decimal {
    let exact = amount.checked_mul(sold).and_then(|p| p.checked_div(held));
    exact
        .unwrap_or_else(|| amount * (sold / held))
        .round_dp(PRO_RATA_DP)
}
