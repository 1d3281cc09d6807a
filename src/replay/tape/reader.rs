//! Reading a recording into a [`Tape`]: lines are cut from the reader's own buffer, not
//! copied out one by one, and each is decoded where it lies ([`Tape::push_line`]) by the
//! decoders the live run used; only a line cut by the end of the buffer is copied.

use std::io::BufRead;

use serde::Deserialize;
use serde_json::value::RawValue;
use strategies::{SignalReply, Timestamp};

use super::{RecordedReply, Tape, TapeError};
use crate::replay::record::payload_text;
use crate::replay::settlement::{PlacedSettlement, Settlement};
use crate::signal::decode::{decode_fields as decode_signal_fields, SignalIn};
use crate::signal::decode_signal;
use crate::wire;
use crate::wire::json::{self, Object};
use crate::wire::PayloadIn;

/// The buffer to read a recording through (`shiftbot replay` and the replay benchmark). A
/// buffer of lines and the chunk of tape decoded from it are used at once by the decoder and
/// the replay, so 256 KiB keeps both within a core's own cache on common machines while read
/// calls stay few. Measured with the benchmark's `REPLAY_BUFFER`: 64 KiB to 1 MiB were equally
/// fast within noise on the 2-core VM.
pub const READ_BUFFER: usize = 256 * 1024;

/// The borrowed shape of a line, for reading (the owned one is [`super::RecordLine`]), with its
/// payload `D` and response `S` read as whole raw values ([`LineIn`]) or, for the common line in
/// one pass, straight into the decoders' own typed structs ([`TypedLine`]), so that no part of
/// the line is scanned twice. Lines the typed read does not fit (a payload that is not an
/// object, a field given twice, a settlement, an id that is not usable and must be derived from
/// the payload's text) are read as [`LineIn`]; either way the same functions decode the same
/// fields.
#[derive(Deserialize)]
struct Line<'a, D, S> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    data: D,
    #[serde(deserialize_with = "json::line_time")]
    received_at: Timestamp,
    #[serde(default = "none")]
    signal: Option<S>,
    #[serde(default, deserialize_with = "json::line_time_opt")]
    signal_at: Option<Timestamp>,
    #[serde(default)]
    signal_error: Option<String>,
    #[serde(default)]
    signal_pause_until: Option<Timestamp>,
    /// Only on settlement lines: what marks them.
    #[serde(default, borrow)]
    settlement: Option<&'a RawValue>,
}

/// `Option::default` without requiring `S: Default`.
fn none<S>() -> Option<S> {
    None
}

type LineIn<'a> = Line<'a, &'a RawValue, &'a RawValue>;
type TypedLine<'a> = Line<'a, Object<PayloadIn<'a>>, Object<SignalIn<'a>>>;

/// A line's recorded reply: its decoded response, else its recorded failure, else none.
fn reply(
    response: Option<Result<strategies::Signal, String>>,
    error: Option<String>,
    pause_until: Option<Timestamp>,
) -> Option<SignalReply> {
    match (response, error) {
        (Some(Ok(signal)), _) => Some(SignalReply::Signal(signal)),
        (Some(Err(reason)), _) => Some(SignalReply::Failed {
            reason,
            pause_until: None,
        }),
        (None, Some(reason)) => Some(SignalReply::Failed {
            reason,
            pause_until,
        }),
        (None, None) => None,
    }
}

/// Where reading is, for errors: the source's name and the last line number handed out.
struct Lines<'a> {
    origin: &'a str,
    number: u64,
}

impl Lines<'_> {
    fn next(&mut self) -> u64 {
        self.number += 1;
        self.number
    }

    fn error(&self, message: String) -> TapeError {
        TapeError::Line {
            origin: self.origin.to_string(),
            line: self.number,
            message,
        }
    }

    fn full(&self) -> TapeError {
        TapeError::TooLarge {
            origin: self.origin.to_string(),
        }
    }
}

/// A recording read a buffer of lines at a time into a tape: all at once by [`Tape::read`],
/// or chunk by chunk by a streaming replay (the tape cleared of events between chunks).
pub struct TapeReader<'a, R> {
    reader: R,
    lines: Lines<'a>,
    /// The start of a line that the end of the buffer cut.
    carry: Vec<u8>,
}

impl<'a, R: BufRead> TapeReader<'a, R> {
    pub fn new(reader: R, origin: &'a str) -> TapeReader<'a, R> {
        TapeReader {
            reader,
            lines: Lines { origin, number: 0 },
            carry: Vec::new(),
        }
    }

    /// Append the lines of the reader's next buffer to `tape`. `false`: the input has ended
    /// (and its last line, if it had no newline, is appended too).
    pub fn read_more(&mut self, tape: &mut Tape) -> Result<bool, TapeError> {
        let buffer = self.reader.fill_buf().map_err(|source| TapeError::Io {
            origin: self.lines.origin.to_string(),
            source,
        })?;
        if buffer.is_empty() {
            if !self.carry.is_empty() {
                tape.push_block(&self.carry, &mut self.lines)?;
                self.carry.clear();
            }
            return Ok(false);
        }
        let len = buffer.len();
        match buffer.iter().rposition(|&b| b == b'\n') {
            None => self.carry.extend_from_slice(buffer),
            Some(last) => {
                let mut start = 0;
                if !self.carry.is_empty() {
                    let first = buffer.iter().position(|&b| b == b'\n').unwrap_or(last);
                    self.carry.extend_from_slice(&buffer[..=first]);
                    tape.push_block(&self.carry, &mut self.lines)?;
                    self.carry.clear();
                    start = first + 1;
                }
                tape.push_block(&buffer[start..=last], &mut self.lines)?;
                self.carry.extend_from_slice(&buffer[last + 1..]);
            }
        }
        self.reader.consume(len);
        Ok(true)
    }
}

impl Tape {
    /// Read a recording; `origin` names it in errors (a path, or "stdin").
    pub fn read(reader: impl BufRead, origin: &str) -> Result<Tape, TapeError> {
        let mut tape = Tape::default();
        let mut lines = TapeReader::new(reader, origin);
        while lines.read_more(&mut tape)? {}
        Ok(tape)
    }

    /// Whole lines (the last may lack its newline only at the end of the input). One UTF-8
    /// check for the block; if it fails, line by line, so that the error names the line.
    fn push_block(&mut self, block: &[u8], lines: &mut Lines<'_>) -> Result<(), TapeError> {
        if let Ok(text) = std::str::from_utf8(block) {
            return self.push_text(text, lines);
        }
        for line in block.split_inclusive(|&b| b == b'\n') {
            match std::str::from_utf8(line) {
                Ok(text) => self.push_text(text, lines)?,
                Err(e) => {
                    lines.next();
                    return Err(lines.error(format!("not UTF-8: {e}")));
                }
            }
        }
        Ok(())
    }

    /// Decode one NDJSON line and append it. `Ok(false)`: the tape is full.
    pub fn push_line(&mut self, line: &str) -> Result<bool, String> {
        if let Ok(typed) = serde_json::from_str::<TypedLine<'_>>(line) {
            if typed.settlement.is_none() && wire::usable_id(&typed.id) {
                let event = wire::decode_fields(typed.id, Some(&typed.event_type), &typed.data.0);
                let response = typed.signal.map(|s| decode_signal_fields(&s.0));
                let reply = reply(response, typed.signal_error, typed.signal_pause_until);
                let at = typed.signal_at.unwrap_or(typed.received_at);
                let reply = reply.map(|reply| RecordedReply { at, reply });
                return Ok(self.push(&event, typed.received_at, reply));
            }
        }
        self.push_line_in_parts(line)
    }

    /// [`Tape::push_line`] for any line: the line first, then its payload and response from
    /// their own text.
    pub(in crate::replay) fn push_line_in_parts(&mut self, line: &str) -> Result<bool, String> {
        let parsed: LineIn<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if let Some(object) = parsed.settlement {
            let settlement = Settlement::from_line(&parsed.id, parsed.received_at, object.get())?;
            self.settlements.push(PlacedSettlement {
                position: self.slots.len(),
                settlement,
            });
            return Ok(true);
        }
        let data = payload_text(parsed.data)?;
        let event = wire::decode(Some(&parsed.id), Some(&parsed.event_type), &data);
        let at = parsed.signal_at.unwrap_or(parsed.received_at);
        let response = parsed.signal.map(|s| decode_signal(s.get()));
        let reply = reply(response, parsed.signal_error, parsed.signal_pause_until);
        let reply = reply.map(|reply| RecordedReply { at, reply });
        Ok(self.push(&event, parsed.received_at, reply))
    }

    fn push_text(&mut self, text: &str, lines: &mut Lines<'_>) -> Result<(), TapeError> {
        for line in text.split_inclusive('\n') {
            lines.next();
            if line.trim().is_empty() {
                continue;
            }
            match self.push_line(line) {
                Ok(true) => {}
                Ok(false) => return Err(lines.full()),
                Err(message) => return Err(lines.error(message)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
