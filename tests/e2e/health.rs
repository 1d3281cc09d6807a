//! The admin listener's probes and metrics, against the real binary: `/metrics` parses as
//! Prometheus text, its counters equal `decisions --summary` and survive a restart, and
//! `/readyz` turns 503 while the feed is silent and 200 when events come back.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::hostile::{sse_event, Hostile, SignalAnswer, StreamReply};
use crate::support::{fresh_price_shift, model_price_shifts, Running, Setup, PATIENCE};

/// `GET path` on the bot's admin listener: (status, body).
fn get(admin: &str, path: &str) -> (u16, String) {
    let mut socket = std::net::TcpStream::connect(admin).expect("connect to the admin listener");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).expect("answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, dechunk(&body))
}

/// The body of a chunked answer, or the body as it is.
fn dechunk(body: &str) -> String {
    let mut rest = body;
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if size == 0 {
            return out;
        }
        out.push_str(&tail[..size.min(tail.len())]);
        rest = tail.get(size + 2..).unwrap_or("");
    }
    if out.is_empty() {
        body.to_string()
    } else {
        out
    }
}

/// Every sample of Prometheus text: `name{labels}` → value. Fails on a line that is not a
/// comment, a blank or `name[{labels}] value`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let name_ok = series
            .split('{')
            .next()
            .is_some_and(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(name_ok, "bad metric name in {line:?}");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

fn admin_of(running: &mut Running) -> String {
    let listening = running.wait_for_message("admin listener serving review commands (read-only)");
    listening["addr"].as_str().expect("addr").to_string()
}

#[test]
fn metrics_count_what_the_store_holds_and_survive_a_restart() {
    let script = model_price_shifts(31, 6, 200, 0);
    let n = script.len();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 0)
        .screen_every_event()
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    running.wait_for_decisions(n);
    let (status, body) = get(&admin, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    // Everything decided is durable once the summary through the bot counts it.
    let summary = crate::support::eventually("every decision durable", || {
        let (code, stdout, _) = app.output_with_env(
            &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
            &["decisions", "--summary", "--json"],
        );
        let summary: Value = serde_json::from_str(&stdout).ok()?;
        (code == 0 && summary["total"] == n).then_some(summary)
    });
    let (status, text) = get(&admin, "/metrics");
    assert_eq!(status, 200);
    let metrics = samples(&text);
    for name in [
        "shiftbot_events_received_total",
        "shiftbot_decisions_total",
        "shiftbot_signal_requests_total",
        "shiftbot_signal_latency_seconds_bucket",
        "shiftbot_trades_total",
        "shiftbot_open_positions",
        "shiftbot_cash",
        "shiftbot_equity",
        "shiftbot_realized_pnl",
        "shiftbot_fees_total",
        "shiftbot_last_event_age_seconds",
        "shiftbot_commit_batch_events_bucket",
        "shiftbot_flush_seconds_bucket",
        "shiftbot_outbox_backlog",
    ] {
        assert!(
            metrics.keys().any(|series| series.starts_with(name)),
            "{name} missing from:\n{text}"
        );
    }
    let outcomes = summary["outcomes"].as_object().expect("outcomes");
    for (outcome, count) in outcomes {
        let series = format!("shiftbot_decisions_total{{outcome=\"{outcome}\"}}");
        assert_eq!(
            metrics.get(&series).copied(),
            Some(count.as_f64().expect("count")),
            "{series}"
        );
    }
    assert_eq!(
        metrics.get("shiftbot_events_received_total{intake=\"stream\",type=\"price_shift\"}"),
        Some(&(n as f64))
    );
    running.terminate();
    let trades = app.ledger().len() as f64;
    let counted: f64 = metrics
        .iter()
        .filter(|(series, _)| series.starts_with("shiftbot_trades_total"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(counted, trades);

    // A restart counts from the store: the same totals before any new event.
    let mut again = app.start();
    let admin = admin_of(&mut again);
    again.wait_for_message("event stream connected");
    let after = samples(&get(&admin, "/metrics").1);
    for (series, value) in &metrics {
        if series.starts_with("shiftbot_decisions_total")
            || series.starts_with("shiftbot_events_received_total")
            || series.starts_with("shiftbot_trades_total")
        {
            assert_eq!(after.get(series), Some(value), "{series} after a restart");
        }
    }
    again.terminate();
}

#[test]
fn readyz_turns_503_while_the_feed_is_silent_and_200_when_it_is_back() {
    let at = |secs: u64, id: &str| {
        let event = fresh_price_shift(None, "kalshi", "KXREADY-1", "0.5", "0.49");
        (
            Duration::from_millis(secs),
            sse_event(Some(id), &event.data),
        )
    };
    let mut paced = vec![at(0, "r0")];
    paced.push(at(3_000, "r1"));
    for i in 2..30 {
        paced.push(at(150, &format!("r{i}")));
    }
    let server = Hostile::start(
        vec![StreamReply::Paced(paced)],
        SignalAnswer::json(r#"{"recommendation":"NO_TRADE","edge":0}"#),
    );
    let mut app = Setup::against(server.base_url())
        .set("feed.stale_after", "1s")
        .set("filter.max_event_age", "0s")
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    running.wait_for_decisions(1);
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < PATIENCE {
        let (status, body) = get(&admin, "/readyz");
        let readiness: Value = serde_json::from_str(&body).expect("readyz answers JSON");
        assert_eq!(readiness["ready"], status == 200, "{body}");
        if status == 503 {
            let reasons = readiness["reasons"].to_string();
            assert!(reasons.contains("no event for"), "{reasons}");
        }
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if seen.ends_with(&[503, 200]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen.ends_with(&[503, 200]), "readiness went {seen:?}");
    assert_eq!(get(&admin, "/healthz").0, 200);
    running.terminate();
}
