//! The operator's actions on the core: pause new positions, resume, close a market by hand.
//!
//! Each one is decided like an event — one [`Decision`] with outcome `control` — so the
//! journal records who changed what and when, and a close's trades are persisted atomically
//! with it, exactly once, like any exit. The pause is a flag the caller persists; while it is
//! set, events that pass the filter are refused as `paused` before any signal is asked for
//! (and a signal already in flight opens nothing), while exits and settlement keep running.

use serde::{Deserialize, Serialize};

use super::Core;
use crate::decision::{Decision, Outcome};
use crate::exits::{self, Closes, ExitReason};
use crate::types::{MarketKey, Side, Timestamp};

/// One operator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Control {
    /// Stop opening positions.
    Pause,
    /// Open positions again.
    Resume,
    /// Sell what is held in `market` (one side, or both) at its last price.
    Close {
        /// As `platform/market_id`, the form every command and log line uses.
        #[serde(with = "market_text")]
        market: MarketKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        side: Option<Side>,
    },
}

impl Control {
    /// `pause`, `resume`, `close`: the action's name in the journal and the event id.
    pub fn name(&self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Close { .. } => "close",
        }
    }
}

/// `MarketKey` as its `platform/market_id` text.
mod market_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::types::MarketKey;

    pub fn serialize<S: Serializer>(market: &MarketKey, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(market)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MarketKey, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why events are refused while paused.
pub(super) const PAUSED_REASON: &str =
    "paused by the operator: no new positions (`shiftbot resume` opens them again)";

impl Core {
    /// Whether the operator has paused new positions.
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Restore the operator's pause (after a restart).
    pub fn set_halted(&mut self, halted: bool) {
        self.halted = halted;
    }

    /// Apply an operator action, decided under `event_id` at `now`. Always a decision with
    /// outcome `control`; a close carries its trades (none when nothing is held or no price
    /// is known, said in the reason). Exits due at `now` ride along, as on every decision.
    pub fn control(&mut self, control: &Control, event_id: &str, now: Timestamp) -> Decision {
        self.touched.halted = matches!(control, Control::Pause | Control::Resume);
        let mut closes = Closes::default();
        self.run_exits(event_id, now, &mut closes);
        let (market, reason) = match control {
            Control::Pause => {
                let was = std::mem::replace(&mut self.halted, true);
                let reason = match was {
                    true => "already paused: no new positions",
                    false => "paused: no new positions; exits and settlement keep running",
                };
                (None, reason.to_string())
            }
            Control::Resume => {
                let was = std::mem::replace(&mut self.halted, false);
                let reason = match was {
                    true => "resumed: new positions may open",
                    false => "not paused: nothing to resume",
                };
                (None, reason.to_string())
            }
            Control::Close { market, side } => {
                let reason = self.close_by_hand(market, *side, event_id, now, &mut closes);
                (Some(market.clone()), reason)
            }
        };
        for trade in &closes.trades {
            self.exits_dirty.mark(&trade.market());
        }
        Decision {
            event_id: event_id.to_string(),
            event_type: "control".to_string(),
            market,
            outcome: Outcome::Control,
            reason: closes.annotate(reason),
            decided_at: now,
            signal: None,
            trades: closes.trades,
        }
    }

    fn close_by_hand(
        &mut self,
        market: &MarketKey,
        side: Option<Side>,
        event_id: &str,
        now: Timestamp,
        closes: &mut Closes,
    ) -> String {
        let sides = match side {
            Some(side) => vec![side],
            None => vec![Side::Yes, Side::No],
        };
        let held: Vec<Side> = sides
            .into_iter()
            .filter(|s| self.book.position(market, *s).is_some())
            .collect();
        let what = match side {
            Some(side) => format!("{market} {side}"),
            None => market.to_string(),
        };
        if held.is_empty() {
            return format!("manual close of {what}: nothing held");
        }
        let Some(yes) = self.last_yes(market) else {
            return format!("manual close of {what}: no price seen for {market}, nothing closed");
        };
        let before = closes.trades.len();
        for side in held {
            if let Some(trade) = exits::close_position(
                &mut self.book,
                &self.config.fees,
                market,
                side,
                yes,
                event_id,
                now,
            ) {
                closes.push(trade, ExitReason::Manual);
            }
        }
        let closed = closes.trades.len() - before;
        format!("manual close of {what} at YES {yes}: {closed} position(s)")
    }
}
