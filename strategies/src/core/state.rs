//! The values the core exchanges with its caller and persists: configuration, per-market
//! state, signal tickets and replies, the step an event produces, and the quota pause.

use serde::{Deserialize, Serialize};

use crate::budget::BudgetLimits;
use crate::decision::Decision;
use crate::exits::ExitRules;
use crate::filter::FilterRules;
use crate::sizing::{FeeSchedule, SizingRules};
use crate::types::{MarketKey, Price, Signal, Timestamp};

/// Everything the core needs to decide, from the config files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    pub filter: FilterRules,
    pub sizing: SizingRules,
    pub fees: FeeSchedule,
    pub budget: BudgetLimits,
    pub exits: ExitRules,
    /// Event types that are traded (`price_shift`); others only update prices.
    pub trade_types: Vec<String>,
    /// Least time between two equity snapshots made because prices moved (`report.snapshot_every`);
    /// an input that trades always makes one.
    pub snapshot_every: chrono::Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            filter: FilterRules::default(),
            sizing: SizingRules::default(),
            fees: FeeSchedule::default(),
            budget: BudgetLimits::default(),
            exits: ExitRules::default(),
            trade_types: vec!["price_shift".to_string()],
            snapshot_every: chrono::Duration::minutes(1),
        }
    }
}

/// What the core remembers per market. Persisted with every change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MarketState {
    /// Latest YES price seen on the stream.
    pub last_yes: Option<Price>,
    pub last_price_at: Option<Timestamp>,
    /// When the market was last sent for a signal (starts the cooldown).
    pub last_signal_at: Option<Timestamp>,
}

/// A pending signal request: the event that asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalTicket {
    pub event_id: String,
    pub event_type: String,
    pub market: MarketKey,
    pub requested_at: Timestamp,
}

/// How a signal request ended, after the caller's retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalReply {
    Signal(Signal),
    Failed {
        reason: String,
        /// The API said the quota is spent until then (a 429 with a date `Retry-After`).
        pause_until: Option<Timestamp>,
    },
}

/// The result of feeding one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Decided(Decision),
    /// Ask the signal API, then call [`super::Core::on_signal`] with the ticket and the reply.
    NeedSignal(SignalTicket),
}

/// Pause of all signal requests after the API reported its quota spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaPause {
    pub until: Timestamp,
    pub reason: String,
}
