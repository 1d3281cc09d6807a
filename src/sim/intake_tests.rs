//! The simulator serving the bot's other intakes, over real sockets: `/v1/markets`, the
//! `/v1/webhooks` registry and its signed pushes, and the WebSocket with its pings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::test_client::{client, start, PATIENCE};
use super::{generate_events, Faults, PushTarget, SimConfig};
use crate::intake::webhook::scheme::{self, Scheme};

fn fast(total: u64) -> SimConfig {
    SimConfig {
        events_per_second: 0,
        total_events: Some(total),
        ..SimConfig::default()
    }
}

async fn get(url: &str) -> (u16, Value) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_listing_shows_each_markets_latest_published_price() {
    let config = fast(300);
    let sim = start(config.clone()).await;
    let (status, body) = get(&format!(
        "{}/v1/markets?source=kalshi&limit=100",
        sim.base_url()
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let markets = body["markets"].as_array().expect("markets");
    assert!(!markets.is_empty());
    // The same seed's events: each market's last price_shift is its listed price.
    let mut last: HashMap<String, (String, Value)> = HashMap::new();
    for event in generate_events(&config, 300) {
        let data: Value = serde_json::from_str(&event.data).expect("json");
        let id = data["market_id"].as_str().unwrap_or_default().to_string();
        let kind = data["type"].as_str().unwrap_or_default().to_string();
        last.insert(id, (kind, data["new_yes"].clone()));
    }
    let mut checked = 0;
    for market in markets {
        assert_eq!(market["platform"], "kalshi");
        let price: rust_decimal::Decimal = market["yes_price"].to_string().parse().expect("number");
        assert!(price > rust_decimal::Decimal::ZERO && price < rust_decimal::Decimal::ONE);
        let id = market["market_id"].as_str().expect("id");
        if let Some((kind, new_yes)) = last.get(id) {
            if kind == "price_shift" {
                assert_eq!(&market["yes_price"], new_yes, "{id}");
                assert!(market["updated_at"].is_string(), "{market}");
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "some listed market moved in 300 events");
    let (short, body) = get(&format!(
        "{}/v1/markets?source=kalshi&limit=2",
        sim.base_url()
    ))
    .await;
    assert_eq!(short, 200);
    assert_eq!(body["markets"].as_array().map(Vec::len), Some(2));
    for bad in [
        "?source=nyse",
        "",
        "?source=kalshi&limit=0",
        "?source=kalshi&limit=x",
    ] {
        let (status, _) = get(&format!("{}/v1/markets{bad}", sim.base_url())).await;
        assert_eq!(status, 422, "{bad}");
    }
    assert_eq!(sim.stats.market_listings(), 2);
    sim.shutdown().await;
}

type Posts = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver on 127.0.0.1:0 that records every POST and answers 200.
async fn receiver() -> (String, Posts) {
    let posts: Posts = Arc::default();
    let kept = Arc::clone(&posts);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock().expect("lock").push((headers, body.to_vec()));
                "{\"ok\":true}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), posts)
}

async fn wait_for_posts(posts: &Posts, n: usize) -> Vec<(HeaderMap, Vec<u8>)> {
    let started = std::time::Instant::now();
    loop {
        let seen = posts.lock().expect("lock").clone();
        if seen.len() >= n {
            return seen;
        }
        assert!(started.elapsed() < PATIENCE, "{} of {n} posts", seen.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_registration_is_listed_pushed_signed_and_deleted() {
    let sim = start(fast(20)).await;
    let (url, posts) = receiver().await;
    let api = format!("{}/v1/webhooks", sim.base_url());
    let created: Value = client()
        .post(&api)
        .json(&json!({"url": url, "events": ["price_shift"], "secret": "s3cret"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .to_string();
    assert_eq!(created["enabled"], true);
    assert_eq!(created["failure_count"], 0);
    assert!(created["created_at"].is_string());
    // The pushes: flat events, `x-webhook-signature` over the body, price shifts only.
    let pushed = wait_for_posts(&posts, 5).await;
    for (headers, body) in &pushed {
        let verified = scheme::verify(
            Scheme::Rekko,
            b"s3cret",
            headers,
            body,
            0,
            Duration::from_secs(1),
        );
        assert!(verified.is_ok(), "{verified:?}");
        let event: Value = serde_json::from_slice(body).expect("json body");
        assert_eq!(event["type"], "price_shift");
        assert!(event["id"].is_string());
    }
    let (status, list) = get(&api).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["webhook_id"], id.as_str());
    assert_eq!(list[0]["events"], json!(["price_shift"]));
    assert!(sim.disable_webhook(&id));
    assert_eq!(get(&api).await.1[0]["enabled"], false);
    let delete = |id: String| {
        let url = format!("{api}/{id}");
        async move {
            client()
                .delete(url)
                .send()
                .await
                .expect("delete")
                .status()
                .as_u16()
        }
    };
    assert_eq!(delete(id.clone()).await, 200);
    assert_eq!(delete(id).await, 404);
    assert_eq!(get(&api).await.1, json!([]));
    for bad in [
        json!({"events": ["price_shift"]}),
        json!({"url": url, "events": []}),
        json!({"url": url, "events": ["weather"]}),
    ] {
        let status = client()
            .post(&api)
            .json(&bad)
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(status.as_u16(), 422, "{bad}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn pushes_to_a_target_use_its_scheme_and_redeliver_with_the_same_delivery_id() {
    let sim = start(SimConfig {
        faults: Faults {
            webhook_redeliver_every: 2,
            ..Faults::default()
        },
        ..fast(6)
    })
    .await;
    let (url, posts) = receiver().await;
    let secret = "whsec_c2ltLXNlY3JldC1mb3ItcHVzaGVz";
    sim.push_to(PushTarget {
        url,
        scheme: Scheme::Standard,
        secret: Some(secret.into()),
        events: vec!["price_shift".into(), "whale_alert".into()],
    });
    // 6 events, every second one sent twice: 9 posts.
    let pushed = wait_for_posts(&posts, 9).await;
    let key = scheme::key(Scheme::Standard, secret);
    let mut ids = Vec::new();
    for (headers, body) in &pushed {
        let now = chrono::Utc::now().timestamp();
        let verified = scheme::verify(
            Scheme::Standard,
            &key,
            headers,
            body,
            now,
            Duration::from_secs(60),
        );
        assert!(verified.is_ok(), "{verified:?}");
        let envelope: Value = serde_json::from_slice(body).expect("json");
        assert!(envelope["data"]["market_id"].is_string(), "{envelope}");
        ids.push(headers["webhook-id"].to_str().expect("id").to_string());
    }
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 6, "{ids:?}");
    assert_eq!(
        ids.windows(2).filter(|w| w[0] == w[1]).count(),
        3,
        "{ids:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_websocket_sends_events_and_pings_and_counts_pongs() {
    let sim = start(SimConfig {
        heartbeat: Duration::from_millis(50),
        ..fast(5)
    })
    .await;
    let url = format!("ws://{}/v1/ws?events=price_shift,whale_alert", sim.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut events = Vec::new();
    let mut json_pings = 0;
    let started = std::time::Instant::now();
    while events.len() < 5 || json_pings < 2 {
        assert!(
            started.elapsed() < PATIENCE,
            "{} events, {json_pings} pings",
            events.len()
        );
        let Some(Ok(message)) = socket.next().await else {
            panic!("the socket ended");
        };
        match message {
            Message::Text(text) if text.as_str() == r#"{"type":"ping"}"# => {
                json_pings += 1;
                socket
                    .send(Message::text(r#"{"type":"pong"}"#))
                    .await
                    .expect("pong");
            }
            Message::Text(text) => {
                let event: Value = serde_json::from_str(text.as_str()).expect("json");
                events.push(event["id"].as_str().expect("id").to_string());
            }
            _ => socket.flush().await.expect("flush the protocol pong"),
        }
    }
    assert_eq!(events, ["1", "2", "3", "4", "5"]);
    let started = std::time::Instant::now();
    while sim.stats.ws_pongs() < 2 {
        assert!(
            started.elapsed() < PATIENCE,
            "pongs counted: {}",
            sim.stats.ws_pongs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.stats.ws_connections(), 1);
    sim.shutdown().await;
}
