//! The outcome of deciding one event, and the paper trade it may carry.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{MarketKey, Platform, Side, Signal, Timestamp};

/// Why an event was, or was not, traded. The snake_case names are a public contract
/// (`shiftbot decisions --json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Traded,
    BelowThreshold,
    Invalid,
    IgnoredType,
    FilteredMarket,
    Cooldown,
    Stale,
    MarketBusy,
    NoTrade,
    SignalError,
    SignalExpired,
    SignalBudget,
    EdgeBelowMin,
    SizeZero,
    ExposureLimit,
    /// The operator paused new positions (`shiftbot pause`): the event was decided without a
    /// signal; exits still ran.
    Paused,
    /// The decision of an operator's action itself (`pause`, `resume`, `close`), so the
    /// journal shows who changed what, and when.
    Control,
}

impl Outcome {
    pub const ALL: [Outcome; 17] = [
        Outcome::Traded,
        Outcome::BelowThreshold,
        Outcome::Invalid,
        Outcome::IgnoredType,
        Outcome::FilteredMarket,
        Outcome::Cooldown,
        Outcome::Stale,
        Outcome::MarketBusy,
        Outcome::NoTrade,
        Outcome::SignalError,
        Outcome::SignalExpired,
        Outcome::SignalBudget,
        Outcome::EdgeBelowMin,
        Outcome::SizeZero,
        Outcome::ExposureLimit,
        Outcome::Paused,
        Outcome::Control,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Traded => "traded",
            Outcome::BelowThreshold => "below_threshold",
            Outcome::Invalid => "invalid",
            Outcome::IgnoredType => "ignored_type",
            Outcome::FilteredMarket => "filtered_market",
            Outcome::Cooldown => "cooldown",
            Outcome::Stale => "stale",
            Outcome::MarketBusy => "market_busy",
            Outcome::NoTrade => "no_trade",
            Outcome::SignalError => "signal_error",
            Outcome::SignalExpired => "signal_expired",
            Outcome::SignalBudget => "signal_budget",
            Outcome::EdgeBelowMin => "edge_below_min",
            Outcome::SizeZero => "size_zero",
            Outcome::ExposureLimit => "exposure_limit",
            Outcome::Paused => "paused",
            Outcome::Control => "control",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal by some stage: the outcome and a human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: Outcome,
    pub reason: Reason,
}

impl Refusal {
    pub fn new(outcome: Outcome, reason: impl Into<Reason>) -> Refusal {
        Refusal {
            outcome,
            reason: reason.into(),
        }
    }
}

/// Why a stage refused, kept as its numbers until someone reads it.
///
/// The refusals nearly every event gets (below threshold, cooldown, stale) are variants that
/// render on demand: a sweep decides millions of events and reads no reason (see
/// [`crate::Core::set_explain`]), and formatting each would be a fifth of its work. The text is
/// the same either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Text(String),
    Static(&'static str),
    /// `|change|` under `filter.min_shift_pct`.
    BelowMinShift {
        change_abs: Decimal,
        min: Decimal,
    },
    /// A move against `filter.direction`.
    WrongDirection {
        change: Decimal,
        direction: crate::filter::Direction,
    },
    /// The market was sent for a signal `ago_s` seconds ago.
    Cooldown {
        ago_s: i64,
        cooldown_s: i64,
    },
    /// The event is older than `filter.max_event_age`.
    Stale {
        age_s: i64,
        max_s: i64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Text(text) => f.write_str(text),
            Reason::Static(text) => f.write_str(text),
            Reason::BelowMinShift { change_abs, min } => {
                write!(f, "|change| {change_abs}% < min_shift_pct {min}%")
            }
            Reason::WrongDirection { change, direction } => {
                let direction = format!("{direction:?}").to_lowercase();
                write!(f, "change {change}% is not in filter.direction {direction}")
            }
            Reason::Cooldown { ago_s, cooldown_s } => {
                write!(
                    f,
                    "last signal request {ago_s}s ago, cooldown is {cooldown_s}s"
                )
            }
            Reason::Stale { age_s, max_s } => {
                write!(f, "event is {age_s}s old, max_event_age is {max_s}s")
            }
        }
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason::Text(text)
    }
}

impl From<&'static str> for Reason {
    fn from(text: &'static str) -> Reason {
        Reason::Static(text)
    }
}

/// Compares the rendered text, so tests and callers read a reason as the words it says.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        match self {
            Reason::Text(text) => text == other,
            Reason::Static(text) => text == other,
            rendered => {
                let text = rendered.to_string();
                text == *other
            }
        }
    }
}

/// Whether a trade opened, closed or settled a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TradeAction {
    Open,
    Close,
    Settle,
}

impl TradeAction {
    /// The name used in the ledger, logs and metrics: `open`, `close`, `settle`.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeAction::Open => "open",
            TradeAction::Close => "close",
            TradeAction::Settle => "settle",
        }
    }
}

/// A paper fill. Field names are a public contract (`shiftbot ledger --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub trade_id: u64,
    pub event_id: String,
    pub platform: Platform,
    pub market_id: String,
    pub side: Side,
    pub action: TradeAction,
    pub contracts: u64,
    /// Price per contract of the side traded (`c`).
    pub price: Decimal,
    /// Win probability of the side traded (`w`), for entries.
    pub win_probability: Option<Decimal>,
    /// `contracts * price`: paid on open, received on close/settle.
    pub cost: Decimal,
    pub fee: Decimal,
    pub cash_before: Decimal,
    pub cash_after: Decimal,
    /// Realized P&L, on close and settle trades.
    pub realized_pnl: Option<Decimal>,
    pub placed_at: Timestamp,
}

impl Trade {
    pub fn market(&self) -> MarketKey {
        MarketKey {
            platform: self.platform,
            market_id: self.market_id.clone(),
        }
    }
}

/// The one recorded decision for one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub event_id: String,
    pub event_type: String,
    pub market: Option<MarketKey>,
    pub outcome: Outcome,
    pub reason: String,
    pub decided_at: Timestamp,
    /// The signal this decision was based on, when one was received.
    pub signal: Option<Signal>,
    /// The trades this decision made (an entry, possibly preceded by closing the opposite side).
    pub trades: Vec<Trade>,
}
