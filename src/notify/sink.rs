//! One delivery attempt to one sink: the request each kind wants, and what its answer means.
//!
//! - `webhook`: the [`Message`] as JSON, signed twice so a receiver can check either way:
//!   `x-webhook-signature` = hex HMAC-SHA256(key, body), as Rekko signs its webhooks, and the
//!   Standard Webhooks headers `webhook-id` (the message id), `webhook-timestamp` (unix
//!   seconds) and `webhook-signature` = `v1,` + base64 HMAC-SHA256(key, `{id}.{timestamp}.{body}`).
//!   The key is the secret's bytes, or, for a Standard Webhooks secret written `whsec_<base64>`,
//!   the decoded bytes after the prefix (both signatures use the same key).
//! - `slack`: `{"text"}`; `discord`: `{"content"}` cut to 2,000 characters; `telegram`:
//!   `sendMessage` with `{"chat_id", "text"}` cut to 4,096 characters.
//!
//! The answer: 2xx delivered; 408, 429, 5xx, a timeout or a connection error are retried
//! (after `Retry-After`, or Telegram's `parameters.retry_after`, when given); any other status
//! is final. Errors name the sink and the status, never its URL (a Slack or Discord URL is its
//! own credential, a Telegram URL holds the bot token).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;
use sha2::Sha256;

use super::Message;
use crate::configuration::{NotifySink, SinkKind};
use crate::signal::http::{retry_after, RetryAfter};

/// Discord refuses longer `content`.
pub const DISCORD_LIMIT: usize = 2000;
/// Telegram refuses longer `text`.
pub const TELEGRAM_LIMIT: usize = 4096;

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: the sink has it.
    Delivered { status: u16 },
    /// Worth trying again, after `after` when the sink said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Never going to work (a 4xx): the message is dropped.
    Rejected { why: String },
}

/// The HTTP request for one message, ready to send.
pub struct Request {
    pub url: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Build the request `sink` wants for `message`, signed at `now_unix` (seconds).
pub fn request(sink: &NotifySink, message: &Message, now_unix: i64) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let secret_url = || {
        sink.url
            .as_ref()
            .map(|u| u.expose().to_string())
            .unwrap_or_default()
    };
    let (url, body) = match sink.kind {
        SinkKind::Webhook => {
            let body = serde_json::to_vec(message).unwrap_or_default();
            let key = signing_key(sink.secret.as_ref().map(|s| s.expose()).unwrap_or_default());
            for (name, value) in signature_headers(&key, &message.id, now_unix, &body) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            (secret_url(), body)
        }
        SinkKind::Slack => (
            secret_url(),
            serde_json::to_vec(&serde_json::json!({ "text": message.text })).unwrap_or_default(),
        ),
        SinkKind::Discord => (
            secret_url(),
            serde_json::to_vec(&serde_json::json!({
                "content": cut(&message.text, DISCORD_LIMIT)
            }))
            .unwrap_or_default(),
        ),
        SinkKind::Telegram => (
            format!(
                "{}/bot{}/sendMessage",
                sink.api_url,
                sink.token.as_ref().map(|t| t.expose()).unwrap_or_default()
            ),
            serde_json::to_vec(&serde_json::json!({
                "chat_id": sink.chat_id,
                "text": cut(&message.text, TELEGRAM_LIMIT),
            }))
            .unwrap_or_default(),
        ),
    };
    Request { url, headers, body }
}

/// The HMAC key for a webhook secret (see the module docs).
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `x-webhook-signature`, `webhook-id`, `webhook-timestamp`, `webhook-signature`.
pub fn signature_headers(
    key: &[u8],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let rekko = hex::encode(hmac(key, &[body]));
    let standard = base64::engine::general_purpose::STANDARD.encode(hmac(
        key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    ));
    [
        ("x-webhook-signature", rekko),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", format!("v1,{standard}")),
    ]
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// At most `limit` characters, the last one an ellipsis when cut.
fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > limit => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

/// Send one message once.
pub async fn attempt(client: &reqwest::Client, sink: &NotifySink, message: &Message) -> Attempt {
    let now = chrono::Utc::now().timestamp();
    let request = request(sink, message, now);
    let sent = client
        .post(&request.url)
        .headers(request.headers)
        .body(request.body)
        .timeout(sink.timeout)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            let why = match (err.is_timeout(), err.is_connect()) {
                (true, _) => format!(
                    "no answer within {}",
                    humantime::format_duration(sink.timeout)
                ),
                (_, true) => "cannot connect".to_string(),
                _ => "the request failed".to_string(),
            };
            return Attempt::Retry { why, after: None };
        }
    };
    let status = response.status();
    let header_delay = retry_after(response.headers()).map(|after| match after {
        RetryAfter::Delay(delay) => delay,
        RetryAfter::Until(at) => (at - chrono::Utc::now()).to_std().unwrap_or_default(),
    });
    // Bodies of answers are small; a large one is not read past what matters.
    let body = tokio::time::timeout(sink.timeout, response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    classify(status, header_delay, &body)
}

/// What an answer means (see the module docs). Telegram says when to retry in its body.
pub fn classify(status: StatusCode, header_delay: Option<Duration>, body: &[u8]) -> Attempt {
    if status.is_success() {
        return Attempt::Delivered {
            status: status.as_u16(),
        };
    }
    let why = format!("answered {status}");
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if !retryable {
        return Attempt::Rejected { why };
    }
    let body_delay = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/parameters/retry_after")
                .or_else(|| v.get("retry_after"))
                .and_then(serde_json::Value::as_f64)
        })
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    Attempt::Retry {
        why,
        after: header_delay.or(body_delay),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_known_vectors() {
        // Standard Webhooks' published example (standard-webhooks/spec).
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let headers = signature_headers(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            headers[1],
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string())
        );
        assert_eq!(headers[2], ("webhook-timestamp", "1614265330".to_string()));
        assert_eq!(
            headers[3],
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string()
            )
        );
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let rekko = signature_headers(b"Jefe", "x", 0, b"what do ya want for nothing?");
        assert_eq!(
            rekko[0].1,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn answers_are_classified_and_retry_hints_honoured() {
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None, b""),
            Attempt::Delivered { status: 204 }
        );
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None, b""),
            Attempt::Rejected { .. }
        ));
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                br#"{"ok":false,"error_code":429,"parameters":{"retry_after":3}}"#
            ),
            Attempt::Retry {
                why: "answered 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            classify(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(Duration::from_secs(7)),
                b"{\"retry_after\": 1}"
            ),
            Attempt::Retry {
                why: "answered 503 Service Unavailable".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn chat_texts_are_cut_to_each_sinks_limit() {
        let long = "é".repeat(5000);
        assert_eq!(cut(&long, DISCORD_LIMIT).chars().count(), DISCORD_LIMIT);
        assert_eq!(cut(&long, TELEGRAM_LIMIT).chars().count(), TELEGRAM_LIMIT);
        assert!(cut(&long, 10).ends_with('…'));
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut(&"a".repeat(10), 10), "a".repeat(10));
    }
}
