//! Mark-to-market equity snapshots: what the book was worth at an instant, at the prices the
//! core had seen by then. The core makes one after every input that traded, and at most once
//! per [`crate::CoreConfig::snapshot_every`] while the prices of held markets move; the store
//! keeps them with the decision that caused them, replay collects them on its virtual clock,
//! and the report's equity curve is drawn through them (see the parent module's docs).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::Timestamp;

/// The book's value at `at`. `equity = cash + market_value` and
/// `equity − bankroll = realized_pnl + unrealized_pnl`, exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquitySnapshot {
    pub at: Timestamp,
    pub cash: Decimal,
    /// Open positions at their markets' latest prices (the held side's price).
    pub market_value: Decimal,
    pub equity: Decimal,
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
}
