//! Fractional-Kelly sizing: properties over the whole input space (hand-computed cases are in
//! `sizing_examples.rs`).

mod support;

use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::sizing::{ceil_to_cent, size, trade_fee, FeeSchedule, SizeRequest, SizingRules};
use strategies::Outcome;
use support::*;

/// A sizing case. The win probability is drawn near the price most of the time, so that a good
/// share of cases clear the edge check and reach the caps.
fn case() -> impl Strategy<Value = (SizingRules, FeeSchedule, SizeRequest)> {
    (sizing_rules(), fee_schedule(), platform(), any_price())
        .prop_flat_map(|(rules, fees, platform, price)| {
            let c = price.get();
            let w = prop_oneof![
                1 => probability(),
                3 => (0i64..=4000).prop_map(move |n| (c + dec(n, 4)).min(Decimal::ONE)),
            ];
            let exposure_max = rules.bankroll * rules.max_exposure_pct * dec(12, 1);
            let open_exposure =
                (0i64..=1000).prop_map(move |n| (exposure_max * dec(n, 3)).round_dp(2));
            let cash = prop_oneof![
                1 => money(1_000),
                3 => money(20_000_000),
            ];
            (
                Just(rules),
                Just(fees),
                Just(platform),
                Just(price),
                w,
                cash,
                open_exposure,
            )
        })
        .prop_map(
            |(rules, fees, platform, price, win_probability, cash, open_exposure)| {
                let req = SizeRequest {
                    platform,
                    price,
                    win_probability,
                    cash,
                    open_exposure,
                };
                (rules, fees, req)
            },
        )
}

/// `c_eff = c + rate * c * (1 - c)`, computed here independently of the crate.
fn c_eff(fees: &FeeSchedule, req: &SizeRequest) -> Decimal {
    let c = req.price.get();
    c + fees.rate(req.platform) * c * (Decimal::ONE - c)
}

fn headroom(rules: &SizingRules, req: &SizeRequest) -> Decimal {
    rules.bankroll * rules.max_exposure_pct - req.open_exposure
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn prop_sized_trade_has_positive_edge_after_fees((rules, fees, req) in case()) {
        let ce = c_eff(&fees, &req);
        let edge = req.win_probability - ce;
        match size(&rules, &fees, &req) {
            Ok(s) => {
                prop_assert!(edge > Decimal::ZERO, "sized with edge {edge}");
                prop_assert!(edge >= rules.min_edge, "sized with edge {edge} < {}", rules.min_edge);
                prop_assert_eq!(s.edge_after_fees, edge);
                prop_assert_eq!(s.kelly, edge / (Decimal::ONE - ce));
                prop_assert!(s.kelly > Decimal::ZERO && s.kelly <= Decimal::ONE);
            }
            Err(r) => {
                let edge_refusal = edge < rules.min_edge || edge <= Decimal::ZERO;
                prop_assert_eq!(r.outcome == Outcome::EdgeBelowMin, edge_refusal, "{:?}", r);
            }
        }
    }

    #[test]
    fn prop_stake_never_exceeds_any_cap((rules, fees, req) in case()) {
        if let Ok(s) = size(&rules, &fees, &req) {
            prop_assert!(s.stake <= req.cash * rules.max_position_pct);
            prop_assert!(s.stake <= req.cash * (rules.kelly_fraction * s.kelly));
            prop_assert!(s.stake <= headroom(&rules, &req));
            prop_assert!(s.stake > Decimal::ZERO);
            // And it is the tightest of them, not something smaller.
            let uncapped = req.cash * (rules.kelly_fraction * s.kelly).min(rules.max_position_pct);
            prop_assert_eq!(s.stake, uncapped.min(headroom(&rules, &req)));
        }
    }

    #[test]
    fn prop_fill_is_affordable_and_within_stake((rules, fees, req) in case()) {
        if let Ok(s) = size(&rules, &fees, &req) {
            let n = Decimal::from(s.contracts);
            let c = req.price.get();
            prop_assert!(s.contracts > 0);
            prop_assert_eq!(s.price, c);
            prop_assert_eq!(s.cost, n * c);
            prop_assert!(s.cost + s.fee <= req.cash, "cost {} + fee {} > cash {}", s.cost, s.fee, req.cash);
            prop_assert!(req.cash - s.cost - s.fee >= Decimal::ZERO);
            prop_assert!(n * c_eff(&fees, &req) <= s.stake);
            // The fee is rounded up to the cent, so the total may pass the stake, by under a cent.
            prop_assert!(s.cost + s.fee < s.stake + cent());
            prop_assert!(req.open_exposure + s.cost <= rules.bankroll * rules.max_exposure_pct);
        }
    }

    /// All in (kelly 1, cap 1, w = 1, so stake = cash): the rounded-up fee is what limits the
    /// fill, and it still never overdraws.
    #[test]
    fn prop_all_in_stake_never_overdraws(
        cash in money(100_000),
        p in any_price(),
        rate in fee_rate(),
        platform in platform(),
    ) {
        let rules = SizingRules {
            bankroll: dec(1_000_000, 0),
            kelly_fraction: Decimal::ONE,
            max_position_pct: Decimal::ONE,
            max_exposure_pct: Decimal::ONE,
            min_edge: Decimal::ZERO,
        };
        let fees = FeeSchedule { kalshi: rate, polymarket: rate };
        let req = SizeRequest { platform, price: p, win_probability: Decimal::ONE, cash, open_exposure: Decimal::ZERO };
        let c = p.get();
        match size(&rules, &fees, &req) {
            Ok(s) => {
                prop_assert_eq!(s.stake, cash);
                prop_assert!(s.cost + s.fee <= cash);
                let more = s.contracts + 1;
                prop_assert!(Decimal::from(more) * c + trade_fee(rate, more, c) > cash);
            }
            Err(r) => {
                prop_assert_eq!(r.outcome, Outcome::SizeZero);
                prop_assert!(c + trade_fee(rate, 1, c) > cash);
            }
        }
    }

    #[test]
    fn prop_contracts_are_the_most_the_stake_and_cash_allow((rules, fees, req) in case()) {
        if let Ok(s) = size(&rules, &fees, &req) {
            let c = req.price.get();
            let rate = fees.rate(req.platform);
            let floor = (s.stake / c_eff(&fees, &req)).floor();
            prop_assert!(Decimal::from(s.contracts) <= floor);
            if Decimal::from(s.contracts) < floor {
                // Stepped down only because one more contract (fee rounded up) exceeds the cash.
                let more = s.contracts + 1;
                prop_assert!(Decimal::from(more) * c + trade_fee(rate, more, c) > req.cash);
            }
        }
    }

    #[test]
    fn prop_fee_is_exact_fee_rounded_up_to_the_cent(
        rate in fee_rate(),
        contracts in 0u64..=1_000_000,
        price in any_price(),
    ) {
        let c = price.get();
        let exact = rate * Decimal::from(contracts) * c * (Decimal::ONE - c);
        let fee = trade_fee(rate, contracts, c);
        prop_assert!(fee >= exact);
        prop_assert!(fee < exact + cent());
        prop_assert_eq!(fee, fee.round_dp(2), "fee {} is not whole cents", fee);
        prop_assert_eq!(ceil_to_cent(exact), fee);
        if rate.is_zero() || contracts == 0 {
            prop_assert_eq!(fee, Decimal::ZERO);
        }
    }

    #[test]
    fn prop_sized_fee_matches_trade_fee((rules, fees, req) in case()) {
        if let Ok(s) = size(&rules, &fees, &req) {
            let rate = fees.rate(req.platform);
            prop_assert_eq!(s.fee, trade_fee(rate, s.contracts, req.price.get()));
            if rate.is_zero() {
                prop_assert_eq!(s.fee, Decimal::ZERO);
            }
        }
    }

    #[test]
    fn prop_ceil_to_cent_is_the_smallest_cent_at_or_above(mantissa in 0i64..=10_000_000_000, scale in 0u32..=10) {
        let amount = dec(mantissa, scale);
        let up = ceil_to_cent(amount);
        prop_assert!(up >= amount);
        prop_assert!(up - cent() < amount);
        prop_assert_eq!(up, up.round_dp(2));
    }

    #[test]
    fn prop_more_edge_never_sizes_smaller(
        (rules, fees, req) in case(),
        extra in 1i64..=3000,
    ) {
        let higher = SizeRequest {
            win_probability: (req.win_probability + dec(extra, 4)).min(Decimal::ONE),
            ..req.clone()
        };
        let low = size(&rules, &fees, &req);
        let high = size(&rules, &fees, &higher);
        if let Ok(l) = &low {
            let h = high.as_ref();
            prop_assert!(h.is_ok(), "w {} sized, w {} refused: {:?}", req.win_probability, higher.win_probability, h);
            if let Ok(h) = h {
                prop_assert!(h.stake >= l.stake);
                prop_assert!(h.contracts >= l.contracts);
            }
        }
        if let Err(r) = &high {
            if r.outcome == Outcome::EdgeBelowMin {
                prop_assert!(matches!(&low, Err(l) if l.outcome == Outcome::EdgeBelowMin));
            }
        }
    }

    #[test]
    fn prop_higher_kelly_fraction_never_fewer_contracts(
        (rules, fees, req) in case(),
        extra in 1i64..=100,
    ) {
        let bolder = SizingRules {
            kelly_fraction: (rules.kelly_fraction + dec(extra, 2)).min(Decimal::ONE),
            ..rules.clone()
        };
        if let Ok(l) = size(&rules, &fees, &req) {
            let h = size(&bolder, &fees, &req);
            prop_assert!(h.is_ok(), "kelly {} sized, {} refused: {:?}", rules.kelly_fraction, bolder.kelly_fraction, h);
            if let Ok(h) = h {
                prop_assert!(h.stake >= l.stake);
                prop_assert!(h.contracts >= l.contracts);
            }
        }
    }

    #[test]
    fn prop_more_cash_never_fewer_contracts((rules, fees, req) in case(), extra in money(1_000_000)) {
        let richer = SizeRequest { cash: req.cash + extra, ..req.clone() };
        if let Ok(l) = size(&rules, &fees, &req) {
            let h = size(&rules, &fees, &richer);
            prop_assert!(h.is_ok(), "cash {} sized, {} refused: {:?}", req.cash, richer.cash, h);
            if let Ok(h) = h {
                prop_assert!(h.contracts >= l.contracts);
            }
        }
    }

    #[test]
    fn prop_refusals_are_exactly_edge_exposure_or_size((rules, fees, req) in case()) {
        if let Err(r) = size(&rules, &fees, &req) {
            let ce = c_eff(&fees, &req);
            let edge = req.win_probability - ce;
            let room = headroom(&rules, &req);
            match r.outcome {
                Outcome::EdgeBelowMin => prop_assert!(edge < rules.min_edge || edge <= Decimal::ZERO),
                Outcome::ExposureLimit => {
                    // Exposure bound the stake, and the headroom buys nothing.
                    let kelly = edge / (Decimal::ONE - ce);
                    let uncapped = req.cash * (rules.kelly_fraction * kelly).min(rules.max_position_pct);
                    prop_assert!(room < uncapped, "headroom {room} >= stake {uncapped}");
                    prop_assert!(room < ce + cent(), "headroom {room} could buy at c_eff {ce}");
                }
                Outcome::SizeZero => {
                    let kelly = edge / (Decimal::ONE - ce);
                    let stake = req.cash * (rules.kelly_fraction * kelly).min(rules.max_position_pct);
                    prop_assert!(stake <= room);
                    prop_assert!(stake < ce + cent(), "stake {stake} could buy at c_eff {ce}");
                }
                other => prop_assert!(false, "unexpected refusal {other}: {}", r.reason),
            }
            prop_assert!(!r.reason.to_string().is_empty());
        }
    }
}
