//! The WebSocket and poll intakes, and the embedded simulator's webhooks, against the real
//! binary: each delivers its events into the one exactly-once pipeline.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::{fresh_price_shift, Setup, KEY};

/// The `intake` of every logged decision.
fn decision_intakes(logs: &[Value]) -> BTreeSet<&str> {
    logs.iter()
        .filter(|l| crate::support::message(l) == "decision")
        .filter_map(|l| l["intake"].as_str())
        .collect()
}

const TOKEN_VAR: &str = "SHIFTBOT_E2E_WS_TOKEN";

fn table(pairs: &[(&str, toml::Value)]) -> toml::Value {
    toml::Value::Table(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    )
}

/// The WebSocket server stops sending anything (pings included) after 3 events on its first
/// connection: the bot notices within 2.5 heartbeats, reconnects, answers the pings of the
/// new connection, and decides each of the 8 events once.
#[test]
fn the_websocket_feed_replaces_a_silent_server_and_decides_each_event_once() {
    let script: Vec<_> = (1..=8)
        .map(|i| {
            let market = format!("KXWS-{i}");
            fresh_price_shift(Some(&format!("ws-{i}")), "kalshi", &market, "0.40", "0.50")
        })
        .collect();
    let ws = table(&[
        ("name", "socket".into()),
        ("kind", "websocket".into()),
        ("url", "ws://{api_host}/v1/ws?events=price_shift".into()),
        ("token_env", TOKEN_VAR.into()),
        ("heartbeat", "300ms".into()),
    ]);
    let mut app = Setup::new(script)
        .sim(|sim| {
            sim.heartbeat = std::time::Duration::from_millis(100);
            sim.faults.ws_silent_after = Some(3);
            sim.faults.ws_silent_connections = 1;
        })
        .set("intake", toml::Value::Array(vec![ws]))
        .set("filter.cooldown", "0s")
        .env(TOKEN_VAR, KEY)
        .spawn();
    let mut bot = app.start();
    let decisions = bot.wait_for_decisions(8);
    let lost = bot.wait_for_message("websocket connection lost; reconnecting");
    assert!(
        lost["reason"]
            .as_str()
            .is_some_and(|r| r.contains("presumed dead")),
        "{lost}"
    );
    let stats = app.sim_stats();
    crate::support::eventually("the new connection's pings answered", || {
        (stats.ws_pongs() >= 1).then_some(())
    });
    let finished = bot.terminate();
    let ids: BTreeSet<String> = decisions.iter().map(|d| d.event_id.clone()).collect();
    assert_eq!(ids.len(), 8, "{decisions:?}");
    assert_eq!(finished.decisions().len(), 8, "each event decided once");
    let intakes = decision_intakes(&finished.logs);
    assert_eq!(intakes, BTreeSet::from(["socket"]));
    assert!(stats.ws_connections() >= 2);
    assert_eq!(
        stats.stream_connections(),
        0,
        "no [feed] stream without a stream intake"
    );
    app.assert_no_secret_on_disk();
}

/// A `/v1/markets` of the test's: each call answers the next listing of `rounds`, the last
/// one for ever after; `/v1/signals` answers NO_TRADE.
struct Listings {
    base_url: String,
    calls: Arc<Mutex<usize>>,
    _runtime: tokio::runtime::Runtime,
}

fn listings(rounds: Vec<&'static str>) -> Listings {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let calls = Arc::new(Mutex::new(0));
    let queue = Arc::new(Mutex::new(VecDeque::from(rounds)));
    let counted = Arc::clone(&calls);
    let app = axum::Router::new()
        .route(
            "/v1/markets",
            axum::routing::get(
                move |axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>| {
                    let queue = Arc::clone(&queue);
                    let counted = Arc::clone(&counted);
                    async move {
                        assert!(q.contains(&("source".into(), "kalshi".into())), "{q:?}");
                        assert!(q.contains(&("limit".into(), "100".into())), "{q:?}");
                        *counted.lock().expect("lock") += 1;
                        let mut queue = queue.lock().expect("lock");
                        let body = match queue.len() {
                            0 => "[]",
                            1 => queue[0],
                            _ => queue.pop_front().unwrap_or("[]"),
                        };
                        ([("content-type", "application/json")], body)
                    }
                },
            ),
        )
        .route(
            "/v1/signals",
            axum::routing::post(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"recommendation":"NO_TRADE","edge":0,"confidence":0.5}"#,
                )
            }),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move { axum::serve(listener, app).await });
    Listings {
        base_url: format!("http://{addr}"),
        calls,
        _runtime: runtime,
    }
}

fn poll_intake(extra: &[(&str, toml::Value)]) -> toml::Value {
    let mut pairs = vec![
        ("name", "poller".into()),
        ("kind", "poll".into()),
        ("sources", toml::Value::Array(vec!["kalshi".into()])),
        ("interval", "100ms".into()),
        ("mode", "always".into()),
    ];
    pairs.extend(extra.iter().cloned());
    table(&pairs)
}

/// The shifts in the store, as `(market, old_yes, new_yes, change_pct)`, from `export-events`.
fn exported_shifts(app: &crate::support::TestApp) -> Vec<(String, String, String, String)> {
    let (code, out, err) = app.output(&["export-events"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            let data: Value = match &line["data"] {
                Value::String(text) => serde_json::from_str(text).ok()?,
                other => other.clone(),
            };
            (data["type"] == "price_shift").then(|| {
                let text = |k: &str| data[k].to_string().trim_matches('"').to_string();
                (
                    text("market_id"),
                    text("old_yes"),
                    text("new_yes"),
                    text("change_pct"),
                )
            })
        })
        .collect()
}

const R1: &str = r#"[{"market_id":"A","yes_price":0.50,"updated_at":"t1"},{"market_id":"B","yes_price":0.20,"updated_at":"t1"}]"#;
const R2: &str = r#"[{"market_id":"A","yes_price":0.52,"updated_at":"t2"},{"market_id":"B","yes_price":0.20,"updated_at":"t1"}]"#;
const R3: &str = r#"[{"market_id":"A","yes_price":0.53,"updated_at":"t3"},{"market_id":"B","yes_price":0.22,"updated_at":"t3"}]"#;
const R5: &str = r#"[{"market_id":"A","yes_price":0.56,"updated_at":"t5"},{"market_id":"B","yes_price":0.22,"updated_at":"t3"}]"#;

/// By hand, at min_shift_pct 5: R1 sets the anchors (A 0.50, B 0.20); R2 moves A by 4 %:
/// nothing; R3 moves A 6 % and B 10 % from their anchors: two shifts; R3 again: unchanged.
/// After a restart the anchors are the store's: R3 once more is nothing, R5 moves A 5.66 %
/// from 0.53: one shift (a poller that had forgotten its anchors would emit none).
#[test]
fn the_poller_emits_the_hand_calculated_shifts_and_none_twice_across_a_restart() {
    let server = listings(vec![R1, R2, R3]);
    let mut app = Setup::against(server.base_url.clone())
        .set("intake", toml::Value::Array(vec![poll_intake(&[])]))
        .set("filter.cooldown", "0s")
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(2);
    let calls = *server.calls.lock().expect("lock");
    crate::support::eventually("more rounds over the unchanged listing", || {
        (*server.calls.lock().expect("lock") >= calls + 5).then_some(())
    });
    let first = bot.terminate();
    assert_eq!(first.decisions().len(), 2, "{:?}", first.decisions());
    let mut shifts = exported_shifts(&app);
    shifts.sort();
    assert_eq!(
        shifts,
        [
            ("A".into(), "0.5".into(), "0.53".into(), "6".into()),
            ("B".into(), "0.2".into(), "0.22".into(), "10".into()),
        ]
    );

    let server = listings(vec![R3, R5]);
    let config = app.config_path.clone().expect("config");
    let text = std::fs::read_to_string(&config).expect("config");
    let old = text
        .lines()
        .find_map(|l| l.strip_prefix("base_url = "))
        .expect("base_url")
        .trim_matches('"')
        .to_string();
    std::fs::write(&config, text.replace(&old, &server.base_url)).expect("rewrite");
    let mut bot = app.start();
    let decisions = bot.wait_for_decisions(1);
    let calls = *server.calls.lock().expect("lock");
    crate::support::eventually("more rounds", || {
        (*server.calls.lock().expect("lock") >= calls + 5).then_some(())
    });
    let second = bot.terminate();
    assert_eq!(second.decisions().len(), 1, "{decisions:?}");
    let shifts = exported_shifts(&app);
    assert_eq!(shifts.len(), 3, "{shifts:?}");
    assert!(
        shifts.contains(&("A".into(), "0.53".into(), "0.56".into(), "5.6604".into())),
        "{shifts:?}"
    );
}

/// `max_per_day` caps the billed listing calls (the count survives a restart), and
/// `mode = "fallback"` does not poll while the stream it stands in for is alive.
#[test]
fn the_poller_keeps_to_its_daily_cap_and_stands_back_while_the_stream_lives() {
    let server = listings(vec![R1]);
    let mut app = Setup::against(server.base_url.clone())
        .set(
            "intake",
            toml::Value::Array(vec![poll_intake(&[("max_per_day", 3.into())])]),
        )
        .spawn();
    let mut bot = app.start();
    bot.wait_for_message("poll.max_per_day reached: no listing calls until the next UTC day");
    std::thread::sleep(std::time::Duration::from_millis(500));
    bot.terminate();
    let mut bot = app.start();
    bot.wait_for_message("poll intake started");
    std::thread::sleep(std::time::Duration::from_millis(500));
    bot.terminate();
    assert_eq!(
        *server.calls.lock().expect("lock"),
        3,
        "the cap holds across a restart"
    );

    // Fallback beside a live stream (the simulator's, with heartbeats): no listing call.
    let script = vec![fresh_price_shift(
        Some("s1"),
        "kalshi",
        "KXF-1",
        "0.40",
        "0.50",
    )];
    let stream = table(&[("name", "main".into()), ("kind", "stream".into())]);
    let fallback = poll_intake(&[("mode", "fallback".into()), ("after", "2s".into())]);
    let mut app = Setup::new(script)
        .set("intake", toml::Value::Array(vec![stream, fallback]))
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    bot.terminate();
    assert_eq!(
        app.sim_stats().market_listings(),
        0,
        "the stream was alive throughout"
    );
}

/// `config/webhook.toml` as shipped: the bot fed only by the embedded simulator's signed
/// webhooks, redeliveries included, each event decided once.
#[test]
fn the_shipped_webhook_config_trades_on_simulated_webhooks_alone() {
    let mut app = Setup::embedded_default().spawn();
    app.config_path = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/webhook.toml"));
    let mut bot = app.start();
    bot.wait_for_message("webhook receiver listening");
    let decisions = bot.wait_for_decisions(45);
    let finished = bot.terminate();
    let all = finished.decisions();
    let ids: BTreeSet<&str> = all.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "each event decided once");
    assert!(decisions.len() >= 45);
    let stop = finished.stop_line();
    assert!(
        stop["duplicates"].as_u64().is_some_and(|d| d >= 1),
        "every 20th push is redelivered and recognised: {stop}"
    );
    let intakes = decision_intakes(&finished.logs);
    assert_eq!(intakes, BTreeSet::from(["hooks"]));
}
