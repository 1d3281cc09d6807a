//! Validated domain types shared by every stage: platforms, sides, prices, markets, signals.
//!
//! Wire JSON is decoded into these at the edge (in the `shiftbot` crate); nothing in this crate
//! ever sees an unvalidated price or an unknown platform.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Wall-clock instant, always UTC. Passed in by the caller: logic never reads the clock.
pub type Timestamp = DateTime<Utc>;

/// Prediction-market venues the bot understands. Anything else on the wire is `invalid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Kalshi,
    Polymarket,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Kalshi, Platform::Polymarket];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Kalshi => "kalshi",
            Platform::Polymarket => "polymarket",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kalshi" => Ok(Platform::Kalshi),
            "polymarket" => Ok(Platform::Polymarket),
            other => Err(format!(
                "unknown platform {other:?} (known: kalshi, polymarket)"
            )),
        }
    }
}

/// The side of a binary contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Yes,
    No,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Yes => "yes",
            Side::No => "no",
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Yes => Side::No,
            Side::No => Side::Yes,
        }
    }

    /// Price of this side given the YES price: a NO contract costs `1 - p`.
    pub fn price_of(self, yes: Price) -> Price {
        match self {
            Side::Yes => yes,
            Side::No => yes.complement(),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yes" => Ok(Side::Yes),
            "no" => Ok(Side::No),
            other => Err(format!("unknown side {other:?} (expected yes or no)")),
        }
    }
}

/// Price of a binary contract, strictly inside (0, 1).
///
/// A price of exactly 0 or 1 is a settled market, not a tradeable quote, so it is rejected at the
/// edge rather than special-cased in sizing (where `1 - c` would divide by zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Price(Decimal);

impl Price {
    pub fn new(value: Decimal) -> Result<Price, String> {
        // `0 < mantissa / 10^scale < 1` on integers: every decoded event checks two prices,
        // and comparing decimals costs several times more.
        let mantissa = value.mantissa();
        if mantissa > 0 && mantissa < 10i128.pow(value.scale()) {
            Ok(Price(value))
        } else {
            Err(format!("price {value} is outside (0, 1)"))
        }
    }

    pub fn get(self) -> Decimal {
        self.0
    }

    /// `1 - p`, which is again strictly inside (0, 1).
    pub fn complement(self) -> Price {
        Price(Decimal::ONE - self.0)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <Decimal as Deserialize>::deserialize(d)?;
        Price::new(value).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A market on a platform: `kalshi/KXFED-26MAR19`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MarketKey {
    pub platform: Platform,
    pub market_id: String,
}

impl MarketKey {
    /// Fails on an empty or whitespace-only id, or one containing `/` (which would make the
    /// `platform/market_id` form ambiguous) or control characters.
    pub fn new(platform: Platform, market_id: impl Into<String>) -> Result<MarketKey, String> {
        let market_id = market_id.into();
        MarketKey::check(&market_id)?;
        Ok(MarketKey {
            platform,
            market_id,
        })
    }

    /// The rules of [`MarketKey::new`] without building the key: a decoder reading borrowed
    /// text checks an id once and copies it only when it keeps it.
    pub fn check(market_id: &str) -> Result<(), String> {
        // The common id, checked in one pass over its bytes (this runs for every event).
        let plain = |b: &u8| b.is_ascii_graphic() && *b != b'/';
        if market_id.bytes().all(|b| plain(&b)) && !market_id.is_empty() {
            return Ok(());
        }
        if market_id.trim().is_empty() {
            return Err("market_id is empty".to_string());
        }
        if market_id.contains('/') || market_id.chars().any(char::is_control) {
            return Err(format!(
                "market_id {market_id:?} contains '/' or a control character"
            ));
        }
        // U+FFFD is what invalid UTF-8 on the wire became: the id the server meant is lost, and
        // asking for a signal on a mangled id would be billed for nothing.
        if market_id.contains(char::REPLACEMENT_CHARACTER) {
            return Err(format!(
                "market_id {market_id:?} contains U+FFFD (bytes that were not valid UTF-8)"
            ));
        }
        Ok(())
    }
}

impl fmt::Display for MarketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.platform, self.market_id)
    }
}

impl FromStr for MarketKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (platform, id) = s
            .split_once('/')
            .ok_or_else(|| format!("market {s:?} is not of the form <platform>/<market_id>"))?;
        MarketKey::new(platform.parse()?, id)
    }
}

/// What the signal API recommends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recommendation {
    #[serde(rename = "BUY_YES")]
    BuyYes,
    #[serde(rename = "BUY_NO")]
    BuyNo,
    #[serde(rename = "NO_TRADE")]
    NoTrade,
}

impl Recommendation {
    pub fn side(self) -> Option<Side> {
        match self {
            Recommendation::BuyYes => Some(Side::Yes),
            Recommendation::BuyNo => Some(Side::No),
            Recommendation::NoTrade => None,
        }
    }
}

/// The validated part of a signal response that the strategy uses.
///
/// Only `recommendation` and `edge` are required on the wire; the rest is optional and, when
/// present, refines the decision (`probability` overrides `c + |edge|`, `expires_at` and
/// `freshness` can make the signal unusable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub recommendation: Recommendation,
    /// Estimated YES probability minus the market price (negative on `BUY_NO`).
    pub edge: Decimal,
    /// Estimated YES probability, when the API sends one. Inside [0, 1].
    pub probability: Option<Decimal>,
    pub expires_at: Option<Timestamp>,
    /// `"fresh"`, `"stale"`, `"expired"`, ... as sent; only `"expired"` has a meaning here.
    pub freshness: Option<String>,
}
