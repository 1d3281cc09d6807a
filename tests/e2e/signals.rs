//! `/v1/signals` failures: 429/5xx retried then traded; 5xx forever → `signal_error` after
//! `signal.max_retries`; a hang past `signal.timeout` → `signal_error`; a 429 whose
//! `Retry-After` is a date pauses every signal request until then, without calling the API.

use shiftbot::sim::Faults;

use crate::support::{fresh_price_shift, Setup, TestApp};

/// One event on KXE2E-C (q 0.73 at p 0.55: BUY_YES, 881 contracts on a fresh book).
fn one_tradeable_event() -> Vec<shiftbot::sim::ScriptedEvent> {
    vec![fresh_price_shift(
        Some("s1"),
        "kalshi",
        "KXE2E-C",
        "0.50",
        "0.55",
    )]
}

fn only_decision(app: &TestApp) -> (String, String) {
    let decisions = app.decisions();
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    let decision = &decisions[0];
    assert_eq!(decision.event_id, "s1");
    (decision.outcome.clone(), decision.reason.clone())
}

#[test]
fn rate_limits_and_server_errors_are_retried_then_traded() {
    let mut app = Setup::new(one_tradeable_event())
        .faults(Faults {
            signal_failures: vec![429, 503],
            signal_retry_after: Some("1".to_string()),
            ..Faults::default()
        })
        .set("signal.max_retries", 3)
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    bot.terminate();
    assert_eq!(
        app.sim_stats().signal_calls(),
        3,
        "two failures, then the answer"
    );
    let (outcome, reason) = only_decision(&app);
    assert_eq!(outcome, "traded", "{reason}");
    let ledger = app.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].contracts, 881);
}

#[test]
fn server_errors_forever_become_signal_error_after_max_retries() {
    let mut app = Setup::new(one_tradeable_event())
        .faults(Faults {
            signal_failures: vec![500; 20],
            ..Faults::default()
        })
        .set("signal.max_retries", 2)
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    bot.terminate();
    assert_eq!(
        app.sim_stats().signal_calls(),
        3,
        "1 attempt + max_retries 2"
    );
    let (outcome, reason) = only_decision(&app);
    assert_eq!(outcome, "signal_error");
    assert!(reason.contains("500"), "{reason}");
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(app.ledger().is_empty());
}

#[test]
fn a_signal_hanging_past_the_timeout_becomes_signal_error() {
    let mut app = Setup::new(one_tradeable_event())
        .faults(Faults {
            signal_hang: Some(std::time::Duration::from_secs(30)),
            ..Faults::default()
        })
        .set("signal.timeout", "500ms")
        .set("signal.max_retries", 1)
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    bot.terminate();
    assert_eq!(
        app.sim_stats().signal_calls(),
        2,
        "1 attempt + max_retries 1"
    );
    let (outcome, reason) = only_decision(&app);
    assert_eq!(outcome, "signal_error");
    assert!(reason.contains("timed out after 500ms"), "{reason}");
    assert!(app.ledger().is_empty());
}

#[test]
fn a_quota_429_with_a_date_pauses_signals_without_calling() {
    let until = chrono::Utc::now() + chrono::Duration::days(1);
    let http_date = until.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let until_text = until.format("%Y-%m-%dT%H:%M:%S").to_string();
    // Paced at 1/s: q1 at once; q2 and q3 (other markets, so no cooldown applies) come 5 and
    // 6 s later, long after q1's answer has set the pause. The fillers are below threshold.
    let mut script = vec![fresh_price_shift(
        Some("q1"),
        "kalshi",
        "KXE2E-C",
        "0.50",
        "0.55",
    )];
    for i in 0..4 {
        let id = format!("f{i}");
        script.push(fresh_price_shift(
            Some(&id),
            "kalshi",
            "KXE2E-A",
            "0.50",
            "0.501",
        ));
    }
    script.push(fresh_price_shift(
        Some("q2"),
        "polymarket",
        "e2e-a",
        "0.40",
        "0.30",
    ));
    script.push(fresh_price_shift(
        Some("q3"),
        "kalshi",
        "KXE2E-D",
        "0.25",
        "0.20",
    ));
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 1)
        .faults(Faults {
            signal_failures: vec![429],
            signal_retry_after: Some(http_date),
            ..Faults::default()
        })
        .set("filter.max_event_age", "0s")
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(7);
    bot.terminate();

    assert_eq!(app.sim_stats().signal_calls(), 1, "only q1 reached the API");
    let decisions = app.decisions();
    let find = |id: &str| {
        decisions
            .iter()
            .find(|d| d.event_id == id)
            .unwrap_or_else(|| panic!("{id} not decided: {decisions:#?}"))
    };
    let q1 = find("q1");
    assert_eq!(q1.outcome, "signal_error");
    assert!(
        q1.reason
            .contains(&format!("signal quota exhausted until {until_text}Z")),
        "{}",
        q1.reason
    );
    for id in ["q2", "q3"] {
        let decision = find(id);
        assert_eq!(decision.outcome, "signal_error", "{id}");
        assert!(
            decision.reason.contains("signals paused until")
                && decision.reason.contains(&until_text),
            "{id}: {}",
            decision.reason
        );
    }
    for i in 0..4 {
        assert_eq!(find(&format!("f{i}")).outcome, "below_threshold");
    }
    assert!(app.ledger().is_empty());
}

/// The quota pause is part of the persisted state: after a restart, signals stay paused.
#[test]
fn the_quota_pause_survives_a_restart() {
    let until = chrono::Utc::now() + chrono::Duration::days(1);
    let first = fresh_price_shift(Some("p1"), "kalshi", "KXE2E-C", "0.50", "0.55");
    let mut app = Setup::new(vec![first.clone()])
        .faults(Faults {
            signal_failures: vec![429],
            signal_retry_after: Some(until.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
            ..Faults::default()
        })
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    bot.terminate();

    // A healthy API now, with a later event: the bot must not call it before the date.
    let later = fresh_price_shift(Some("p2"), "polymarket", "e2e-a", "0.40", "0.30");
    app.switch_sim(crate::support::scripted_sim(vec![first, later]));
    let stats = app.sim_stats();
    let mut bot = app.start();
    bot.wait_for_decisions(1);
    bot.terminate();
    assert_eq!(stats.signal_calls(), 0);
    let decisions = app.decisions();
    let outcomes: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| (d.event_id.as_str(), d.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        vec![("p1", "signal_error"), ("p2", "signal_error")]
    );
    assert!(
        decisions[1].reason.contains("signals paused until"),
        "{}",
        decisions[1].reason
    );
}

/// `filter.on_analysis_complete = "signal"`: an analysis completion asks for its market's
/// signal (one call), after a shift too small to ask for one set the market's price.
#[test]
fn an_analysis_complete_asks_for_a_signal_when_configured_to() {
    let analysis = |id: &str| {
        crate::support::raw(
            Some(id),
            &format!(
                r#"{{"type":"analysis_complete","analysis_id":"an-{id}","market_id":"KXAN-1","platform":"kalshi","timestamp":"{}"}}"#,
                crate::support::now_rfc3339()
            ),
        )
    };
    let script = vec![
        crate::support::fresh_price_shift(Some("p1"), "kalshi", "KXAN-1", "0.400", "0.404"),
        analysis("a1"),
    ];
    let events = toml::Value::Array(vec!["price_shift".into(), "analysis_complete".into()]);
    let mut app = Setup::new(script.clone())
        .set("feed.events", events.clone())
        .set("filter.on_analysis_complete", "signal")
        .spawn();
    let decisions = app.start().wait_for_decisions(2);
    assert_eq!(decisions[0].outcome, "below_threshold");
    assert_ne!(decisions[1].outcome, "ignored_type", "{:?}", decisions[1]);
    assert_eq!(app.sim_stats().signal_calls(), 1);

    let mut ignoring = Setup::new(script).set("feed.events", events).spawn();
    let decisions = ignoring.start().wait_for_decisions(2);
    assert_eq!(decisions[1].outcome, "ignored_type");
    assert_eq!(ignoring.sim_stats().signal_calls(), 0);
}
