//! The poll intake (seed 000's table: "polling is simplest"): `GET
//! {base_url}/v1/markets?source=<platform>&limit=100` for each platform in `sources`, every
//! `interval`, and `price_shift` events derived from the quotes.
//!
//! Per market the poller keeps an *anchor*, the YES price at the last shift it emitted
//! ([`Anchors::observe`], pure): the first sight only sets it; a market whose `updated_at` did
//! not change is skipped; a move of `|yes - anchor| / anchor * 100 >= filter.min_shift_pct`
//! emits `{old_yes: anchor, new_yes: yes}` and moves the anchor. The event's id is derived from
//! (market, anchor, new price, `updated_at`), so the same observation made again after a restart
//! is the same event, recognised by the engine's exactly-once index.
//!
//! Anchors are saved (in the store's `intakes` tree, flushed) only once the engine reports
//! the round's events durable; a crash in between re-derives the same events with the same ids.
//! Every listing call is billed: the day's count is saved before the call, and past
//! `max_per_day` the poller waits for the next UTC day. With `mode = "fallback"` it polls only
//! while every stream and WebSocket intake has been silent for `after`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use strategies::{Platform, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{Delivery, Liveness};
use crate::clock::SharedClock;
use crate::configuration::{PollMode, PollSettings, Secret};
use crate::feed::RawEvent;
use crate::signal::http::{
    auth_headers, bearer, build_client, call, endpoint, CallError, ClientError, Redactor,
};
use crate::store::intakes::{Anchor, PollCalls};
use crate::store::Store;
use crate::wire::markets::{decode_listing, Quote};

/// Markets asked for per listing call (the API's page).
pub const PAGE: u32 = 100;

/// Largest listing body read: a page of 100 markets is tens of KB.
const LISTING_CAP: usize = 4 * 1024 * 1024;

/// How often a poller whose gate is closed (fallback while another intake is alive, or the
/// day's calls spent) looks again.
const GATE_CHECK: Duration = Duration::from_secs(1);

/// A shift derived from two quotes of one market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedShift {
    pub id: String,
    /// The event in the Rekko stream's shape, for the one decoder.
    pub json: String,
}

/// The anchors of one poll intake, by `platform/market_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchors {
    pub markets: HashMap<String, Anchor>,
}

impl Anchors {
    /// Look at one quote: `Some(anchor)` when the anchor must be saved (first sight, a new
    /// `updated_at`, a shift), with the shift to emit if the move reached `min_shift_pct`.
    pub fn observe(
        &mut self,
        quote: &Quote,
        min_shift_pct: Decimal,
        now: Timestamp,
    ) -> Option<(Anchor, Option<DerivedShift>)> {
        let key = quote.market.to_string();
        let yes = quote.yes.get();
        let Some(known) = self.markets.get_mut(&key) else {
            let anchor = Anchor {
                anchor: yes,
                updated_at: quote.updated_at.clone(),
            };
            self.markets.insert(key, anchor.clone());
            return Some((anchor, None));
        };
        if quote.updated_at.is_some() && quote.updated_at == known.updated_at {
            return None;
        }
        let old = known.anchor;
        let moved = (yes - old).abs() * Decimal::ONE_HUNDRED;
        let shift = (moved >= min_shift_pct * old && yes != old).then(|| derive(quote, old, now));
        if shift.is_some() {
            known.anchor = yes;
        }
        let saved_anything = shift.is_some() || known.updated_at != quote.updated_at;
        known.updated_at.clone_from(&quote.updated_at);
        saved_anything.then(|| (known.clone(), shift))
    }
}

/// The event of a move from `old` to the quote's price, its id stable for the observation.
fn derive(quote: &Quote, old: Decimal, now: Timestamp) -> DerivedShift {
    let new = quote.yes.get();
    let market = &quote.market;
    let mut hash = Sha256::new();
    for part in [
        market.platform.as_str(),
        &market.market_id,
        &old.normalize().to_string(),
        &new.normalize().to_string(),
        quote.updated_at.as_deref().unwrap_or(""),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut id = String::from("poll-");
    for byte in &digest[..12] {
        let _ = write!(id, "{byte:02x}");
    }
    let change_pct = ((new - old) * Decimal::ONE_HUNDRED / old).round_dp(4);
    let json = serde_json::json!({
        "type": "price_shift",
        "id": id,
        "market_id": market.market_id,
        "platform": market.platform.as_str(),
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    // Decimals are spliced in as JSON numbers from their own digits (never through f64).
    let mut json = json.to_string();
    json.pop();
    let _ = write!(
        json,
        r#","old_yes":{},"new_yes":{},"change_pct":{}}}"#,
        old.normalize(),
        new.normalize(),
        change_pct.normalize()
    );
    DerivedShift { id, json }
}

/// Whether a poller polls at `now`: always, or in fallback only while every watched intake
/// has been silent for `after` (with none to watch, the poller is the only source: it polls).
pub fn gate_open(settings: &PollSettings, watched: &[Liveness], now: Timestamp) -> bool {
    settings.mode == PollMode::Always
        || watched
            .iter()
            .all(|live| live.silent_for(now) >= settings.after)
}

/// Why one listing call failed; the text is safe to log (no key, no URL).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("the listing cannot be read: {reason}")]
    Decode { reason: String },
}

/// One poll intake, ready to run.
pub struct Poller {
    pub name: Arc<str>,
    pub settings: PollSettings,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub min_shift_pct: Decimal,
    pub clock: SharedClock,
    pub store: Store,
    /// The stream and WebSocket intakes `mode = "fallback"` stands in for.
    pub watched: Vec<Liveness>,
    pub tx: mpsc::Sender<Delivery>,
}

impl Poller {
    /// Poll until `stop` or the engine is gone. Store failures stop the poller (logged); the
    /// rest of the bot goes on.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(intake = %self.name, "poll intake not started: {err}");
                return;
            }
        };
        let mut anchors = match self.store.poll_anchors(&self.name) {
            Ok(markets) => Anchors { markets },
            Err(err) => {
                tracing::error!(intake = %self.name, "poll intake not started: {err}");
                return;
            }
        };
        info!(
            intake = %self.name,
            markets = anchors.markets.len(),
            interval = %humantime::format_duration(self.settings.interval),
            mode = ?self.settings.mode,
            "poll intake started"
        );
        let mut gate_was_open = None;
        loop {
            let open = self.gate_open();
            if gate_was_open != Some(open) && self.settings.mode == PollMode::Fallback {
                match open {
                    true => {
                        warn!(intake = %self.name, after = %humantime::format_duration(self.settings.after), "every stream and websocket intake is silent: polling")
                    }
                    false if gate_was_open.is_some() => {
                        info!(intake = %self.name, "an intake is live again: polling stops")
                    }
                    false => {}
                }
            }
            gate_was_open = Some(open);
            let wait = match open {
                true => match self.round(&client, &mut anchors, &mut stop).await {
                    Ok(true) => self.settings.interval,
                    Ok(false) => return,
                    Err(err) => {
                        tracing::error!(intake = %self.name, "poll intake stopped: {err}");
                        return;
                    }
                },
                false => GATE_CHECK,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
            }
        }
    }

    fn gate_open(&self) -> bool {
        gate_open(&self.settings, &self.watched, self.clock.now())
    }

    fn client(&self) -> Result<ListingClient, ClientError> {
        let base = endpoint(&self.base_url, "")?;
        Ok(ListingClient {
            http: build_client(&base, self.timeout)?,
            base_url: self.base_url.clone(),
            auth: bearer(self.api_key.as_ref())?,
            redactor: Redactor::new(self.api_key.as_ref()),
        })
    }

    /// One round over every source. `Ok(false)`: stop (asked to, or the engine is gone).
    async fn round(
        &self,
        client: &ListingClient,
        anchors: &mut Anchors,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, crate::store::StoreError> {
        for &source in &self.settings.sources {
            if !self.spend_call()? {
                return Ok(true);
            }
            let listing = tokio::select! {
                listing = client.fetch(source) => listing,
                _ = stop.changed() => return Ok(false),
            };
            let listing = match listing {
                Ok(listing) => listing,
                Err(err) => {
                    crate::metrics::poll_request(&self.name, "error");
                    warn!(intake = %self.name, source = source.as_str(), error = %err, "listing call failed; next round retries");
                    continue;
                }
            };
            crate::metrics::poll_request(&self.name, "ok");
            if listing.skipped > 0 {
                warn!(
                    intake = %self.name,
                    source = source.as_str(),
                    skipped = listing.skipped,
                    first = listing.first_problem.as_deref().unwrap_or(""),
                    "listing entries skipped"
                );
            }
            let now = self.clock.now();
            let mut moved = Vec::new();
            let mut waiting = Vec::new();
            for quote in &listing.quotes {
                let Some((anchor, shift)) = anchors.observe(quote, self.min_shift_pct, now) else {
                    continue;
                };
                moved.push((quote.market.to_string(), anchor));
                let Some(shift) = shift else { continue };
                debug!(intake = %self.name, event_id = %shift.id, "price shift derived");
                let (ack, answer) = oneshot::channel();
                let delivery = Delivery {
                    intake: Arc::clone(&self.name),
                    raw: RawEvent {
                        id: Some(shift.id),
                        sse_event: None,
                        data: shift.json,
                        received_at: now,
                    },
                    key: None,
                    ack,
                };
                if self.tx.send(delivery).await.is_err() {
                    return Ok(false);
                }
                waiting.push(answer);
            }
            // Anchors move only once the events they passed are durable.
            for answer in waiting {
                tokio::select! {
                    answer = answer => if answer.is_err() { return Ok(false) },
                    _ = stop.changed() => return Ok(false),
                }
            }
            self.store.save_poll_anchors(&self.name, &moved)?;
        }
        Ok(true)
    }

    /// Count one listing call against today's cap, saved before the call. `false`: spent.
    fn spend_call(&self) -> Result<bool, crate::store::StoreError> {
        let today = self.clock.now().date_naive();
        let mut calls = match self.store.poll_calls(&self.name)? {
            Some(calls) if calls.day == today => calls,
            _ => PollCalls {
                day: today,
                calls: 0,
            },
        };
        let cap = self.settings.max_per_day;
        if cap > 0 && calls.calls >= cap {
            if calls.calls == cap {
                warn!(intake = %self.name, max_per_day = cap, "poll.max_per_day reached: no listing calls until the next UTC day");
                calls.calls += 1;
                self.store.save_poll_calls(&self.name, &calls)?;
            }
            crate::metrics::poll_request(&self.name, "capped");
            return Ok(false);
        }
        calls.calls += 1;
        self.store.save_poll_calls(&self.name, &calls)?;
        Ok(true)
    }
}

/// The HTTP client for `GET /v1/markets`.
struct ListingClient {
    http: reqwest::Client,
    base_url: String,
    auth: Option<HeaderValue>,
    redactor: Redactor,
}

impl ListingClient {
    async fn fetch(&self, source: Platform) -> Result<crate::wire::markets::Listing, PollError> {
        let mut url = endpoint(&self.base_url, "/v1/markets")?;
        url.query_pairs_mut()
            .append_pair("source", source.as_str())
            .append_pair("limit", &PAGE.to_string());
        let request = self.http.get(url).headers(auth_headers(&self.auth));
        let body = call(request, LISTING_CAP, &self.redactor).await?;
        let text = String::from_utf8_lossy(&body);
        decode_listing(&text, source).map_err(|reason| PollError::Decode {
            reason: self.redactor.clean(&reason),
        })
    }
}

#[cfg(test)]
mod tests;
