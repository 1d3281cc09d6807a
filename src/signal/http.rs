//! HTTP plumbing shared by the signal client and the shadow-trade mirror: building the client,
//! reading bounded bodies, `Retry-After`, and turning failures into text that is safe to log.
//!
//! Everything here that produces text runs it through [`Redactor`], so an API key echoed back
//! by a server (or a proxy) never reaches a log line, a decision reason or the ledger.

use std::time::Duration;

use crate::configuration::secret::REDACTED;
use crate::configuration::Secret;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Response, Url};

/// Longest excerpt of an error body quoted in a reason.
const EXCERPT_CHARS: usize = 160;

/// Bytes read from an error body to find its message: enough for any real error document,
/// small enough that a hostile or broken server cannot make us buffer much.
pub(crate) const ERROR_BODY_CAP: usize = 64 * 1024;

/// Why a client for an API cannot be made: the configured address or key, or the TLS stack.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("base_url {url:?} is not a URL: {source}")]
    NotUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("base_url {url:?} must be http or https")]
    Scheme { url: String },
    #[error("base_url must not carry credentials; the key comes from the environment")]
    Credentials,
    #[error("cannot build the endpoint URL from base_url: {source}")]
    Endpoint {
        #[source]
        source: url::ParseError,
    },
    #[error("cannot build the HTTP client: {source}")]
    Build {
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} timeout must be positive")]
    Timeout { what: &'static str },
    #[error("signal risk_limit is empty")]
    RiskLimit,
    #[error("base_url cannot take a path")]
    NoPath,
    #[error("the API key contains characters not allowed in an HTTP header")]
    Key {
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
}

/// Build a client for one API: bounded per-request time, no redirects (a redirected POST would
/// either change method or carry the bearer token to wherever the redirect points), and no
/// proxy for loopback hosts (the embedded simulator and the tests must not go through a
/// `HTTP_PROXY` set for the outside world).
pub(crate) fn build_client(base: &Url, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("shiftbot/", env!("CARGO_PKG_VERSION")));
    if is_loopback(base) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|err| ClientError::Build {
        source: err.without_url(),
    })
}

/// Parse `base_url` and append `path` (which starts with `/`), tolerating a trailing slash.
pub(crate) fn endpoint(base_url: &str, path_and_query: &str) -> Result<Url, ClientError> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let base = Url::parse(trimmed).map_err(|source| ClientError::NotUrl {
        url: trimmed.to_string(),
        source,
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(ClientError::Scheme {
            url: trimmed.to_string(),
        });
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(ClientError::Credentials);
    }
    Url::parse(&format!("{trimmed}{path_and_query}"))
        .map_err(|source| ClientError::Endpoint { source })
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Authorization: Bearer <key>`, marked sensitive so that `Debug` output of the header map
/// (and hyper's own logging) shows it as `Sensitive`.
pub(crate) fn bearer(api_key: Option<&Secret>) -> Result<Option<HeaderValue>, ClientError> {
    let Some(key) = api_key.map(Secret::expose).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|source| ClientError::Key { source })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

pub(crate) fn auth_headers(auth: &Option<HeaderValue>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = auth {
        headers.insert(AUTHORIZATION, value.clone());
    }
    headers
}

/// A body read up to a cap.
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    /// The body was longer than the cap; `bytes` holds only its beginning.
    pub truncated: bool,
}

/// Read at most `cap` bytes of a response body, never more (a declared `Content-Length` above
/// the cap stops before reading anything).
pub(crate) async fn read_capped(
    response: &mut Response,
    cap: usize,
) -> Result<Body, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Ok(Body {
            bytes: Vec::new(),
            truncated: true,
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        truncated: false,
    })
}

/// Why a small call (a resolution, a listing, a registration) brought no usable body. Every
/// text is cleaned of the key and carries no URL: safe to log and print.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No answer: connection, timeout, or the body broke off.
    #[error("{detail}")]
    Transport {
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{}: {excerpt}", status_text(*status))]
    Status {
        status: reqwest::StatusCode,
        excerpt: String,
    },
    #[error("the answer is larger than {cap} bytes")]
    TooLarge { cap: usize },
}

/// Send `request` once and read at most `cap` bytes of a 2xx answer's body; anything else is
/// a [`CallError`] whose texts `redactor` cleaned.
pub(crate) async fn call(
    request: reqwest::RequestBuilder,
    cap: usize,
    redactor: &Redactor,
) -> Result<Vec<u8>, CallError> {
    let transport = |e: reqwest::Error| {
        let source = e.without_url();
        CallError::Transport {
            detail: redactor.chain_text(&source),
            source,
        }
    };
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = read_capped(&mut response, cap).await.map_err(transport)?;
    if !status.is_success() {
        return Err(CallError::Status {
            status,
            excerpt: redactor.excerpt(&body.bytes),
        });
    }
    if body.truncated {
        return Err(CallError::TooLarge { cap });
    }
    Ok(body.bytes)
}

/// What a `Retry-After` header asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// `Retry-After: 3` (delta-seconds).
    Delay(Duration),
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` (an HTTP date).
    Until(DateTime<Utc>),
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(text)
}

/// Parse a `Retry-After` value: delta-seconds (fractions tolerated) or an HTTP date in any of
/// the three forms RFC 9110 obliges recipients to accept, plus RFC 3339 which some APIs send.
pub(crate) fn parse_retry_after(text: &str) -> Option<RetryAfter> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let seconds: f64 = text.parse().ok()?;
        return Duration::try_from_secs_f64(seconds)
            .ok()
            .map(RetryAfter::Delay);
    }
    if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        return Some(RetryAfter::Until(date.with_timezone(&Utc)));
    }
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(RetryAfter::Until(date.with_timezone(&Utc)));
    }
    // RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
    let gmt = text.strip_suffix(" GMT").unwrap_or(text);
    ["%A, %d-%b-%y %H:%M:%S", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(gmt, format).ok())
        .map(|naive| RetryAfter::Until(naive.and_utc()))
}

/// Removes a secret from any text before it is logged or stored, writing what
/// [`Secret`] shows instead ([`REDACTED`]).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secret: Option<Secret>,
}

impl Redactor {
    pub fn new(secret: Option<&Secret>) -> Redactor {
        Redactor {
            secret: secret.filter(|s| !s.expose().is_empty()).cloned(),
        }
    }

    pub fn clean(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) => text.replace(secret.expose(), REDACTED),
            None => text.to_owned(),
        }
    }

    /// Whether `text` holds the secret.
    pub fn finds(&self, text: &str) -> bool {
        self.secret
            .as_ref()
            .is_some_and(|secret| text.contains(secret.expose()))
    }

    /// Cleans every string (and key) of a JSON document in place.
    pub fn clean_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.secret.is_none() {
            return;
        }
        match value {
            Value::String(text) if self.finds(text) => *text = self.clean(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.clean_json(item)),
            Value::Object(map) => {
                if map.keys().any(|key| self.finds(key)) {
                    let entries = std::mem::take(map);
                    *map = entries
                        .into_iter()
                        .map(|(key, value)| (self.clean(&key), value))
                        .collect();
                }
                map.values_mut().for_each(|item| self.clean_json(item));
            }
            _ => {}
        }
    }

    /// A short, single-line excerpt of an error body: the API's own message when the body is
    /// JSON with `detail`/`error`/`message`, else the text itself.
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let message = json_message(&text).unwrap_or_else(|| text.into_owned());
        let cleaned = self.clean(&message);
        let single_line = cleaned
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut excerpt: String = single_line.chars().take(EXCERPT_CHARS).collect();
        if single_line.chars().count() > EXCERPT_CHARS {
            excerpt.push('…');
        }
        excerpt
    }

    /// The error and its sources on one line, without the URL, cleaned of the secret.
    pub fn error_text(&self, err: reqwest::Error) -> String {
        self.chain_text(&err.without_url())
    }

    /// An error and its sources on one line, cleaned of the secret.
    pub fn chain_text(&self, err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        self.clean(&text)
    }
}

/// `{"detail": "..."}` (FastAPI), `{"detail": [{"msg": ...}]}`, `{"error": ...}`,
/// `{"message": ...}`, or `{"error": {"message": ...}}`.
fn json_message(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    for field in ["detail", "error", "message"] {
        match object.get(field) {
            Some(serde_json::Value::String(message)) => return Some(message.clone()),
            Some(serde_json::Value::Array(items)) => {
                let messages: Vec<String> = items
                    .iter()
                    .filter_map(|item| {
                        let msg = item.get("msg")?.as_str()?;
                        let loc = item.get("loc").map(|l| l.to_string()).unwrap_or_default();
                        Some(format!("{loc} {msg}").trim().to_owned())
                    })
                    .collect();
                if !messages.is_empty() {
                    return Some(messages.join("; "));
                }
            }
            Some(serde_json::Value::Object(inner)) => {
                if let Some(message) = inner.get("message").and_then(|m| m.as_str()) {
                    return Some(message.to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

/// Human form of a status: `HTTP 503 Service Unavailable`.
pub(crate) fn status_text(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A uniform random number in `[0, 1)` for backoff jitter.
pub(crate) fn jitter_unit() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_reads_seconds_and_all_http_date_forms() {
        assert_eq!(
            parse_retry_after("1"),
            Some(RetryAfter::Delay(Duration::from_secs(1)))
        );
        assert_eq!(
            parse_retry_after(" 120 "),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        assert_eq!(
            parse_retry_after("0.5"),
            Some(RetryAfter::Delay(Duration::from_millis(500)))
        );
        let date = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).single();
        let expected = date.map(RetryAfter::Until);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT"),
            expected
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994"), expected);
        assert_eq!(parse_retry_after("1994-11-06T08:49:37Z"), expected);
    }

    #[test]
    fn retry_after_rejects_garbage() {
        for text in [
            "",
            "soon",
            "-1",
            "1e3",
            "1.2.3",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "NaN",
        ] {
            assert_eq!(parse_retry_after(text), None, "{text:?}");
        }
    }

    #[test]
    fn excerpt_is_short_single_line_and_redacted() {
        let redactor = Redactor::new(Some(&Secret::from("sk-SECRET")));
        let body = b"<html>\n<body>bad key sk-SECRET\tseen</body></html>";
        assert_eq!(
            redactor.excerpt(body),
            "<html> <body>bad key [redacted] seen</body></html>"
        );
        let long = "x".repeat(10_000);
        let excerpt = redactor.excerpt(long.as_bytes());
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
        assert!(excerpt.ends_with('…'));
    }

    #[test]
    fn excerpt_prefers_the_api_message() {
        let redactor = Redactor::new(None);
        assert_eq!(
            redactor.excerpt(br#"{"detail":"Market not found"}"#),
            "Market not found"
        );
        assert_eq!(
            redactor.excerpt(
                br#"{"detail":[{"loc":["body","market"],"msg":"field required","type":"x"}]}"#
            ),
            r#"["body","market"] field required"#
        );
        assert_eq!(redactor.excerpt(br#"{"error":{"message":"nope"}}"#), "nope");
        assert_eq!(
            redactor.excerpt(b"\xff\xfe not utf8"),
            "\u{fffd}\u{fffd} not utf8"
        );
    }

    #[test]
    fn endpoint_joins_and_rejects_bad_bases() {
        let url = endpoint("http://127.0.0.1:8080/", "/v1/signals?wait=true");
        assert_eq!(
            url.map(|u| u.to_string()).ok().as_deref(),
            Some("http://127.0.0.1:8080/v1/signals?wait=true")
        );
        assert!(matches!(
            endpoint("ftp://example.com", "/v1"),
            Err(ClientError::Scheme { .. })
        ));
        // The parser's own error stays the cause.
        let not_url = endpoint("not a url", "/v1").expect_err("not a URL");
        assert!(std::error::Error::source(&not_url).is_some(), "{not_url}");
        assert!(matches!(
            endpoint("https://user:pw@example.com", "/v1"),
            Err(ClientError::Credentials)
        ));
    }

    #[test]
    fn bearer_is_sensitive_and_absent_without_key() {
        assert!(matches!(bearer(None), Ok(None)));
        assert!(matches!(bearer(Some(&Secret::from(""))), Ok(None)));
        let value = bearer(Some(&Secret::from("k1"))).ok().flatten();
        assert!(value.as_ref().is_some_and(HeaderValue::is_sensitive));
        assert!(!format!("{value:?}").contains("k1"));
        let bad = Secret::from("bad\nkey");
        assert!(bearer(Some(&bad)).is_err_and(|e| !e.to_string().contains("bad")));
    }
}
