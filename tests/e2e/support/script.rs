//! Building scripted streams: hand-written price shifts, raw (possibly malformed) payloads,
//! and the simulator model's own events re-stamped to now.

use std::str::FromStr;

use rust_decimal::Decimal;
use shiftbot::sim::{generate_events_from, ScriptedEvent, SimConfig};

/// Now, as the API writes timestamps.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A `price_shift` from `old` to `new` (YES prices, decimal text), stamped now.
/// `change_pct` is the relative move in percent, rounded to 2 places, as the API reports it.
pub fn fresh_price_shift(
    id: Option<&str>,
    platform: &str,
    market_id: &str,
    old: &str,
    new: &str,
) -> ScriptedEvent {
    let timestamp = now_rfc3339();
    let old_price = Decimal::from_str(old).expect("old price");
    let new_price = Decimal::from_str(new).expect("new price");
    let change = ((new_price - old_price) / old_price * Decimal::ONE_HUNDRED).round_dp(2);
    let data = serde_json::json!({
        "type": "price_shift",
        "market_id": market_id,
        "platform": platform,
        "old_yes": old_price.to_string(),
        "new_yes": new_price.to_string(),
        "change_pct": change.to_string(),
        "timestamp": timestamp,
    });
    ScriptedEvent {
        id: id.map(str::to_string),
        data: data.to_string(),
    }
}

/// An event sent exactly as given.
pub fn raw(id: Option<&str>, data: &str) -> ScriptedEvent {
    ScriptedEvent {
        id: id.map(str::to_string),
        data: data.to_string(),
    }
}

/// The model's first `n` events (ids "1".."n"), stamped from now on at `per_second`, keeping
/// only `price_shift`s (the bot subscribes to nothing else, so nothing else would arrive).
pub fn model_price_shifts(seed: u64, markets: u32, n: u64, per_second: u32) -> Vec<ScriptedEvent> {
    let config = SimConfig {
        seed,
        markets,
        events_per_second: per_second,
        ..SimConfig::default()
    };
    generate_events_from(&config, n, chrono::Utc::now())
        .into_iter()
        .filter(|event| {
            serde_json::from_str::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
                .as_deref()
                == Some("price_shift")
        })
        .collect()
}

/// The ids of a script, in order.
pub fn ids(script: &[ScriptedEvent]) -> Vec<String> {
    script
        .iter()
        .map(|e| e.id.clone().expect("scripted event with an id"))
        .collect()
}
