//! Public wire names: outcomes, trade fields, sides, platforms and recommendations, exactly as
//! `decisions --json` and `ledger --json` print them.

mod support;

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use strategies::{
    MarketKey, Outcome, Platform, Price, Recommendation, Side, Signal, Trade, TradeAction,
};
use support::*;

/// The list from the issue, in its order (`paused` and `control` came with operator control).
const OUTCOME_NAMES: [&str; 17] = [
    "traded",
    "below_threshold",
    "invalid",
    "ignored_type",
    "filtered_market",
    "cooldown",
    "stale",
    "market_busy",
    "no_trade",
    "signal_error",
    "signal_expired",
    "signal_budget",
    "edge_below_min",
    "size_zero",
    "exposure_limit",
    "paused",
    "control",
];

#[test]
fn outcome_serde_names_are_the_published_ones() {
    assert_eq!(Outcome::ALL.len(), OUTCOME_NAMES.len());
    for (outcome, name) in Outcome::ALL.iter().zip(OUTCOME_NAMES) {
        assert_eq!(
            serde_json::to_value(outcome).expect("serializes"),
            json!(name)
        );
        assert_eq!(outcome.as_str(), name);
        assert_eq!(outcome.to_string(), name);
        let back: Outcome = serde_json::from_value(json!(name)).expect("parses");
        assert_eq!(back, *outcome);
    }
    let distinct: BTreeSet<_> = Outcome::ALL.iter().collect();
    assert_eq!(distinct.len(), OUTCOME_NAMES.len());
    assert!(serde_json::from_value::<Outcome>(json!("Traded")).is_err());
    assert!(serde_json::from_value::<Outcome>(json!("belowThreshold")).is_err());
}

#[test]
fn trade_action_side_platform_names() {
    for (a, n) in [
        (TradeAction::Open, "open"),
        (TradeAction::Close, "close"),
        (TradeAction::Settle, "settle"),
    ] {
        assert_eq!(serde_json::to_value(a).expect("serializes"), json!(n));
    }
    for (s, n) in [(Side::Yes, "yes"), (Side::No, "no")] {
        assert_eq!(serde_json::to_value(s).expect("serializes"), json!(n));
        assert_eq!(s.to_string(), n);
        assert_eq!(n.parse::<Side>(), Ok(s));
    }
    assert_eq!("YES".parse::<Side>(), Ok(Side::Yes));
    assert!("maybe".parse::<Side>().is_err());
    for p in Platform::ALL {
        assert_eq!(
            serde_json::to_value(p).expect("serializes"),
            json!(p.as_str())
        );
        assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
    }
    let err = "binance".parse::<Platform>().expect_err("unknown");
    assert!(err.contains("binance") && err.contains("kalshi"), "{err}");
}

#[test]
fn recommendation_wire_names() {
    for (r, n, side) in [
        (Recommendation::BuyYes, "BUY_YES", Some(Side::Yes)),
        (Recommendation::BuyNo, "BUY_NO", Some(Side::No)),
        (Recommendation::NoTrade, "NO_TRADE", None),
    ] {
        assert_eq!(serde_json::to_value(r).expect("serializes"), json!(n));
        assert_eq!(
            serde_json::from_value::<Recommendation>(json!(n)).expect("parses"),
            r
        );
        assert_eq!(r.side(), side);
    }
}

/// `ledger --json` fields, decimals as strings.
#[test]
fn trade_json_has_the_ledger_fields_with_decimal_strings() {
    let trade = Trade {
        trade_id: 7,
        event_id: "evt_1".to_string(),
        platform: Platform::Kalshi,
        market_id: "KXFED-26MAR19".to_string(),
        side: Side::Yes,
        action: TradeAction::Open,
        contracts: 1199,
        price: dec(40, 2),
        win_probability: Some(dec(55, 2)),
        cost: dec(47960, 2),
        fee: dec(2015, 2),
        cash_before: dec(10_000, 0),
        cash_after: dec(950_025, 2),
        realized_pnl: None,
        placed_at: at(0),
    };
    let v = serde_json::to_value(&trade).expect("serializes");
    let expect = [
        ("trade_id", json!(7)),
        ("event_id", json!("evt_1")),
        ("platform", json!("kalshi")),
        ("market_id", json!("KXFED-26MAR19")),
        ("side", json!("yes")),
        ("action", json!("open")),
        ("contracts", json!(1199)),
        ("price", json!("0.40")),
        ("win_probability", json!("0.55")),
        ("cost", json!("479.60")),
        ("fee", json!("20.15")),
        ("cash_before", json!("10000")),
        ("cash_after", json!("9500.25")),
    ];
    for (key, value) in expect {
        assert_eq!(v.get(key), Some(&value), "field {key}");
    }
    assert!(
        matches!(v.get("placed_at"), Some(Value::String(s)) if s.starts_with("2026-03-01T23:50:00"))
    );
    let back: Trade = serde_json::from_value(v).expect("parses");
    assert_eq!(back, trade);
}

#[test]
fn price_is_strictly_inside_zero_one() {
    for bad in [dec(0, 0), dec(1, 0), dec(-1, 2), dec(101, 2)] {
        let err = Price::new(bad).expect_err("outside (0, 1)");
        assert!(err.contains(&bad.to_string()), "{err}");
        assert!(serde_json::from_value::<Price>(json!(bad.to_string())).is_err());
    }
    assert_eq!(Price::new(dec(1, 4)).map(Price::get), Ok(dec(1, 4)));
    assert_eq!(price(30, 2).complement(), price(70, 2));
    // Both a JSON number and a string decode exactly.
    assert_eq!(
        serde_json::from_str::<Price>("0.62").expect("number"),
        price(62, 2)
    );
    assert_eq!(
        serde_json::from_str::<Price>("\"0.62\"").expect("string"),
        price(62, 2)
    );
}

#[test]
fn market_key_validation_and_display() {
    let m: MarketKey = "kalshi/KXFED-26MAR19".parse().expect("parses");
    assert_eq!(m, market(Platform::Kalshi, "KXFED-26MAR19"));
    assert_eq!(m.to_string(), "kalshi/KXFED-26MAR19");
    for bad in [
        "KXFED",
        "kalshi/",
        "kalshi/  ",
        "kalshi/a/b",
        "nyse/X",
        "kalshi/a\nb",
    ] {
        assert!(bad.parse::<MarketKey>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn signal_decodes_with_only_the_required_fields() {
    let s: Signal = serde_json::from_value(json!({
        "recommendation": "BUY_NO", "edge": "-0.12"
    }))
    .expect("parses");
    assert_eq!(s.recommendation, Recommendation::BuyNo);
    assert_eq!(s.edge, Decimal::new(-12, 2));
    assert_eq!(
        (s.probability, s.expires_at, s.freshness),
        (None, None, None)
    );
}

proptest::proptest! {
    /// The one-pass check of the common id says what the rules say, for any text.
    #[test]
    fn prop_market_id_check_follows_the_rules(id in "[ -~]{0,12}|\\PC{0,12}|[a-z/\t\u{FFFD} ]{0,6}") {
        let rules = !id.trim().is_empty()
            && !id.contains('/')
            && !id.chars().any(char::is_control)
            && !id.contains(char::REPLACEMENT_CHARACTER);
        proptest::prop_assert_eq!(strategies::MarketKey::check(&id).is_ok(), rules, "{:?}", id);
    }
}
