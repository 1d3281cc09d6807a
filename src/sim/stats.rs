//! [`SimStats`]: what the simulator saw and sent, for tests and the benchmark to assert on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

/// Recorded lists stop growing past this many entries (the counters keep counting), so a
/// long-running standalone simulator does not grow without bound.
pub const RECORD_CAP: usize = 100_000;

/// Counters and recordings, shared by every endpoint. Readable at any time.
#[derive(Debug, Default)]
pub struct SimStats {
    stream_connections: AtomicU64,
    last_event_ids: Mutex<Vec<Option<String>>>,
    signal_calls: AtomicU64,
    signal_bodies: Mutex<Vec<Value>>,
    signal_responses: Mutex<Vec<Value>>,
    shadow_calls: AtomicU64,
    shadow_trades: Mutex<Vec<Value>>,
    auth_failures: AtomicU64,
    events_sent: AtomicU64,
    ws_connections: AtomicU64,
    ws_pongs: AtomicU64,
    market_listings: AtomicU64,
    webhook_calls: AtomicU64,
    pushes: AtomicU64,
    push_failures: AtomicU64,
}

fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
    if list.len() < RECORD_CAP {
        list.push(item);
    }
}

fn snapshot<T: Clone>(list: &Mutex<Vec<T>>) -> Vec<T> {
    list.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

impl SimStats {
    /// Stream connections accepted (authorized requests to `/v1/stream`).
    pub fn stream_connections(&self) -> u64 {
        self.stream_connections.load(Ordering::SeqCst)
    }

    /// The `Last-Event-ID` header of each stream connection, in order (None when absent).
    pub fn last_event_ids(&self) -> Vec<Option<String>> {
        snapshot(&self.last_event_ids)
    }

    /// Authorized `/v1/signals` requests, including those answered with an injected failure.
    pub fn signal_calls(&self) -> u64 {
        self.signal_calls.load(Ordering::SeqCst)
    }

    /// Body of each `/v1/signals` request (a JSON string holding the raw text if it was not JSON).
    pub fn signal_bodies(&self) -> Vec<Value> {
        snapshot(&self.signal_bodies)
    }

    /// Each successful (200) signal answer, as sent.
    pub fn signal_responses(&self) -> Vec<Value> {
        snapshot(&self.signal_responses)
    }

    /// Authorized `/v1/trades/shadow` requests, including rejected and fault-injected ones.
    pub fn shadow_calls(&self) -> u64 {
        self.shadow_calls.load(Ordering::SeqCst)
    }

    /// Body of each accepted (200) shadow trade.
    pub fn shadow_trades(&self) -> Vec<Value> {
        snapshot(&self.shadow_trades)
    }

    /// Requests refused with 401 for a missing or wrong bearer token.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::SeqCst)
    }

    /// WebSocket connections accepted.
    pub fn ws_connections(&self) -> u64 {
        self.ws_connections.load(Ordering::SeqCst)
    }

    /// Pongs received on WebSocket connections (JSON `{"type":"pong"}` and protocol pongs).
    pub fn ws_pongs(&self) -> u64 {
        self.ws_pongs.load(Ordering::SeqCst)
    }

    /// `GET /v1/markets` requests answered.
    pub fn market_listings(&self) -> u64 {
        self.market_listings.load(Ordering::SeqCst)
    }

    /// Authorized `/v1/webhooks` requests (create, list, delete): each is billed by the API.
    pub fn webhook_calls(&self) -> u64 {
        self.webhook_calls.load(Ordering::SeqCst)
    }

    /// Webhook POSTs answered 2xx by their receiver (redeliveries included).
    pub fn pushes(&self) -> u64 {
        self.pushes.load(Ordering::SeqCst)
    }

    /// Webhook POSTs that failed (an error or a non-2xx answer), each retried.
    pub fn push_failures(&self) -> u64 {
        self.push_failures.load(Ordering::SeqCst)
    }

    /// Returns the connection's number, from 1.
    pub(crate) fn ws_connected(&self) -> u64 {
        self.ws_connections.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn ws_pong(&self) {
        self.ws_pongs.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn market_listed(&self) {
        self.market_listings.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn webhook_call(&self) {
        self.webhook_calls.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn pushed(&self, ok: bool) {
        match ok {
            true => self.pushes.fetch_add(1, Ordering::SeqCst),
            false => self.push_failures.fetch_add(1, Ordering::SeqCst),
        };
    }

    /// Events written to stream connections (redeliveries included).
    pub fn events_sent(&self) -> u64 {
        self.events_sent.load(Ordering::SeqCst)
    }

    pub(crate) fn stream_connected(&self, last_event_id: Option<String>) {
        self.stream_connections.fetch_add(1, Ordering::SeqCst);
        push(&self.last_event_ids, last_event_id);
    }

    pub(crate) fn signal_called(&self, body: Value) {
        self.signal_calls.fetch_add(1, Ordering::SeqCst);
        push(&self.signal_bodies, body);
    }

    pub(crate) fn signal_answered(&self, response: Value) {
        push(&self.signal_responses, response);
    }

    pub(crate) fn shadow_called(&self) {
        self.shadow_calls.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn shadow_accepted(&self, body: Value) {
        push(&self.shadow_trades, body);
    }

    pub(crate) fn auth_failed(&self) {
        self.auth_failures.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn events_written(&self, count: u64) {
        self.events_sent.fetch_add(count, Ordering::SeqCst);
    }
}
