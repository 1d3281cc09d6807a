//! `[[notify]]`: sinks read with their defaults, secrets from the environment only, every
//! problem under `notify[N].key`.

use super::*;

#[test]
fn sinks_load_with_defaults_and_secrets_from_the_environment() {
    let settings = load_with(
        r#"
[[notify]]
name = "ops"
kind = "webhook"
url_env = "OPS_URL"
secret_env = "OPS_SECRET"
on = ["open", "error"]

[[notify]]
name = "chat"
kind = "telegram"
token_env = "TG_TOKEN"
chat_id = -100123
daily_at = "08:30"
"#,
        &[
            ("OPS_URL", "http://127.0.0.1:9/hook"),
            ("OPS_SECRET", "whsec_c2VjcmV0"),
            ("TG_TOKEN", "123:abc"),
        ],
    )
    .expect("valid");
    assert_eq!(settings.notify.len(), 2);
    let ops = &settings.notify[0];
    assert_eq!((ops.name.as_str(), ops.kind), ("ops", SinkKind::Webhook));
    assert_eq!(ops.on, vec![NotifyOn::Open, NotifyOn::Error]);
    assert_eq!(
        ops.url.as_ref().map(|u| u.expose()),
        Some("http://127.0.0.1:9/hook")
    );
    assert_eq!(
        ops.secret.as_ref().map(|s| s.expose()),
        Some("whsec_c2VjcmV0")
    );
    assert_eq!(ops.feed_down_after, Duration::from_secs(300));
    assert_eq!(ops.timeout, Duration::from_secs(10));
    let chat = &settings.notify[1];
    assert_eq!(chat.chat_id.as_deref(), Some("-100123"));
    assert_eq!(chat.on, NotifyOn::ALL.to_vec());
    assert_eq!(chat.daily_at, "08:30");
    assert_eq!(chat.api_url, "https://api.telegram.org");
    // Secrets never print.
    let printed = format!("{settings:?}");
    for secret in ["127.0.0.1:9/hook", "c2VjcmV0", "123:abc"] {
        assert!(!printed.contains(secret), "{secret} leaked into {printed}");
    }
    let toml = toml::to_string(&settings).expect("serializes");
    assert!(
        !toml.contains("123:abc") && !toml.contains("c2VjcmV0"),
        "{toml}"
    );
}

#[test]
fn every_sink_problem_is_listed_by_its_key_path() {
    let errors = errors_of(load_with(
        r#"
[[notify]]
name = "bad name!"
kind = "pager"

[[notify]]
name = "hook"
kind = "webhook"
url_env = "UNSET_URL"
on = ["open", "sometimes"]
daily_at = "25:00"
timeout = "forever"
url = "https://example.com/secret"

[[notify]]
name = "chat"
kind = "telegram"
url_env = "X"
"#,
        &[("X", "http://127.0.0.1:1/")],
    ));
    for path in [
        "notify[0].name",
        "notify[0].kind",
        "notify[1].url_env",
        "notify[1].secret_env",
        "notify[1].on",
        "notify[1].daily_at",
        "notify[1].timeout",
        "notify[1].url",
        "notify[2].token_env",
        "notify[2].chat_id",
        "notify[2].url_env",
    ] {
        assert!(errors.mentions(path), "{path} missing from {errors:?}");
    }
    assert!(
        message_for(&errors, "notify[1].url_env").contains("UNSET_URL is not set"),
        "{errors:?}"
    );
    assert!(
        message_for(&errors, "notify[1].url").contains("environment variable"),
        "{errors:?}"
    );
    assert!(!format!("{errors:?}").contains("example.com/secret"));
}

#[test]
fn sink_names_are_unique_and_a_bad_url_is_not_echoed() {
    let errors = errors_of(load_with(
        r#"
[[notify]]
name = "a"
kind = "slack"
url_env = "A"

[[notify]]
name = "a"
kind = "discord"
url_env = "B"
"#,
        &[
            ("A", "not a url with secret-token"),
            ("B", "https://discord.test/x"),
        ],
    ));
    assert!(
        message_for(&errors, "notify").contains("two sinks are named"),
        "{errors:?}"
    );
    let text = message_for(&errors, "notify[0].url_env");
    assert!(text.contains("not a usable URL"), "{text}");
    assert!(!format!("{errors:?}").contains("secret-token"));
}
