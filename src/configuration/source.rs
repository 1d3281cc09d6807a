//! A TOML `config::Source` that keeps every number exactly as written.
//!
//! config's own TOML format turns `kelly_fraction = 0.1` into an `f64`, and money must never pass
//! through a float. This source hands floats on as their literal text (TOML has already removed
//! `_` digit separators), so `0.1`, `"0.1"` and `SHIFTBOT__SIZING__KELLY_FRACTION=0.1` all reach
//! the reader as the same string and parse to exactly `Decimal 0.1`.

use config::{Map, Source, Value, ValueKind};
use toml::de::{DeTable, DeValue};

/// TOML text with a name for error messages (a file path or "the embedded default").
#[derive(Clone, Debug)]
pub(crate) struct ExactToml {
    origin: String,
    text: String,
}

impl ExactToml {
    pub(crate) fn new(origin: impl Into<String>, text: impl Into<String>) -> ExactToml {
        ExactToml {
            origin: origin.into(),
            text: text.into(),
        }
    }

    /// Parse now, so a syntax error is reported against the file before any merging.
    pub(crate) fn check_syntax(&self) -> Result<(), String> {
        DeTable::parse(&self.text)
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}

impl Source for ExactToml {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let table = DeTable::parse(&self.text)
            .map_err(|err| config::ConfigError::Message(format!("{}: {}", self.origin, err)))?;
        convert_table(&self.origin, table.into_inner())
    }
}

fn convert_table(
    origin: &String,
    table: DeTable<'_>,
) -> Result<Map<String, Value>, config::ConfigError> {
    let mut map = Map::new();
    for (key, value) in table {
        map.insert(
            key.into_inner().into_owned(),
            convert_value(origin, value.into_inner())?,
        );
    }
    Ok(map)
}

fn convert_value(origin: &String, value: DeValue<'_>) -> Result<Value, config::ConfigError> {
    let kind = match value {
        DeValue::String(text) => ValueKind::String(text.into_owned()),
        // Kept as text: the reader parses decimals exactly and integers strictly from it.
        DeValue::Float(float) => ValueKind::String(float.as_str().to_string()),
        DeValue::Integer(int) => match i64::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) => ValueKind::I64(n),
            // Out of i64 range: let the reader report it against the key.
            Err(_) => ValueKind::String(int.as_str().to_string()),
        },
        DeValue::Boolean(b) => ValueKind::Boolean(b),
        DeValue::Datetime(datetime) => ValueKind::String(datetime.to_string()),
        DeValue::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|item| convert_value(origin, item.into_inner()))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        DeValue::Table(table) => ValueKind::Table(convert_table(origin, table)?),
    };
    Ok(Value::new(Some(origin), kind))
}
