//! The filter stage: which events are worth a (billed) signal request.
//!
//! Checks run cheapest-and-most-telling first: age, market lists, threshold, cooldown. Each
//! refusal names the rule that refused and the numbers involved, so `decisions` explains itself.

use chrono::Duration;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decision::{Outcome, Reason, Refusal};
use crate::event::PriceShift;
use crate::types::{MarketKey, Platform, Timestamp};

/// Which direction of move counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Both,
    Up,
    Down,
}

/// What an `analysis_complete` event does (`filter.on_analysis_complete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAnalysisComplete {
    /// Decided `ignored_type`, like any event that is not traded.
    #[default]
    Ignore,
    /// Ask for the market's signal (the analysis is then cached on the API's side), through
    /// the stages that apply to it: age, market lists, cooldown, then the budget.
    Signal,
}

/// The wire type of an analysis completion.
pub const ANALYSIS_COMPLETE: &str = "analysis_complete";

/// A market selector in allow/deny lists: `platform/ID`, or a bare `ID` on any platform; a
/// trailing `*` matches any id with that prefix (`kalshi/KXFED*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketPattern {
    platform: Option<Platform>,
    id: String,
    prefix: bool,
}

impl MarketPattern {
    pub fn parse(text: &str) -> Result<MarketPattern, String> {
        let (platform, rest) = match text.split_once('/') {
            Some((p, rest)) => (Some(p.parse::<Platform>()?), rest),
            None => (None, text),
        };
        let (id, prefix) = match rest.strip_suffix('*') {
            Some(id) => (id, true),
            None => (rest, false),
        };
        if id.contains('*') {
            return Err(format!(
                "market pattern {text:?}: '*' is only allowed at the end"
            ));
        }
        if id.is_empty() && !prefix {
            return Err(format!("market pattern {text:?} has an empty market id"));
        }
        Ok(MarketPattern {
            platform,
            id: id.to_string(),
            prefix,
        })
    }

    pub fn matches(&self, market: &MarketKey) -> bool {
        if self.platform.is_some_and(|p| p != market.platform) {
            return false;
        }
        if self.prefix {
            market.market_id.starts_with(&self.id)
        } else {
            market.market_id == self.id
        }
    }
}

/// Thresholds from `[filter]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRules {
    /// Minimum `|change_pct|`, in percent as the API reports it (`5` = 5 %).
    pub min_shift_pct: Decimal,
    pub direction: Direction,
    /// Platforms to trade; empty means all.
    pub platforms: Vec<Platform>,
    pub exclude_platforms: Vec<Platform>,
    /// Markets to trade; empty means all.
    pub markets: Vec<MarketPattern>,
    pub exclude_markets: Vec<MarketPattern>,
    /// After a market is sent for a signal, further events for it are skipped for this long.
    pub cooldown: Duration,
    /// Events older than this (by their own timestamp, else receive time) are `stale`.
    /// Zero disables the check.
    pub max_event_age: Duration,
    pub on_analysis_complete: OnAnalysisComplete,
}

impl Default for FilterRules {
    fn default() -> Self {
        FilterRules {
            min_shift_pct: Decimal::new(5, 0),
            direction: Direction::Both,
            platforms: Vec::new(),
            exclude_platforms: Vec::new(),
            markets: Vec::new(),
            exclude_markets: Vec::new(),
            cooldown: Duration::seconds(60),
            max_event_age: Duration::seconds(120),
            on_analysis_complete: OnAnalysisComplete::Ignore,
        }
    }
}

/// Age check alone: also used when an event waiting for a signal is resumed after a restart.
pub fn check_age(
    rules: &FilterRules,
    event_time: Timestamp,
    now: Timestamp,
) -> Result<(), Refusal> {
    if rules.max_event_age.is_zero() {
        return Ok(());
    }
    let age = now - event_time;
    if age > rules.max_event_age {
        return Err(Refusal::new(
            Outcome::Stale,
            Reason::Stale {
                age_s: age.num_seconds(),
                max_s: rules.max_event_age.num_seconds(),
            },
        ));
    }
    Ok(())
}

/// Platform and market allow/deny lists.
pub fn check_market(rules: &FilterRules, market: &MarketKey) -> Result<(), Refusal> {
    if !rules.platforms.is_empty() && !rules.platforms.contains(&market.platform) {
        return Err(Refusal::new(
            Outcome::FilteredMarket,
            format!("platform {} is not in filter.platforms", market.platform),
        ));
    }
    if rules.exclude_platforms.contains(&market.platform) {
        return Err(Refusal::new(
            Outcome::FilteredMarket,
            format!(
                "platform {} is in filter.exclude_platforms",
                market.platform
            ),
        ));
    }
    if !rules.markets.is_empty() && !rules.markets.iter().any(|p| p.matches(market)) {
        return Err(Refusal::new(
            Outcome::FilteredMarket,
            format!("market {market} is not in filter.markets"),
        ));
    }
    if rules.exclude_markets.iter().any(|p| p.matches(market)) {
        return Err(Refusal::new(
            Outcome::FilteredMarket,
            format!("market {market} is in filter.exclude_markets"),
        ));
    }
    Ok(())
}

/// Size and direction of the move.
pub fn check_threshold(rules: &FilterRules, shift: &PriceShift) -> Result<(), Refusal> {
    let change = shift.change_pct;
    let wrong_way = match rules.direction {
        Direction::Both => false,
        Direction::Up => change <= Decimal::ZERO,
        Direction::Down => change >= Decimal::ZERO,
    };
    if wrong_way {
        return Err(Refusal::new(
            Outcome::BelowThreshold,
            Reason::WrongDirection {
                change,
                direction: rules.direction,
            },
        ));
    }
    if change.abs() < rules.min_shift_pct {
        return Err(Refusal::new(
            Outcome::BelowThreshold,
            Reason::BelowMinShift {
                change_abs: change.abs(),
                min: rules.min_shift_pct,
            },
        ));
    }
    Ok(())
}

/// Per-market cooldown since the market was last sent for a signal.
pub fn check_cooldown(
    rules: &FilterRules,
    last_signal_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Refusal> {
    match last_signal_at {
        Some(last) if now - last < rules.cooldown => Err(Refusal::new(
            Outcome::Cooldown,
            Reason::Cooldown {
                ago_s: (now - last).num_seconds(),
                cooldown_s: rules.cooldown.num_seconds(),
            },
        )),
        _ => Ok(()),
    }
}

/// The filter checks that apply to an `analysis_complete` (it has no move to measure): age
/// (by its receive time), market lists, cooldown.
pub fn screen_analysis(
    rules: &FilterRules,
    market: &MarketKey,
    received_at: Timestamp,
    last_signal_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Refusal> {
    check_age(rules, received_at, now)?;
    check_market(rules, market)?;
    check_cooldown(rules, last_signal_at, now)
}

/// All filter checks for a price shift, in order.
pub fn screen(
    rules: &FilterRules,
    shift: &PriceShift,
    received_at: Timestamp,
    last_signal_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Refusal> {
    check_age(rules, shift.timestamp.unwrap_or(received_at), now)?;
    check_market(rules, &shift.market)?;
    check_threshold(rules, shift)?;
    check_cooldown(rules, last_signal_at, now)
}
