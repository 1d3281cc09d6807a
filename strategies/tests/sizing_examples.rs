//! Fractional-Kelly sizing on hand-computed cases: every number derived in the comments.

mod support;

use rust_decimal::Decimal;
use strategies::sizing::{size, trade_fee, FeeSchedule, SizeRequest, SizingRules};
use strategies::{Outcome, Platform, Price};
use support::*;

// Hand-computed cases. Defaults: bankroll 10000, kelly 0.25, max_position 0.05,
// max_exposure 0.50, min_edge 0.02, Kalshi fee rate 0.07, Polymarket 0.

fn rules() -> SizingRules {
    SizingRules::default()
}

fn request(platform: Platform, c: Price, w: Decimal, cash: Decimal, open: Decimal) -> SizeRequest {
    SizeRequest {
        platform,
        price: c,
        win_probability: w,
        cash,
        open_exposure: open,
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let r = rules();
    assert_eq!(r.bankroll, dec(10_000, 0));
    assert_eq!(r.kelly_fraction, dec(25, 2));
    assert_eq!(r.max_position_pct, dec(5, 2));
    assert_eq!(r.max_exposure_pct, dec(50, 2));
    assert_eq!(r.min_edge, dec(2, 2));
    let f = FeeSchedule::default();
    assert_eq!(f.rate(Platform::Kalshi), dec(7, 2));
    assert_eq!(f.rate(Platform::Polymarket), Decimal::ZERO);
}

/// Kalshi, c = 0.40, w = 0.55, cash 10000, kelly 0.25, cap 0.05.
///
/// fee per contract = 0.07 * 0.40 * 0.60 = 0.0168, so c_eff = 0.4168
/// edge = 0.55 - 0.4168 = 0.1332 (>= min_edge 0.02)
/// f* = 0.1332 / 0.5832 = 0.2283950617...; 0.25 * f* = 0.0570987654... > 0.05, so the cap binds
/// stake = 10000 * 0.05 = 500; exposure headroom 10000 * 0.50 - 0 = 5000 does not bind
/// contracts = floor(500 / 0.4168) = floor(1199.616...) = 1199
///   (1199 * 0.4168 = 499.7432 <= 500 < 500.16 = 1200 * 0.4168)
/// cost = 1199 * 0.40 = 479.60
/// fee = ceil_cent(0.07 * 1199 * 0.40 * 0.60) = ceil_cent(0.07 * 287.76) = ceil_cent(20.1432) = 20.15
/// cash_after = 10000 - 479.60 - 20.15 = 9500.25
#[test]
fn kalshi_example_position_cap_binds() {
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let s = size(&rules(), &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.edge_after_fees, dec(1332, 4));
    assert_eq!(s.kelly, dec(1332, 4) / dec(5832, 4));
    assert_eq!(s.kelly.round_dp(10), dec(2_283_950_617, 10));
    assert_eq!(s.stake, dec(500, 0));
    assert_eq!(s.contracts, 1199);
    assert_eq!(s.price, dec(40, 2));
    assert_eq!(s.cost, dec(47960, 2));
    assert_eq!(s.fee, dec(2015, 2));
    assert_eq!(req.cash - s.cost - s.fee, dec(950_025, 2));
}

/// Same market with kelly_fraction 0.10: now Kelly binds, not the cap.
///
/// 0.10 * f* = 0.0228395061... < 0.05
/// stake = 10000 * 0.0228395061... = 228.395061...
/// contracts = floor(228.395061... / 0.4168) = 547  (547 * 0.4168 = 227.9896; 548 * 0.4168 = 228.4064)
/// cost = 547 * 0.40 = 218.80; fee = ceil_cent(0.07 * 547 * 0.24) = ceil_cent(9.1896) = 9.19
/// cash_after = 10000 - 218.80 - 9.19 = 9772.01
#[test]
fn kalshi_example_kelly_binds() {
    let rules = SizingRules {
        kelly_fraction: dec(10, 2),
        ..rules()
    };
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let s = size(&rules, &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.stake.round_dp(6), dec(228_395_062, 6));
    assert_eq!(s.contracts, 547);
    assert_eq!(s.cost, dec(21880, 2));
    assert_eq!(s.fee, dec(919, 2));
    assert_eq!(req.cash - s.cost - s.fee, dec(977_201, 2));
}

/// NO side at c = 0.30 (YES at 0.70), w = 0.42.
///
/// fee per contract = 0.07 * 0.30 * 0.70 = 0.0147; c_eff = 0.3147; edge = 0.1053
/// f* = 0.1053 / 0.6853 = 0.15365533...; 0.25 * f* = 0.03841383... < 0.05
/// stake = 384.1383...; contracts = floor(384.1383 / 0.3147) = 1220
///   (1220 * 0.3147 = 383.934; 1221 * 0.3147 = 384.2487)
/// cost = 366.00; fee = ceil_cent(0.07 * 1220 * 0.21) = ceil_cent(17.934) = 17.94
#[test]
fn kalshi_example_no_side() {
    let req = request(
        Platform::Kalshi,
        price(30, 2),
        dec(42, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let s = size(&rules(), &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.stake.round_dp(4), dec(3_841_383, 4));
    assert_eq!(s.contracts, 1220);
    assert_eq!(s.cost, dec(366, 0));
    assert_eq!(s.fee, dec(1794, 2));
}

/// Polymarket, no fee: c_eff = 0.40, edge 0.15, f* = 0.15 / 0.60 = 0.25; 0.25 * 0.25 = 0.0625
/// > 0.05, stake 500, contracts = 500 / 0.40 = 1250 exactly, cost 500.00, fee 0.
#[test]
fn polymarket_example_no_fee() {
    let req = request(
        Platform::Polymarket,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let s = size(&rules(), &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.kelly, dec(25, 2));
    assert_eq!(s.stake, dec(500, 0));
    assert_eq!(s.contracts, 1250);
    assert_eq!(s.cost, dec(500, 0));
    assert_eq!(s.fee, Decimal::ZERO);
}

/// Exposure binds: 4900 already open, headroom = 5000 - 4900 = 100 < 500.
/// contracts = floor(100 / 0.4168) = 239 (239 * 0.4168 = 99.6152; 240 * 0.4168 = 100.032)
/// cost = 95.60; fee = ceil_cent(0.07 * 239 * 0.24) = ceil_cent(4.0152) = 4.02
#[test]
fn exposure_headroom_caps_the_stake() {
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        dec(4900, 0),
    );
    let s = size(&rules(), &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.stake, dec(100, 0));
    assert_eq!(s.contracts, 239);
    assert_eq!(s.cost, dec(9560, 2));
    assert_eq!(s.fee, dec(402, 2));
}

/// Cash binds after the fee is rounded up: kelly 1, cap 1, w = 1 so f* = 1 and stake = cash.
/// cash 1.2504 = 3 * 0.4168, so floor(stake / c_eff) = 3, but 3 contracts cost
/// 1.20 + ceil_cent(0.0504) = 1.26 > 1.2504; 2 cost 0.80 + ceil_cent(0.0336) = 0.84.
#[test]
fn rounded_fee_steps_down_to_what_cash_pays() {
    let rules = SizingRules {
        kelly_fraction: Decimal::ONE,
        max_position_pct: Decimal::ONE,
        ..rules()
    };
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        Decimal::ONE,
        dec(12504, 4),
        Decimal::ZERO,
    );
    let s = size(&rules, &FeeSchedule::default(), &req).expect("sized");
    assert_eq!(s.stake, dec(12504, 4));
    assert_eq!(s.contracts, 2);
    assert_eq!(s.cost, dec(80, 2));
    assert_eq!(s.fee, dec(4, 2));
}

#[test]
fn fee_rounding_examples() {
    // 0.07 * 1 * 0.5 * 0.5 = 0.0175 -> 0.02
    assert_eq!(trade_fee(dec(7, 2), 1, dec(5, 1)), dec(2, 2));
    // 0.07 * 100 * 0.5 * 0.5 = 1.75 exactly: no rounding
    assert_eq!(trade_fee(dec(7, 2), 100, dec(5, 1)), dec(175, 2));
    // 0.07 * 3 * 0.01 * 0.99 = 0.002079 -> 0.01: a fee is never rounded away
    assert_eq!(trade_fee(dec(7, 2), 3, dec(1, 2)), dec(1, 2));
    assert_eq!(trade_fee(Decimal::ZERO, 1000, dec(5, 1)), Decimal::ZERO);
    assert_eq!(trade_fee(dec(7, 2), 0, dec(5, 1)), Decimal::ZERO);
}

#[test]
fn edge_below_min_reason_names_the_numbers() {
    // edge = 0.43 - 0.4168 = 0.0132 < 0.02
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(43, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let r = size(&rules(), &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::EdgeBelowMin);
    for needle in ["0.0132", "0.43", "0.4168", "0.02", "min_edge"] {
        assert!(
            r.reason.to_string().contains(needle),
            "{needle:?} not in {:?}",
            r.reason
        );
    }
}

#[test]
fn negative_edge_is_refused_even_with_zero_min_edge() {
    let rules = SizingRules {
        min_edge: Decimal::ZERO,
        ..rules()
    };
    // w = c_eff exactly: zero edge is not an edge.
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(4168, 4),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    let r = size(&rules, &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::EdgeBelowMin);
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(41, 2),
        dec(10_000, 0),
        Decimal::ZERO,
    );
    assert_eq!(
        size(&rules, &FeeSchedule::default(), &req)
            .expect_err("refused")
            .outcome,
        Outcome::EdgeBelowMin
    );
}

#[test]
fn exposure_limit_reason_when_full() {
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        dec(5000, 0),
    );
    let r = size(&rules(), &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::ExposureLimit);
    for needle in ["5000", "0.50", "10000", "max_exposure_pct"] {
        assert!(
            r.reason.to_string().contains(needle),
            "{needle:?} not in {:?}",
            r.reason
        );
    }
}

#[test]
fn exposure_limit_reason_when_headroom_buys_nothing() {
    // headroom 5000 - 4999.80 = 0.20 < c_eff 0.4168
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(10_000, 0),
        dec(499_980, 2),
    );
    let r = size(&rules(), &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::ExposureLimit);
    for needle in ["0.20", "0.4168", "headroom"] {
        assert!(
            r.reason.to_string().contains(needle),
            "{needle:?} not in {:?}",
            r.reason
        );
    }
}

#[test]
fn size_zero_reason_names_stake_and_price() {
    // stake = 5 * 0.05 = 0.25 < c_eff 0.4168
    let req = request(
        Platform::Kalshi,
        price(40, 2),
        dec(55, 2),
        dec(5, 0),
        Decimal::ZERO,
    );
    let r = size(&rules(), &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::SizeZero);
    for needle in ["0.25", "0.4168", "stake"] {
        assert!(
            r.reason.to_string().contains(needle),
            "{needle:?} not in {:?}",
            r.reason
        );
    }
}

#[test]
fn no_cash_sizes_zero() {
    let req = request(
        Platform::Polymarket,
        price(40, 2),
        dec(90, 2),
        Decimal::ZERO,
        Decimal::ZERO,
    );
    let r = size(&rules(), &FeeSchedule::default(), &req).expect_err("refused");
    assert_eq!(r.outcome, Outcome::SizeZero);
}
