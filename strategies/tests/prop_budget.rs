//! The signal budget: a sliding one-minute window and a UTC calendar day, zero meaning unlimited.

mod support;

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use strategies::budget::{BudgetLimits, SignalBudget};
use strategies::Timestamp;
use support::*;

/// Non-decreasing call times from `t0()` (ten minutes before midnight), gaps 0..=90 s in ms,
/// occasionally a jump of hours so runs span several UTC days.
fn call_times() -> impl Strategy<Value = Vec<Timestamp>> {
    let gap = prop_oneof![
        8 => (0i64..=90_000).prop_map(Duration::milliseconds),
        1 => Just(Duration::zero()),
        1 => (1i64..=30).prop_map(Duration::hours),
    ];
    prop::collection::vec(gap, 0..200).prop_map(|gaps| {
        let mut now = t0();
        gaps.into_iter()
            .map(|g| {
                now += g;
                now
            })
            .collect()
    })
}

fn limits() -> impl Strategy<Value = BudgetLimits> {
    (
        prop_oneof![1 => Just(0u32), 3 => 1u32..=6],
        prop_oneof![1 => Just(0u32), 3 => 1u32..=40],
    )
        .prop_map(|(max_per_minute, max_per_day)| BudgetLimits {
            max_per_minute,
            max_per_day,
        })
}

/// Successful calls in the minute ending at `now`, `(now - 60 s, now]`.
fn in_last_minute(spent: &[Timestamp], now: Timestamp) -> usize {
    spent
        .iter()
        .filter(|t| **t > now - Duration::minutes(1) && **t <= now)
        .count()
}

fn on_day(spent: &[Timestamp], day: NaiveDate) -> usize {
    spent.iter().filter(|t| t.date_naive() == day).count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The budget spends exactly when neither limit is reached, and then no 60 s window and no
    /// UTC day ever holds more calls than allowed.
    #[test]
    fn prop_budget_spends_exactly_up_to_the_limits(limits in limits(), times in call_times()) {
        let mut budget = SignalBudget::default();
        let mut spent: Vec<Timestamp> = Vec::new();
        for now in times {
            let minute_full = limits.max_per_minute > 0
                && in_last_minute(&spent, now) >= limits.max_per_minute as usize;
            let day_full = limits.max_per_day > 0
                && on_day(&spent, now.date_naive()) >= limits.max_per_day as usize;
            match budget.try_spend(limits, now) {
                Ok(()) => {
                    prop_assert!(!minute_full && !day_full, "spent at {} past a limit", now);
                    spent.push(now);
                }
                Err(why) => {
                    prop_assert!(minute_full || day_full, "refused at {} under the limits: {}", now, why);
                    if minute_full {
                        prop_assert!(why.contains("max_per_minute"), "{}", why);
                    } else {
                        prop_assert!(why.contains("max_per_day"), "{}", why);
                    }
                }
            }
            prop_assert_eq!(budget.spent_today() as usize, on_day(&spent, now.date_naive()));
        }
        for t in &spent {
            if limits.max_per_minute > 0 {
                prop_assert!(in_last_minute(&spent, *t) <= limits.max_per_minute as usize);
            }
            if limits.max_per_day > 0 {
                prop_assert!(on_day(&spent, t.date_naive()) <= limits.max_per_day as usize);
            }
        }
    }

    #[test]
    fn prop_zero_limits_are_unlimited(times in call_times()) {
        let mut budget = SignalBudget::default();
        let unlimited = BudgetLimits { max_per_minute: 0, max_per_day: 0 };
        for now in times {
            prop_assert!(budget.try_spend(unlimited, now).is_ok());
        }
    }

    /// The budget is persisted with the book: a serde round trip mid-run changes nothing.
    #[test]
    fn prop_budget_survives_a_serde_round_trip(limits in limits(), times in call_times(), cut in 0usize..200) {
        let mut straight = SignalBudget::default();
        let mut restarted = SignalBudget::default();
        for (i, now) in times.into_iter().enumerate() {
            if i == cut {
                let json = serde_json::to_string(&restarted).expect("serializes");
                restarted = serde_json::from_str(&json).expect("parses");
            }
            prop_assert_eq!(straight.try_spend(limits, now), restarted.try_spend(limits, now));
        }
    }
}

#[test]
fn per_minute_window_reopens_exactly_a_minute_later() {
    let limits = BudgetLimits {
        max_per_minute: 2,
        max_per_day: 0,
    };
    let mut b = SignalBudget::default();
    assert!(b.try_spend(limits, at(0)).is_ok());
    assert!(b.try_spend(limits, at(10)).is_ok());
    let why = b.try_spend(limits, at(59)).expect_err("third in a minute");
    assert_eq!(why, "signal.max_per_minute 2 reached");
    // At exactly t + 60 s the first call has left the window.
    assert!(b.try_spend(limits, at(60)).is_ok());
    assert!(b.try_spend(limits, at(69)).is_err());
    assert!(b.try_spend(limits, at(70)).is_ok());
}

#[test]
fn per_day_limit_resets_at_utc_midnight() {
    // t0 is 23:50 UTC on 2026-03-01.
    let limits = BudgetLimits {
        max_per_minute: 0,
        max_per_day: 3,
    };
    let mut b = SignalBudget::default();
    for s in [0, 1, 2] {
        assert!(b.try_spend(limits, at(s)).is_ok());
    }
    let why = b.try_spend(limits, at(599)).expect_err("fourth on the day");
    assert_eq!(why, "signal.max_per_day 3 reached for 2026-03-01");
    assert_eq!(b.spent_today(), 3);
    // 23:50 + 600 s = 00:00 on 2026-03-02.
    assert!(b.try_spend(limits, at(600)).is_ok());
    assert_eq!(b.spent_today(), 1);
}

#[test]
fn a_refused_call_is_not_spent() {
    let limits = BudgetLimits {
        max_per_minute: 1,
        max_per_day: 2,
    };
    let mut b = SignalBudget::default();
    assert!(b.try_spend(limits, at(0)).is_ok());
    for s in 1..60 {
        assert!(b.try_spend(limits, at(s)).is_err());
    }
    assert_eq!(b.spent_today(), 1);
    assert!(b.try_spend(limits, at(60)).is_ok());
    assert_eq!(b.spent_today(), 2);
}
