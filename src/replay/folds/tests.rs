//! Folds are disjoint, ordered and cover the recording; the walk-forward picks each fold's
//! winner and scores it on the next; the holdout ranks in sample.

use proptest::prelude::*;
use rust_decimal_macros::dec;

use super::*;

fn at(second: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_780_000_000 + second, 0).expect("time")
}

proptest! {
    #[test]
    fn prop_windows_are_disjoint_ordered_and_cover_the_recording(
        mut seconds in proptest::collection::vec(0i64..100_000, 0..300),
        shares in proptest::collection::vec(1u32..50, 1..8),
    ) {
        seconds.sort_unstable();
        let times: Vec<Timestamp> = seconds.iter().map(|s| at(*s)).collect();
        let shares: Vec<Decimal> = shares.into_iter().map(Decimal::from).collect();
        let windows = windows(&times, &shares);
        prop_assert_eq!(windows.len(), shares.len());
        let mut next = 0;
        for window in &windows {
            prop_assert_eq!(window.start, next, "consecutive, no gap, no overlap");
            prop_assert!(window.end >= window.start);
            next = window.end;
        }
        prop_assert_eq!(next, times.len(), "the windows cover every event");
        // By time: every event of a window is no later than every event of the next one.
        for pair in windows.windows(2) {
            if let (Some(last), Some(first)) = (pair[0].clone().last(), pair[1].clone().next()) {
                prop_assert!(times[last] <= times[first]);
            }
        }
    }
}

#[test]
fn a_holdout_of_30_percent_is_the_last_30_percent_of_the_time() {
    let times: Vec<Timestamp> = (0..=100).map(at).collect();
    let split = windows(&times, &[dec!(70), dec!(30)]);
    assert_eq!(split, vec![0..70, 70..101]);
    // Time, not event count: a burst early on stays in its time share.
    let mut bursty: Vec<Timestamp> = (0..50).map(|_| at(0)).collect();
    bursty.extend((1..=10).map(|s| at(s * 10)));
    assert_eq!(windows(&bursty, &[dec!(70), dec!(30)]), vec![0..56, 56..60]);
    assert_eq!(windows(&[], &[dec!(1), dec!(1)]), vec![0..0, 0..0]);
    assert_eq!(parse_holdout("30%"), Ok(dec!(30)));
    assert_eq!(parse_holdout("12.5"), Ok(dec!(12.5)));
    for bad in ["0%", "100%", "x", "-5%"] {
        assert!(parse_holdout(bad).is_err(), "{bad}");
    }
}

fn row(combination: usize, ret: &str) -> SweepRow {
    SweepRow {
        combination,
        values: vec![("k".into(), combination.to_string())],
        equity: dec!(10000) * (Decimal::ONE + ret.parse::<Decimal>().expect("decimal")),
        return_fraction: Some(ret.parse().expect("decimal")),
        max_drawdown: Decimal::ZERO,
        max_drawdown_fraction: Decimal::ZERO,
        sharpe: None,
        realized_pnl: Decimal::ZERO,
        fees: Decimal::ZERO,
        trades: 0,
        traded: 0,
        win_rate: None,
        unsignalled: 0,
        recorded: 0,
    }
}

#[test]
fn the_walk_forward_scores_each_winner_on_the_next_fold() {
    let per_fold = vec![
        vec![row(0, "0.10"), row(1, "0.20")],  // winner 1
        vec![row(0, "0.05"), row(1, "-0.10")], // 1 scores -10 %; winner 0
        vec![row(0, "0.02"), row(1, "0.30")],  // 0 scores 2 %; winner 1
        vec![row(0, "0.00"), row(1, "0.10")],  // 1 scores 10 %
    ];
    let steps = walk_forward(&per_fold, Metric::Return);
    let winners: Vec<usize> = steps.iter().map(|s| s.winner.combination).collect();
    assert_eq!(winners, [1, 0, 1]);
    let next: Vec<Option<Decimal>> = steps.iter().map(|s| s.next.return_fraction).collect();
    assert_eq!(
        next,
        [Some(dec!(-0.10)), Some(dec!(0.02)), Some(dec!(0.10))]
    );
    // 0.9 × 1.02 × 1.1 - 1
    assert_eq!(chained_return(&steps), dec!(0.00980));
    assert_eq!(winner_changes(&steps), 2);
    let mut text = Vec::new();
    let folds = vec![0..1, 1..2, 2..3, 3..4];
    let times = [at(0), at(1), at(2), at(3)];
    write_walk_forward(&steps, &folds, &times, Metric::Return, &mut text).expect("write");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        text.ends_with(
            "chained out-of-sample return 0.98% over 3 folds; the winner changed 2 of 2 times\n"
        ),
        "{text}"
    );
}

#[test]
fn the_holdout_ranks_in_sample_and_keeps_each_rows_out_of_sample_figures() {
    let mut rows = vec![
        HoldoutRow {
            in_sample: row(0, "0.1"),
            out_of_sample: row(0, "0.5"),
        },
        HoldoutRow {
            in_sample: row(1, "0.3"),
            out_of_sample: row(1, "-0.2"),
        },
        HoldoutRow {
            in_sample: row(2, "0.2"),
            out_of_sample: row(2, "0.0"),
        },
    ];
    rank_holdout(&mut rows, Metric::Return);
    let order: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| (r.in_sample.combination, r.out_of_sample.combination))
        .collect();
    assert_eq!(order, [(1, 1), (2, 2), (0, 0)]);
    let mut text = Vec::new();
    write_holdout(&rows, &mut text).expect("write");
    let text = String::from_utf8(text).expect("utf-8");
    let first = text.lines().nth(1).expect("a row");
    assert!(
        first.contains("30.00%") && first.contains("-20.00%"),
        "{text}"
    );
}
