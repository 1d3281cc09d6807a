//! The recording format (NDJSON, one received event per line) and `export-events`.
//!
//! ```json
//! {"id":"17","type":"price_shift","data":{...},"received_at":"2026-01-01T00:00:03.4Z",
//!  "signal":{...},"signal_at":"2026-01-01T00:00:03.41Z"}
//! ```
//! - `id`: the event id the bot knew the event by (the server's, or the one derived from the
//!   content); `type`: the event type it decoded.
//! - `data`: the payload as received: the JSON object's own text when the payload was a JSON
//!   object (keys in their order, numbers digit for digit, so that replay decodes exactly what
//!   the live run decoded), otherwise the raw payload text as a JSON string (garbage replays as
//!   the same garbage).
//! - `received_at`: when the bot received it (full precision): the decision clock of the event.
//! - `signal`: the `/v1/signals` response JSON as received for this event, or `null` when no
//!   response body was received (the event was not signalled, or the request failed).
//!
//! Extra fields (readers must ignore unknown ones; these are only written when they apply):
//! - `signal_at`: when the signal reply was applied (the decision's `decided_at`), so replay
//!   delivers it at the same point of the timeline as the live run did.
//! - `signal_error`: the request was made but failed for good (after retries) without a usable
//!   body; the reason, as decided (`signal_error` outcome).
//! - `signal_pause_until`: that failure paused all signal requests until then (a 429 with a
//!   date), as far as the store shows it.
//!
//! Settlements (the resolution poller's or `shiftbot settle`'s settle trades) are lines of their
//! own, marked by a top-level `settlement` field (see [`super::settlement`]). Each goes before
//! the first event received after it: the live engine gives a settlement a decision time of its
//! own, after every decision made before it and before every event taken after it, so this is
//! the order it happened in, and replay applies it there.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use strategies::{Outcome, Timestamp, TradeAction};

use super::settlement::{settlements_from_trades, Settlement};
use crate::store::{DecisionRecord, EventRecord, Store, StoreError};
use crate::wire::Json;

/// How the core words a refusal while signal requests are paused (see `Core::check_pause`):
/// `signals paused until <rfc3339>: <reason of the failure that paused them>`.
const PAUSE_PREFIX: &str = "signals paused until ";

/// How the core appends an exit to a decision's reason (see `exits::Closes::annotate`).
const CLOSE_NOTE: &str = "; closed ";

/// One line of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordLine {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Json,
    pub received_at: Timestamp,
    pub signal: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_pause_until: Option<Timestamp>,
}

impl RecordLine {
    /// The line for a stored event, with the signal its decision was based on (if any).
    pub fn from_store(event: &EventRecord, signal: Option<&RecordedSignal>) -> RecordLine {
        RecordLine {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            data: payload_value(&event.data),
            received_at: event.received_at,
            signal: signal.and_then(|s| s.response.clone()),
            signal_at: signal.map(|s| s.at),
            signal_error: signal.and_then(|s| s.error.clone()),
            signal_pause_until: signal.and_then(|s| s.pause_until),
        }
    }

    /// Write as one NDJSON line.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

/// `data` of a line: the JSON object's text when the payload is one, else the payload text
/// as a JSON string.
pub fn payload_value(data: &str) -> Json {
    match Json::parse(data) {
        Ok(object) if object.get().starts_with('{') => object,
        _ => Json::from_value(&Value::String(data.to_string())),
    }
}

/// The payload text to decode again from a line's `data` (the inverse of [`payload_value`]
/// up to whitespace): a JSON string is the payload itself (it was not a JSON object), anything
/// else is the payload's JSON text, borrowed.
pub fn payload_text(data: &RawValue) -> Result<Cow<'_, str>, String> {
    let text = data.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .map_err(|e| format!("data: {e}"))
    } else {
        Ok(Cow::Borrowed(text))
    }
}

/// What a signal request for an event came to, as far as the store tells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedSignal {
    /// The response JSON as received; `None` when the request failed without a usable body.
    pub response: Option<Json>,
    /// When the reply was applied (the decision's `decided_at`).
    pub at: Timestamp,
    /// The failure, when there was no response.
    pub error: Option<String>,
    pub pause_until: Option<Timestamp>,
}

/// Counts of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub events: u64,
    pub signalled: u64,
    /// Settlement lines written.
    pub settlements: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the events: {0}")]
    Io(#[from] io::Error),
    #[error("cannot export the settlements: {0}")]
    Settlement(String),
}

/// Write every stored event received at or after `since` (all when `None`), in intake order,
/// with the signal response its decision was based on; and every settlement made at or after
/// `since`, before the first event received after it (see the module docs).
pub fn export_events(
    store: &Store,
    since: Option<Timestamp>,
    out: &mut dyn Write,
) -> Result<ExportStats, ExportError> {
    let signals = recorded_signals(store.decisions())?;
    // Settlements before the last archived event went into the archive with it.
    let archived_through = store.archive_state()?.through;
    let settlements = recorded_settlements(store, since.max(archived_through))?;
    let mut settlements = settlements.iter().peekable();
    let mut stats = ExportStats::default();
    for event in store.events() {
        let event = event?;
        if since.is_some_and(|since| event.received_at < since) {
            continue;
        }
        while let Some(settlement) = settlements.next_if(|s| s.at < event.received_at) {
            settlement.write(out)?;
            stats.settlements += 1;
        }
        let signal = signals.get(&event.seq);
        RecordLine::from_store(&event, signal).write(out)?;
        stats.events += 1;
        stats.signalled += u64::from(signal.is_some());
    }
    for settlement in settlements {
        settlement.write(out)?;
        stats.settlements += 1;
    }
    out.flush()?;
    Ok(stats)
}

/// The settlements in the store's ledger made at or after `since`, in time order (ledger order
/// for equal times).
pub(crate) fn recorded_settlements(
    store: &Store,
    since: Option<Timestamp>,
) -> Result<Vec<Settlement>, ExportError> {
    // Only settle trades (and read errors) are kept: the ledger may be long.
    let trades = store
        .trades()
        .filter(|t| !matches!(t, Ok(t) if t.action != TradeAction::Settle))
        .collect::<Result<Vec<_>, _>>()?;
    settlements_since(trades, since)
}

/// The settlements these settle trades make, from `since` on, in time order.
pub(crate) fn settlements_since(
    settle_trades: Vec<strategies::Trade>,
    since: Option<Timestamp>,
) -> Result<Vec<Settlement>, ExportError> {
    let mut settlements =
        settlements_from_trades(settle_trades).map_err(ExportError::Settlement)?;
    settlements.retain(|s| since.is_none_or(|since| s.at >= since));
    settlements.sort_by_key(|s| s.at);
    Ok(settlements)
}

/// The signal replies of these decisions (in the order they were made), by event intake seq.
/// Only decisions that went through a signal request are kept, so this stays small next to the
/// event log.
pub(crate) fn recorded_signals(
    decisions: impl IntoIterator<Item = Result<DecisionRecord, StoreError>>,
) -> Result<HashMap<u64, RecordedSignal>, StoreError> {
    let mut signals: HashMap<u64, (u64, RecordedSignal)> = HashMap::new();
    let mut failures: Vec<(u64, String)> = Vec::new();
    let mut pauses: Vec<(u64, Timestamp, String)> = Vec::new();
    for record in decisions {
        let record = record?;
        if let Some(pause) = pause_refusal(&record) {
            pauses.push((record.seq, pause.0, pause.1));
            continue;
        }
        let Some(signal) = signal_of(&record) else {
            continue;
        };
        if let Some(error) = &signal.error {
            failures.push((record.event_seq, error.clone()));
        }
        signals.insert(record.event_seq, (record.seq, signal));
    }
    // A failure that paused signal requests shows in the refusals it caused: the first later
    // pause refusal quoting its reason names the end of the pause.
    for (event_seq, reason) in failures {
        if let Some((seq, signal)) = signals.get_mut(&event_seq) {
            signal.pause_until = pauses
                .iter()
                .find(|(at_seq, _, why)| *at_seq > *seq && *why == reason)
                .map(|(_, until, _)| *until);
        }
    }
    Ok(signals.into_iter().map(|(k, (_, s))| (k, s)).collect())
}

/// The reply a decision was based on, when it went through a signal request: a signal was
/// received (or a response body that failed to decode), or the request failed for good. An
/// immediate refusal is decided at the event's own receive time; a failed request is decided
/// when its reply came back, later.
fn signal_of(record: &DecisionRecord) -> Option<RecordedSignal> {
    let decision = &record.decision;
    let response = record.signal_raw.clone().or_else(|| {
        decision
            .signal
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .map(|value| Json::from_value(&value))
    });
    if response.is_some() {
        return Some(RecordedSignal {
            response,
            at: decision.decided_at,
            error: None,
            pause_until: None,
        });
    }
    if decision.outcome != Outcome::SignalError || decision.reason.starts_with(PAUSE_PREFIX) {
        return None;
    }
    let closes = decision
        .trades
        .iter()
        .filter(|t| t.action != TradeAction::Open)
        .count();
    Some(RecordedSignal {
        response: None,
        at: decision.decided_at,
        error: Some(strip_close_notes(&decision.reason, closes).to_string()),
        pause_until: None,
    })
}

/// `(until, reason)` of a refusal made while signal requests were paused.
fn pause_refusal(record: &DecisionRecord) -> Option<(Timestamp, String)> {
    let decision = &record.decision;
    if decision.outcome != Outcome::SignalError {
        return None;
    }
    let rest = decision.reason.strip_prefix(PAUSE_PREFIX)?;
    let (until, reason) = rest.split_once(": ")?;
    let until = chrono::DateTime::parse_from_rfc3339(until).ok()?;
    let closes = decision.trades.len();
    Some((
        until.with_timezone(&chrono::Utc),
        strip_close_notes(reason, closes).to_string(),
    ))
}

/// The reason before the `; closed ...` notes of `closes` exits.
fn strip_close_notes(reason: &str, closes: usize) -> &str {
    let mut text = reason;
    for _ in 0..closes {
        match text.rfind(CLOSE_NOTE) {
            Some(at) => text = &text[..at],
            None => break,
        }
    }
    text
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
