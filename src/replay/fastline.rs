//! The fast path of [`Tape::read`](super::Tape::read): the common recording line decoded
//! straight from its bytes, with no JSON tree, no allocation and no copy.
//!
//! # Why a second decoder, and why it cannot disagree with the first
//! Replay must see exactly what the live run saw, so the reference is the live decoder
//! ([`crate::wire::decode_event`] over the payload, [`crate::signal::decode_signal`] over the
//! response) behind [`Tape::push_line`](super::Tape::push_line). It builds a
//! `serde_json::Value` per payload and per response: every key and string allocated, about
//! 3 µs a line, which would be most of a replay's time.
//!
//! This module reads the shapes nearly every line has (a well-formed `price_shift` or
//! `whale_alert`, with or without a usable signal response, as `export-events` and
//! `sim --record` write them) and answers `None`, "not mine", for anything it is not certain to
//! decode identically: escapes or control characters in strings, duplicate keys, nested values
//! it would have to skip, numbers it cannot read exactly as the live decoder does (see
//! `values`), timestamps not of the form
//! `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`, out-of-range or inconsistent values (the live decoder
//! words those reasons), unknown line fields, and every other event type. A `None` line goes to
//! the live decoder, so this path changes speed, never results: the property test
//! `prop_fast_path_agrees_with_the_live_decoder` generates lines around every one of these
//! rules and checks that the fast path either declines or agrees to the last bit.
//!
//! # Numbers and times
//! See [`values`]: how numbers and timestamps are read exactly as the live decoders read them.

use rust_decimal::Decimal;
use strategies::{Platform, Price, Recommendation, Side, Timestamp};

use scan::{Key, Layout, Scan};
#[cfg(test)]
use values::{decimal, timestamp};
use values::{read_decimal, read_timestamp};
pub(super) use values::{Dates, Reader};

mod scan;
mod values;

/// A `price_shift` or `whale_alert` line, borrowed from the line's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FastLine<'a> {
    pub id: &'a str,
    /// The payload's `type`, else the line's.
    pub event_type: &'a str,
    pub received_at: Timestamp,
    pub platform: Platform,
    /// Not yet checked against `MarketKey::new`: the tape does that when it first meets the
    /// market (and declines the line if it fails), so a known market costs a lookup only.
    pub market_id: &'a str,
    pub body: FastBody,
    /// The usable signal response and when it was applied (`signal_at`, else `received_at`).
    pub reply: Option<(Timestamp, FastSignal<'a>)>,
}

/// The event itself, market aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum FastBody {
    PriceShift {
        old_yes: Price,
        new_yes: Price,
        change_pct: Decimal,
        timestamp: Option<Timestamp>,
    },
    WhaleAlert {
        side: Option<Side>,
        flow: Option<Decimal>,
        price: Option<Price>,
        timestamp: Option<Timestamp>,
    },
}

/// A signal response that decodes to a `Signal` (never a failure: those decline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FastSignal<'a> {
    pub recommendation: Recommendation,
    pub edge: Decimal,
    pub probability: Option<Decimal>,
    pub expires_at: Option<Timestamp>,
    /// Already trimmed and lower-case, as the live decoder would make it.
    pub freshness: Option<&'a str>,
}

/// What the fast path learns from line to line: each object kind's keys in their order (see
/// [`scan`]). Only speed depends on it.
#[derive(Clone, Debug, Default)]
pub(super) struct Layouts {
    line: Layout<LineKey>,
    payload: Layout<PayloadKey>,
    signal: Layout<SignalKey>,
    dates: Dates,
}

/// Decode `line` (one NDJSON line, its newline included or not), or `None`: not mine.
#[cfg(test)]
pub(super) fn parse<'a>(line: &'a [u8], layouts: &mut Layouts) -> Option<FastLine<'a>> {
    let text = std::str::from_utf8(line).ok()?;
    let (fast, used) = parse_prefix(text, layouts)?;
    (used == text.len()).then_some(fast)
}

/// Decode the line at the start of `text` (lines read straight from the reader's buffer), or
/// `None`: not mine. With the line, the bytes it took, its newline included.
pub(super) fn parse_prefix<'a>(
    text: &'a str,
    layouts: &mut Layouts,
) -> Option<(FastLine<'a>, usize)> {
    let mut scan = Scan::new(text);
    let fields = line_fields(&mut scan, layouts)?;
    let used = scan.line_end()?;
    Some((fields.finish()?, used))
}

/// The line's fields as they are met; `finish` checks that the required ones came.
#[derive(Default)]
struct LineFields<'a> {
    id: Option<&'a str>,
    line_type: Option<&'a str>,
    data: Option<Payload<'a>>,
    received_at: Option<Timestamp>,
    /// `Some(None)`: `"signal": null`.
    signal: Option<Option<FastSignal<'a>>>,
    signal_at: Option<Option<Timestamp>>,
}

impl<'a> LineFields<'a> {
    fn finish(self) -> Option<FastLine<'a>> {
        let id = self.id.filter(|id| !id.is_empty())?;
        let line_type = self.line_type?;
        let data = self.data?;
        let received_at = self.received_at?;
        let event_type = match data.event_type {
            Some(event_type) => event_type,
            None => line_type,
        };
        let timestamp = data.timestamp.unwrap_or(None);
        let body = match event_type {
            "price_shift" => FastBody::PriceShift {
                old_yes: Price::new(data.old_yes?).ok()?,
                new_yes: Price::new(data.new_yes?).ok()?,
                change_pct: data.change_pct?,
                timestamp,
            },
            "whale_alert" => FastBody::WhaleAlert {
                side: data.side.unwrap_or(None),
                flow: data.flow.unwrap_or(None),
                price: match data.price.unwrap_or(None) {
                    Some(price) => Some(Price::new(price).ok()?),
                    None => None,
                },
                timestamp,
            },
            _ => return None,
        };
        let reply = match self.signal.flatten() {
            Some(signal) => Some((self.signal_at.flatten().unwrap_or(received_at), signal)),
            None => None,
        };
        Some(FastLine {
            id,
            event_type,
            received_at,
            platform: data.platform?,
            market_id: data.market_id?,
            body,
            reply,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum LineKey {
    Id,
    Type,
    Data,
    ReceivedAt,
    Signal,
    SignalAt,
    /// `signal_error`, `signal_pause_until`, `settlement`, anything new: not mine.
    Other,
}

impl Key for LineKey {
    fn of(text: &str) -> Self {
        match text {
            "id" => LineKey::Id,
            "type" => LineKey::Type,
            "data" => LineKey::Data,
            "received_at" => LineKey::ReceivedAt,
            "signal" => LineKey::Signal,
            "signal_at" => LineKey::SignalAt,
            _ => LineKey::Other,
        }
    }
}

fn line_fields<'a>(scan: &mut Scan<'a>, layouts: &mut Layouts) -> Option<LineFields<'a>> {
    let mut fields = LineFields::default();
    let Layouts {
        line,
        payload: payload_layout,
        signal: signal_layout,
        dates,
    } = layouts;
    scan.object(line, |scan, key| match key {
        LineKey::Id => set(&mut fields.id, scan.string()?),
        LineKey::Type => set(&mut fields.line_type, scan.string()?),
        LineKey::Data => set(&mut fields.data, payload(scan, payload_layout, dates)?),
        LineKey::ReceivedAt => set(
            &mut fields.received_at,
            scan.read(|rest| read_timestamp(rest, dates))?,
        ),
        LineKey::Signal => {
            let signal = scan.nullable(|scan| signal(scan, signal_layout, dates))?;
            set(&mut fields.signal, signal)
        }
        LineKey::SignalAt => {
            let at = scan.nullable(|scan| scan.read(|rest| read_timestamp(rest, dates)))?;
            set(&mut fields.signal_at, at)
        }
        LineKey::Other => None,
    })?;
    Some(fields)
}

/// Fill a field met for the first time; a repeated key declines (serde rejects the line,
/// a JSON tree keeps the last value: either way not something to guess at).
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// The payload's fields that a `price_shift` uses; all others are skipped.
#[derive(Default)]
struct Payload<'a> {
    event_type: Option<&'a str>,
    platform: Option<Platform>,
    market_id: Option<&'a str>,
    old_yes: Option<Decimal>,
    new_yes: Option<Decimal>,
    change_pct: Option<Decimal>,
    timestamp: Option<Option<Timestamp>>,
    side: Option<Option<Side>>,
    flow: Option<Option<Decimal>>,
    price: Option<Option<Decimal>>,
}

#[derive(Clone, Copy, Debug)]
enum PayloadKey {
    Type,
    Platform,
    MarketId,
    OldYes,
    NewYes,
    ChangePct,
    Timestamp,
    Side,
    Flow,
    Price,
    Other,
}

impl Key for PayloadKey {
    fn of(text: &str) -> Self {
        match text {
            "type" => PayloadKey::Type,
            "platform" => PayloadKey::Platform,
            "market_id" => PayloadKey::MarketId,
            "old_yes" => PayloadKey::OldYes,
            "new_yes" => PayloadKey::NewYes,
            "change_pct" => PayloadKey::ChangePct,
            "timestamp" => PayloadKey::Timestamp,
            "side" => PayloadKey::Side,
            "flow" => PayloadKey::Flow,
            "price" => PayloadKey::Price,
            _ => PayloadKey::Other,
        }
    }
}

fn payload<'a>(
    scan: &mut Scan<'a>,
    layout: &mut Layout<PayloadKey>,
    dates: &mut Dates,
) -> Option<Payload<'a>> {
    let mut data = Payload::default();
    let number = |scan: &mut Scan<'a>| scan.read(|rest| read_decimal(rest, Reader::Payload));
    scan.object(layout, |scan, key| match key {
        // An empty type falls back to the line's in the live decoder: rare, declined.
        PayloadKey::Type => set(
            &mut data.event_type,
            Some(scan.string()?).filter(|t| !t.is_empty())?,
        ),
        PayloadKey::Platform => set(&mut data.platform, scan.string()?.parse().ok()?),
        PayloadKey::MarketId => set(&mut data.market_id, scan.string()?),
        PayloadKey::OldYes => set(&mut data.old_yes, number(scan)?),
        PayloadKey::NewYes => set(&mut data.new_yes, number(scan)?),
        PayloadKey::ChangePct => set(&mut data.change_pct, number(scan)?),
        PayloadKey::Timestamp => {
            let at = scan.nullable(|scan| scan.read(|rest| read_timestamp(rest, dates)))?;
            set(&mut data.timestamp, at)
        }
        // The live decoder reads `side` case-insensitively; only the usual lower case is mine.
        PayloadKey::Side => {
            let side = scan.nullable(|scan| match scan.string()? {
                "yes" => Some(Side::Yes),
                "no" => Some(Side::No),
                _ => None,
            })?;
            set(&mut data.side, side)
        }
        PayloadKey::Flow => {
            let flow = scan.nullable(|scan| number(scan))?;
            set(&mut data.flow, flow)
        }
        PayloadKey::Price => {
            let price = scan.nullable(|scan| number(scan))?;
            set(&mut data.price, price)
        }
        PayloadKey::Other => scan.skip_scalar(),
    })?;
    Some(data)
}

#[derive(Clone, Copy, Debug)]
enum SignalKey {
    Recommendation,
    Edge,
    Probability,
    ExpiresAt,
    Freshness,
    Other,
}

impl Key for SignalKey {
    fn of(text: &str) -> Self {
        match text {
            "recommendation" => SignalKey::Recommendation,
            "edge" => SignalKey::Edge,
            "probability" => SignalKey::Probability,
            "expires_at" => SignalKey::ExpiresAt,
            "freshness" => SignalKey::Freshness,
            _ => SignalKey::Other,
        }
    }
}

fn signal<'a>(
    scan: &mut Scan<'a>,
    layout: &mut Layout<SignalKey>,
    dates: &mut Dates,
) -> Option<FastSignal<'a>> {
    let mut recommendation = None;
    let mut edge = None;
    let mut probability = None;
    let mut expires_at = None;
    let mut freshness = None;
    scan.object(layout, |scan, key| match key {
        SignalKey::Recommendation => set(
            &mut recommendation,
            match scan.string()? {
                "BUY_YES" => Recommendation::BuyYes,
                "BUY_NO" => Recommendation::BuyNo,
                "NO_TRADE" => Recommendation::NoTrade,
                _ => return None,
            },
        ),
        SignalKey::Edge => set(
            &mut edge,
            scan.read(|rest| read_decimal(rest, Reader::Signal))?,
        ),
        SignalKey::Probability => {
            let p = scan.nullable(|scan| scan.read(|rest| read_decimal(rest, Reader::Signal)))?;
            set(&mut probability, p)
        }
        SignalKey::ExpiresAt => {
            let at = scan.nullable(|scan| scan.read(|rest| read_timestamp(rest, dates)))?;
            set(&mut expires_at, at)
        }
        SignalKey::Freshness => {
            let text = scan.nullable(|scan| scan.string())?;
            let normal = |t: &&str| t.trim() == *t && !t.bytes().any(|b| b.is_ascii_uppercase());
            if text.is_some_and(|t| !normal(&t)) {
                return None;
            }
            set(&mut freshness, text)
        }
        SignalKey::Other => scan.skip_scalar(),
    })?;
    let recommendation = recommendation?;
    let edge = edge?;
    // The live decoder refuses these with a reason (a failed reply): its words, not ours.
    // Compared on mantissas (a decimal is `mantissa / 10^scale`): cheaper than decimals.
    let one = |d: Decimal| 10i128.pow(d.scale());
    let consistent = match recommendation {
        Recommendation::BuyYes => edge.mantissa() >= 0,
        Recommendation::BuyNo => edge.mantissa() <= 0,
        Recommendation::NoTrade => true,
    };
    if edge.mantissa().abs() > one(edge) || !consistent {
        return None;
    }
    let probability = probability.flatten();
    // Out of range is dropped with a log by the live decoder: declined here.
    if probability.is_some_and(|p| p.mantissa() < 0 || p.mantissa() > one(p)) {
        return None;
    }
    Some(FastSignal {
        recommendation,
        edge,
        probability,
        expires_at: expires_at.flatten(),
        freshness: freshness.flatten(),
    })
}

#[cfg(test)]
#[path = "fastline_tests.rs"]
mod tests;
