//! Defaults, layering, exact decimals, conversions for the rest of the program.

use super::*;

#[test]
fn defaults_load_with_the_documented_values() {
    let s = load_env(&[]).expect("embedded default is valid");
    assert_eq!(s.feed.kind, FeedKind::Sim);
    assert_eq!(s.feed.base_url, "https://api.rekko.ai");
    assert_eq!(s.feed.events, vec!["price_shift".to_string()]);
    assert_eq!(s.feed.connect_timeout, Duration::from_secs(10));
    assert_eq!(s.feed.idle_timeout, Duration::from_secs(90));
    assert_eq!(s.feed.backoff_initial, Duration::from_secs(1));
    assert_eq!(s.feed.backoff_max, Duration::from_secs(300));
    assert_eq!(s.filter.min_shift_pct, dec!(5));
    assert_eq!(s.filter.direction, Direction::Both);
    assert!(s.filter.platforms.is_empty() && s.filter.markets.is_empty());
    assert_eq!(s.filter.cooldown, Duration::from_secs(60));
    assert_eq!(s.filter.max_event_age, Duration::from_secs(120));
    assert_eq!(s.signal.risk_limit, RiskLimit::Medium);
    assert_eq!(s.signal.timeout, Duration::from_secs(30));
    assert_eq!(
        (
            s.signal.max_retries,
            s.signal.max_in_flight,
            s.signal.max_per_minute,
            s.signal.max_per_day
        ),
        (3, 8, 30, 2000)
    );
    assert_eq!(s.sizing.bankroll, dec!(10000));
    assert_eq!(s.sizing.kelly_fraction, dec!(0.25));
    assert_eq!(s.sizing.max_position_pct, dec!(0.05));
    assert_eq!(s.sizing.max_exposure_pct, dec!(0.5));
    assert_eq!(s.sizing.min_edge, dec!(0.02));
    assert_eq!(s.fees.kalshi.rate, dec!(0.07));
    assert_eq!(s.fees.polymarket.rate, dec!(0));
    assert_eq!(
        (s.exits.take_profit, s.exits.stop_loss),
        (dec!(0.15), dec!(0.10))
    );
    assert_eq!(s.exits.max_hold, Duration::from_secs(7 * 24 * 3600));
    assert!(s.exits.close_on_opposite_signal);
    assert_eq!(s.exits.settle_at, dec!(0.99));
    assert_eq!(s.exits.resolution_poll, Duration::from_secs(600));
    assert!(s.execution.mirror);
    assert_eq!(s.storage.path, PathBuf::from("shiftbot-data/store"));
    assert_eq!(
        (
            s.sim.seed,
            s.sim.markets,
            s.sim.events_per_second,
            s.sim.total_events
        ),
        (42, 24, 5, 0)
    );
    assert_eq!(s.sim.signal_latency, Duration::ZERO);
    assert_eq!(s.api_key, None);
}

#[test]
fn default_core_config_matches_the_strategies_defaults() {
    // The strategies crate documents the same defaults; the two must not drift apart. Only the
    // signal budget differs on purpose: the core's default is unlimited, the bot's is billed.
    let core = load_env(&[]).expect("valid").core_config();
    let expected = strategies::CoreConfig {
        budget: strategies::budget::BudgetLimits {
            max_per_minute: 30,
            max_per_day: 2000,
        },
        ..strategies::CoreConfig::default()
    };
    assert_eq!(core, expected);
}

#[test]
fn core_config_carries_every_filter_and_sizing_value() {
    let s = load_text(
        r#"
        [filter]
        min_shift_pct = 2.5
        direction = "down"
        platforms = ["kalshi"]
        exclude_markets = ["kalshi/KXFED*"]
        cooldown = "90s"
        max_event_age = "0s"
        [signal]
        max_per_minute = 0
        max_per_day = 7
        [sizing]
        bankroll = 500
        [fees.polymarket]
        rate = 0.01
        "#,
    )
    .expect("valid");
    let core = s.core_config();
    assert_eq!(core.filter.min_shift_pct, dec!(2.5));
    assert_eq!(core.filter.direction, Direction::Down);
    assert_eq!(core.filter.platforms, vec![Platform::Kalshi]);
    let fed = MarketKey::new(Platform::Kalshi, "KXFED-25DEC").expect("market key");
    let other = MarketKey::new(Platform::Kalshi, "KXCPI").expect("market key");
    assert!(core.filter.exclude_markets[0].matches(&fed));
    assert!(!core.filter.exclude_markets[0].matches(&other));
    assert_eq!(core.filter.cooldown, chrono::Duration::seconds(90));
    assert!(core.filter.max_event_age.is_zero());
    assert_eq!(
        (core.budget.max_per_minute, core.budget.max_per_day),
        (0, 7)
    );
    assert_eq!(core.sizing.bankroll, dec!(500));
    assert_eq!(core.fees.rate(Platform::Polymarket), dec!(0.01));
    assert_eq!(core.fees.rate(Platform::Kalshi), dec!(0.07));
    assert_eq!(core.trade_types, vec!["price_shift".to_string()]);
}

#[test]
fn a_partial_file_overrides_only_its_keys() {
    let s = load_text("[sizing]\nkelly_fraction = 0.1\n[feed]\nkind = \"rekko\"\n").expect("valid");
    assert_eq!(s.sizing.kelly_fraction, dec!(0.1));
    assert_eq!(s.feed.kind, FeedKind::Rekko);
    // Untouched keys, in the same and in other sections, keep their defaults.
    assert_eq!(s.sizing.bankroll, dec!(10000));
    assert_eq!(s.feed.events, vec!["price_shift".to_string()]);
    assert_eq!(s.filter.min_shift_pct, dec!(5));
}

#[test]
fn environment_overrides_file_and_default() {
    let (_dir, path) = file_with("[filter]\nmin_shift_pct = 8\n");
    let s = Settings::load(LoadOptions {
        file: Some(path),
        env: env(&[
            ("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "3"),
            ("SHIFTBOT__FEED__EVENTS", "price_shift,whale_alert"),
            ("SHIFTBOT__EXECUTION__MIRROR", "false"),
            ("SHIFTBOT__SIGNAL__MAX_IN_FLIGHT", "16"),
            ("SHIFTBOT__FILTER__COOLDOWN", "5m"),
            ("UNRELATED", "ignored"),
        ]),
    })
    .expect("valid");
    assert_eq!(s.filter.min_shift_pct, dec!(3));
    assert_eq!(
        s.feed.events,
        vec!["price_shift".to_string(), "whale_alert".to_string()]
    );
    assert!(!s.execution.mirror);
    assert_eq!(s.signal.max_in_flight, 16);
    assert_eq!(s.filter.cooldown, Duration::from_secs(300));
}

#[test]
fn list_environment_variables_trim_items_and_empty_means_empty() {
    let s = load_env(&[
        ("SHIFTBOT__FILTER__PLATFORMS", " kalshi , polymarket "),
        ("SHIFTBOT__FILTER__MARKETS", "kalshi/KXFED*,BTC-100K"),
    ])
    .expect("valid");
    assert_eq!(
        s.filter.platforms,
        vec![Platform::Kalshi, Platform::Polymarket]
    );
    let shown: Vec<&str> = s
        .filter
        .markets
        .iter()
        .map(MarketSelector::as_str)
        .collect();
    assert_eq!(shown, vec!["kalshi/KXFED*", "BTC-100K"]);

    let (_dir, path) = file_with("[filter]\nplatforms = [\"kalshi\"]\n");
    let s = Settings::load(LoadOptions {
        file: Some(path),
        env: env(&[("SHIFTBOT__FILTER__PLATFORMS", "")]),
    })
    .expect("valid");
    assert!(
        s.filter.platforms.is_empty(),
        "an empty variable clears the list"
    );
}

#[test]
fn decimals_are_exact_from_numbers_strings_and_environment() {
    let exact = |d: Decimal, text: &str| {
        assert_eq!(d, Decimal::from_str(text).expect("decimal"));
        assert_eq!(d.to_string(), text, "same digits, no float noise");
    };
    exact(
        load_text("[sizing]\nkelly_fraction = 0.1\n")
            .expect("valid")
            .sizing
            .kelly_fraction,
        "0.1",
    );
    exact(
        load_text("[sizing]\nkelly_fraction = \"0.1\"\n")
            .expect("valid")
            .sizing
            .kelly_fraction,
        "0.1",
    );
    exact(
        load_env(&[("SHIFTBOT__SIZING__KELLY_FRACTION", "0.1")])
            .expect("valid")
            .sizing
            .kelly_fraction,
        "0.1",
    );
    // Digits beyond f64 precision survive, both as a TOML float and as a string.
    exact(
        load_text("[sizing]\nmin_edge = 0.012345678901234567891\n")
            .expect("valid")
            .sizing
            .min_edge,
        "0.012345678901234567891",
    );
    exact(
        load_text("[sizing]\nbankroll = 1_234_567.89\n")
            .expect("valid")
            .sizing
            .bankroll,
        "1234567.89",
    );
    exact(
        load_text("[fees.kalshi]\nrate = 7e-2\n")
            .expect("valid")
            .fees
            .kalshi
            .rate,
        "0.07",
    );
    exact(
        load_text("[sizing]\nbankroll = 250\n")
            .expect("valid")
            .sizing
            .bankroll,
        "250",
    );
}

#[test]
fn rekko_api_key_is_read_and_redacted_everywhere() {
    let s = load_env(&[(API_KEY_VAR, "sk-live-abc123")]).expect("valid");
    assert_eq!(
        s.api_key.as_ref().map(Secret::expose),
        Some("sk-live-abc123")
    );
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("sk-live-abc123") && debug.contains("[redacted]"),
        "{debug}"
    );
    let toml = s.to_toml().expect("toml");
    assert!(toml.contains("api_key = \"[redacted]\""), "{toml}");
    assert!(!toml.contains("sk-live-abc123"));
    let json = serde_json::to_string(&s).expect("json");
    assert!(json.contains("\"api_key\":\"[redacted]\"") && !json.contains("sk-live-abc123"));

    let unset = load_env(&[]).expect("valid");
    assert!(!unset.to_toml().expect("toml").contains("api_key"));
    assert_eq!(load_env(&[(API_KEY_VAR, "")]).expect("valid").api_key, None);
}

#[test]
fn the_live_feed_needs_a_key_to_run_but_not_to_load() {
    let no_key = load_text("[feed]\nkind = \"rekko\"\n").expect("loads without a key");
    let errors = no_key
        .check_ready_to_run()
        .expect_err("cannot run without a key");
    assert!(errors.mentions(API_KEY_VAR), "{errors}");

    let (_dir, path) = file_with("[feed]\nkind = \"rekko\"\n");
    let keyed = Settings::load(LoadOptions {
        file: Some(path),
        env: env(&[(API_KEY_VAR, "k")]),
    })
    .expect("valid");
    assert!(keyed.check_ready_to_run().is_ok());
    assert!(
        load_env(&[]).expect("valid").check_ready_to_run().is_ok(),
        "sim needs no key"
    );
}

#[test]
fn shipped_config_files_load_and_validate() {
    let rekko = Settings::load(LoadOptions {
        file: Some(repo_file("rekko.toml")),
        env: env(&[(API_KEY_VAR, "sk-test")]),
    })
    .expect("config/rekko.toml is valid");
    assert_eq!(rekko.feed.kind, FeedKind::Rekko);
    assert_eq!(rekko.feed.base_url, "https://api.rekko.ai");
    assert!(rekko.check_ready_to_run().is_ok());

    let default = Settings::load(LoadOptions {
        file: Some(repo_file("default.toml")),
        env: Vec::new(),
    })
    .expect("config/default.toml is valid as a file too");
    assert_eq!(default, load_env(&[]).expect("embedded default"));
}

#[test]
fn the_embedded_default_sets_every_key_itself() {
    // Reading the default alone, without the merge, must find every key: a key missing from
    // default.toml would otherwise only fail for users who happen not to set it.
    let config = config::Config::builder()
        .add_source(source::ExactToml::new("default", DEFAULT_TOML))
        .build()
        .expect("default parses");
    let config::ValueKind::Table(root) = &config.cache.kind else {
        panic!("not a table")
    };
    let mut reader = reader::Reader::new(root);
    assert!(schema::read(&mut reader).is_some());
    assert_eq!(
        crate::configuration::notify::read_notify(&mut reader, &[]),
        Some(Vec::new())
    );
    assert_eq!(
        crate::configuration::intake::read_intakes(
            &mut reader,
            &crate::configuration::intake::Context {
                env: &[],
                sim: false,
                poll_max_per_day: None,
            },
        ),
        Some(Vec::new())
    );
    reader.report_unknown_keys(schema::explain_unknown);
    assert_eq!(reader.into_problems(), Vec::new());
}

#[test]
fn printed_config_reads_back_to_the_same_settings() {
    let s = load_text(
        "[filter]\nmarkets = [\"kalshi/KXFED*\"]\nmin_shift_pct = 2.5\n[feed]\nbackoff_initial = \"250ms\"\n",
    )
    .expect("valid");
    let printed = s.to_toml().expect("toml");
    let again = load_text(&printed).expect("printed config is a valid config file");
    assert_eq!(again, s);
    let typed: Settings = toml::from_str(&printed).expect("typed structs read it too");
    assert_eq!(typed, s);
}

#[test]
fn sim_config_carries_the_sim_section() {
    let s = load_text(
        "[sim]\nseed = 7\nmarkets = 3\nevents_per_second = 0\ntotal_events = 100\nsignal_latency = \"200ms\"\n",
    )
    .expect("valid");
    let sim = s.sim_config();
    assert_eq!((sim.seed, sim.markets, sim.events_per_second), (7, 3, 0));
    assert_eq!(sim.total_events, Some(100));
    assert_eq!(sim.signal_latency, Duration::from_millis(200));
    assert_eq!(sim.api_key, None);
    assert_eq!(
        load_env(&[]).expect("valid").sim_config().total_events,
        None,
        "0 = endless"
    );
}

#[test]
fn zero_turns_an_exit_rule_off() {
    let s = load_text(
        "[exits]\ntake_profit = 0\nstop_loss = 0.2\nmax_hold = \"0s\"\nclose_on_opposite_signal = false\nsettle_at = 0.95\n",
    )
    .expect("valid");
    let exits = s.core_config().exits;
    assert_eq!(exits.take_profit, None);
    assert_eq!(exits.stop_loss, Some(dec!(0.2)));
    assert_eq!(exits.max_hold, None);
    assert!(!exits.close_on_opposite_signal);
    assert_eq!(exits.settle_at, dec!(0.95));
    let on = load_env(&[("SHIFTBOT__EXITS__MAX_HOLD", "36h")])
        .expect("valid")
        .core_config()
        .exits;
    assert_eq!(on.max_hold, Some(chrono::Duration::hours(36)));
}

#[test]
fn a_relative_store_path_resolves_under_the_state_directory_or_the_working_directory() {
    use crate::configuration::resolve_store_path;
    use std::ffi::OsStr;
    use std::path::Path;
    let cwd = Path::new("/home/me/bots");
    let relative = Path::new("shiftbot-data/store");
    assert_eq!(
        resolve_store_path(relative, None, cwd),
        Path::new("/home/me/bots/shiftbot-data/store")
    );
    assert_eq!(
        resolve_store_path(
            relative,
            Some(OsStr::new("/var/lib/shiftbot:/var/lib/other")),
            cwd
        ),
        Path::new("/var/lib/shiftbot/shiftbot-data/store")
    );
    // A relative or empty $STATE_DIRECTORY is not systemd's: the working directory it is.
    assert_eq!(
        resolve_store_path(relative, Some(OsStr::new("relative")), cwd),
        Path::new("/home/me/bots/shiftbot-data/store")
    );
    let absolute = Path::new("/srv/store");
    assert_eq!(
        resolve_store_path(absolute, Some(OsStr::new("/var/lib/shiftbot")), cwd),
        absolute
    );
}
