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

/// The fee for `contracts` contracts at `c`, rounded up to the cent. Saturates at
/// `Decimal::MAX`: a fee too large for a decimal is more than any cash, so it never fits.
pub fn trade_fee(rate: Decimal, contracts: u64, c: Decimal) -> Decimal {
    checked_trade_fee(rate, contracts, c).unwrap_or(Decimal::MAX)
}

fn checked_trade_fee(rate: Decimal, contracts: u64, c: Decimal) -> Option<Decimal> {
    let fee = rate
        .checked_mul(Decimal::from(contracts))?
        .checked_mul(c)?
        .checked_mul(Decimal::ONE - c)?;
    Some(ceil_to_cent(fee))
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

    let contracts = match max_contracts(stake, cash, c, c_eff, rate) {
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

/// The most whole contracts with `n * c_eff <= stake` and `n * c + trade_fee(n) <= cash`,
/// each side computed exactly as the book and its checks compute it; `None` when that is more
/// than `u64::MAX`.
///
/// Both sides grow with `n` (Decimal rounds monotonically), so the answer is found by bisection
/// below `floor(stake / c_eff) + 1`, after one look at that estimate (nearly always the answer).
/// A closed form on `k = rate * c * (1 - c)` was tried before: `n * k` and the fee's own
/// `rate * n * c * (1 - c)` round differently at the 28th digit, which at `1e-11` prices and
/// millions of cash let a fill cost a cent more than the cash held, or leave contracts that fit.
fn max_contracts(
    stake: Decimal,
    cash: Decimal,
    c: Decimal,
    c_eff: Decimal,
    rate: Decimal,
) -> Option<u64> {
    let fits = |n: u64| -> bool {
        let count = Decimal::from(n);
        count.checked_mul(c_eff).is_some_and(|spent| spent <= stake)
            && count
                .checked_mul(c)
                .and_then(|cost| cost.checked_add(checked_trade_fee(rate, n, c)?))
                .is_some_and(|total| total <= cash)
    };
    let estimate = stake
        .checked_div(c_eff)?
        .floor()
        .max(Decimal::ZERO)
        .to_u64()?;
    if fits(estimate) && estimate.checked_add(1).is_none_or(|more| !fits(more)) {
        return Some(estimate);
    }
    // fits(lo) always (nothing costs nothing); nothing above hi fits.
    let (mut lo, mut hi) = (0u64, estimate.saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}
