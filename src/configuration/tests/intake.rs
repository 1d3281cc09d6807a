//! `[[intake]]`: webhook intakes read with their defaults, the secret from the environment
//! only, every problem under `intake[N].key`.

use std::time::Duration;

use super::*;
use crate::intake::webhook::scheme::Scheme;

#[test]
fn no_intake_is_the_feed_alone_and_a_webhook_gets_its_defaults() {
    assert!(load_text("").expect("default").intake.is_empty());
    let settings = load_with(
        r#"
[[intake]]
name = "main"
kind = "stream"

[[intake]]
name = "hooks"
kind = "webhook"
scheme = "sorted-json"
secret_env = "HOOK_SECRET"
"#,
        &[("HOOK_SECRET", "s3cr3t-value")],
    )
    .expect("valid");
    assert_eq!(settings.intake.len(), 2);
    assert_eq!(settings.intake[0].kind, IntakeKind::Stream);
    let hook = settings.intake[1].webhook.as_ref().expect("webhook keys");
    assert_eq!(hook.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(hook.path, "/webhook");
    assert_eq!(hook.scheme, Scheme::SortedJson);
    assert_eq!(hook.tolerance, Duration::from_secs(300));
    assert_eq!(hook.max_body, 64 * 1024);
    assert!(!hook.allow_unsigned);
    assert_eq!(
        hook.secret.as_ref().map(|s| s.expose()),
        Some("s3cr3t-value")
    );
    // The secret is never printed with the settings.
    let shown = toml::to_string(&settings).expect("serialise");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(shown.contains("sorted-json"), "{shown}");
}

#[test]
fn every_problem_of_every_intake_is_listed_with_its_key_path() {
    let errors = errors_of(load_with(
        r#"
[feed]
kind = "rekko"

[[intake]]
name = "bad name!"
kind = "carrier-pigeon"

[[intake]]
name = "hooks"
kind = "webhook"
scheme = "md5"
listen = "everywhere"
path = "webhook"
tolerance = "forever"
max_body = "lots"
public_url = "http://example.com/hook"
secret = "in-the-file"
secret_env = "UNSET_SECRET"

[[intake]]
name = "open"
kind = "webhook"
scheme = "rekko"
listen = "0.0.0.0:8787"
allow_unsigned = true

[[intake]]
name = "nosecret"
kind = "webhook"
scheme = "rekko"
listen = "127.0.0.1:9999"

[[intake]]
name = "ws"
kind = "websocket"
url = "wss://feed.example.com/ws?token=leaked-token-1"
heartbeat = "never"
token = "also-leaked"

[[intake]]
name = "ws2"
kind = "websocket"
url = "http://feed.example.com/ws"
token_env = "UNSET_TOKEN"

[[intake]]
name = "poller"
kind = "poll"
sources = ["kalshi", "nyse"]
interval = "10ms"
mode = "sometimes"
max_per_day = -1

[[intake]]
name = "poller2"
kind = "poll"
sources = []
"#,
        &[],
    ));
    for path in [
        "intake[0].name",
        "intake[0].kind",
        "intake[1].scheme",
        "intake[1].listen",
        "intake[1].path",
        "intake[1].tolerance",
        "intake[1].max_body",
        "intake[1].public_url",
        "intake[1].secret",
        "intake[1].secret_env",
        "intake[2].allow_unsigned",
        "intake[3].secret_env",
        "intake[4].url",
        "intake[4].heartbeat",
        "intake[4].token",
        "intake[5].url",
        "intake[5].token_env",
        "intake[6].sources",
        "intake[6].interval",
        "intake[6].mode",
        "intake[6].max_per_day",
        "intake[7].sources",
    ] {
        assert!(errors.mentions(path), "{path} missing from {errors:?}");
    }
    assert!(message_for(&errors, "intake[1].secret_env").contains("UNSET_SECRET is not set"));
    assert!(message_for(&errors, "intake[1].secret").contains("environment variable"));
    assert!(message_for(&errors, "intake[2].allow_unsigned").contains("loopback"));
    assert!(message_for(&errors, "intake[4].url").contains("token_env"));
    assert!(message_for(&errors, "intake[6].interval").contains("billed"));
    for secret in ["in-the-file", "leaked-token-1", "also-leaked"] {
        assert!(!format!("{errors:?}").contains(secret), "{secret} echoed");
    }
}

#[test]
fn websocket_and_poll_intakes_get_their_defaults() {
    let settings = load_with(
        r#"
[[intake]]
name = "ws"
kind = "websocket"
url = "wss://feed.example.com/ws/alerts"
token_env = "WS_TOKEN"

[[intake]]
name = "poller"
kind = "poll"
"#,
        &[("WS_TOKEN", "tok-123456")],
    )
    .expect("valid");
    let ws = settings.intake[0]
        .websocket
        .as_ref()
        .expect("websocket keys");
    assert_eq!(ws.url, "wss://feed.example.com/ws/alerts");
    assert_eq!(ws.heartbeat, Duration::from_secs(30));
    assert_eq!(ws.token.as_ref().map(|t| t.expose()), Some("tok-123456"));
    let poll = settings.intake[1].poll.as_ref().expect("poll keys");
    assert_eq!(
        poll.sources,
        vec![
            strategies::Platform::Kalshi,
            strategies::Platform::Polymarket
        ]
    );
    assert_eq!(poll.interval, Duration::from_secs(300));
    assert_eq!(poll.mode, PollMode::Fallback);
    assert_eq!(poll.after, Duration::from_secs(120));
    assert_eq!(poll.max_per_day, 1000);
    // `[poll] max_per_day` is the poll intake's default; its own key wins.
    let capped = |own: &str| {
        let text =
            format!("[poll]\nmax_per_day = 7\n\n[[intake]]\nname = \"p\"\nkind = \"poll\"\n{own}");
        load_with(&text, &[]).expect("valid").intake[0]
            .poll
            .as_ref()
            .expect("poll")
            .max_per_day
    };
    assert_eq!(capped(""), 7);
    assert_eq!(capped("max_per_day = 9"), 9);
    let shown = toml::to_string(&settings).expect("serialise");
    assert!(!shown.contains("tok-123456"), "{shown}");
    // On the embedded simulator a webhook intake needs no secret: one is made for the run.
    let sim = load_with(
        r#"
[[intake]]
name = "hooks"
kind = "webhook"
scheme = "standard"
"#,
        &[],
    )
    .expect("the simulator signs with a secret made for the run");
    assert!(sim.intake[0]
        .webhook
        .as_ref()
        .is_some_and(|w| w.secret.is_none()));
}

#[test]
fn names_are_unique_and_receivers_do_not_share_a_path() {
    let errors = errors_of(load_with(
        r#"
[[intake]]
name = "a"
kind = "webhook"
scheme = "rekko"
allow_unsigned = true

[[intake]]
name = "a"
kind = "webhook"
scheme = "standard"
allow_unsigned = true
"#,
        &[],
    ));
    assert!(message_for(&errors, "intake[1].name").contains("two intakes are named"));
    assert!(message_for(&errors, "intake[1].path").contains("already receives"));
}
