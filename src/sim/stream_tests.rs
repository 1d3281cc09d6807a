//! Tests of `GET /v1/stream` against a real server on 127.0.0.1:0.

use std::time::Duration;

use rust_decimal::Decimal;

use super::model::change_pct;
use super::test_client::{open_stream, start, End, SseEvent, PATIENCE};
use super::{Faults, ScriptedEvent, SimConfig, StreamFormat};

const ALL: &str = "?events=price_shift,whale_alert";

fn fast(total: u64) -> SimConfig {
    SimConfig {
        events_per_second: 0,
        total_events: Some(total),
        ..SimConfig::default()
    }
}

fn ids(events: &[SseEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.id.as_deref().expect("id").parse().expect("numeric id"))
        .collect()
}

fn decimal(value: &serde_json::Value) -> Decimal {
    assert!(value.is_number(), "{value} is a JSON number");
    value.to_string().parse().expect("decimal")
}

#[tokio::test]
async fn sse_stream_sends_retry_then_typed_events_with_increasing_ids() {
    let sim = start(fast(40)).await;
    let response = super::test_client::client()
        .get(format!("{}/v1/stream?events=price_shift", sim.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let mut reader = super::test_client::StreamReader::new(response);
    let events = reader.events(30).await;
    assert_eq!(reader.retry, Some(1000));
    let ids = ids(&events);
    assert!(
        ids[0] >= 1 && ids.windows(2).all(|w| w[0] < w[1]),
        "{ids:?}"
    );
    for event in &events {
        assert_eq!(event.event.as_deref(), Some("price_shift"));
        let json = event.json();
        assert_eq!(json["type"], "price_shift");
        assert!(json["market_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(matches!(
            json["platform"].as_str(),
            Some("kalshi" | "polymarket")
        ));
        let (old, new) = (decimal(&json["old_yes"]), decimal(&json["new_yes"]));
        for price in [old, new] {
            assert!(price > Decimal::ZERO && price < Decimal::ONE, "{price}");
        }
        assert_eq!(decimal(&json["change_pct"]), change_pct(old, new));
        let at = json["timestamp"].as_str().expect("timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    assert!(sim.stats.events_sent() >= 30);
    assert_eq!(sim.stats.stream_connections(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn last_event_id_resumes_after_that_id_with_the_same_events() {
    let sim = start(fast(60)).await;
    let first = open_stream(&sim, ALL, None).await.events(20).await;
    assert_eq!(ids(&first), (1..=20).collect::<Vec<_>>());
    let resumed = open_stream(&sim, ALL, Some("5")).await.events(15).await;
    assert_eq!(resumed, first[5..20].to_vec());
    assert_eq!(sim.stats.last_event_ids(), vec![None, Some("5".to_owned())]);
    sim.shutdown().await;
}

#[tokio::test]
async fn redeliver_resends_events_before_the_cursor() {
    let config = SimConfig {
        faults: Faults {
            redeliver: 3,
            ..Faults::default()
        },
        ..fast(60)
    };
    let sim = start(config).await;
    let resumed = open_stream(&sim, ALL, Some("10")).await.events(6).await;
    assert_eq!(ids(&resumed), vec![8, 9, 10, 11, 12, 13]);
    // A fresh connection has nothing to redeliver.
    let fresh = open_stream(&sim, ALL, None).await.events(2).await;
    assert_eq!(ids(&fresh), vec![1, 2]);
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_after_aborts_each_connection_after_that_many_events() {
    let config = SimConfig {
        faults: Faults {
            drop_after: Some(3),
            ..Faults::default()
        },
        ..fast(100)
    };
    let sim = start(config).await;
    let mut first = open_stream(&sim, ALL, None).await;
    assert_eq!(ids(&first.events(3).await), vec![1, 2, 3]);
    assert_eq!(first.next_event().await, Err(End::Broken));
    let mut second = open_stream(&sim, ALL, Some("3")).await;
    assert_eq!(ids(&second.events(3).await), vec![4, 5, 6]);
    assert_eq!(second.until_end().await, End::Broken);
    assert_eq!(sim.stats.stream_connections(), 2);
    assert_eq!(sim.stats.events_sent(), 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn lines_format_sends_one_json_object_per_line_with_its_id() {
    let config = SimConfig {
        format: StreamFormat::Lines,
        ..fast(30)
    };
    let sim = start(config).await;
    let mut reader = open_stream(&sim, ALL, None).await;
    for expected in 1..=30u64 {
        let line = reader.next_line().await.expect("line");
        let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        assert_eq!(json["id"], expected.to_string());
        assert!(matches!(
            json["type"].as_str(),
            Some("price_shift" | "whale_alert")
        ));
    }
    assert!(reader.comments.is_empty() && reader.retry.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn only_subscribed_event_types_are_sent() {
    let sim = start(fast(400)).await;
    let whales = open_stream(&sim, "?events=whale_alert", None)
        .await
        .events(3)
        .await;
    assert!(whales.iter().all(|e| e.json()["type"] == "whale_alert"));
    let both = open_stream(&sim, ALL, None).await.events(400).await;
    let count = |t: &str| both.iter().filter(|e| e.json()["type"] == t).count();
    assert!(count("whale_alert") >= 3 && count("price_shift") > 300);
    // The type filter keeps the global ids: whale alerts are exactly the gaps.
    let default = open_stream(&sim, "", None).await.events(50).await;
    let expected: Vec<_> = both
        .iter()
        .filter(|e| e.json()["type"] == "price_shift")
        .take(50)
        .cloned()
        .collect();
    assert_eq!(default, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn paced_stream_ends_its_session_but_stays_open_with_heartbeats() {
    let config = SimConfig {
        events_per_second: 50,
        total_events: Some(3),
        heartbeat: Duration::from_millis(50),
        ..SimConfig::default()
    };
    let sim = start(config).await;
    let mut reader = open_stream(&sim, ALL, None).await;
    assert_eq!(ids(&reader.events(3).await), vec![1, 2, 3]);
    while reader.comments.len() < 3 {
        // Heartbeats only: any further event would be an error.
        let next = tokio::time::timeout(Duration::from_millis(400), reader.next_event()).await;
        assert!(next.is_err(), "no event after total_events: {next:?}");
    }
    assert!(reader.comments.iter().all(|c| c == "ping"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cursor_ahead_of_the_session_fast_forwards_the_model() {
    // At 1 event/s, event 501 would be 8 minutes away without the fast-forward.
    let config = SimConfig {
        events_per_second: 1,
        ..SimConfig::default()
    };
    let sim = start(config).await;
    let resumed = open_stream(&sim, ALL, Some("500")).await.events(1).await;
    assert_eq!(ids(&resumed), vec![501]);
    let expected = super::generate_events(&SimConfig::default(), 501);
    let json = resumed[0].json();
    let mut model = serde_json::from_str::<serde_json::Value>(&expected[500].data).expect("json");
    model["timestamp"] = json["timestamp"].clone();
    assert_eq!(json, model, "same event as the model's 501st");
    sim.shutdown().await;
}

#[tokio::test]
async fn scripted_events_are_served_verbatim_with_and_without_ids() {
    let script = vec![
        ScriptedEvent {
            id: Some("a1".into()),
            data: r#"{"type":"price_shift","market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.68}"#.into(),
        },
        ScriptedEvent {
            id: None,
            data: "this is { not json".into(),
        },
        ScriptedEvent {
            id: Some("a3".into()),
            data: "{\"type\":\"whale_alert\",\n\"market_id\":\"X\"}".into(),
        },
    ];
    let config = SimConfig {
        script: Some(script),
        ..fast(0)
    };
    let sim = start(config).await;
    let events = open_stream(&sim, "", None).await.events(2).await;
    assert_eq!(events[0].id.as_deref(), Some("a1"));
    assert_eq!(events[0].event.as_deref(), Some("price_shift"));
    assert!(events[0].data.contains("\"old_yes\":0.62"));
    // Garbage has no type, so no filter applies to it: it is sent, without id or event name.
    let garbage = SseEvent {
        id: None,
        event: None,
        data: "this is { not json".into(),
    };
    assert_eq!(events[1], garbage);
    // The whale alert is filtered out; resuming after "a1" sends the garbage again.
    let all = open_stream(&sim, ALL, Some("a1")).await.events(2).await;
    assert_eq!(all[0], garbage);
    assert_eq!(all[1].id.as_deref(), Some("a3"));
    assert_eq!(
        all[1].data,
        "{\"type\":\"whale_alert\",\n\"market_id\":\"X\"}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn scripted_lines_carry_the_id_inside_the_json() {
    let script = vec![
        ScriptedEvent {
            id: Some("7".into()),
            data: "{\"type\":\"price_shift\",\n \"market_id\":\"M\"}".into(),
        },
        ScriptedEvent {
            id: None,
            data: "{\"type\":\"price_shift\"}".into(),
        },
        ScriptedEvent {
            id: Some("9".into()),
            data: "garbage".into(),
        },
    ];
    let config = SimConfig {
        format: StreamFormat::Lines,
        script: Some(script),
        ..fast(0)
    };
    let sim = start(config).await;
    let mut reader = open_stream(&sim, "", None).await;
    let first: serde_json::Value =
        serde_json::from_str(&reader.next_line().await.expect("line")).expect("json");
    assert_eq!(
        first,
        serde_json::json!({"id": "7", "type": "price_shift", "market_id": "M"})
    );
    assert_eq!(
        reader.next_line().await.expect("line"),
        "{\"type\":\"price_shift\"}"
    );
    assert_eq!(reader.next_line().await.expect("line"), "garbage");
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let sim = start(SimConfig::default()).await;
    let mut reader = open_stream(&sim, ALL, None).await;
    reader.events(1).await;
    tokio::time::timeout(PATIENCE, sim.shutdown())
        .await
        .expect("shutdown completes with a stream open");
    assert_ne!(reader.until_end().await, End::TimedOut);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    // Endless and unpaced: the stream always has events ready, and still notices.
    let sim = start(fast(u64::MAX)).await;
    let url = format!("{}/v1/stream", sim.base_url());
    let mut reader = open_stream(&sim, ALL, None).await;
    reader.events(1000).await;
    drop(sim);
    assert_ne!(reader.until_end().await, End::TimedOut);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while super::test_client::client().get(&url).send().await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
