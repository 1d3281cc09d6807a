//! The canonical text of a JSON value: keys sorted (bytewise) at every level, no whitespace,
//! strings re-escaped one way, numbers exactly as sent. Two serialisations of the same payload
//! (keys reordered, spaces added, `\u0041` for `A`) have the same canonical text, which is
//! what lets an event without an id be recognised when it is delivered again.
//!
//! Walked over raw text ([`RawValue`]) rather than a `serde_json::Value`, so that a number is
//! never rounded through `f64` on the way (`0.1234567890123456789` stays itself).
//!
//! [`write_python`] is the same walk in the text Python's `json.dumps(payload, sort_keys=True)`
//! writes, which a `sorted-json` webhook sender (seed 003) signs: `", "` and `": "` between
//! items, every non-ASCII character as `\uXXXX` (UTF-16, lower-case hex), numbers as sent.
//! Checked against vectors produced by Python itself (`tests/vectors/sorted_json.jsonl`).

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// How items are separated and strings escaped.
#[derive(Clone, Copy)]
enum Style {
    /// No whitespace, serde_json's escaping: what derived ids hash.
    Compact,
    /// Python's `json.dumps` defaults: `", "`, `": "`, ASCII only.
    Python,
}

impl Style {
    fn item(self) -> &'static str {
        match self {
            Style::Compact => ",",
            Style::Python => ", ",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Style::Compact => ":",
            Style::Python => ": ",
        }
    }
}

/// Append the canonical text of `json` (one JSON value) to `out`; `Err` if it is not JSON.
pub(crate) fn write(json: &str, out: &mut String) -> Result<(), serde_json::Error> {
    walk(json, out, Style::Compact)
}

/// Append Python's `json.dumps(json.loads(json), sort_keys=True)` of `json` to `out`, with
/// numbers as written; `Err` if it is not JSON.
pub fn write_python(json: &str, out: &mut String) -> Result<(), serde_json::Error> {
    walk(json, out, Style::Python)
}

fn walk(json: &str, out: &mut String, style: Style) -> Result<(), serde_json::Error> {
    let trimmed = json.trim_matches([' ', '\t', '\n', '\r']);
    match trimmed.as_bytes().first() {
        Some(b'{') => {
            // Of a key given twice the last counts, as for every map serde_json builds.
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(trimmed)?;
            out.push('{');
            for (i, (key, value)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item());
                }
                write_string(&key, out, style);
                out.push_str(style.key());
                walk(value.get(), out, style)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(trimmed)?;
            out.push('[');
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item());
                }
                walk(item.get(), out, style)?;
            }
            out.push(']');
        }
        Some(b'"') => write_string(&serde_json::from_str::<String>(trimmed)?, out, style),
        _ => {
            // A number, `true`, `false` or `null`: checked, then kept as written.
            serde_json::from_str::<&RawValue>(trimmed)?;
            out.push_str(trimmed);
        }
    }
    Ok(())
}

fn write_string(text: &str, out: &mut String, style: Style) {
    match style {
        // serde_json's own escaping: `"` and `\` and control characters, nothing else.
        Style::Compact => out.push_str(&serde_json::Value::from(text).to_string()),
        Style::Python => python_string(text, out),
    }
}

/// Python's `ensure_ascii` string: the short escapes it knows, `\u00XX` for other control
/// characters, `\uXXXX` (a surrogate pair above U+FFFF) for everything past ASCII.
fn python_string(text: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(json: &str) -> String {
        let mut out = String::new();
        write(json, &mut out).expect("valid JSON");
        out
    }

    #[test]
    fn keys_sort_at_every_level_and_whitespace_goes() {
        assert_eq!(
            canonical(" { \"b\" : [ 1 , {\"z\":null,\"a\":true} ], \"a\" : \"x\" } "),
            r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn numbers_stay_as_written_and_strings_are_escaped_one_way() {
        assert_eq!(
            canonical(r#"{"p":0.1234567890123456789,"q":1E+2,"s":"\u0041\n"}"#),
            r#"{"p":0.1234567890123456789,"q":1E+2,"s":"A\n"}"#
        );
    }

    /// Python's `json.dumps(json.loads(body), sort_keys=True)` for every committed vector.
    #[test]
    fn python_sorted_form_matches_pythons_own_json_dumps() {
        #[derive(serde::Deserialize)]
        struct Vector {
            body: String,
            canonical: String,
        }
        let vectors = include_str!("../../tests/vectors/sorted_json.jsonl");
        let mut checked = 0;
        for line in vectors.lines().filter(|l| !l.trim().is_empty()) {
            let vector: Vector = serde_json::from_str(line).expect("a vector");
            let mut out = String::new();
            write_python(&vector.body, &mut out).expect("valid JSON");
            assert_eq!(out, vector.canonical, "body {}", vector.body);
            checked += 1;
        }
        assert!(checked >= 9, "{checked} vectors");
    }

    #[test]
    fn python_sorted_form_keeps_numbers_as_sent_and_refuses_garbage() {
        let mut out = String::new();
        write_python(
            r#"{"p":0.1234567890123456789,"q":1E+2,"d":"\u007f"}"#,
            &mut out,
        )
        .expect("valid JSON");
        assert_eq!(
            out,
            r#"{"d": "\u007f", "p": 0.1234567890123456789, "q": 1E+2}"#
        );
        assert!(write_python("{\"a\":", &mut String::new()).is_err());
    }

    #[test]
    fn the_last_of_a_repeated_key_counts_and_garbage_is_an_error() {
        assert_eq!(canonical(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        assert!(write("{\"a\":", &mut String::new()).is_err());
        assert!(write("tru", &mut String::new()).is_err());
    }
}
