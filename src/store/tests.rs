use chrono::TimeZone;
use rust_decimal_macros::dec;
use strategies::{Book, MarketKey, MarketState, Outcome, Platform, Price, Side};

use super::*;

fn t(sec: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 21, 14, 0, sec)
        .unwrap()
}

fn event(seq: u64, id: &str) -> EventRecord {
    EventRecord {
        seq,
        id: id.to_string(),
        server_id: Some(id.to_string()),
        event_type: "price_shift".to_string(),
        sse_event: None,
        data: r#"{"type":"price_shift"}"#.to_string(),
        received_at: t(seq as u32),
        source: None,
    }
}

fn decision(seq: u64, event_seq: u64, id: &str) -> DecisionRecord {
    DecisionRecord {
        seq,
        event_seq,
        decision: strategies::Decision {
            event_id: id.to_string(),
            event_type: "price_shift".to_string(),
            market: None,
            outcome: Outcome::BelowThreshold,
            reason: "small".to_string(),
            decided_at: t(1),
            signal: None,
            trades: Vec::new(),
        },
        signal_raw: None,
    }
}

/// The one entry the store's and retention's test books open (10 contracts at 0.40).
pub(crate) fn sizing() -> strategies::sizing::Sizing {
    strategies::sizing::Sizing {
        contracts: 10,
        price: dec!(0.4),
        cost: dec!(4.0),
        fee: dec!(0.17),
        stake: dec!(5),
        kelly: dec!(0.1),
        edge_after_fees: dec!(0.1),
    }
}

#[test]
fn a_committed_batch_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let market = MarketKey::new(Platform::Kalshi, "KX").unwrap();
    let mut book = Book::new(dec!(1000));
    let trade = book.open("e2", &market, Side::Yes, &sizing(), dec!(0.55), t(2));
    {
        let store = Store::open(&path).unwrap();
        let mut batch = Batch {
            events: vec![event(0, "e1"), event(1, "e2"), event(2, "e3")],
            inbox_add: vec![2],
            decisions: vec![decision(0, 0, "e1"), decision(1, 1, "e2")],
            trades: vec![trade.clone()],
            state: strategies::Changes {
                positions: vec![(
                    (market.clone(), Side::Yes),
                    book.position(&market, Side::Yes).cloned(),
                )],
                markets: vec![(
                    market.clone(),
                    MarketState {
                        last_yes: Some(Price::new(dec!(0.4)).unwrap()),
                        ..Default::default()
                    },
                )],
                totals: Some(book.totals.clone()),
                ..Default::default()
            },
            outbox: vec![OutboxRecord {
                trade_id: trade.trade_id,
                ticker: "KX".into(),
                platform: Platform::Kalshi,
                side: Side::Yes,
                size_usd: dec!(4.0),
            }],
            cursor: Some("e3".to_string()),
            counters: Some(Counters {
                next_event_seq: 3,
                next_decision_seq: 2,
                ..Counters::default()
            }),
            ..Batch::default()
        };
        batch.absorb(Batch::default());
        store.commit(&batch).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.is_seen("e1").unwrap() && store.is_seen("e3").unwrap());
    assert!(!store.is_seen("e4").unwrap());
    let loaded = store.load().unwrap();
    assert_eq!(loaded.totals, Some(book.totals.clone()));
    assert_eq!(loaded.cursor.as_deref(), Some("e3"));
    assert_eq!(
        loaded.counters,
        Counters {
            next_event_seq: 3,
            next_decision_seq: 2,
            ..Counters::default()
        }
    );
    assert_eq!(
        loaded
            .inbox
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["e3"]
    );
    assert_eq!(loaded.positions.len(), 1);
    assert_eq!(loaded.positions[0].cost_basis, dec!(4.0));
    assert_eq!(loaded.markets[0].0, market);
    assert_eq!(loaded.outbox.len(), 1);
    let trades: Vec<_> = store.trades().collect::<Result<_, _>>().unwrap();
    assert_eq!(trades, vec![trade]);
    let ids: Vec<_> = store
        .decisions()
        .map(|d| d.unwrap().decision.event_id)
        .collect();
    assert_eq!(ids, ["e1", "e2"]);

    // Taking the event out of the inbox and closing the position, later.
    let later = Batch {
        inbox_remove: vec![2],
        state: strategies::Changes {
            positions: vec![((market.clone(), Side::Yes), None)],
            ..Default::default()
        },
        ..Batch::default()
    };
    store.commit(&later).unwrap();
    store.outbox_done(1).unwrap();
    let loaded = store.load().unwrap();
    assert!(loaded.inbox.is_empty() && loaded.positions.is_empty() && loaded.outbox.is_empty());
}

#[test]
fn merged_batches_keep_the_latest_scalar_values() {
    let mut first = Batch {
        cursor: Some("1".into()),
        ..Batch::default()
    };
    first.absorb(Batch {
        cursor: Some("2".into()),
        ..Batch::default()
    });
    first.absorb(Batch {
        events: vec![event(5, "x")],
        ..Batch::default()
    });
    assert_eq!(first.cursor.as_deref(), Some("2"));
    assert_eq!(first.events.len(), 1);
    assert!(Batch::default().is_empty() && !first.is_empty());
}

#[test]
fn a_second_process_gets_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let _held = Store::open(&path).unwrap();
    // sled's lock is per process (fcntl), so probe it from a child process: the test binary
    // itself, running only the helper test below.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::open_store_from_env_path",
            "--nocapture",
            "--include-ignored",
        ])
        .env("SHIFTBOT_TEST_STORE", &path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("LOCKED"), "child said: {text}");
}

#[test]
#[ignore = "run only as the child of a_second_process_gets_a_clear_locked_error"]
fn open_store_from_env_path() {
    let path = std::env::var("SHIFTBOT_TEST_STORE").unwrap();
    match Store::open(std::path::Path::new(&path)) {
        Err(err @ StoreError::Locked { .. }) => {
            assert!(err
                .to_string()
                .contains("in use by another shiftbot process"));
            println!("LOCKED");
        }
        Err(other) => println!("OTHER {other}"),
        Ok(_) => println!("OPENED"),
    }
}

#[test]
fn archive_moves_the_store_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    assert_eq!(archive(&path, t(0)).unwrap(), None);
    Store::open(&path)
        .unwrap()
        .commit(&Batch {
            cursor: Some("9".into()),
            ..Batch::default()
        })
        .unwrap();
    let archived = archive(&path, t(7)).unwrap().unwrap();
    assert!(archived.ends_with("store.archived-20260321T140007Z"));
    assert!(!path.exists());
    assert_eq!(
        Store::open(&archived).unwrap().cursor().unwrap().as_deref(),
        Some("9")
    );
    assert_eq!(Store::open(&path).unwrap().cursor().unwrap(), None);
}

#[test]
fn writer_reports_durable_batch_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let (mut committer, mut reports) = Committer::start(store.clone());
    assert_eq!(committer.submit(Batch::default()), None);
    let mut last = 0;
    for i in 0..50u64 {
        last = committer
            .submit(Batch {
                events: vec![event(i, &format!("id{i}"))],
                ..Batch::default()
            })
            .unwrap();
    }
    assert_eq!(last, 50);
    committer.close();
    let mut durable = 0;
    while let Ok(WriterEvent::Durable(n)) = reports.try_recv() {
        assert!(n > durable);
        durable = n;
    }
    assert_eq!(durable, 50);
    assert_eq!(store.events().count(), 50);
}

#[test]
fn delivery_keys_are_committed_with_their_batch_and_forgotten_when_their_time_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let batch = Batch {
        events: vec![event(0, "e0")],
        deliveries: vec![
            ("hooks/d-early".to_string(), t(10)),
            ("hooks/d-late".to_string(), t(50)),
        ],
        ..Batch::default()
    };
    store.commit(&batch).unwrap();
    assert!(store.is_delivered("hooks/d-early").unwrap());
    assert!(store.is_delivered("hooks/d-late").unwrap());
    assert!(!store.is_delivered("hooks/d-other").unwrap());
    assert_eq!(store.prune_deliveries(t(9), 10).unwrap(), 0);
    assert_eq!(store.prune_deliveries(t(10), 10).unwrap(), 1);
    assert!(!store.is_delivered("hooks/d-early").unwrap());
    assert!(store.is_delivered("hooks/d-late").unwrap());
    // The event itself stays: only the delivery key expires.
    assert!(store.is_seen("e0").unwrap());
}

/// A quiesced read sees no commit apply: the commit waits for the read, then lands.
#[test]
fn a_commit_waits_for_a_quiesced_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let seen_inside = store.quiesced(|| {
        let writer = store.clone();
        let handle = std::thread::spawn(move || {
            started_tx.send(()).unwrap();
            writer
                .commit(&Batch {
                    events: vec![event(0, "e1")],
                    ..Batch::default()
                })
                .unwrap();
        });
        started_rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seen = store.events.len();
        (handle, seen)
    });
    let (handle, seen) = seen_inside;
    assert_eq!(seen, 0, "a commit applied during a quiesced read");
    handle.join().unwrap();
    assert_eq!(
        store.events.len(),
        1,
        "the commit lands once the read is done"
    );
}
