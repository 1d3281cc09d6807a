//! Fixtures for the hand-written `Core` scenarios: two Kalshi markets, events and signals.

use chrono::Duration;
use rust_decimal::Decimal;
use strategies::filter::FilterRules;
use strategies::{
    CoreConfig, Decision, Event, EventBody, MarketKey, Platform, Price, PriceShift, Recommendation,
    Signal, SignalTicket, Step, Timestamp,
};

use super::{market, price};

pub fn fed() -> MarketKey {
    market(Platform::Kalshi, "KXFED-26MAR19")
}

pub fn cpi() -> MarketKey {
    market(Platform::Kalshi, "KXCPI-26APR")
}

pub fn shift_event(
    id: &str,
    m: &MarketKey,
    new_yes: Price,
    change_pct: Decimal,
    now: Timestamp,
) -> Event {
    Event {
        id: id.to_string(),
        event_type: "price_shift".to_string(),
        received_at: now,
        body: EventBody::PriceShift(PriceShift {
            market: m.clone(),
            old_yes: price(30, 2),
            new_yes,
            change_pct,
            timestamp: None,
        }),
    }
}

pub fn signal(recommendation: Recommendation, edge: Decimal) -> Signal {
    Signal {
        recommendation,
        edge,
        probability: None,
        expires_at: None,
        freshness: None,
    }
}

#[track_caller]
pub fn ticket(step: Step) -> SignalTicket {
    match step {
        Step::NeedSignal(t) => t,
        Step::Decided(d) => panic!(
            "expected a signal request, got {} ({})",
            d.outcome, d.reason
        ),
    }
}

#[track_caller]
pub fn decided(step: Step) -> Decision {
    match step {
        Step::Decided(d) => d,
        Step::NeedSignal(t) => panic!("expected a decision, got a ticket for {}", t.market),
    }
}

/// Defaults, but no cooldown, so tests can send a market twice.
pub fn no_cooldown() -> CoreConfig {
    CoreConfig {
        filter: FilterRules {
            cooldown: Duration::zero(),
            ..FilterRules::default()
        },
        ..CoreConfig::default()
    }
}
