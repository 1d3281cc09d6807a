//! The real binary against a hostile Rekko-compatible server: what the adversarial run broke
//! (issue 9), each case ending in a clear, logged outcome instead of a crash loop or a stall.

use std::time::{Duration, Instant};

use crate::support::hostile::{sse_event, Hostile, SignalAnswer, StreamReply};
use crate::support::{fresh_price_shift, Setup, KEY};

fn shift(id: &str, market: &str, new_yes: &str) -> Vec<u8> {
    let event = fresh_price_shift(None, "kalshi", market, "0.5", "0.4");
    let mut json: serde_json::Value = serde_json::from_str(&event.data).expect("json");
    json["new_yes"] = serde_json::Value::String(new_yes.to_string());
    json["change_pct"] = serde_json::Value::String("-20".to_string());
    sse_event(Some(id), &json.to_string())
}

/// A price of 1e-28 (valid: inside (0, 1)) with an ordinary BUY_YES signal once made sizing
/// overflow and panic (exit 101), and every restart panicked again on the inbox. Now it is a
/// refusal, the bot trades on, and a restart has nothing left to resume.
#[test]
fn a_tiny_price_is_refused_not_a_crash_loop() {
    let tiny = "0.0000000000000000000000000001";
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![
            shift("t1", "KXTINY-1", tiny),
            shift("t2", "KXFINE-1", "0.4"),
        ])],
        SignalAnswer::buy_yes(),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let decisions = running.wait_for_decisions(2);
    let tiny_decision = decisions.iter().find(|d| d.event_id == "t1").expect("t1");
    assert_eq!(tiny_decision.outcome, "size_zero", "{tiny_decision:?}");
    let fine = decisions.iter().find(|d| d.event_id == "t2").expect("t2");
    assert_eq!(fine.outcome, "traded", "{fine:?}");
    running.terminate();
    let calls = server.signal_calls();

    let mut again = app.start();
    again.wait_for_message("event stream connected");
    let again = again.terminate();
    assert!(again.decisions().is_empty(), "nothing was left to resume");
    assert_eq!(server.signal_calls(), calls, "no signal was bought twice");
}

/// A 100 KB `id:` once became the resume cursor and every reconnect got 431, for ever. Now the
/// event is decided under a derived id, the long id is never sent back, and the stream goes on.
#[test]
fn a_huge_event_id_is_not_a_cursor() {
    let long = "L".repeat(100_000);
    let server = Hostile::start(
        vec![
            StreamReply::Chunks(vec![shift(&long, "KXLONG-1", "0.4")]),
            StreamReply::Status(503, vec![]),
            StreamReply::Chunks(vec![shift("after", "KXLONG-2", "0.4")]),
        ],
        SignalAnswer::json(r#"{"recommendation":"NO_TRADE","edge":0}"#),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let first = running.wait_for_decisions(1);
    assert!(first[0].event_id.starts_with("sha256:"), "{:?}", first[0]);
    // The first connection holds; make the bot reconnect by restarting it.
    running.terminate();
    let mut running = app.start();
    running.wait_for("the event after the long id", |logs| {
        crate::support::decisions_in(logs)
            .iter()
            .any(|d| d.event_id == "after")
            .then_some(())
    });
    running.terminate();
    let cursors = server.cursors();
    assert!(
        cursors.iter().flatten().all(|c| c.len() <= 256),
        "a long id was sent back: {:?}",
        cursors
            .iter()
            .map(|c| c.as_ref().map(String::len))
            .collect::<Vec<_>>()
    );
}

/// `Retry-After: 99999999999` (about 3,000 years) on the stream waits `feed.backoff_max`.
#[test]
fn a_huge_stream_retry_after_is_capped() {
    let server = Hostile::start(
        vec![
            StreamReply::Status(503, vec![("retry-after", "99999999999".to_string())]),
            StreamReply::Chunks(vec![shift("r1", "KXRETRY-1", "0.4")]),
        ],
        SignalAnswer::json(r#"{"recommendation":"NO_TRADE","edge":0}"#),
    );
    let mut app = Setup::against(server.base_url())
        .set("feed.backoff_max", "2s")
        .spawn();
    let started = Instant::now();
    let mut running = app.start();
    running.wait_for_decisions(1);
    assert!(started.elapsed() < Duration::from_secs(30));
    let capped = running.wait_for_message(
        "the stream's Retry-After exceeds feed.backoff_max; waiting feed.backoff_max instead",
    );
    assert_eq!(capped["capped_s"], 2, "{capped}");
    running.terminate();
}

/// A 429 with a date in year 9999 pauses signals for `signal.max_pause` (24 h), not until 9999,
/// and says so.
#[test]
fn a_signal_pause_until_9999_is_capped_at_max_pause() {
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![shift("p1", "KXPAUSE-1", "0.4")])],
        SignalAnswer::buy_yes(),
    );
    server.signals(vec![SignalAnswer {
        status: 429,
        headers: vec![("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT".to_string())],
        body: r#"{"detail":"monthly quota exceeded"}"#.to_string(),
    }]);
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let decisions = running.wait_for_decisions(1);
    assert_eq!(decisions[0].outcome, "signal_error", "{:?}", decisions[0]);
    let reason = decisions[0].reason.clone().unwrap_or_default();
    let until = reason
        .split("until ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pause end in {reason:?}"));
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("RFC 3339");
    let limit = chrono::Utc::now() + chrono::Duration::hours(24) + chrono::Duration::minutes(1);
    assert!(until < limit, "paused until {until}");
    running.wait_for_message("signal requests are paused");
    running.terminate();
}

/// A 200 signal body that echoes the key, and an event that carries it, are stored and
/// exported without it (the harness also checks every file under the test's directory).
#[test]
fn an_echoed_key_is_never_stored_or_exported() {
    let echo = format!(
        r#"{{"recommendation":"NO_TRADE","edge":0,"debug":"auth=Bearer {KEY}","{KEY}":1}}"#
    );
    let event = format!(
        r#"{{"type":"price_shift","market_id":"KXECHO-1","platform":"kalshi","old_yes":0.5,"new_yes":0.4,"change_pct":-20,"note":"{KEY}","timestamp":"{}"}}"#,
        crate::support::now_rfc3339()
    );
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![sse_event(Some("e1"), &event)])],
        SignalAnswer::json(echo),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    running.wait_for_decisions(1);
    running.terminate();
    let (code, exported, stderr) = app.output(&["export-events"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(exported.contains("[redacted]"), "{exported}");
    assert!(!exported.contains(KEY));
    app.assert_no_secret_on_disk();
}

/// An expiry that cannot be read ("yesterday") fails the signal instead of being ignored.
#[test]
fn an_unreadable_expiry_is_a_signal_error() {
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![shift("x1", "KXEXP-1", "0.4")])],
        SignalAnswer::json(r#"{"recommendation":"BUY_YES","edge":0.15,"expires_at":"yesterday"}"#),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let decisions = running.wait_for_decisions(1);
    assert_eq!(decisions[0].outcome, "signal_error", "{:?}", decisions[0]);
    running.terminate();
    assert!(app.ledger().is_empty(), "nothing was traded on it");
}

/// Invalid UTF-8 in a market id is `invalid`, and no signal is bought for the mangled id.
#[test]
fn a_market_id_with_invalid_utf8_is_invalid_and_not_signalled() {
    let mut block = b"id: u1\nevent: message\ndata: ".to_vec();
    let event = fresh_price_shift(None, "kalshi", "KXBAD-#", "0.5", "0.4")
        .data
        .into_bytes();
    let at = event
        .windows(1)
        .position(|w| w == b"#")
        .expect("placeholder");
    block.extend_from_slice(&event[..at]);
    block.push(0xFF);
    block.extend_from_slice(&event[at + 1..]);
    block.extend_from_slice(b"\n\n");
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![block])],
        SignalAnswer::buy_yes(),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let decisions = running.wait_for_decisions(1);
    assert_eq!(decisions[0].outcome, "invalid", "{:?}", decisions[0]);
    assert!(
        decisions[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("U+FFFD"),
        "{:?}",
        decisions[0]
    );
    assert_eq!(server.signal_calls(), 0);
    running.terminate();
}

/// 64 MiB of `data:` lines without a blank line: the event is dropped with a warning, the
/// next one is decided on the same connection, and the bot's memory stays bounded (it once
/// grew to twice the event's size).
#[test]
fn an_endless_event_is_dropped_and_memory_stays_bounded() {
    let line = format!("data: {}\n", "x".repeat(1018)).into_bytes();
    let mut chunks: Vec<Vec<u8>> = vec![b"id: big\nevent: message\n".to_vec()];
    for _ in 0..64 {
        chunks.push(line.repeat(1024));
    }
    chunks.push(b"\n".to_vec());
    chunks.push(shift("small", "KXBIG-1", "0.4"));
    let server = Hostile::start(
        vec![StreamReply::Chunks(chunks)],
        SignalAnswer::json(r#"{"recommendation":"NO_TRADE","edge":0}"#),
    );
    let mut app = Setup::against(server.base_url()).spawn();
    let mut running = app.start();
    let decisions = running.wait_for_decisions(1);
    assert_eq!(decisions[0].event_id, "small");
    running.wait_for_message("dropping an event over feed.max_event_bytes from the event stream");
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", running.pid())).unwrap_or_default();
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(
        peak_kib < 64 * 1024,
        "peak resident memory {peak_kib} KiB for a 64 MiB event"
    );
    running.terminate();
    assert_eq!(app.decisions().len(), 1, "the dropped event left nothing");
}

/// A quota pause is an error for the sinks that want errors, once per pause.
#[test]
fn a_quota_pause_is_told_to_the_error_sinks() {
    use crate::support::sink::{SinkAnswer, SinkServer};
    let sink = SinkServer::start(SinkAnswer::ok());
    let server = Hostile::start(
        vec![StreamReply::Chunks(vec![
            shift("q1", "KXQUOTA-1", "0.4"),
            shift("q2", "KXQUOTA-2", "0.4"),
        ])],
        SignalAnswer::buy_yes(),
    );
    server.signals(vec![SignalAnswer {
        status: 429,
        headers: vec![("retry-after", "120".to_string())],
        body: r#"{"detail":"monthly quota exceeded"}"#.to_string(),
    }]);
    let mut app = Setup::against(server.base_url())
        .set(
            "notify",
            toml::Value::Array(vec![crate::notify::webhook_sink("ops", &["error"], &[])]),
        )
        .env("HOOK_URL", &sink.url("/ops"))
        .env("HOOK_SECRET", crate::notify::SECRET)
        .spawn();
    let mut running = app.start();
    running.wait_for_decisions(2);
    let alarm = crate::support::eventually("a quota_pause error", || {
        sink.received().into_iter().map(|r| r.json()).next()
    });
    assert_eq!(alarm["error"]["code"], "quota_pause", "{alarm}");
    assert!(
        alarm["text"]
            .as_str()
            .unwrap_or_default()
            .contains("signal requests paused until"),
        "{alarm}"
    );
    running.terminate();
    assert_eq!(sink.received().len(), 1, "one message for one pause");
}
