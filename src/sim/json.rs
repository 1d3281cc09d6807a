//! A tiny JSON object writer that prints `Decimal`s as JSON numbers.
//!
//! The Rekko API sends prices and edges as JSON numbers (`"old_yes": 0.62`). rust_decimal's
//! serde support writes strings, and going through `f64` would defeat the point of keeping money
//! in `Decimal`, so the simulator writes its bodies by hand: `Decimal`'s `Display` is plain
//! decimal notation (never an exponent), which is valid JSON number text.

use chrono::SecondsFormat;
use rust_decimal::Decimal;
use strategies::Timestamp;

/// Builds one JSON object, keys in insertion order.
#[derive(Debug)]
pub(crate) struct JsonObject {
    buf: String,
}

impl JsonObject {
    pub(crate) fn new() -> Self {
        Self {
            buf: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        self.buf.push_str(&quote(key));
        self.buf.push(':');
    }

    pub(crate) fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.buf.push_str(&quote(value));
        self
    }

    pub(crate) fn number(mut self, key: &str, value: Decimal) -> Self {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    pub(crate) fn integer(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    pub(crate) fn timestamp(self, key: &str, value: Timestamp) -> Self {
        self.string(key, &rfc3339(value))
    }

    pub(crate) fn opt_timestamp(mut self, key: &str, value: Option<Timestamp>) -> Self {
        match value {
            Some(at) => self.timestamp(key, at),
            None => {
                self.key(key);
                self.buf.push_str("null");
                self
            }
        }
    }

    pub(crate) fn opt_number(mut self, key: &str, value: Option<Decimal>) -> Self {
        match value {
            Some(number) => self.number(key, number),
            None => {
                self.key(key);
                self.buf.push_str("null");
                self
            }
        }
    }

    pub(crate) fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// A JSON string literal for `text`, with escaping.
pub(crate) fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// RFC 3339 in UTC with a `Z` suffix and millisecond precision, as the API writes times.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimals_are_json_numbers_and_strings_are_escaped() {
        let text = JsonObject::new()
            .string("type", "price_shift")
            .number("old_yes", dec!(0.62))
            .number("change_pct", dec!(-9.70))
            .string("odd", "a\"b\nc")
            .opt_number("none", None)
            .integer("n", 7)
            .finish();
        assert_eq!(
            text,
            r#"{"type":"price_shift","old_yes":0.62,"change_pct":-9.70,"odd":"a\"b\nc","none":null,"n":7}"#
        );
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(value["old_yes"].is_number());
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
