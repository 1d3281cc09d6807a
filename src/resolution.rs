//! The resolution poller: asks `GET {base_url}/v1/markets/{platform}/{market_id}/resolution`
//! about the markets the bot holds, rarely (each call may be billed), and hands every market the
//! API calls `determined` or `finalized` to the runner, which settles it when the last price is
//! decisive (`strategies::exits::settlement_side`).
//!
//! The API reports a status and timing, not the winning side, so this module never decides a
//! winner; it only says "resolved". Failures are logged and retried at the next round: a missed
//! poll only delays a settlement.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::configuration::Secret;
use chrono::DateTime;
use reqwest::header::HeaderValue;
use serde_json::Value;
use strategies::{MarketKey, Timestamp};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::signal::http::{
    auth_headers, bearer, build_client, call, endpoint, CallError, ClientError, Redactor,
    ERROR_BODY_CAP,
};

/// Where a market is in its life, as the resolution endpoint reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolutionStatus {
    Active,
    Closed,
    Determined,
    Finalized,
}

impl ResolutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStatus::Active => "active",
            ResolutionStatus::Closed => "closed",
            ResolutionStatus::Determined => "determined",
            ResolutionStatus::Finalized => "finalized",
        }
    }

    /// The outcome is known: settle (by the last price) from here on.
    pub fn is_resolved(self) -> bool {
        matches!(
            self,
            ResolutionStatus::Determined | ResolutionStatus::Finalized
        )
    }
}

impl fmt::Display for ResolutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResolutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "active" => Ok(ResolutionStatus::Active),
            "closed" => Ok(ResolutionStatus::Closed),
            "determined" => Ok(ResolutionStatus::Determined),
            "finalized" => Ok(ResolutionStatus::Finalized),
            _ => Err(format!(
                "unknown resolution status {s:?} (known: active, closed, determined, finalized)"
            )),
        }
    }
}

/// One answer of the resolution endpoint, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub market: MarketKey,
    pub status: ResolutionStatus,
    pub closed_at: Option<Timestamp>,
    pub determined_at: Option<Timestamp>,
    pub finalized_at: Option<Timestamp>,
}

/// Decode a resolution body for `market`. The status is required and must be known; the times
/// are optional (null or absent) but must be RFC 3339 when present; a body that names another
/// market is refused rather than applied to the wrong one.
pub fn decode_resolution(market: &MarketKey, body: &[u8]) -> Result<Resolution, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("resolution is not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "resolution is not a JSON object".to_string())?;
    let text = |field: &str| -> Result<Option<&str>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("resolution {field} is not a string: {other}")),
        }
    };
    if let Some(id) = text("market_id")? {
        if id != market.market_id {
            return Err(format!(
                "resolution is for market_id {id:?}, not {:?}",
                market.market_id
            ));
        }
    }
    if let Some(platform) = text("platform")? {
        if !platform.eq_ignore_ascii_case(market.platform.as_str()) {
            return Err(format!(
                "resolution is for platform {platform:?}, not {}",
                market.platform
            ));
        }
    }
    let status = text("status")?
        .ok_or_else(|| "resolution has no status".to_string())?
        .parse()?;
    let time = |field: &str| -> Result<Option<Timestamp>, String> {
        text(field)?
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|d| d.to_utc())
                    .map_err(|e| format!("resolution {field} {t:?} is not an RFC 3339 time: {e}"))
            })
            .transpose()
    };
    Ok(Resolution {
        market: market.clone(),
        status,
        closed_at: time("closed_at")?,
        determined_at: time("determined_at")?,
        finalized_at: time("finalized_at")?,
    })
}

/// Why one resolution poll failed. Every text is cleaned of the key (an error body may echo it)
/// and carries no URL, so it is safe to log.
#[derive(Debug, thiserror::Error)]
pub enum ResolutionError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Call(#[from] CallError),
    /// The answer is not a resolution (the reason names the field).
    #[error("{reason}")]
    Decode { reason: String },
}

/// The HTTP client for the resolution endpoint.
#[derive(Clone)]
pub struct ResolutionClient {
    http: reqwest::Client,
    base_url: String,
    auth: Option<HeaderValue>,
    redactor: Redactor,
}

impl ResolutionClient {
    pub fn new(
        base_url: &str,
        api_key: Option<&Secret>,
        timeout: Duration,
    ) -> Result<ResolutionClient, ClientError> {
        let base = endpoint(base_url, "")?;
        Ok(ResolutionClient {
            http: build_client(&base, timeout)?,
            base_url: base_url.to_string(),
            auth: bearer(api_key)?,
            redactor: Redactor::new(api_key),
        })
    }

    /// `GET .../v1/markets/{platform}/{market_id}/resolution`, once. The error text is safe to
    /// log (no key, no URL query).
    pub async fn fetch(&self, market: &MarketKey) -> Result<Resolution, ResolutionError> {
        let mut url = endpoint(&self.base_url, "/v1/markets")?;
        url.path_segments_mut()
            .map_err(|()| ClientError::NoPath)?
            .push(market.platform.as_str())
            .push(&market.market_id)
            .push("resolution");
        let request = self.http.get(url).headers(auth_headers(&self.auth));
        let body = call(request, ERROR_BODY_CAP, &self.redactor).await?;
        decode_resolution(market, &body).map_err(|e| ResolutionError::Decode {
            reason: self.redactor.clean(&e),
        })
    }
}

/// Poll every market in `held` once per `interval` (the first round at once, so a bot
/// restarted after a resolution settles without waiting), and send each resolved answer on
/// `resolved`. Stops when `stop` turns true or the receiver is gone.
pub async fn run_poller(
    client: ResolutionClient,
    interval: Duration,
    held: watch::Receiver<BTreeSet<MarketKey>>,
    resolved: mpsc::UnboundedSender<Resolution>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let markets = held.borrow().clone();
        for market in markets {
            if *stop.borrow() {
                return;
            }
            let answer = tokio::select! {
                answer = client.fetch(&market) => answer,
                _ = stop.changed() => return,
            };
            match answer {
                Ok(resolution) if resolution.status.is_resolved() => {
                    info!(market = %market, status = %resolution.status, "market resolved");
                    if resolved.send(resolution).is_err() {
                        return;
                    }
                }
                Ok(resolution) => {
                    debug!(market = %market, status = %resolution.status, "market not resolved yet")
                }
                Err(error) => {
                    warn!(market = %market, %error, "resolution poll failed; retrying next round")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
