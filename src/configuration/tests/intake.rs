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
    ] {
        assert!(errors.mentions(path), "{path} missing from {errors:?}");
    }
    assert!(message_for(&errors, "intake[1].secret_env").contains("UNSET_SECRET is not set"));
    assert!(message_for(&errors, "intake[1].secret").contains("environment variable"));
    assert!(message_for(&errors, "intake[2].allow_unsigned").contains("loopback"));
    assert!(!format!("{errors:?}").contains("in-the-file"));
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
