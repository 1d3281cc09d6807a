//! One simulated market, the views of it the endpoints get ([`Quote`], [`Resolution`]), and the
//! model's arithmetic helpers.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use strategies::{Platform, Timestamp};

/// What the signal endpoint knows about a market right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub platform: Platform,
    pub market_id: String,
    /// The hidden true probability of YES, to 4 decimals: the price the market will reach once
    /// it has caught up with what the informed already know.
    pub probability: Decimal,
    /// The latest quoted YES price.
    pub price: Decimal,
    /// Typical size of a move (noise), to 4 decimals.
    pub volatility: Decimal,
    /// In the final phase of its life (moving faster toward its outcome).
    pub closing_soon: bool,
    /// Closed: no more trading.
    pub closed: bool,
}

/// Lifecycle of a market as the resolution endpoint reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Closed,
    Determined,
    Finalized,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Closed => "closed",
            Status::Determined => "determined",
            Status::Finalized => "finalized",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub status: Status,
    pub closed_at: Option<Timestamp>,
    pub determined_at: Option<Timestamp>,
    pub finalized_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub(super) struct Market {
    pub(super) platform: Platform,
    pub(super) market_id: String,
    /// Price decimals: 2 on Kalshi, 3 on Polymarket.
    pub(super) decimals: u32,
    /// The quoted YES price, in units of `10^-decimals`.
    pub(super) ticks: i64,
    /// The truth's path ahead of the quote, oldest first: the prices the market will print
    /// next. Its last element (`ticks` when it is empty) is the true probability now.
    pub(super) ahead: VecDeque<i64>,
    /// Typical size of a move of the truth, in probability points.
    pub(super) volatility: f64,
    pub(super) close_step: u64,
    pub(super) final_from: u64,
}

impl Market {
    pub(super) fn scale(&self) -> f64 {
        if self.decimals == 2 {
            100.0
        } else {
            1000.0
        }
    }
    pub(super) fn min_ticks(&self) -> i64 {
        if self.decimals == 2 {
            1
        } else {
            10
        }
    }
    pub(super) fn max_ticks(&self) -> i64 {
        if self.decimals == 2 {
            99
        } else {
            990
        }
    }
    pub(super) fn price(&self) -> Decimal {
        Decimal::new(self.ticks, self.decimals)
    }
    /// The true probability of YES, in ticks.
    pub(super) fn truth_ticks(&self) -> i64 {
        self.ahead.back().copied().unwrap_or(self.ticks)
    }
    pub(super) fn truth(&self) -> f64 {
        self.truth_ticks() as f64 / self.scale()
    }
    /// One move of the truth, a martingale on the tick grid: a size of at least one tick, cut
    /// at the bounds, and a direction that makes the expected move exactly zero (up by `u` with
    /// probability `d / (u + d)`, down by `d` otherwise). Integer arithmetic, so no rounding
    /// can tilt it. `None` once the truth sits on a bound: there it stays.
    pub(super) fn truth_step(&self, rng: &mut StdRng, size: f64) -> Option<i64> {
        let now = self.truth_ticks();
        let ticks = ((size * self.scale()).round() as i64).max(1);
        let up = ticks.min(self.max_ticks() - now);
        let down = ticks.min(now - self.min_ticks());
        if up <= 0 || down <= 0 {
            return None;
        }
        Some(if rng.random_range(0..up + down) < down {
            now + up
        } else {
            now - down
        })
    }
    pub(super) fn to_ticks(&self, price: f64) -> i64 {
        let ticks = (price * self.scale()).round();
        // NaN cannot arise from the model's arithmetic; clamping keeps any value in range.
        (ticks as i64).clamp(self.min_ticks(), self.max_ticks())
    }
    pub(super) fn quote(&self, step: u64, closed: bool) -> Quote {
        Quote {
            platform: self.platform,
            market_id: self.market_id.clone(),
            probability: four_dp(self.truth()),
            price: self.price(),
            volatility: four_dp(self.volatility),
            closing_soon: step >= self.final_from,
            closed,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Retired {
    pub(super) last: Market,
    pub(super) close_step: u64,
    pub(super) closed_at: Timestamp,
    pub(super) determined_at: Option<Timestamp>,
    pub(super) finalized_at: Option<Timestamp>,
}

/// `(new - old) / old * 100`, to 2 decimals. `old` is a price, never zero.
pub fn change_pct(old: Decimal, new: Decimal) -> Decimal {
    if old.is_zero() {
        return Decimal::ZERO;
    }
    ((new - old) / old * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub(super) fn four_dp(value: f64) -> Decimal {
    Decimal::new((value * 10_000.0).round() as i64, 4)
}

/// Approximately standard normal: the Irwin–Hall sum of four uniforms, rescaled. Only `+` and
/// `*`, so the result is bit-identical on every platform.
pub(super) fn gauss(rng: &mut StdRng) -> f64 {
    let sum: f64 = (0..4).map(|_| rng.random::<f64>()).sum();
    (sum - 2.0) * 1.732_050_807_568_877_2
}

/// The hidden probability of a market the model does not simulate (one that only appears in a
/// scripted stream): a deterministic function of the seed and the market, in [0.10, 0.90].
pub fn hidden_probability(seed: u64, platform: Platform, market_id: &str) -> Decimal {
    // FNV-1a: stable across Rust versions, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in platform
        .as_str()
        .bytes()
        .chain([b'/'])
        .chain(market_id.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = StdRng::seed_from_u64(seed ^ hash);
    Decimal::new(rng.random_range(10..=90), 2)
}
