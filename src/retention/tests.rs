//! Retention on a real sled store in a temp dir: what is archived is exactly what is removed,
//! what must stay stays, and a crash between the archive write and the removal neither loses
//! nor doubles a line.

use std::io::Read;

use chrono::TimeZone;
use rust_decimal_macros::dec;
use strategies::{Book, MarketKey, Outcome, Platform, Side};

use super::*;
use crate::store::tests::sizing;
use crate::store::{Batch, Counters};

const DAY: u64 = 24 * 3600;

fn at(secs: u64) -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds(secs as i64)
}

fn event(seq: u64, received: u64) -> EventRecord {
    EventRecord {
        seq,
        id: format!("e{seq}"),
        server_id: Some(format!("e{seq}")),
        event_type: "price_shift".to_string(),
        sse_event: None,
        data: format!(
            r#"{{"type":"price_shift","platform":"kalshi","market_id":"KX{}","old_yes":0.40,"new_yes":0.41,"change_pct":2.5}}"#,
            seq % 7
        ),
        received_at: at(received),
        source: None,
    }
}

fn decision(seq: u64, event: &EventRecord, decided: u64) -> DecisionRecord {
    DecisionRecord {
        seq,
        event_seq: event.seq,
        decision: strategies::Decision {
            event_id: event.id.clone(),
            event_type: "price_shift".to_string(),
            market: None,
            outcome: Outcome::BelowThreshold,
            reason: "|change| 2.5% < min_shift_pct 5%".to_string(),
            decided_at: at(decided),
            signal: None,
            trades: Vec::new(),
        },
        signal_raw: None,
    }
}

/// `n` events `every` seconds apart from t=0 (so they span days when `n` is large), each
/// decided at once, one trade, and the counters a live run would leave.
fn store_with(dir: &Path, n: u64) -> Store {
    store_spaced(dir, n, 60)
}

fn store_spaced(dir: &Path, n: u64, every: u64) -> Store {
    let store = Store::open(&dir.join("store")).expect("open");
    let mut batch = Batch::default();
    for seq in 0..n {
        let e = event(seq, seq * every);
        batch.decisions.push(decision(seq, &e, seq * every));
        batch.events.push(e);
    }
    let market = MarketKey::new(Platform::Kalshi, "KX1").unwrap();
    let mut book = Book::new(dec!(1000));
    let sizing = sizing();
    let trade = book.open("e1", &market, Side::Yes, &sizing, dec!(0.55), at(60));
    batch.trades.push(trade);
    batch.state.positions = book
        .positions
        .values()
        .map(|p| ((p.market.clone(), p.side), Some(p.clone())))
        .collect();
    batch.state.totals = Some(book.totals.clone());
    batch.counters = Some(Counters {
        next_event_seq: n,
        next_decision_seq: n,
        ..Counters::default()
    });
    store.commit(&batch).expect("commit");
    store
}

/// Every line of every archive file, in file-name order.
fn archived_lines(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let mut text = String::new();
        zstd::stream::read::Decoder::new(File::open(&file).expect("open"))
            .expect("zstd")
            .read_to_string(&mut text)
            .expect("read");
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line")),
        );
    }
    lines
}

fn ids(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn the_archive_holds_exactly_the_removed_events_as_export_events_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 3_000); // 50 hours of events: three days' files
    let mut export = Vec::new();
    crate::replay::record::export_events(&store, None, &mut export).expect("export");
    let export: Vec<&str> = std::str::from_utf8(&export).unwrap().lines().collect();

    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(DAY),
        Duration::from_secs(3600),
    );
    // A day after the last event: every event is older than the window.
    let now = at(3_000 * 60 + DAY);
    let stats = retention.pass(now, &AtomicBool::new(false)).expect("pass");
    assert_eq!(stats.events, 3_000, "every event is a day old");
    assert_eq!(stats.decisions, 3_000);

    let mut names: Vec<String> = std::fs::read_dir(retention.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "events-2026-03-01.ndjson.zst",
            "events-2026-03-02.ndjson.zst",
            "events-2026-03-03.ndjson.zst"
        ]
    );
    // Line for line what export-events wrote before the pass.
    let archived: Vec<String> = archived_lines(retention.dir())
        .iter()
        .map(|l| l.to_string())
        .collect();
    let exported: Vec<String> = export
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(archived, exported);

    // Gone from the store; the book, the trade and the position stay; it still verifies.
    assert_eq!(store.events().count(), 0);
    assert_eq!(store.decisions().count(), 0);
    assert_eq!(store.trades().count(), 1);
    assert_eq!(store.positions().unwrap().len(), 1);
    assert_eq!(store.totals().unwrap().unwrap().cash, dec!(995.83));
    crate::store::health::verify(&store, crate::store::health::Depth::Full).expect("verifies");
}

#[test]
fn only_what_is_older_than_the_window_goes_and_a_waiting_event_stops_the_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 100);
    // Event 60 is still waiting for its signal: nothing from it on may go.
    let mut batch = Batch::default();
    batch.inbox_add.push(60);
    store.commit(&batch).unwrap();
    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    // now - 1 h = minute 80: events 0..80 are old enough, but 60 waits.
    let stats = retention
        .pass(at(140 * 60), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(stats.events, 60);
    assert_eq!(
        ids(&archived_lines(retention.dir())),
        (0..60).map(|s| format!("e{s}")).collect::<Vec<_>>()
    );
    let left: Vec<u64> = store.events().map(|e| e.unwrap().seq).collect();
    assert_eq!(left, (60..100).collect::<Vec<_>>());
    crate::store::health::verify(&store, crate::store::health::Depth::Full).expect("verifies");

    // Once it is decided (its inbox entry gone), the pass goes on up to the window.
    let mut batch = Batch::default();
    batch.inbox_remove.push(60);
    store.commit(&batch).unwrap();
    let stats = retention
        .pass(at(140 * 60), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(stats.events, 20);
    assert_eq!(store.events().next().unwrap().unwrap().seq, 80);
}

#[test]
fn an_archived_id_is_a_duplicate_until_its_dedupe_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 10);
    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(60),
        Duration::from_secs(DAY),
    );
    let stats = retention.pass(at(3600), &AtomicBool::new(false)).unwrap();
    assert_eq!(stats.events, 10);
    assert_eq!(store.events().count(), 0);
    // A redelivery of e3 is still recognised: its id outlives its record.
    assert!(store.is_seen("e3").unwrap());
    assert_eq!(store.aged_ids(), 10);
    crate::store::health::verify(&store, crate::store::health::Depth::Full).expect("verifies");
    // A day after they were received, the ids go too.
    let stats = retention
        .pass(at(DAY + 10 * 60), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(stats.expired_ids, 10);
    assert!(!store.is_seen("e3").unwrap());
    assert_eq!(store.aged_ids(), 0);
    crate::store::health::verify(&store, crate::store::health::Depth::Full).expect("verifies");
}

#[test]
fn a_crash_between_the_archive_write_and_the_removal_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let now = at(10 * DAY);
    {
        // 10 s apart: every chunk goes to the same day's file.
        let store = store_spaced(dir.path(), 5_000, 10);
        let mut retention = Retention::new(
            store.clone(),
            Duration::from_secs(DAY),
            Duration::from_secs(60),
        );
        // The first chunk is archived and removed; the second is written, then the process dies.
        let first = retention
            .chunk(now - chrono::Duration::days(1), now)
            .unwrap();
        assert_eq!(first.events, CHUNK as u64);
        retention.crash_after_write = true;
        assert!(retention
            .chunk(now - chrono::Duration::days(1), now)
            .is_err());
        // The file holds two chunks' frames; the store removed only one.
        assert_eq!(store.events().count(), 5_000 - CHUNK);
        assert_eq!(archived_lines(retention.dir()).len(), 2 * CHUNK);
        drop(retention);
        drop(store);
    }
    let store = Store::open(&path).unwrap();
    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(DAY),
        Duration::from_secs(60),
    );
    let stats = retention.pass(now, &AtomicBool::new(false)).unwrap();
    assert_eq!(stats.events, 5_000 - CHUNK as u64);
    let archived = ids(&archived_lines(retention.dir()));
    let expected: Vec<String> = (0..5_000).map(|s| format!("e{s}")).collect();
    assert_eq!(archived, expected, "every event once, in intake order");
    assert_eq!(store.events().count(), 0);
    crate::store::health::verify(&store, crate::store::health::Depth::Full).expect("verifies");
}

#[test]
fn the_pass_interval_follows_the_window_within_bounds() {
    assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
    assert_eq!(interval(Duration::from_secs(300)), Duration::from_secs(30));
    assert_eq!(
        interval(Duration::from_secs(30 * DAY)),
        Duration::from_secs(60)
    );
    assert_eq!(
        archive_dir(Path::new("/srv/data/store")),
        Path::new("/srv/data/store.archive")
    );
}

/// Settle trades are read once per process and kept until archived: one committed before a
/// pass and one committed between two passes each land once, at their place in the timeline.
#[test]
fn settlements_committed_before_and_between_passes_are_archived_once_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 100);
    // The same book as the store's, to make the trades that follow it.
    let mut book = Book::new(dec!(1000));
    let sizing = sizing();
    let kx1 = MarketKey::new(Platform::Kalshi, "KX1").unwrap();
    let kx2 = MarketKey::new(Platform::Kalshi, "KX2").unwrap();
    book.open("e1", &kx1, Side::Yes, &sizing, dec!(0.55), at(60));
    let commit = |trades: Vec<strategies::Trade>| {
        let batch = Batch {
            trades,
            ..Batch::default()
        };
        store.commit(&batch).unwrap();
    };
    let opened = book.open("e2", &kx2, Side::Yes, &sizing, dec!(0.55), at(120));
    commit(vec![opened]);
    let first =
        strategies::exits::settle(&mut book, &kx2, Side::Yes, "settle-kx2", at(20 * 60 + 30));
    commit(first);

    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let stats = retention
        .pass(at(30 * 60 + 3600), &AtomicBool::new(false))
        .unwrap();
    assert_eq!((stats.events, stats.settlements), (30, 1));

    let second =
        strategies::exits::settle(&mut book, &kx1, Side::No, "settle-kx1", at(50 * 60 + 30));
    commit(second);
    let stats = retention
        .pass(at(100 * 60 + 3600), &AtomicBool::new(false))
        .unwrap();
    assert_eq!((stats.events, stats.settlements), (70, 1));

    let mut expected: Vec<String> = (0..100).map(|s| format!("e{s}")).collect();
    expected.insert(51, "settle-kx1".to_string());
    expected.insert(21, "settle-kx2".to_string());
    let lines = archived_lines(retention.dir());
    assert_eq!(ids(&lines), expected);
    let winners: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "settlement")
        .map(|l| l["data"]["winner"].as_str().unwrap())
        .collect();
    assert_eq!(winners, ["yes", "no"]);
}

/// Far behind (more than BEHIND_CHUNKS chunks due), a pass raises the flag the engine stops
/// its intake on, and lowers it when it ends; a pass with little to do never raises it.
#[test]
fn a_pass_far_behind_raises_the_behind_flag_and_lowers_it_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let n = (CHUNK * (BEHIND_CHUNKS + 2)) as u64;
    let store = store_spaced(dir.path(), n, 1);
    let retention = Retention::new(
        store.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let mut behind = retention.behind();
    // Two chunks due: not behind.
    let stats = retention
        .pass(at(2 * CHUNK as u64 + 3600), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(stats.events, 2 * CHUNK as u64);
    assert!(!behind.has_changed().unwrap(), "never raised");

    let stats = retention
        .pass(at(n + 3600), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(stats.events, n - 2 * CHUNK as u64);
    assert!(behind.has_changed().unwrap(), "raised during the pass");
    assert!(!*behind.borrow_and_update(), "lowered at its end");
}
