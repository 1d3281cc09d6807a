//! `shiftbot sim --record FILE --events N`: a synthetic session in the recording format.
//!
//! The events are the simulator's model events, exactly as [`crate::sim::generate_events`]
//! produces them (same seed, same timeline starting 2026-01-01T00:00:00Z at
//! `sim.events_per_second`, ids "1".."N"); each is "received" at its own timestamp. Every
//! `price_shift` carries the simulator's answer to a signal request for its market at that
//! moment, as its `/v1/signals` endpoint would give it (the model's hidden truth through the
//! simulator's pure advice function, at the configured `signal.risk_limit`), applied at once
//! (`signal_at` = `received_at`). Whale alerts carry none: the core never trades them.
//!
//! The session is written as it is generated, so memory stays flat however many events.

use std::io::{self, Write};

use chrono::{Duration, SecondsFormat, TimeZone};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};
use strategies::{Platform, Timestamp};

use super::record::RecordLine;
use crate::configuration::RiskLimit;
use crate::sim::model::{Model, ModelEvent, Quote};
use crate::sim::SimConfig;
use crate::sim::{advise, Advice, Risk};

/// How long a simulated signal stays valid (as the simulator's endpoint says).
const SIGNAL_VALIDITY_MINUTES: i64 = 15;

/// Events per second of the timeline when the config says 0 (as fast as read).
const DEFAULT_RATE: i128 = 5;

/// The start of the simulator's virtual timeline (as [`crate::sim::generate_events`]).
pub fn recording_epoch() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Counts of a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimRecordStats {
    pub events: u64,
    pub signalled: u64,
}

/// Write `events` model events of `config` (its seed, markets and rate) with the
/// simulator's signal answers at `risk`.
pub fn record_sim(
    config: &SimConfig,
    risk: RiskLimit,
    events: u64,
    out: &mut dyn Write,
) -> io::Result<SimRecordStats> {
    let mut stats = SimRecordStats::default();
    for line in SimSession::new(config, risk).take(usize::try_from(events).unwrap_or(usize::MAX)) {
        stats.signalled += u64::from(line.signal.is_some());
        line.write(out)?;
        stats.events += 1;
    }
    out.flush()?;
    Ok(stats)
}

/// The recorded lines of a synthetic session, generated lazily.
pub struct SimSession {
    model: Model,
    risk: Risk,
    per_second: i128,
    start: Timestamp,
    position: u64,
}

impl SimSession {
    pub fn new(config: &SimConfig, risk: RiskLimit) -> SimSession {
        SimSession {
            model: Model::new(config.seed, config.markets),
            risk: match risk {
                RiskLimit::Low => Risk::Low,
                RiskLimit::Medium => Risk::Medium,
                RiskLimit::High => Risk::High,
            },
            per_second: match config.events_per_second {
                0 => DEFAULT_RATE,
                rate => i128::from(rate),
            },
            start: recording_epoch(),
            position: 0,
        }
    }
}

impl Iterator for SimSession {
    type Item = RecordLine;

    fn next(&mut self) -> Option<RecordLine> {
        let position = self.position;
        let nanos = i128::from(position) * 1_000_000_000 / self.per_second;
        let offset = i64::try_from(nanos).unwrap_or(i64::MAX);
        let at = self
            .start
            .checked_add_signed(Duration::nanoseconds(offset))
            .unwrap_or(self.start);
        let event = self.model.step(at)?;
        self.position += 1;
        let signal = match &event {
            ModelEvent::PriceShift {
                platform,
                market_id,
                ..
            } => self
                .model
                .quote(*platform, market_id)
                .map(|quote| signal_json(&quote, &advise(&quote, self.risk), at)),
            ModelEvent::WhaleAlert { .. } => None,
        };
        Some(RecordLine {
            id: (position + 1).to_string(),
            event_type: event_type(&event).to_string(),
            data: event_json(&event, at),
            received_at: at,
            signal_at: signal.as_ref().map(|_| at),
            signal,
            signal_error: None,
            signal_pause_until: None,
        })
    }
}

fn event_type(event: &ModelEvent) -> &'static str {
    match event {
        ModelEvent::PriceShift { .. } => "price_shift",
        ModelEvent::WhaleAlert { .. } => "whale_alert",
    }
}

/// The event's wire JSON, as the simulator's stream sends it (decimals as JSON numbers).
fn event_json(event: &ModelEvent, at: Timestamp) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), event_type(event).into());
    match event {
        ModelEvent::PriceShift {
            platform,
            market_id,
            old_yes,
            new_yes,
            change_pct,
        } => {
            market_fields(&mut object, *platform, market_id);
            object.insert("old_yes".into(), number(*old_yes));
            object.insert("new_yes".into(), number(*new_yes));
            object.insert("change_pct".into(), number(*change_pct));
        }
        ModelEvent::WhaleAlert {
            platform,
            market_id,
            side,
            flow,
            price,
        } => {
            market_fields(&mut object, *platform, market_id);
            object.insert("side".into(), side.as_str().into());
            object.insert("flow".into(), number(*flow));
            object.insert("price".into(), number(*price));
        }
    }
    object.insert("timestamp".into(), rfc3339(at).into());
    Value::Object(object)
}

fn market_fields(object: &mut Map<String, Value>, platform: Platform, market_id: &str) {
    object.insert("market_id".into(), market_id.into());
    object.insert("platform".into(), platform.as_str().into());
}

/// The simulator's `/v1/signals` response body for `quote`, generated at `at`.
fn signal_json(quote: &Quote, advice: &Advice, at: Timestamp) -> Value {
    let expires_at = at
        .checked_add_signed(Duration::minutes(SIGNAL_VALIDITY_MINUTES))
        .unwrap_or(at);
    let mut object = Map::new();
    let market = format!("{}/{}", quote.platform, quote.market_id);
    object.insert("market".into(), market.into());
    market_fields(&mut object, quote.platform, &quote.market_id);
    object.insert(
        "recommendation".into(),
        advice.recommendation.as_str().into(),
    );
    object.insert("edge".into(), number(advice.edge));
    object.insert("probability".into(), number(advice.probability));
    object.insert("market_price".into(), number(quote.price));
    object.insert("target_price".into(), number(advice.target_price));
    object.insert("confidence".into(), number(advice.confidence));
    object.insert("risk_rating".into(), advice.risk_rating.into());
    object.insert("size_pct".into(), number(advice.size_pct));
    object.insert("time_horizon".into(), advice.time_horizon.into());
    object.insert("freshness".into(), "fresh".into());
    object.insert("generated_at".into(), rfc3339(at).into());
    object.insert("expires_at".into(), rfc3339(expires_at).into());
    Value::Object(object)
}

/// A decimal as a JSON number. Whole numbers stay integers; others go through the nearest
/// `f64`, whose shortest form is the decimal's own text for the few digits the simulator uses
/// (exactly how the live decoder reads a number off the wire).
fn number(value: Decimal) -> Value {
    if value.scale() == 0 {
        if let Ok(int) = i64::try_from(value) {
            return Value::Number(Number::from(int));
        }
    }
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
#[path = "simrec_tests.rs"]
mod tests;
