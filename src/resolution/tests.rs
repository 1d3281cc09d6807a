//! The resolution decoder on exact bodies, and the client and poller against a real scripted
//! server on 127.0.0.1:0.

use crate::configuration::Secret;
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use strategies::{MarketKey, Platform};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::signal::test_server::{Reply, ScriptServer};

fn market(id: &str) -> MarketKey {
    MarketKey::new(Platform::Kalshi, id).expect("valid market")
}

const DETERMINED: &str = r#"{"market":"kalshi/KXFED-26MAR19","platform":"kalshi",
    "market_id":"KXFED-26MAR19","status":"determined","closed_at":"2026-03-19T18:00:00Z",
    "determined_at":"2026-03-19T18:30:00+00:00","finalized_at":null}"#;

#[test]
fn decodes_the_status_and_times() {
    let r = decode_resolution(&market("KXFED-26MAR19"), DETERMINED.as_bytes());
    let expected = Resolution {
        market: market("KXFED-26MAR19"),
        status: ResolutionStatus::Determined,
        closed_at: Utc.with_ymd_and_hms(2026, 3, 19, 18, 0, 0).single(),
        determined_at: Utc.with_ymd_and_hms(2026, 3, 19, 18, 30, 0).single(),
        finalized_at: None,
    };
    assert_eq!(r, Ok(expected));
    let bare = decode_resolution(&market("X"), br#"{"status":"FINALIZED"}"#);
    assert_eq!(bare.map(|r| r.status), Ok(ResolutionStatus::Finalized));
}

#[test]
fn only_determined_and_finalized_count_as_resolved() {
    let resolved: Vec<_> = ["active", "closed", "determined", "finalized"]
        .iter()
        .map(|s| {
            s.parse::<ResolutionStatus>()
                .map(ResolutionStatus::is_resolved)
        })
        .collect();
    assert_eq!(resolved, vec![Ok(false), Ok(false), Ok(true), Ok(true)]);
}

#[test]
fn refuses_bodies_it_cannot_trust() {
    let m = market("KXFED-26MAR19");
    let cases: [(&str, &str); 8] = [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (r#"{"closed_at":null}"#, "no status"),
        (
            r#"{"status":"settled"}"#,
            "unknown resolution status \"settled\"",
        ),
        (r#"{"status":3}"#, "status is not a string"),
        (
            r#"{"status":"closed","market_id":"OTHER"}"#,
            "is for market_id \"OTHER\"",
        ),
        (
            r#"{"status":"closed","platform":"polymarket"}"#,
            "is for platform \"polymarket\"",
        ),
        (
            r#"{"status":"closed","closed_at":"yesterday"}"#,
            "closed_at \"yesterday\" is not an RFC 3339 time",
        ),
    ];
    for (body, expected) in cases {
        match decode_resolution(&m, body.as_bytes()) {
            Err(e) => assert!(e.contains(expected), "{body}: {e}"),
            Ok(r) => panic!("{body} decoded to {r:?}"),
        }
    }
}

#[tokio::test]
async fn fetch_asks_the_right_path_with_the_key() {
    let server = ScriptServer::start(vec![], Reply::json(r#"{"status":"closed"}"#)).await;
    let client = ResolutionClient::new(
        &server.base_url,
        Some(&Secret::from("sk-test")),
        Duration::from_secs(10),
    )
    .expect("client");
    // A market id with characters that must be escaped in a path.
    let odd = market("WILL IT?RAIN#1");
    let r = client.fetch(&odd).await.expect("resolution");
    assert_eq!(r.status, ResolutionStatus::Closed);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].uri.path(),
        "/v1/markets/kalshi/WILL%20IT%3FRAIN%231/resolution"
    );
    assert_eq!(requests[0].uri.query(), None);
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer sk-test")
    );
}

#[tokio::test]
async fn fetch_errors_are_readable_and_never_show_the_key() {
    let server = ScriptServer::start(
        vec![Reply::new(404, r#"{"detail":"market not found"}"#)],
        Reply::new(401, r#"{"detail":"bad key sk-secret-1"}"#),
    )
    .await;
    let client = ResolutionClient::new(
        &server.base_url,
        Some(&Secret::from("sk-secret-1")),
        Duration::from_secs(10),
    )
    .expect("client");
    let m = market("KXGONE");
    let err = client.fetch(&m).await.expect_err("404");
    assert_eq!(err.to_string(), "HTTP 404 Not Found: market not found");
    let err = client.fetch(&m).await.expect_err("401");
    assert_eq!(err.to_string(), "HTTP 401 Unauthorized: bad key [redacted]");
}

#[tokio::test]
async fn fetch_times_out() {
    let server = ScriptServer::start(
        vec![],
        Reply::json(r#"{"status":"closed"}"#).delayed(Duration::from_secs(5)),
    )
    .await;
    let client =
        ResolutionClient::new(&server.base_url, None, Duration::from_millis(200)).expect("client");
    let err = client
        .fetch(&market("KXSLOW"))
        .await
        .expect_err("timeout")
        .to_string();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );
}

/// The poller asks about every held market each round, forwards only resolved answers, and
/// stops when told.
#[tokio::test]
async fn poller_forwards_resolved_markets_until_stopped() {
    let server = ScriptServer::start(
        vec![
            Reply::json(r#"{"status":"active"}"#),
            Reply::json(r#"{"status":"closed"}"#),
            Reply::new(503, "busy"),
        ],
        Reply::json(r#"{"status":"determined"}"#),
    )
    .await;
    let client =
        ResolutionClient::new(&server.base_url, None, Duration::from_secs(10)).expect("client");
    let held: BTreeSet<MarketKey> = [market("KXA")].into_iter().collect();
    let (_held_tx, held_rx) = watch::channel(held);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_poller(
        client,
        Duration::from_millis(20),
        held_rx,
        tx,
        stop_rx,
    ));
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a resolution within 30 s")
        .expect("channel open");
    assert_eq!(
        (got.market, got.status),
        (market("KXA"), ResolutionStatus::Determined)
    );
    // Active, closed and the 503 were not forwarded: the first message is the fourth answer.
    assert!(server.hits() >= 4, "{} hits", server.hits());
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("poller stops")
        .expect("poller task");
}

/// Nothing held, nothing asked: polls cost money.
#[tokio::test]
async fn poller_asks_nothing_while_nothing_is_held() {
    let server = ScriptServer::start(vec![], Reply::json(r#"{"status":"determined"}"#)).await;
    let client =
        ResolutionClient::new(&server.base_url, None, Duration::from_secs(10)).expect("client");
    let (held_tx, held_rx) = watch::channel(BTreeSet::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_poller(
        client,
        Duration::from_millis(20),
        held_rx,
        tx,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits(), 0);
    held_tx.send_replace([market("KXB")].into_iter().collect());
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a resolution within 30 s");
    assert_eq!(got.map(|r| r.market), Some(market("KXB")));
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("poller stops")
        .expect("poller task");
}
