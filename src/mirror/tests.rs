//! `run_mirror` against a real HTTP server on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal_macros::dec;

use super::*;
use crate::signal::test_server::{Reply, ScriptServer};

const KEY: &str = "sk-live-SECRET-77aa";

#[derive(Default)]
struct Acks(Mutex<Vec<u64>>);

impl OutboxAck for Acks {
    fn done(&self, trade_id: u64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(trade_id);
    }
}

impl Acks {
    fn list(&self) -> Vec<u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = self.list();
            if list.len() >= count {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "only {list:?} acked, wanted {count}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

struct Running {
    orders: mpsc::UnboundedSender<MirrorOrder>,
    acks: Arc<Acks>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn push(&self, order: MirrorOrder) {
        assert!(self.orders.send(order).is_ok(), "mirror task is gone");
    }

    /// Request shutdown and wait (generously) for the task to end.
    async fn stop(self) -> Vec<u64> {
        let _ = self.stop.send(true);
        let joined = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "mirror did not stop: {joined:?}"
        );
        self.acks.list()
    }
}

fn settings(server: &ScriptServer) -> MirrorSettings {
    MirrorSettings {
        base_url: server.base_url.clone(),
        api_key: Some(KEY.into()),
        timeout: Duration::from_secs(20),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    }
}

fn start(settings: MirrorSettings) -> Running {
    let (orders, receiver) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let acks = Arc::new(Acks::default());
    let ack: Arc<dyn OutboxAck> = acks.clone();
    let task = tokio::spawn(run_mirror(settings, receiver, ack, shutdown));
    Running {
        orders,
        acks,
        stop,
        task,
    }
}

fn order(trade_id: u64) -> MirrorOrder {
    MirrorOrder {
        trade_id,
        ticker: "KXFED-26MAR19".into(),
        platform: Platform::Kalshi,
        side: Side::Yes,
        size_usd: dec!(12.340),
    }
}

fn body_text(server: &ScriptServer, index: usize) -> String {
    String::from_utf8_lossy(&server.requests()[index].body).into_owned()
}

#[test]
fn body_carries_exact_decimal_digits() {
    assert_eq!(
        order_body(&order(1)),
        r#"{"ticker":"KXFED-26MAR19","platform":"kalshi","side":"yes","size_usd":12.340}"#
    );
    let cases = [
        (dec!(0.1), "0.1"),
        (dec!(1000), "1000"),
        (dec!(0.0000001), "0.0000001"),
        (dec!(123456789.123456789), "123456789.123456789"),
        (
            dec!(7.9228162514264337593543950335),
            "7.9228162514264337593543950335",
        ),
    ];
    for (size_usd, text) in cases {
        let order = MirrorOrder {
            ticker: "will-\"it\"\n".into(),
            platform: Platform::Polymarket,
            side: Side::No,
            size_usd,
            ..order(2)
        };
        let body = order_body(&order);
        assert_eq!(
            body,
            format!(
                r#"{{"ticker":"will-\"it\"\n","platform":"polymarket","side":"no","size_usd":{text}}}"#
            )
        );
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&body);
        assert!(parsed.is_ok(), "valid JSON: {body}");
    }
}

#[tokio::test]
async fn a_2xx_is_acked_once_with_the_documented_request() {
    let server = ScriptServer::start(vec![], Reply::new(201, r#"{"ok":true}"#)).await;
    let running = start(settings(&server));
    running.push(order(1));
    running.push(order(2));
    assert_eq!(running.acks.wait_for(2).await, vec![1, 2]);
    assert_eq!(running.stop().await, vec![1, 2]);
    assert_eq!(server.hits(), 2);
    let request = &server.requests()[0];
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.uri.path(), "/v1/trades/shadow");
    assert_eq!(
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        body_text(&server, 0),
        r#"{"ticker":"KXFED-26MAR19","platform":"kalshi","side":"yes","size_usd":12.340}"#
    );
}

#[tokio::test]
async fn server_errors_are_retried_in_order_and_acked_once() {
    let script = vec![
        Reply::new(503, "down"),
        Reply::new(500, "oops"),
        Reply::new(429, "").header("retry-after", "0"),
    ];
    let server = ScriptServer::start(script, Reply::new(200, "")).await;
    let running = start(settings(&server));
    for id in 1..=3 {
        running.push(order(id));
    }
    assert_eq!(running.acks.wait_for(3).await, vec![1, 2, 3]);
    assert_eq!(running.stop().await, vec![1, 2, 3]);
    assert_eq!(
        server.hits(),
        6,
        "three failures of order 1, then orders 1, 2, 3"
    );
}

#[tokio::test]
async fn retries_keep_the_order_of_trades() {
    let script = vec![Reply::new(503, ""), Reply::new(503, "")];
    let server = ScriptServer::start(script, Reply::new(200, "")).await;
    let running = start(settings(&server));
    for id in [7, 8, 9] {
        running.push(MirrorOrder {
            ticker: format!("M{id}"),
            ..order(id)
        });
    }
    assert_eq!(running.acks.wait_for(3).await, vec![7, 8, 9]);
    running.stop().await;
    let tickers: Vec<String> = (0..server.hits())
        .filter_map(|i| {
            let body: serde_json::Value = serde_json::from_str(&body_text(&server, i)).ok()?;
            body["ticker"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(tickers, vec!["M7", "M7", "M7", "M8", "M9"]);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let script = vec![Reply::new(200, "").delayed(Duration::from_secs(30))];
    let server = ScriptServer::start(script, Reply::new(200, "")).await;
    let running = start(MirrorSettings {
        timeout: Duration::from_millis(300),
        ..settings(&server)
    });
    running.push(order(1));
    assert_eq!(running.acks.wait_for(1).await, vec![1]);
    assert_eq!(running.stop().await, vec![1]);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_missing_endpoint_turns_mirroring_off_after_one_call() {
    for status in [404, 405] {
        let server =
            ScriptServer::start(vec![], Reply::new(status, r#"{"detail":"Not Found"}"#)).await;
        let running = start(settings(&server));
        for id in 1..=3 {
            running.push(order(id));
        }
        assert_eq!(running.acks.wait_for(3).await, vec![1, 2, 3]);
        running.push(order(4));
        assert_eq!(running.acks.wait_for(4).await, vec![1, 2, 3, 4]);
        assert_eq!(running.stop().await, vec![1, 2, 3, 4]);
        assert_eq!(
            server.hits(),
            1,
            "HTTP {status}: one call, then mirroring is off"
        );
    }
}

#[tokio::test]
async fn other_client_errors_abandon_only_that_order() {
    let script = vec![Reply::new(422, r#"{"detail":"bad side"}"#)];
    let server = ScriptServer::start(script, Reply::new(200, "")).await;
    let running = start(settings(&server));
    running.push(order(1));
    running.push(order(2));
    assert_eq!(running.acks.wait_for(2).await, vec![1, 2]);
    running.stop().await;
    assert_eq!(
        server.hits(),
        2,
        "the abandoned order is not retried, the next one is sent"
    );
}

#[tokio::test]
async fn a_non_positive_size_is_abandoned_without_a_call() {
    let server = ScriptServer::start(vec![], Reply::new(200, "")).await;
    let running = start(settings(&server));
    running.push(MirrorOrder {
        size_usd: Decimal::ZERO,
        ..order(1)
    });
    running.push(order(2));
    assert_eq!(running.acks.wait_for(2).await, vec![1, 2]);
    running.stop().await;
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn shutdown_stops_promptly_and_leaves_unacked_orders() {
    // Failing: the order waits in backoff.
    let server = ScriptServer::start(vec![], Reply::new(503, "")).await;
    let running = start(MirrorSettings {
        backoff_initial: Duration::from_secs(60),
        ..settings(&server)
    });
    running.push(order(1));
    server.wait_for_hits(1).await;
    assert_eq!(running.stop().await, Vec::<u64>::new());

    // Hanging: the order is in flight.
    let server =
        ScriptServer::start(vec![], Reply::new(200, "").delayed(Duration::from_secs(60))).await;
    let running = start(MirrorSettings {
        timeout: Duration::from_secs(120),
        ..settings(&server)
    });
    running.push(order(1));
    server.wait_for_hits(1).await;
    assert_eq!(running.stop().await, Vec::<u64>::new());
}

#[tokio::test]
async fn a_closed_channel_ends_the_task_after_the_queue_drains() {
    let server = ScriptServer::start(vec![Reply::new(503, "")], Reply::new(200, "")).await;
    let running = start(settings(&server));
    running.push(order(1));
    let Running {
        orders,
        acks,
        stop,
        task,
    } = running;
    drop(orders);
    let joined = tokio::time::timeout(Duration::from_secs(30), task).await;
    assert!(matches!(joined, Ok(Ok(()))));
    assert_eq!(acks.list(), vec![1]);
    drop(stop);
}

#[tokio::test]
async fn an_invalid_base_url_acks_without_calling() {
    let running = start(MirrorSettings {
        base_url: "not a url".into(),
        api_key: None,
        timeout: Duration::from_secs(1),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(10),
    });
    running.push(order(5));
    assert_eq!(running.acks.wait_for(1).await, vec![5]);
    running.stop().await;
}

/// Collects log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let echo = format!("bad token Bearer {KEY}");
    let script = vec![
        Reply::new(500, echo.clone()),
        Reply::new(500, echo.clone()),
        Reply::new(401, echo.clone()),
    ];
    let server = ScriptServer::start(script, Reply::new(404, echo)).await;
    let running = start(settings(&server));
    running.push(order(1));
    running.push(order(2));
    running.push(order(3));
    assert_eq!(running.acks.wait_for(3).await, vec![1, 2, 3]);
    running.stop().await;

    let text =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("HTTP 404"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!format!("{:?}", settings(&server)).contains(KEY));
}
