//! The `/v1/signals` client: one pooled HTTP client, a per-request timeout, retries with capped
//! jittered backoff, `Retry-After` and quota handling, and strict decoding at the edge.
//!
//! Every way a request can end is folded into a [`strategies::SignalReply`]: the core decides
//! `signal_error` from a `Failed` reason and pauses all signal requests when `pause_until` is
//! set. Nothing here panics on what the server sends, and the API key never appears in a reason.
//!
//! - `decode`: the pure response decoder ([`decode_signal`]).
//! - `http`: plumbing shared with the shadow-trade [`crate::mirror`].

pub(crate) mod decode;
pub(crate) mod http;
#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::SecondsFormat;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use strategies::{MarketKey, SignalReply, Timestamp};

use crate::clock::SharedClock;
use crate::configuration::Secret;
use crate::feed::backoff::equal_jitter;
pub use http::ClientError;
use http::{Redactor, RetryAfter};

pub use decode::decode_signal;

/// First retry delay unless configured otherwise.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(250);
/// Cap of the retry delay unless configured otherwise.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// The longest `Retry-After` (in seconds) the client sleeps through before retrying. A longer
/// one fails the request and pauses signal requests until then: holding an event's signal slot
/// for minutes would stall the market, and asking again sooner would only be refused.
pub const MAX_RETRY_AFTER_WAIT: Duration = Duration::from_secs(60);
/// Largest signal response read; a real one is well under a kilobyte.
pub const MAX_SIGNAL_BODY: usize = 1024 * 1024;
/// Longest quota pause unless configured otherwise (`signal.max_pause`).
pub const DEFAULT_MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);

/// How to reach `/v1/signals`, from `[feed]` and `[signal]`.
#[derive(Clone, Debug)]
pub struct SignalSettings {
    /// e.g. `https://api.rekko.ai` or `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; never logged or put in a reason.
    pub api_key: Option<Secret>,
    /// `low`, `medium` or `high`, sent as `risk_limit`.
    pub risk_limit: String,
    /// Per attempt, from connecting until the body is read.
    pub timeout: Duration,
    /// Retries after a 429, 5xx, timeout or connection error; the first attempt is not counted.
    pub max_retries: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// No `Retry-After` pauses signal requests longer than this (`signal.max_pause`).
    pub max_pause: Duration,
}

impl SignalSettings {
    /// Settings with the default backoff schedule (250 ms doubling to 10 s).
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<Secret>,
        risk_limit: impl Into<String>,
        timeout: Duration,
        max_retries: u32,
    ) -> SignalSettings {
        SignalSettings {
            base_url: base_url.into(),
            api_key,
            risk_limit: risk_limit.into(),
            timeout,
            max_retries,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            max_pause: DEFAULT_MAX_PAUSE,
        }
    }

    /// The same settings with another longest pause.
    pub fn with_max_pause(mut self, max_pause: Duration) -> SignalSettings {
        self.max_pause = max_pause;
        self
    }
}

/// How one [`SignalClient::fetch`] ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalFetch {
    pub reply: SignalReply,
    /// The last 2xx response JSON exactly as received, for the record (also when it failed to
    /// decode, so the ledger shows what the API said). `None` when no JSON body arrived.
    pub raw: Option<crate::wire::Json>,
    /// HTTP attempts made: 1 + retries.
    pub attempts: u32,
}

/// Client for `POST /v1/signals?wait=true`. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct SignalClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    risk_limit: String,
    timeout: Duration,
    max_retries: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_pause: Duration,
    redactor: Redactor,
    clock: SharedClock,
}

impl fmt::Debug for SignalClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalClient")
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

/// One attempt's result: final, or worth another try.
enum Attempt {
    Done {
        reply: SignalReply,
        raw: Option<crate::wire::Json>,
    },
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
}

impl Attempt {
    fn failed(reason: String) -> Attempt {
        Attempt::Done {
            reply: SignalReply::Failed {
                reason,
                pause_until: None,
            },
            raw: None,
        }
    }
}

impl SignalClient {
    pub fn new(settings: SignalSettings, clock: SharedClock) -> Result<SignalClient, ClientError> {
        if settings.timeout.is_zero() {
            return Err(ClientError::Timeout { what: "signal" });
        }
        if settings.risk_limit.trim().is_empty() {
            return Err(ClientError::RiskLimit);
        }
        let url = http::endpoint(&settings.base_url, "/v1/signals?wait=true")?;
        let http = http::build_client(&url, settings.timeout)?;
        let mut headers = http::auth_headers(&http::bearer(settings.api_key.as_ref())?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(SignalClient {
            inner: Arc::new(Inner {
                http,
                url,
                headers,
                risk_limit: settings.risk_limit,
                timeout: settings.timeout,
                max_retries: settings.max_retries,
                backoff_initial: settings.backoff_initial.max(Duration::from_millis(1)),
                backoff_max: settings.backoff_max.max(settings.backoff_initial),
                max_pause: settings.max_pause,
                redactor: Redactor::new(settings.api_key.as_ref()),
                clock,
            }),
        })
    }

    /// Ask for a signal on `market`, retrying transient failures. Never panics, never returns
    /// early on a transient error before `max_retries` retries are spent.
    pub async fn fetch(&self, market: &MarketKey) -> SignalFetch {
        let inner = &self.inner;
        let body = request_body(market, &inner.risk_limit);
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            match self.attempt(body.clone()).await {
                Attempt::Done { reply, raw } => {
                    return SignalFetch {
                        reply,
                        raw,
                        attempts,
                    }
                }
                Attempt::Retry { reason, wait } => {
                    if attempts > inner.max_retries {
                        let reason = format!("{reason} (gave up after {attempts} attempts)");
                        let reply = SignalReply::Failed {
                            reason,
                            pause_until: None,
                        };
                        return SignalFetch {
                            reply,
                            raw: None,
                            attempts,
                        };
                    }
                    let backoff = equal_jitter(
                        inner.backoff_initial,
                        inner.backoff_max,
                        attempts - 1,
                        http::jitter_unit(),
                    );
                    let delay = wait.map_or(backoff, |wait| wait.max(backoff));
                    tracing::debug!(%market, attempt = attempts, ?delay, "signal request failed, retrying: {reason}");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, body: Bytes) -> Attempt {
        let inner = &self.inner;
        let sent = inner
            .http
            .post(inner.url.clone())
            .headers(inner.headers.clone())
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retry {
                    reason: self.transport_reason(err),
                    wait: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return self.read_signal(response).await;
        }
        let retry_after = http::retry_after(response.headers());
        let excerpt = match http::read_capped(&mut response, http::ERROR_BODY_CAP).await {
            Ok(body) => inner.redactor.excerpt(&body.bytes),
            Err(_) => String::new(),
        };
        let what = if excerpt.is_empty() {
            format!("signal API answered {}", http::status_text(status))
        } else {
            format!(
                "signal API answered {}: {excerpt}",
                http::status_text(status)
            )
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.on_rate_limited(what, retry_after)
        } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            let wait = match retry_after {
                Some(RetryAfter::Delay(wait)) if wait <= MAX_RETRY_AFTER_WAIT => Some(wait),
                _ => None,
            };
            Attempt::Retry { reason: what, wait }
        } else {
            Attempt::failed(what)
        }
    }

    /// A 429: a date means the (monthly) quota is spent, so every request fails until then;
    /// a short delay is waited out; a long one is treated like a date.
    fn on_rate_limited(&self, what: String, retry_after: Option<RetryAfter>) -> Attempt {
        let now = self.inner.clock.now();
        match retry_after {
            Some(RetryAfter::Until(until)) if until > now => {
                quota_exhausted(cap_pause(until, now, self.inner.max_pause))
            }
            Some(RetryAfter::Delay(wait)) if wait > MAX_RETRY_AFTER_WAIT => {
                let until = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
                    .map(|until| cap_pause(until, now, self.inner.max_pause))
                    .or_else(|| cap_pause_from(now, self.inner.max_pause));
                let reason = format!(
                    "{what} (Retry-After {}s exceeds the {}s the client waits)",
                    wait.as_secs(),
                    MAX_RETRY_AFTER_WAIT.as_secs()
                );
                Attempt::Done {
                    reply: SignalReply::Failed {
                        reason,
                        pause_until: until,
                    },
                    raw: None,
                }
            }
            Some(RetryAfter::Delay(wait)) => Attempt::Retry {
                reason: what,
                wait: Some(wait),
            },
            _ => Attempt::Retry {
                reason: what,
                wait: None,
            },
        }
    }

    async fn read_signal(&self, mut response: reqwest::Response) -> Attempt {
        let status = response.status();
        let body = match http::read_capped(&mut response, MAX_SIGNAL_BODY).await {
            Ok(body) => body,
            Err(err) => {
                return Attempt::Retry {
                    reason: self.transport_reason(err),
                    wait: None,
                }
            }
        };
        if body.truncated {
            return Attempt::failed(format!(
                "signal response exceeds {} KiB",
                MAX_SIGNAL_BODY / 1024
            ));
        }
        let json: serde_json::Value = match serde_json::from_slice(&body.bytes) {
            Ok(json) => json,
            Err(_) if body.bytes.iter().all(u8::is_ascii_whitespace) => {
                return Attempt::failed(format!(
                    "signal response: empty body ({})",
                    http::status_text(status)
                ))
            }
            Err(err) => {
                return Attempt::failed(format!(
                    "signal response is not JSON ({err}): {}",
                    self.inner.redactor.excerpt(&body.bytes)
                ))
            }
        };
        // Parsed as JSON above, so UTF-8.
        let text = String::from_utf8_lossy(&body.bytes);
        let reply = match decode_signal(&text) {
            Ok(signal) => SignalReply::Signal(signal),
            Err(reason) => SignalReply::Failed {
                reason: self.inner.redactor.clean(&reason),
                pause_until: None,
            },
        };
        // The body is kept with the decision, as received, so that a replay decodes the same
        // digits; but a server echoing the key must not get it stored: then the cleaned copy.
        let mut cleaned = json.clone();
        self.inner.redactor.clean_json(&mut cleaned);
        let raw = match cleaned == json {
            true => crate::wire::Json::parse(&text)
                .unwrap_or_else(|_| crate::wire::Json::from_value(&json)),
            false => crate::wire::Json::from_value(&cleaned),
        };
        Attempt::Done {
            reply,
            raw: Some(raw),
        }
    }

    fn transport_reason(&self, err: reqwest::Error) -> String {
        if err.is_timeout() {
            format!(
                "signal request timed out after {}",
                humantime::format_duration(self.inner.timeout)
            )
        } else if err.is_connect() {
            format!(
                "signal API unreachable: {}",
                self.inner.redactor.error_text(err)
            )
        } else {
            format!(
                "signal request failed: {}",
                self.inner.redactor.error_text(err)
            )
        }
    }
}

/// A server-given pause end, no later than `now + max_pause`. A `Retry-After` of year 9999
/// once paused every signal request until then, persisted, so only a reset cleared it.
pub fn cap_pause(until: Timestamp, now: Timestamp, max_pause: Duration) -> Timestamp {
    match cap_pause_from(now, max_pause) {
        Some(latest) if until > latest => {
            tracing::warn!(
                asked_until = %until.to_rfc3339_opts(SecondsFormat::Secs, true),
                paused_until = %latest.to_rfc3339_opts(SecondsFormat::Secs, true),
                "the signal API asked for a pause longer than signal.max_pause; pausing for \
                 signal.max_pause instead"
            );
            latest
        }
        _ => until,
    }
}

fn cap_pause_from(now: Timestamp, max_pause: Duration) -> Option<Timestamp> {
    chrono::Duration::from_std(max_pause)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
}

fn quota_exhausted(until: Timestamp) -> Attempt {
    let reason = format!(
        "signal quota exhausted until {}",
        until.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    Attempt::Done {
        reply: SignalReply::Failed {
            reason,
            pause_until: Some(until),
        },
        raw: None,
    }
}

/// The published schema names `platform` and `market_id`, the guides `market` and
/// `risk_limit`: send all four so either reading of the API is satisfied.
fn request_body(market: &MarketKey, risk_limit: &str) -> Bytes {
    let body = serde_json::json!({
        "platform": market.platform.as_str(),
        "market_id": market.market_id,
        "market": market.to_string(),
        "risk_limit": risk_limit,
    });
    Bytes::from(body.to_string())
}
