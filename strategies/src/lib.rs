//! Pure strategy logic for shiftbot: no I/O, no clock, no async.
//!
//! # Layout
//! - [`types`]: validated vocabulary (platform, side, price in (0, 1), market, signal).
//! - [`event`]: decoded market events.
//! - [`filter`]: which events deserve a signal request.
//! - [`budget`]: caps on billed signal requests.
//! - [`sizing`]: fractional Kelly with fees and caps.
//! - [`book`]: cash, positions and the accounting identity.
//! - [`exits`]: take-profit, stop-loss, max-hold, opposite-signal exits and settlement.
//! - [`report`]: review metrics (equity, P&L, win rate, drawdown, Sharpe) from the ledger.
//! - [`model`]: the local baseline signal model used by replay when no signal was recorded.
//! - [`decision`]: outcomes, trades and the recorded decision.
//! - [`core`]: the pipeline that ties them together: an [`Input`] and the caller's clock in,
//!   the decision and the audit of what it changed ([`Changes`]) out.
//! - [`timeline`]: the one driver around the core (decision clock, replies known ahead) that
//!   the live engine, replay and the property tests share.
#![forbid(unsafe_code)]

pub mod book;
pub mod budget;
pub mod core;
pub mod decision;
pub mod event;
pub mod exits;
pub mod filter;
pub mod model;
pub mod report;
pub mod sizing;
pub mod timeline;
pub mod types;

pub use crate::core::{
    Changes, Control, Core, CoreConfig, Effect, Input, MarketMap, MarketState, Output, QuotaPause,
    SignalReply, SignalTicket, Step,
};
pub use book::{Book, BookTotals, Position};
pub use decision::{Decision, Outcome, Reason, Refusal, Trade, TradeAction};
pub use event::{Event, EventBody, PriceShift, WhaleAlert};
pub use exits::{ExitReason, ExitRules};
pub use timeline::Timeline;
pub use types::{MarketKey, Platform, Price, Recommendation, Side, Signal, Timestamp};
