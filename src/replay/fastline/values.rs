//! Numbers and timestamps read exactly as the live decoders read them, or declined.
//!
//! Without serde_json's `arbitrary_precision`, the live decoder reads a fractional number as
//! an `f64` and re-reads the decimal from its shortest text (`ryu` for payloads, `Display` for
//! signals). For `-?I.F` with no exponent, no trailing zero in `F`, at most 15 significant
//! digits and at most four zeros right after the point when `I` is 0, both print back exactly
//! the digits written (15 digits always survive a round trip through `f64`; neither printer
//! switches to an exponent in that range), so the decimal is read from the digits directly.
//! A whole float `I.0` (what serde_json writes for one) prints back as `I.0` from `ryu` and
//! `I` from `Display` ([`Reader`]). Integers of up to 18 digits are exact either way.
//! Everything else declines.
//!
//! Both are read in one pass straight from the line ([`read_decimal`], [`read_timestamp`]):
//! a number's digits are checked and summed as they are met, and a timestamp needs no string
//! scan, since its one accepted form has no quote, escape or control character in it. A
//! line's four timestamps share a few texts and minutes, so [`Dates`] remembers the last two
//! of each: a text seen just before costs a comparison of its bytes, a new second in a known
//! minute the parse of its seconds, and only a new minute consults the calendar.

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use strategies::Timestamp;

/// Which live reader a number must match: they differ on whole floats (`10.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::replay) enum Reader {
    /// `wire::decimal_value`: an `f64` printed by `ryu`, so `10.0` stays `10.0`.
    Payload,
    /// The signal decoder: an `f64` printed by `Display`, so `10.0` becomes `10`.
    Signal,
}

/// A decimal exactly as the live `reader` reads the JSON number `text` (see the module docs),
/// or `None` where it might not.
#[cfg(test)]
pub(in crate::replay) fn decimal(text: &[u8], reader: Reader) -> Option<Decimal> {
    let (value, used) = read_decimal(text, reader)?;
    (used == text.len()).then_some(value)
}

/// The JSON number at the start of `bytes`, read in one pass as `decimal` reads a whole
/// text, with the bytes it took. A number glued to more number-like bytes (`1.5.2`, `1e5`,
/// `0123`) declines, as the run of them would as one text.
#[inline(always)]
pub(in crate::replay) fn read_decimal(bytes: &[u8], reader: Reader) -> Option<(Decimal, usize)> {
    let digit = |at: usize| {
        bytes
            .get(at)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|d| *d < 10)
    };
    let negative = bytes.first() == Some(&b'-');
    let int_start = usize::from(negative);
    let mut at = int_start;
    // Accepted numbers have at most 18 digits that count (see below), so the mantissa cannot
    // overflow; declined ones may wrap, and are thrown away.
    let mut mantissa: i64 = 0;
    while let Some(d) = digit(at) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(i64::from(d));
        at += 1;
    }
    let int_len = at - int_start;
    if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let int_zero = int_len == 1 && mantissa == 0;
    let mut scale = 0u32;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let frac_start = at;
        let mut zeros = 0usize;
        while let Some(d) = digit(at) {
            if d == 0 && mantissa == 0 {
                zeros += 1;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(i64::from(d));
            at += 1;
        }
        let frac_len = at - frac_start;
        if frac_len == 0 {
            return None;
        }
        if frac_len == 1 && bytes[frac_start] == b'0' {
            // A whole float: both printers write the integer digits, `ryu` adds `.0`.
            if int_len > 15 || (negative && int_zero) {
                return None;
            }
            mantissa /= 10;
            if reader == Reader::Payload {
                mantissa *= 10;
                scale = 1;
            }
        } else {
            if bytes[at - 1] == b'0' {
                return None;
            }
            let significant = match int_zero {
                true if zeros > 4 => return None,
                true => frac_len - zeros,
                false => int_len + frac_len,
            };
            if significant > 15 {
                return None;
            }
            scale = u32::try_from(frac_len).ok()?;
        }
    } else if int_len > 18 || (negative && int_zero) {
        return None;
    }
    if matches!(
        bytes.get(at),
        Some(b'0'..=b'9' | b'-' | b'.' | b'e' | b'E' | b'+')
    ) {
        return None;
    }
    if negative {
        mantissa = -mantissa;
    }
    Some((Decimal::try_new(mantissa, scale).ok()?, at))
}

/// What recent timestamps had: the last two texts, so that a repeated one costs a comparison of
/// its bytes, and the last two minutes (`YYYY-MM-DDTHH:MM`), so that the calendar is consulted
/// and the date checked once per minute of recording rather than four times a line. Two of
/// each, because a line's signal expires in a later minute than the line was received in.
#[derive(Clone, Debug, Default)]
pub(in crate::replay) struct Dates {
    /// Most recent first: each minute's 16 bytes as two little-endian words, its date and its
    /// first second of the day.
    minutes: [Option<([u64; 2], NaiveDate, u32)>; 2],
    /// The last two whole texts read and their instants, most recent first: a line's
    /// `received_at`, its payload's `timestamp` and its `signal_at` are often the same text,
    /// with the signal's `expires_at` read in between.
    texts: [Option<(TextKey, Timestamp)>; 2],
}

/// A timestamp's text of 16 to 32 bytes, as its length and four words that cover it (the
/// first two and the last two, overlapping when shorter than 32): equal keys, equal texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TextKey(usize, [u64; 4]);

impl TextKey {
    fn of(b: &[u8]) -> Option<TextKey> {
        let len = b.len();
        if !(16..=32).contains(&len) {
            return None;
        }
        let word = |at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
        Some(TextKey(
            len,
            [word(0)?, word(8)?, word(len - 16)?, word(len - 8)?],
        ))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, a valid date and time (no leap second), year ≥ 1000.
#[cfg(test)]
pub(in crate::replay) fn timestamp(text: &str, dates: &mut Dates) -> Option<Timestamp> {
    let quoted = format!("\"{text}\"");
    let (at, used) = read_timestamp(quoted.as_bytes(), dates)?;
    (used == quoted.len()).then_some(at)
}

/// The JSON string at the start of `bytes` (its quotes included) read as `timestamp` reads
/// its text, with the bytes it took, straight from the line: a text of that form has no quote,
/// escape or control character, so it needs no string scan first, and a text read lately
/// (often the same) is recognised by its bytes alone.
pub(in crate::replay) fn read_timestamp(
    bytes: &[u8],
    dates: &mut Dates,
) -> Option<(Timestamp, usize)> {
    let b = bytes.strip_prefix(b"\"")?;
    for (key, at) in dates.texts.iter().flatten() {
        let len = key.0;
        if b.get(len) == Some(&b'"') && TextKey::of(b.get(..len)?).as_ref() == Some(key) {
            return Some((*at, len + 2));
        }
    }
    // Where the text's `Z` can be: after the seconds, or after their fraction.
    let mut zulu = 19;
    if b.get(zulu) == Some(&b'.') {
        zulu += 1;
        while b.get(zulu).is_some_and(u8::is_ascii_digit) {
            zulu += 1;
        }
    }
    if b.get(zulu + 1) != Some(&b'"') {
        return None;
    }
    let text = b.get(..=zulu)?;
    let key = TextKey::of(text)?;
    let at = read_new_text(text, key, dates)?;
    dates.texts[1] = dates.texts[0].replace((key, at));
    Some((at, zulu + 3))
}

/// A timestamp whose text is not one of the last two: its minute looked up (or read), its
/// seconds read.
fn read_new_text(b: &[u8], key: TextKey, dates: &mut Dates) -> Option<Timestamp> {
    let words = [key.1[0], key.1[1]];
    let known = dates
        .minutes
        .iter()
        .flatten()
        .find(|(known, _, _)| *known == words);
    let (date, minute_second) = match known {
        Some((_, date, second)) => (*date, *second),
        None => {
            let (date, second) = read_minute(b)?;
            dates.minutes[1] = dates.minutes[0].replace((words, date, second));
            (date, second)
        }
    };
    let (seconds, nanos) = read_seconds(b)?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(minute_second + seconds, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// Two ASCII digits at `at` as a number.
fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    let tens = b.get(at)?.wrapping_sub(b'0');
    let ones = b.get(at + 1)?.wrapping_sub(b'0');
    (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
}

/// `YYYY-MM-DDTHH:MM` (the first 16 bytes) as its date and the second of the day it starts.
fn read_minute(b: &[u8]) -> Option<(NaiveDate, u32)> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    if b.get(13) != Some(&b':') {
        return None;
    }
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    if year < 1000 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        two_digits(b, 5)?,
        two_digits(b, 8)?,
    )?;
    let (hour, minute) = (two_digits(b, 11)?, two_digits(b, 14)?);
    (hour < 24 && minute < 60).then_some((date, hour * 3600 + minute * 60))
}

/// `:SS[.f{1,9}]Z` from byte 16 to the end: the seconds (no leap second) and nanoseconds.
fn read_seconds(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(16) != Some(&b':') || b.last() != Some(&b'Z') {
        return None;
    }
    let seconds = two_digits(b, 17).filter(|s| *s < 60)?;
    let nanos = match b.get(19..b.len() - 1)? {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut n = 0u32;
            for &d in digits {
                let d = d.wrapping_sub(b'0');
                if d >= 10 {
                    return None;
                }
                n = n * 10 + u32::from(d);
            }
            // Nanoseconds per unit of the last of 1 to 9 fraction digits.
            const SCALE: [u32; 10] = [
                0,
                100_000_000,
                10_000_000,
                1_000_000,
                100_000,
                10_000,
                1_000,
                100,
                10,
                1,
            ];
            n * SCALE[digits.len()]
        }
        _ => return None,
    };
    Some((seconds, nanos))
}
