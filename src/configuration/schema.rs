//! The configuration schema: every key, its type and its bounds, read through the [`Reader`]
//! so that each problem is collected with its key path; then the checks that span keys.
//!
//! To add a setting: add the field to its section in `sections.rs`, one read call here, and the
//! key with a comment to `config/default.toml` (a test fails if the default lacks it).

use std::time::Duration;

use rust_decimal::Decimal;
use strategies::filter::{Direction, OnAnalysisComplete};
use strategies::Platform;

use super::problems::ConfigProblem;
use super::reader::Reader;
use super::sections::{
    AdminSettings, ExecutionSettings, ExitSettings, FeeRate, FeedKind, FeedSettings, FeesSettings,
    FilterSettings, MarketSelector, ReplaySettings, ReportSettings, RiskLimit, SignalSettings,
    SimSettings, SizingSettings, StorageSettings, EVENT_TYPES,
};
use super::values::{choose, describe, duration, DecimalRange, DurationRange};
use super::Settings;
use crate::replay::Fallback;

/// The issue caps reconnect backoff at 5 minutes: every stream connection is billed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Longest cooldown or event age accepted: longer is almost certainly a typo (`"60d"`).
const MAX_FILTER_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Longest `exits.max_hold`: beyond a year it is a typo, and it stays inside chrono's range.
const MAX_HOLD: Duration = Duration::from_secs(366 * 24 * 3600);
/// Longest `exits.resolution_poll`: a week; longer would leave resolved markets unsettled.
const MAX_RESOLUTION_POLL: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_SIM_LATENCY: Duration = Duration::from_secs(60);
/// `report.snapshot_every` bounds: a second keeps a busy stream from writing a snapshot per
/// event; beyond a day the curve would miss whole days.
const MIN_SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
const MAX_SNAPSHOT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// `storage.retain` / `storage.dedupe_window` bounds: a second is the least that leaves a
/// decision to review; ten years is a typo's length.
const MIN_RETAIN: Duration = Duration::from_secs(1);
const MAX_RETAIN: Duration = Duration::from_secs(3660 * 24 * 3600);
/// `feed.max_event_bytes` bounds: a real event is well under a kilobyte; 64 MiB is the most
/// memory one event may take.
const MIN_EVENT_BYTES: usize = 1024;
const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;
/// Longest `signal.max_pause`: a quota resets monthly at the latest.
const MAX_SIGNAL_PAUSE: Duration = Duration::from_secs(31 * 24 * 3600);
/// A bankroll beyond this is a typo, and keeps every product of money well inside `Decimal`.
pub(crate) const MAX_BANKROLL: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 1e12

pub(super) const PLATFORMS: [(&str, Platform); 2] = [
    ("kalshi", Platform::Kalshi),
    ("polymarket", Platform::Polymarket),
];

/// Read every section. `None` if any key had a problem (all of them are in the reader).
pub(crate) fn read(r: &mut Reader<'_>) -> Option<Settings> {
    let feed = read_feed(r);
    let filter = read_filter(r);
    let signal = read_signal(r);
    let sizing = read_sizing(r);
    let fees = read_fees(r);
    let exits = read_exits(r);
    let execution = r
        .boolean("execution.mirror")
        .map(|mirror| ExecutionSettings { mirror });
    let storage = read_storage(r);
    let listen = r.read("admin.listen", admin_listen);
    let local_writes = r.boolean("admin.local_writes");
    let admin = listen
        .zip(local_writes)
        .map(|(listen, local_writes)| AdminSettings {
            listen,
            local_writes,
        });
    let replay = r
        .choice(
            "replay.fallback",
            &[("skip", Fallback::Skip), ("model", Fallback::Model)],
        )
        .map(|fallback| ReplaySettings { fallback });
    let report = r
        .duration(
            "report.snapshot_every",
            DurationRange::between(MIN_SNAPSHOT_EVERY, MAX_SNAPSHOT_EVERY),
        )
        .map(|snapshot_every| ReportSettings { snapshot_every });
    let sim = read_sim(r);
    Some(Settings {
        api_key: None,
        admin_token: None,
        feed: feed?,
        filter: filter?,
        signal: signal?,
        sizing: sizing?,
        fees: fees?,
        exits: exits?,
        execution: execution?,
        storage: storage?,
        admin: admin?,
        replay: replay?,
        report: report?,
        sim: sim?,
        notify: Vec::new(),
        intake: Vec::new(),
    })
}

/// `admin.listen`: an IP socket address (no host names: binding must not depend on DNS).
fn admin_listen(kind: &config::ValueKind) -> Result<std::net::SocketAddr, String> {
    match kind {
        config::ValueKind::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("expected an address like \"127.0.0.1:7878\", got {s:?}")),
        other => Err(format!(
            "expected an address string, got {}",
            describe(other)
        )),
    }
}

fn read_feed(r: &mut Reader<'_>) -> Option<FeedSettings> {
    let kind = r.choice(
        "feed.kind",
        &[("sim", FeedKind::Sim), ("rekko", FeedKind::Rekko)],
    );
    let base_url = r.read("feed.base_url", |kind| match kind {
        config::ValueKind::String(s) => base_url(s),
        other => Err(format!("expected a URL string, got {}", describe(other))),
    });
    let events = r
        .list("feed.events", |item| {
            let names: Vec<(&str, &str)> = EVENT_TYPES.iter().map(|t| (*t, *t)).collect();
            choose(item, &names).map(str::to_string)
        })
        .and_then(|mut events| {
            let mut seen = Vec::new();
            events.retain(|e| {
                let first = !seen.contains(e);
                seen.push(e.clone());
                first
            });
            if events.is_empty() {
                r.problem(
                    "feed.events",
                    format!(
                        "must name at least one event type ({})",
                        EVENT_TYPES.join(", ")
                    ),
                );
                None
            } else {
                Some(events)
            }
        });
    let connect_timeout = r.duration(
        "feed.connect_timeout",
        DurationRange::positive_up_to(MAX_TIMEOUT),
    );
    let idle_timeout = r.duration(
        "feed.idle_timeout",
        DurationRange::positive_up_to(MAX_IDLE_TIMEOUT),
    );
    let backoff_initial = r.duration(
        "feed.backoff_initial",
        DurationRange::positive_up_to(MAX_BACKOFF),
    );
    let backoff_max = r.duration(
        "feed.backoff_max",
        DurationRange::positive_up_to(MAX_BACKOFF),
    );
    let stale_after = r.duration(
        "feed.stale_after",
        DurationRange::positive_up_to(MAX_FILTER_WINDOW),
    );
    let max_event_bytes = r.unsigned(
        "feed.max_event_bytes",
        MIN_EVENT_BYTES as u64..=MAX_EVENT_BYTES as u64,
    );
    Some(FeedSettings {
        kind: kind?,
        base_url: base_url?,
        events: events?,
        connect_timeout: connect_timeout?,
        idle_timeout: idle_timeout?,
        backoff_initial: backoff_initial?,
        backoff_max: backoff_max?,
        max_event_bytes: usize::try_from(max_event_bytes?).ok()?,
        stale_after: stale_after?,
    })
}

/// An `http`/`https` URL with a host and no credentials, query or fragment, without trailing
/// slash. Credentials are refused because URLs end up in logs; the key has its own variable.
fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = reqwest::Url::parse(text).map_err(|err| {
        format!("expected an http(s) URL such as \"https://api.rekko.ai\", got {text:?} ({err})")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be an http or https URL, got {text:?}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("must name a host, got {text:?}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain credentials (the API key comes from REKKO_API_KEY)".to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must not have a query or fragment, got {text:?}"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn read_filter(r: &mut Reader<'_>) -> Option<FilterSettings> {
    let min_shift_pct = r.decimal(
        "filter.min_shift_pct",
        DecimalRange::at_least(Decimal::ZERO),
    );
    let direction = r.choice(
        "filter.direction",
        &[
            ("both", Direction::Both),
            ("up", Direction::Up),
            ("down", Direction::Down),
        ],
    );
    let platforms = r.list("filter.platforms", |item| choose(item, &PLATFORMS));
    let exclude_platforms = r.list("filter.exclude_platforms", |item| choose(item, &PLATFORMS));
    let markets = r.list("filter.markets", market_selector);
    let exclude_markets = r.list("filter.exclude_markets", market_selector);
    let cooldown = r.duration("filter.cooldown", DurationRange::up_to(MAX_FILTER_WINDOW));
    let max_event_age = r.duration(
        "filter.max_event_age",
        DurationRange::up_to(MAX_FILTER_WINDOW),
    );
    let on_analysis_complete = r.choice(
        "filter.on_analysis_complete",
        &[
            ("ignore", OnAnalysisComplete::Ignore),
            ("signal", OnAnalysisComplete::Signal),
        ],
    );
    Some(FilterSettings {
        min_shift_pct: min_shift_pct?,
        direction: direction?,
        platforms: platforms?,
        exclude_platforms: exclude_platforms?,
        markets: markets?,
        exclude_markets: exclude_markets?,
        cooldown: cooldown?,
        max_event_age: max_event_age?,
        on_analysis_complete: on_analysis_complete?,
    })
}

fn market_selector(item: &config::ValueKind) -> Result<MarketSelector, String> {
    match item {
        config::ValueKind::String(s) => MarketSelector::parse(s),
        other => Err(format!(
            "expected a market pattern such as \"kalshi/KXFED*\", got {}",
            describe(other)
        )),
    }
}

fn read_signal(r: &mut Reader<'_>) -> Option<SignalSettings> {
    let risk_limit = r.choice(
        "signal.risk_limit",
        &[
            ("low", RiskLimit::Low),
            ("medium", RiskLimit::Medium),
            ("high", RiskLimit::High),
        ],
    );
    let timeout = r.duration("signal.timeout", DurationRange::positive_up_to(MAX_TIMEOUT));
    let max_retries = r.unsigned("signal.max_retries", 0..=10);
    let max_in_flight = r.unsigned("signal.max_in_flight", 1..=256);
    let max_per_minute = r.unsigned("signal.max_per_minute", 0..=u64::from(u32::MAX));
    let max_per_day = r.unsigned("signal.max_per_day", 0..=u64::from(u32::MAX));
    let max_pause = r.duration(
        "signal.max_pause",
        DurationRange::positive_up_to(MAX_SIGNAL_PAUSE),
    );
    Some(SignalSettings {
        risk_limit: risk_limit?,
        timeout: timeout?,
        max_retries: u32::try_from(max_retries?).ok()?,
        max_in_flight: usize::try_from(max_in_flight?).ok()?,
        max_per_minute: u32::try_from(max_per_minute?).ok()?,
        max_per_day: u32::try_from(max_per_day?).ok()?,
        max_pause: max_pause?,
    })
}

fn read_sizing(r: &mut Reader<'_>) -> Option<SizingSettings> {
    let fraction = DecimalRange::above_up_to(Decimal::ZERO, Decimal::ONE);
    let bankroll = r.decimal(
        "sizing.bankroll",
        DecimalRange::above_up_to(Decimal::ZERO, MAX_BANKROLL),
    );
    let kelly_fraction = r.decimal("sizing.kelly_fraction", fraction);
    let max_position_pct = r.decimal("sizing.max_position_pct", fraction);
    let max_exposure_pct = r.decimal("sizing.max_exposure_pct", fraction);
    let min_edge = r.decimal(
        "sizing.min_edge",
        DecimalRange::from_below(Decimal::ZERO, Decimal::ONE),
    );
    Some(SizingSettings {
        bankroll: bankroll?,
        kelly_fraction: kelly_fraction?,
        max_position_pct: max_position_pct?,
        max_exposure_pct: max_exposure_pct?,
        min_edge: min_edge?,
    })
}

fn read_fees(r: &mut Reader<'_>) -> Option<FeesSettings> {
    let mut rate = |platform: Platform| {
        r.decimal(
            &format!("fees.{platform}.rate"),
            DecimalRange::from_below(Decimal::ZERO, Decimal::ONE),
        )
        .map(|rate| FeeRate { rate })
    };
    let kalshi = rate(Platform::Kalshi);
    let polymarket = rate(Platform::Polymarket);
    Some(FeesSettings {
        kalshi: kalshi?,
        polymarket: polymarket?,
    })
}

fn read_exits(r: &mut Reader<'_>) -> Option<ExitSettings> {
    let move_range = DecimalRange::from_below(Decimal::ZERO, Decimal::ONE);
    let take_profit = r.decimal("exits.take_profit", move_range);
    let stop_loss = r.decimal("exits.stop_loss", move_range);
    let max_hold = r.duration("exits.max_hold", DurationRange::up_to(MAX_HOLD));
    let close_on_opposite_signal = r.boolean("exits.close_on_opposite_signal");
    let settle_at = r.decimal(
        "exits.settle_at",
        DecimalRange::open(Decimal::new(5, 1), Decimal::ONE),
    );
    let resolution_poll = r.duration(
        "exits.resolution_poll",
        DurationRange::positive_up_to(MAX_RESOLUTION_POLL),
    );
    Some(ExitSettings {
        take_profit: take_profit?,
        stop_loss: stop_loss?,
        max_hold: max_hold?,
        close_on_opposite_signal: close_on_opposite_signal?,
        settle_at: settle_at?,
        resolution_poll: resolution_poll?,
    })
}

fn read_storage(r: &mut Reader<'_>) -> Option<StorageSettings> {
    let path = r.text("storage.path");
    let retain = r.read("storage.retain", |kind| match kind {
        config::ValueKind::String(s) if s.trim() == "off" => Ok(None),
        other => {
            let d = duration(other).map_err(|why| format!("{why}, or \"off\""))?;
            if d < MIN_RETAIN {
                return Err(format!(
                    "must be \"off\" or at least {}, got {:?}",
                    humantime::format_duration(MIN_RETAIN),
                    humantime::format_duration(d).to_string()
                ));
            }
            DurationRange::positive_up_to(MAX_RETAIN).check(d).map(Some)
        }
    });
    let dedupe_window = r.duration(
        "storage.dedupe_window",
        DurationRange::positive_up_to(MAX_RETAIN),
    );
    Some(StorageSettings {
        path: path?.into(),
        retain: retain?,
        dedupe_window: dedupe_window?,
    })
}

fn read_sim(r: &mut Reader<'_>) -> Option<SimSettings> {
    let seed = r.unsigned("sim.seed", 0..=u64::MAX);
    let markets = r.unsigned("sim.markets", 1..=10_000);
    let events_per_second = r.unsigned("sim.events_per_second", 0..=1_000_000);
    let total_events = r.unsigned("sim.total_events", 0..=u64::MAX);
    let signal_latency = r.duration("sim.signal_latency", DurationRange::up_to(MAX_SIM_LATENCY));
    let signal_skill = r.decimal(
        "sim.signal_skill",
        DecimalRange::closed(Decimal::ZERO, Decimal::ONE),
    );
    let signal_noise = r.decimal(
        "sim.signal_noise",
        DecimalRange::from_below(Decimal::ZERO, Decimal::ONE),
    );
    Some(SimSettings {
        seed: seed?,
        markets: u32::try_from(markets?).ok()?,
        events_per_second: u32::try_from(events_per_second?).ok()?,
        total_events: total_events?,
        signal_latency: signal_latency?,
        signal_skill: signal_skill?,
        signal_noise: signal_noise?,
    })
}

/// Checks that involve more than one key.
pub(crate) fn validate(settings: &Settings) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let feed = &settings.feed;
    if feed.backoff_max < feed.backoff_initial {
        problems.push(ConfigProblem::new(
            "feed.backoff_max",
            format!(
                "must be >= feed.backoff_initial ({}), got {:?}",
                humantime::format_duration(feed.backoff_initial),
                humantime::format_duration(feed.backoff_max).to_string()
            ),
        ));
    }
    let filter = &settings.filter;
    if !filter.platforms.is_empty()
        && filter
            .platforms
            .iter()
            .all(|p| filter.exclude_platforms.contains(p))
    {
        problems.push(ConfigProblem::new(
            "filter.exclude_platforms",
            "excludes every platform in filter.platforms, so nothing could ever trade",
        ));
    }
    // The core's own rules have the last word, should they ever be stricter than the schema.
    for (key, problem) in settings.core_config().exits.problems() {
        let path = format!("exits.{key}");
        if !problems.iter().any(|p: &ConfigProblem| p.path == path) {
            problems.push(ConfigProblem::new(path, problem));
        }
    }
    problems
}

/// Better words than "unknown key" for keys users are likely to add by mistake.
pub(crate) fn explain_unknown(path: &str) -> Option<String> {
    let name = path.rsplit('.').next().unwrap_or(path);
    if name.contains("api_key") {
        return Some(
            "API keys are never read from config files or SHIFTBOT__ variables; \
             set the REKKO_API_KEY environment variable"
                .to_string(),
        );
    }
    let mut segments = path.split('.');
    if let (Some("fees"), Some(platform)) = (segments.next(), segments.next()) {
        if platform.parse::<Platform>().is_err() {
            return Some(format!(
                "unknown platform {platform:?} (known: kalshi, polymarket)"
            ));
        }
    }
    None
}
