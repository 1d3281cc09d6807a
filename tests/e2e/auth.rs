//! A key the API rejects is fatal: exit code 3 at once with a clear message, never a retry
//! loop, and neither key ever printed or stored (the harness checks every run for that).

use std::time::Duration;

use crate::support::{fresh_price_shift, Setup};

#[test]
fn a_rejected_key_stops_the_bot_with_exit_code_3() {
    let wrong = "rk_e2e_wrong_Key_88a1e6";
    let script = vec![fresh_price_shift(
        Some("a1"),
        "kalshi",
        "KXE2E-C",
        "0.50",
        "0.55",
    )];
    let mut app = Setup::new(script).bot_key(wrong).spawn();
    let mut bot = app.start();
    let finished = bot.wait_exit(Duration::from_secs(30));

    assert_eq!(finished.code, 3, "stderr:\n{}", finished.stderr);
    assert!(
        finished.stderr.contains("HTTP 401") && finished.stderr.contains("REKKO_API_KEY"),
        "the message names the refusal and where the key comes from:\n{}",
        finished.stderr
    );
    let stats = app.sim_stats();
    assert_eq!(stats.auth_failures(), 1, "a 401 is never retried");
    assert_eq!(stats.stream_connections(), 0);
    assert_eq!(stats.signal_calls(), 0);
    assert!(finished.decisions().is_empty());
    assert!(app.decisions().is_empty());
}

/// The leak check itself must be able to fail: a key anywhere under the temp directory (here,
/// in a file inside the store) is found when the test's app is dropped.
#[test]
#[should_panic(expected = "the API key was written to")]
fn the_harness_finds_a_key_written_into_the_store_directory() {
    let app = Setup::new(Vec::new()).spawn();
    let blobs = app.store_path.join("blobs");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::write(blobs.join("leak"), format!("..{}..", crate::support::KEY)).expect("write");
    drop(app);
}

/// A refused key stops the bot; a sink that wants errors hears why before it exits.
#[test]
fn a_rejected_key_is_told_to_the_error_sinks_on_the_way_out() {
    use crate::support::sink::{SinkAnswer, SinkServer};
    let sink = SinkServer::start(SinkAnswer::ok());
    let script = vec![fresh_price_shift(
        Some("a1"),
        "kalshi",
        "KXE2E-C",
        "0.50",
        "0.55",
    )];
    let mut app = Setup::new(script)
        .bot_key("rk_e2e_wrong_Key_31c9d0")
        .set(
            "notify",
            toml::Value::Array(vec![crate::notify::webhook_sink("ops", &["error"], &[])]),
        )
        .env("HOOK_URL", &sink.url("/ops"))
        .env("HOOK_SECRET", crate::notify::SECRET)
        .spawn();
    let finished = app.start().wait_exit(Duration::from_secs(30));
    assert_eq!(finished.code, 3, "{}", finished.stderr);
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let body = received[0].json();
    assert_eq!(body["kind"], "error");
    assert_eq!(body["error"]["code"], "key_rejected", "{body}");
    let text = body["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("401"), "{text}");
    assert!(
        !text.contains("rk_e2e_wrong"),
        "the key is never in a message"
    );
}
