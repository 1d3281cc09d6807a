//! Notifications against the real binary and a local sink server: one message per trade,
//! signed both ways, each delivered once (by id) across a failing sink and a `kill -9`; a hung
//! sink never holds up decisions and its backlog is bounded, the excess dropped and counted;
//! `shiftbot notify test` reports each sink's answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::support::sink::{SinkAnswer, SinkServer};
use crate::support::{eventually, model_price_shifts, Setup, TestApp};

pub const SECRET: &str = "whsec_c2hpZnRib3QtZTJlLXNpZ25pbmcta2V5";
const SECRET_KEY: &[u8] = b"shiftbot-e2e-signing-key";

pub fn webhook_sink(name: &str, on: &[&str], extra: &[(&str, toml::Value)]) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert("name".into(), name.into());
    table.insert("kind".into(), "webhook".into());
    table.insert("url_env".into(), "HOOK_URL".into());
    table.insert("secret_env".into(), "HOOK_SECRET".into());
    table.insert(
        "on".into(),
        toml::Value::Array(on.iter().map(|s| (*s).into()).collect()),
    );
    for (key, value) in extra {
        table.insert((*key).into(), value.clone());
    }
    toml::Value::Table(table)
}

fn hmac(parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET_KEY).expect("key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn ledger_json(app: &TestApp) -> BTreeMap<u64, Value> {
    let (code, stdout, stderr) = app.output(&["ledger", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("ledger line");
            (value["trade_id"].as_u64().expect("trade_id"), value)
        })
        .collect()
}

#[test]
fn every_trade_reaches_the_webhook_once_signed_both_ways_across_failures_and_kill_9() {
    let sink = SinkServer::start(SinkAnswer::ok());
    // The first answers fail: retries (with the same id) must follow.
    sink.answers(vec![
        SinkAnswer::Status(500, Vec::new(), "boom".into()),
        SinkAnswer::Status(429, vec![("retry-after", "1".into())], String::new()),
    ]);
    let rate = 150;
    let script = model_price_shifts(11, 16, 900, rate);
    let n = script.len();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = rate)
        .screen_every_event()
        .set(
            "notify",
            toml::Value::Array(vec![webhook_sink(
                "hook",
                &["open", "close", "settle"],
                &[],
            )]),
        )
        .env("HOOK_URL", &sink.url("/hook"))
        .env("HOOK_SECRET", SECRET)
        .spawn();
    let mut running = app.start();
    running.wait_for_decisions(300);
    running.kill9();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    eventually("every event decided", || {
        let (_, stdout, _) = app.output_with_env(
            &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
            &["decisions", "--json"],
        );
        (stdout.lines().count() >= n).then_some(())
    });
    let finished_trades = {
        let finished = running.terminate();
        assert_eq!(finished.code, 0, "{}", finished.stderr);
        ledger_json(&app)
    };
    assert!(
        finished_trades.len() >= 10,
        "too few trades to say much: {}",
        finished_trades.len()
    );
    // A restart delivers what the killed run had not; wait for it.
    let mut again = app.start();
    admin_of(&mut again);
    let received = eventually("one message per trade", || {
        let received = sink.received();
        let ids: std::collections::BTreeSet<String> =
            received.iter().map(|r| r.header("webhook-id")).collect();
        (ids.len() >= finished_trades.len()).then_some(received)
    });
    again.terminate();
    let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut trade_ids = BTreeMap::new();
    for request in &received {
        assert_eq!(request.path, "/hook");
        let id = request.header("webhook-id");
        let timestamp = request.header("webhook-timestamp");
        // Rekko's way: hex HMAC-SHA256 of the raw body.
        assert_eq!(
            request.header("x-webhook-signature"),
            hex::encode(hmac(&[&request.body])),
            "x-webhook-signature"
        );
        // Standard Webhooks: v1,base64(HMAC(key, id.timestamp.body)).
        let signed = hmac(&[
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            &request.body,
        ]);
        assert_eq!(
            request.header("webhook-signature"),
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(signed)
            )
        );
        let body = request.json();
        assert_eq!(body["id"], id.as_str());
        for key in ["id", "kind", "at", "text", "trade", "error", "summary"] {
            assert!(body.get(key).is_some(), "{key} missing: {body}");
        }
        // A retry is the same message.
        if let Some(first) = by_id.get(&id) {
            assert_eq!(first, &request.body, "a resend of {id} differs");
        }
        by_id.insert(id.clone(), request.body.clone());
        let trade = &body["trade"];
        let trade_id = trade["trade_id"].as_u64().expect("a trade message");
        assert_eq!(body["kind"], trade["action"], "{body}");
        // The trade exactly as `ledger --json` prints it.
        assert_eq!(
            Some(trade),
            finished_trades.get(&trade_id),
            "trade {trade_id}"
        );
        assert!(trade_ids
            .insert(trade_id, id.clone())
            .is_none_or(|old| old == id));
    }
    assert_eq!(
        trade_ids.keys().copied().collect::<Vec<_>>(),
        finished_trades.keys().copied().collect::<Vec<_>>(),
        "every trade told, none twice under two ids"
    );
    assert!(
        received.len() > by_id.len(),
        "the failing answers were retried"
    );
    app.assert_no_secret_on_disk();
    for file in walk(app.dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !crate::support::contains(&bytes, SECRET.as_bytes()),
            "the sink secret is in {}",
            file.display()
        );
    }
}

/// The running bot's admin address (tests bind port 0).
pub fn admin_of(running: &mut crate::support::Running) -> String {
    let listening = running.wait_for_message("admin listener serving review commands (read-only)");
    listening["addr"].as_str().expect("addr").to_string()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_hung_sink_never_holds_up_decisions_and_its_backlog_is_bounded() {
    // The sink never answers within the bot's timeout.
    let sink = SinkServer::start(SinkAnswer::Hang(std::time::Duration::from_secs(600)));
    let script = model_price_shifts(5, 12, 1500, 0);
    let n = script.len();
    let max_backlog = 3;
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 0)
        .screen_every_event()
        .set(
            "notify",
            toml::Value::Array(vec![webhook_sink(
                "dead",
                &["open", "close", "settle"],
                &[
                    ("max_backlog", (max_backlog as i64).into()),
                    ("timeout", "30s".into()),
                ],
            )]),
        )
        .env("HOOK_URL", &sink.url("/hook"))
        .env("HOOK_SECRET", SECRET)
        .spawn();
    let mut running = app.start();
    running.wait_for_decisions(n);
    // Every event decided while the sink held its first request unanswered.
    assert!(
        sink.received().len() <= 1,
        "{} requests",
        sink.received().len()
    );
    let logs = running.logs();
    let dropped = logs
        .iter()
        .filter(|line| {
            crate::support::message(line)
                .starts_with("notification dropped: the sink's backlog is full")
        })
        .count();
    let finished = running.terminate();
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let trades = ledger_json(&app).len();
    assert!(trades > max_backlog, "{trades} trades");
    assert_eq!(
        dropped,
        trades - max_backlog,
        "every message past the bound is dropped and logged"
    );
}

#[test]
fn notify_test_sends_one_message_per_sink_and_reports_each_answer() {
    let good = SinkServer::start(SinkAnswer::ok());
    let bad = SinkServer::start(SinkAnswer::Status(403, Vec::new(), "no".into()));
    let mut slack = toml::Table::new();
    slack.insert("name".into(), "team".into());
    slack.insert("kind".into(), "slack".into());
    slack.insert("url_env".into(), "SLACK_URL".into());
    let mut telegram = toml::Table::new();
    telegram.insert("name".into(), "phone".into());
    telegram.insert("kind".into(), "telegram".into());
    telegram.insert("token_env".into(), "TG_TOKEN".into());
    telegram.insert("chat_id".into(), 4242.into());
    telegram.insert("api_url".into(), bad.url("").into());
    let app = Setup::new(model_price_shifts(1, 2, 5, 5))
        .set(
            "notify",
            toml::Value::Array(vec![
                webhook_sink("hook", &["open"], &[]),
                toml::Value::Table(slack),
                toml::Value::Table(telegram),
            ]),
        )
        .env("HOOK_URL", &good.url("/hook"))
        .env("HOOK_SECRET", SECRET)
        .env("SLACK_URL", &good.url("/slack/T000/B000/XXXX"))
        .env("TG_TOKEN", "123456:tg-secret-token")
        .spawn();
    let (code, stdout, stderr) = app.output(&["notify", "test"]);
    assert_eq!(code, 1, "one sink refused: {stdout}{stderr}");
    assert!(
        stdout.contains("hook (webhook): delivered (HTTP 200)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("team (slack): delivered (HTTP 200)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("phone (telegram): failed: answered 403 Forbidden"),
        "{stdout}"
    );
    assert!(!stdout.contains("tg-secret-token") && !stderr.contains("tg-secret-token"));
    let received = good.received();
    assert_eq!(received.len(), 2);
    let hook = received
        .iter()
        .find(|r| r.path == "/hook")
        .expect("webhook");
    assert_eq!(hook.json()["kind"], "test");
    let slack = received
        .iter()
        .find(|r| r.path.starts_with("/slack"))
        .expect("slack");
    let text = slack.json()["text"].as_str().expect("text").to_string();
    assert!(text.contains("test message"), "{text}");
    let telegram = bad.received();
    assert_eq!(telegram.len(), 1);
    assert_eq!(telegram[0].path, "/bot123456:tg-secret-token/sendMessage");
    assert_eq!(telegram[0].json()["chat_id"], "4242");

    let (code, _, stderr) = app.output(&["notify", "test", "--sink", "team"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(good.received().len(), 3);
    let (code, _, stderr) = app.output(&["notify", "test", "--sink", "nope"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no [[notify]] sink named \"nope\" (configured: hook, team, phone)"),
        "{stderr}"
    );
}

#[test]
fn a_silent_feed_is_reported_once_as_an_error() {
    let sink = SinkServer::start(SinkAnswer::ok());
    let mut app = Setup::new(model_price_shifts(3, 2, 5, 50))
        .sim(|sim| sim.events_per_second = 50)
        .set(
            "notify",
            toml::Value::Array(vec![webhook_sink(
                "ops",
                &["error"],
                &[("feed_down_after", "2s".into())],
            )]),
        )
        .env("HOOK_URL", &sink.url("/ops"))
        .env("HOOK_SECRET", SECRET)
        .spawn();
    let mut running = app.start();
    running.wait_for_decisions(5);
    let alarm = eventually("a feed_down error", || {
        sink.received()
            .into_iter()
            .map(|r| r.json())
            .find(|body| body["kind"] == "error")
    });
    assert_eq!(alarm["error"]["code"], "feed_down", "{alarm}");
    assert!(
        alarm["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no event from the feed since"),
        "{alarm}"
    );
    assert!(alarm["trade"].is_null() && alarm["summary"].is_null());
    // One alarm per outage, not one per second.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(sink.received().len(), 1, "{:?}", sink.received());
    running.terminate();
}

#[test]
fn sighup_adds_a_sink_and_its_messages_follow() {
    let sink = SinkServer::start(SinkAnswer::ok());
    let rate = 60;
    let mut app = Setup::new(model_price_shifts(9, 8, 3000, rate))
        .sim(|sim| sim.events_per_second = rate)
        .screen_every_event()
        .env("HOOK_URL", &sink.url("/late"))
        .env("HOOK_SECRET", SECRET)
        .spawn();
    let mut running = app.start();
    running.wait_for_decisions(20);
    let path = app.config_path.clone().expect("config file");
    let mut table: toml::Table = std::fs::read_to_string(&path)
        .expect("read")
        .parse()
        .expect("toml");
    table.insert(
        "notify".into(),
        toml::Value::Array(vec![webhook_sink("late", &["open"], &[])]),
    );
    std::fs::write(&path, toml::to_string(&table).expect("toml")).expect("write");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &running.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let reloaded = running.wait_for_message("configuration reloaded");
    assert_eq!(reloaded["changed"], "notify", "{reloaded}");
    let first = eventually("an open told to the new sink", || {
        sink.received().into_iter().next()
    });
    assert_eq!(first.json()["kind"], "open");
    running.terminate();
}
