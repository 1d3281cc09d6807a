//! The simulator's answer to `POST /v1/signals`: a pure function of a market [`Quote`] and the
//! signal service's [`Skill`].
//!
//! The service *estimates* the probability: it sees `signal_skill` of the hidden edge and errs
//! by a normal error of spread `signal_noise`, `estimate = price + skill * (probability -
//! price) + noise * z`, with `z` drawn from the seed, the market and its price (the same quote
//! gets the same answer: runs are reproducible). Skill 1 and noise 0 is an oracle that knows
//! the model's truth; skill 0 knows nothing. The answer's edge is `estimate - price`, and the
//! recommendation follows its sign once it clears a threshold that depends on the requested
//! `risk_limit` (low 6, medium 4, high 2.5 points); below it, or on a closed market, the answer
//! is `NO_TRADE`.

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

/// How well the simulated signal service knows the truth (`sim.signal_skill`,
/// `sim.signal_noise`), and the seed its errors are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skill {
    /// The share of the hidden edge the service sees, in [0, 1].
    pub skill: Decimal,
    /// The spread (standard deviation) of its error, in probability points: 0.05 = 5 points.
    pub noise: Decimal,
    pub seed: u64,
}

impl Skill {
    /// The oracle: the whole edge, no error.
    pub const ORACLE: Skill = Skill {
        skill: Decimal::ONE,
        noise: Decimal::ZERO,
        seed: 0,
    };

    /// The service's estimate of the YES probability, in [0.01, 0.99], to 4 places.
    pub fn estimate(&self, quote: &Quote) -> Decimal {
        let seen = quote.price + self.skill * (quote.probability - quote.price);
        let error = match self.noise.is_zero() {
            true => Decimal::ZERO,
            false => self.noise * standard_normal(self.seed, quote),
        };
        (seen + error)
            .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
            .clamp(Decimal::new(1, 2), Decimal::new(99, 2))
    }
}

/// A standard normal draw (Box-Muller) fixed by the seed, the market and its price, as an
/// exact decimal of 6 places (a random draw, not money: `f64` is its natural type).
fn standard_normal(seed: u64, quote: &Quote) -> Decimal {
    use rand::{Rng, SeedableRng};
    // FNV-1a, stable across Rust versions.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let price = quote.price.normalize().to_string();
    for byte in quote
        .platform
        .as_str()
        .bytes()
        .chain([0])
        .chain(quote.market_id.bytes())
        .chain([0])
        .chain(price.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(hash);
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Decimal::from_f64_retain(z).unwrap_or_default().round_dp(6)
}

pub fn advise(quote: &Quote, risk: Risk, skill: &Skill) -> Advice {
    let round = |value: Decimal, dp: u32| {
        value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    };
    let estimate = skill.estimate(quote);
    let edge = round(estimate - quote.price, 4);
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
        probability: estimate,
        target_price: round(estimate, 2).clamp(Decimal::new(1, 2), Decimal::new(99, 2)),
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
        let yes = advise(&quote(dec!(0.60), dec!(0.50)), Risk::Medium, &Skill::ORACLE);
        assert_eq!(yes.recommendation, Recommendation::BuyYes);
        assert_eq!(yes.edge, dec!(0.10));
        // quarter Kelly: 0.10 / 0.5 / 4 = 0.05
        assert_eq!(yes.size_pct, dec!(0.05));
        let no = advise(&quote(dec!(0.30), dec!(0.45)), Risk::Medium, &Skill::ORACLE);
        assert_eq!(no.recommendation, Recommendation::BuyNo);
        assert_eq!(no.edge, dec!(-0.15));
        let small = advise(&quote(dec!(0.52), dec!(0.50)), Risk::Medium, &Skill::ORACLE);
        assert_eq!(small.recommendation, Recommendation::NoTrade);
        assert_eq!(small.size_pct, Decimal::ZERO);
        // The same edge trades for a risk-seeking client only.
        let edge3 = quote(dec!(0.53), dec!(0.50));
        assert_eq!(
            advise(&edge3, Risk::High, &Skill::ORACLE).recommendation,
            Recommendation::BuyYes
        );
        assert_eq!(
            advise(&edge3, Risk::Low, &Skill::ORACLE).recommendation,
            Recommendation::NoTrade
        );
    }

    #[test]
    fn closed_markets_never_trade() {
        let mut closed = quote(dec!(0.9), dec!(0.5));
        closed.closed = true;
        assert_eq!(
            advise(&closed, Risk::High, &Skill::ORACLE).recommendation,
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

#[cfg(test)]
mod skill_tests {
    //! The skill knob does what it says at the signal: skill 0 without noise never trades,
    //! skill k sees k of the edge, and the noise has the spread asked for.
    use super::*;
    use rust_decimal_macros::dec;
    use strategies::Platform;

    fn quote(id: usize, probability: Decimal, price: Decimal) -> Quote {
        Quote {
            platform: Platform::Kalshi,
            market_id: format!("KXSIM-{id:03}"),
            probability,
            price,
            volatility: dec!(0.02),
            closing_soon: false,
            closed: false,
        }
    }

    #[test]
    fn skill_scales_the_edge_and_noise_has_its_spread() {
        let blind = Skill {
            skill: Decimal::ZERO,
            noise: Decimal::ZERO,
            seed: 1,
        };
        let half = Skill {
            skill: dec!(0.5),
            noise: Decimal::ZERO,
            seed: 1,
        };
        let q = quote(1, dec!(0.70), dec!(0.50));
        assert_eq!(
            advise(&q, Risk::High, &blind).recommendation,
            Recommendation::NoTrade
        );
        assert_eq!(advise(&q, Risk::High, &blind).edge, Decimal::ZERO);
        assert_eq!(advise(&q, Risk::Medium, &half).edge, dec!(0.10));
        assert_eq!(advise(&q, Risk::Medium, &half).probability, dec!(0.60));
        assert_eq!(advise(&q, Risk::Medium, &Skill::ORACLE).edge, dec!(0.20));

        let noisy = Skill {
            skill: Decimal::ZERO,
            noise: dec!(0.05),
            seed: 7,
        };
        let errors: Vec<f64> = (0..4000)
            .map(|i| {
                let q = quote(i, dec!(0.5), dec!(0.5));
                let e = noisy.estimate(&q) - q.price;
                e.to_string().parse::<f64>().expect("number")
            })
            .collect();
        let n = errors.len() as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let spread = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(mean.abs() < 0.003, "unbiased: {mean}");
        assert!(
            (spread - 0.05).abs() < 0.004,
            "the spread asked for: {spread}"
        );
        // The same quote, the same answer; another seed, another error.
        let q = quote(3, dec!(0.5), dec!(0.5));
        assert_eq!(noisy.estimate(&q), noisy.estimate(&q));
        let other = Skill { seed: 8, ..noisy };
        assert_ne!(noisy.estimate(&q), other.estimate(&q));
    }
}
