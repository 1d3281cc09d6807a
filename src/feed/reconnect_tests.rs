//! [`super::run_stream`] reconnecting, giving up and stopping, against a real HTTP server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::stream_tests::{settings, Harness, KEY};
use super::test_server::{chunk, Reply, TestServer};
use super::{FeedError, StreamSettings};

#[tokio::test]
async fn reconnect_sends_the_current_cursor_as_last_event_id() {
    let release = Arc::new(Notify::new());
    let server = TestServer::start(vec![
        Reply::StreamThenWait(vec![chunk("id: 1\ndata: {}\n\n")], Arc::clone(&release)),
        Reply::StreamThenHold(vec![chunk("id: 2\ndata: {}\n\n")]),
    ])
    .await;
    let mut harness = Harness::start(settings(&server), Some("persisted-0"), 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("1"));
    // The runner persisted something else than what was just received: the cursor wins.
    harness.cursor.send_replace(Some("persisted-7".into()));
    release.notify_one();
    assert_eq!(harness.next().await.id.as_deref(), Some("2"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("last-event-id"), Some("persisted-0"));
    assert_eq!(requests[1].header("last-event-id"), Some("persisted-7"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer test-key-5ecret")
    );
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn server_retry_sets_the_reconnect_delay() {
    let server = TestServer::start(vec![
        Reply::Stream(vec![chunk("retry: 50\n\n"), chunk("id: 1\ndata: {}\n\n")]),
        Reply::StreamThenHold(vec![chunk("id: 2\ndata: {}\n\n")]),
    ])
    .await;
    let mut settings = settings(&server);
    // Without the server's 50 ms the first reconnect would wait at least a minute.
    settings.backoff_initial = Duration::from_secs(60);
    settings.backoff_max = Duration::from_secs(300);
    let mut harness = Harness::start(settings, None, 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("1"));
    assert_eq!(harness.next().await.id.as_deref(), Some("2"));
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_fatal_without_retries() {
    for status in [401u16, 403] {
        let server = TestServer::start(vec![Reply::Status(status, vec![])]).await;
        let harness = Harness::start(settings(&server), None, 16);
        let result = harness.finish().await;
        assert_eq!(result, Err(FeedError::Unauthorized { status }));
        let message = result.expect_err("fatal").to_string();
        assert!(!message.contains(KEY), "{message}");
        assert_eq!(
            server.requests().len(),
            1,
            "HTTP {status} must not be retried"
        );
    }
}

#[tokio::test]
async fn http_errors_are_retried_until_the_stream_works() {
    let server = TestServer::start(vec![
        Reply::Status(503, vec![]),
        Reply::Status(404, vec![]),
        Reply::Status(500, vec![]),
        Reply::StreamThenHold(vec![chunk("id: ok\ndata: {}\n\n")]),
    ])
    .await;
    let mut harness = Harness::start(settings(&server), None, 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("ok"));
    assert_eq!(server.requests().len(), 4);
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn too_many_requests_waits_at_least_retry_after() {
    let server = TestServer::start(vec![
        Reply::Status(429, vec![("Retry-After", "1")]),
        Reply::StreamThenHold(vec![chunk("id: ok\ndata: {}\n\n")]),
    ])
    .await;
    let patient = StreamSettings {
        backoff_max: Duration::from_secs(2),
        ..settings(&server)
    };
    let mut harness = Harness::start(patient, None, 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("ok"));
    let requests = server.requests();
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(
        waited >= Duration::from_secs(1),
        "reconnected after {waited:?}"
    );
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn silence_beyond_the_idle_timeout_reconnects() {
    let server = TestServer::start(vec![
        Reply::StreamThenHold(vec![chunk("id: 1\ndata: {}\n\n")]),
        Reply::StreamThenHold(vec![chunk("id: 2\ndata: {}\n\n")]),
    ])
    .await;
    let mut settings = settings(&server);
    settings.idle_timeout = Duration::from_millis(300);
    let mut harness = Harness::start(settings, Some("c"), 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("1"));
    assert_eq!(harness.next().await.id.as_deref(), Some("2"));
    // The second connection goes silent too and may be replaced again before shutdown.
    let requests = server.requests();
    assert!(requests.len() >= 2);
    assert_eq!(requests[1].header("last-event-id"), Some("c"));
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn heartbeats_keep_an_idle_stream_alive() {
    let server = TestServer::start(vec![Reply::HeartbeatsThen(
        Duration::from_millis(50),
        30,
        vec![chunk("id: after-pings\ndata: {}\n\n")],
    )])
    .await;
    let mut settings = settings(&server);
    // 20x the heartbeat period, 1/1.5 of the whole heartbeat phase.
    settings.idle_timeout = Duration::from_secs(1);
    let mut harness = Harness::start(settings, None, 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("after-pings"));
    assert_eq!(server.requests().len(), 1, "heartbeats are traffic");
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

#[tokio::test]
async fn shutdown_stops_while_connected_and_while_backing_off() {
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![])]).await;
    let harness = Harness::start(settings(&server), None, 16);
    server.wait_for_requests(1).await;
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));

    let server = TestServer::start(vec![Reply::Status(503, vec![])]).await;
    let mut settings = settings(&server);
    settings.backoff_initial = Duration::from_secs(120);
    settings.backoff_max = Duration::from_secs(300);
    let harness = Harness::start(settings, None, 16);
    server.wait_for_requests(1).await;
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
    assert_eq!(server.requests().len(), 1);
}

/// Captures formatted tracing output of the current thread.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn reconnects_are_logged_with_attempts_and_never_the_key() {
    let text = logged(async {
        let server = TestServer::start(vec![
            Reply::Status(503, vec![]),
            Reply::Status(500, vec![]),
            Reply::StreamThenHold(vec![chunk("id: ok\ndata: {}\n\n")]),
        ])
        .await;
        let mut harness = Harness::start(settings(&server), None, 16);
        assert_eq!(harness.next().await.id.as_deref(), Some("ok"));
        harness.shutdown.send_replace(true);
        assert_eq!(harness.finish().await, Ok(()));
    })
    .await;
    let warnings: Vec<&str> = text.lines().filter(|line| line.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(
        warnings[0].contains("attempt=1") && warnings[0].contains("HTTP 503"),
        "{text}"
    );
    assert!(
        warnings[1].contains("attempt=2") && warnings[1].contains("HTTP 500"),
        "{text}"
    );
    assert!(
        warnings.iter().all(|line| line.contains("delay_ms=")),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
}

/// Logs of everything run inside `work`, as text.
async fn logged<F: std::future::Future<Output = ()>>(work: F) -> String {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    work.await;
    let text = String::from_utf8(logs.0.lock().expect("log lock").clone()).expect("utf-8");
    text
}

/// A `Retry-After` of 3,000 years is cut to `feed.backoff_max`, and the cut is logged.
#[tokio::test]
async fn a_huge_retry_after_waits_backoff_max_at_most() {
    let text = logged(async {
        for asked in ["99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            let server = TestServer::start(vec![
                Reply::Status(503, vec![("Retry-After", asked)]),
                Reply::StreamThenHold(vec![chunk("id: ok\ndata: {}\n\n")]),
            ])
            .await;
            let mut harness = Harness::start(settings(&server), None, 16);
            assert_eq!(harness.next().await.id.as_deref(), Some("ok"), "{asked}");
            let requests = server.requests();
            let waited = requests[1].at.duration_since(requests[0].at);
            assert!(
                waited < Duration::from_secs(5),
                "{asked}: waited {waited:?}"
            );
            harness.shutdown.send_replace(true);
            assert_eq!(harness.finish().await, Ok(()));
        }
    })
    .await;
    assert_eq!(
        text.matches("Retry-After exceeds feed.backoff_max").count(),
        2,
        "{text}"
    );
}

/// A cursor refused with 431 (or 414) is dropped: the next connect goes without it.
#[tokio::test]
async fn a_refused_cursor_is_dropped_instead_of_looping() {
    for status in [431, 414] {
        let server = TestServer::start(vec![
            Reply::Status(status, vec![]),
            Reply::StreamThenHold(vec![chunk("id: fresh\ndata: {}\n\n")]),
        ])
        .await;
        let mut harness = Harness::start(settings(&server), Some("a-cursor"), 16);
        assert_eq!(harness.next().await.id.as_deref(), Some("fresh"));
        let requests = server.requests();
        assert_eq!(requests[0].header("last-event-id"), Some("a-cursor"));
        assert_eq!(requests[1].header("last-event-id"), None, "{status}");
        // A new cursor (a later persisted event) is sent again.
        harness.cursor.send_replace(Some("fresh".into()));
        drop(server);
        harness.shutdown.send_replace(true);
        assert_eq!(harness.finish().await, Ok(()));
    }
}

/// A stored cursor longer than an event id may be (from an older version) is never sent.
#[tokio::test]
async fn an_over_long_stored_cursor_is_not_sent() {
    let server = TestServer::start(vec![Reply::StreamThenHold(vec![chunk(
        "id: 1\ndata: {}\n\n",
    )])])
    .await;
    let long = "c".repeat(100_000);
    let mut harness = Harness::start(settings(&server), Some(&long), 16);
    assert_eq!(harness.next().await.id.as_deref(), Some("1"));
    assert_eq!(server.requests()[0].header("last-event-id"), None);
    harness.shutdown.send_replace(true);
    assert_eq!(harness.finish().await, Ok(()));
}

/// A byte a second without a newline is no sign of life: the connection is replaced after the
/// idle timeout, and the warning names the timeout.
#[tokio::test]
async fn a_trickling_connection_is_replaced_and_the_timeout_named() {
    let text = logged(async {
        let server = TestServer::start(vec![
            Reply::Trickle(Duration::from_millis(50)),
            Reply::StreamThenHold(vec![chunk("id: after\ndata: {}\n\n")]),
        ])
        .await;
        let quick = StreamSettings {
            idle_timeout: Duration::from_millis(600),
            ..settings(&server)
        };
        let mut harness = Harness::start(quick, None, 16);
        assert_eq!(harness.next().await.id.as_deref(), Some("after"));
        harness.shutdown.send_replace(true);
        assert_eq!(harness.finish().await, Ok(()));
    })
    .await;
    let warning = text
        .lines()
        .find(|line| line.contains("event stream lost"))
        .unwrap_or_default();
    assert!(
        warning.contains("no complete event or heartbeat for 600ms (feed.idle_timeout)"),
        "{text}"
    );
    assert!(!warning.contains("transport error"), "{warning}");
}

/// 8 MiB of `data:` lines without a blank line make one event over `feed.max_event_bytes`: it
/// is dropped with a warning, and the event after it arrives on the same connection.
#[tokio::test]
async fn an_event_over_max_event_bytes_is_dropped_and_the_stream_goes_on() {
    let line = format!("data: {}\n", "x".repeat(1018));
    let huge: Vec<Vec<u8>> = (0..8)
        .map(|_| line.repeat(1024).into_bytes())
        .chain([b"\n".to_vec(), chunk("id: next\ndata: {}\n\n")])
        .collect();
    let text = logged(async {
        let server = TestServer::start(vec![Reply::StreamThenHold(huge)]).await;
        let mut harness = Harness::start(settings(&server), None, 16);
        let event = harness.next().await;
        assert_eq!(event.id.as_deref(), Some("next"));
        assert_eq!(server.requests().len(), 1, "same connection");
        harness.shutdown.send_replace(true);
        assert_eq!(harness.finish().await, Ok(()));
    })
    .await;
    assert!(
        text.contains("dropping an event over feed.max_event_bytes"),
        "{text}"
    );
}

/// An unreachable API is named with its URL (no credentials in it) and the cause, each said
/// once; the warning comes once per backoff step.
#[tokio::test]
async fn an_unreachable_api_is_logged_with_its_url_once_per_step() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let text = logged(async {
        let settings = StreamSettings {
            base_url: format!("http://{free}"),
            events: vec!["price_shift".into()],
            api_key: Some(KEY.into()),
            connect_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(40),
            max_event_bytes: crate::feed::normalize::MAX_EVENT_BYTES,
        };
        let harness = Harness::start(settings, None, 16);
        tokio::time::sleep(Duration::from_millis(400)).await;
        harness.shutdown.send_replace(true);
        assert_eq!(harness.finish().await, Ok(()));
    })
    .await;
    let warnings: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("event stream lost"))
        .collect();
    assert!(warnings.len() >= 2, "{text}");
    for (step, line) in warnings.iter().enumerate() {
        assert!(line.contains(&format!("attempt={}", step + 1)), "{line}");
        assert!(
            line.contains(&format!(
                "cannot reach http://{free}/v1/stream?events=price_shift: "
            )),
            "{line}"
        );
        assert!(!line.contains("transport error: transport error"), "{line}");
    }
    assert!(!text.contains(KEY));
}
