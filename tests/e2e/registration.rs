//! `shiftbot webhooks ensure|list|delete` against the simulator's `/v1/webhooks` registry:
//! idempotent, replacing what is disabled or subscribed to other events, remembered in the
//! store so that the bot's start costs no call.

use serde_json::Value;

use crate::support::{Setup, TestApp};

const SECRET_VAR: &str = "SHIFTBOT_E2E_REGISTRATION_SECRET";
const SECRET: &str = "reg-s3cret-9f8e7d";
const PUBLIC: &str = "https://bot.example.com/hooks/rekko";

fn app(events: &[&str]) -> TestApp {
    let mut intake = toml::Table::new();
    intake.insert("name".into(), "hooks".into());
    intake.insert("kind".into(), "webhook".into());
    intake.insert("listen".into(), "127.0.0.1:0".into());
    intake.insert("scheme".into(), "rekko".into());
    intake.insert("secret_env".into(), SECRET_VAR.into());
    intake.insert("public_url".into(), PUBLIC.into());
    let events: Vec<toml::Value> = events.iter().map(|e| (*e).into()).collect();
    Setup::new(Vec::new())
        .set(
            "intake",
            toml::Value::Array(vec![toml::Value::Table(intake)]),
        )
        .set("feed.events", toml::Value::Array(events))
        .env(SECRET_VAR, SECRET)
        .spawn()
}

fn run(app: &TestApp, args: &[&str]) -> (i32, String) {
    let (code, out, err) = app.output(args);
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "the secret printed"
    );
    (code, format!("{out}{err}"))
}

fn listed(app: &TestApp) -> Vec<Value> {
    let (code, out) = run(app, &["webhooks", "list", "--json"]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str::<Value>(&out)
        .expect("a JSON array")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn ensure_is_idempotent_replaces_what_no_longer_fits_and_is_remembered() {
    let mut app = app(&["price_shift"]);
    let stats = app.sim_stats();
    let calls = || stats.webhook_calls();
    assert!(listed(&app).is_empty());
    let (code, out) = run(&app, &["webhooks", "list"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "id  url  events  enabled  failure_count  created_at"
    );

    let (code, out) = run(&app, &["webhooks", "ensure", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!("hooks: would register {PUBLIC} for price_shift")
    );
    assert!(listed(&app).is_empty(), "a dry run registers nothing");

    let (code, out) = run(&app, &["webhooks", "ensure"]);
    assert_eq!(code, 0, "{out}");
    let first = listed(&app);
    assert_eq!(first.len(), 1);
    let id1 = first[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        out.trim(),
        format!("hooks: registered {id1} ({PUBLIC} for price_shift)")
    );
    for key in [
        "id",
        "url",
        "events",
        "enabled",
        "failure_count",
        "created_at",
    ] {
        assert!(first[0].get(key).is_some(), "{key} in {}", first[0]);
    }

    let before = calls();
    let (code, out) = run(&app, &["webhooks", "ensure"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!("hooks: kept {id1} ({PUBLIC} for price_shift)")
    );
    assert_eq!(
        calls() - before,
        1,
        "one list call, nothing registered again"
    );

    // Disabled by the API (failed deliveries): replaced.
    assert!(app.sim().disable_webhook(&id1));
    let (code, out) = run(&app, &["webhooks", "ensure"]);
    assert_eq!(code, 0, "{out}");
    let second = listed(&app);
    assert_eq!(second.len(), 1);
    let id2 = second[0]["id"].as_str().expect("id").to_string();
    assert_ne!(id1, id2);
    assert!(
        out.contains(&format!("hooks: deleted {id1} (disabled)")),
        "{out}"
    );
    assert!(out.contains(&format!("hooks: registered {id2}")), "{out}");

    // The bot's start: remembered, no call.
    let before = calls();
    let mut bot = app.start();
    let line = bot.wait_for_message("webhook registration remembered; no call");
    assert_eq!(line["intake"], "hooks");
    bot.terminate();
    assert_eq!(calls(), before, "a restart costs no registration call");

    // Other events wanted now: replaced, at the bot's start this time.
    let config = app.config_path.clone().expect("config");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        r#"events = ["price_shift"]"#,
        r#"events = ["price_shift", "whale_alert"]"#,
    );
    std::fs::write(&config, text).expect("rewrite");
    let mut bot = app.start();
    let line = bot.wait_for_message(&format!("hooks: deleted {id2} (events differ)"));
    assert_eq!(line["intake"], "hooks");
    bot.terminate();
    let third = listed(&app);
    assert_eq!(third.len(), 1);
    assert_eq!(
        third[0]["events"],
        serde_json::json!(["price_shift", "whale_alert"])
    );
    let id3 = third[0]["id"].as_str().expect("id").to_string();

    let (code, out) = run(&app, &["webhooks", "delete", &id3, "--dry-run"]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("would delete {id3} ({PUBLIC})").as_str())
    );
    assert_eq!(listed(&app).len(), 1);
    let (code, out) = run(&app, &["webhooks", "delete", &id3]);
    assert_eq!((code, out.trim()), (0, format!("deleted {id3}").as_str()));
    assert!(listed(&app).is_empty());
    let (code, out) = run(&app, &["webhooks", "delete", &id3]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("no webhook {id3}")), "{out}");
    app.assert_no_secret_on_disk();
}

#[test]
fn webhooks_needs_the_api_and_a_public_url() {
    let embedded = Setup::new(Vec::new()).set("feed.kind", "sim").spawn();
    let (code, _, err) = embedded.output(&["webhooks", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("feed.kind is \"sim\""), "{err}");
    let plain = Setup::new(Vec::new()).spawn();
    let (code, _, err) = plain.output(&["webhooks", "ensure"]);
    assert_eq!(code, 2);
    assert!(err.contains("no webhook intake has a public_url"), "{err}");
}
