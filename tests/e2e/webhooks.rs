//! The signed-webhook intake against the real binary: only verified posts are recorded, each
//! exactly once whatever the redelivery, durable before the 200 (a `kill -9` right after one
//! loses nothing), oversized bodies refused, and 1,000 concurrent posts all kept.

use std::collections::BTreeSet;

use shiftbot::intake::webhook::scheme::Scheme;
use shiftbot::intake::webhook::signed_headers;

use crate::support::{fresh_price_shift, Running, Setup, TestApp};

const SECRET_VAR: &str = "SHIFTBOT_E2E_WEBHOOK_SECRET";
const SECRET: &str = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LTQyNDI=";

fn webhook_bot(scheme: Scheme) -> TestApp {
    webhook_bot_with(scheme, Vec::new(), false)
}

/// A bot with one webhook intake (and the `[feed]` stream of `script` too, when `stream`).
fn webhook_bot_with(
    scheme: Scheme,
    script: Vec<shiftbot::sim::ScriptedEvent>,
    stream: bool,
) -> TestApp {
    let mut intake = toml::Table::new();
    intake.insert("name".into(), "hooks".into());
    intake.insert("kind".into(), "webhook".into());
    // Port 0: the receiver's address is read from its log line, so parallel tests never meet.
    intake.insert("listen".into(), "127.0.0.1:0".into());
    intake.insert("scheme".into(), scheme.as_str().into());
    intake.insert("secret_env".into(), SECRET_VAR.into());
    intake.insert("max_body".into(), "4KiB".into());
    let mut intakes = vec![toml::Value::Table(intake)];
    if stream {
        let mut feed = toml::Table::new();
        feed.insert("name".into(), "main".into());
        feed.insert("kind".into(), "stream".into());
        intakes.push(toml::Value::Table(feed));
    }
    Setup::new(script)
        .set("intake", toml::Value::Array(intakes))
        .set("filter.cooldown", "0s")
        .env(SECRET_VAR, SECRET)
        .spawn()
}

/// Start the bot; the URL its receiver listens on, once it does.
fn start(app: &mut TestApp) -> (Running, String) {
    let mut bot = app.start();
    let line = bot.wait_for_message("webhook receiver listening");
    let addr = line["addr"].as_str().expect("addr").to_string();
    (bot, format!("http://{addr}/webhook"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A small move (decided `filtered` at once, no signal needed), on its own market.
fn body(n: usize) -> String {
    fresh_price_shift(None, "kalshi", &format!("KXHOOK-{n:04}"), "0.50", "0.505").data
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    scheme: Scheme,
    body: &str,
    delivery: &str,
    secret: &str,
) -> u16 {
    let now = chrono::Utc::now().timestamp();
    let mut request = client.post(url).body(body.to_string());
    for (name, value) in &signed_headers(scheme, secret, body.as_bytes(), delivery, now) {
        request = request.header(name.as_str(), value.to_str().expect("ascii"));
    }
    match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(err) => {
            eprintln!("post failed: {err:?}");
            0
        }
    }
}

fn decided_markets(app: &TestApp) -> Vec<String> {
    app.decisions()
        .into_iter()
        .filter_map(|d| Some(format!("{}/{}", d.platform?, d.market_id?)))
        .collect()
}

#[test]
fn only_signed_posts_are_recorded_each_once_and_durable_before_the_answer() {
    for scheme in Scheme::ALL {
        let mut app = webhook_bot(scheme);
        let (mut bot, url) = start(&mut app);
        let rt = runtime();
        let client = reqwest::Client::new();

        let bodies: Vec<String> = (0..5).map(body).collect();
        rt.block_on(async {
            // Forged, unsigned, oversized: refused, nothing recorded.
            let forged = post(&client, &url, scheme, &body(900), "d-900", "whsec_d3Jvbmc=").await;
            assert_eq!(forged, 401, "{scheme:?}");
            let unsigned = client.post(&url).body(body(901)).send().await.unwrap();
            assert_eq!(unsigned.status().as_u16(), 401, "{scheme:?}");
            let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
            assert_eq!(
                post(&client, &url, scheme, &huge, "d-902", SECRET).await,
                413
            );

            // Five events, each delivered twice with the same delivery id.
            for (n, body) in bodies.iter().enumerate() {
                for _ in 0..2 {
                    let status = post(&client, &url, scheme, body, &format!("d-{n}"), SECRET).await;
                    assert_eq!(status, 200, "{scheme:?} event {n}");
                }
            }
        });
        bot.wait_for_decisions(5);
        let finished = bot.terminate();
        assert_eq!(finished.code, 0, "{}", finished.stderr);
        let markets = decided_markets(&app);
        assert_eq!(markets.len(), 5, "{scheme:?}: {markets:?}");
        let distinct: BTreeSet<_> = markets.iter().collect();
        assert_eq!(distinct.len(), 5, "{scheme:?}: each event decided once");
        assert!(
            markets.iter().all(|m| m.starts_with("kalshi/KXHOOK-000")),
            "{markets:?}"
        );
        app.assert_no_secret_on_disk();
    }
}

#[test]
fn a_kill_right_after_the_answer_loses_nothing() {
    let mut app = webhook_bot(Scheme::Rekko);
    let (bot, url) = start(&mut app);
    let rt = runtime();
    let client = reqwest::Client::new();
    let body = body(7);
    let status = rt.block_on(post(&client, &url, Scheme::Rekko, &body, "", SECRET));
    assert_eq!(status, 200);
    bot.kill9();
    // After the restart the event is there and decided, once, and a redelivery changes nothing.
    let (bot, url) = start(&mut app);
    let again = rt.block_on(post(&client, &url, Scheme::Rekko, &body, "", SECRET));
    assert_eq!(again, 200);
    bot.terminate();
    assert_eq!(
        decided_markets(&app),
        vec!["kalshi/KXHOOK-0007".to_string()]
    );
}

#[test]
fn a_thousand_concurrent_signed_posts_are_all_recorded_exactly_once() {
    const POSTS: usize = 1000;
    let mut app = webhook_bot(Scheme::Standard);
    let (mut bot, url) = start(&mut app);
    let rt = runtime();
    let client = reqwest::Client::new();
    let statuses = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..POSTS {
            let client = client.clone();
            let url = url.clone();
            tasks.spawn(async move {
                // A sender retries until it gets its 2xx, with the same delivery id.
                loop {
                    let status = post(
                        &client,
                        &url,
                        Scheme::Standard,
                        &body(n),
                        &format!("msg_{n}"),
                        SECRET,
                    )
                    .await;
                    if status == 200 {
                        return status;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            });
        }
        let mut statuses = Vec::new();
        while let Some(status) = tasks.join_next().await {
            statuses.push(status.expect("task"));
        }
        statuses
    });
    assert_eq!(statuses.len(), POSTS);
    bot.wait_for_decisions(POSTS);
    bot.terminate();
    let markets = decided_markets(&app);
    let distinct: BTreeSet<_> = markets.iter().collect();
    assert_eq!(markets.len(), POSTS);
    assert_eq!(distinct.len(), POSTS);
}

#[test]
fn an_event_on_the_stream_and_as_a_webhook_is_decided_once() {
    // The same event, with its id, on the stream and posted as a webhook (before and after
    // the stream delivered it: either way one decision).
    let mut event = fresh_price_shift(Some("e-both"), "kalshi", "KXHOOK-BOTH", "0.50", "0.505");
    let mut data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    data["id"] = "e-both".into();
    event.data = data.to_string();
    let other = fresh_price_shift(Some("e-stream"), "kalshi", "KXHOOK-STREAM", "0.50", "0.505");
    let mut app = webhook_bot_with(Scheme::Rekko, vec![event.clone(), other], true);
    let (mut bot, url) = start(&mut app);
    let rt = runtime();
    let client = reqwest::Client::new();
    let first = rt.block_on(post(&client, &url, Scheme::Rekko, &event.data, "", SECRET));
    bot.wait_for_decisions(2);
    let again = rt.block_on(post(&client, &url, Scheme::Rekko, &event.data, "", SECRET));
    assert_eq!((first, again), (200, 200));
    bot.terminate();
    let mut markets = decided_markets(&app);
    markets.sort();
    assert_eq!(markets, ["kalshi/KXHOOK-BOTH", "kalshi/KXHOOK-STREAM"]);
}

#[test]
fn verified_bodies_of_other_types_or_garbage_get_their_one_decision() {
    let mut app = webhook_bot(Scheme::Timestamped);
    let (mut bot, url) = start(&mut app);
    let rt = runtime();
    let client = reqwest::Client::new();
    let alert = r#"{"id":"evt_alert_1","type":"price.alert","created_at":"2026-05-15T14:30:00Z","data":{"symbol":"AAPL","price":200.00}}"#;
    let shift = format!(
        r#"{{"id":"evt_shift_1","type":"price_shift","created_at":"2026-05-15T14:30:00Z","data":{}}}"#,
        body(3)
    );
    rt.block_on(async {
        for (n, body) in [alert, "not json at all", &shift].into_iter().enumerate() {
            let status = post(
                &client,
                &url,
                Scheme::Timestamped,
                body,
                &format!("dlv_{n}"),
                SECRET,
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    bot.wait_for_decisions(3);
    bot.terminate();
    let decisions = app.decisions();
    let outcomes: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| (d.event_type.as_str(), d.outcome.as_str()))
        .collect();
    assert!(
        outcomes.contains(&("price.alert", "ignored_type")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|(_, o)| *o == "invalid"),
        "{outcomes:?}"
    );
    let enveloped = decisions
        .iter()
        .find(|d| d.event_id == "evt_shift_1")
        .expect("the envelope's id is the event's");
    assert_eq!(enveloped.market_id.as_deref(), Some("KXHOOK-0003"));
}
