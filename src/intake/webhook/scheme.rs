//! The four webhook signature schemes, both ways: [`verify`] for the receiver, [`sign`] for the
//! simulator and the tests (one definition of what each sender signs).
//!
//! | scheme        | signed bytes                                   | header                                   |
//! |---------------|------------------------------------------------|------------------------------------------|
//! | `rekko`       | the raw body                                   | `x-webhook-signature: <hex>`             |
//! | `timestamped` | `"{X-VQ-Timestamp}.{raw body}"`                | `X-VQ-Signature: <hex>`                  |
//! | `sorted-json` | Python's `json.dumps(body, sort_keys=True)`    | `X-Webhook-Signature: sha256=<hex>`      |
//! | `standard`    | `"{webhook-id}.{webhook-timestamp}.{raw body}"`| `webhook-signature: v1,<base64> ...`     |
//!
//! All are HMAC-SHA256, compared in constant time by `hmac`'s `verify_slice`. The key is the
//! secret's bytes as written, except for `standard`, whose `whsec_<base64>` secret is the
//! base64 of the key (the Standard Webhooks spec).
//!
//! Why not the `standardwebhooks` crate's `Webhook::verify`: it reads the wall clock with a
//! fixed 5-minute window, where this receiver has a configured `tolerance` and an injected
//! clock. Its `sign` is used in the tests as the independent reference for `standard`.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How a sender signs its webhooks (`scheme` of a webhook intake).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Rekko's own (seed 000).
    Rekko,
    /// VecTrade's (seed 002).
    Timestamped,
    /// ARA's (seed 003).
    SortedJson,
    /// Standard Webhooks (Svix and many others).
    Standard,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [
        Scheme::Rekko,
        Scheme::Timestamped,
        Scheme::SortedJson,
        Scheme::Standard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rekko => "rekko",
            Scheme::Timestamped => "timestamped",
            Scheme::SortedJson => "sorted-json",
            Scheme::Standard => "standard",
        }
    }

    /// Whether the scheme signs a timestamp (checked against `tolerance`).
    pub fn is_timestamped(self) -> bool {
        matches!(self, Scheme::Timestamped | Scheme::Standard)
    }

    /// The header naming the delivery (kept for deduplication), if the scheme has one.
    pub fn delivery_header(self) -> Option<&'static str> {
        match self {
            Scheme::Timestamped => Some("x-vq-webhook-id"),
            Scheme::Standard => Some("webhook-id"),
            Scheme::Rekko | Scheme::SortedJson => None,
        }
    }
}

/// Why a request was refused (answered 401). Never holds the secret or a signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is not in the scheme's format")]
    Malformed(&'static str),
    #[error("the signature does not match")]
    Signature,
    #[error("the signed timestamp is {off_by_s} s away from now, outside the tolerance of {tolerance_s} s")]
    Stale { off_by_s: i64, tolerance_s: u64 },
    #[error("the body is not JSON, so its sorted form cannot be rebuilt to check the signature")]
    NotJson,
}

/// The HMAC key of a secret under `scheme` (see the module docs). A `standard` secret that
/// is not `whsec_<base64>` is used as written, as the other schemes use theirs.
pub fn key(scheme: Scheme, secret: &str) -> Vec<u8> {
    match scheme {
        Scheme::Standard => secret
            .strip_prefix("whsec_")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .unwrap_or_else(|| secret.as_bytes().to_vec()),
        _ => secret.as_bytes().to_vec(),
    }
}

/// A request that passed: the delivery id its headers named, when the scheme has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub delivery: Option<String>,
}

/// Check a request's signature (and timestamp) before anything reads its body.
pub fn verify(
    scheme: Scheme,
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<Verified, Refused> {
    let mac = |parts: &[&[u8]]| {
        let mut mac = new_mac(key);
        for part in parts {
            mac.update(part);
        }
        mac
    };
    match scheme {
        Scheme::Rekko => {
            let sig = hex_signature(headers, "x-webhook-signature", "")?;
            check(mac(&[body]), &sig)?;
        }
        Scheme::Timestamped => {
            let sig = hex_signature(headers, "x-vq-signature", "")?;
            let ts = header(headers, "x-vq-timestamp")?;
            fresh(ts, "x-vq-timestamp", now_unix, tolerance)?;
            check(mac(&[ts.as_bytes(), b".", body]), &sig)?;
        }
        Scheme::SortedJson => {
            let sig = hex_signature(headers, "x-webhook-signature", "sha256=")?;
            let text = std::str::from_utf8(body).map_err(|_| Refused::NotJson)?;
            let mut sorted = String::with_capacity(text.len() + text.len() / 4);
            crate::wire::canonical::write_python(text, &mut sorted)
                .map_err(|_| Refused::NotJson)?;
            check(mac(&[sorted.as_bytes()]), &sig)?;
        }
        Scheme::Standard => {
            let id = header(headers, "webhook-id")?;
            let ts = header(headers, "webhook-timestamp")?;
            let list = header(headers, "webhook-signature")?;
            fresh(ts, "webhook-timestamp", now_unix, tolerance)?;
            let expected = mac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            // A space-separated list (several during a key rotation): any v1 match accepts.
            let matched = list
                .split(' ')
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .any(|sig| expected.clone().verify_slice(&sig).is_ok());
            if !matched {
                return Err(Refused::Signature);
            }
        }
    }
    Ok(Verified {
        delivery: delivery_id(scheme, headers),
    })
}

/// The delivery id a request names (also for an intake that accepts unsigned requests).
pub fn delivery_id(scheme: Scheme, headers: &HeaderMap) -> Option<String> {
    let name = scheme.delivery_header()?;
    let id = headers.get(name)?.to_str().ok()?.trim();
    crate::wire::usable_id(id).then(|| id.to_string())
}

/// The headers a sender under `scheme` puts on `body`, named `delivery` (its id, for the
/// schemes that send one), at `now_unix`.
pub fn sign(
    scheme: Scheme,
    key: &[u8],
    body: &[u8],
    delivery: &str,
    now_unix: i64,
) -> Vec<(&'static str, String)> {
    let hmac = |parts: &[&[u8]]| {
        let mut mac = new_mac(key);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes()
    };
    let ts = now_unix.to_string();
    match scheme {
        Scheme::Rekko => vec![("x-webhook-signature", hex::encode(hmac(&[body])))],
        Scheme::Timestamped => vec![
            (
                "x-vq-signature",
                hex::encode(hmac(&[ts.as_bytes(), b".", body])),
            ),
            ("x-vq-timestamp", ts),
            ("x-vq-webhook-id", delivery.to_string()),
        ],
        Scheme::SortedJson => {
            let mut sorted = String::new();
            let text = String::from_utf8_lossy(body);
            if crate::wire::canonical::write_python(&text, &mut sorted).is_err() {
                sorted = text.into_owned();
            }
            vec![(
                "x-webhook-signature",
                format!("sha256={}", hex::encode(hmac(&[sorted.as_bytes()]))),
            )]
        }
        Scheme::Standard => {
            let sig = hmac(&[delivery.as_bytes(), b".", ts.as_bytes(), b".", body]);
            vec![
                ("webhook-id", delivery.to_string()),
                ("webhook-timestamp", ts),
                (
                    "webhook-signature",
                    format!(
                        "v1,{}",
                        base64::engine::general_purpose::STANDARD.encode(sig)
                    ),
                ),
            ]
        }
    }
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Refused> {
    let value = headers.get(name).ok_or(Refused::Missing(name))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| Refused::Malformed(name))
}

fn hex_signature(
    headers: &HeaderMap,
    name: &'static str,
    prefix: &str,
) -> Result<Vec<u8>, Refused> {
    let text = header(headers, name)?;
    let hex_text = text.strip_prefix(prefix).ok_or(Refused::Malformed(name))?;
    hex::decode(hex_text).map_err(|_| Refused::Malformed(name))
}

fn check(mac: Hmac<Sha256>, signature: &[u8]) -> Result<(), Refused> {
    mac.verify_slice(signature).map_err(|_| Refused::Signature)
}

fn fresh(ts: &str, name: &'static str, now_unix: i64, tolerance: Duration) -> Result<(), Refused> {
    let at: i64 = ts.parse().map_err(|_| Refused::Malformed(name))?;
    let off_by_s = now_unix.saturating_sub(at);
    let tolerance_s = tolerance.as_secs();
    if off_by_s.unsigned_abs() > tolerance_s {
        return Err(Refused::Stale {
            off_by_s,
            tolerance_s,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
