//! Parsing `decisions --json` and `ledger --json`, checking their public contract on the way:
//! every documented field present, decimals as JSON strings.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// One line of `shiftbot decisions --json`.
#[derive(Clone, Debug, Deserialize)]
pub struct DecisionRow {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub platform: Option<String>,
    pub market_id: Option<String>,
    pub outcome: String,
    pub reason: String,
    pub decided_at: String,
}

/// One line of `shiftbot ledger --json`.
#[derive(Clone, Debug, Deserialize)]
pub struct LedgerRow {
    pub trade_id: u64,
    pub event_id: String,
    pub platform: String,
    pub market_id: String,
    pub side: String,
    /// `open`, `close` or `settle` (beyond the documented fields).
    #[serde(default)]
    pub action: Option<String>,
    pub contracts: u64,
    pub price: Decimal,
    pub win_probability: Option<Decimal>,
    pub cost: Decimal,
    pub fee: Decimal,
    pub cash_before: Decimal,
    pub cash_after: Decimal,
    pub placed_at: String,
}

impl LedgerRow {
    pub fn is_open(&self) -> bool {
        self.action.as_deref().is_none_or(|a| a == "open")
    }

    /// Cash moves by the cost (paid on open, received on close/settle) and always pays the fee.
    pub fn expected_cash_after(&self) -> Decimal {
        if self.is_open() {
            self.cash_before - self.cost - self.fee
        } else {
            self.cash_before + self.cost - self.fee
        }
    }
}

const DECISION_FIELDS: [&str; 7] = [
    "event_id",
    "type",
    "platform",
    "market_id",
    "outcome",
    "reason",
    "decided_at",
];

const LEDGER_FIELDS: [&str; 13] = [
    "trade_id",
    "event_id",
    "platform",
    "market_id",
    "side",
    "contracts",
    "price",
    "win_probability",
    "cost",
    "fee",
    "cash_before",
    "cash_after",
    "placed_at",
];

const LEDGER_DECIMALS: [&str; 5] = ["price", "cost", "fee", "cash_before", "cash_after"];

fn objects(stdout: &str) -> Vec<serde_json::Map<String, Value>> {
    stdout
        .lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            _ => panic!("not one JSON object per line: {line:?}"),
        })
        .collect()
}

pub fn parse_decisions(stdout: &str) -> Vec<DecisionRow> {
    objects(stdout)
        .into_iter()
        .map(|object| {
            for field in DECISION_FIELDS {
                assert!(
                    object.contains_key(field),
                    "decision lacks {field}: {object:?}"
                );
            }
            let row: DecisionRow =
                serde_json::from_value(Value::Object(object)).expect("decision line");
            assert_timestamp(&row.decided_at);
            row
        })
        .collect()
}

pub fn parse_ledger(stdout: &str) -> Vec<LedgerRow> {
    objects(stdout)
        .into_iter()
        .map(|object| {
            for field in LEDGER_FIELDS {
                assert!(
                    object.contains_key(field),
                    "trade lacks {field}: {object:?}"
                );
            }
            for field in LEDGER_DECIMALS {
                assert!(
                    object[field].is_string(),
                    "{field} must be a JSON string: {object:?}"
                );
            }
            assert!(
                object["win_probability"].is_string() || object["win_probability"].is_null(),
                "win_probability must be a string: {object:?}"
            );
            let row: LedgerRow =
                serde_json::from_value(Value::Object(object)).expect("ledger line");
            assert_timestamp(&row.placed_at);
            row
        })
        .collect()
}

fn assert_timestamp(text: &str) {
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "not an RFC 3339 timestamp: {text:?}"
    );
}
