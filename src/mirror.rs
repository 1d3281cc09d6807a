//! Best-effort mirroring of paper fills to `POST /v1/trades/shadow`.
//!
//! The local ledger is the truth; the mirror only tells the API about trades already recorded.
//! The runner pushes [`MirrorOrder`]s into an unbounded channel (it never waits on the network)
//! and [`run_mirror`] sends them one by one, in order:
//!
//! - 2xx: acknowledged, so the store drops the order from its outbox.
//! - 404/405: the endpoint (documented in the guides, absent from the published schema) does
//!   not exist here. Mirroring is switched off for the rest of the run with one warning; this
//!   and every later order is acknowledged without a call.
//! - 5xx, 408, 429, timeouts, connection errors: retried later with capped, jittered backoff
//!   (honouring a `Retry-After` in seconds), still in order.
//! - other 4xx: that order is abandoned with a warning naming the status.
//!
//! On shutdown the task stops at once; orders not yet acknowledged remain in the store's
//! outbox and are sent again on the next start, so delivery to the API is at least once.
//!
//! There is deliberately no code path to any order endpoint: the bot never places a real order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use rust_decimal::Decimal;
use strategies::{Platform, Side};
use tokio::sync::{mpsc, watch};

use crate::feed::backoff::equal_jitter;
use crate::signal::http::{self, Redactor, RetryAfter};

/// The longest `Retry-After` the mirror honours; a longer one is capped to this.
const MAX_MIRROR_RETRY_AFTER: Duration = Duration::from_secs(600);

/// One recorded paper fill to report to the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorOrder {
    /// The local trade id, handed back to [`OutboxAck::done`].
    pub trade_id: u64,
    /// The market id, sent as `ticker`.
    pub ticker: String,
    pub platform: Platform,
    pub side: Side,
    /// Sent as a JSON number with exactly these digits.
    pub size_usd: Decimal,
}

#[derive(Clone, Debug)]
pub struct MirrorSettings {
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; never logged.
    pub api_key: Option<crate::configuration::Secret>,
    /// Per request.
    pub timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// Called after a mirrored order is acknowledged (2xx) or permanently abandoned, so the store
/// can drop it from its outbox.
pub trait OutboxAck: Send + Sync + 'static {
    fn done(&self, trade_id: u64);
}

/// The JSON body, built as text so that `size_usd` carries the decimal's exact digits (a float
/// conversion would turn `12.34` into whatever `f64` makes of it).
pub fn order_body(order: &MirrorOrder) -> String {
    format!(
        r#"{{"ticker":{},"platform":{},"side":{},"size_usd":{}}}"#,
        serde_json::Value::from(order.ticker.as_str()),
        serde_json::Value::from(order.platform.as_str()),
        serde_json::Value::from(order.side.as_str()),
        order.size_usd
    )
}

/// Send mirrored orders until shutdown. See the module docs for what each answer does.
pub async fn run_mirror(
    settings: MirrorSettings,
    mut orders: mpsc::UnboundedReceiver<MirrorOrder>,
    ack: Arc<dyn OutboxAck>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut mirror = match Mirror::new(&settings) {
        Ok(mirror) => Some(mirror),
        Err(why) => {
            tracing::warn!("shadow-trade mirroring is off: {why}");
            None
        }
    };
    let mut queue: VecDeque<MirrorOrder> = VecDeque::new();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        while let Ok(order) = orders.try_recv() {
            queue.push_back(order);
        }
        let Some(order) = queue.front() else {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                received = orders.recv() => match received {
                    Some(order) => queue.push_back(order),
                    None => return,
                },
            }
            continue;
        };
        let Some(active) = mirror.as_ref() else {
            ack.done(order.trade_id);
            queue.pop_front();
            continue;
        };
        let sent = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            sent = active.send(order) => sent,
        };
        let trade_id = order.trade_id;
        match sent {
            Sent::Acked => {
                tracing::debug!(trade_id, "shadow trade mirrored");
                failures = 0;
            }
            Sent::Unsupported(status) => {
                tracing::warn!(
                    trade_id,
                    "POST /v1/trades/shadow answered {}: the endpoint is not available, so \
                     shadow-trade mirroring is off for this run (paper trades are still recorded)",
                    http::status_text(status)
                );
                mirror = None;
            }
            Sent::Rejected(reason) => {
                tracing::warn!(trade_id, "shadow trade not mirrored, abandoned: {reason}");
                failures = 0;
            }
            Sent::Retry { reason, wait } => {
                failures = failures.saturating_add(1);
                let backoff = equal_jitter(
                    settings.backoff_initial.max(Duration::from_millis(1)),
                    settings.backoff_max.max(settings.backoff_initial),
                    failures - 1,
                    http::jitter_unit(),
                );
                let delay = wait.map_or(backoff, |wait| wait.max(backoff));
                if failures == 1 {
                    tracing::warn!(
                        trade_id,
                        ?delay,
                        "shadow trade mirror failed, will retry: {reason}"
                    );
                } else {
                    tracing::debug!(
                        trade_id,
                        attempt = failures,
                        ?delay,
                        "shadow trade mirror failed again: {reason}"
                    );
                }
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    () = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        }
        ack.done(trade_id);
        queue.pop_front();
    }
}

/// How one send ended.
enum Sent {
    Acked,
    /// 404/405: the endpoint does not exist.
    Unsupported(StatusCode),
    /// Permanently refused; abandon this order.
    Rejected(String),
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
}

struct Mirror {
    http: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    redactor: Redactor,
}

impl Mirror {
    fn new(settings: &MirrorSettings) -> Result<Mirror, http::ClientError> {
        if settings.timeout.is_zero() {
            return Err(http::ClientError::Timeout { what: "mirror" });
        }
        let url = http::endpoint(&settings.base_url, "/v1/trades/shadow")?;
        let client = http::build_client(&url, settings.timeout)?;
        let mut headers = http::auth_headers(&http::bearer(settings.api_key.as_ref())?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Mirror {
            http: client,
            url,
            headers,
            redactor: Redactor::new(settings.api_key.as_ref()),
        })
    }

    async fn send(&self, order: &MirrorOrder) -> Sent {
        if order.size_usd <= Decimal::ZERO {
            return Sent::Rejected(format!("size_usd {} is not positive", order.size_usd));
        }
        let sent = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(order_body(order))
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                let reason = if err.is_timeout() {
                    "request timed out".to_string()
                } else {
                    self.redactor.error_text(err)
                };
                return Sent::Retry { reason, wait: None };
            }
        };
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        // Read (a bounded amount of) the body so the connection can be reused.
        let excerpt = match http::read_capped(&mut response, http::ERROR_BODY_CAP).await {
            Ok(body) if !status.is_success() => self.redactor.excerpt(&body.bytes),
            _ => String::new(),
        };
        let what = if excerpt.is_empty() {
            http::status_text(status)
        } else {
            format!("{}: {excerpt}", http::status_text(status))
        };
        match status {
            s if s.is_success() => Sent::Acked,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Sent::Unsupported(status),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => Sent::Retry {
                reason: what,
                wait: Some(retry_wait(retry_after)),
            },
            s if s.is_server_error() => Sent::Retry {
                reason: what,
                wait: match retry_after {
                    Some(RetryAfter::Delay(wait)) => Some(wait.min(MAX_MIRROR_RETRY_AFTER)),
                    _ => None,
                },
            },
            _ => Sent::Rejected(what),
        }
    }
}

/// How long to wait after a 429/408: its `Retry-After` seconds (capped), a date as the cap
/// (the mirror carries no clock and a quota date is usually far away), else no floor.
fn retry_wait(retry_after: Option<RetryAfter>) -> Duration {
    match retry_after {
        Some(RetryAfter::Delay(wait)) => wait.min(MAX_MIRROR_RETRY_AFTER),
        Some(RetryAfter::Until(_)) => MAX_MIRROR_RETRY_AFTER,
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests;
