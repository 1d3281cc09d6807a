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

/// The quote is a fair price. Every move of a print is a fair bet: its mean is zero, overall
/// and from every price bucket (a quote reverting toward a hidden value, as the previous
/// model's did, moves predictably). And the prints are calibrated to the outcomes: over every
/// print of the markets that closed, the outcome (1 for YES) minus the YES price averages to
/// about zero. Together they are why a blind trader loses only its fees.
#[test]
fn printed_prices_are_fair_bets_and_calibrated_to_the_outcomes() {
    let mut model = Model::new(5, 24);
    let mut prints: HashMap<(Platform, String), Vec<f64>> = HashMap::new();
    for _ in 0..400_000 {
        if let Some(ModelEvent::PriceShift {
            platform,
            market_id,
            new_yes,
            ..
        }) = model.step(at())
        {
            if model.quote(platform, &market_id).is_some_and(|q| q.closed) {
                continue; // the settlement print: the outcome, not a move of the market
            }
            let price: f64 = new_yes.to_string().parse().expect("a price");
            prints.entry((platform, market_id)).or_default().push(price);
        }
    }
    // Per tenth of the price: (sum of next move, moves), (sum of outcome - price, prints).
    let mut moves = [(0.0f64, 0u32); 10];
    let mut calibration = [(0.0f64, 0u32); 10];
    let bucket = |price: f64| ((price * 10.0) as usize).min(9);
    let mut markets = 0;
    for ((platform, market_id), prices) in prints {
        let quote = model.quote(platform, &market_id).expect("known");
        for pair in prices.windows(2) {
            let slot = &mut moves[bucket(pair[0])];
            slot.0 += pair[1] - pair[0];
            slot.1 += 1;
        }
        if quote.closed {
            markets += 1;
            let outcome = if quote.price > Decimal::new(5, 1) {
                1.0
            } else {
                0.0
            };
            for price in prices {
                let slot = &mut calibration[bucket(price)];
                slot.0 += outcome - price;
                slot.1 += 1;
            }
        }
    }
    let mean = |slots: &[(f64, u32)]| {
        let (sum, n) = slots
            .iter()
            .fold((0.0, 0), |(s, n), (bs, bn)| (s + bs, n + bn));
        (sum / f64::from(n), n)
    };
    // A move's spread is about 2 points, so a bucket's mean of 10,000+ moves is within a
    // few hundredths of a point of zero; reversion of a quarter of a 5-point gap is 1.25.
    for (tenth, slot) in moves.iter().enumerate().filter(|(_, (_, n))| *n > 5_000) {
        let (drift, n) = mean(std::slice::from_ref(slot));
        assert!(
            drift.abs() < 0.0015,
            "moves from {tenth}0-{tenth}9 %: mean {drift} over {n}"
        );
    }
    let (drift, n) = mean(&moves);
    assert!(drift.abs() < 0.0005, "moves: mean {drift} over {n}");
    // Outcomes are one draw per market: the mean of 2,800 markets is good to about a point.
    assert!(markets > 2_000, "{markets} closed markets");
    let (bias, n) = mean(&calibration);
    assert!(
        bias.abs() < 0.03,
        "outcome - price: mean {bias} over {n} prints"
    );
    for (tenth, slot) in calibration
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 5_000)
    {
        let (bias, n) = mean(std::slice::from_ref(slot));
        assert!(
            bias.abs() < 0.06,
            "prices {tenth}0-{tenth}9 %: outcome - price averages {bias} over {n} prints"
        );
    }
}
