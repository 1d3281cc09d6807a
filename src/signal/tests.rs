//! `SignalClient::fetch` against a real HTTP server on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rust_decimal_macros::dec;
use strategies::{MarketKey, Platform, Recommendation, Signal, SignalReply, Timestamp};

use super::test_server::{Reply, ScriptServer};
use super::*;
use crate::clock::Clock;

const KEY: &str = "sk-live-SECRET-4f9a";
const SIGNAL: &str = r#"{"recommendation":"BUY_YES","edge":0.062,"confidence":0.7}"#;

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 20, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

fn settings(server: &ScriptServer, max_retries: u32) -> SignalSettings {
    SignalSettings {
        base_url: server.base_url.clone(),
        api_key: Some(KEY.into()),
        risk_limit: "medium".into(),
        timeout: Duration::from_secs(20),
        max_retries,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        max_pause: crate::signal::DEFAULT_MAX_PAUSE,
    }
}

fn client(settings: SignalSettings) -> SignalClient {
    match SignalClient::new(settings, Arc::new(FixedClock(now()))) {
        Ok(client) => client,
        Err(err) => panic!("client: {err}"),
    }
}

fn market() -> MarketKey {
    MarketKey {
        platform: Platform::Kalshi,
        market_id: "KXFED-26MAR19".into(),
    }
}

fn expected_signal() -> SignalReply {
    SignalReply::Signal(Signal {
        recommendation: Recommendation::BuyYes,
        edge: dec!(0.062),
        probability: None,
        expires_at: None,
        freshness: None,
    })
}

fn failure(fetch: &SignalFetch) -> (String, Option<Timestamp>) {
    match &fetch.reply {
        SignalReply::Failed {
            reason,
            pause_until,
        } => (reason.clone(), *pause_until),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn sends_both_body_forms_and_the_bearer_key() {
    let server = ScriptServer::start(vec![], Reply::json(SIGNAL)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    assert_eq!(fetch.reply, expected_signal());
    assert_eq!(fetch.attempts, 1);
    assert_eq!(fetch.raw, serde_json::from_str(SIGNAL).ok());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.uri.path(), "/v1/signals");
    assert_eq!(request.uri.query(), Some("wait=true"));
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
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    assert_eq!(
        body,
        serde_json::json!({
            "platform": "kalshi",
            "market_id": "KXFED-26MAR19",
            "market": "kalshi/KXFED-26MAR19",
            "risk_limit": "medium",
        })
    );
}

#[tokio::test]
async fn no_key_means_no_authorization_header() {
    let server = ScriptServer::start(vec![], Reply::json(SIGNAL)).await;
    let mut settings = settings(&server, 0);
    settings.api_key = None;
    settings.base_url.push('/');
    let fetch = client(settings)
        .fetch(&MarketKey {
            platform: Platform::Polymarket,
            market_id: "will-it".into(),
        })
        .await;
    assert_eq!(fetch.reply, expected_signal());
    let requests = server.requests();
    assert!(requests[0].headers.get("authorization").is_none());
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap_or_default();
    assert_eq!(body["platform"], "polymarket");
    assert_eq!(body["market"], "polymarket/will-it");
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let script = vec![Reply::new(503, "busy"), Reply::new(503, "busy")];
    let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    assert_eq!(fetch.reply, expected_signal());
    assert_eq!(fetch.attempts, 3);
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn honours_a_retry_after_in_seconds() {
    let script = vec![Reply::new(429, "slow down").header("retry-after", "1")];
    let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    assert_eq!(fetch.reply, expected_signal());
    assert_eq!(fetch.attempts, 2);
    let requests = server.requests();
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn a_dated_retry_after_is_a_spent_quota_not_retried() {
    let script = vec![Reply::new(429, r#"{"detail":"monthly quota exceeded"}"#)
        .header("retry-after", "Wed, 01 Apr 2026 00:00:00 GMT")];
    let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
    let long_pauses = SignalSettings {
        max_pause: Duration::from_secs(31 * 24 * 3600),
        ..settings(&server, 3)
    };
    let fetch = client(long_pauses).fetch(&market()).await;
    let until = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).single();
    assert_eq!(
        failure(&fetch),
        (
            "signal quota exhausted until 2026-04-01T00:00:00Z".to_string(),
            until
        )
    );
    assert_eq!(fetch.attempts, 1);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_dated_retry_after_in_the_past_is_retried() {
    let script = vec![Reply::new(429, "").header("retry-after", "Sun, 01 Mar 2026 00:00:00 GMT")];
    let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    assert_eq!(fetch.reply, expected_signal());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_long_retry_after_fails_and_pauses_instead_of_waiting() {
    let script = vec![Reply::new(429, "").header("retry-after", "600")];
    let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    let (reason, until) = failure(&fetch);
    assert_eq!(
        reason,
        "signal API answered HTTP 429 Too Many Requests (Retry-After 600s exceeds the 60s the client waits)"
    );
    assert_eq!(until, Some(now() + chrono::Duration::seconds(600)));
    assert_eq!(server.hits(), 1);
}

/// A far-off date or delay (year 9999, 99999999999 s) pauses signals for `max_pause` only.
#[tokio::test]
async fn server_given_pauses_are_capped_at_max_pause() {
    for retry_after in ["Fri, 31 Dec 9999 23:59:59 GMT", "99999999999"] {
        let script = vec![Reply::new(429, "").header("retry-after", retry_after)];
        let server = ScriptServer::start(script, Reply::json(SIGNAL)).await;
        let fetch = client(settings(&server, 3)).fetch(&market()).await;
        let (_, until) = failure(&fetch);
        assert_eq!(
            until,
            Some(now() + chrono::Duration::hours(24)),
            "{retry_after}"
        );
        assert_eq!(server.hits(), 1);
    }
}

/// A 200 body that echoes the key is kept for the record without it.
#[tokio::test]
async fn an_echoed_key_is_redacted_from_the_kept_body() {
    let body = format!(
        r#"{{"recommendation":"BUY_YES","edge":0.1,"note":"key {KEY} seen","{KEY}":[{{"k":"{KEY}"}}]}}"#
    );
    let server = ScriptServer::start(vec![], Reply::json(&body)).await;
    let fetch = client(settings(&server, 0)).fetch(&market()).await;
    let raw = fetch.raw.expect("raw body kept").to_string();
    assert!(!raw.contains(KEY), "{raw}");
    assert!(raw.contains("[redacted]"), "{raw}");
    assert!(matches!(fetch.reply, SignalReply::Signal(_)));
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let server = ScriptServer::start(vec![], Reply::new(500, "boom")).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    assert_eq!(
        failure(&fetch),
        (
            "signal API answered HTTP 500 Internal Server Error: boom (gave up after 4 attempts)"
                .to_string(),
            None
        )
    );
    assert_eq!(fetch.attempts, 4);
    assert_eq!(server.hits(), 4);
    assert_eq!(fetch.raw, None);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_is_retried() {
    let server =
        ScriptServer::start(vec![], Reply::json(SIGNAL).delayed(Duration::from_secs(30))).await;
    let mut settings = settings(&server, 1);
    settings.timeout = Duration::from_millis(300);
    let fetch = client(settings).fetch(&market()).await;
    assert_eq!(
        failure(&fetch),
        (
            "signal request timed out after 300ms (gave up after 2 attempts)".to_string(),
            None
        )
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string());
    let addr = listener
        .as_ref()
        .map(|l| l.local_addr().map_err(|e| e.to_string()));
    let Ok(Ok(addr)) = addr else {
        panic!("bind failed")
    };
    drop(listener);
    let settings = SignalSettings {
        base_url: format!("http://{addr}"),
        ..SignalSettings::new("", Some(KEY.into()), "medium", Duration::from_secs(5), 2)
    };
    let fetch = client(SignalSettings {
        backoff_initial: Duration::from_millis(5),
        ..settings
    })
    .fetch(&market())
    .await;
    let (reason, until) = failure(&fetch);
    assert!(reason.starts_with("signal API unreachable: "), "{reason}");
    assert!(reason.ends_with("(gave up after 3 attempts)"), "{reason}");
    assert!(!reason.contains(KEY));
    assert_eq!(until, None);
    assert_eq!(fetch.attempts, 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for (status, text) in [
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (422, "Unprocessable Entity"),
    ] {
        let reply = Reply::new(status, r#"{"detail":"Market not found"}"#);
        let server = ScriptServer::start(vec![], reply).await;
        let fetch = client(settings(&server, 3)).fetch(&market()).await;
        assert_eq!(
            failure(&fetch),
            (
                format!("signal API answered HTTP {status} {text}: Market not found"),
                None
            )
        );
        assert_eq!(server.hits(), 1, "HTTP {status} is not retried");
    }
}

#[tokio::test]
async fn the_key_never_reaches_a_reason() {
    let echo = format!("invalid token Bearer {KEY} for key {KEY}");
    let cases = vec![
        Reply::new(401, echo.clone()),
        Reply::new(500, echo.clone()),
        Reply::new(200, echo.clone()),
        Reply::json(&format!(r#"{{"recommendation":"{KEY}","edge":0.1}}"#)),
        Reply::json(&format!(r#"{{"recommendation":"BUY_YES","edge":"{KEY}"}}"#)),
        Reply::new(429, echo.clone()).header("retry-after", "3600"),
    ];
    for reply in cases {
        let server = ScriptServer::start(vec![], reply.clone()).await;
        let fetch = client(settings(&server, 1)).fetch(&market()).await;
        let (reason, _) = failure(&fetch);
        assert!(!reason.contains(KEY), "{reason}");
        assert!(!reason.contains("SECRET"), "{reason}");
        assert!(!format!("{:?}", settings(&server, 1)).contains(KEY));
    }
}

#[tokio::test]
async fn undecodable_bodies_fail_without_retry() {
    let huge = format!(
        r#"{{"recommendation":"BUY_YES","edge":0.1,"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let cases = vec![
        (
            Reply::new(200, "<html><body>Gateway</body></html>"),
            "signal response is not JSON",
        ),
        (
            Reply::new(200, ""),
            "signal response: empty body (HTTP 200 OK)",
        ),
        (
            Reply::new(200, huge.clone()),
            "signal response exceeds 1024 KiB",
        ),
        (
            Reply::new(200, huge).chunked(),
            "signal response exceeds 1024 KiB",
        ),
        (
            Reply::json(r#"{"recommendation":"BUY_YES"}"#),
            "signal response: edge missing",
        ),
        (
            Reply::json(r#"[1,2]"#),
            "signal response: expected a JSON object, got an array",
        ),
        (
            Reply::new(302, "").header("location", "http://example.com/"),
            "signal API answered HTTP 302 Found",
        ),
    ];
    for (reply, expected) in cases {
        let server = ScriptServer::start(vec![], reply).await;
        let fetch = client(settings(&server, 3)).fetch(&market()).await;
        let (reason, until) = failure(&fetch);
        assert!(
            reason.starts_with(expected),
            "{reason:?} should start with {expected:?}"
        );
        assert_eq!(until, None);
        assert_eq!(server.hits(), 1, "{expected}: not retried");
    }
}

#[tokio::test]
async fn a_decode_failure_keeps_the_raw_body_for_the_record() {
    let body = r#"{"recommendation":"BUY_NO","edge":0.2,"note":"odd"}"#;
    let server = ScriptServer::start(vec![], Reply::json(body)).await;
    let fetch = client(settings(&server, 3)).fetch(&market()).await;
    let (reason, _) = failure(&fetch);
    assert_eq!(
        reason,
        "signal response: BUY_NO with positive edge 0.2 is inconsistent"
    );
    assert_eq!(fetch.raw, serde_json::from_str(body).ok());
}

#[test]
fn bad_settings_are_refused() {
    let clock: crate::clock::SharedClock = Arc::new(FixedClock(now()));
    let base = SignalSettings::new(
        "http://127.0.0.1:1",
        None,
        "medium",
        Duration::from_secs(1),
        1,
    );
    let cases = [
        SignalSettings {
            base_url: "nope".into(),
            ..base.clone()
        },
        SignalSettings {
            timeout: Duration::ZERO,
            ..base.clone()
        },
        SignalSettings {
            risk_limit: " ".into(),
            ..base.clone()
        },
        SignalSettings {
            api_key: Some("line\nbreak".into()),
            ..base.clone()
        },
    ];
    for settings in cases {
        assert!(SignalClient::new(settings, Arc::clone(&clock)).is_err());
    }
    assert!(SignalClient::new(base, clock).is_ok());
}
