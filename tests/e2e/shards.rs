//! A sweep cut into shards run as separate processes, merged: the same table one run prints.
//! And ranking by a metric the recording cannot define is an error that says why.

use std::process::Stdio;

use crate::support::Setup;

const SETS: [&str; 6] = [
    "--set",
    "filter.min_shift_pct=2,3,5",
    "--set",
    "sizing.kelly_fraction=0.1,0.25",
    "--set",
    "filter.cooldown=0s,60s",
];

#[test]
fn four_shards_in_four_processes_merge_into_the_single_run() {
    let app = Setup::embedded_default().spawn();
    let dir = app.dir.path();
    let (code, _, err) = app.output(&["sim", "--record", "events.ndjson", "--events", "3000"]);
    assert_eq!(code, 0, "{err}");
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", "--events", "events.ndjson"];
        args.extend(SETS);
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let args = sweep(&[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, single, err) = app.output(&refs);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        single.lines().count(),
        13,
        "a header and 12 combinations:\n{single}"
    );

    // Four processes at once; the last finds its index the way a Kubernetes Indexed Job does.
    let children: Vec<_> = (0..4)
        .map(|index| {
            let shard = match index {
                3 => "auto/4".to_string(),
                _ => format!("{index}/4"),
            };
            let args = sweep(&["--shard", &shard, "--threads", "1"]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut command = app.command(&refs);
            if index == 3 {
                command.env("JOB_COMPLETION_INDEX", "3");
            }
            let file =
                std::fs::File::create(dir.join(format!("shard-{index}.jsonl"))).expect("file");
            command
                .stdout(file)
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn a shard")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let mut lines = 0;
    for index in 0..4 {
        let text =
            std::fs::read_to_string(dir.join(format!("shard-{index}.jsonl"))).expect("shard");
        lines += text.lines().count();
        assert_eq!(text.lines().count(), 3, "12 combinations, 3 per shard");
    }
    assert_eq!(lines, 12);
    let files = [
        "shard-0.jsonl",
        "shard-1.jsonl",
        "shard-2.jsonl",
        "shard-3.jsonl",
    ];
    let merge = |extra: &[&str]| {
        let mut args = vec!["sweep-merge"];
        args.extend(files);
        args.extend_from_slice(extra);
        app.output(&args)
    };
    let (code, merged, err) = merge(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, single, "the merge is the single run's table");
    for format in [["--json"], ["--csv"]] {
        let args = sweep(&format);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, one, _) = app.output(&refs);
        assert_eq!(merge(&format).1, one, "{format:?}");
    }
    let args = sweep(&["--by", "drawdown"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(merge(&["--by", "drawdown"]).1, app.output(&refs).1);

    // Three of four: refused, naming what is missing.
    let (code, _, err) = app.output(&["sweep-merge", files[0], files[1], files[2]]);
    assert_eq!(code, 1);
    assert!(err.contains("3 of 12 combinations are in no file"), "{err}");

    // The recording spans 10 minutes: Sharpe (of hourly returns, under two days) ranks nothing.
    let args = sweep(&["--by", "sharpe"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = app.output(&refs);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("--by sharpe: Sharpe is computed from hourly returns under two days"),
        "{err}"
    );
    assert!(err.contains("at least two hours"), "{err}");
    let (code, _, err) = merge(&["--by", "sharpe"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--by sharpe: Sharpe is undefined for every combination"),
        "{err}"
    );
}

/// Random search: `--samples` draws from ranges and lists, the same for the same seed, and a
/// sharded random search merges into the single one.
#[test]
fn a_seeded_random_search_repeats_itself_and_shards_alike() {
    let app = Setup::embedded_default().spawn();
    let dir = app.dir.path();
    let (code, _, err) = app.output(&["sim", "--record", "events.ndjson", "--events", "2000"]);
    assert_eq!(code, 0, "{err}");
    let search = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--events",
            "events.ndjson",
            "--set",
            "filter.min_shift_pct=1.5..9",
            "--set",
            "sizing.kelly_fraction=0.1,0.25",
            "--set",
            "filter.cooldown=0s..2m",
            "--samples",
            "10",
            "--seed",
            "5",
        ];
        args.extend_from_slice(extra);
        app.output(&args)
    };
    let (code, first, err) = search(&["--csv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first.lines().count(), 11, "{first}");
    for line in first.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let pct: f64 = cells[1].parse().expect("a drawn threshold");
        assert!((1.5..=9.0).contains(&pct), "{line}");
        assert!(["0.1", "0.25"].contains(&cells[2]), "{line}");
        assert!(cells[3].ends_with("ms"), "{line}");
    }
    assert_eq!(
        search(&["--csv"]).1,
        first,
        "the same seed, the same search"
    );
    assert_ne!(search(&["--csv", "--seed", "6"]).1, first);
    for index in 0..2 {
        let shard = format!("{index}/2");
        let (code, shard, err) = search(&["--shard", &shard]);
        assert_eq!(code, 0, "{err}");
        std::fs::write(dir.join(format!("s{index}.jsonl")), shard).expect("write");
    }
    let (code, merged, err) = app.output(&["sweep-merge", "s0.jsonl", "s1.jsonl", "--csv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, first);
    // A range without --samples is refused with the way out.
    let (code, _, err) = app.output(&[
        "sweep",
        "--events",
        "events.ndjson",
        "--set",
        "filter.min_shift_pct=1..9",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("draw combinations from it with --samples N"),
        "{err}"
    );
}

/// `--holdout 30%`: each combination's in-sample figures are those of a sweep of the first 70 %
/// of the recording alone, its out-of-sample figures those of the last 30 % alone (a fresh
/// book for each); `--walk-forward 4` prints each fold's winner, its next-fold score and the
/// chained result.
#[test]
fn the_holdout_is_two_independent_sweeps_side_by_side() {
    let app = Setup::embedded_default().spawn();
    let dir = app.dir.path();
    let (code, _, err) = app.output(&["sim", "--record", "events.ndjson", "--events", "2000"]);
    assert_eq!(code, 0, "{err}");
    let sets = [
        "--set",
        "filter.min_shift_pct=2,5",
        "--set",
        "sizing.kelly_fraction=0.1,0.25",
    ];
    let sweep = |file: &str, extra: &[&str]| {
        let mut args = vec!["sweep", "--events", file];
        args.extend(sets);
        args.extend_from_slice(extra);
        let (code, out, err) = app.output(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let text = sweep("events.ndjson", &["--holdout", "30%"]);
    let header = text.lines().next().expect("a header");
    let cut: usize = header
        .strip_prefix("in sample: events 1-")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{header}"));
    let recording = std::fs::read_to_string(dir.join("events.ndjson")).expect("recording");
    let lines: Vec<&str> = recording.lines().collect();
    assert!(cut > 1000 && cut < 1900, "{header}");
    // The first `cut` events, and the settlement lines among them; a settlement written after
    // the last of them applies before the next event, so it belongs to the held-out part.
    let cut = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.contains("\"settlement\":{"))
        .nth(cut - 1)
        .map(|(i, _)| i + 1)
        .expect("the recording has that many events");
    std::fs::write(dir.join("first.ndjson"), lines[..cut].join("\n") + "\n").expect("write");
    std::fs::write(dir.join("last.ndjson"), lines[cut..].join("\n") + "\n").expect("write");

    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    };
    let holdout = parse(&sweep("events.ndjson", &["--holdout", "30%", "--json"]));
    let first = parse(&sweep("first.ndjson", &["--json"]));
    let last = parse(&sweep("last.ndjson", &["--json"]));
    assert_eq!(holdout.len(), 4);
    for (rank, row) in holdout.iter().enumerate() {
        assert_eq!(row["rank"], rank + 1);
        let same_set = |r: &&serde_json::Value| r["set"] == row["set"];
        let inside = first
            .iter()
            .find(same_set)
            .expect("in the first part's sweep");
        let outside = last
            .iter()
            .find(same_set)
            .expect("in the last part's sweep");
        assert_eq!(row["in_sample"]["equity"], inside["equity"], "{row}");
        assert_eq!(row["out_of_sample"]["equity"], outside["equity"], "{row}");
        assert_eq!(row["out_of_sample"]["traded"], outside["traded"], "{row}");
        // Ranked in sample: the same order as the first part's own sweep.
        assert_eq!(first[rank]["set"], row["set"]);
    }

    let walk = sweep("events.ndjson", &["--walk-forward", "4"]);
    assert_eq!(
        walk.lines().count(),
        5,
        "a header, 3 steps, the summary:\n{walk}"
    );
    let summary = walk.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("chained out-of-sample return "),
        "{walk}"
    );
    assert!(
        summary.contains(" over 3 folds; the winner changed "),
        "{walk}"
    );
    assert!(summary.ends_with(" of 2 times"), "{walk}");
}
