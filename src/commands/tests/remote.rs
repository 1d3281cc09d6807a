//! The locked-store path: while a process holds the store, the commands are answered by its
//! admin listener, byte for byte as a direct read would answer them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

use super::fixture::{build, request};
use super::*;

/// An admin listener on port 0 over `store`, on a runtime of its own.
pub(super) struct Admin {
    pub addr: SocketAddr,
    pub stop: watch::Sender<bool>,
    pub runtime: tokio::runtime::Runtime,
    pub server: tokio::task::JoinHandle<()>,
}

impl Admin {
    fn start(store: Store) -> Admin {
        Admin::start_on(state(store), "127.0.0.1:0")
    }

    /// A listener with this state on `bind` (port 0).
    pub(super) fn start_on(state: crate::admin::AdminState, bind: &str) -> Admin {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(bind))
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stop_rx) = watch::channel(false);
        let server = runtime.spawn(crate::admin::serve_on(listener, state, stop_rx));
        Admin {
            addr,
            stop,
            runtime,
            server,
        }
    }

    pub(super) fn shut_down(self) {
        self.stop.send_replace(true);
        let server = self.server;
        let finished = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), server).await });
        assert!(finished.is_ok(), "the admin listener stops when told to");
    }
}

/// The listener's state, with the bot's clock at the fixture's `now`.
pub(super) fn state(store: Store) -> crate::admin::AdminState {
    crate::admin::AdminState {
        controls: None,
        store,
        clock: std::sync::Arc::new(FixedClock),
        backups: None,
        health: None,
        reloads: None,
        token: None,
        local_writes: false,
        bankroll: rust_decimal_macros::dec!(1000),
        signal_max_per_day: 0,
    }
}

fn all_commands() -> Vec<ReviewCommand> {
    let kxa = Filters {
        market: Some(args::parse_market("kalshi/KXA").expect("valid")),
        since: Some(args::parse_since("96h").expect("valid")),
        ..Filters::default()
    };
    vec![
        ReviewCommand::Positions(PositionsArgs { json: false }),
        ReviewCommand::Positions(PositionsArgs { json: true }),
        ReviewCommand::Ledger(LedgerArgs::default()),
        ReviewCommand::Ledger(LedgerArgs {
            json: true,
            ..LedgerArgs::default()
        }),
        ReviewCommand::Ledger(LedgerArgs {
            csv: true,
            filters: kxa.clone(),
            ..LedgerArgs::default()
        }),
        ReviewCommand::Decisions(DecisionsArgs::default()),
        ReviewCommand::Decisions(DecisionsArgs {
            json: true,
            outcome: vec![strategies::Outcome::Traded],
            filters: Filters {
                limit: Some(2),
                ..Filters::default()
            },
            ..DecisionsArgs::default()
        }),
        ReviewCommand::Decisions(DecisionsArgs {
            summary: true,
            filters: kxa,
            ..DecisionsArgs::default()
        }),
        ReviewCommand::Report(ReportArgs::default()),
        ReviewCommand::Report(ReportArgs {
            json: true,
            chart: Some("chart.svg".into()),
        }),
    ]
}

#[test]
fn a_locked_store_is_answered_by_the_admin_listener_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let held = build(&path);
    assert!(
        matches!(Store::open(&path), Err(StoreError::Locked { .. })),
        "a second open of a held store reports Locked"
    );
    let admin = Admin::start(held.clone());
    let target = ReviewTarget {
        store_path: path,
        admin_listen: admin.addr.to_string(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    for command in all_commands() {
        let request = request(command.clone());
        let direct = render(Some(&held), &request).expect("direct render");
        let remote = fetch_or_render(&target, &request).expect("remote render");
        assert_eq!(remote, direct, "{command:?}");
        assert!(!direct.output.is_empty(), "{command:?}");
    }
    admin.shut_down();
}

#[test]
fn the_cli_path_prints_the_remote_answer_and_writes_the_chart_locally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let held = build(&path);
    let admin = Admin::start(held.clone());
    let target = ReviewTarget {
        store_path: path,
        admin_listen: admin.addr.to_string(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    let chart = dir.path().join("remote.svg");
    let command = ReviewCommand::Report(ReportArgs {
        json: false,
        chart: Some(chart.clone()),
    });
    let clock: SharedClock = std::sync::Arc::new(FixedClock);
    let mut printed = Vec::new();
    review(&target, command.clone(), &clock, &mut printed).expect("review through the bot");
    let direct = render(Some(&held), &request(command)).expect("direct");
    assert_eq!(String::from_utf8(printed).expect("utf-8"), direct.output);
    assert_eq!(
        std::fs::read_to_string(&chart).expect("chart written by the caller"),
        direct.chart.expect("chart")
    );
    admin.shut_down();
}

#[test]
fn a_locked_store_without_a_listener_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let _held = build(&path);
    // A port that was free a moment ago: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let target = ReviewTarget {
        store_path: path.clone(),
        admin_listen: free.to_string(),
        bankroll: rust_decimal_macros::dec!(1),
    };
    let err = fetch_or_render(
        &target,
        &request(ReviewCommand::Positions(PositionsArgs::default())),
    )
    .expect_err("nobody answers");
    let text = err.to_string();
    assert!(matches!(err, CommandError::Remote { .. }), "{text}");
    assert!(text.contains(&free.to_string()), "{text}");
    assert!(text.contains("in use by a running shiftbot"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn the_admin_listener_rejects_bad_requests_and_survives_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = build(&dir.path().join("store"));
    let admin = Admin::start(held.clone());
    let url = format!("http://{}{}", admin.addr, crate::admin::REVIEW_PATH);
    let statuses = admin.runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut statuses = Vec::new();
        for (content_type, body) in [
            ("application/json", "{\"command\":\"drop_tables\"}"),
            ("application/json", "not json"),
            ("text/plain", "{}"),
        ] {
            let response = client
                .post(&url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("an answer");
            statuses.push(response.status().as_u16());
        }
        let get = client.get(&url).send().await.expect("an answer");
        statuses.push(get.status().as_u16());
        statuses
    });
    assert_eq!(statuses, vec![422, 400, 415, 405]);
    // Still serving.
    let request = request(ReviewCommand::Positions(PositionsArgs { json: true }));
    let answer = crate::admin::fetch(&admin.addr.to_string(), &request).expect("still serving");
    assert_eq!(answer, render(Some(&held), &request).expect("direct"));
    admin.shut_down();
}

#[test]
fn a_taken_admin_address_only_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = build(&dir.path().join("store"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let (_stop, stop_rx) = watch::channel(false);
        // Returns (after a warning) instead of serving or failing the caller.
        tokio::time::timeout(
            Duration::from_secs(30),
            crate::admin::serve(addr, state(held), stop_rx),
        )
        .await
        .expect("serve gives up at once on a taken address");
    });
}

#[test]
fn unspecified_listen_addresses_are_reached_on_loopback() {
    use crate::admin::connect_address;
    assert_eq!(
        connect_address("0.0.0.0:7878").expect("valid").to_string(),
        "127.0.0.1:7878"
    );
    assert_eq!(
        connect_address("[::]:7878").expect("valid").to_string(),
        "[::1]:7878"
    );
    assert!(connect_address("localhost:7878").is_err());
}

#[test]
fn a_bot_serving_another_store_refuses_to_answer_for_this_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = build(&dir.path().join("served"));
    let wanted_path = dir.path().join("wanted");
    let _wanted = build(&wanted_path);
    let admin = Admin::start(served);
    let target = ReviewTarget {
        store_path: wanted_path,
        admin_listen: admin.addr.to_string(),
        bankroll: rust_decimal_macros::dec!(1),
    };
    let err = fetch_or_render(
        &target,
        &request(ReviewCommand::Ledger(LedgerArgs::default())),
    )
    .expect_err("another bot's store is not this one");
    let text = err.to_string();
    assert!(text.contains("409"), "{text}");
    assert!(text.contains("serves the store at"), "{text}");
    assert!(text.contains("served, not "), "{text}");
    admin.shut_down();
}

/// A far-future `now` (year 100000) once built a daily series to then: gigabytes, without
/// credentials. The bot renders at most [`crate::admin::MAX_CLOCK_SKEW`] from its own clock.
#[test]
fn a_far_off_now_is_clamped_to_the_bots_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = build(&dir.path().join("store"));
    let admin = Admin::start(held.clone());
    let report = ReviewCommand::Report(ReportArgs {
        json: true,
        chart: Some("chart.svg".into()),
    });
    let honest = render(Some(&held), &request(report.clone())).expect("direct");
    let future = chrono::DateTime::parse_from_rfc3339("+100000-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    for asked in [future, chrono::DateTime::<chrono::Utc>::MIN_UTC] {
        let mut far = request(report.clone());
        far.now = asked;
        let answer = crate::admin::fetch(&admin.addr.to_string(), &far).expect("an answer");
        let clamped = crate::admin::clamp_now(asked, super::fixture::now());
        let expected = render(
            Some(&held),
            &ReviewRequest {
                now: clamped,
                ..far.clone()
            },
        )
        .expect("direct");
        assert_eq!(answer, expected, "{asked}");
        assert!(answer.output.len() < honest.output.len() * 2 + 4096);
    }
    admin.shut_down();
}

/// A thousand half-open requests once held the listener for over half a minute. Each now
/// gets at most [`crate::admin::HEADER_TIMEOUT`]; connections past the limit are closed at
/// once; and an honest request is answered throughout.
#[test]
fn half_open_and_excess_connections_are_closed_and_honest_ones_answered() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let held = build(&dir.path().join("store"));
    let admin = Admin::start(held.clone());
    let started = std::time::Instant::now();
    let mut idle = Vec::new();
    for _ in 0..crate::admin::MAX_CONNECTIONS + 40 {
        let mut socket = std::net::TcpStream::connect(admin.addr).expect("connect");
        socket
            .write_all(b"POST /v1/review HTTP/1.1\r\nHost: x\r\nContent-")
            .expect("half a header");
        idle.push(socket);
    }
    // Every one of them is closed by the listener: past the limit at once, the rest when
    // their header time runs out.
    for socket in &mut idle {
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        // EOF, an answer (408) or a reset all mean closed; only a read time-out means held.
        if let Err(err) = socket.read(&mut buf) {
            assert!(
                !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a half-open request is still held after {:?}",
                started.elapsed()
            );
        }
    }
    let all_closed = started.elapsed();
    assert!(
        all_closed < crate::admin::HEADER_TIMEOUT + Duration::from_secs(10),
        "half-open requests held the listener for {all_closed:?}"
    );
    // A client that sends its headers but trickles its body is cut off too.
    let mut slow = std::net::TcpStream::connect(admin.addr).expect("connect");
    slow.write_all(
        b"POST /v1/review HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .expect("headers");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    drop(idle);
    let request = request(ReviewCommand::Positions(PositionsArgs { json: true }));
    let answer = crate::admin::fetch(&admin.addr.to_string(), &request).expect("still serving");
    assert_eq!(answer, render(Some(&held), &request).expect("direct"));
    admin.shut_down();
}

/// A store of `n` decisions with long reasons, so `decisions --json` runs to many chunks.
fn long_history(path: &std::path::Path, n: u64) -> Store {
    let store = Store::open(path).expect("open");
    let mut batch = crate::store::Batch::default();
    for seq in 0..n {
        batch.decisions.push(crate::store::DecisionRecord {
            seq,
            event_seq: seq,
            decision: strategies::Decision {
                event_id: format!("e{seq}"),
                event_type: "price_shift".to_string(),
                market: None,
                outcome: strategies::Outcome::BelowThreshold,
                reason: format!("|change| 2.5% < min_shift_pct 5% ({})", "x".repeat(200)),
                decided_at: super::fixture::day(1, 0) + chrono::Duration::seconds(seq as i64),
                signal: None,
                trades: Vec::new(),
            },
            signal_raw: None,
        });
    }
    store.commit(&batch).expect("commit");
    store
}

/// Overwrite the record at `at` (a tree's first or last) with bytes no decoder reads.
fn damage(tree: &sled::Tree, at: sled::Result<Option<(sled::IVec, sled::IVec)>>) {
    let (key, _) = at.expect("readable").expect("a record");
    tree.insert(key, &b"not a record"[..]).expect("insert");
}

/// The raw answer to `request`: status, content type, body (or the error reading it).
fn raw_answer(admin: &Admin, request: &ReviewRequest) -> (u16, String, Result<Vec<u8>, String>) {
    admin.runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!(
                "http://{}{}",
                admin.addr,
                crate::admin::REVIEW_PATH
            ))
            .json(request)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|t| t.to_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string());
        (status, kind, body)
    })
}

/// An unlimited `decisions --json` through the bot is streamed (text, no length known in
/// advance, many chunks), byte for byte what a direct read prints; a damaged record before the
/// first chunk is a 500 naming it, and one after it cuts the answer short, which the command
/// reports as an error instead of printing a partial answer as if whole.
#[test]
fn a_long_answer_is_streamed_and_a_damaged_record_is_never_a_short_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let held = long_history(&path, 3_000);
    let admin = Admin::start(held.clone());
    let all = request(ReviewCommand::Decisions(DecisionsArgs {
        json: true,
        ..DecisionsArgs::default()
    }));
    let direct = render(Some(&held), &all).expect("direct render").output;
    assert!(
        direct.len() > 8 * 64 * 1024,
        "{} bytes: many chunks",
        direct.len()
    );
    let (status, kind, body) = raw_answer(&admin, &all);
    assert_eq!((status, kind.as_str()), (200, "text/plain; charset=utf-8"));
    assert_eq!(
        String::from_utf8(body.expect("whole")).expect("utf-8"),
        direct
    );
    let target = ReviewTarget {
        store_path: path.clone(),
        admin_listen: admin.addr.to_string(),
        bankroll: rust_decimal_macros::dec!(777),
    };
    let mut printed = Vec::new();
    let chart = fetch_or_render_to(&target, &all, &mut printed).expect("streamed");
    assert_eq!(
        (String::from_utf8(printed).expect("utf-8"), chart),
        (direct, None)
    );

    // The newest record damaged: chunks have gone out when the render meets it.
    damage(&held.decisions, held.decisions.last());
    let (status, _, body) = raw_answer(&admin, &all);
    assert_eq!(status, 200, "the answer had started");
    assert!(body.is_err(), "cut short, not ended as if whole");
    let err = fetch_or_render(&target, &all).expect_err("a short answer is an error");
    assert!(err.to_string().contains("cut short"), "{err}");

    // The oldest damaged: nothing has gone out, so the status says it.
    damage(&held.decisions, held.decisions.first());
    let (status, _, body) = raw_answer(&admin, &all);
    assert_eq!(status, 500);
    let message = String::from_utf8(body.expect("a message")).expect("utf-8");
    assert!(message.contains("decision"), "{message}");
    admin.shut_down();
}
