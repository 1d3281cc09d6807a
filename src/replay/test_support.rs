//! Builders for recordings in unit tests: lines as `RecordLine`s, tapes through the real
//! line parser.

use chrono::TimeZone;
use serde_json::{json, Value};
use strategies::{Side, Timestamp};

use super::record::RecordLine;
use super::settlement::Settlement;
use super::tape::Tape;

/// 2026-01-01T00:00:00Z plus `millis`.
pub fn at(millis: i64) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::milliseconds(millis)
}

/// A `price_shift` of `market` ("kalshi/ID" or "polymarket/ID") from `old` to `new`, received
/// at `millis`, without a signal.
pub fn shift(id: &str, market: &str, old: &str, new: &str, millis: i64) -> RecordLine {
    let (platform, market_id) = market.split_once('/').expect("platform/id");
    let old_d: rust_decimal::Decimal = old.parse().expect("old");
    let new_d: rust_decimal::Decimal = new.parse().expect("new");
    let change = ((new_d - old_d) / old_d * rust_decimal::Decimal::ONE_HUNDRED).round_dp(2);
    line(
        id,
        "price_shift",
        json!({
            "type": "price_shift",
            "platform": platform,
            "market_id": market_id,
            "old_yes": old,
            "new_yes": new,
            "change_pct": change.to_string(),
        }),
        millis,
    )
}

/// Any line without a signal.
pub fn line(id: &str, event_type: &str, data: Value, millis: i64) -> RecordLine {
    RecordLine {
        id: id.to_string(),
        event_type: event_type.to_string(),
        data: data.into(),
        received_at: at(millis),
        signal: None,
        signal_at: None,
        signal_error: None,
        signal_pause_until: None,
    }
}

/// `line` with a recorded signal response applied at `millis`.
pub fn signalled(mut line: RecordLine, signal: Value, millis: i64) -> RecordLine {
    line.signal = Some(signal.into());
    line.signal_at = Some(at(millis));
    line
}

/// A signal response: `BUY_YES`/`BUY_NO`/`NO_TRADE` with `edge`.
pub fn signal(recommendation: &str, edge: &str) -> Value {
    json!({"recommendation": recommendation, "edge": edge, "freshness": "fresh"})
}

/// The lines as an NDJSON text.
pub fn ndjson(lines: &[RecordLine]) -> String {
    let mut out = Vec::new();
    for line in lines {
        line.write(&mut out).expect("write to memory");
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The NDJSON line of a settlement of `market` ("kalshi/ID") to `winner` at `millis`.
pub fn settled(id: &str, market: &str, winner: Side, millis: i64) -> String {
    let settlement = Settlement {
        id: id.to_string(),
        market: market.parse().expect("platform/id"),
        winner,
        at: at(millis),
    };
    let mut out = Vec::new();
    settlement.write(&mut out).expect("write to memory");
    String::from_utf8(out).expect("UTF-8")
}

/// A tape read from the lines' NDJSON text.
pub fn tape(lines: &[RecordLine]) -> Tape {
    Tape::read(ndjson(lines).as_bytes(), "test").expect("a valid recording")
}
