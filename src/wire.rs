//! Decoding wire JSON into validated `strategies` events, and the identity of an event.
//!
//! Every raw event decodes to *some* [`Event`]: garbage becomes [`EventBody::Invalid`] with the
//! reason, so that it still gets its one recorded decision. Nothing here panics on input.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
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

/// The id an event is known by: the server's, else one derived from the content.
///
/// Redelivered copies of an id-less event carry the same content, so hashing a canonical form
/// (keys sorted, whitespace dropped) recognises them even if the server re-serialised the JSON.
pub fn event_id(raw: &RawEvent, json: Option<&Value>) -> String {
    if let Some(id) = raw.id.as_deref().filter(|id| usable_id(id)) {
        return id.to_string();
    }
    if let Some(id) = json.and_then(|v| v.get("id")).and_then(json_id) {
        return id;
    }
    let mut hasher = Sha256::new();
    match json {
        Some(value) => {
            let mut canonical = String::with_capacity(raw.data.len());
            write_canonical(value, &mut canonical);
            hasher.update(canonical.as_bytes());
        }
        None => hasher.update(raw.data.trim().as_bytes()),
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn json_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if usable_id(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Decode one raw event. Always returns an event; bad input becomes `Invalid` with the reason.
pub fn decode_event(raw: &RawEvent) -> Event {
    let parsed: Result<Value, _> = serde_json::from_str(&raw.data);
    let json = parsed.as_ref().ok();
    let id = event_id(raw, json);
    let fallback_type = raw
        .sse_event
        .clone()
        .unwrap_or_else(|| "unknown".to_string());
    let (event_type, body) = match parsed {
        Err(err) => (
            fallback_type,
            invalid(None, format!("payload is not JSON: {err}")),
        ),
        Ok(Value::Object(map)) => {
            let event_type = match map.get("type") {
                Some(Value::String(t)) if !t.is_empty() => t.clone(),
                _ => fallback_type,
            };
            let body = decode_body(&event_type, &map);
            (event_type, body)
        }
        Ok(_) => (
            fallback_type,
            invalid(None, "payload is not a JSON object".to_string()),
        ),
    };
    Event {
        id,
        event_type,
        received_at: raw.received_at,
        body,
    }
}

fn invalid(market: Option<MarketKey>, reason: String) -> EventBody {
    EventBody::Invalid { market, reason }
}

fn decode_body(event_type: &str, map: &Map<String, Value>) -> EventBody {
    let market = market_of(map);
    let result = match event_type {
        "price_shift" => decode_price_shift(map).map(EventBody::PriceShift),
        "whale_alert" => decode_whale_alert(map).map(EventBody::WhaleAlert),
        "unknown" => Err("event has no \"type\"".to_string()),
        _ => Ok(EventBody::Other {
            market: market.clone().ok(),
        }),
    };
    result.unwrap_or_else(|reason| invalid(market.ok(), reason))
}

fn market_of(map: &Map<String, Value>) -> Result<MarketKey, String> {
    let platform = match map.get("platform") {
        Some(Value::String(p)) => Platform::from_str(p)?,
        Some(_) => return Err("platform is not a string".to_string()),
        None => return Err("platform is missing".to_string()),
    };
    match map.get("market_id") {
        Some(Value::String(id)) => MarketKey::new(platform, id.as_str()),
        Some(_) => Err("market_id is not a string".to_string()),
        None => Err("market_id is missing".to_string()),
    }
}

fn decode_price_shift(map: &Map<String, Value>) -> Result<PriceShift, String> {
    let market = market_of(map)?;
    let old_yes = price_field(map, "old_yes")?;
    let new_yes = price_field(map, "new_yes")?;
    let change_pct =
        decimal_field(map, "change_pct")?.ok_or_else(|| "change_pct is missing".to_string())?;
    Ok(PriceShift {
        market,
        old_yes,
        new_yes,
        change_pct,
        timestamp: timestamp_field(map)?,
    })
}

fn decode_whale_alert(map: &Map<String, Value>) -> Result<WhaleAlert, String> {
    let market = market_of(map)?;
    let side = match map.get("side") {
        Some(Value::String(s)) => Some(Side::from_str(s)?),
        Some(Value::Null) | None => None,
        Some(_) => return Err("side is not a string".to_string()),
    };
    let price = match decimal_field(map, "price")? {
        Some(p) => Some(Price::new(p).map_err(|e| format!("price: {e}"))?),
        None => None,
    };
    Ok(WhaleAlert {
        market,
        side,
        flow: decimal_field(map, "flow")?,
        price,
        timestamp: timestamp_field(map)?,
    })
}

fn price_field(map: &Map<String, Value>, key: &str) -> Result<Price, String> {
    let value = decimal_field(map, key)?.ok_or_else(|| format!("{key} is missing"))?;
    Price::new(value).map_err(|e| format!("{key}: {e}"))
}

/// A decimal from a JSON number or numeric string, exactly as written (`0.62` stays `0.62`).
pub fn decimal_value(value: &Value) -> Result<Option<Decimal>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("is not a number".to_string()),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| format!("{text:?} is not a finite decimal number"))
}

fn decimal_field(map: &Map<String, Value>, key: &str) -> Result<Option<Decimal>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => decimal_value(v).map_err(|e| format!("{key} {e}")),
    }
}

fn timestamp_field(map: &Map<String, Value>) -> Result<Option<Timestamp>, String> {
    match map.get("timestamp") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&chrono::Utc)))
            .map_err(|e| format!("timestamp {s:?} is not RFC 3339: {e}")),
        Some(_) => Err("timestamp is not a string".to_string()),
    }
}

#[cfg(test)]
mod tests;
