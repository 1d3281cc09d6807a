use rust_decimal_macros::dec;

use super::*;
use crate::replay::engine::ReplayOptions;
use crate::replay::test_support::{shift, signal, signalled, tape};

fn sets(args: &[&str]) -> Vec<SetArg> {
    args.iter()
        .map(|a| a.parse().expect("a valid --set"))
        .collect()
}

#[test]
fn set_arguments_parse_into_a_key_and_its_values() {
    let set: SetArg = " filter.min_shift_pct = 2, 3 ,5".parse().expect("valid");
    assert_eq!(set.key, "filter.min_shift_pct");
    assert_eq!(set.values, ["2", "3", "5"]);
    assert_eq!(set.env_key(), "SHIFTBOT__FILTER__MIN_SHIFT_PCT");
    let nested: SetArg = "fees.kalshi.rate=0.07".parse().expect("valid");
    assert_eq!(nested.env_key(), "SHIFTBOT__FEES__KALSHI__RATE");
    for bad in [
        "novalue",
        "=1",
        "Filter.x=1",
        "a..b=1",
        "a.b=",
        "a.b=1,,2",
        "a b=1",
    ] {
        assert!(bad.parse::<SetArg>().is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn every_combination_is_loaded_first_key_slowest() {
    let combos = combinations(
        None,
        &[],
        &sets(&[
            "filter.min_shift_pct=2,3",
            "sizing.kelly_fraction=0.1,0.25,0.5",
        ]),
    )
    .expect("valid values");
    let seen: Vec<(String, String)> = combos
        .iter()
        .map(|c| {
            (
                c.settings.filter.min_shift_pct.to_string(),
                c.settings.sizing.kelly_fraction.to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("2", "0.1"),
        ("2", "0.25"),
        ("2", "0.5"),
        ("3", "0.1"),
        ("3", "0.25"),
        ("3", "0.5"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        combos[4].values,
        vec![
            ("filter.min_shift_pct".to_string(), "3".to_string()),
            ("sizing.kelly_fraction".to_string(), "0.25".to_string())
        ]
    );
    // The other keys keep the layers below: here an environment variable.
    let layered = combinations(
        None,
        &[("SHIFTBOT__SIZING__BANKROLL".into(), "500".into())],
        &sets(&["filter.min_shift_pct=4"]),
    )
    .expect("valid");
    assert_eq!(layered[0].settings.sizing.bankroll, dec!(500));
}

#[test]
fn bad_keys_and_values_are_all_reported_once_by_key_path() {
    let errors = combinations(
        None,
        &[],
        &sets(&[
            "filter.min_shift_pct=2,x",
            "sizing.kelly_fraction=0.1,7",
            "filter.nope=1",
        ]),
    )
    .expect_err("invalid");
    let problems: Vec<String> = errors.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(errors.mentions("filter.min_shift_pct"));
    assert!(errors.mentions("sizing.kelly_fraction"));
    assert!(errors.mentions("filter.nope"));
    assert!(
        problems
            .iter()
            .all(|p| p.contains("(from --set ") && !p.contains("SHIFTBOT__")),
        "{problems:#?}"
    );
    let huge: Vec<String> = (0..6)
        .map(|i| format!("filter.min_shift_pct={}", vec![i.to_string(); 10].join(",")))
        .collect();
    let huge: Vec<&str> = huge.iter().map(String::as_str).collect();
    let errors = combinations(None, &[], &sets(&huge)).expect_err("too many");
    assert!(errors.mentions("--set"));
}

/// A recording where thresholds and Kelly fractions matter.
fn recording() -> Tape {
    let lines: Vec<_> = (0..120)
        .map(|i| {
            let market = format!("kalshi/M{}", i % 5);
            let (old, new) = match i % 4 {
                0 => ("0.50", "0.47"),
                1 => ("0.47", "0.50"),
                2 => ("0.50", "0.44"),
                _ => ("0.44", "0.50"),
            };
            let line = shift(&i.to_string(), &market, old, new, i * 20_000);
            let (side, edge) = if i % 3 == 0 {
                ("BUY_NO", "-0.08")
            } else {
                ("BUY_YES", "0.12")
            };
            signalled(line, signal(side, edge), i * 20_000 + 500)
        })
        .collect();
    tape(&lines)
}

#[test]
fn parallel_rows_equal_replaying_each_combination_alone() {
    let tape = recording();
    let combos = combinations(
        None,
        &[],
        &sets(&[
            "filter.min_shift_pct=3,6,14",
            "sizing.kelly_fraction=0.1,0.5",
        ]),
    )
    .expect("valid");
    let options = |_: &Settings| ReplayOptions::default();
    let done = AtomicUsize::new(0);
    let parallel = run(&tape, &combos, options, 2, &|| {
        done.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(done.load(Ordering::Relaxed), combos.len());
    let single = run(&tape, &combos, options, 1, &|| {});
    assert_eq!(parallel, single);
    assert_eq!(parallel.len(), 6);
    for (row, combo) in parallel.iter().zip(&combos) {
        assert_eq!(row.values, combo.values);
        let alone = replay(
            &tape,
            combo.settings.core_config(),
            &ReplayOptions::default(),
        );
        let report = replay_report(&alone);
        assert_eq!(row.equity, report.equity);
        assert_eq!(row.trades, alone.trades.len() as u64);
    }
    // The values matter: no move reaches 14 %, so nothing trades there.
    assert!(parallel[0].trades > 0);
    assert_eq!(parallel[4].trades, 0);
    assert_eq!(parallel[4].equity, dec!(10000));
    assert_ne!(parallel[0].equity, parallel[1].equity);
}

fn row(equity: &str, ret: Option<&str>, drawdown: &str, sharpe: Option<&str>) -> SweepRow {
    let d = |s: &str| s.parse::<Decimal>().expect("decimal");
    SweepRow {
        combination: 0,
        values: vec![("k".to_string(), equity.to_string())],
        equity: d(equity),
        return_fraction: ret.map(d),
        max_drawdown: dec!(12.5),
        max_drawdown_fraction: d(drawdown),
        sharpe: sharpe.map(d),
        realized_pnl: dec!(1.5),
        fees: dec!(0.07),
        trades: 3,
        traded: 2,
        win_rate: Some(dec!(0.5)),
        unsignalled: 0,
        recorded: 0,
    }
}

fn order(rows: &[SweepRow]) -> Vec<&str> {
    rows.iter().map(|r| r.values[0].1.as_str()).collect()
}

#[test]
fn ranking_puts_the_best_first_and_missing_values_last() {
    let mut rows = vec![
        row("100", Some("0"), "0.10", None),
        row("120", Some("0.2"), "0.30", Some("1.5")),
        row("90", Some("-0.1"), "0.05", Some("-0.3")),
        row("110", Some("0.1"), "0.05", Some("2.0")),
    ];
    for (number, row) in rows.iter_mut().enumerate() {
        row.combination = number;
    }
    rank(&mut rows, Metric::Equity);
    assert_eq!(order(&rows), ["120", "110", "100", "90"]);
    rank(&mut rows, Metric::Return);
    assert_eq!(order(&rows), ["120", "110", "100", "90"]);
    rank(&mut rows, Metric::Drawdown);
    // Ties in combination order (90 is the third combination, 110 the fourth), whatever the
    // order before.
    assert_eq!(order(&rows), ["90", "110", "100", "120"]);
    rows.reverse();
    rank(&mut rows, Metric::Drawdown);
    assert_eq!(order(&rows), ["90", "110", "100", "120"]);
    rank(&mut rows, Metric::Sharpe);
    assert_eq!(order(&rows), ["110", "120", "90", "100"]);
}

#[test]
fn output_formats() {
    let rows = vec![
        row(
            "10250.5",
            Some("0.02505"),
            "0.0123456789",
            Some("1.23456789"),
        ),
        SweepRow {
            unsignalled: 3,
            recorded: 40,
            ..row("9000", None, "0", None)
        },
    ];
    assert!(!rows[0].marked());
    assert!(rows[1].marked(), "3 of 43 requests unsignalled: 7 %");
    let mut csv = Vec::new();
    write_csv(&rows, &mut csv).expect("write");
    assert_eq!(
        String::from_utf8(csv).expect("UTF-8"),
        "rank,k,equity,return,max_drawdown,max_drawdown_pct,sharpe,realized_pnl,fees,trades,traded,win_rate,unsignalled\r\n\
         1,10250.5,10250.5,0.02505,12.5,0.012346,1.234568,1.5,0.07,3,2,0.5,0\r\n\
         2,9000,9000,,12.5,0,,1.5,0.07,3,2,0.5,3\r\n"
    );
    let mut json = Vec::new();
    write_json(&rows, &mut json).expect("write");
    let text = String::from_utf8(json).expect("UTF-8");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        first,
        serde_json::json!({
            "rank": 1, "set": {"k": "10250.5"}, "equity": "10250.5", "return": "0.02505",
            "max_drawdown": "12.5", "max_drawdown_fraction": "0.012346",
            "sharpe": "1.234568", "realized_pnl": "1.5", "fees": "0.07", "trades": 3,
            "traded": 2, "win_rate": "0.5", "unsignalled": 0, "unsignalled_marked": false
        })
    );
    assert_eq!(text.lines().count(), 2);
    let mut table = Vec::new();
    write_table(&rows, &mut table).expect("write");
    let table = String::from_utf8(table).expect("UTF-8");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("rank  k"), "{table}");
    assert!(
        lines[1].contains("10250.50") && lines[1].contains("2.51%"),
        "{table}"
    );
    assert!(
        lines[2].contains("9000.00") && lines[2].ends_with(" 3*"),
        "{table}"
    );
    assert!(unsignalled_note(&rows).is_some_and(|n| n.starts_with("* 1 of 2 combinations")));
    assert_eq!(unsignalled_note(&rows[..1]), None);
}

#[test]
fn the_fallback_is_a_config_key_and_can_be_swept() {
    use crate::replay::cli::replay_options;
    use crate::replay::Fallback;
    let combos = combinations(None, &[], &sets(&["replay.fallback=skip,model"])).expect("valid");
    let fallbacks: Vec<Fallback> = combos
        .iter()
        .map(|c| replay_options(&c.settings).fallback)
        .collect();
    assert_eq!(fallbacks, [Fallback::Skip, Fallback::Model]);
    let default = Settings::load(LoadOptions::default()).expect("the default");
    assert_eq!(default.replay.fallback, Fallback::Skip);
    let errors = combinations(None, &[], &sets(&["replay.fallback=guess"])).expect_err("bad");
    assert!(errors.mentions("replay.fallback"), "{errors}");
}

#[test]
fn a_metric_undefined_somewhere_is_noted_and_everywhere_is_an_error() {
    let rows = vec![
        row("100", Some("0"), "0.10", None),
        row("120", Some("0.2"), "0.30", Some("1.5")),
    ];
    assert_eq!(undefined_for_all(&rows, Metric::Sharpe), None);
    assert_eq!(
        undefined_note(&rows, Metric::Sharpe).as_deref(),
        Some("sharpe undefined for 1 of 2 combinations (shown as -): they rank last, in combination order")
    );
    assert_eq!(undefined_note(&rows, Metric::Equity), None);
    let flat = vec![row("100", Some("0"), "0", None); 3];
    assert!(undefined_for_all(&flat, Metric::Sharpe)
        .is_some_and(|why| why.contains("two or more returns")));
    assert_eq!(undefined_for_all(&[], Metric::Sharpe), None);
    let day = |h: i64| chrono::DateTime::from_timestamp(1_780_000_000 + h * 3600, 0).expect("t");
    let minutes = |m: i64| day(0) + chrono::Duration::minutes(m);
    assert!(too_short_for_sharpe(Some((day(0), minutes(119))))
        .is_some_and(|why| why.contains("spans 1h 59m")));
    assert_eq!(too_short_for_sharpe(Some((day(0), day(2)))), None);
    assert_eq!(
        too_short_for_sharpe(Some((day(0), day(47)))),
        None,
        "hourly under two days"
    );
    assert!(too_short_for_sharpe(None).is_some());
}
