//! Tests of signals, shadow trades, resolution and auth against a real server on 127.0.0.1:0.

use std::collections::BTreeSet;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use strategies::Platform;

use super::test_client::{client, open_stream, start, End};
use super::{hidden_probability, Faults, ScriptedEvent, SimConfig, SimHandle};

fn fast(total: u64) -> SimConfig {
    SimConfig {
        events_per_second: 0,
        total_events: Some(total),
        ..SimConfig::default()
    }
}

fn decimal(value: &Value) -> Decimal {
    assert!(value.is_number(), "{value} is a JSON number");
    value.to_string().parse().expect("decimal")
}

async fn post(
    sim: &SimHandle,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON body"))
}

/// The distinct markets of the first `n` events of the stream.
async fn markets_seen(sim: &SimHandle, n: usize) -> BTreeSet<(String, String)> {
    let events = open_stream(sim, "?events=price_shift,whale_alert", None)
        .await
        .events(n)
        .await;
    events
        .iter()
        .map(|e| {
            let json = e.json();
            (
                json["platform"].as_str().expect("platform").to_owned(),
                json["market_id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn signals_have_an_edge_whose_sign_matches_the_recommendation() {
    let sim = start(fast(3000)).await;
    let markets = markets_seen(&sim, 3000).await;
    assert!(markets.len() >= 24, "{}", markets.len());
    let mut recommendations = BTreeSet::new();
    for (i, (platform, market_id)) in markets.iter().enumerate() {
        // Alternate the two request shapes of the API's documents.
        let body = if i % 2 == 0 {
            json!({"platform": platform, "market_id": market_id, "risk_limit": "medium"})
        } else {
            json!({"market": format!("{platform}/{market_id}"), "risk_limit": "high"})
        };
        let (status, _, signal) = post(&sim, "/v1/signals?wait=true", body).await;
        assert_eq!(status, 200, "{signal}");
        let edge = decimal(&signal["edge"]);
        assert_eq!(
            edge,
            decimal(&signal["probability"]) - decimal(&signal["market_price"])
        );
        let recommendation = signal["recommendation"].as_str().expect("recommendation");
        match recommendation {
            "BUY_YES" => assert!(edge > Decimal::ZERO, "{signal}"),
            "BUY_NO" => assert!(edge < Decimal::ZERO, "{signal}"),
            "NO_TRADE" => assert_eq!(decimal(&signal["size_pct"]), Decimal::ZERO),
            other => panic!("unexpected recommendation {other}"),
        }
        recommendations.insert(recommendation.to_owned());
        assert_eq!(signal["freshness"], "fresh");
        assert_eq!(signal["market"], format!("{platform}/{market_id}"));
        for key in ["target_price", "confidence", "size_pct"] {
            decimal(&signal[key]);
        }
        let at = |key: &str| {
            chrono::DateTime::parse_from_rfc3339(signal[key].as_str().expect(key)).expect(key)
        };
        assert_eq!(
            at("expires_at") - at("generated_at"),
            chrono::Duration::minutes(15)
        );
    }
    assert!(recommendations.len() >= 2, "{recommendations:?}");
    assert_eq!(sim.stats.signal_calls(), markets.len() as u64);
    assert_eq!(sim.stats.signal_responses().len(), markets.len());
    assert_eq!(sim.stats.signal_bodies()[1]["risk_limit"], "high");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_signal_requests_get_json_errors() {
    let sim = start(fast(10)).await;
    let cases = [
        (json!({"platform": "kalshi", "market_id": "NOPE"}), 404),
        (json!({"market": "kalshi/NOPE"}), 404),
        (json!({"platform": "betfair", "market_id": "X"}), 422),
        (json!({"market": "no-slash"}), 422),
        (
            json!({"platform": "kalshi", "market_id": "A", "market": "kalshi/B"}),
            422,
        ),
        (json!({"risk_limit": "medium"}), 422),
        (json!([1, 2]), 422),
    ];
    for (body, expected) in cases {
        let (status, _, error) = post(&sim, "/v1/signals", body.clone()).await;
        assert_eq!(status, expected, "{body}");
        assert!(
            error["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{error}"
        );
    }
    let response = client()
        .post(format!("{}/v1/signals", sim.base_url()))
        .body("not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    assert_eq!(sim.stats.signal_bodies().last(), Some(&json!("not json")));
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_signal_failures_come_first_with_retry_after() {
    let config = SimConfig {
        faults: Faults {
            signal_failures: vec![429, 503, 500],
            signal_retry_after: Some("1".into()),
            ..Faults::default()
        },
        ..fast(10)
    };
    let sim = start(config).await;
    let market = super::model::Model::new(42, 24).open_markets()[0].clone();
    let body = json!({"platform": market.0.as_str(), "market_id": market.1});
    for expected in [429, 503, 500, 200, 200] {
        let (status, headers, _) = post(&sim, "/v1/signals", body.clone()).await;
        assert_eq!(status, expected);
        let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok());
        assert_eq!(retry_after, (expected != 200).then_some("1"));
    }
    assert_eq!(sim.stats.signal_calls(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hanging_signal_times_the_client_out_and_shutdown_releases_it() {
    let config = SimConfig {
        faults: Faults {
            signal_hang: Some(Duration::from_secs(600)),
            ..Faults::default()
        },
        ..fast(10)
    };
    let sim = start(config).await;
    let url = format!("{}/v1/signals", sim.base_url());
    let body = json!({"market": "kalshi/KXSIM-000"});
    let timed_out = client()
        .post(&url)
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    let pending = tokio::spawn(client().post(&url).json(&body).send());
    while sim.stats.signal_calls() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.shutdown().await;
    let answered = tokio::time::timeout(super::test_client::PATIENCE, pending)
        .await
        .expect("the hung request ends at shutdown")
        .expect("task");
    assert!(answered.is_err() || answered.is_ok_and(|r| r.status() == 503));
}

#[tokio::test]
async fn every_endpoint_requires_the_bearer_key_when_one_is_set() {
    let config = SimConfig {
        api_key: Some("sk-sim-secret".into()),
        ..fast(10)
    };
    let sim = start(config).await;
    let base = sim.base_url();
    let requests = || {
        [
            client().get(format!("{base}/v1/stream")),
            client()
                .post(format!("{base}/v1/signals"))
                .json(&json!({"market": "kalshi/X"})),
            client()
                .post(format!("{base}/v1/trades/shadow"))
                .json(&json!({})),
            client().get(format!("{base}/v1/markets/kalshi/X/resolution")),
            client().get(format!("{base}/v1/nothing-here")),
        ]
    };
    let mut refused = 0;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("sk-sim-secret"),
        Some("Basic sk-sim-secret"),
    ] {
        for request in requests() {
            let request = match auth {
                Some(value) => request.header("Authorization", value),
                None => request,
            };
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.expect("JSON error");
            assert!(!body.to_string().contains("sk-sim-secret"));
            refused += 1;
        }
    }
    assert_eq!(sim.stats.auth_failures(), refused);
    let authorized = client()
        .get(format!("{base}/v1/stream"))
        .header("Authorization", "Bearer sk-sim-secret")
        .send()
        .await
        .expect("request");
    assert_eq!(authorized.status(), 200);
    assert_eq!(sim.stats.stream_connections(), 1);
    assert_eq!(sim.stats.signal_calls(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn shadow_trades_are_validated_filled_and_recorded() {
    let sim = start(fast(10)).await;
    let market = super::model::Model::new(42, 24).open_markets()[0].clone();
    let trade =
        json!({"ticker": market.1, "platform": market.0.as_str(), "side": "no", "size_usd": 125.5});
    let (status, _, fill) = post(&sim, "/v1/trades/shadow", trade.clone()).await;
    assert_eq!(status, 200, "{fill}");
    assert_eq!(fill["trade_id"], "shadow-000001");
    assert_eq!(fill["status"], "filled");
    assert_eq!(decimal(&fill["size_usd"]), Decimal::new(1255, 1));
    let price = decimal(&fill["price"]);
    assert!(price > Decimal::ZERO && price < Decimal::ONE);
    assert_eq!(
        decimal(&fill["contracts"]),
        (Decimal::new(1255, 1) / price).floor()
    );
    // Unknown tickers are still filled: mirroring must not be switched off by a 404.
    let unknown =
        json!({"ticker": "ELSEWHERE", "platform": "polymarket", "side": "YES", "size_usd": "10"});
    let (status, _, fill) = post(&sim, "/v1/trades/shadow", unknown.clone()).await;
    assert_eq!((status, fill["price"].clone()), (200, Value::Null));
    for bad in [
        json!({"ticker": "A", "platform": "kalshi", "side": "maybe", "size_usd": 1}),
        json!({"ticker": "A", "platform": "kalshi", "side": "yes", "size_usd": -1}),
        json!({"ticker": "", "platform": "kalshi", "side": "yes", "size_usd": 1}),
        json!({"ticker": "A", "platform": "nyse", "side": "yes", "size_usd": 1}),
    ] {
        let (status, _, error) = post(&sim, "/v1/trades/shadow", bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {error}");
    }
    assert_eq!(sim.stats.shadow_trades(), vec![trade, unknown]);
    assert_eq!(sim.stats.shadow_calls(), 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn shadow_status_fault_overrides_the_answer() {
    for status in [404, 405, 503] {
        let config = SimConfig {
            faults: Faults {
                shadow_status: Some(status),
                ..Faults::default()
            },
            ..fast(10)
        };
        let sim = start(config).await;
        let trade = json!({"ticker": "A", "platform": "kalshi", "side": "yes", "size_usd": 5});
        let (answered, _, _) = post(&sim, "/v1/trades/shadow", trade).await;
        assert_eq!(answered, status);
        assert!(sim.stats.shadow_trades().is_empty());
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn resolution_reports_active_markets_and_closes_expired_ones() {
    // One slot: its first market closes within 800 steps, with a settlement print.
    let config = SimConfig {
        markets: 1,
        ..fast(2000)
    };
    let sim = start(config).await;
    let get = |platform: String, id: String| {
        let url = format!("{}/v1/markets/{platform}/{id}/resolution", sim.base_url());
        async move {
            let response = client().get(url).send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let (first_platform, first_id) = super::model::Model::new(42, 1).open_markets()[0].clone();
    let (status, active) = get(first_platform.to_string(), first_id.clone()).await;
    assert_eq!((status, active["status"].as_str()), (200, Some("active")));
    assert_eq!(active["closed_at"], Value::Null);
    let mut reader = open_stream(&sim, "", None).await;
    let mut last_price = None;
    loop {
        let event = reader.next_event().await.expect("event").json();
        if event["market_id"] != first_id.as_str() {
            break;
        }
        last_price = Some(decimal(&event["new_yes"]));
    }
    // The closing market's last print is the settlement price.
    let terminal = [Decimal::new(1, 2), Decimal::new(99, 2)];
    assert!(
        last_price.is_some_and(|p| terminal.contains(&p)),
        "{last_price:?}"
    );
    let (status, closed) = get(first_platform.to_string(), first_id.clone()).await;
    assert_eq!(status, 200);
    assert!(
        matches!(
            closed["status"].as_str(),
            Some("closed" | "determined" | "finalized")
        ),
        "{closed}"
    );
    assert!(closed["closed_at"].is_string());
    let (status, missing) = get("kalshi".into(), "NOPE".into()).await;
    assert_eq!((status, missing["detail"].is_string()), (404, true));
    let (status, _) = get("nyse".into(), first_id).await;
    assert_eq!(status, 404);
    drop(reader);
    sim.shutdown().await;
}

#[tokio::test]
async fn scripted_markets_quote_the_latest_published_price() {
    let shift = |old: &str, new: &str| ScriptedEvent {
        id: None,
        data: format!(
            r#"{{"type":"price_shift","market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":{old},"new_yes":{new},"change_pct":1}}"#
        ),
    };
    let config = SimConfig {
        script: Some(vec![shift("0.40", "0.45"), shift("0.45", "0.70")]),
        ..fast(0)
    };
    let sim = start(config).await;
    let body = json!({"market": "kalshi/KXFED-26MAR19"});
    let (status, _, before) = post(&sim, "/v1/signals", body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(decimal(&before["market_price"]), Decimal::new(40, 2));
    let truth = hidden_probability(42, Platform::Kalshi, "KXFED-26MAR19");
    assert_eq!(decimal(&before["probability"]), truth);
    let mut reader = open_stream(&sim, "", None).await;
    reader.events(2).await;
    let (_, _, after) = post(&sim, "/v1/signals", body).await;
    assert_eq!(decimal(&after["market_price"]), Decimal::new(70, 2));
    // The script is served; the stream stays open.
    let idle = tokio::time::timeout(Duration::from_millis(300), reader.next_event()).await;
    assert!(idle.is_err() || idle.is_ok_and(|r| r == Err(End::TimedOut)));
    sim.shutdown().await;
}
