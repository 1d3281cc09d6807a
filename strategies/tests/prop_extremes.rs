//! No input the types admit can make the strategy panic or loop: sizing and the core over the
//! whole representable range of prices (down to `1e-28`), edges, probabilities, fee rates,
//! fractions, bankrolls and cash (up to `Decimal::MAX`). Arithmetic that does not fit a
//! `Decimal` refuses with a reason; everything that does fit keeps the sizing invariants.

mod support;

use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::sizing::{size, trade_fee, FeeSchedule, SizeRequest, SizingRules};
use strategies::{
    Core, CoreConfig, Event, EventBody, Outcome, Price, Recommendation, Signal, SignalReply,
    WhaleAlert,
};
use support::flows::*;
use support::*;

/// Any decimal in `[0, 1]` at any scale, from the smallest step to the coarsest.
fn unit_interval() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(Decimal::ONE),
        (0u32..=28).prop_flat_map(|scale| {
            let top = 10u128.pow(scale);
            (0u128..=top).prop_map(move |m| Decimal::from_i128_with_scale(m as i128, scale))
        }),
    ]
}

/// Any price in (0, 1): every mantissa at every scale, with the extremes drawn often.
fn extreme_price() -> impl Strategy<Value = Price> {
    let smallest = Decimal::new(1, 28);
    let largest = Decimal::ONE - smallest;
    prop_oneof![
        1 => Just(smallest),
        1 => Just(largest),
        1 => Just(Decimal::new(1, 11)),
        4 => (1u32..=28).prop_flat_map(|scale| {
            let top = 10u128.pow(scale) - 1;
            (1u128..=top).prop_map(move |m| Decimal::from_i128_with_scale(m as i128, scale))
        }),
    ]
    .prop_map(|p| Price::new(p).expect("in (0, 1)"))
}

/// A fraction in (0, 1], often exactly 1 (the all-in settings).
fn extreme_fraction() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        2 => Just(Decimal::ONE),
        1 => Just(Decimal::new(1, 28)),
        3 => unit_interval().prop_filter("positive", |f| !f.is_zero()),
    ]
}

/// Any non-negative amount of money a `Decimal` holds, from `1e-28` to `Decimal::MAX`.
fn extreme_money() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        1 => Just(Decimal::MAX),
        1 => Just(Decimal::ZERO),
        1 => Just(Decimal::new(1, 28)),
        4 => (any::<u128>(), 0u32..=28).prop_map(|(m, scale)| {
            let mantissa = (m % (1u128 << 96)) as i128;
            Decimal::from_i128_with_scale(mantissa, scale)
        }),
    ]
}

fn extreme_rules() -> impl Strategy<Value = SizingRules> {
    (
        extreme_money(),
        extreme_fraction(),
        extreme_fraction(),
        extreme_fraction(),
        unit_interval(),
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

fn extreme_fees() -> impl Strategy<Value = FeeSchedule> {
    (unit_interval(), unit_interval())
        .prop_map(|(kalshi, polymarket)| FeeSchedule { kalshi, polymarket })
}

fn extreme_request() -> impl Strategy<Value = SizeRequest> {
    (
        platform(),
        extreme_price(),
        unit_interval(),
        extreme_money(),
        extreme_money(),
    )
        .prop_map(
            |(platform, price, win_probability, cash, open_exposure)| SizeRequest {
                platform,
                price,
                win_probability,
                cash,
                open_exposure,
            },
        )
}

fn config(rules: SizingRules, fees: FeeSchedule) -> CoreConfig {
    CoreConfig {
        sizing: rules,
        fees,
        ..no_cooldown()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Sizing never panics; a sized fill is affordable, within its stake, and maximal.
    #[test]
    fn prop_sizing_is_total_over_the_representable_range(
        rules in extreme_rules(),
        fees in extreme_fees(),
        req in extreme_request(),
    ) {
        match size(&rules, &fees, &req) {
            Ok(s) => {
                let c = req.price.get();
                let rate = fees.rate(req.platform);
                let n = Decimal::from(s.contracts);
                prop_assert!(s.contracts > 0);
                prop_assert!(n * c <= s.stake, "cost {} > stake {}", n * c, s.stake);
                // The stake pays for fees too; stated as the product the maximality check
                // below uses (a quotient's floor rounds differently at the 28th digit).
                prop_assert!(n * (c + rate * c * (Decimal::ONE - c)) <= s.stake);
                prop_assert!(n * c + trade_fee(rate, s.contracts, c) <= req.cash);
                prop_assert_eq!(s.fee, trade_fee(rate, s.contracts, c));
                if let Some(more) = s.contracts.checked_add(1) {
                    let m = Decimal::from(more);
                    // The stake pays for fees too: `contracts * c_eff <= stake`.
                    let c_eff = c + rate * c * (Decimal::ONE - c);
                    let fits = m.checked_mul(c_eff).is_some_and(|spent| {
                        spent <= s.stake
                            && m * c + trade_fee(rate, more, c) <= req.cash
                    });
                    prop_assert!(!fits, "{} contracts would fit too", more);
                }
            }
            Err(refusal) => prop_assert!(matches!(
                refusal.outcome,
                Outcome::EdgeBelowMin | Outcome::SizeZero | Outcome::ExposureLimit
            )),
        }
    }

    /// The core, on a price_shift at any price with any signal, decides without panicking, and
    /// keeps its book's cash non-negative.
    #[test]
    fn prop_core_decides_any_price_and_signal(
        rules in extreme_rules(),
        fees in extreme_fees(),
        shift_to in extreme_price(),
        whale_to in extreme_price(),
        edge in unit_interval(),
        probability in proptest::option::of(unit_interval()),
        buy_no in any::<bool>(),
    ) {
        let mut core = Core::new(config(rules, fees));
        let m = fed();
        let t = ticket(core.on_event(&shift_event("e1", &m, shift_to, dec(10, 0), at(0)), at(0)));
        // A whale alert moves the price while the signal is in flight.
        let whale = Event {
            id: "w1".to_string(),
            event_type: "whale_alert".to_string(),
            received_at: at(1),
            body: EventBody::WhaleAlert(WhaleAlert {
                market: m.clone(),
                side: None,
                flow: None,
                price: Some(whale_to),
                timestamp: None,
            }),
        };
        let _ = core.on_event(&whale, at(1));
        let (recommendation, edge) = match buy_no {
            true => (Recommendation::BuyNo, -edge),
            false => (Recommendation::BuyYes, edge),
        };
        let reply = SignalReply::Signal(Signal {
            recommendation,
            edge,
            probability,
            expires_at: None,
            freshness: None,
        });
        let d = core.on_signal(&t, reply, at(2));
        prop_assert!(core.book().cash() >= Decimal::ZERO);
        prop_assert_eq!(d.trades.is_empty(), d.outcome != Outcome::Traded);
    }
}

/// The two cases the adversarial run found: a `1e-28` price overflowed `stake / c_eff`, and
/// the all-in settings at `1e-11` stepped down one contract at a time for about a minute.
#[test]
fn tiny_prices_refuse_or_size_at_once() {
    let tiny = Price::new(Decimal::new(1, 28)).expect("price");
    let mut core = Core::new(no_cooldown());
    let t = ticket(core.on_event(&shift_event("e1", &fed(), tiny, dec(10, 0), at(0)), at(0)));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::SizeZero, "{}", d.reason);
    assert!(d.reason.contains("contracts"), "{}", d.reason);

    let all_in = SizingRules {
        kelly_fraction: Decimal::ONE,
        max_position_pct: Decimal::ONE,
        max_exposure_pct: Decimal::ONE,
        ..SizingRules::default()
    };
    let req = SizeRequest {
        platform: strategies::Platform::Kalshi,
        price: Price::new(Decimal::new(1, 11)).expect("price"),
        win_probability: Decimal::ONE,
        cash: all_in.bankroll,
        open_exposure: Decimal::ZERO,
    };
    let s = size(&all_in, &FeeSchedule::default(), &req).expect("sized");
    let c = req.price.get();
    assert!(Decimal::from(s.contracts) * c + s.fee <= req.cash);
    let more = s.contracts + 1;
    assert!(Decimal::from(more) * c + trade_fee(Decimal::new(7, 2), more, c) > req.cash);
}

/// Sized, affordable, within its stake, and maximal: the property's conditions on one case.
fn assert_sized_and_maximal(rules: &SizingRules, fees: &FeeSchedule, req: &SizeRequest) {
    let s = size(rules, fees, req).expect("sized");
    let c = req.price.get();
    let rate = fees.rate(req.platform);
    let c_eff = c + rate * c * (Decimal::ONE - c);
    let fits = |n: u64| {
        let count = Decimal::from(n);
        count * c_eff <= s.stake && count * c + trade_fee(rate, n, c) <= req.cash
    };
    assert!(fits(s.contracts), "{} contracts do not fit", s.contracts);
    assert_eq!(s.fee, trade_fee(rate, s.contracts, c));
    assert!(
        !fits(s.contracts + 1),
        "{} contracts fit too",
        s.contracts + 1
    );
}

/// Two cases random runs found where 28-digit rounding made the fee's formula and sizing's
/// estimate of it disagree: a fill a cent over the cash held (cash went negative), and a fill
/// thousands of contracts short of the most that fit.
#[test]
fn fees_at_the_28th_digit_never_overdraw_or_undersize() {
    let all_in = |bankroll: Decimal| SizingRules {
        bankroll,
        kelly_fraction: Decimal::ONE,
        max_position_pct: Decimal::ONE,
        max_exposure_pct: Decimal::ONE,
        min_edge: Decimal::ZERO,
    };
    let overdrawn = all_in("45278553.768357813700000000000".parse().expect("decimal"));
    let kalshi = FeeSchedule {
        kalshi: "0.7150369".parse().expect("decimal"),
        polymarket: Decimal::ZERO,
    };
    assert_sized_and_maximal(
        &overdrawn,
        &kalshi,
        &SizeRequest {
            platform: strategies::Platform::Kalshi,
            price: Price::new(Decimal::new(1, 11)).expect("price"),
            win_probability: Decimal::ONE,
            cash: overdrawn.bankroll,
            open_exposure: Decimal::ZERO,
        },
    );
    let short = all_in("3971217462244107165101128716".parse().expect("decimal"));
    let polymarket = FeeSchedule {
        kalshi: Decimal::ZERO,
        polymarket: "0.5632993".parse().expect("decimal"),
    };
    assert_sized_and_maximal(
        &short,
        &polymarket,
        &SizeRequest {
            platform: strategies::Platform::Polymarket,
            price: Price::new(Decimal::new(1, 11)).expect("price"),
            win_probability: Decimal::ONE,
            cash: "53034352.519668164185451057228".parse().expect("decimal"),
            open_exposure: Decimal::ZERO,
        },
    );
}
