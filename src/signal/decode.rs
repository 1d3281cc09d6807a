//! Decoding a `/v1/signals` response body into a validated [`Signal`].
//!
//! Strict where the decision depends on it (`recommendation`, `edge`), liberal everywhere else:
//! the API is young and adds or reshapes fields, and a malformed optional field must not cost
//! a paid signal. Such a field is dropped with a debug log naming it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use strategies::{Recommendation, Signal};

/// Decode and validate a signal response.
///
/// Required: `recommendation` (`BUY_YES`, `BUY_NO`, `NO_TRADE`; case-insensitive) and `edge`
/// (a number or numeric string in [-1, 1], read exactly as a decimal). Optional: `probability`
/// (YES probability in [0, 1]), `freshness` (string, trimmed and lower-cased so that
/// `"Expired"` still counts as expired). `expires_at` is optional but, when present, must be
/// RFC 3339: an expiry that cannot be read fails the signal (`signal_error`).
pub fn decode_signal(json: &Value) -> Result<Signal, String> {
    let object = json.as_object().ok_or_else(|| {
        format!(
            "signal response: expected a JSON object, got {}",
            kind(json)
        )
    })?;

    let recommendation = match object.get("recommendation") {
        None | Some(Value::Null) => return Err("signal response: recommendation missing".into()),
        Some(Value::String(text)) => parse_recommendation(text)?,
        Some(other) => {
            return Err(format!(
                "signal response: recommendation must be a string, got {}",
                kind(other)
            ))
        }
    };

    let edge = match object.get("edge") {
        None | Some(Value::Null) => return Err("signal response: edge missing".into()),
        Some(value) => decimal(value).map_err(|why| format!("signal response: edge {why}"))?,
    };
    if edge < -Decimal::ONE || edge > Decimal::ONE {
        return Err(format!("signal response: edge {edge} is outside [-1, 1]"));
    }
    match recommendation {
        Recommendation::BuyYes if edge < Decimal::ZERO => {
            return Err(format!(
                "signal response: BUY_YES with negative edge {edge} is inconsistent"
            ))
        }
        Recommendation::BuyNo if edge > Decimal::ZERO => {
            return Err(format!(
                "signal response: BUY_NO with positive edge {edge} is inconsistent"
            ))
        }
        _ => {}
    }

    let probability = optional(object.get("probability"), "probability", |value| {
        let p = decimal(value)?;
        if p < Decimal::ZERO || p > Decimal::ONE {
            return Err(format!("{p} is outside [0, 1]"));
        }
        Ok(p)
    });
    // Strict although optional: a signal whose expiry cannot be read may be long expired,
    // and trading on it would be trading on stale advice ("yesterday", 0).
    let expires_at = match object.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            DateTime::parse_from_rfc3339(text.trim())
                .map(|at| at.with_timezone(&Utc))
                .map_err(|err| {
                    format!(
                        "signal response: expires_at {:?} is not RFC 3339 ({err})",
                        shorten(text)
                    )
                })?,
        ),
        Some(other) => {
            return Err(format!(
                "signal response: expires_at must be an RFC 3339 string, got {}",
                kind(other)
            ))
        }
    };
    let freshness = optional(object.get("freshness"), "freshness", |value| {
        value
            .as_str()
            .map(|text| text.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("must be a string, got {}", kind(value)))
    });

    Ok(Signal {
        recommendation,
        edge,
        probability,
        expires_at,
        freshness,
    })
}

fn parse_recommendation(text: &str) -> Result<Recommendation, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "BUY_YES" => Ok(Recommendation::BuyYes),
        "BUY_NO" => Ok(Recommendation::BuyNo),
        "NO_TRADE" => Ok(Recommendation::NoTrade),
        _ => Err(format!(
            "signal response: unknown recommendation {:?} (expected BUY_YES, BUY_NO or NO_TRADE)",
            shorten(text)
        )),
    }
}

/// An optional field: absent or null is `None`; a malformed value is `None` plus a debug log,
/// because it only refines a decision that `recommendation` and `edge` already make possible.
fn optional<T>(
    value: Option<&Value>,
    field: &str,
    read: impl FnOnce(&Value) -> Result<T, String>,
) -> Option<T> {
    match value {
        None | Some(Value::Null) => None,
        Some(value) => match read(value) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                tracing::debug!(
                    field,
                    "signal response: ignoring malformed optional field: {why}"
                );
                None
            }
        },
    }
}

/// A decimal from a JSON number or a numeric string, exactly as written.
///
/// Without serde_json's `arbitrary_precision` a fractional number arrives as an `f64`; its
/// `Display` is the shortest text that reads back to the same `f64`, which is the text the
/// server wrote for any value with up to 15 significant digits (`0.062` stays `0.062`).
/// Strings are read digit for digit.
pub(crate) fn decimal(value: &Value) -> Result<Decimal, String> {
    match value {
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Ok(Decimal::from(int))
            } else if let Some(int) = number.as_u64() {
                Ok(Decimal::from(int))
            } else {
                let float = number
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("{number} is not a finite number"))?;
                Decimal::from_str(&float.to_string())
                    .map_err(|_| format!("{number} does not fit a decimal"))
            }
        }
        Value::String(text) => {
            let text = text.trim();
            Decimal::from_str(text)
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| format!("{:?} is not a number", shorten(text)))
        }
        other => Err(format!(
            "must be a number or a numeric string, got {}",
            kind(other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most 40 characters of server-provided text in a reason.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        short.push('…');
    }
    short
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
