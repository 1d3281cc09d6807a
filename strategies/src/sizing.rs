//! Fractional-Kelly sizing of a binary contract, in exact decimals.
//!
//! For a contract bought at `c` that pays 1 with probability `w`, with a per-contract fee
//! `fee(c) = rate * c * (1 - c)`, the effective price is `c_eff = c + fee(c)` and the Kelly
//! fraction of wealth is `f* = (w - c_eff) / (1 - c_eff)`. We bet a fraction of that, capped per
//! position and by total exposure, and buy whole contracts only.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::decision::{Outcome, Refusal};
use crate::types::{Platform, Price};

/// `[sizing]` settings. Fractions are plain fractions: `0.05` is 5 %.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizingRules {
    /// Starting paper bankroll.
    pub bankroll: Decimal,
    /// Multiplier on the Kelly fraction, in (0, 1].
    pub kelly_fraction: Decimal,
    /// Largest stake as a fraction of current cash, in (0, 1].
    pub max_position_pct: Decimal,
    /// Largest total cost basis of open positions as a fraction of the starting bankroll.
    pub max_exposure_pct: Decimal,
    /// Smallest `w - c_eff` worth trading, in probability points (`0.02` = 2 points).
    pub min_edge: Decimal,
}

impl Default for SizingRules {
    fn default() -> Self {
        SizingRules {
            bankroll: Decimal::new(10_000, 0),
            kelly_fraction: Decimal::new(25, 2),
            max_position_pct: Decimal::new(5, 2),
            max_exposure_pct: Decimal::new(50, 2),
            min_edge: Decimal::new(2, 2),
        }
    }
}

/// Per-platform fee rates for `fee(c) = rate * c * (1 - c)` per contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    pub kalshi: Decimal,
    pub polymarket: Decimal,
}

impl Default for FeeSchedule {
    fn default() -> Self {
        FeeSchedule {
            kalshi: Decimal::new(7, 2),
            polymarket: Decimal::ZERO,
        }
    }
}

impl FeeSchedule {
    pub fn rate(&self, platform: Platform) -> Decimal {
        match platform {
            Platform::Kalshi => self.kalshi,
            Platform::Polymarket => self.polymarket,
        }
    }
}

/// Round up to the next whole cent: exchanges charge fees in cents, never less than owed.
pub fn ceil_to_cent(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::ToPositiveInfinity)
}

/// The fee for `contracts` contracts at `c`, rounded up to the cent.
pub fn trade_fee(rate: Decimal, contracts: u64, c: Decimal) -> Decimal {
    ceil_to_cent(rate * Decimal::from(contracts) * c * (Decimal::ONE - c))
}

/// What to size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeRequest {
    pub platform: Platform,
    /// Price of the side bought.
    pub price: Price,
    /// Probability that the side bought wins, in [0, 1].
    pub win_probability: Decimal,
    pub cash: Decimal,
    /// Cost basis of all open positions.
    pub open_exposure: Decimal,
}

/// A sized entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub contracts: u64,
    pub price: Decimal,
    pub cost: Decimal,
    pub fee: Decimal,
    /// The stake allowed after all caps (`contracts * c_eff <= stake`).
    pub stake: Decimal,
    /// The unscaled Kelly fraction `f*`.
    pub kelly: Decimal,
    /// `w - c_eff`.
    pub edge_after_fees: Decimal,
}

/// Size an entry, or say which rule refused it.
pub fn size(rules: &SizingRules, fees: &FeeSchedule, req: &SizeRequest) -> Result<Sizing, Refusal> {
    let c = req.price.get();
    let rate = fees.rate(req.platform);
    let c_eff = c + rate * c * (Decimal::ONE - c);
    let edge = req.win_probability - c_eff;
    if edge < rules.min_edge || edge <= Decimal::ZERO || c_eff >= Decimal::ONE {
        return Err(Refusal::new(
            Outcome::EdgeBelowMin,
            format!(
                "edge after fees {} (w {} - c_eff {}) < min_edge {}",
                edge.round_dp(4),
                req.win_probability,
                c_eff.round_dp(6),
                rules.min_edge
            ),
        ));
    }
    let kelly = edge / (Decimal::ONE - c_eff);
    let fraction = (rules.kelly_fraction * kelly).min(rules.max_position_pct);
    let cash = req.cash.max(Decimal::ZERO);
    let mut stake = cash * fraction;

    let headroom = rules.bankroll * rules.max_exposure_pct - req.open_exposure;
    let exposure_bound = headroom < stake;
    if exposure_bound {
        if headroom <= Decimal::ZERO {
            return Err(Refusal::new(
                Outcome::ExposureLimit,
                format!(
                    "open exposure {} is at max_exposure_pct {} of bankroll {}",
                    req.open_exposure, rules.max_exposure_pct, rules.bankroll
                ),
            ));
        }
        stake = headroom;
    }

    // Whole contracts only; the rounded-up fee may push the total past the stake by under a
    // cent, so step down until the fill is affordable within both stake and cash.
    let mut contracts = (stake / c_eff).floor().to_u64().unwrap_or(0);
    let total = |n: u64| Decimal::from(n) * c + trade_fee(rate, n, c);
    while contracts > 0 && (total(contracts) > cash || Decimal::from(contracts) * c > stake) {
        contracts -= 1;
    }
    if contracts == 0 {
        let (outcome, why) = if exposure_bound {
            (Outcome::ExposureLimit, "exposure headroom")
        } else {
            (Outcome::SizeZero, "stake")
        };
        return Err(Refusal::new(
            outcome,
            format!(
                "{why} {} buys no whole contract at c_eff {}",
                stake.round_dp(2),
                c_eff.round_dp(6)
            ),
        ));
    }
    let cost = Decimal::from(contracts) * c;
    Ok(Sizing {
        contracts,
        price: c,
        cost,
        fee: trade_fee(rate, contracts, c),
        stake,
        kelly,
        edge_after_fees: edge,
    })
}
