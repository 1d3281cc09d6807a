//! Event sources: producers of [`RawEvent`]s.
//!
//! A source is anything that pushes `RawEvent`s into a `tokio::sync::mpsc::Sender<RawEvent>`
//! until it is told to shut down; everything downstream (decoding, deduplication by id,
//! decisions, persistence) is shared. Today there is one source, the Rekko stream
//! ([`run_stream`]); a webhook receiver, a WebSocket feed or a replay file would be other
//! functions with the same output.
//!
//! Layout:
//! - [`normalize`]: pure rewrite of a stream body (SSE and bare JSON lines) into strict SSE.
//! - [`backoff`]: pure reconnect schedule (exponential, equal jitter, cap, reset).
//! - `transport`: the hyper transport under eventsource-client, normalizing bodies.
//! - `stream`: the connect/reconnect loop.

pub mod backoff;
pub mod normalize;
mod stream;
mod transport;

#[cfg(test)]
mod reconnect_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod test_server;

use std::time::Duration;

pub use stream::run_stream;

/// One event as received from a source, before any decoding or validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// Id sent by the server (SSE `id:` field, or an `"id"` field of a bare JSON line); None if
    /// absent/empty.
    pub id: Option<String>,
    /// SSE `event:` name when it was set and not the default "message"; None for bare JSON lines.
    pub sse_event: Option<String>,
    /// The JSON payload text exactly as received (one JSON object carrying "type").
    pub data: String,
    /// When the event was received, from the injected clock.
    pub received_at: strategies::Timestamp,
}

/// Settings of the Rekko stream source, filled by the configuration module from `[feed]`.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// e.g. `https://api.rekko.ai` or `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Event types requested: `GET {base_url}/v1/stream?events=price_shift,whale_alert`.
    pub events: Vec<String>,
    /// Sent as `Authorization: Bearer <key>`; never logged or put in error text.
    pub api_key: Option<crate::configuration::Secret>,
    pub connect_timeout: Duration,
    /// No complete event (nor heartbeat) for this long: reconnect.
    pub idle_timeout: Duration,
    /// Events larger than this are dropped (`feed.max_event_bytes`).
    pub max_event_bytes: usize,
    pub backoff_initial: Duration,
    /// Cap of the reconnect delay (5 minutes by default).
    pub backoff_max: Duration,
}

/// Errors that stop a source for good; everything else is retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The server refused the credentials (401/403): retrying cannot help.
    #[error(
        "the event stream refused the request with HTTP {status}: the API key is missing, \
         invalid or not allowed to stream (set REKKO_API_KEY)"
    )]
    Unauthorized { status: u16 },
    /// `feed.base_url` (with the events query) does not form a usable http(s) URL.
    #[error("feed.base_url {url:?} is not a usable stream URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The API key cannot be sent in an HTTP header (e.g. it contains a newline).
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    InvalidApiKey,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for the event stream: {0}")]
    Transport(String),
}
