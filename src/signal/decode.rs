//! Decoding a `/v1/signals` response body into a validated [`Signal`].
//!
//! Strict where the decision depends on it (`recommendation`, `edge`), liberal everywhere else:
//! the API is young and adds or reshapes fields, and a malformed optional field must not cost
//! a paid signal. Such a field is dropped with a debug log naming it.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use strategies::{Recommendation, Signal};

use crate::wire::json::{self, kind, shorten};

/// The response's fields this decoder reads, each as its raw text (see [`crate::wire::json`]).
#[derive(Deserialize)]
pub(crate) struct SignalIn<'a> {
    #[serde(default, borrow, deserialize_with = "json::raw")]
    recommendation: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    edge: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    probability: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    expires_at: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "json::raw")]
    freshness: Option<&'a RawValue>,
}

/// Decode and validate a signal response body (JSON text).
///
/// Required: `recommendation` (`BUY_YES`, `BUY_NO`, `NO_TRADE`; case-insensitive) and `edge`
/// (a number or numeric string in [-1, 1], read exactly as a decimal). Optional: `probability`
/// (YES probability in [0, 1]), `freshness` (string, trimmed and lower-cased so that
/// `"Expired"` still counts as expired). `expires_at` is optional but, when present, must be
/// RFC 3339: an expiry that cannot be read fails the signal (`signal_error`).
pub fn decode_signal(body: &str) -> Result<Signal, String> {
    let object: SignalIn<'_> = json::object(body).map_err(|err| match err {
        json::NotObject::Kind(kind) => {
            format!("signal response: expected a JSON object, got {kind}")
        }
        json::NotObject::Json(err) | json::NotObject::Fields(err) => {
            format!("signal response: {err}")
        }
    })?;
    decode_fields(&object)
}

/// [`decode_signal`] for a response already read into its typed struct (a recording line read
/// in one pass).
pub(crate) fn decode_fields(object: &SignalIn<'_>) -> Result<Signal, String> {
    let recommendation = match present(object.recommendation) {
        None => return Err("signal response: recommendation missing".into()),
        Some(value) => match json::text(value) {
            Some(text) => parse_recommendation(&text)?,
            None => {
                return Err(format!(
                    "signal response: recommendation must be a string, got {}",
                    kind(value)
                ))
            }
        },
    };

    let edge = match present(object.edge) {
        None => return Err("signal response: edge missing".into()),
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

    let probability = optional(present(object.probability), "probability", |value| {
        let p = decimal(value)?;
        if p < Decimal::ZERO || p > Decimal::ONE {
            return Err(format!("{p} is outside [0, 1]"));
        }
        Ok(p)
    });
    // Strict although optional: a signal whose expiry cannot be read may be long expired,
    // and trading on it would be trading on stale advice ("yesterday", 0).
    let expires_at = match present(object.expires_at) {
        None => None,
        Some(value) => match json::text(value) {
            Some(text) => Some(json::rfc3339(text.trim()).map_err(|err| {
                format!(
                    "signal response: expires_at {:?} is not RFC 3339 ({err})",
                    shorten(&text)
                )
            })?),
            None => {
                return Err(format!(
                    "signal response: expires_at must be an RFC 3339 string, got {}",
                    kind(value)
                ))
            }
        },
    };
    let freshness = optional(present(object.freshness), "freshness", |value| {
        json::text(value)
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

/// The field unless it is absent or `null`.
fn present(value: Option<&RawValue>) -> Option<&RawValue> {
    value.filter(|v| !json::is_null(v))
}

/// An optional field: absent or null is `None`; a malformed value is `None` plus a debug log,
/// because it only refines a decision that `recommendation` and `edge` already make possible.
fn optional<T>(
    value: Option<&RawValue>,
    field: &str,
    read: impl FnOnce(&RawValue) -> Result<T, String>,
) -> Option<T> {
    match read(value?) {
        Ok(parsed) => Some(parsed),
        Err(why) => {
            tracing::debug!(
                field,
                "signal response: ignoring malformed optional field: {why}"
            );
            None
        }
    }
}

/// A decimal from a JSON number or a numeric string, exactly as written (the number's own
/// text: `0.1234567890123456789` keeps every digit).
fn decimal(value: &RawValue) -> Result<Decimal, String> {
    match json::decimal(value) {
        Ok(Some(d)) => Ok(d),
        Err(why) if matches!(kind(value), "a number" | "a string") => Err(why),
        _ => Err(format!(
            "must be a number or a numeric string, got {}",
            kind(value)
        )),
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
