//! A recording decoded once into a compact, shareable form: the [`Tape`].
//!
//! Every line is decoded by the live decoder ([`wire::decode_event`], on the same payload
//! text, id and type), so replay sees exactly the events the live run saw, and every signal
//! response by the live decoder ([`decode_signal`]). What is kept is small and flat so that a
//! million events fit comfortably in memory and can be shared by every sweep thread:
//! market keys and event types are interned, ids live in one string arena, and the rare
//! whale alerts and invalid events are boxed.
//!
//! Replaying an event refills one scratch [`Event`] in place ([`Tape::fill`]): no allocation
//! per event beyond what the core itself does.

use std::collections::HashMap;
use std::io::BufRead;
use std::num::NonZeroU32;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use strategies::{
    Event, EventBody, MarketKey, Price, PriceShift, Recommendation, Signal, SignalReply, Timestamp,
    WhaleAlert,
};

use crate::feed::RawEvent;
use crate::signal::decode_signal;
use crate::wire;

/// A recorded reply to a signal request, delivered to the core at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedReply {
    pub at: Timestamp,
    pub reply: SignalReply,
}

/// Why a recording could not be read. `line` counts from 1.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    #[error("{origin}: cannot read: {message}")]
    Io { origin: String, message: String },
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
    type_index: HashMap<String, u32>,
    market_index: HashMap<MarketKey, u32>,
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

/// The borrowed shape of a line, for reading (the owned one is [`super::RecordLine`]).
#[derive(Deserialize)]
struct LineIn<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
    received_at: Timestamp,
    #[serde(default, borrow)]
    signal: Option<&'a RawValue>,
    #[serde(default)]
    signal_at: Option<Timestamp>,
    #[serde(default)]
    signal_error: Option<String>,
    #[serde(default)]
    signal_pause_until: Option<Timestamp>,
}

impl Tape {
    /// Read a recording; `origin` names it in errors (a path, or "stdin").
    pub fn read(mut reader: impl BufRead, origin: &str) -> Result<Tape, TapeError> {
        let mut tape = Tape::default();
        let mut line = String::new();
        let mut number: u64 = 0;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| TapeError::Io {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
            if read == 0 {
                break;
            }
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            match tape.push_line(&line) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(TapeError::TooLarge {
                        origin: origin.to_string(),
                    })
                }
                Err(message) => {
                    return Err(TapeError::Line {
                        origin: origin.to_string(),
                        line: number,
                        message,
                    })
                }
            }
        }
        Ok(tape)
    }

    /// Decode one NDJSON line and append it. `Ok(false)`: the tape is full.
    pub fn push_line(&mut self, line: &str) -> Result<bool, String> {
        let parsed: LineIn<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let data = payload_text(parsed.data)?;
        let raw = RawEvent {
            id: Some(parsed.id.into_owned()),
            sse_event: Some(parsed.event_type.into_owned()),
            data,
            received_at: parsed.received_at,
        };
        let event = wire::decode_event(&raw);
        let at = parsed.signal_at.unwrap_or(parsed.received_at);
        let reply = match (parsed.signal, parsed.signal_error) {
            (Some(response), _) => {
                let json: serde_json::Value =
                    serde_json::from_str(response.get()).map_err(|e| format!("signal: {e}"))?;
                Some(match decode_signal(&json) {
                    Ok(signal) => SignalReply::Signal(signal),
                    Err(reason) => SignalReply::Failed {
                        reason,
                        pause_until: None,
                    },
                })
            }
            (None, Some(reason)) => Some(SignalReply::Failed {
                reason,
                pause_until: parsed.signal_pause_until,
            }),
            (None, None) => None,
        };
        Ok(self.push(&event, reply.map(|reply| RecordedReply { at, reply })))
    }

    /// Append a decoded event and its recorded reply. `false`: the tape is full (u32 indices).
    pub fn push(&mut self, event: &Event, reply: Option<RecordedReply>) -> bool {
        if self.slots.len() >= (u32::MAX - 1) as usize
            || self.ids.len() + event.id.len() > u32::MAX as usize
        {
            return false;
        }
        let Some(event_type) = intern(&mut self.type_index, &mut self.types, &event.event_type)
        else {
            return false;
        };
        let body = match &event.body {
            EventBody::PriceShift(shift) => {
                let Some(market) = self.market(&shift.market) else {
                    return false;
                };
                Body::PriceShift {
                    market,
                    old_yes: shift.old_yes,
                    new_yes: shift.new_yes,
                    change_pct: shift.change_pct,
                    timestamp: shift.timestamp,
                }
            }
            EventBody::WhaleAlert(whale) => {
                let Some(market) = self.market(&whale.market) else {
                    return false;
                };
                Body::WhaleAlert(Box::new((market, whale.clone())))
            }
            EventBody::Other { market } => {
                let market = match market {
                    Some(m) => match self.market(m) {
                        Some(index) => Some(index),
                        None => return false,
                    },
                    None => None,
                };
                Body::Other { market }
            }
            EventBody::Invalid { market, reason } => {
                Body::Invalid(Box::new((market.clone(), reason.clone())))
            }
        };
        let reply = match reply {
            Some(reply) => {
                let Some(compact) = self.compact(reply) else {
                    return false;
                };
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
        self.ids.push_str(&event.id);
        self.id_ends.push(self.ids.len() as u32);
        self.slots.push(Slot {
            received_at: event.received_at,
            event_type,
            body,
            reply,
        });
        true
    }

    fn compact(&mut self, recorded: RecordedReply) -> Option<CompactReply> {
        let at = recorded.at;
        Some(match recorded.reply {
            SignalReply::Signal(signal) => {
                let extra = match &signal.freshness {
                    None => 0,
                    Some(text) => {
                        let index = match self.freshness.iter().position(|f| f == text) {
                            Some(index) => index,
                            None => {
                                self.freshness.push(text.clone());
                                self.freshness.len() - 1
                            }
                        };
                        u32::try_from(index + 1).ok()?
                    }
                };
                CompactReply {
                    at,
                    edge: signal.edge,
                    probability: signal.probability.unwrap_or_default(),
                    expires_at: signal.expires_at,
                    kind: ReplyKind::Signal(signal.recommendation),
                    has_probability: signal.probability.is_some(),
                    extra,
                }
            }
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

    fn market(&mut self, market: &MarketKey) -> Option<u32> {
        if let Some(&index) = self.market_index.get(market) {
            return Some(index);
        }
        let index = u32::try_from(self.markets.len()).ok()?;
        self.markets.push(market.clone());
        self.market_index.insert(market.clone(), index);
        Some(index)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
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

/// An event to be overwritten by [`Tape::fill`].
pub fn blank_event() -> Event {
    Event {
        id: String::new(),
        event_type: String::new(),
        received_at: Timestamp::default(),
        body: EventBody::Other { market: None },
    }
}

fn intern(index: &mut HashMap<String, u32>, values: &mut Vec<String>, value: &str) -> Option<u32> {
    if let Some(&i) = index.get(value) {
        return Some(i);
    }
    let i = u32::try_from(values.len()).ok()?;
    values.push(value.to_string());
    index.insert(value.to_string(), i);
    Some(i)
}

/// The payload text a line's `data` stands for: a JSON string is the payload itself (it was
/// not a JSON object), anything else is the payload's JSON text.
fn payload_text(data: &RawValue) -> Result<String, String> {
    let text = data.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|e| format!("data: {e}"))
    } else {
        Ok(text.to_string())
    }
}

#[cfg(test)]
#[path = "tape_tests.rs"]
mod tests;
