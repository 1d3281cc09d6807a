//! [`run_stream`] against a real HTTP server on 127.0.0.1 (see [`super::test_server`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::test_server::{chunk, Reply, TestServer, PATIENCE};
use super::{run_stream, FeedError, RawEvent, StreamSettings};
use crate::clock::{Clock, SharedClock};

pub(super) const KEY: &str = "test-key-5ecret";

struct FixedClock(strategies::Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> strategies::Timestamp {
        self.0
    }
}

fn fixed_now() -> strategies::Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .expect("valid date")
        .with_timezone(&chrono::Utc)
}

pub(super) fn settings(server: &TestServer) -> StreamSettings {
    StreamSettings {
        base_url: server.base_url(),
        events: vec!["price_shift".into(), "whale_alert".into()],
        api_key: Some(KEY.into()),
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        max_event_bytes: crate::feed::normalize::MAX_EVENT_BYTES,
    }
}

/// A running source plus the handles a runner would hold.
pub(super) struct Harness {
    pub(super) events: mpsc::Receiver<RawEvent>,
    pub(super) cursor: watch::Sender<Option<String>>,
    pub(super) shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), FeedError>>,
}

impl Harness {
    pub(super) fn start(
        settings: StreamSettings,
        cursor: Option<&str>,
        capacity: usize,
    ) -> Harness {
        let clock: SharedClock = Arc::new(FixedClock(fixed_now()));
        let (cursor_tx, cursor_rx) = watch::channel(cursor.map(str::to_string));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (tx, events) = mpsc::channel(capacity);
        let task = {
            let liveness = crate::intake::Liveness::new(clock.now());
            tokio::spawn(run_stream(
                settings,
                clock,
                cursor_rx,
                tx,
                shutdown_rx,
                liveness,
            ))
        };
        Harness {
            events,
            cursor: cursor_tx,
            shutdown: shutdown_tx,
            task,
        }
    }

    pub(super) async fn next(&mut self) -> RawEvent {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("an event in time")
            .expect("source still running")
    }

    /// (id, sse_event, data) of the next `count` events.
    async fn take(&mut self, count: usize) -> Vec<(Option<String>, Option<String>, String)> {
        let mut out = Vec::new();
        for _ in 0..count {
            let event = self.next().await;
            assert_eq!(event.received_at, fixed_now());
            out.push((event.id, event.sse_event, event.data));
        }
        out
    }

    pub(super) async fn finish(self) -> Result<(), FeedError> {
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("source stopped in time")
            .expect("source task did not panic")
    }
}

fn ev(
    id: Option<&str>,
    name: Option<&str>,
    data: &str,
) -> (Option<String>, Option<String>, String) {
    (
        id.map(str::to_string),
        name.map(str::to_string),
        data.to_string(),
    )
}

#[tokio::test]
async fn sse_events_arrive_with_ids_types_and_headers() {
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![
        chunk(
            "id: 1\nevent: price_shift\ndata: {\"type\":\"price_shift\",\"market_id\":\"M\"}\n\n",
        ),
        chunk("id: 2\nevent: message\ndata: {\"type\":\"whale_alert\"}\n\n"),
        chunk("data: {\"type\":\n"),
        chunk("data: \"price_shift\"}\n\n"),
    ])])
    .await;
    let mut harness = Harness::start(settings(&server), None, 16);
    assert_eq!(
        harness.take(3).await,
        vec![
            ev(
                Some("1"),
                Some("price_shift"),
                r#"{"type":"price_shift","market_id":"M"}"#
            ),
            ev(Some("2"), None, r#"{"type":"whale_alert"}"#),
            ev(None, None, "{\"type\":\n\"price_shift\"}"),
        ]
    );
    let request = &server.requests()[0];
    assert_eq!(request.target, "/v1/stream?events=price_shift,whale_alert");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer test-key-5ecret")
    );
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.header("last-event-id"), None);
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn bare_json_lines_mixed_with_sse_and_heartbeats() {
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![
        chunk(": hello\n\n{\"type\":\"price_shift\",\"id\":\"j-1\"}\n"),
        chunk("id: s-1\nevent: whale_alert\ndata: {\"type\":\"whale_alert\"}\n\n: ping\n\n"),
        chunk("{\"type\":\"price_shift\"}\r\n"),
        chunk("data: {\"type\":\"no_id\"}\n\n"),
        chunk("{\"type\":\"price_shift\",\"id\":\"j-2\"}"),
        chunk("\n: ping\nid: last\ndata: {}\n\n"),
    ])])
    .await;
    let mut harness = Harness::start(settings(&server), None, 16);
    assert_eq!(
        harness.take(6).await,
        vec![
            ev(Some("j-1"), None, r#"{"type":"price_shift","id":"j-1"}"#),
            ev(
                Some("s-1"),
                Some("whale_alert"),
                r#"{"type":"whale_alert"}"#
            ),
            // Neither inherits "s-1": no id means no id.
            ev(None, None, r#"{"type":"price_shift"}"#),
            ev(None, None, r#"{"type":"no_id"}"#),
            ev(Some("j-2"), None, r#"{"type":"price_shift","id":"j-2"}"#),
            ev(Some("last"), None, "{}"),
        ]
    );
    assert_eq!(server.requests().len(), 1, "no reconnect was needed");
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn garbage_is_passed_on_or_dropped_without_breaking_the_connection() {
    let mut long_line = b"data: ".to_vec();
    long_line.extend(std::iter::repeat_n(
        b'x',
        super::normalize::MAX_EVENT_BYTES + 100,
    ));
    long_line.extend_from_slice(b"\n\n");
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![
        b"id: bad-utf8\ndata: {\"m\":\"\xff\"}\n\n".to_vec(),
        chunk("id: not-json\ndata: hello world\n\n"),
        chunk("id: empty\ndata:\n\n"),
        long_line,
        chunk("{not json either\n"),
        chunk("id: after\ndata: {\"type\":\"price_shift\"}\n\n"),
    ])])
    .await;
    let mut harness = Harness::start(settings(&server), None, 16);
    assert_eq!(
        harness.take(5).await,
        vec![
            ev(Some("bad-utf8"), None, "{\"m\":\"\u{FFFD}\"}"),
            ev(Some("not-json"), None, "hello world"),
            ev(Some("empty"), None, ""),
            ev(None, None, "{not json either"),
            ev(Some("after"), None, r#"{"type":"price_shift"}"#),
        ]
    );
    assert_eq!(
        server.requests().len(),
        1,
        "garbage must not cost a reconnect"
    );
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn backpressure_delivers_every_event_in_order() {
    let body: String = (0..200)
        .map(|n| format!("id: {n}\ndata: {{\"n\":{n}}}\n\n"))
        .collect();
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![body.into_bytes()])]).await;
    let mut harness = Harness::start(settings(&server), None, 1);
    for n in 0..200 {
        if n % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(harness.next().await.id, Some(n.to_string()));
    }
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn final_json_line_without_newline_is_delivered() {
    let server = TestServer::start(vec![
        Reply::Stream(vec![chunk("{\"type\":\"price_shift\",\"id\":\"tail\"}")]),
        Reply::StreamThenHold(vec![]),
    ])
    .await;
    let mut harness = Harness::start(settings(&server), None, 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("tail"));
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn closed_receiver_ends_the_source() {
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![chunk("data: {}\n\n")])]).await;
    let mut harness = Harness::start(settings(&server), None, 16);
    harness.next().await;
    harness.events.close();
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn bad_settings_fail_at_start() {
    let server = TestServer::start(vec![]).await;
    let mut bad_url = settings(&server);
    bad_url.base_url = "ftp://example.com".into();
    let result = Harness::start(bad_url, None, 16).finish().await;
    assert!(
        matches!(result, Err(FeedError::InvalidUrl { .. })),
        "{result:?}"
    );
    let mut bad_key = settings(&server);
    bad_key.api_key = Some("line\nbreak".into());
    let result = Harness::start(bad_key, None, 16).finish().await;
    assert_eq!(result, Err(FeedError::InvalidApiKey));
    assert!(server.requests().is_empty());
}
