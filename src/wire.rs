//! The one wire decoder: event payloads into validated `strategies` events, and the identity
//! of an event. Every intake (the stream today) and replay decode through [`decode`].
//!
//! Every raw event decodes to *some* event: garbage becomes [`Body::Invalid`] with the reason,
//! so that it still gets its one recorded decision. Nothing here panics on input.
//!
//! Typed, borrowed, exact: a payload is read into a `#[derive(Deserialize)]` struct whose
//! fields borrow their raw JSON text from the input, and each field is read from that text by
//! `json` (decimals from the number's own digits, never through `f64`).
//! `canonical` is the sorted, spaceless form an id-less event's derived id hashes.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use strategies::{
    Event, EventBody, MarketKey, Platform, Price, PriceShift, Side, Timestamp, WhaleAlert,
};

use crate::feed::RawEvent;

/// Longest event id used as such (and as the resume cursor). A longer one is ignored and the
/// event is known by its derived id: a 100 KB id sent back as `Last-Event-ID` was refused
/// with HTTP 431 on every reconnect, for ever.
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// The id if it can serve as one: not empty, not longer than [`MAX_EVENT_ID_BYTES`].
pub fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES
}

/// An event decoded from wire text, borrowing what it can from it: the one decoder's answer,
/// made owned by [`Decoded::into_event`] (the live engine) or kept flat by the replay tape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The sender's id if usable, else the payload's `id`, else one derived from the content.
    pub id: Cow<'a, str>,
    /// The payload's `type`, else the SSE event name (or recorded type), else `"unknown"`.
    pub event_type: Cow<'a, str>,
    pub body: Body<'a>,
}

/// A market named by an event, its id already checked by [`MarketKey::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Market<'a> {
    pub platform: Platform,
    pub id: Cow<'a, str>,
}

impl Market<'_> {
    pub fn to_key(&self) -> MarketKey {
        MarketKey {
            platform: self.platform,
            market_id: self.id.clone().into_owned(),
        }
    }
}

/// What the event says, with its market where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    PriceShift(Market<'a>, Shift),
    WhaleAlert(Market<'a>, Whale),
    /// An event type the strategy does not act on.
    Other(Option<Market<'a>>),
    /// Unreadable: the reason, and the market when that much could be read.
    Invalid(Option<Market<'a>>, String),
}

/// A `price_shift`, its market aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub old_yes: Price,
    pub new_yes: Price,
    pub change_pct: Decimal,
    pub timestamp: Option<Timestamp>,
}

/// A `whale_alert`, its market aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whale {
    pub side: Option<Side>,
    pub flow: Option<Decimal>,
    pub price: Option<Price>,
    pub timestamp: Option<Timestamp>,
}

impl Decoded<'_> {
    pub fn into_event(self, received_at: Timestamp) -> Event {
        let body = match self.body {
            Body::PriceShift(market, shift) => EventBody::PriceShift(PriceShift {
                market: market.to_key(),
                old_yes: shift.old_yes,
                new_yes: shift.new_yes,
                change_pct: shift.change_pct,
                timestamp: shift.timestamp,
            }),
            Body::WhaleAlert(market, whale) => EventBody::WhaleAlert(WhaleAlert {
                market: market.to_key(),
                side: whale.side,
                flow: whale.flow,
                price: whale.price,
                timestamp: whale.timestamp,
            }),
            Body::Other(market) => EventBody::Other {
                market: market.as_ref().map(Market::to_key),
            },
            Body::Invalid(market, reason) => EventBody::Invalid {
                market: market.as_ref().map(Market::to_key),
                reason,
            },
        };
        Event {
            id: self.id.into_owned(),
            event_type: self.event_type.into_owned(),
            received_at,
            body,
        }
    }
}

/// The payload's fields this decoder reads, each as its raw text: a field of the wrong type is
/// a reason for that field (see [`json`]), not a failure of the whole payload. Unknown fields
/// are ignored (the API adds fields); a known field given twice makes the payload invalid.
#[derive(Deserialize)]
pub(crate) struct PayloadIn<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "json::raw")]
    event_type: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    platform: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    market_id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    old_yes: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    new_yes: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    change_pct: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    side: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    flow: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    price: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    timestamp: Option<&'a RawValue>,
    /// An envelope's event fields (`{"type" | "event_type", "id"?, "data": {...}}`, the shape
    /// of VecTrade's, ARA's and Standard Webhooks' webhooks): see [`envelope`].
    #[serde(default, borrow, deserialize_with = "json::raw")]
    data: Option<&'a RawValue>,
    /// ARA's envelope names its type `event_type`.
    #[serde(rename = "event_type", default, borrow, deserialize_with = "json::raw")]
    envelope_type: Option<&'a RawValue>,
}

/// The event fields of an envelope, when `payload` is one: a `data` object and no
/// `market_id` of its own. The envelope's type (`type`, else `event_type`) and id stand for
/// the event's; the fields' own `type` and `id` are used only when the envelope has none.
/// `Err` is the reason an envelope's `data` cannot be read.
fn envelope<'a>(payload: &PayloadIn<'a>) -> Option<Result<PayloadIn<'a>, String>> {
    let data = payload.data.filter(|_| payload.market_id.is_none())?;
    if !data.get().starts_with('{') {
        return None;
    }
    Some(match json::object::<PayloadIn<'a>>(data.get()) {
        Ok(mut inner) => {
            inner.event_type = payload
                .event_type
                .or(payload.envelope_type)
                .or(inner.event_type);
            inner.id = payload.id.or(inner.id);
            inner.data = None;
            Ok(inner)
        }
        Err(json::NotObject::Fields(err)) => Err(format!("data: {err}")),
        Err(_) => Err("data is not a JSON object".to_string()),
    })
}

/// Decode one raw event. Always returns an event; bad input becomes `Invalid` with the reason.
pub fn decode_event(raw: &RawEvent) -> Event {
    decode(raw.id.as_deref(), raw.sse_event.as_deref(), &raw.data).into_event(raw.received_at)
}

/// The one decoder: a payload's text, with the id and type its carrier gave it (the SSE `id:`
/// and `event:`, a recording line's `id` and `type`), into a [`Decoded`] event. Never fails:
/// what cannot be read is `Invalid` with the reason.
pub fn decode<'a>(
    id: Option<&'a str>,
    carrier_type: Option<&'a str>,
    data: &'a str,
) -> Decoded<'a> {
    let fallback_type = || Cow::Borrowed(carrier_type.unwrap_or("unknown"));
    let payload = match json::object::<PayloadIn<'a>>(data) {
        Ok(payload) => payload,
        Err(err) => {
            let reason = match err {
                json::NotObject::Json(err) => format!("payload is not JSON: {err}"),
                json::NotObject::Kind(_) => "payload is not a JSON object".to_string(),
                json::NotObject::Fields(err) => format!("payload: {err}"),
            };
            return Decoded {
                id: event_id(id, None, data),
                event_type: fallback_type(),
                body: Body::Invalid(None, reason),
            };
        }
    };
    let payload_id = match envelope(&payload) {
        Some(Ok(inner)) => payload.id.or(inner.id),
        _ => payload.id,
    };
    let id = event_id(id, payload_id, data);
    decode_fields(id, carrier_type, &payload)
}

/// [`decode`] for a payload already read into its typed struct, as part of a larger document
/// (a recording line read in one pass), known by `id`.
pub(crate) fn decode_fields<'a>(
    id: Cow<'a, str>,
    carrier_type: Option<&'a str>,
    payload: &PayloadIn<'a>,
) -> Decoded<'a> {
    match envelope(payload) {
        Some(Ok(inner)) => return decode_fields(id, carrier_type, &inner),
        Some(Err(reason)) => {
            let event_type = payload
                .event_type
                .or(payload.envelope_type)
                .and_then(json::text)
                .filter(|t| !t.is_empty())
                .unwrap_or(Cow::Borrowed(carrier_type.unwrap_or("unknown")));
            return Decoded {
                id,
                event_type,
                body: Body::Invalid(None, reason),
            };
        }
        None => {}
    }
    let event_type = match payload.event_type.and_then(json::text) {
        Some(t) if !t.is_empty() => t,
        _ => Cow::Borrowed(carrier_type.unwrap_or("unknown")),
    };
    let body = decode_body(&event_type, payload);
    Decoded {
        id,
        event_type,
        body,
    }
}

/// The id an event is known by: the carrier's, else the payload's `id`, else one derived from
/// the content.
///
/// Redelivered copies of an id-less event carry the same content, so hashing a canonical form
/// (keys sorted, whitespace dropped; see [`canonical`]) recognises them even if the server
/// re-serialised the JSON.
fn event_id<'a>(
    carrier: Option<&'a str>,
    payload: Option<&'a RawValue>,
    data: &str,
) -> Cow<'a, str> {
    if let Some(id) = carrier.filter(|id| usable_id(id)) {
        return Cow::Borrowed(id);
    }
    if let Some(value) = payload {
        match value.get().as_bytes().first() {
            Some(b'"') => {
                if let Some(id) = json::text(value).filter(|id| usable_id(id)) {
                    return id;
                }
            }
            Some(b'-' | b'0'..=b'9') => return Cow::Borrowed(value.get()),
            _ => {}
        }
    }
    let mut hasher = Sha256::new();
    let mut text = String::with_capacity(data.len());
    match canonical::write(data, &mut text) {
        Ok(()) => hasher.update(text.as_bytes()),
        Err(_) => hasher.update(data.trim().as_bytes()),
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(7 + 32);
    id.push_str("sha256:");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    Cow::Owned(id)
}

fn decode_body<'a>(event_type: &str, payload: &PayloadIn<'a>) -> Body<'a> {
    let market = market_of(payload);
    let result = match event_type {
        "price_shift" => market
            .clone()
            .and_then(|m| Ok(Body::PriceShift(m, decode_price_shift(payload)?))),
        "whale_alert" => market
            .clone()
            .and_then(|m| Ok(Body::WhaleAlert(m, decode_whale_alert(payload)?))),
        "unknown" => Err("event has no \"type\"".to_string()),
        _ => return Body::Other(market.ok()),
    };
    result.unwrap_or_else(|reason| Body::Invalid(market.ok(), reason))
}

fn market_of<'a>(payload: &PayloadIn<'a>) -> Result<Market<'a>, String> {
    let platform = match payload.platform {
        None => return Err("platform is missing".to_string()),
        Some(value) => match json::text(value) {
            Some(p) => Platform::from_str(&p)?,
            None => return Err("platform is not a string".to_string()),
        },
    };
    let id = match payload.market_id {
        None => return Err("market_id is missing".to_string()),
        Some(value) => json::text(value).ok_or_else(|| "market_id is not a string".to_string())?,
    };
    MarketKey::check(&id)?;
    Ok(Market { platform, id })
}

fn decode_price_shift(payload: &PayloadIn<'_>) -> Result<Shift, String> {
    Ok(Shift {
        old_yes: price_field(payload.old_yes, "old_yes")?,
        new_yes: price_field(payload.new_yes, "new_yes")?,
        change_pct: decimal_field(payload.change_pct, "change_pct")?
            .ok_or_else(|| "change_pct is missing".to_string())?,
        timestamp: timestamp_field(payload.timestamp)?,
    })
}

fn decode_whale_alert(payload: &PayloadIn<'_>) -> Result<Whale, String> {
    let side = match payload.side {
        Some(value) if !json::is_null(value) => match json::text(value) {
            Some(s) => Some(Side::from_str(&s)?),
            None => return Err("side is not a string".to_string()),
        },
        _ => None,
    };
    let price = match decimal_field(payload.price, "price")? {
        Some(p) => Some(Price::new(p).map_err(|e| format!("price: {e}"))?),
        None => None,
    };
    Ok(Whale {
        side,
        flow: decimal_field(payload.flow, "flow")?,
        price,
        timestamp: timestamp_field(payload.timestamp)?,
    })
}

fn price_field(value: Option<&RawValue>, key: &str) -> Result<Price, String> {
    let value = decimal_field(value, key)?.ok_or_else(|| format!("{key} is missing"))?;
    Price::new(value).map_err(|e| format!("{key}: {e}"))
}

fn decimal_field(value: Option<&RawValue>, key: &str) -> Result<Option<Decimal>, String> {
    match value {
        None => Ok(None),
        Some(v) => json::decimal(v).map_err(|e| format!("{key} {e}")),
    }
}

fn timestamp_field(value: Option<&RawValue>) -> Result<Option<Timestamp>, String> {
    match value {
        None => Ok(None),
        Some(v) => json::timestamp(v).map_err(|e| format!("timestamp {e}")),
    }
}

pub mod canonical;
pub(crate) mod json;
pub mod markets;

pub use json::Json;

#[cfg(test)]
pub(crate) mod prop_tests;
#[cfg(test)]
mod tests;
