//! [`super::run_stream`] reconnecting, giving up and stopping, against a real HTTP server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::stream_tests::{settings, Harness, KEY};
use super::test_server::{chunk, Reply, TestServer};
use super::FeedError;

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
    let mut harness = Harness::start(settings(&server), None, 16);
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
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let text = String::from_utf8(logs.0.lock().expect("log lock").clone()).expect("utf-8");
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
