//! The simulator's answer to `POST /v1/signals`: a pure function of a market [`Quote`].
//!
//! The "model" behind the signal is the market model's hidden truth, so the edge is real:
//! `edge = probability - price`. The recommendation follows the sign of the edge once it clears
//! a threshold that depends on the requested `risk_limit` (low 6, medium 4, high 2.5 points);
//! below it, or on a closed market, the answer is `NO_TRADE`.

use rust_decimal::{Decimal, RoundingStrategy};

use strategies::Timestamp;

use super::json::JsonObject;
use super::model::Quote;

/// Risk appetite sent by the client (`risk_limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    /// Parses the `risk_limit` field: absent means medium.
    pub fn parse(value: Option<&serde_json::Value>) -> Result<Risk, String> {
        match value {
            None | Some(serde_json::Value::Null) => Ok(Risk::Medium),
            Some(serde_json::Value::String(text)) => match text.to_ascii_lowercase().as_str() {
                "low" => Ok(Risk::Low),
                "medium" => Ok(Risk::Medium),
                "high" => Ok(Risk::High),
                _ => Err(format!(
                    "risk_limit must be one of low, medium, high, got {text:?}"
                )),
            },
            Some(other) => Err(format!(
                "risk_limit must be one of low, medium, high, got {other}"
            )),
        }
    }

    /// Smallest |edge| the signal acts on.
    pub fn threshold(self) -> Decimal {
        match self {
            Risk::Low => Decimal::new(6, 2),
            Risk::Medium => Decimal::new(4, 2),
            Risk::High => Decimal::new(25, 3),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recommendation {
    BuyYes,
    BuyNo,
    NoTrade,
}

impl Recommendation {
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::BuyYes => "BUY_YES",
            Recommendation::BuyNo => "BUY_NO",
            Recommendation::NoTrade => "NO_TRADE",
        }
    }
}

/// The model-dependent part of a Signal (times and ids are added by the endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice {
    pub recommendation: Recommendation,
    /// YES probability minus YES price: negative favours NO.
    pub edge: Decimal,
    pub probability: Decimal,
    pub target_price: Decimal,
    pub confidence: Decimal,
    pub risk_rating: &'static str,
    /// Suggested stake as a fraction of bankroll (quarter Kelly, at most 10 %).
    pub size_pct: Decimal,
    pub time_horizon: &'static str,
}

pub fn advise(quote: &Quote, risk: Risk) -> Advice {
    let round = |value: Decimal, dp: u32| {
        value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    };
    let edge = round(quote.probability - quote.price, 4);
    let threshold = risk.threshold();
    let recommendation = if quote.closed {
        Recommendation::NoTrade
    } else if edge >= threshold {
        Recommendation::BuyYes
    } else if edge <= -threshold {
        Recommendation::BuyNo
    } else {
        Recommendation::NoTrade
    };
    let bought_price = match recommendation {
        Recommendation::BuyYes => Some(quote.price),
        Recommendation::BuyNo => Some(Decimal::ONE - quote.price),
        Recommendation::NoTrade => None,
    };
    let size_pct = match bought_price {
        // Full Kelly for a binary contract without fees is |edge| / (1 - c).
        Some(c) if c < Decimal::ONE => {
            let quarter_kelly = edge.abs() / (Decimal::ONE - c) / Decimal::from(4);
            round(quarter_kelly.min(Decimal::new(1, 1)), 4)
        }
        _ => Decimal::ZERO,
    };
    let confidence = (Decimal::new(5, 1) + edge.abs() * Decimal::TWO
        - quote.volatility * Decimal::TWO)
        .clamp(Decimal::new(3, 1), Decimal::new(95, 2));
    let risk_rating = if quote.volatility < Decimal::new(15, 3) {
        "low"
    } else if quote.volatility < Decimal::new(25, 3) {
        "medium"
    } else {
        "high"
    };
    Advice {
        recommendation,
        edge,
        probability: quote.probability,
        target_price: round(quote.probability, 2).clamp(Decimal::new(1, 2), Decimal::new(99, 2)),
        confidence: round(confidence, 2),
        risk_rating,
        size_pct,
        time_horizon: if quote.closing_soon { "hours" } else { "days" },
    }
}

/// How long a simulated signal stays valid (`expires_at` − `generated_at`).
const SIGNAL_VALIDITY_MINUTES: i64 = 15;

/// The `/v1/signals` response body for `quote` and its `advice`, generated at `now`: what the
/// API answers and what `sim --record` records, from one place.
pub(crate) fn signal_body(quote: &Quote, advice: &Advice, now: Timestamp) -> String {
    let expires_at = now
        .checked_add_signed(chrono::Duration::minutes(SIGNAL_VALIDITY_MINUTES))
        .unwrap_or(now);
    JsonObject::new()
        .string("market", &format!("{}/{}", quote.platform, quote.market_id))
        .string("platform", quote.platform.as_str())
        .string("market_id", &quote.market_id)
        .string("recommendation", advice.recommendation.as_str())
        .number("edge", advice.edge)
        .number("probability", advice.probability)
        .number("market_price", quote.price)
        .number("target_price", advice.target_price)
        .number("confidence", advice.confidence)
        .string("risk_rating", advice.risk_rating)
        .number("size_pct", advice.size_pct)
        .string("time_horizon", advice.time_horizon)
        .string("freshness", "fresh")
        .timestamp("generated_at", now)
        .timestamp("expires_at", expires_at)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use strategies::Platform;

    fn quote(probability: Decimal, price: Decimal) -> Quote {
        Quote {
            platform: Platform::Kalshi,
            market_id: "KXSIM-001".into(),
            probability,
            price,
            volatility: dec!(0.02),
            closing_soon: false,
            closed: false,
        }
    }

    #[test]
    fn recommendation_follows_the_sign_of_the_edge_past_the_threshold() {
        let yes = advise(&quote(dec!(0.60), dec!(0.50)), Risk::Medium);
        assert_eq!(yes.recommendation, Recommendation::BuyYes);
        assert_eq!(yes.edge, dec!(0.10));
        // quarter Kelly: 0.10 / 0.5 / 4 = 0.05
        assert_eq!(yes.size_pct, dec!(0.05));
        let no = advise(&quote(dec!(0.30), dec!(0.45)), Risk::Medium);
        assert_eq!(no.recommendation, Recommendation::BuyNo);
        assert_eq!(no.edge, dec!(-0.15));
        let small = advise(&quote(dec!(0.52), dec!(0.50)), Risk::Medium);
        assert_eq!(small.recommendation, Recommendation::NoTrade);
        assert_eq!(small.size_pct, Decimal::ZERO);
        // The same edge trades for a risk-seeking client only.
        let edge3 = quote(dec!(0.53), dec!(0.50));
        assert_eq!(
            advise(&edge3, Risk::High).recommendation,
            Recommendation::BuyYes
        );
        assert_eq!(
            advise(&edge3, Risk::Low).recommendation,
            Recommendation::NoTrade
        );
    }

    #[test]
    fn closed_markets_never_trade() {
        let mut closed = quote(dec!(0.9), dec!(0.5));
        closed.closed = true;
        assert_eq!(
            advise(&closed, Risk::High).recommendation,
            Recommendation::NoTrade
        );
    }

    #[test]
    fn risk_limit_parsing() {
        assert_eq!(Risk::parse(None), Ok(Risk::Medium));
        assert_eq!(
            Risk::parse(Some(&serde_json::json!("HIGH"))),
            Ok(Risk::High)
        );
        assert!(Risk::parse(Some(&serde_json::json!("extreme"))).is_err());
        assert!(Risk::parse(Some(&serde_json::json!(3))).is_err());
    }
}
