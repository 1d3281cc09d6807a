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

use chrono::{Duration, TimeZone};
use serde_json::Value;
use strategies::{MarketKey, Side, Timestamp};

use super::record::RecordLine;
use super::settlement::Settlement;
use crate::configuration::RiskLimit;
use crate::sim::model::{Model, ModelEvent};
use crate::sim::SimConfig;
use crate::sim::{advise, event_json, signal_body, Risk};
use crate::wire::Json;

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
    /// Settlement lines: one per market whose outcome was determined during the session.
    pub settlements: u64,
}

/// Write `events` model events of `config` (its seed, markets and rate) with the
/// simulator's signal answers at `risk`, and a settlement line after the event with which a
/// market's outcome was determined (see [`SimSession::settlements`]).
pub fn record_sim(
    config: &SimConfig,
    risk: RiskLimit,
    events: u64,
    out: &mut dyn Write,
) -> io::Result<SimRecordStats> {
    let mut stats = SimRecordStats::default();
    let mut session = SimSession::new(config, risk);
    while stats.events < events {
        let Some(line) = session.next() else { break };
        stats.signalled += u64::from(line.signal.is_some());
        line.write(out)?;
        stats.events += 1;
        for settlement in session.settlements() {
            settlement.write(out)?;
            stats.settlements += 1;
        }
    }
    out.flush()?;
    Ok(stats)
}

/// The recorded lines of a synthetic session, generated lazily.
pub struct SimSession {
    model: Model,
    risk: Risk,
    skill: crate::sim::Skill,
    per_second: i128,
    start: Timestamp,
    position: u64,
    /// The settlements that came due with the last line.
    settlements: Vec<Settlement>,
}

impl SimSession {
    pub fn new(config: &SimConfig, risk: RiskLimit) -> SimSession {
        SimSession {
            model: Model::new(config.seed, config.markets),
            skill: config.skill(),
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
            settlements: Vec::new(),
        }
    }

    /// The markets whose outcome the model determined with the last line, as the settlement
    /// lines the live bot's resolution poller would have caused (`resolution:<market>:
    /// determined`, the winner its final print): a replay then pays out what a position there
    /// is worth, instead of holding it open (and its exposure) forever.
    pub fn settlements(&self) -> &[Settlement] {
        &self.settlements
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
        self.settlements.clear();
        for (platform, market_id, yes) in self.model.determined_now() {
            let Ok(market) = MarketKey::new(*platform, market_id.as_str()) else {
                continue; // the model's ids are always valid keys
            };
            self.settlements.push(Settlement {
                id: format!("resolution:{market}:determined"),
                market,
                winner: if *yes { Side::Yes } else { Side::No },
                at,
            });
        }
        let signal = match &event {
            ModelEvent::PriceShift {
                platform,
                market_id,
                ..
            } => self.model.quote(*platform, market_id).map(|quote| {
                json(&signal_body(
                    &quote,
                    &advise(&quote, self.risk, &self.skill),
                    at,
                ))
            }),
            ModelEvent::WhaleAlert { .. } => None,
        };
        Some(RecordLine {
            id: (position + 1).to_string(),
            event_type: event.event_type().to_string(),
            data: json(&event_json(&event, at)),
            received_at: at,
            signal_at: signal.as_ref().map(|_| at),
            signal,
            signal_error: None,
            signal_pause_until: None,
        })
    }
}

/// A body the simulator's own builders wrote, as the JSON a line holds.
fn json(text: &str) -> Json {
    Json::parse(text).unwrap_or_else(|_| Json::from_value(&Value::String(text.to_string())))
}

#[cfg(test)]
#[path = "simrec_tests.rs"]
mod tests;
