//! The canonical text of a JSON value: keys sorted (bytewise) at every level, no whitespace,
//! strings re-escaped one way, numbers exactly as sent. Two serialisations of the same payload
//! (keys reordered, spaces added, `\u0041` for `A`) have the same canonical text, which is
//! what lets an event without an id be recognised when it is delivered again.
//!
//! Walked over raw text ([`RawValue`]) rather than a `serde_json::Value`, so that a number is
//! never rounded through `f64` on the way (`0.1234567890123456789` stays itself).

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// Append the canonical text of `json` (one JSON value) to `out`; `Err` if it is not JSON.
pub(crate) fn write(json: &str, out: &mut String) -> Result<(), serde_json::Error> {
    let trimmed = json.trim_matches([' ', '\t', '\n', '\r']);
    match trimmed.as_bytes().first() {
        Some(b'{') => {
            // Of a key given twice the last counts, as for every map serde_json builds.
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(trimmed)?;
            out.push('{');
            for (i, (key, value)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(&key, out);
                out.push(':');
                write(value.get(), out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(trimmed)?;
            out.push('[');
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item.get(), out)?;
            }
            out.push(']');
        }
        Some(b'"') => write_string(&serde_json::from_str::<String>(trimmed)?, out),
        _ => {
            // A number, `true`, `false` or `null`: checked, then kept as written.
            serde_json::from_str::<&RawValue>(trimmed)?;
            out.push_str(trimmed);
        }
    }
    Ok(())
}

fn write_string(text: &str, out: &mut String) {
    // serde_json's own escaping: `"` and `\` and control characters, nothing else.
    out.push_str(&serde_json::Value::from(text).to_string());
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

    #[test]
    fn the_last_of_a_repeated_key_counts_and_garbage_is_an_error() {
        assert_eq!(canonical(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        assert!(write("{\"a\":", &mut String::new()).is_err());
        assert!(write("tru", &mut String::new()).is_err());
    }
}
