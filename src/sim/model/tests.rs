//! Tests of the pure market model and of `generate_events`.

use std::collections::HashMap;

use chrono::TimeZone;
use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::{Platform, Timestamp};

use super::*;
use crate::sim::advice::{advise, Recommendation, Risk};
use crate::sim::{generate_events, SimConfig};

fn at() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        ..SimConfig::default()
    }
}

#[test]
fn generate_events_is_deterministic_for_a_seed() {
    let first = generate_events(&config(7), 500);
    assert_eq!(first.len(), 500);
    assert_eq!(first, generate_events(&config(7), 500));
    assert_ne!(first, generate_events(&config(8), 500));
    // A longer run extends a shorter one.
    assert_eq!(generate_events(&config(7), 200)[..], first[..200]);
    let ids: Vec<_> = first.iter().map(|e| e.id.clone()).collect();
    let expected: Vec<_> = (1..=500).map(|n| Some(n.to_string())).collect();
    assert_eq!(ids, expected);
    // Virtual timeline: 5 events per second from 2026-01-01.
    let ts = |n: usize| {
        let json: serde_json::Value = serde_json::from_str(&first[n].data).expect("json");
        json["timestamp"].as_str().expect("timestamp").to_owned()
    };
    assert_eq!(ts(0), "2026-01-01T00:00:00.000Z");
    assert_eq!(ts(6), "2026-01-01T00:00:01.200Z");
}

/// Runs the model for `steps` and checks every event; returns the events.
fn run_checked(seed: u64, markets: u32, steps: u64) -> Vec<ModelEvent> {
    let mut model = Model::new(seed, markets);
    let mut last_price: HashMap<(Platform, String), Decimal> = HashMap::new();
    let mut events = Vec::new();
    for _ in 0..steps {
        let event = model.step(at()).expect("non-empty model");
        match &event {
            ModelEvent::PriceShift {
                platform,
                market_id,
                old_yes,
                new_yes,
                change_pct: pct,
            } => {
                for price in [old_yes, new_yes] {
                    assert!(*price >= Decimal::new(1, 2) && *price <= Decimal::new(99, 2));
                    assert!(price.scale() <= 3, "{price}");
                }
                assert_ne!(old_yes, new_yes, "a shift always moves");
                assert_eq!(*pct, change_pct(*old_yes, *new_yes));
                let key = (*platform, market_id.clone());
                if let Some(previous) = last_price.get(&key) {
                    assert_eq!(previous, old_yes, "old_yes continues the last print");
                }
                last_price.insert(key, *new_yes);
                let expected_prefix = match platform {
                    Platform::Kalshi => "KXSIM-",
                    Platform::Polymarket => "poly-sim-",
                };
                assert!(market_id.starts_with(expected_prefix), "{market_id}");
            }
            ModelEvent::WhaleAlert { price, flow, .. } => {
                assert!(*price > Decimal::ZERO && *price < Decimal::ONE);
                assert!(*flow >= Decimal::from(25_000) && *flow <= Decimal::from(750_000));
            }
        }
        events.push(event);
    }
    events
}

#[test]
fn ten_thousand_events_keep_prices_inside_the_unit_interval() {
    let events = run_checked(42, 24, 10_000);
    let whales = events
        .iter()
        .filter(|e| matches!(e, ModelEvent::WhaleAlert { .. }))
        .count();
    assert!((200..=700).contains(&whales), "{whales} whale alerts");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn any_seed_and_size_keeps_the_model_invariants(seed in any::<u64>(), markets in 1u32..40) {
        run_checked(seed, markets, 3_000);
    }
}

#[test]
fn an_empty_model_produces_nothing() {
    let mut model = Model::new(1, 0);
    assert!(model.is_empty());
    assert_eq!(model.step(at()), None);
}

#[test]
fn large_moves_give_signals_of_both_signs_and_many_no_trades() {
    let mut model = Model::new(42, 24);
    let mut counts: HashMap<Recommendation, u32> = HashMap::new();
    for _ in 0..20_000 {
        if let Some(ModelEvent::PriceShift {
            platform,
            market_id,
            change_pct,
            ..
        }) = model.step(at())
        {
            if change_pct.abs() >= Decimal::from(5) {
                let quote = model.quote(platform, &market_id).expect("open market");
                *counts
                    .entry(advise(&quote, Risk::Medium, &crate::sim::Skill::ORACLE).recommendation)
                    .or_default() += 1;
            }
        }
    }
    let total: u32 = counts.values().sum();
    let share = |r| f64::from(counts.get(&r).copied().unwrap_or(0)) / f64::from(total);
    assert!(total > 2_000, "{counts:?}");
    assert!(share(Recommendation::NoTrade) > 0.2, "{counts:?}");
    assert!(share(Recommendation::BuyYes) > 0.1, "{counts:?}");
    assert!(share(Recommendation::BuyNo) > 0.1, "{counts:?}");
}

#[test]
fn markets_close_with_a_settlement_print_and_then_resolve() {
    let mut model = Model::new(3, 2);
    let first = model.open_markets();
    let mut last: HashMap<String, Decimal> = HashMap::new();
    // 2 slots: lifetimes are at most 1,600 steps, finalization 80 steps after closing.
    for _ in 0..4_000 {
        if let Some(ModelEvent::PriceShift {
            market_id, new_yes, ..
        }) = model.step(at())
        {
            last.insert(market_id, new_yes);
        }
    }
    let now_open = model.open_markets();
    for (platform, market_id) in &first {
        assert!(!now_open.contains(&(*platform, market_id.clone())));
        let resolution = model.resolution(*platform, market_id).expect("known");
        assert_eq!(resolution.status, Status::Finalized);
        assert!(resolution.closed_at.is_some() && resolution.finalized_at.is_some());
        let settled = last[market_id];
        assert!(
            settled == Decimal::new(1, 2) || settled == Decimal::new(99, 2),
            "{settled}"
        );
        let quote = model
            .quote(*platform, market_id)
            .expect("closed markets still quote");
        assert!(quote.closed);
        assert_eq!(
            advise(&quote, Risk::High, &crate::sim::Skill::ORACLE).recommendation,
            Recommendation::NoTrade
        );
    }
    for (platform, market_id) in &now_open {
        let resolution = model.resolution(*platform, market_id).expect("open");
        assert_eq!(resolution.status, Status::Active);
    }
    assert_eq!(model.resolution(Platform::Kalshi, "KXSIM-999999"), None);
    assert_eq!(now_open.len(), 2);
}

#[test]
fn hidden_probability_is_a_stable_function_of_seed_and_market() {
    let p = hidden_probability(42, Platform::Kalshi, "KXFED-26MAR19");
    assert_eq!(p, hidden_probability(42, Platform::Kalshi, "KXFED-26MAR19"));
    assert!(p >= Decimal::new(10, 2) && p <= Decimal::new(90, 2));
    let all: std::collections::BTreeSet<_> = (0..50)
        .map(|n| hidden_probability(n, Platform::Polymarket, "m"))
        .collect();
    assert!(all.len() > 10, "varies with the seed");
}
