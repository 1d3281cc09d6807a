//! Shared generators and fixtures for the strategy property tests.
//!
//! Every decimal is built from integers (`Decimal::new(n, scale)`), never from floats, so a
//! failing case shrinks to an exact, readable number. Each test file uses a different subset,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod flows;

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::sizing::{FeeSchedule, Sizing, SizingRules};
use strategies::{MarketKey, Platform, Price, Side, Timestamp};

/// A fixed instant ten minutes before a UTC midnight, so longer runs cross a day boundary.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 23, 50, 0)
        .single()
        .unwrap_or_default()
}

/// `t0() + secs`.
pub fn at(secs: i64) -> Timestamp {
    t0() + Duration::seconds(secs)
}

/// A decimal literal from integer parts: `dec(4168, 4) == 0.4168`.
pub fn dec(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

/// A valid price; panics only on a literal outside (0, 1) written in a test.
pub fn price(mantissa: i64, scale: u32) -> Price {
    match Price::new(dec(mantissa, scale)) {
        Ok(p) => p,
        Err(e) => panic!("test literal: {e}"),
    }
}

pub fn market(platform: Platform, id: &str) -> MarketKey {
    match MarketKey::new(platform, id) {
        Ok(m) => m,
        Err(e) => panic!("test literal: {e}"),
    }
}

/// One cent.
pub fn cent() -> Decimal {
    dec(1, 2)
}

/// Prices on the cent grid, 0.01 ..= 0.99.
pub fn cent_price() -> impl Strategy<Value = Price> {
    (1i64..=99).prop_map(|n| price(n, 2))
}

/// Prices on a 0.0001 grid, 0.0001 ..= 0.9999 (the API sends sub-cent prices for Polymarket).
pub fn fine_price() -> impl Strategy<Value = Price> {
    (1i64..=9999).prop_map(|n| price(n, 4))
}

/// Either grid, mostly the cent one.
pub fn any_price() -> impl Strategy<Value = Price> {
    prop_oneof![3 => cent_price(), 1 => fine_price()]
}

/// A probability in [0, 1] on a 0.0001 grid.
pub fn probability() -> impl Strategy<Value = Decimal> {
    (0i64..=10_000).prop_map(|n| dec(n, 4))
}

/// An amount of money in whole cents, `0 ..= max_cents / 100`.
pub fn money(max_cents: i64) -> impl Strategy<Value = Decimal> {
    (0i64..=max_cents).prop_map(|n| dec(n, 2))
}

/// A fraction in (0, 1] on a 0.01 grid.
pub fn fraction() -> impl Strategy<Value = Decimal> {
    (1i64..=100).prop_map(|n| dec(n, 2))
}

pub fn platform() -> impl Strategy<Value = Platform> {
    prop_oneof![Just(Platform::Kalshi), Just(Platform::Polymarket)]
}

pub fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Yes), Just(Side::No)]
}

/// A fee rate in [0, 0.2] on a 0.0001 grid, zero a quarter of the time.
pub fn fee_rate() -> impl Strategy<Value = Decimal> {
    prop_oneof![1 => Just(Decimal::ZERO), 3 => (0i64..=2000).prop_map(|n| dec(n, 4))]
}

pub fn fee_schedule() -> impl Strategy<Value = FeeSchedule> {
    (fee_rate(), fee_rate()).prop_map(|(kalshi, polymarket)| FeeSchedule { kalshi, polymarket })
}

/// Sizing rules over the whole legal range of every setting.
pub fn sizing_rules() -> impl Strategy<Value = SizingRules> {
    (
        (100i64..=10_000_000).prop_map(|n| dec(n, 2)),
        fraction(),
        fraction(),
        fraction(),
        (0i64..=1000).prop_map(|n| dec(n, 4)),
    )
        .prop_map(
            |(bankroll, kelly_fraction, max_position_pct, max_exposure_pct, min_edge)| {
                SizingRules {
                    bankroll,
                    kelly_fraction,
                    max_position_pct,
                    max_exposure_pct,
                    min_edge,
                }
            },
        )
}

/// A market id as the feeds send them: upper-case letters, digits and dashes.
pub fn market_id() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9-]{0,11}"
}

pub fn market_key() -> impl Strategy<Value = MarketKey> {
    (platform(), market_id()).prop_map(|(p, id)| market(p, &id))
}

/// A sized entry as `Book::open` receives it; only contracts, price, cost and fee are booked.
pub fn sizing(contracts: u64, c: Price, fee: Decimal) -> Sizing {
    let cost = Decimal::from(contracts) * c.get();
    Sizing {
        contracts,
        price: c.get(),
        cost,
        fee,
        stake: cost + fee,
        kelly: Decimal::ZERO,
        edge_after_fees: Decimal::ZERO,
    }
}
