//! Notifications: what the bot tells its operator, and how it gets there.
//!
//! # Layout
//! - this file: the message ([`Message`], the `webhook` sink's body, a public contract) and
//!   the builders for each kind (`open`, `close`, `settle`, `error`, `daily`, `test`);
//! - [`outbox`]: the engine's side: which sinks want a message, the per-sink backlog bound,
//!   the daily schedule and the feed-down alarm; messages go into the store's `notify` tree in
//!   the same batch as the decision that caused them;
//! - [`sink`]: one HTTP request per kind (bodies, signatures, length limits) and how its
//!   answer is read (`Retry-After`, Telegram's `retry_after`);
//! - [`delivery`]: one task per sink: in order, with a timeout, retries with backoff; a
//!   message leaves the store only once its sink has accepted it (at least once, and every
//!   retry carries the same id, so a receiver dedupes).
//!
//! Nothing here can slow a decision: the engine only appends to its batch and, once the batch
//! is durable, hands the message to the sink's task over an unbounded channel; the backlog a
//! dead sink can build is bounded by `max_backlog`, beyond which new messages are dropped,
//! counted (`shiftbot_notifications_dropped_total{sink}`) and logged.

pub mod delivery;
pub mod outbox;
pub mod sink;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use strategies::{Timestamp, Trade, TradeAction};

/// What a message is about: the `kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Open,
    Close,
    Settle,
    Error,
    Daily,
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Open => "open",
            MessageKind::Close => "close",
            MessageKind::Settle => "settle",
            MessageKind::Error => "error",
            MessageKind::Daily => "daily",
            MessageKind::Test => "test",
        }
    }
}

/// `error`: a stable code and the human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorNote {
    /// `feed_down`, `quota_pause`, `store_error`, `key_rejected`.
    pub code: String,
    pub message: String,
}

/// `summary`: the daily figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailySummary {
    /// The UTC day that ended (or is ending) at the summary's time, `YYYY-MM-DD`.
    pub date: String,
    pub starting_bankroll: Decimal,
    pub cash: Decimal,
    /// Cash plus open positions at their last prices.
    pub equity: Decimal,
    /// Equity minus the starting bankroll.
    pub pnl: Decimal,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    /// Trades in the 24 hours before the summary.
    pub trades: u64,
    pub open_positions: u64,
}

/// One notification: the `webhook` sink's body, field for field (`null` where a field does
/// not apply). Stored as it is in the outbox, so a retry after a crash is the same message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stable: derived from what caused the message (also the `webhook-id` header).
    pub id: String,
    pub kind: MessageKind,
    /// RFC 3339.
    pub at: Timestamp,
    /// The line chat sinks get.
    pub text: String,
    /// The trade, exactly as a line of `ledger --json`.
    pub trade: Option<Trade>,
    pub error: Option<ErrorNote>,
    pub summary: Option<DailySummary>,
}

impl Message {
    /// The message for one trade. The id is derived from the trade (its id and time), so the
    /// same trade always gives the same message id, across a crash and a resend.
    pub fn trade(trade: &Trade, reason: &str) -> Message {
        let kind = match trade.action {
            TradeAction::Open => MessageKind::Open,
            TradeAction::Close => MessageKind::Close,
            TradeAction::Settle => MessageKind::Settle,
        };
        let pnl = trade
            .realized_pnl
            .map(|pnl| format!(", realized P&L {}", signed(pnl)))
            .unwrap_or_default();
        let text = format!(
            "{} {}/{} {} x{} @ {}: cost {}, fee {}{pnl}. {reason}",
            kind.as_str().to_uppercase(),
            trade.platform,
            trade.market_id,
            trade.side,
            trade.contracts,
            trade.price,
            trade.cost,
            trade.fee,
        );
        Message {
            id: format!(
                "msg_trade_{}_{}",
                trade.trade_id,
                trade.placed_at.timestamp_nanos_opt().unwrap_or_default()
            ),
            kind,
            at: trade.placed_at,
            text,
            trade: Some(trade.clone()),
            error: None,
            summary: None,
        }
    }

    /// An error the operator should know about.
    pub fn error(code: &str, message: &str, at: Timestamp) -> Message {
        Message {
            id: format!(
                "msg_error_{code}_{}",
                at.timestamp_nanos_opt().unwrap_or_default()
            ),
            kind: MessageKind::Error,
            at,
            text: format!("shiftbot error ({code}): {message}"),
            trade: None,
            error: Some(ErrorNote {
                code: code.to_string(),
                message: message.to_string(),
            }),
            summary: None,
        }
    }

    /// The daily summary. One id per day: a second summary of the same day is the same one.
    pub fn daily(summary: DailySummary, at: Timestamp) -> Message {
        let text = format!(
            "shiftbot daily {}: equity {:.2} ({} since start), cash {:.2}, realized P&L {}, \
             fees {:.2}, {} trades in 24h, {} open positions",
            summary.date,
            summary.equity,
            signed(summary.pnl.round_dp(2)),
            summary.cash,
            signed(summary.realized_pnl.round_dp(2)),
            summary.fees,
            summary.trades,
            summary.open_positions,
        );
        Message {
            id: format!("msg_daily_{}", summary.date),
            kind: MessageKind::Daily,
            at,
            text,
            trade: None,
            error: None,
            summary: Some(summary),
        }
    }

    /// `shiftbot notify test`.
    pub fn test(at: Timestamp) -> Message {
        Message {
            id: format!("msg_test_{}", at.timestamp_nanos_opt().unwrap_or_default()),
            kind: MessageKind::Test,
            at,
            text: "shiftbot test message: this sink is configured and reachable".to_string(),
            trade: None,
            error: None,
            summary: None,
        }
    }
}

/// With its sign, and two decimals at least (money as people read it).
fn signed(value: Decimal) -> String {
    let text = match value.scale() < 2 {
        true => format!("{value:.2}"),
        false => value.to_string(),
    };
    match value.is_sign_negative() {
        true => text,
        false => format!("+{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use strategies::{Platform, Side};

    fn trade(action: TradeAction) -> Trade {
        Trade {
            trade_id: 7,
            event_id: "e7".into(),
            platform: Platform::Kalshi,
            market_id: "KXFED".into(),
            side: Side::Yes,
            action,
            contracts: 10,
            price: dec!(0.40),
            win_probability: None,
            cost: dec!(4.00),
            fee: dec!(0.17),
            cash_before: dec!(100),
            cash_after: dec!(95.83),
            realized_pnl: (action != TradeAction::Open).then_some(dec!(-1.25)),
            placed_at: chrono::DateTime::from_timestamp(1_800_000_000, 5).unwrap_or_default(),
        }
    }

    #[test]
    fn the_body_has_every_contract_field_and_the_trade_as_the_ledger_prints_it() {
        let t = trade(TradeAction::Close);
        let message = Message::trade(&t, "take_profit");
        let body = serde_json::to_value(&message).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys.len(),
            7,
            "{keys:?}: id, kind, at, text, trade, error, summary"
        );
        for key in ["id", "kind", "at", "text", "trade", "error", "summary"] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(body["kind"], "close");
        assert_eq!(body["at"], "2027-01-15T08:00:00.000000005Z");
        assert_eq!(body["trade"], serde_json::to_value(&t).unwrap());
        assert!(body["error"].is_null() && body["summary"].is_null());
        assert_eq!(
            message.text,
            "CLOSE kalshi/KXFED yes x10 @ 0.40: cost 4.00, fee 0.17, realized P&L -1.25. take_profit"
        );
        // Same trade, same id: a resend after a crash is recognisable.
        assert_eq!(Message::trade(&t, "other words").id, message.id);
        let back: Message = serde_json::from_value(body).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn an_error_carries_its_code_and_a_daily_summary_one_id_per_day() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let error = Message::error("feed_down", "no event for 5m", at);
        let body = serde_json::to_value(&error).unwrap();
        assert_eq!(body["error"]["code"], "feed_down");
        assert_eq!(body["kind"], "error");
        let summary = DailySummary {
            date: "2026-01-14".into(),
            starting_bankroll: dec!(10000),
            cash: dec!(9000),
            equity: dec!(10012.5),
            pnl: dec!(12.5),
            realized_pnl: dec!(3),
            fees: dec!(1.5),
            trades: 4,
            open_positions: 2,
        };
        let daily = Message::daily(summary.clone(), at);
        assert_eq!(daily.id, "msg_daily_2026-01-14");
        assert_eq!(
            Message::daily(summary, at + chrono::Duration::hours(1)).id,
            daily.id
        );
        assert!(
            daily.text.contains("equity 10012.50 (+12.50 since start)"),
            "{}",
            daily.text
        );
    }
}
