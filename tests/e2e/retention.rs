//! `storage.retain` with the real binary: a live run's events and decisions are moved to the
//! zstd archive exactly as `export-events` wrote them, the archive replays to the same book,
//! trades stay, the store still verifies, and a redelivery of an archived event is still a
//! duplicate while its id is inside `storage.dedupe_window`.

use std::io::Read;

use crate::replay::{assert_replay_reproduces_the_store, busy};
use crate::support::{message, model_price_shifts, scripted_sim, Setup};

fn unzstd(bytes: &[u8]) -> String {
    let mut text = String::new();
    zstd::stream::read::Decoder::new(bytes)
        .expect("zstd")
        .read_to_string(&mut text)
        .expect("an archive decompresses");
    text
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn retention_archives_exactly_what_it_removes_and_the_archive_replays_the_same_book() {
    let script = model_price_shifts(11, 16, 400, 0);
    let n = script.len();
    let mut app = busy(Setup::new(script.clone())).spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(n);
    bot.terminate();
    let (export, live_trades) = assert_replay_reproduces_the_store(&app);
    let (_, ledger_before, _) = app.output(&["ledger", "--json"]);

    // Retention on: by now every event is older than a second.
    app.env
        .push(("SHIFTBOT__STORAGE__RETAIN".into(), "1s".into()));
    app.env
        .push(("SHIFTBOT__STORAGE__DEDUPE_WINDOW".into(), "1h".into()));
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let mut bot = app.start();
    bot.wait_for("every event archived", |logs| {
        let archived: u64 = logs
            .iter()
            .filter(|l| message(l) == "retention: archived and removed")
            .filter_map(|l| l["events"].as_u64())
            .sum();
        (archived >= n as u64).then_some(archived)
    });
    bot.terminate();

    // The archive is the export, line for line (several days' files concatenate in order).
    let dir = app.store_path.with_file_name("store.archive");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the archive directory")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.iter().all(|f| {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        name.starts_with("events-") && name.ends_with(".ndjson.zst")
    }));
    let mut zst = Vec::new();
    for file in &files {
        zst.extend(std::fs::read(file).expect("read an archive file"));
    }
    assert_eq!(json_lines(&unzstd(&zst)), json_lines(&export));

    // The store kept the book and dropped the rest; it agrees with itself.
    let (_, decisions, _) = app.output(&["decisions", "--json"]);
    assert_eq!(decisions, "", "every decision was archived");
    let (_, ledger_after, _) = app.output(&["ledger", "--json"]);
    assert_eq!(ledger_after, ledger_before, "trades are never removed");
    let (code, verified, stderr) = app.output(&["store", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        verified.contains(&format!("{} trades", live_trades.len())),
        "{verified}"
    );

    // `replay --events` reads the .zst archive and reports the book the export reports.
    let archive = app.dir.path().join("all.ndjson.zst");
    std::fs::write(&archive, &zst).expect("write");
    let report = |path: &std::path::Path| -> serde_json::Value {
        let (code, text, stderr) = app.output(&[
            "replay",
            "--events",
            path.to_str().expect("UTF-8"),
            "--json",
        ]);
        assert_eq!(code, 0, "replay failed: {stderr}");
        serde_json::from_str(&text).expect("one JSON object")
    };
    let from_archive = report(&archive);
    let from_export = report(&app.dir.path().join("events.ndjson"));
    assert_eq!(from_archive["book"], from_export["book"]);
    assert_eq!(from_archive["decisions"], from_export["decisions"]);
    assert_eq!(from_archive["events"], n);

    // A redelivery of ten archived events: still duplicates, nothing decided again.
    app.switch_sim(scripted_sim(script[..10].to_vec()));
    let stats = app.sim_stats();
    let bot = app.start();
    crate::support::eventually("the ten events sent", || {
        (stats.events_sent() >= 10).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let finished = bot.terminate();
    assert_eq!(finished.stop_line()["duplicates"].as_u64(), Some(10));
    assert_eq!(finished.stop_line()["decided"].as_u64(), Some(0));
}
