//! Validated market events, as the core sees them after decoding at the edge.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{MarketKey, Price, Side, Timestamp};

/// A price move reported by the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceShift {
    pub market: MarketKey,
    pub old_yes: Price,
    pub new_yes: Price,
    /// Percent move as sent by the API (`9.7` means 9.7 %). Signed: negative is down.
    pub change_pct: Decimal,
    /// When the move happened, if the feed says; otherwise the receive time stands in.
    pub timestamp: Option<Timestamp>,
}

/// A large trade reported by the feed. Only its price is used (to mark the market).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhaleAlert {
    pub market: MarketKey,
    pub side: Option<Side>,
    pub flow: Option<Decimal>,
    /// YES price at the trade, when sent.
    pub price: Option<Price>,
    pub timestamp: Option<Timestamp>,
}

/// What a raw event decoded into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    PriceShift(PriceShift),
    WhaleAlert(WhaleAlert),
    /// A well-formed event of a type the strategy does not trade on (`analysis_complete`, ...).
    Other {
        market: Option<MarketKey>,
    },
    /// Could not be decoded or failed validation; the reason says why.
    Invalid {
        market: Option<MarketKey>,
        reason: String,
    },
}

/// One event from any source, with the identity used for exactly-once processing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Server-assigned id, or one derived from the content when the server sent none.
    pub id: String,
    /// The wire `type` (or SSE `event:` name); `"unknown"` when there was none.
    pub event_type: String,
    pub received_at: Timestamp,
    pub body: EventBody,
}

impl Event {
    pub fn market(&self) -> Option<&MarketKey> {
        match &self.body {
            EventBody::PriceShift(p) => Some(&p.market),
            EventBody::WhaleAlert(w) => Some(&w.market),
            EventBody::Other { market } | EventBody::Invalid { market, .. } => market.as_ref(),
        }
    }

    /// The latest YES price this event reveals for its market, if any.
    pub fn yes_price(&self) -> Option<Price> {
        match &self.body {
            EventBody::PriceShift(p) => Some(p.new_yes),
            EventBody::WhaleAlert(w) => w.price,
            _ => None,
        }
    }
}
