//! Reading one field of a typed wire struct: the field arrives as its raw JSON text
//! ([`RawValue`], borrowed from the input), and each reader here turns that text into the
//! value it stands for, or a reason naming what it was instead.
//!
//! Why raw text and not `f64` or `serde_json::Value`: a JSON number's text *is* the decimal
//! the sender wrote, so `0.1234567890123456789` reads back digit for digit; and a field of the
//! wrong type (`"market_id": 7`) becomes a reason for that field, not a failure of the whole
//! struct, so that the event is still recorded as `invalid` with its market when it has one.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

/// JSON kept exactly as it was received: its own text, numbers digit for digit, keys in their
/// order, on one line (a newline can only stand between tokens, and becomes a space), so that it
/// can be stored, exported to a recording line and decoded again to the same values.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json(Box<RawValue>);

impl Json {
    /// `text` if it is one JSON value (surrounding whitespace dropped).
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        let text = text.trim_matches([' ', '\t', '\n', '\r']);
        let one_line = text.replace(['\n', '\r'], " ");
        RawValue::from_string(one_line).map(Json)
    }

    /// A value's serialisation (numbers as `serde_json` prints them).
    pub fn from_value(value: &serde_json::Value) -> Json {
        // A `Value` always serialises to one valid line of JSON.
        Json::parse(&value.to_string()).unwrap_or_else(|_| Json::null())
    }

    pub fn null() -> Json {
        Json(RawValue::NULL.to_owned())
    }

    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// As a `serde_json::Value`, for reading fields where exactness does not matter.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or_default()
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Json {
        Json::from_value(&value)
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Json {}

/// A field that keeps its raw text, `null` included (serde gives `None` for a `null` read as an
/// `Option`; this keeps "present but null" apart from "absent").
pub(crate) fn raw<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue>::deserialize(deserializer).map(Some)
}

/// A typed struct read only from a JSON object: serde's derived `Deserialize` also fills a
/// struct from an array, field by field, which no sender means.
pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OnlyMaps<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(OnlyMaps(std::marker::PhantomData))
            .map(Object)
    }
}

/// Why a text did not read as a wire struct.
#[derive(Debug)]
pub(crate) enum NotObject {
    /// Not JSON at all.
    Json(serde_json::Error),
    /// JSON, but not an object: what it is instead.
    Kind(&'static str),
    /// An object whose known fields do not read (one given twice).
    Fields(serde_json::Error),
}

/// A JSON object into the typed struct `T` (whose fields are raw values, see [`raw`]). Only an
/// object: serde would also fill a struct from an array, field by field.
pub(crate) fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, NotObject> {
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<&RawValue>(text) {
            Ok(value) => NotObject::Kind(kind(value)),
            Err(err) => NotObject::Json(err),
        });
    }
    serde_json::from_str(text).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => NotObject::Fields(err),
        _ => NotObject::Json(err),
    })
}

/// What a raw value is, in words for a reason ("a number", "an object").
pub(crate) fn kind(value: &RawValue) -> &'static str {
    match value.get().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

pub(crate) fn is_null(value: &RawValue) -> bool {
    value.get() == "null"
}

/// A JSON string's text, borrowed when it has no escapes; `None` when the value is not a string.
pub(crate) fn text(value: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    let raw = value.get();
    if !raw.starts_with('"') {
        return None;
    }
    // serde_json checked the string when it took the raw value: without a backslash, its text
    // between the quotes is the string itself.
    if let Some(inner) = raw
        .get(1..raw.len() - 1)
        .filter(|inner| !inner.contains('\\'))
    {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<Text<'_>>(raw).ok().map(|t| t.0)
}

/// A decimal from a JSON number or a numeric string, exactly as written; `Ok(None)` for `null`.
/// The error says what the value is (`"abc" is not a finite decimal number`); the caller
/// prefixes the field's name.
pub(crate) fn decimal(value: &RawValue) -> Result<Option<Decimal>, String> {
    let raw = value.get();
    match raw.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'"') => {
            let text = text(value).unwrap_or_default();
            let text = text.trim();
            exact_decimal(text)
                .map(Some)
                .ok_or_else(|| format!("{:?} is not a finite decimal number", shorten(text)))
        }
        Some(b'-' | b'0'..=b'9') => exact_decimal(raw)
            .map(Some)
            .ok_or_else(|| format!("{:?} is not a finite decimal number", shorten(raw))),
        _ => Err("is not a number".to_string()),
    }
}

/// The decimal a number's text stands for, or `None` when a `Decimal` cannot hold it exactly
/// (more than 28 fractional digits, beyond 96 bits, not a number at all). Never rounds: a
/// decimal that changed on the way in would be a price nobody sent.
pub(crate) fn exact_decimal(text: &str) -> Option<Decimal> {
    if let Ok(value) = Decimal::from_str_exact(text) {
        return Some(value);
    }
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i64>().ok()?),
        None => (text, 0),
    };
    let value = Decimal::from_str_exact(without_excess_zeros(mantissa)).ok()?;
    let mut mantissa = value.mantissa();
    if mantissa == 0 {
        return Some(Decimal::ZERO);
    }
    let shift = i64::from(value.scale()).checked_sub(exponent)?;
    if shift < 0 {
        let up = u32::try_from(shift.checked_neg()?)
            .ok()
            .filter(|up| *up <= 28)?;
        mantissa = mantissa.checked_mul(10i128.checked_pow(up)?)?;
        return Decimal::try_from_i128_with_scale(mantissa, 0).ok();
    }
    // Trailing zeros of the mantissa can absorb a scale past 28 (`100e-29` is `1.0e-27`).
    let mut scale = u32::try_from(shift).ok()?;
    while scale > 28 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

/// `digits.fraction` with trailing zeros past the 28th fractional digit dropped: the value is
/// the same, and a `Decimal` holds at most 28.
fn without_excess_zeros(mantissa: &str) -> &str {
    match mantissa.find('.') {
        Some(dot) if mantissa.len() - dot - 1 > 28 => {
            let keep = mantissa.trim_end_matches('0').len().max(dot + 1 + 28);
            &mantissa[..keep]
        }
        _ => mantissa,
    }
}

/// The one form nearly every wire time has, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, read without
/// chrono's general parser; `None` for any other text (the caller then asks chrono, so this
/// changes speed, never results). Measured reason: chrono's RFC 3339 parser was ~13 % of a
/// replay (four times a recording line); a property test checks this reader against both
/// chrono readers the decoders use.
pub(crate) fn common_time(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let value = digits(20..20 + fraction.len())?;
            value * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    // A leap second (`:60`) is left to chrono, which has its own way of holding it.
    if second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(
        date.and_hms_nano_opt(hour, minute, second, nanos)?
            .and_utc(),
    )
}

/// An RFC 3339 time from its text: [`common_time`], else chrono's RFC 3339 parser.
pub(crate) fn rfc3339(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match common_time(text) {
        Some(at) => Ok(at),
        None => DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)),
    }
}

/// A recording line's own times (`received_at`, `signal_at`), read as serde reads a
/// `DateTime<Utc>` (chrono's `FromStr`), the common form without it.
pub(crate) fn line_time<'de, D>(deserializer: D) -> Result<DateTime<Utc>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    let text = Text::deserialize(deserializer)?.0;
    match common_time(&text) {
        Some(at) => Ok(at),
        None => text.parse().map_err(serde::de::Error::custom),
    }
}

/// [`line_time`] for an optional field (`null` or absent: `None`).
pub(crate) fn line_time_opt<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Time(#[serde(deserialize_with = "line_time")] DateTime<Utc>);
    Ok(Option::<Time>::deserialize(deserializer)?.map(|t| t.0))
}

/// An RFC 3339 time from a JSON string; `Ok(None)` for `null`.
pub(crate) fn timestamp(value: &RawValue) -> Result<Option<DateTime<Utc>>, String> {
    if is_null(value) {
        return Ok(None);
    }
    let text = text(value).ok_or_else(|| "is not a string".to_string())?;
    rfc3339(&text)
        .map(Some)
        .map_err(|e| format!("{:?} is not RFC 3339: {e}", shorten(&text)))
}

/// At most 40 characters of sender-provided text in a reason.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("valid JSON")
    }

    #[test]
    fn numbers_and_numeric_strings_read_exactly_or_not_at_all() {
        let cases = [
            ("0.62", Some("0.62")),
            ("0.620", Some("0.620")),
            ("\" 0.62 \"", Some("0.62")),
            ("0.1234567890123456789", Some("0.1234567890123456789")),
            ("-62.07", Some("-62.07")),
            ("1e2", Some("100")),
            ("1.5E+1", Some("15")),
            ("-0e5", Some("0")),
            ("25e-3", Some("0.025")),
            ("12e-28", Some("0.0000000000000000000000000012")),
            ("100e-29", Some("0.0000000000000000000000000010")),
            ("0.1e-28", None),
            (
                "0.12345678901234567890123456780000",
                Some("0.1234567890123456789012345678"),
            ),
            ("1e400", None),
            ("0.12345678901234567890123456789", None),
            ("79228162514264337593543950336", None),
            ("\"NaN\"", None),
            ("\"abc\"", None),
        ];
        for (text, expected) in cases {
            let read = decimal(&value(text));
            match expected {
                Some(digits) => assert_eq!(
                    read.as_ref().ok().and_then(|d| d.map(|d| d.to_string())),
                    Some(digits.to_string()),
                    "{text}: {read:?}"
                ),
                None => assert!(read.is_err(), "{text}: {read:?}"),
            }
        }
        assert_eq!(decimal(&value("null")), Ok(None));
        assert_eq!(decimal(&value("true")), Err("is not a number".to_string()));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_other_kinds_are_not_strings() {
        let plain = value("\"kalshi\"");
        assert!(matches!(text(&plain), Some(Cow::Borrowed("kalshi"))));
        let escaped = value(r#""a\"b\u00e9""#);
        assert_eq!(text(&escaped).as_deref(), Some("a\"bé"));
        assert_eq!(text(&value("7")), None);
        assert_eq!(kind(&value("[1]")), "an array");
        assert_eq!(kind(&value("-1")), "a number");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]

        /// The common form's reader says what both of chrono's readers say, or leaves it to them.
        #[test]
        fn prop_the_common_time_form_reads_as_chrono_reads_it(text in crate::wire::prop_tests::timestamp_text()) {
            if let Some(at) = common_time(&text) {
                let rfc = DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc));
                proptest::prop_assert_eq!(rfc, Ok(at), "{}", text);
                let from_str: Result<DateTime<Utc>, _> = text.parse();
                proptest::prop_assert_eq!(from_str, Ok(at), "{}", text);
            }
        }
    }

    #[test]
    fn the_common_time_form_is_read_and_others_are_left_to_chrono() {
        let at = common_time("2026-03-21T14:30:05.120Z").expect("the common form");
        assert_eq!(at.to_rfc3339(), "2026-03-21T14:30:05.120+00:00");
        for other in [
            "2026-03-21T14:30:05+00:00",
            "2026-02-30T00:00:00Z",
            "2026-03-21T23:59:60Z",
            "2026-03-21t14:30:05Z",
            "2026-03-21T14:30:05.1234567890Z",
        ] {
            assert_eq!(common_time(other), None, "{other}");
        }
        assert!(rfc3339("2026-03-21T14:30:05+01:00").is_ok());
    }

    #[test]
    fn long_text_is_shortened_on_a_character_boundary() {
        let long = "é".repeat(50);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 41);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("short"), "short");
    }
}
