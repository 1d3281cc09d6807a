//! The review commands' arguments, parsed by clap and serializable, so that the very same parsed
//! command can be sent to a running bot's admin listener and executed there.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strategies::{Decision, Outcome, Platform, Side, Timestamp, Trade, TradeAction};

/// Filters shared by `ledger` and `decisions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct Filters {
    /// Only this market: `platform/market_id`, or a bare market id on any platform.
    #[arg(long, value_name = "MARKET", value_parser = parse_market)]
    pub market: Option<MarketFilter>,
    /// Only since this instant: RFC 3339 (2026-03-01T12:00:00Z) or a duration ago (24h, 7d).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only this side (yes or no).
    #[arg(long, value_name = "SIDE", value_parser = parse_side)]
    pub side: Option<Side>,
    /// Only this trade action: open, close or settle.
    #[arg(long, value_name = "ACTION", value_parser = parse_action)]
    pub action: Option<TradeAction>,
    /// Only the last N rows (after the other filters).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// `--market`: a market on one platform, or an id on any platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketFilter {
    pub platform: Option<Platform>,
    pub market_id: String,
}

impl MarketFilter {
    pub fn matches(&self, platform: Platform, market_id: &str) -> bool {
        self.platform.is_none_or(|p| p == platform) && self.market_id == market_id
    }
}

/// `--since`: an instant, or a duration before the command's `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    At(Timestamp),
    Ago(Duration),
}

impl Since {
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            Since::At(at) => at,
            Since::Ago(ago) => chrono::Duration::from_std(ago)
                .ok()
                .and_then(|ago| now.checked_sub_signed(ago))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        }
    }
}

/// `shiftbot positions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct PositionsArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `shiftbot ledger`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct LedgerArgs {
    /// One JSON object per line (the `ledger --json` contract).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV for spreadsheets (RFC 4180, header row, CRLF).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub filters: Filters,
}

/// `shiftbot decisions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct DecisionsArgs {
    /// One JSON object per line (the `decisions --json` contract); with --summary one object.
    #[arg(long)]
    pub json: bool,
    /// Count decisions by outcome and show the funnel received → passed threshold →
    /// signalled → traded.
    #[arg(long)]
    pub summary: bool,
    /// Only these outcomes (repeat or comma-separate: --outcome traded,no_trade).
    #[arg(long, value_name = "OUTCOME", value_delimiter = ',', value_parser = parse_outcome)]
    pub outcome: Vec<Outcome>,
    #[command(flatten)]
    pub filters: Filters,
}

/// `shiftbot report`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct ReportArgs {
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also draw the equity curve and drawdown into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

/// One review command, as parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ReviewCommand {
    Positions(PositionsArgs),
    Ledger(LedgerArgs),
    Decisions(DecisionsArgs),
    Report(ReportArgs),
}

impl Filters {
    /// Does a trade pass `--market`, `--since`, `--side` and `--action`?
    pub fn keeps_trade(&self, trade: &Trade, since: Option<Timestamp>) -> bool {
        self.market
            .as_ref()
            .is_none_or(|m| m.matches(trade.platform, &trade.market_id))
            && since.is_none_or(|s| trade.placed_at >= s)
            && self.side.is_none_or(|s| trade.side == s)
            && self.action.is_none_or(|a| trade.action == a)
    }

    /// Does a decision pass them? `--side` matches the side the signal recommended or a trade
    /// made; `--action` matches decisions that made a trade with that action.
    pub fn keeps_decision(&self, decision: &Decision, since: Option<Timestamp>) -> bool {
        let market_ok = self.market.as_ref().is_none_or(|f| {
            decision
                .market
                .as_ref()
                .is_some_and(|m| f.matches(m.platform, &m.market_id))
        });
        let side_ok = self.side.is_none_or(|side| {
            decision
                .signal
                .as_ref()
                .and_then(|s| s.recommendation.side())
                .is_some_and(|s| s == side)
                || decision.trades.iter().any(|t| t.side == side)
        });
        let action_ok = self
            .action
            .is_none_or(|a| decision.trades.iter().any(|t| t.action == a));
        market_ok && since.is_none_or(|s| decision.decided_at >= s) && side_ok && action_ok
    }
}

/// Keep only the last `limit` items.
/// The records `keep` accepts, oldest first. With a limit, only the newest `n`, read from the
/// end: a request for the last 20 of two million decisions decodes 20 (and those it skips),
/// and holds no more than `n` in memory.
pub fn newest<T, E>(
    records: impl DoubleEndedIterator<Item = Result<T, E>>,
    keep: impl Fn(&T) -> bool,
    limit: Option<usize>,
) -> Result<Vec<T>, E> {
    let kept = |r: &Result<T, E>| r.as_ref().map_or(true, &keep);
    match limit {
        None => records.filter(kept).collect(),
        Some(n) => {
            let mut last: Vec<T> = records
                .rev()
                .filter(kept)
                .take(n)
                .collect::<Result<_, _>>()?;
            last.reverse();
            Ok(last)
        }
    }
}

pub fn parse_market(text: &str) -> Result<MarketFilter, String> {
    let text = text.trim();
    if let Some((platform, id)) = text.split_once('/') {
        let key = strategies::MarketKey::new(platform.parse()?, id)?;
        return Ok(MarketFilter {
            platform: Some(key.platform),
            market_id: key.market_id,
        });
    }
    if text.is_empty() {
        return Err("market is empty".to_string());
    }
    Ok(MarketFilter {
        platform: None,
        market_id: text.to_string(),
    })
}

pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Since::At(at.with_timezone(&chrono::Utc)));
    }
    humantime::parse_duration(text).map(Since::Ago).map_err(|e| {
        format!("{text:?} is neither an RFC 3339 instant (2026-03-01T12:00:00Z) nor a duration (24h): {e}")
    })
}

pub fn parse_side(text: &str) -> Result<Side, String> {
    text.parse()
}

pub fn parse_action(text: &str) -> Result<TradeAction, String> {
    match text.to_ascii_lowercase().as_str() {
        "open" => Ok(TradeAction::Open),
        "close" => Ok(TradeAction::Close),
        "settle" => Ok(TradeAction::Settle),
        other => Err(format!(
            "unknown action {other:?} (expected open, close or settle)"
        )),
    }
}

pub fn parse_outcome(text: &str) -> Result<Outcome, String> {
    let text = text.trim();
    Outcome::ALL
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| {
            let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
            format!("unknown outcome {text:?} (known: {})", known.join(", "))
        })
}

/// The lowercase name of a trade action, as in `ledger --json`.
pub fn action_name(action: TradeAction) -> &'static str {
    match action {
        TradeAction::Open => "open",
        TradeAction::Close => "close",
        TradeAction::Settle => "settle",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn since_reads_instants_and_durations() {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 3, 5, 12, 0, 0)
            .single()
            .expect("valid");
        let at = parse_since("2026-03-01T12:00:00+01:00").expect("rfc3339");
        assert_eq!(
            at.resolve(now),
            chrono::Utc
                .with_ymd_and_hms(2026, 3, 1, 11, 0, 0)
                .single()
                .expect("valid")
        );
        let ago = parse_since("24h").expect("duration");
        assert_eq!(ago.resolve(now), now - chrono::Duration::hours(24));
        let err = parse_since("yesterday").expect_err("neither");
        assert!(err.contains("RFC 3339"), "{err}");
        assert_eq!(
            parse_since("100000000000d").map(|s| s.resolve(now) < now),
            Ok(true)
        );
    }

    #[test]
    fn market_filters_with_and_without_platform() {
        let exact = parse_market("kalshi/KX-1").expect("valid");
        assert!(exact.matches(Platform::Kalshi, "KX-1"));
        assert!(!exact.matches(Platform::Polymarket, "KX-1"));
        let bare = parse_market("KX-1").expect("valid");
        assert!(bare.matches(Platform::Polymarket, "KX-1"));
        assert!(!bare.matches(Platform::Polymarket, "KX-2"));
        assert!(parse_market("nyse/X").is_err());
        assert!(parse_market("kalshi/").is_err());
        assert!(parse_market(" ").is_err());
    }

    #[test]
    fn outcomes_and_actions_parse_by_their_contract_names() {
        assert_eq!(parse_outcome("edge_below_min"), Ok(Outcome::EdgeBelowMin));
        assert!(parse_outcome("won")
            .expect_err("unknown")
            .contains("traded"));
        assert_eq!(parse_action("Settle"), Ok(TradeAction::Settle));
        assert!(parse_action("buy").is_err());
        let ok = |v: Vec<i32>| v.into_iter().map(Ok::<i32, ()>);
        let all = |_: &i32| true;
        assert_eq!(newest(ok(vec![1, 2, 3, 4]), all, Some(2)), Ok(vec![3, 4]));
        assert_eq!(newest(ok(vec![1, 2]), all, Some(5)), Ok(vec![1, 2]));
        assert_eq!(newest(ok(vec![1, 2]), all, None), Ok(vec![1, 2]));
        let odd = |n: &i32| n % 2 == 1;
        assert_eq!(
            newest(ok(vec![1, 2, 3, 4, 5, 6]), odd, Some(2)),
            Ok(vec![3, 5])
        );
        assert_eq!(newest(ok(vec![1, 2, 3, 4]), odd, None), Ok(vec![1, 3]));
        // An unreadable record among the newest is an error, not a silent gap.
        let broken = vec![Ok(1), Err(()), Ok(3)].into_iter();
        assert_eq!(newest(broken, all, Some(2)), Err(()));
    }
}
