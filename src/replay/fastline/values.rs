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

use chrono::NaiveDate;
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
pub(in crate::replay) fn decimal(text: &[u8], reader: Reader) -> Option<Decimal> {
    let (negative, int, frac) = split_number(text)?;
    let mut scale = 0;
    let frac = match frac {
        None if int.len() > 18 || (negative && int == b"0") => return None,
        None => &[][..],
        // A whole float: both printers write the integer digits, `ryu` adds `.0`.
        Some(b"0") if int.len() > 15 || (negative && int == b"0") => return None,
        Some(b"0") => {
            if reader == Reader::Payload {
                scale = 1;
                b"0"
            } else {
                &[][..]
            }
        }
        Some(frac) => {
            if frac.last() == Some(&b'0') {
                return None;
            }
            let significant = if int == b"0" {
                let zeros = frac.iter().take_while(|&&b| b == b'0').count();
                if zeros > 4 {
                    return None;
                }
                frac.len() - zeros
            } else {
                int.len() + frac.len()
            };
            if significant > 15 {
                return None;
            }
            scale = u32::try_from(frac.len()).ok()?;
            frac
        }
    };
    let mut mantissa: i64 = 0;
    for &digit in int.iter().chain(frac) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i64::from(digit - b'0'))?;
    }
    if negative {
        mantissa = -mantissa;
    }
    Decimal::try_new(mantissa, scale).ok()
}

/// (negative, integer digits, fraction digits).
type NumberParts<'a> = (bool, &'a [u8], Option<&'a [u8]>);

/// A JSON number without an exponent, `-?(0|[1-9][0-9]*)(.[0-9]+)?`, as (negative, integer
/// digits, fraction digits).
fn split_number(text: &[u8]) -> Option<NumberParts<'_>> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(point) => (&digits[..point], Some(&digits[point + 1..])),
        None => (digits, None),
    };
    let all_digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    let grammatical =
        all_digits(int) && (int.len() == 1 || int[0] != b'0') && frac.is_none_or(all_digits);
    grammatical.then_some((negative, int, frac))
}

/// The last date read, so that the calendar is consulted once per day of recording rather than
/// four times a line.
#[derive(Clone, Debug, Default)]
pub(in crate::replay) struct Dates {
    last: Option<([u8; 10], NaiveDate)>,
    /// The last whole text read and its instant: a line's `received_at`, its payload's
    /// `timestamp` and its `signal_at` are often the same text.
    text: Option<([u8; 32], usize, Timestamp)>,
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, a valid date and time (no leap second), year ≥ 1000.
pub(in crate::replay) fn timestamp(text: &str, dates: &mut Dates) -> Option<Timestamp> {
    let b = text.as_bytes();
    if let Some((last, len, at)) = &dates.text {
        if b.len() == *len && last.get(..*len) == Some(b) {
            return Some(*at);
        }
    }
    let at = read_timestamp(b, dates)?;
    if b.len() <= 32 {
        let mut copy = [0u8; 32];
        copy[..b.len()].copy_from_slice(b);
        dates.text = Some((copy, b.len(), at));
    }
    Some(at)
}

fn read_timestamp(b: &[u8], dates: &mut Dates) -> Option<Timestamp> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let day: [u8; 10] = b[..10].try_into().ok()?;
    let date = match dates.last {
        Some((last, date)) if last == day => date,
        _ => {
            let year = number(0..4).filter(|y| *y >= 1000)?;
            let date =
                NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, number(5..7)?, number(8..10)?)?;
            dates.last = Some((day, date));
            date
        }
    };
    let second = number(17..19).filter(|s| *s < 60)?;
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let n = number(20..20 + digits.len())?;
            n * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, second, nanos)?;
    Some(time.and_utc())
}
