//! Layered settings: the embedded `config/default.toml`, then an optional `--config FILE`, then
//! `SHIFTBOT__SECTION__KEY` environment variables; the API key only from `REKKO_API_KEY`.
//!
//! Loading never stops at the first mistake: it merges the layers with the `config` crate, reads
//! every known key on its own (`schema.rs` through `reader.rs`), reports every key nobody asked
//! for, then runs the checks that span keys, and returns all problems with their key paths.
//!
//! # Layout
//! - [`sections`]: the typed `[section]` structs.
//! - `schema`: each key's type and bounds, and cross-key checks.
//! - `reader`: typed reads from the merged tree, collecting problems; the unknown-key walk.
//! - `values`: parsing single values and the bounds of each setting.
//! - `source`: a TOML source that keeps numbers as written, so decimals stay exact.
//! - [`problems`]: `ConfigProblem` / `ConfigErrors`.
//! - [`secret`]: the redacting `Secret`.

mod intake;
mod notify;
pub mod problems;
mod reader;
pub mod reload;
mod schema;
pub mod secret;
pub mod sections;
mod source;
#[cfg(test)]
mod tests;
mod values;

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, Environment, ValueKind};
use serde::{Deserialize, Serialize};
use strategies::budget::BudgetLimits;
use strategies::exits::ExitRules;
use strategies::filter::FilterRules;
use strategies::sizing::{FeeSchedule, SizingRules};
use strategies::CoreConfig;

pub use intake::{
    IntakeKind, IntakeSettings, PollMode, PollSettings, WebhookSettings, WebsocketSettings,
};
pub use notify::{NotifyOn, NotifySink, SinkKind};
pub use problems::{ConfigErrors, ConfigProblem};
pub use reload::{ReloadPlan, ReloadReport};
pub use secret::Secret;
pub use sections::{
    AdminSettings, ExecutionSettings, ExitSettings, FeeRate, FeedKind, FeedSettings, FeesSettings,
    FilterSettings, MarketSelector, ReplaySettings, ReportSettings, RiskLimit, SignalSettings,
    SimSettings, SizingSettings, StorageSettings, EVENT_TYPES,
};

use reader::Reader;
use source::ExactToml;

/// The complete default configuration, compiled in so the binary runs with no files around.
pub const DEFAULT_TOML: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"));

/// The only place the API key is read from.
pub const API_KEY_VAR: &str = "REKKO_API_KEY";

/// The admin listener's bearer token, from the environment only.
pub const ADMIN_TOKEN_VAR: &str = "SHIFTBOT_ADMIN_TOKEN";

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SHIFTBOT";

/// Event types the core trades; the others only update prices.
const TRADED_EVENT_TYPES: [&str; 1] = ["price_shift"];

/// The effective configuration. Every value has been validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// From `REKKO_API_KEY` only. First so that TOML output puts it above the tables.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub api_key: Option<Secret>,
    /// From `SHIFTBOT_ADMIN_TOKEN` only.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub admin_token: Option<Secret>,
    pub feed: FeedSettings,
    pub filter: FilterSettings,
    pub signal: SignalSettings,
    pub sizing: SizingSettings,
    pub fees: FeesSettings,
    pub exits: ExitSettings,
    pub execution: ExecutionSettings,
    pub storage: StorageSettings,
    pub admin: AdminSettings,
    pub replay: ReplaySettings,
    pub report: ReportSettings,
    pub sim: SimSettings,
    /// `[[notify]]`: the notification sinks (none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifySink>,
    /// `[[intake]]`: where events come from (none: the `[feed]` stream alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intake: Vec<IntakeSettings>,
}

/// Inputs to [`Settings::load`], so tests never have to touch the process environment.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--config FILE`: may set only the keys that differ from the default.
    pub file: Option<PathBuf>,
    /// Environment variables; only `SHIFTBOT__*` and `REKKO_API_KEY` are looked at.
    pub env: Vec<(String, String)>,
}

impl Settings {
    /// Merge default, file and environment; validate; list every problem on failure.
    pub fn load(options: LoadOptions) -> Result<Settings, ConfigErrors> {
        let config = merged(&options)?;
        let ValueKind::Table(root) = &config.cache.kind else {
            return Err(ConfigErrors::one(
                "configuration",
                "the merged configuration is not a table",
            ));
        };
        let mut reader = Reader::new(root);
        let settings = schema::read(&mut reader);
        let notify = notify::read_notify(&mut reader, &options.env);
        // The embedded simulator signs its webhooks with a secret made for the run.
        let sim = settings
            .as_ref()
            .is_some_and(|s| s.feed.kind == FeedKind::Sim);
        // `[poll] max_per_day` (optional) is the poll intake's default cap.
        let poll_max_per_day = match root.contains_key("poll") {
            true => reader.unsigned("poll.max_per_day", 0..=1_000_000),
            false => None,
        };
        let context = intake::Context {
            env: &options.env,
            sim,
            poll_max_per_day,
        };
        let intake = intake::read_intakes(&mut reader, &context);
        let settings = settings
            .zip(notify)
            .zip(intake)
            .map(|((settings, notify), intake)| Settings {
                notify,
                intake,
                ..settings
            });
        reader.report_unknown_keys(schema::explain_unknown);
        let mut problems = reader.into_problems();
        if let Some(settings) = &settings {
            problems.extend(schema::validate(settings));
        }
        let api_key = secret_var(&options.env, API_KEY_VAR, &mut problems);
        let admin_token = secret_var(&options.env, ADMIN_TOKEN_VAR, &mut problems);
        match settings {
            Some(settings) if problems.is_empty() => Ok(Settings {
                api_key,
                admin_token,
                ..settings
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// [`Settings::load`] with the process environment.
    pub fn from_process(file: Option<PathBuf>) -> Result<Settings, ConfigErrors> {
        let mut env = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in std::env::vars_os() {
            let Ok(key) = key.into_string() else { continue };
            // Every variable is passed on: a `[[notify]]` sink names its own (`url_env`).
            match (value.into_string(), is_config_var(&key)) {
                (Ok(value), _) => env.push((key, value)),
                (Err(_), true) => problems.push(ConfigProblem::new(key, "is not valid UTF-8")),
                (Err(_), false) => {}
            }
        }
        match (
            Settings::load(LoadOptions { file, env }),
            problems.is_empty(),
        ) {
            (Ok(mut settings), true) => {
                let state_dir = std::env::var_os("STATE_DIRECTORY");
                let cwd = std::env::current_dir().unwrap_or_default();
                settings.storage.path =
                    resolve_store_path(&settings.storage.path, state_dir.as_deref(), &cwd);
                Ok(settings)
            }
            (Ok(_), false) => Err(ConfigErrors(problems)),
            (Err(ConfigErrors(more)), _) => {
                problems.extend(more);
                Err(ConfigErrors(problems))
            }
        }
    }

    /// What `run` needs beyond a valid file: the live feed needs the API key.
    pub fn check_ready_to_run(&self) -> Result<(), ConfigErrors> {
        if self.feed.kind == FeedKind::Rekko && self.api_key.is_none() {
            return Err(ConfigErrors::one(
                API_KEY_VAR,
                "not set; feed.kind = \"rekko\" needs the API key in this environment variable",
            ));
        }
        if !self.admin.listen.ip().is_loopback() && self.admin_token.is_none() {
            return Err(ConfigErrors::one(
                ADMIN_TOKEN_VAR,
                format!(
                    "not set; admin.listen {} is reachable beyond this machine, so its routes \
                     need a bearer token (or listen on 127.0.0.1)",
                    self.admin.listen
                ),
            ));
        }
        Ok(())
    }

    /// The pure core's view of the settings.
    pub fn core_config(&self) -> CoreConfig {
        let filter = &self.filter;
        let sizing = &self.sizing;
        CoreConfig {
            filter: FilterRules {
                min_shift_pct: filter.min_shift_pct,
                direction: filter.direction,
                platforms: filter.platforms.clone(),
                exclude_platforms: filter.exclude_platforms.clone(),
                markets: filter.markets.iter().map(|m| m.pattern().clone()).collect(),
                exclude_markets: filter
                    .exclude_markets
                    .iter()
                    .map(|m| m.pattern().clone())
                    .collect(),
                cooldown: chrono_duration(filter.cooldown),
                max_event_age: chrono_duration(filter.max_event_age),
                on_analysis_complete: filter.on_analysis_complete,
            },
            sizing: SizingRules {
                bankroll: sizing.bankroll,
                kelly_fraction: sizing.kelly_fraction,
                max_position_pct: sizing.max_position_pct,
                max_exposure_pct: sizing.max_exposure_pct,
                min_edge: sizing.min_edge,
            },
            fees: FeeSchedule {
                kalshi: self.fees.kalshi.rate,
                polymarket: self.fees.polymarket.rate,
            },
            budget: BudgetLimits {
                max_per_minute: self.signal.max_per_minute,
                max_per_day: self.signal.max_per_day,
            },
            exits: ExitRules {
                take_profit: nonzero(self.exits.take_profit),
                stop_loss: nonzero(self.exits.stop_loss),
                max_hold: (!self.exits.max_hold.is_zero())
                    .then(|| chrono_duration(self.exits.max_hold)),
                close_on_opposite_signal: self.exits.close_on_opposite_signal,
                settle_at: self.exits.settle_at,
            },
            trade_types: TRADED_EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
            snapshot_every: chrono_duration(self.report.snapshot_every),
        }
    }

    /// The simulator's settings from `[sim]`; everything else keeps the simulator's defaults
    /// (SSE format, heartbeats, no faults, no key).
    pub fn sim_config(&self) -> crate::sim::SimConfig {
        let sim = &self.sim;
        crate::sim::SimConfig {
            seed: sim.seed,
            markets: sim.markets,
            events_per_second: sim.events_per_second,
            total_events: (sim.total_events > 0).then_some(sim.total_events),
            signal_latency: sim.signal_latency,
            signal_skill: sim.signal_skill,
            signal_noise: sim.signal_noise,
            // Webhook pushes rehearse a sender that missed an answer now and then.
            faults: crate::sim::Faults {
                webhook_redeliver_every: 20,
                ..crate::sim::Faults::default()
            },
            ..crate::sim::SimConfig::default()
        }
    }

    /// The effective configuration as TOML, the API key shown as `[redacted]`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

/// Variables [`Settings::from_process`] passes on to [`Settings::load`].
/// Where a relative `storage.path` lives: under systemd's `$STATE_DIRECTORY` (its first entry)
/// when the bot runs as a service with `StateDirectory=`, else under the working directory.
/// The result is absolute, so `config check`, the start-up log and every error name one place.
pub fn resolve_store_path(
    path: &std::path::Path,
    state_dir: Option<&std::ffi::OsStr>,
    cwd: &std::path::Path,
) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let state_dir = state_dir
        .and_then(|dirs| dirs.to_str())
        .and_then(|dirs| dirs.split(':').find(|dir| !dir.is_empty()))
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute());
    state_dir.unwrap_or_else(|| cwd.to_path_buf()).join(path)
}

fn is_config_var(key: &str) -> bool {
    key == API_KEY_VAR
        || key == ADMIN_TOKEN_VAR
        || key
            .to_ascii_uppercase()
            .starts_with(&format!("{ENV_PREFIX}__"))
}

/// The three layers merged by the `config` crate, lowest first.
fn merged(options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let mut builder = Config::builder().add_source(ExactToml::new(
        "the embedded default (config/default.toml)",
        DEFAULT_TOML,
    ));
    if let Some(path) = &options.file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigErrors::one(&shown, format!("cannot read config file: {err}")))?;
        let file = ExactToml::new(shown.clone(), text);
        file.check_syntax()
            .map_err(|err| ConfigErrors::one(&shown, format!("not valid TOML: {err}")))?;
        builder = builder.add_source(file);
    }
    // No `try_parsing`/`list_separator`: config would turn "0.1" into an f64 before we saw it.
    // Values stay strings; the reader parses decimals exactly and splits list keys on commas.
    let env: HashMap<String, String> = options.env.iter().cloned().collect();
    builder = builder.add_source(
        Environment::with_prefix(ENV_PREFIX)
            .separator("__")
            .source(Some(env)),
    );
    builder.build().map_err(|err| {
        ConfigErrors::one("configuration", format!("cannot merge the layers: {err}"))
    })
}

/// `REKKO_API_KEY` or `SHIFTBOT_ADMIN_TOKEN`: unset or empty means none; one with whitespace
/// is refused (a copy-paste accident that would be answered with a confusing 401). Its value
/// is never echoed.
fn secret_var(
    env: &[(String, String)],
    name: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Secret> {
    let value = env
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)?;
    if value.is_empty() {
        return None;
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problems.push(ConfigProblem::new(
            name,
            "contains whitespace or control characters; check how it was exported",
        ));
        return None;
    }
    Some(Secret::new(value.clone()))
}

/// Zero turns an exit rule off.
fn nonzero(value: rust_decimal::Decimal) -> Option<rust_decimal::Decimal> {
    (!value.is_zero()).then_some(value)
}

/// Bounds in `schema.rs` keep every duration far inside chrono's range.
fn chrono_duration(value: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(value).unwrap_or(chrono::Duration::MAX)
}
