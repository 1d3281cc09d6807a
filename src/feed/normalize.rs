//! [`LineNormalizer`]: a pure, synchronous rewrite of a stream body into strict SSE.
//!
//! The Rekko stream is called SSE, yet the API's own examples read every non-empty line as a
//! JSON object. eventsource-client only speaks SSE and has quirks we must neutralise, so the
//! body is rewritten line by line before its parser sees it:
//!
//! - a bare JSON line `{...}` becomes its own event (`id:` + `data: {...}` + blank line), with
//!   the JSON's top-level `"id"` string as the SSE id when it has one;
//! - every SSE event block starts with an empty `id:` line, so an event without its own `id:`
//!   does not inherit the previous event's id (the SSE last-event-id buffer would make it look
//!   like a redelivered duplicate); the block's own `id:` line comes later and overrides it.
//!   It also keeps a block of unknown fields from tripping the parser's `InvalidEvent` error;
//! - `retry: N` values are recorded here, because eventsource-client ignores a `retry:` that
//!   arrives in a block without data;
//! - CR, LF and CRLF terminators all become LF, a leading BOM is dropped, lines split across
//!   chunks are joined, non-UTF-8 bytes are replaced (the parser would otherwise abort the
//!   connection) and a line longer than the cap is dropped with a warning;
//! - an event is held back until it is complete (its blank line) and dropped, with a warning
//!   and a count, once it grows past `feed.max_event_bytes`: SSE `data:` lines without a blank
//!   line between them would otherwise accumulate into one event without bound, in our memory,
//!   the client's and the store. What leaves is only ever whole events and heartbeat comments,
//!   which is also what the idle timeout counts as a sign of life ([`LineNormalizer::push`]).
//!
//! No I/O and no clock: it is tested on byte slices split at every position.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;

/// Default of `feed.max_event_bytes`: the largest event (the sum of its field lines) kept.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// A field line may carry a whole event's payload plus its field name.
const FIELD_NAME_SLACK: usize = 64;

/// Line buffers grown past this are released after use instead of being kept for reuse.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental rewriter: feed it response chunks with [`push`](Self::push), then call
/// [`finish`](Self::finish) when the body ends cleanly.
#[derive(Debug)]
pub struct LineNormalizer {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    max_line: usize,
    /// The current line outgrew `max_line`: skip bytes until its terminator.
    discarding: bool,
    /// The line being skipped is a bare JSON event (not a field line of a block).
    discarding_json: bool,
    /// The open block's lines, held until its blank line completes the event.
    block: Vec<u8>,
    max_event: usize,
    /// The open block outgrew `max_event`: skip its lines until its blank line.
    discarding_block: bool,
    /// The previous chunk ended in CR: a LF at the start of the next one belongs to it.
    after_cr: bool,
    /// No line has been completed yet (only the first line may carry a BOM).
    at_stream_start: bool,
    /// An SSE event block is open (a field line was emitted since the last blank line).
    in_block: bool,
    retry: Option<Duration>,
    dropped_lines: u64,
    dropped_events: u64,
}

impl Default for LineNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineNormalizer {
    pub fn new() -> Self {
        Self::with_max_event(MAX_EVENT_BYTES)
    }

    /// A normalizer keeping events of up to `max_event` bytes (`feed.max_event_bytes`).
    pub fn with_max_event(max_event: usize) -> Self {
        let mut normalizer = Self::with_max_line(max_event.saturating_add(FIELD_NAME_SLACK));
        normalizer.max_event = max_event;
        normalizer
    }

    /// A normalizer with a custom line cap (tests use small caps).
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            max_line,
            discarding: false,
            discarding_json: false,
            block: Vec::new(),
            max_event: usize::MAX,
            discarding_block: false,
            after_cr: false,
            at_stream_start: true,
            in_block: false,
            retry: None,
            dropped_lines: 0,
            dropped_events: 0,
        }
    }

    /// The latest `retry:` value seen on this body, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// How many over-long lines were dropped.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped_lines
    }

    /// How many events were dropped for outgrowing the event cap.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Consumes one chunk and returns the strict-SSE bytes of every event it completed (and of
    /// heartbeat comments between events). Empty output means no sign of life: a server that
    /// trickles bytes, or grows one event for ever, is not kept alive by it.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 32);
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr) && rest[0] == b'\n' {
                rest = &rest[1..];
                continue;
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.append(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    self.end_line(&mut out);
                    rest = &rest[end + 1..];
                }
                None => {
                    self.append(rest);
                    break;
                }
            }
        }
        out
    }

    /// The body ended cleanly. An unterminated last line is delivered only if it is a complete
    /// bare JSON object (JSON-lines servers may omit the final newline); a half-received line
    /// or SSE block is discarded, as the SSE spec requires.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.discarding) || line.is_empty() {
            return out;
        }
        let text = self.decode(&line);
        let complete_json =
            is_bare_json(&text) && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
        if complete_json {
            self.emit_json(&text, &mut out);
        } else if text.starts_with(':') && !self.in_block {
            // A heartbeat comment without its newline: nothing to deliver.
        } else {
            tracing::debug!("event stream ended inside a line; the partial line is discarded");
        }
        out
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.discarding {
            return;
        }
        if self.line.len() + bytes.len() > self.max_line {
            self.dropped_lines += 1;
            let start = if self.line.is_empty() {
                bytes
            } else {
                &self.line[..]
            };
            self.discarding_json = start
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t'))
                .is_some_and(|b| *b == b'{');
            self.line = Vec::new();
            self.discarding = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.discarding) {
            // A line past the cap makes its event too large: the whole event goes.
            self.at_stream_start = false;
            if !self.discarding_block {
                self.drop_event();
            }
            if std::mem::take(&mut self.discarding_json) {
                // A bare JSON line is an event of its own; an open block ends before it.
                if std::mem::take(&mut self.in_block) {
                    self.block.push(b'\n');
                    out.append(&mut self.block);
                    self.release_block();
                }
                self.discarding_block = false;
            } else {
                self.in_block = false;
                self.discarding_block = true;
            }
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        let text = self.decode(&line).into_owned();
        self.process_line(&text, out);
        line.clear();
        if line.capacity() <= KEEP_BUFFER_BYTES {
            self.line = line;
        }
    }

    /// UTF-8 text of a line, without the stream's leading BOM. Invalid bytes become U+FFFD:
    /// eventsource-client would otherwise end the connection, and the event still needs a
    /// decision (JSON with replaced bytes is judged by the decoder like any other payload).
    fn decode<'a>(&mut self, line: &'a [u8]) -> Cow<'a, str> {
        let bytes = match std::mem::take(&mut self.at_stream_start) {
            true => line.strip_prefix(BOM).unwrap_or(line),
            false => line,
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => {
                tracing::warn!("event stream line is not valid UTF-8; invalid bytes replaced");
                String::from_utf8_lossy(bytes)
            }
        }
    }

    fn process_line(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            if std::mem::take(&mut self.in_block) {
                self.block.push(b'\n');
                out.append(&mut self.block);
                self.release_block();
            }
            self.discarding_block = false;
            return;
        }
        if is_bare_json(text) {
            self.emit_json(text, out);
            return;
        }
        let comment = text.starts_with(':');
        if !comment {
            if let Some(retry) = field_value(text, "retry").and_then(parse_retry) {
                self.retry = Some(retry);
            }
        }
        if comment && !self.in_block && !self.discarding_block {
            // A heartbeat between events: passed on at once.
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
            return;
        }
        if self.discarding_block {
            return;
        }
        if !self.in_block {
            self.block.extend_from_slice(b"id:\n");
            self.in_block = true;
        }
        if self.block.len() + text.len() > self.max_event.saturating_add(FIELD_NAME_SLACK) {
            self.drop_event();
            self.in_block = false;
            self.discarding_block = true;
            return;
        }
        self.block.extend_from_slice(text.as_bytes());
        self.block.push(b'\n');
    }

    /// Counted here, logged by the transport (which keeps the total across connections).
    fn drop_event(&mut self) {
        self.dropped_events += 1;
        self.block = Vec::new();
    }

    /// The event cap (`feed.max_event_bytes`).
    pub fn max_event(&self) -> usize {
        self.max_event
    }

    /// Keeps the block buffer for reuse unless an event made it large.
    fn release_block(&mut self) {
        self.block.clear();
        if self.block.capacity() > KEEP_BUFFER_BYTES {
            self.block = Vec::new();
        }
    }

    /// A bare JSON line is a whole event on its own; an SSE block left open before it is
    /// closed first so the two cannot merge.
    fn emit_json(&mut self, text: &str, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.in_block) {
            self.block.push(b'\n');
            out.append(&mut self.block);
            self.release_block();
        }
        self.discarding_block = false;
        if text.len() > self.max_event {
            self.drop_event();
            return;
        }
        match json_id(text) {
            Some(id) => {
                out.extend_from_slice(b"id: ");
                out.extend_from_slice(id.as_bytes());
                out.push(b'\n');
            }
            None => out.extend_from_slice(b"id:\n"),
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

/// A line starting with `{` (after optional blanks) is a bare JSON event; no SSE field name
/// can start that way.
fn is_bare_json(text: &str) -> bool {
    text.trim_start_matches([' ', '\t']).starts_with('{')
}

/// The value of SSE field `name` on this line (one space after the colon is not part of it).
fn field_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// The SSE spec accepts a retry value made of ASCII digits only, in milliseconds.
fn parse_retry(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().map(Duration::from_millis)
}

#[derive(Deserialize)]
struct IdProbe {
    id: Option<serde_json::Value>,
}

/// The top-level `"id"` string of a JSON object, when it can stand on an SSE `id:` line.
fn json_id(text: &str) -> Option<String> {
    let probe: IdProbe = serde_json::from_str(text).ok()?;
    match probe.id? {
        serde_json::Value::String(id) if !id.is_empty() && !id.contains(['\r', '\n', '\0']) => {
            Some(id)
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
