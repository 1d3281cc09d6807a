//! Properties of the one decoder over generated payloads: long decimals, exponents, numeric
//! strings, escapes, duplicate keys, odd timestamps, unknown fields, any key order and spacing.
//! Each payload either decodes to exactly the values written or is `invalid` with a reason
//! naming the field; nothing panics.
//!
//! The expected decimal is computed by an oracle that works on the text (moving the decimal
//! point of `1.5e-3` by hand), not by the decoder's arithmetic.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::{decode, Body};

/// JSON number texts: plain and long (up to 30 fractional digits, past what a `Decimal`
/// holds), with exponents, and signs.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "0\\.[0-9]{1,6}[1-9]",
        3 => "-?(0|[1-9][0-9]{0,29})(\\.[0-9]{1,30})?",
        2 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,6})?[eE][+-]?[0-9]{1,2}",
        1 => prop::sample::select(vec![
            "0.1234567890123456789", "0", "-0", "1", "1.0", "0.5000", "1e400", "1e-400",
            "100e-29", "79228162514264337593543950335", "79228162514264337593543950336",
        ])
        .prop_map(str::to_string),
    ]
}

/// A field's value: a number, the same number as a (spaced) string, or something else.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => number_text(),
        2 => number_text().prop_map(|n| format!("\" {n}\"")),
        1 => prop::sample::select(vec!["null", "true", "\"abc\"", "\"NaN\"", "[0.5]", "{}"])
            .prop_map(str::to_string),
    ]
}

/// The decimal `text` stands for, by moving its decimal point as text: `None` when it is
/// not a number or a `Decimal` cannot hold it exactly.
fn oracle(text: &str) -> Option<Decimal> {
    let text = text.trim_matches('"').trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    if digits.bytes().all(|b| b == b'0') {
        return Some(Decimal::ZERO);
    }
    // The point sits `point` digits from the left of `digits`.
    let point = int.len() as i64 + exponent;
    if !(-100..=100).contains(&point) {
        return None;
    }
    let (int, mut frac) = if point <= 0 {
        (
            "0".to_string(),
            "0".repeat(point.unsigned_abs() as usize) + &digits,
        )
    } else if point as usize >= digits.len() {
        (
            digits.clone() + &"0".repeat(point as usize - digits.len()),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    while frac.len() > 28 && frac.ends_with('0') {
        frac.pop();
    }
    let sign = if negative { "-" } else { "" };
    let plain = match frac.is_empty() {
        true => format!("{sign}{int}"),
        false => format!("{sign}{int}.{frac}"),
    };
    Decimal::from_str_exact(&plain).ok()
}

/// What the decoder must say of one field: its value, or that it is invalid.
fn expect_field(text: &str, is_price: bool) -> Result<Decimal, ()> {
    let value = oracle(text).ok_or(())?;
    match is_price && !(Decimal::ZERO < value && value < Decimal::ONE) {
        true => Err(()),
        false => Ok(value),
    }
}

/// A market id, and the same id with some characters written as `\uXXXX` escapes.
fn market_id() -> impl Strategy<Value = (String, String)> {
    (
        "[A-Za-z0-9-]{1,12}",
        prop::collection::vec(any::<bool>(), 12),
    )
        .prop_map(|(id, escape)| {
            let written = id
                .chars()
                .zip(escape)
                .map(|(c, e)| match e {
                    true => format!("\\u{:04X}", c as u32),
                    false => c.to_string(),
                })
                .collect();
            (id, written)
        })
}

/// Time texts: the common form at every precision, near misses of it, and junk.
pub(crate) fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0i64..253_402_300_799_000, 0usize..10).prop_map(|(ms, digits)| {
            let at = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
            let full = at.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
            let cut = if digits == 0 { full.len() - 10 } else { full.len() - 9 + digits };
            format!("{}Z", &full[..cut])
        }),
        2 => "[0-9]{4}-(0[0-9]|1[0-3])-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,11})?(Z|z|\\+00:00|-01:30)?",
        1 => "[0-9T:.Z-]{18,32}",
    ]
}

/// A `price_shift` payload's fields as `(key, JSON text)`, with what each should decode to.
#[derive(Clone, Debug)]
pub(crate) struct Payload {
    pub fields: Vec<(String, String)>,
    market: String,
    old_yes: String,
    new_yes: String,
    change_pct: String,
    timestamp: Option<String>,
}

pub(crate) fn payload() -> impl Strategy<Value = Payload> {
    (
        market_id(),
        value_text(),
        value_text(),
        value_text(),
        prop::option::of(timestamp_text()),
        prop::collection::vec(
            (
                prop::sample::select(vec!["volume", "source", "meta", "extra"]),
                prop_oneof![number_text(), Just("{\"a\":[1,\"x\"]}".to_string())],
            ),
            0..3,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |((market, written), old, new, change, at, unknown, rotate)| {
                let mut fields = vec![
                    ("type".to_string(), "\"price_shift\"".to_string()),
                    ("platform".to_string(), "\"kalshi\"".to_string()),
                    ("market_id".to_string(), format!("\"{written}\"")),
                    ("old_yes".to_string(), old.clone()),
                    ("new_yes".to_string(), new.clone()),
                    ("change_pct".to_string(), change.clone()),
                ];
                if let Some(at) = &at {
                    fields.push(("timestamp".to_string(), format!("\"{at}\"")));
                }
                // Unknown keys once each: of a key given twice the last counts, so reversing the
                // fields would change the content.
                let unknown: std::collections::BTreeMap<_, _> = unknown.into_iter().collect();
                fields.extend(unknown.into_iter().map(|(k, v)| (k.to_string(), v)));
                let by = rotate.index(fields.len());
                fields.rotate_left(by);
                Payload {
                    fields,
                    market,
                    old_yes: old,
                    new_yes: new,
                    change_pct: change,
                    timestamp: at,
                }
            },
        )
}

pub(crate) fn render(fields: &[(String, String)], spaced: bool) -> String {
    let (colon, comma) = if spaced {
        (" : ", " ,\n\t")
    } else {
        (":", ",")
    };
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\"{colon}{value}"))
        .collect();
    format!("{{{}}}", body.join(comma))
}

fn invalid_reason<'b>(body: &'b Body<'_>) -> Option<&'b str> {
    match body {
        Body::Invalid(_, reason) => Some(reason),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn prop_payloads_decode_to_exactly_what_was_written_or_are_invalid_naming_the_field(
        payload in payload(),
        spaced in any::<bool>(),
    ) {
        let text = render(&payload.fields, spaced);
        let decoded = decode(None, None, &text);
        let expected = [
            ("old_yes", expect_field(&payload.old_yes, true)),
            ("new_yes", expect_field(&payload.new_yes, true)),
            ("change_pct", expect_field(&payload.change_pct, false)),
        ];
        let time = payload.timestamp.as_deref().map(|t| {
            chrono::DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&chrono::Utc))
        });
        match expected.iter().find(|(_, e)| e.is_err()) {
            Some((field, _)) => {
                let reason = invalid_reason(&decoded.body);
                prop_assert!(
                    reason.is_some_and(|r| r.starts_with(field)),
                    "{}: {:?} should be invalid for {}", text, decoded, field
                );
            }
            None if matches!(time, Some(Err(_))) => {
                let reason = invalid_reason(&decoded.body);
                prop_assert!(reason.is_some_and(|r| r.starts_with("timestamp")), "{}: {:?}", text, decoded);
            }
            None => {
                let Body::PriceShift(market, shift) = &decoded.body else {
                    return Err(TestCaseError::fail(format!("{text}: {decoded:?}")));
                };
                prop_assert_eq!(&market.id, &payload.market);
                prop_assert_eq!(Ok(shift.old_yes.get()), expected[0].1);
                prop_assert_eq!(Ok(shift.new_yes.get()), expected[1].1);
                prop_assert_eq!(Ok(shift.change_pct), expected[2].1);
                prop_assert_eq!(shift.timestamp, time.and_then(Result::ok));
                // A plain number keeps its scale too: it prints as written (unless it has
                // zeros past the 28th fractional digit, which a `Decimal` cannot hold).
                for (written, read) in [(&payload.old_yes, shift.old_yes.get()), (&payload.change_pct, shift.change_pct)] {
                    let plain = written.trim_matches('"').trim();
                    let fraction = plain.split_once('.').map_or(0, |(_, f)| f.len());
                    if !plain.contains(['e', 'E']) && !read.is_zero() && fraction <= 28 {
                        prop_assert_eq!(read.to_string(), plain);
                    }
                }
            }
        }
        prop_assert!(decoded.id.starts_with("sha256:"));
    }

    #[test]
    fn prop_a_known_field_given_twice_is_invalid_and_order_and_spacing_change_nothing(
        payload in payload(),
        twice in any::<prop::sample::Index>(),
        spaced in any::<bool>(),
    ) {
        let text = render(&payload.fields, false);
        let respaced = render(&payload.fields, spaced);
        let (first, again) = (decode(None, None, &text), decode(None, None, &respaced));
        prop_assert_eq!(&first, &again);
        let mut reordered = payload.fields.clone();
        reordered.reverse();
        let reordered = render(&reordered, spaced);
        prop_assert_eq!(&first, &decode(None, None, &reordered));

        let mut doubled = payload.fields.clone();
        let known = ["type", "platform", "market_id", "old_yes", "new_yes", "change_pct", "timestamp"];
        let fields: Vec<usize> = (0..doubled.len()).filter(|&i| known.contains(&doubled[i].0.as_str())).collect();
        let pick = doubled[fields[twice.index(fields.len())]].clone();
        doubled.push(pick.clone());
        let doubled = render(&doubled, spaced);
        let decoded = decode(None, None, &doubled);
        let reason = invalid_reason(&decoded.body);
        prop_assert!(
            reason.is_some_and(|r| r.contains("duplicate field") && r.contains(&pick.0)),
            "{:?}", decoded
        );
    }

    #[test]
    fn prop_any_text_decodes_without_panic_to_an_id_and_a_type(data in "\\PC{0,120}") {
        let decoded = decode(None, Some("price_shift"), &data);
        prop_assert!(!decoded.id.is_empty());
        prop_assert!(!decoded.event_type.is_empty());
    }
}

#[test]
fn the_oracle_moves_the_point_as_written() {
    for (text, expected) in [
        ("1.5e-3", Some("0.0015")),
        ("-25E+2", Some("-2500")),
        ("100e-29", Some("0.0000000000000000000000000010")),
        ("0.1e-28", None),
        ("\" 0.50\"", Some("0.50")),
    ] {
        assert_eq!(
            oracle(text).map(|d| d.to_string()).as_deref(),
            expected,
            "{text}"
        );
    }
}
