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
///
/// Every step on input-derived values is checked: a price of `1e-28` or a bankroll near
/// `Decimal::MAX` must refuse with a reason, never panic (a panic here would leave the event in
/// the inbox and crash every restart on it).
pub fn size(rules: &SizingRules, fees: &FeeSchedule, req: &SizeRequest) -> Result<Sizing, Refusal> {
    let c = req.price.get();
    let rate = fees.rate(req.platform);
    let fee_per_contract = checked(|| rate.checked_mul(c)?.checked_mul(Decimal::ONE - c))?;
    let c_eff = checked(|| c.checked_add(fee_per_contract))?;
    let edge = checked(|| req.win_probability.checked_sub(c_eff))?;
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
    let kelly = checked(|| edge.checked_div(Decimal::ONE - c_eff))?;
    let scaled = checked(|| rules.kelly_fraction.checked_mul(kelly))?;
    let fraction = scaled.min(rules.max_position_pct);
    let cash = req.cash.max(Decimal::ZERO);
    let mut stake = checked(|| cash.checked_mul(fraction))?;

    let headroom = checked(|| {
        rules
            .bankroll
            .checked_mul(rules.max_exposure_pct)?
            .checked_sub(req.open_exposure)
    })?;
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

    let contracts = match max_contracts(stake, cash, c, c_eff, fee_per_contract, rate) {
        Some(n) => n,
        None => {
            return Err(Refusal::new(
                Outcome::SizeZero,
                format!(
                    "stake {} at c_eff {} is more than {} contracts",
                    stake.round_dp(2),
                    c_eff,
                    u64::MAX
                ),
            ))
        }
    };
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

/// A refusal for arithmetic that does not fit a `Decimal`: the inputs are out of any
/// tradeable range, so the event is refused rather than sized approximately.
fn checked(op: impl FnOnce() -> Option<Decimal>) -> Result<Decimal, Refusal> {
    op().ok_or_else(|| {
        Refusal::new(
            Outcome::SizeZero,
            "sizing arithmetic overflows a decimal for these inputs".to_string(),
        )
    })
}

/// The most whole contracts with `n * c <= stake` and `n * c + fee(n) <= cash`, where
/// `fee(n) = ceil_to_cent(n * k)` and `k = rate * c * (1 - c)`; `None` when that is more than
/// `u64::MAX` (or too many to count in a `Decimal`).
///
/// Closed form, not a search: the start `n0 = floor(stake / c_eff)` already satisfies
/// `n0 * c_eff <= stake <= cash`, and the fee's rounding up can only push `total(n0)` past
/// `cash` by under a cent. Then the answer is the larger of
/// - `min(n0, floor((cash - F0) / c))`, `F0 = fee(n0)`: every `n <= n0` pays at most `F0`;
/// - `floor((F0 - 0.01) / k)`: the most contracts paying a cent less, whose total is at most
///   `total(n0) - 0.01 < cash`;
///
/// and nothing in between fits (it would pay `F0` and cost more than `cash - F0`). Stepping
/// down one contract at a time instead took billions of steps at a price of `1e-11`. Decimal
/// division rounds at the 28th digit, so each candidate is confirmed, stepping down at most a
/// few contracts.
fn max_contracts(
    stake: Decimal,
    cash: Decimal,
    c: Decimal,
    c_eff: Decimal,
    k: Decimal,
    rate: Decimal,
) -> Option<u64> {
    let total = |n: u64| -> Option<Decimal> {
        Decimal::from(n)
            .checked_mul(c)?
            .checked_add(ceil_to_cent(Decimal::from(n).checked_mul(k)?))
    };
    let fits = |n: u64| -> bool {
        n == 0
            || (Decimal::from(n)
                .checked_mul(c)
                .is_some_and(|cost| cost <= stake)
                && total(n).is_some_and(|t| t <= cash))
    };
    let floor_u64 = |value: Decimal| -> Option<u64> { value.floor().max(Decimal::ZERO).to_u64() };
    let confirm = |mut n: u64| -> u64 {
        for _ in 0..4 {
            if fits(n) {
                return n;
            }
            n -= 1;
        }
        if fits(n) {
            n
        } else {
            0
        }
    };
    let n0 = floor_u64(stake.checked_div(c_eff)?)?;
    if fits(n0) {
        return Some(n0);
    }
    let f0 = ceil_to_cent(Decimal::from(n0).checked_mul(k)?);
    let same_fee = (cash - f0)
        .checked_div(c)
        .and_then(floor_u64)
        .map_or(0, |n| n.min(n0));
    let cent = Decimal::new(1, 2);
    let cent_less = match rate.is_zero() || k.is_zero() || f0 < cent {
        true => 0,
        false => (f0 - cent)
            .checked_div(k)
            .and_then(floor_u64)
            .map_or(0, |n| n.min(n0)),
    };
    Some(confirm(same_fee.max(cent_less)))
}
