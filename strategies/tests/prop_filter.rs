//! The filter stage: threshold and direction, allow/deny lists, market patterns, cooldown, age.

mod support;

use chrono::Duration;
use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::filter::{
    check_age, check_cooldown, check_market, check_threshold, screen, Direction, FilterRules,
    MarketPattern,
};
use strategies::{MarketKey, Outcome, Platform, PriceShift};
use support::*;

fn shift(market: MarketKey, change_pct: Decimal) -> PriceShift {
    PriceShift {
        market,
        old_yes: price(50, 2),
        new_yes: price(55, 2),
        change_pct,
        timestamp: None,
    }
}

/// A percent change in [-50, 50] on a 0.01 grid.
fn change_pct() -> impl Strategy<Value = Decimal> {
    (-5000i64..=5000).prop_map(|n| dec(n, 2))
}

/// A threshold in [0, 30] on a 0.01 grid.
fn min_shift() -> impl Strategy<Value = Decimal> {
    (0i64..=3000).prop_map(|n| dec(n, 2))
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Both),
        Just(Direction::Up),
        Just(Direction::Down)
    ]
}

fn rules_with(min_shift_pct: Decimal, direction: Direction) -> FilterRules {
    FilterRules {
        min_shift_pct,
        direction,
        ..FilterRules::default()
    }
}

fn kx() -> MarketKey {
    market(Platform::Kalshi, "KXFED-26MAR19")
}

fn pattern(text: &str) -> MarketPattern {
    match MarketPattern::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("test literal {text:?}: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_threshold_is_monotone_in_min_shift(
        change in change_pct(),
        dir in direction(),
        m in min_shift(),
        lower in 0i64..=3000,
    ) {
        let m_lower = (m - dec(lower, 2)).max(Decimal::ZERO);
        let s = shift(kx(), change);
        if check_threshold(&rules_with(m, dir), &s).is_ok() {
            prop_assert!(check_threshold(&rules_with(m_lower, dir), &s).is_ok());
        }
    }

    #[test]
    fn prop_threshold_passes_iff_the_move_is_big_enough_and_the_right_way(
        change in change_pct(),
        dir in direction(),
        m in min_shift(),
    ) {
        let right_way = match dir {
            Direction::Both => true,
            Direction::Up => change > Decimal::ZERO,
            Direction::Down => change < Decimal::ZERO,
        };
        let expected = right_way && change.abs() >= m;
        let got = check_threshold(&rules_with(m, dir), &shift(kx(), change));
        prop_assert_eq!(got.is_ok(), expected, "{:?}", got);
        if let Err(r) = got {
            prop_assert_eq!(r.outcome, Outcome::BelowThreshold);
        }
    }

    #[test]
    fn prop_up_never_passes_a_fall_and_down_never_a_rise(change in change_pct(), m in min_shift()) {
        let s = shift(kx(), change);
        if change <= Decimal::ZERO {
            prop_assert!(check_threshold(&rules_with(m, Direction::Up), &s).is_err());
        }
        if change >= Decimal::ZERO {
            prop_assert!(check_threshold(&rules_with(m, Direction::Down), &s).is_err());
        }
    }

    #[test]
    fn prop_platform_lists(
        m in market_key(),
        allow in prop::collection::vec(platform(), 0..3),
        deny in prop::collection::vec(platform(), 0..3),
    ) {
        let rules = FilterRules { platforms: allow.clone(), exclude_platforms: deny.clone(), ..FilterRules::default() };
        let allowed = allow.is_empty() || allow.contains(&m.platform);
        let denied = deny.contains(&m.platform);
        let got = check_market(&rules, &m);
        prop_assert_eq!(got.is_ok(), allowed && !denied);
        if let Err(r) = got {
            prop_assert_eq!(r.outcome, Outcome::FilteredMarket);
            prop_assert!(r.reason.to_string().contains(m.platform.as_str()), "{}", r.reason);
        }
    }

    #[test]
    fn prop_market_lists(
        m in market_key(),
        allow_self in any::<bool>(),
        deny_self in any::<bool>(),
        others in prop::collection::vec(market_key(), 0..3),
    ) {
        let exact = pattern(&m.to_string());
        let others: Vec<MarketPattern> = others.iter().filter(|o| **o != m).map(|o| pattern(&o.to_string())).collect();
        let mut allow = others.clone();
        if allow_self { allow.push(exact.clone()); }
        let mut deny = others.clone();
        if deny_self { deny.push(exact.clone()); }
        let rules = FilterRules { markets: allow.clone(), exclude_markets: deny, ..FilterRules::default() };
        let expected = (allow.is_empty() || allow_self) && !deny_self;
        let got = check_market(&rules, &m);
        prop_assert_eq!(got.is_ok(), expected, "{:?}", got);
        if let Err(r) = got {
            prop_assert_eq!(r.outcome, Outcome::FilteredMarket);
            prop_assert!(r.reason.to_string().contains(&m.to_string()), "{}", r.reason);
        }
    }

    #[test]
    fn prop_exact_pattern_matches_only_that_market(m in market_key(), other in market_key()) {
        let qualified = pattern(&m.to_string());
        prop_assert!(qualified.matches(&m));
        prop_assert_eq!(qualified.matches(&other), other == m);
        let bare = pattern(&m.market_id);
        prop_assert!(bare.matches(&m));
        // A bare id matches that id on every platform.
        for p in Platform::ALL {
            prop_assert!(bare.matches(&market(p, &m.market_id)));
        }
        prop_assert_eq!(bare.matches(&other), other.market_id == m.market_id);
    }

    #[test]
    fn prop_prefix_pattern_matches_by_prefix(m in market_key(), cut in 0usize..=12, qualified in any::<bool>()) {
        let prefix: String = m.market_id.chars().take(cut).collect();
        let text = if qualified { format!("{}/{prefix}*", m.platform) } else { format!("{prefix}*") };
        let p = pattern(&text);
        prop_assert!(p.matches(&m), "{} should match {}", text, m);
        let elsewhere = market(
            if m.platform == Platform::Kalshi { Platform::Polymarket } else { Platform::Kalshi },
            &m.market_id,
        );
        prop_assert_eq!(p.matches(&elsewhere), !qualified);
        // An id that does not start with the prefix never matches.
        let unrelated = market(m.platform, &format!("z{}", m.market_id));
        prop_assert_eq!(p.matches(&unrelated), prefix.is_empty());
    }

    #[test]
    fn prop_cooldown_boundary(cooldown_ms in 0i64..=600_000, elapsed_ms in 0i64..=1_200_000) {
        let rules = FilterRules { cooldown: Duration::milliseconds(cooldown_ms), ..FilterRules::default() };
        let now = at(3600);
        let last = now - Duration::milliseconds(elapsed_ms);
        let got = check_cooldown(&rules, Some(last), now);
        prop_assert_eq!(got.is_ok(), elapsed_ms >= cooldown_ms, "{:?}", got);
        if let Err(r) = got {
            prop_assert_eq!(r.outcome, Outcome::Cooldown);
        }
        // Exactly `cooldown` after the last request passes; a millisecond before does not.
        prop_assert!(check_cooldown(&rules, Some(now - rules.cooldown), now).is_ok());
        if cooldown_ms > 0 {
            let just_before = now - rules.cooldown + Duration::milliseconds(1);
            prop_assert!(check_cooldown(&rules, Some(just_before), now).is_err());
        }
        prop_assert!(check_cooldown(&rules, None, now).is_ok());
    }

    #[test]
    fn prop_age_boundary(max_age_ms in 0i64..=600_000, age_ms in -60_000i64..=1_200_000) {
        let rules = FilterRules { max_event_age: Duration::milliseconds(max_age_ms), ..FilterRules::default() };
        let now = at(3600);
        let got = check_age(&rules, now - Duration::milliseconds(age_ms), now);
        let expected = max_age_ms == 0 || age_ms <= max_age_ms;
        prop_assert_eq!(got.is_ok(), expected, "{:?}", got);
        if let Err(r) = got {
            prop_assert_eq!(r.outcome, Outcome::Stale);
        }
    }

    #[test]
    fn prop_zero_max_event_age_disables_the_age_check(age_days in 0i64..=10_000) {
        let rules = FilterRules { max_event_age: Duration::zero(), ..FilterRules::default() };
        let now = at(0);
        prop_assert!(check_age(&rules, now - Duration::days(age_days), now).is_ok());
    }

    /// `screen` passes exactly when every single check passes, and otherwise refuses with the
    /// outcome of one of the checks that failed.
    #[test]
    fn prop_screen_is_the_conjunction_of_the_checks(
        m in market_key(),
        change in change_pct(),
        dir in direction(),
        min in min_shift(),
        deny_platform in prop::option::of(platform()),
        event_age_s in prop::option::of(0i64..=400),
        received_age_s in 0i64..=400,
        since_signal_s in prop::option::of(0i64..=400),
        cooldown_s in 0i64..=300,
        max_age_s in 0i64..=300,
    ) {
        let rules = FilterRules {
            min_shift_pct: min,
            direction: dir,
            exclude_platforms: deny_platform.into_iter().collect(),
            cooldown: Duration::seconds(cooldown_s),
            max_event_age: Duration::seconds(max_age_s),
            ..FilterRules::default()
        };
        let now = at(10_000);
        let mut s = shift(m.clone(), change);
        s.timestamp = event_age_s.map(|a| now - Duration::seconds(a));
        let received = now - Duration::seconds(received_age_s);
        let last = since_signal_s.map(|a| now - Duration::seconds(a));
        let age = check_age(&rules, s.timestamp.unwrap_or(received), now);
        let lists = check_market(&rules, &m);
        let threshold = check_threshold(&rules, &s);
        let cooldown = check_cooldown(&rules, last, now);
        let failed: Vec<Outcome> = [age, lists, threshold, cooldown]
            .into_iter()
            .filter_map(|r| r.err().map(|r| r.outcome))
            .collect();
        match screen(&rules, &s, received, last, now) {
            Ok(()) => prop_assert!(failed.is_empty(), "passed although {:?} refused", failed),
            Err(r) => prop_assert!(failed.contains(&r.outcome), "{:?} not among {:?}", r.outcome, failed),
        }
    }
}

#[test]
fn pattern_parse_accepts_the_documented_forms() {
    let fed = market(Platform::Kalshi, "KXFED-26MAR19");
    let fed_poly = market(Platform::Polymarket, "KXFED-26MAR19");
    let cpi = market(Platform::Kalshi, "KXCPI-26APR");

    let p = pattern("kalshi/KXFED*");
    assert!(p.matches(&fed) && !p.matches(&fed_poly) && !p.matches(&cpi));
    let p = pattern("KXFED*");
    assert!(p.matches(&fed) && p.matches(&fed_poly) && !p.matches(&cpi));
    let p = pattern("kalshi/KXFED-26MAR19");
    assert!(p.matches(&fed) && !p.matches(&fed_poly));
    let p = pattern("KXFED-26MAR19");
    assert!(p.matches(&fed) && p.matches(&fed_poly));
    // Not a prefix match without the star.
    assert!(!pattern("KXFED").matches(&fed));
    // A star alone, or a platform and a star, match everything (on that platform).
    assert!(pattern("*").matches(&fed) && pattern("*").matches(&fed_poly));
    assert!(pattern("kalshi/*").matches(&cpi) && !pattern("kalshi/*").matches(&fed_poly));
}

#[test]
fn pattern_parse_rejects_bad_forms_with_a_reason() {
    for (text, needle) in [
        ("", "empty"),
        ("kalshi/", "empty"),
        ("KX*FED", "'*'"),
        ("kalshi/**", "'*'"),
        ("binance/BTC", "binance"),
        ("Kalshi/KX", "Kalshi"),
    ] {
        match MarketPattern::parse(text) {
            Ok(p) => panic!("{text:?} parsed as {p:?}"),
            Err(e) => assert!(e.contains(needle), "{text:?}: {e:?} lacks {needle:?}"),
        }
    }
}

#[test]
fn default_rules_are_the_documented_ones() {
    let r = FilterRules::default();
    assert_eq!(r.min_shift_pct, dec(5, 0));
    assert_eq!(r.direction, Direction::Both);
    assert_eq!(r.cooldown, Duration::seconds(60));
    assert_eq!(r.max_event_age, Duration::seconds(120));
    assert!(r.platforms.is_empty() && r.exclude_platforms.is_empty());
    assert!(r.markets.is_empty() && r.exclude_markets.is_empty());
}

#[test]
fn direction_serde_names() {
    for (d, name) in [
        (Direction::Both, "both"),
        (Direction::Up, "up"),
        (Direction::Down, "down"),
    ] {
        assert_eq!(
            serde_json::to_string(&d).expect("serializes"),
            format!("\"{name}\"")
        );
        let back: Direction = serde_json::from_str(&format!("\"{name}\"")).expect("parses");
        assert_eq!(back, d);
    }
    assert!(serde_json::from_str::<Direction>("\"sideways\"").is_err());
}

// Each refusal reason names the rule and the numbers involved.

#[test]
fn below_threshold_reason() {
    let r = check_threshold(
        &rules_with(dec(5, 0), Direction::Both),
        &shift(kx(), dec(-35, 1)),
    )
    .expect_err("refused");
    assert_eq!(r.outcome, Outcome::BelowThreshold);
    assert_eq!(r.reason, "|change| 3.5% < min_shift_pct 5%");
}

#[test]
fn wrong_direction_reason() {
    let r = check_threshold(
        &rules_with(dec(5, 0), Direction::Up),
        &shift(kx(), dec(-60, 1)),
    )
    .expect_err("refused");
    assert_eq!(r.outcome, Outcome::BelowThreshold);
    assert_eq!(r.reason, "change -6.0% is not in filter.direction up");
    let r = check_threshold(
        &rules_with(dec(5, 0), Direction::Down),
        &shift(kx(), dec(97, 1)),
    )
    .expect_err("refused");
    assert_eq!(r.reason, "change 9.7% is not in filter.direction down");
}

#[test]
fn stale_reason() {
    let rules = FilterRules::default();
    let r = check_age(&rules, at(0), at(300)).expect_err("refused");
    assert_eq!(r.outcome, Outcome::Stale);
    assert_eq!(r.reason, "event is 300s old, max_event_age is 120s");
}

#[test]
fn cooldown_reason() {
    let rules = FilterRules::default();
    let r = check_cooldown(&rules, Some(at(0)), at(30)).expect_err("refused");
    assert_eq!(r.outcome, Outcome::Cooldown);
    assert_eq!(r.reason, "last signal request 30s ago, cooldown is 60s");
    assert!(check_cooldown(&rules, Some(at(0)), at(60)).is_ok());
}

#[test]
fn filtered_market_reasons() {
    let poly = market(Platform::Polymarket, "will-it-rain");
    let only_kalshi = FilterRules {
        platforms: vec![Platform::Kalshi],
        ..FilterRules::default()
    };
    let r = check_market(&only_kalshi, &poly).expect_err("refused");
    assert_eq!(r.outcome, Outcome::FilteredMarket);
    assert_eq!(r.reason, "platform polymarket is not in filter.platforms");

    let no_kalshi = FilterRules {
        exclude_platforms: vec![Platform::Kalshi],
        ..FilterRules::default()
    };
    let r = check_market(&no_kalshi, &kx()).expect_err("refused");
    assert_eq!(r.reason, "platform kalshi is in filter.exclude_platforms");

    let only_cpi = FilterRules {
        markets: vec![pattern("KXCPI*")],
        ..FilterRules::default()
    };
    let r = check_market(&only_cpi, &kx()).expect_err("refused");
    assert_eq!(
        r.reason,
        "market kalshi/KXFED-26MAR19 is not in filter.markets"
    );

    let no_fed = FilterRules {
        exclude_markets: vec![pattern("kalshi/KXFED*")],
        ..FilterRules::default()
    };
    let r = check_market(&no_fed, &kx()).expect_err("refused");
    assert_eq!(
        r.reason,
        "market kalshi/KXFED-26MAR19 is in filter.exclude_markets"
    );
    assert!(check_market(&no_fed, &poly).is_ok());
}

/// The event's own timestamp decides its age; the receive time stands in only when it has none.
#[test]
fn screen_ages_by_event_timestamp_then_receive_time() {
    let rules = FilterRules {
        cooldown: Duration::zero(),
        ..FilterRules::default()
    };
    let now = at(1000);
    let mut s = shift(kx(), dec(10, 0));
    s.timestamp = Some(now - Duration::seconds(500));
    let r = screen(&rules, &s, now, None, now).expect_err("old by its timestamp");
    assert_eq!(r.outcome, Outcome::Stale);
    s.timestamp = None;
    assert!(screen(&rules, &s, now, None, now).is_ok());
    let r =
        screen(&rules, &s, now - Duration::seconds(500), None, now).expect_err("old by receipt");
    assert_eq!(r.outcome, Outcome::Stale);
}
