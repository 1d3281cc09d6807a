//! The typed sections of the configuration, one struct per `[section]` of the TOML file.
//!
//! Field names are the config keys (a public contract). Values are already validated when a
//! `Settings` exists; the structs are also `Serialize` so `config check` can print them, and
//! `Deserialize` with `deny_unknown_fields` so printed output reads back to the same settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strategies::filter::{Direction, MarketPattern, OnAnalysisComplete};
use strategies::Platform;

/// Event types the Rekko stream can send and `feed.events` may name.
pub const EVENT_TYPES: [&str; 3] = ["price_shift", "whale_alert", "analysis_complete"];

/// Where events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// The embedded simulator on 127.0.0.1, over real HTTP.
    Sim,
    /// The Rekko API at `feed.base_url`, with the key from `REKKO_API_KEY`.
    Rekko,
}

/// `[feed]`: the event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    pub kind: FeedKind,
    /// `http(s)://host[:port][/prefix]`, without a trailing slash; endpoints are appended.
    pub base_url: String,
    /// Event types to subscribe to (`events=` query parameter).
    pub events: Vec<String>,
    #[serde(with = "duration_text")]
    pub connect_timeout: Duration,
    /// A connection that completes no event (nor a heartbeat) for this long is replaced.
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// An event larger than this (the sum of its lines) is dropped with a warning.
    pub max_event_bytes: usize,
    /// `/readyz` answers 503 after this long without an event.
    #[serde(with = "duration_text")]
    pub stale_after: Duration,
    #[serde(with = "duration_text")]
    pub backoff_initial: Duration,
    #[serde(with = "duration_text")]
    pub backoff_max: Duration,
}

impl FeedSettings {
    /// `base_url` joined with an API path such as `/v1/stream`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
}

/// `[filter]`: which events deserve a (billed) signal request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSettings {
    /// Percent, as the API reports `change_pct`: `5` is 5 %.
    pub min_shift_pct: Decimal,
    pub direction: Direction,
    pub platforms: Vec<Platform>,
    pub exclude_platforms: Vec<Platform>,
    pub markets: Vec<MarketSelector>,
    pub exclude_markets: Vec<MarketSelector>,
    #[serde(with = "duration_text")]
    pub cooldown: Duration,
    /// Zero disables the age check.
    #[serde(with = "duration_text")]
    pub max_event_age: Duration,
    #[serde(default)]
    pub on_analysis_complete: OnAnalysisComplete,
}

/// The `risk_limit` sent with every signal request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLimit {
    Low,
    Medium,
    High,
}

impl RiskLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLimit::Low => "low",
            RiskLimit::Medium => "medium",
            RiskLimit::High => "high",
        }
    }
}

impl fmt::Display for RiskLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[signal]`: the `/v1/signals` client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSettings {
    pub risk_limit: RiskLimit,
    /// Per request, each attempt.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Retries after a 429/5xx/timeout; the first attempt is not counted.
    pub max_retries: u32,
    pub max_in_flight: usize,
    /// Zero means unlimited.
    pub max_per_minute: u32,
    /// Zero means unlimited.
    pub max_per_day: u32,
    /// Longest pause of signal requests a server's `Retry-After` can impose.
    #[serde(with = "duration_text")]
    pub max_pause: Duration,
}

/// `[sizing]`: fractional Kelly. Fractions are plain fractions: `0.05` is 5 %.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingSettings {
    pub bankroll: Decimal,
    pub kelly_fraction: Decimal,
    /// Of current cash, per position.
    pub max_position_pct: Decimal,
    /// Of the starting bankroll, across open positions.
    pub max_exposure_pct: Decimal,
    /// Smallest `w - c_eff` worth trading, in probability (`0.02` = 2 points).
    pub min_edge: Decimal,
}

/// `[fees.<platform>]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRate {
    /// `fee(c) = rate * c * (1 - c)` per contract.
    pub rate: Decimal,
}

/// `[fees]`: one table per platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesSettings {
    pub kalshi: FeeRate,
    pub polymarket: FeeRate,
}

impl FeesSettings {
    pub fn rate(&self, platform: Platform) -> Decimal {
        match platform {
            Platform::Kalshi => self.kalshi.rate,
            Platform::Polymarket => self.polymarket.rate,
        }
    }
}

/// `[exits]`: when an open position is sold back, and when a resolved market is settled.
/// Prices are absolute moves of the held side's price (`0.15` = 15 points); zero turns a rule off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitSettings {
    /// Sell once the held side is this far above the average entry; 0 = never.
    pub take_profit: Decimal,
    /// Sell once the held side is this far below the average entry; 0 = never.
    pub stop_loss: Decimal,
    /// Sell a position this long after it was opened; 0 = hold until settlement.
    #[serde(with = "duration_text")]
    pub max_hold: Duration,
    /// A signal for the other side sells the held side first.
    pub close_on_opposite_signal: bool,
    /// A resolved market settles YES at a last price >= this, NO at <= `1 - settle_at`.
    pub settle_at: Decimal,
    /// How often the resolution endpoint is asked about each market with an open position
    /// (calls may be billed, so rarely).
    #[serde(with = "duration_text")]
    pub resolution_poll: Duration,
}

/// `[execution]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSettings {
    /// Also report each paper fill to `/v1/trades/shadow`.
    pub mirror: bool,
}

/// `[storage]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// The sled directory; relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Raw events and decisions older than this are archived and removed; `None`: kept.
    #[serde(with = "optional_duration_text")]
    pub retain: Option<Duration>,
    /// How long the id of an archived event stays in the exactly-once index.
    #[serde(with = "duration_text")]
    pub dedupe_window: Duration,
}

/// `[admin]`: the running bot's read-only listener for the review commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Where `run` serves `positions`/`ledger`/`decisions`/`report` while it holds the store,
    /// and where those commands ask when they find the store locked.
    pub listen: std::net::SocketAddr,
    /// Write routes (reload) on a loopback listener without the bearer token.
    pub local_writes: bool,
}

/// `[report]`: the equity curve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Least time between two equity snapshots made because prices moved (a trade always
    /// makes one).
    #[serde(with = "duration_text")]
    pub snapshot_every: Duration,
}

/// `[replay]`: `shiftbot replay` and `shiftbot sweep`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// What answers a signal request the recording has no reply for.
    pub fallback: crate::replay::Fallback,
}

/// `[sim]`: the embedded simulator, used when `feed.kind = "sim"` and by `shiftbot sim`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    pub seed: u64,
    pub markets: u32,
    /// Zero means as fast as the client reads.
    pub events_per_second: u32,
    /// Zero means endless.
    pub total_events: u64,
    #[serde(with = "duration_text")]
    pub signal_latency: Duration,
    pub signal_skill: Decimal,
    pub signal_noise: Decimal,
}

/// A validated `filter.markets` entry that prints back as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSelector {
    text: String,
    pattern: MarketPattern,
}

impl MarketSelector {
    pub fn parse(text: &str) -> Result<MarketSelector, String> {
        let text = text.trim();
        MarketPattern::parse(text).map(|pattern| MarketSelector {
            text: text.to_string(),
            pattern,
        })
    }

    pub fn pattern(&self) -> &MarketPattern {
        &self.pattern
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for MarketSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MarketSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MarketSelector::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Durations as humantime text (`"30s"`, `"5m"`), the way they are written in the files.
/// A duration, or `"off"`.
pub(crate) mod optional_duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::duration_text::serialize(value, serializer),
            None => serializer.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim() {
            "off" => Ok(None),
            text => humantime::parse_duration(text)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
