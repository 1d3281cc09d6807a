//! A recording decoded once into a compact, shareable form: the [`Tape`].
//!
//! Every line decodes exactly as the live run decoded it, because it is decoded by the same
//! code: [`crate::wire::decode`] on the payload text with the line's id and type, and
//! [`crate::signal::decode_signal`] on the response (the reading itself is in `reader`).
//! What is kept is small and flat so that a
//! million events fit comfortably in memory and can be shared by every sweep thread:
//! market keys and event types are interned, ids live in one string arena, and the rare
//! whale alerts and invalid events are boxed.
//!
//! Replaying an event refills one scratch [`Event`] in place ([`Tape::fill`]): no allocation
//! per event beyond what the core itself does.

use std::collections::HashMap;
use std::num::NonZeroU32;

use rust_decimal::Decimal;
use strategies::{
    Event, EventBody, MarketKey, Platform, Price, PriceShift, Recommendation, Signal, SignalReply,
    Timestamp, WhaleAlert,
};

use super::settlement::PlacedSettlement;
use crate::wire::{self, Decoded};

/// A recorded reply to a signal request, delivered to the core at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedReply {
    pub at: Timestamp,
    pub reply: SignalReply,
}

/// Why a recording could not be read. `line` counts from 1.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    #[error("{origin}: cannot read: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {message}")]
    Line {
        origin: String,
        line: u64,
        message: String,
    },
    #[error("{origin}: more than {} events or markets do not fit a tape", u32::MAX - 1)]
    TooLarge { origin: String },
}

/// One recorded event, compact.
#[derive(Clone, Debug)]
struct Slot {
    received_at: Timestamp,
    event_type: u32,
    body: Body,
    /// Index + 1 into `replies`.
    reply: Option<NonZeroU32>,
}

#[derive(Clone, Debug)]
enum Body {
    PriceShift {
        market: u32,
        old_yes: Price,
        new_yes: Price,
        change_pct: Decimal,
        timestamp: Option<Timestamp>,
    },
    /// The interned market and the alert (rare: boxed to keep slots small).
    WhaleAlert(Box<(u32, WhaleAlert)>),
    Other {
        market: Option<u32>,
    },
    Invalid(Box<(Option<MarketKey>, String)>),
}

/// A decoded recording.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    slots: Vec<Slot>,
    /// All ids, concatenated; `id_ends[i]` is where event `i`'s id ends.
    ids: String,
    id_ends: Vec<u32>,
    types: Vec<String>,
    markets: Vec<MarketKey>,
    replies: Vec<CompactReply>,
    /// Failed replies (rare), referenced by [`CompactReply::extra`].
    failures: Vec<(String, Option<Timestamp>)>,
    /// Distinct `freshness` values, referenced by [`CompactReply::extra`].
    freshness: Vec<String>,
    type_index: HashMap<String, u32, Fnv>,
    /// Market id → index into `markets`, one map per platform (see [`platform_slot`]).
    market_index: [HashMap<String, u32, Fnv>; 2],
    /// Settlement lines (rare), in file order; not events (see [`super::settlement`]).
    settlements: Vec<PlacedSettlement>,
}

/// A recorded reply in 64 bytes (a sim recording has one per price shift): a signal's fields
/// flat, its `freshness` interned; a failure's reason kept aside.
#[derive(Clone, Debug)]
struct CompactReply {
    at: Timestamp,
    edge: Decimal,
    probability: Decimal,
    expires_at: Option<Timestamp>,
    kind: ReplyKind,
    has_probability: bool,
    /// Signal: interned freshness + 1 (0: none). Failure: index into `failures`.
    extra: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyKind {
    Signal(Recommendation),
    Failed,
}

impl Tape {
    /// Append an event as the one decoder gave it ([`wire::decode`]) and its recorded reply.
    /// `false`: the tape is full (u32 indices).
    pub fn push(
        &mut self,
        event: &Decoded<'_>,
        received_at: Timestamp,
        reply: Option<RecordedReply>,
    ) -> bool {
        let Some(body) = self.body(&event.body) else {
            return false;
        };
        let reply = match reply {
            Some(reply) => match self.compact(reply) {
                Some(compact) => Some(compact),
                None => return false,
            },
            None => None,
        };
        self.append(&event.id, &event.event_type, received_at, body, reply)
    }

    /// A decoded body, its market interned (`None`: too many markets).
    fn body(&mut self, body: &wire::Body<'_>) -> Option<Body> {
        Some(match body {
            wire::Body::PriceShift(market, shift) => Body::PriceShift {
                market: self.market_by_id(market.platform, &market.id)?,
                old_yes: shift.old_yes,
                new_yes: shift.new_yes,
                change_pct: shift.change_pct,
                timestamp: shift.timestamp,
            },
            wire::Body::WhaleAlert(market, whale) => {
                let index = self.market_by_id(market.platform, &market.id)?;
                let alert = WhaleAlert {
                    market: self.markets.get(index as usize)?.clone(),
                    side: whale.side,
                    flow: whale.flow,
                    price: whale.price,
                    timestamp: whale.timestamp,
                };
                Body::WhaleAlert(Box::new((index, alert)))
            }
            wire::Body::Other(market) => Body::Other {
                market: match market {
                    Some(m) => Some(self.market_by_id(m.platform, &m.id)?),
                    None => None,
                },
            },
            wire::Body::Invalid(market, reason) => Body::Invalid(Box::new((
                market.as_ref().map(wire::Market::to_key),
                reason.clone(),
            ))),
        })
    }

    /// The one place a slot is added. `false`: the tape is full.
    fn append(
        &mut self,
        id: &str,
        event_type: &str,
        received_at: Timestamp,
        body: Body,
        reply: Option<CompactReply>,
    ) -> bool {
        if self.slots.len() >= (u32::MAX - 1) as usize
            || self.ids.len() + id.len() > u32::MAX as usize
        {
            return false;
        }
        let Some(event_type) = intern(&mut self.type_index, &mut self.types, event_type) else {
            return false;
        };
        let reply = match reply {
            Some(compact) => {
                self.replies.push(compact);
                match u32::try_from(self.replies.len())
                    .ok()
                    .and_then(NonZeroU32::new)
                {
                    Some(index) => Some(index),
                    None => return false,
                }
            }
            None => None,
        };
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len() as u32);
        self.slots.push(Slot {
            received_at,
            event_type,
            body,
            reply,
        });
        true
    }

    fn compact(&mut self, recorded: RecordedReply) -> Option<CompactReply> {
        let at = recorded.at;
        Some(match recorded.reply {
            SignalReply::Signal(signal) => self.compact_signal(
                at,
                signal.recommendation,
                signal.edge,
                signal.probability,
                signal.expires_at,
                signal.freshness.as_deref(),
            )?,
            SignalReply::Failed {
                reason,
                pause_until,
            } => {
                self.failures.push((reason, pause_until));
                CompactReply {
                    at,
                    edge: Decimal::ZERO,
                    probability: Decimal::ZERO,
                    expires_at: None,
                    kind: ReplyKind::Failed,
                    has_probability: false,
                    extra: u32::try_from(self.failures.len() - 1).ok()?,
                }
            }
        })
    }

    /// A signal reply's fields, flat, its `freshness` interned (`None`: too many to intern).
    fn compact_signal(
        &mut self,
        at: Timestamp,
        recommendation: Recommendation,
        edge: Decimal,
        probability: Option<Decimal>,
        expires_at: Option<Timestamp>,
        freshness: Option<&str>,
    ) -> Option<CompactReply> {
        Some(CompactReply {
            at,
            edge,
            probability: probability.unwrap_or_default(),
            expires_at,
            kind: ReplyKind::Signal(recommendation),
            has_probability: probability.is_some(),
            extra: self.freshness_index(freshness)?,
        })
    }

    /// `freshness` interned, + 1 (0: none). A handful of distinct values: a linear search.
    fn freshness_index(&mut self, freshness: Option<&str>) -> Option<u32> {
        let Some(text) = freshness else {
            return Some(0);
        };
        let index = match self.freshness.iter().position(|f| f == text) {
            Some(index) => index,
            None => {
                self.freshness.push(text.to_string());
                self.freshness.len() - 1
            }
        };
        u32::try_from(index + 1).ok()
    }

    /// The interned index of a market (the decoder checked its id), looked up by its id text
    /// so that a known market costs no allocation. `None`: too many markets.
    fn market_by_id(&mut self, platform: Platform, market_id: &str) -> Option<u32> {
        let ids = &mut self.market_index[platform_slot(platform)];
        if let Some(&index) = ids.get(market_id) {
            return Some(index);
        }
        let index = u32::try_from(self.markets.len()).ok()?;
        ids.insert(market_id.to_string(), index);
        self.markets.push(MarketKey {
            platform,
            market_id: market_id.to_string(),
        });
        Some(index)
    }

    /// Forget the events, replies and settlements, keep what is interned (markets, types,
    /// freshness values): the next chunk of a streamed recording
    /// goes in with the same market indices.
    pub fn clear_events(&mut self) {
        self.slots.clear();
        self.ids.clear();
        self.id_ends.clear();
        self.replies.clear();
        self.failures.clear();
        self.settlements.clear();
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The recording's settlements, in file order, each with the number of events before it.
    pub fn settlements(&self) -> &[PlacedSettlement] {
        &self.settlements
    }

    /// Events that carry a recorded signal reply.
    pub fn signalled(&self) -> usize {
        self.replies.len()
    }

    /// Distinct markets seen.
    pub fn market_count(&self) -> usize {
        self.markets.len()
    }

    /// The interned index of event `index`'s market, if it has one (dense: `0..market_count`).
    pub fn market_of(&self, index: usize) -> Option<usize> {
        match &self.slots.get(index)?.body {
            Body::PriceShift { market, .. } => Some(*market as usize),
            Body::Other { market } => market.map(|m| m as usize),
            Body::WhaleAlert(whale) => Some(whale.0 as usize),
            Body::Invalid(_) => None,
        }
    }

    pub fn received_at(&self, index: usize) -> Option<Timestamp> {
        self.slots.get(index).map(|s| s.received_at)
    }

    pub fn id(&self, index: usize) -> Option<&str> {
        let end = *self.id_ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            i => *self.id_ends.get(i - 1)? as usize,
        };
        self.ids.get(start..end)
    }

    /// The recorded reply to event `index`'s signal request, if the recording has one.
    pub fn reply(&self, index: usize) -> Option<RecordedReply> {
        let slot = self.slots.get(index)?;
        let compact = self.replies.get(slot.reply?.get() as usize - 1)?;
        let reply = match compact.kind {
            ReplyKind::Signal(recommendation) => SignalReply::Signal(Signal {
                recommendation,
                edge: compact.edge,
                probability: compact.has_probability.then_some(compact.probability),
                expires_at: compact.expires_at,
                freshness: match compact.extra {
                    0 => None,
                    i => Some(self.freshness.get(i as usize - 1)?.clone()),
                },
            }),
            ReplyKind::Failed => {
                let (reason, pause_until) = self.failures.get(compact.extra as usize)?;
                SignalReply::Failed {
                    reason: reason.clone(),
                    pause_until: *pause_until,
                }
            }
        };
        Some(RecordedReply {
            at: compact.at,
            reply,
        })
    }

    /// Event `index` as an owned [`Event`].
    pub fn event(&self, index: usize) -> Option<Event> {
        let mut event = blank_event();
        self.fill(index, &mut event).then_some(event)
    }

    /// Overwrite `scratch` with event `index`, reusing its buffers. `false`: no such event.
    pub fn fill(&self, index: usize, scratch: &mut Event) -> bool {
        let (Some(slot), Some(id)) = (self.slots.get(index), self.id(index)) else {
            return false;
        };
        scratch.id.clear();
        scratch.id.push_str(id);
        scratch.event_type.clear();
        scratch.event_type.push_str(
            self.types
                .get(slot.event_type as usize)
                .map_or("", String::as_str),
        );
        scratch.received_at = slot.received_at;
        match &slot.body {
            Body::PriceShift {
                market,
                old_yes,
                new_yes,
                change_pct,
                timestamp,
            } => {
                let Some(key) = self.markets.get(*market as usize) else {
                    return false;
                };
                if let EventBody::PriceShift(shift) = &mut scratch.body {
                    shift.market.platform = key.platform;
                    shift.market.market_id.clear();
                    shift.market.market_id.push_str(&key.market_id);
                    shift.old_yes = *old_yes;
                    shift.new_yes = *new_yes;
                    shift.change_pct = *change_pct;
                    shift.timestamp = *timestamp;
                } else {
                    scratch.body = EventBody::PriceShift(PriceShift {
                        market: key.clone(),
                        old_yes: *old_yes,
                        new_yes: *new_yes,
                        change_pct: *change_pct,
                        timestamp: *timestamp,
                    });
                }
            }
            Body::WhaleAlert(whale) => scratch.body = EventBody::WhaleAlert(whale.1.clone()),
            Body::Other { market } => {
                scratch.body = EventBody::Other {
                    market: market.and_then(|m| self.markets.get(m as usize).cloned()),
                }
            }
            Body::Invalid(invalid) => {
                scratch.body = EventBody::Invalid {
                    market: invalid.0.clone(),
                    reason: invalid.1.clone(),
                }
            }
        }
        true
    }

    /// The first and last receive times (the tape's own order, which is intake order).
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            self.slots.first()?.received_at,
            self.slots.last()?.received_at,
        ))
    }
}

/// FNV-1a for the tape's intern maps: a few short keys looked up once or twice a line, where
/// SipHash's setup costs more than the lookup. The keys come from the user's own file, so
/// flooding resistance buys nothing here.
#[derive(Clone, Copy, Debug, Default)]
struct Fnv;

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;
    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Where `platform` sits in [`Tape`]'s per-platform market maps.
fn platform_slot(platform: Platform) -> usize {
    match platform {
        Platform::Kalshi => 0,
        Platform::Polymarket => 1,
    }
}

/// An event to be overwritten by [`Tape::fill`].
pub fn blank_event() -> Event {
    Event {
        id: String::new(),
        event_type: String::new(),
        received_at: Timestamp::default(),
        body: EventBody::Other { market: None },
    }
}

fn intern(
    index: &mut HashMap<String, u32, Fnv>,
    values: &mut Vec<String>,
    value: &str,
) -> Option<u32> {
    if let Some(&i) = index.get(value) {
        return Some(i);
    }
    let i = u32::try_from(values.len()).ok()?;
    values.push(value.to_string());
    index.insert(value.to_string(), i);
    Some(i)
}

mod reader;

pub use reader::{TapeReader, READ_BUFFER};

#[cfg(test)]
#[path = "tape_tests.rs"]
mod tests;
