//! Every problem reported, by key path, with useful words; secrets never echoed.

use super::*;

#[test]
fn unknown_keys_are_rejected_with_their_path_and_a_suggestion() {
    let errors = errors_of(load_text(
        "[sizing]\nkely_fraction = 0.1\n[filter]\nkelly_fraction = 0.2\n[telemetry]\nlevel = \"debug\"\n",
    ));
    assert_eq!(
        message_for(&errors, "sizing.kely_fraction"),
        "unknown key (did you mean sizing.kelly_fraction?)"
    );
    assert_eq!(
        message_for(&errors, "filter.kelly_fraction"),
        "unknown key (did you mean sizing.kelly_fraction?)"
    );
    assert_eq!(message_for(&errors, "telemetry"), "unknown key");
    assert_eq!(errors.problems().len(), 3, "{errors}");
}

#[test]
fn unknown_keys_from_the_environment_name_the_variable() {
    let errors = errors_of(load_env(&[("SHIFTBOT__SIZING__KELY_FRACTION", "0.1")]));
    assert_eq!(
        message_for(&errors, "sizing.kely_fraction"),
        "unknown key (did you mean sizing.kelly_fraction?) (from SHIFTBOT__SIZING__KELY_FRACTION)"
    );
}

#[test]
fn every_bad_value_is_listed_at_once() {
    let errors = errors_of(load_text(
        r#"
        [feed]
        kind = "live"
        base_url = "ftp://example.com"
        events = ["price_shift", "earthquake"]
        backoff_max = "10m"
        [filter]
        direction = "sideways"
        min_shift_pct = -1
        platforms = ["kalshi", "manifold"]
        markets = ["kalshi/KX*FED"]
        cooldown = 30
        [signal]
        risk_limit = "extreme"
        max_retries = 11
        max_in_flight = 0
        max_per_day = -5
        [sizing]
        kelly_fraction = 1.5
        max_position_pct = 0
        bankroll = "lots"
        min_edge = 1
        [fees.kalshi]
        rate = 1
        [execution]
        mirror = "maybe"
        [storage]
        path = ""
        [sim]
        markets = 0
        signal_latency = "2m"
        "#,
    ));
    let expected = [
        ("feed.kind", "expected one of sim, rekko, got \"live\""),
        (
            "feed.base_url",
            "must be an http or https URL, got \"ftp://example.com\"",
        ),
        (
            "feed.events",
            "expected one of price_shift, whale_alert, analysis_complete, got \"earthquake\"",
        ),
        ("feed.backoff_max", "must be at most 5m, got \"10m\""),
        (
            "filter.direction",
            "expected one of both, up, down, got \"sideways\"",
        ),
        ("filter.min_shift_pct", "must be >= 0, got -1"),
        (
            "filter.platforms",
            "expected one of kalshi, polymarket, got \"manifold\"",
        ),
        (
            "filter.markets",
            "market pattern \"kalshi/KX*FED\": '*' is only allowed at the end",
        ),
        (
            "filter.cooldown",
            "expected a duration such as \"30s\", \"5m\" or \"250ms\", got 30",
        ),
        (
            "signal.risk_limit",
            "expected one of low, medium, high, got \"extreme\"",
        ),
        ("signal.max_retries", "must be between 0 and 10, got 11"),
        ("signal.max_in_flight", "must be between 1 and 256, got 0"),
        ("signal.max_per_day", "expected a whole number >= 0, got -5"),
        ("sizing.kelly_fraction", "must be in (0, 1], got 1.5"),
        ("sizing.max_position_pct", "must be in (0, 1], got 0"),
        ("sizing.bankroll", "expected a decimal number, got \"lots\""),
        ("sizing.min_edge", "must be in [0, 1), got 1"),
        ("fees.kalshi.rate", "must be in [0, 1), got 1"),
        ("execution.mirror", "expected true or false, got \"maybe\""),
        ("storage.path", "must not be empty"),
        ("sim.markets", "must be between 1 and 10000, got 0"),
        ("sim.signal_latency", "must be at most 1m, got \"2m\""),
    ];
    for (path, message) in expected {
        assert_eq!(message_for(&errors, path), message, "at {path}");
    }
    assert_eq!(errors.problems().len(), expected.len(), "{errors}");
}

#[test]
fn bad_values_from_the_environment_name_the_variable() {
    let errors = errors_of(load_env(&[
        ("SHIFTBOT__SIZING__KELLY_FRACTION", "1.5"),
        ("SHIFTBOT__FEED__EVENTS", ""),
    ]));
    assert_eq!(
        message_for(&errors, "sizing.kelly_fraction"),
        "must be in (0, 1], got 1.5 (from SHIFTBOT__SIZING__KELLY_FRACTION)"
    );
    assert!(message_for(&errors, "feed.events").starts_with("must name at least one event type"));
}

#[test]
fn cross_key_problems_are_reported() {
    let errors = errors_of(load_text(
        "[feed]\nbackoff_initial = \"2m\"\nbackoff_max = \"1m\"\n\
         [filter]\nplatforms = [\"kalshi\"]\nexclude_platforms = [\"kalshi\"]\n",
    ));
    assert_eq!(
        message_for(&errors, "feed.backoff_max"),
        "must be >= feed.backoff_initial (2m), got \"1m\""
    );
    assert!(message_for(&errors, "filter.exclude_platforms").contains("nothing could ever trade"));
}

#[test]
fn a_section_that_is_not_a_table_is_one_problem() {
    let errors = errors_of(load_text("sizing = 5\n"));
    assert_eq!(errors.problems().len(), 1, "{errors}");
    assert_eq!(
        message_for(&errors, "sizing"),
        "expected a table of settings, got 5"
    );
}

#[test]
fn api_key_in_a_file_or_shiftbot_variable_is_rejected_without_echoing_it() {
    for text in [
        "api_key = \"sk-file-secret\"\n",
        "[feed]\napi_key = \"sk-file-secret\"\n",
    ] {
        let errors = errors_of(load_text(text));
        assert_eq!(errors.problems().len(), 1, "{errors}");
        let problem = &errors.problems()[0];
        assert!(problem.path.ends_with("api_key"), "{problem}");
        assert!(problem.message.contains("REKKO_API_KEY"), "{problem}");
        assert!(!errors.to_string().contains("sk-file-secret"));
    }
    let errors = errors_of(load_env(&[("SHIFTBOT__API_KEY", "sk-env-secret")]));
    assert!(message_for(&errors, "api_key").contains("REKKO_API_KEY"));
    assert!(!errors.to_string().contains("sk-env-secret"));
}

#[test]
fn unknown_fee_platform_is_named() {
    let errors = errors_of(load_text("[fees.manifold]\nrate = 0.01\n"));
    assert_eq!(
        message_for(&errors, "fees.manifold"),
        "unknown platform \"manifold\" (known: kalshi, polymarket)"
    );
}

#[test]
fn an_api_key_with_whitespace_is_refused_without_echoing_it() {
    let errors = errors_of(load_env(&[(API_KEY_VAR, "sk-abc\n")]));
    assert!(message_for(&errors, API_KEY_VAR).contains("whitespace"));
    assert!(!errors.to_string().contains("sk-abc"));
}

#[test]
fn typed_structs_deny_unknown_fields() {
    let mut printed = load_env(&[]).expect("valid").to_toml().expect("toml");
    printed = printed.replace("[sizing]\n", "[sizing]\nkely_fraction = \"0.1\"\n");
    let err = toml::from_str::<Settings>(&printed).expect_err("unknown field");
    assert!(err.to_string().contains("kely_fraction"), "{err}");
}

#[test]
fn base_url_is_normalised_and_checked() {
    let s =
        load_env(&[("SHIFTBOT__FEED__BASE_URL", "http://127.0.0.1:8080/proxy/")]).expect("valid");
    assert_eq!(s.feed.base_url, "http://127.0.0.1:8080/proxy");
    assert_eq!(
        s.feed.endpoint("/v1/stream"),
        "http://127.0.0.1:8080/proxy/v1/stream"
    );
    let errors = errors_of(load_env(&[(
        "SHIFTBOT__FEED__BASE_URL",
        "https://user:pw@api.rekko.ai",
    )]));
    assert!(message_for(&errors, "feed.base_url").contains("credentials"));
    assert!(!errors.to_string().contains("pw@"));
}

#[test]
fn missing_and_broken_files_are_reported_against_the_file() {
    let missing = PathBuf::from("/nonexistent/shiftbot.toml");
    let errors = errors_of(Settings::load(LoadOptions {
        file: Some(missing),
        env: Vec::new(),
    }));
    assert!(
        message_for(&errors, "/nonexistent/shiftbot.toml").starts_with("cannot read config file")
    );

    let (_dir, path) = file_with("[sizing\nbankroll = 1\n");
    let shown = path.display().to_string();
    let errors = errors_of(Settings::load(LoadOptions {
        file: Some(path),
        env: Vec::new(),
    }));
    assert!(
        message_for(&errors, &shown).starts_with("not valid TOML"),
        "{errors}"
    );
}

#[test]
fn max_bankroll_constant_is_one_trillion() {
    assert_eq!(schema::MAX_BANKROLL, dec!(1_000_000_000_000));
    assert!(load_env(&[("SHIFTBOT__SIZING__BANKROLL", "1000000000000")]).is_ok());
    let errors = errors_of(load_env(&[(
        "SHIFTBOT__SIZING__BANKROLL",
        "1000000000000.01",
    )]));
    assert!(message_for(&errors, "sizing.bankroll").starts_with("must be in (0, 1000000000000]"));
}

#[test]
fn exit_values_out_of_range_are_listed() {
    let errors = errors_of(load_text(
        "[exits]\ntake_profit = 1\nstop_loss = -0.1\nsettle_at = 0.5\nmax_hold = \"2y\"\n\
         resolution_poll = \"0s\"\n",
    ));
    assert_eq!(
        message_for(&errors, "exits.take_profit"),
        "must be in [0, 1), got 1"
    );
    assert_eq!(
        message_for(&errors, "exits.stop_loss"),
        "must be in [0, 1), got -0.1"
    );
    assert_eq!(
        message_for(&errors, "exits.settle_at"),
        "must be in (0.5, 1), got 0.5"
    );
    assert!(
        message_for(&errors, "exits.max_hold").starts_with("must be at most"),
        "{errors}"
    );
    assert!(
        !message_for(&errors, "exits.resolution_poll").is_empty(),
        "{errors}"
    );
    assert_eq!(errors.problems().len(), 5, "{errors}");
}
