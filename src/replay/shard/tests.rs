//! Shards are disjoint and cover the grid; a merge of shard files is the rows of one run, and
//! refuses files that are not the whole of one sweep.

use std::io::Cursor;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;

fn row(number: usize, equity: &str) -> SweepRow {
    SweepRow {
        combination: number,
        values: vec![("filter.min_shift_pct".to_string(), number.to_string())],
        equity: equity.parse().expect("decimal"),
        return_fraction: Some(Decimal::new(123_456_789_012_345, 18)),
        max_drawdown: Decimal::new(125, 1),
        max_drawdown_fraction: Decimal::new(1, 3),
        sharpe: (!number.is_multiple_of(3)).then(|| Decimal::new(-49_999_999, 9)),
        realized_pnl: Decimal::new(15, 1),
        fees: Decimal::new(7, 2),
        trades: 3,
        traded: 2,
        win_rate: None,
        unsignalled: 0,
        recorded: 0,
    }
}

fn files(rows: &[SweepRow], count: usize) -> Vec<(String, Box<dyn BufRead>)> {
    (0..count)
        .map(|index| {
            let shard = Shard { index, count };
            let mine: Vec<SweepRow> = rows
                .iter()
                .filter(|r| shard.owns(r.combination))
                .cloned()
                .collect();
            let mut out = Vec::new();
            write_shard(&mine, rows.len(), shard, &mut out).expect("write");
            (
                format!("shard-{index}.jsonl"),
                Box::new(Cursor::new(out)) as Box<dyn BufRead>,
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn prop_shards_are_disjoint_and_their_union_is_the_grid(total in 0usize..500, count in 1usize..40) {
        let mut owners = vec![0u32; total];
        for index in 0..count {
            let shard = Shard { index, count };
            for (number, owner) in owners.iter_mut().enumerate() {
                if shard.owns(number) {
                    *owner += 1;
                }
            }
        }
        prop_assert!(owners.iter().all(|n| *n == 1), "every combination in exactly one shard");
    }

    #[test]
    fn prop_merged_shards_are_the_rows_of_one_run(total in 1usize..60, count in 1usize..8, equity in 0i64..1_000_000) {
        let rows: Vec<SweepRow> = (0..total)
            .map(|n| row(n, &Decimal::new(equity + n as i64, 2).to_string()))
            .collect();
        let merged = merge(files(&rows, count)).expect("merge");
        prop_assert_eq!(merged, rows);
    }
}

#[test]
fn shard_arguments_and_the_schedulers_variables() {
    assert_eq!(
        "0/4".parse(),
        Ok(ShardArg {
            index: Some(0),
            count: 4
        })
    );
    assert_eq!(
        "auto/3".parse(),
        Ok(ShardArg {
            index: None,
            count: 3
        })
    );
    for bad in ["4/4", "1", "a/2", "1/0", "-1/2", "1/x"] {
        assert!(bad.parse::<ShardArg>().is_err(), "{bad}");
    }
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    let auto = ShardArg {
        index: None,
        count: 4,
    };
    assert_eq!(
        resolve(auto, &env(&[("JOB_COMPLETION_INDEX", "2")])),
        Ok(Shard { index: 2, count: 4 })
    );
    assert_eq!(
        resolve(
            auto,
            &env(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1")])
        ),
        Ok(Shard { index: 3, count: 4 }),
        "--array=1-4"
    );
    assert_eq!(
        resolve(auto, &env(&[("SLURM_ARRAY_TASK_ID", "0")])),
        Ok(Shard { index: 0, count: 4 })
    );
    assert!(resolve(auto, &env(&[])).is_err_and(|e| e.contains("JOB_COMPLETION_INDEX")));
    assert!(resolve(auto, &env(&[("JOB_COMPLETION_INDEX", "4")])).is_err());
    assert!(resolve(auto, &env(&[("JOB_COMPLETION_INDEX", "x")])).is_err());
    let fixed = ShardArg {
        index: Some(1),
        count: 2,
    };
    assert_eq!(
        resolve(fixed, &env(&[("JOB_COMPLETION_INDEX", "0")])),
        Ok(Shard { index: 1, count: 2 })
    );
}

#[test]
fn a_merge_refuses_what_is_not_one_whole_sweep() {
    let rows: Vec<SweepRow> = (0..6).map(|n| row(n, "100")).collect();
    let mut some = files(&rows, 3);
    some.pop();
    assert!(matches!(
        merge(some),
        Err(MergeError::Missing {
            missing: 2,
            total: 6,
            first: 2
        })
    ));
    let mut twice = files(&rows, 3);
    twice.extend(files(&rows, 3).into_iter().take(1));
    assert!(matches!(
        merge(twice),
        Err(MergeError::Twice { number: 0, .. })
    ));
    let other: Vec<SweepRow> = (0..4).map(|n| row(n, "100")).collect();
    let mut mixed = files(&rows, 2);
    mixed.extend(files(&other, 2));
    assert!(matches!(merge(mixed), Err(MergeError::Mismatch { .. })));
    let garbage: Vec<(String, Box<dyn BufRead>)> = vec![(
        "g".into(),
        Box::new(Cursor::new(b"{\"rank\":1}\n".to_vec())),
    )];
    assert!(matches!(
        merge(garbage),
        Err(MergeError::Line { line: 1, .. })
    ));
    assert!(matches!(merge(Vec::new()), Err(MergeError::Empty)));
}
