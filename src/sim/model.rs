//! The simulator's market model: pure, seeded, deterministic.
//!
//! # What it does
//! A fixed number of market *slots* is open at any time, spread at random over Kalshi
//! (`KXSIM-007`, prices in cents) and Polymarket (`poly-sim-012`, prices in tenths of a cent).
//! Each market has
//! - a hidden **true probability** of YES, a martingale on the price grid: every move has a size
//!   (per-market noise, a volatility between 0.8 and 3 points, and one move in twenty a jump of
//!   6 to 20 points) and a direction drawn so that the expected move is exactly zero, also next
//!   to the bounds 0.01 and 0.99, where the truth stops;
//! - a quoted **YES price** that is the truth [`LAG`] moves late: the market prints tomorrow what
//!   the informed know today.
//!
//! # Why it is honest
//! The outcome is drawn at the close, YES with the true probability. Because the truth is a
//! martingale, so is the quote *given what the market has printed*: the expected value of a
//! contract bought at the quote is its price, whatever rule picked the moment to buy and to
//! sell, as long as the rule only sees prints. A trader without information loses the fees and
//! nothing else, on average. An edge exists only for whoever knows the truth ahead of the
//! quote: the signal service, to the degree of its skill (`sim.signal_skill`, see
//! [`super::Skill`]). So returns on the simulator measure the signal and the sizing, not a
//! quirk of the model. (The previous model quoted a price that mean-reverted toward the
//! truth; a blind trader with a wide take-profit and a tight stop-loss made money on it.)
//!
//! Every step picks one open market at random and emits a `price_shift` (at least one tick)
//! or, one step in twenty-five, a `whale_alert` whose side is the informed one (toward the
//! truth) 70 % of the time. In the last 15 % of its lifetime (measured in steps) a market moves
//! [`FINAL_VOLATILITY`] times as much, so most markets end near 0 or 1; at the end a final
//! `price_shift` prints 0.99 or 0.01, the market closes and a fresh market (next serial number)
//! takes its slot. A market whose truth and quote have both reached a bound closes then. A
//! closed market reports `closed`, then `determined`, then `finalized` as further steps pass.
//!
//! Randomness comes only from a `StdRng` seeded with the configured seed, and the arithmetic on
//! it is plain IEEE `+ - * /` (no transcendental functions), so the same seed gives the same
//! events on every run and machine. Prices are whole ticks (integers, so no rounding can tilt
//! the martingale), move sizes `f64`; everything emitted is `Decimal`.

use std::collections::{HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use strategies::{Platform, Side, Timestamp};

mod market;

pub use market::{change_pct, hidden_probability, Quote, Resolution, Status};
use market::{gauss, Market, Retired};

/// How many moves the quote trails the truth.
pub const LAG: usize = 6;
/// How much faster a market moves in the last 15 % of its life.
pub const FINAL_VOLATILITY: f64 = 2.5;
const JUMP_PROBABILITY: f64 = 0.05;
const WHALE_PROBABILITY: f64 = 0.04;
const INFORMED_WHALES: f64 = 0.7;
/// Lifetime range of a market, in steps per slot (each market sees about this many moves).
const LIFETIME_PER_SLOT: (u64, u64) = (200, 800);
/// Steps per slot from a market's close to `determined`, and to `finalized`.
const DETERMINE_LAG_PER_SLOT: u64 = 10;
const FINALIZE_LAG_PER_SLOT: u64 = 40;

/// One event produced by the model (timestamps are added when it is rendered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelEvent {
    PriceShift {
        platform: Platform,
        market_id: String,
        old_yes: Decimal,
        new_yes: Decimal,
        change_pct: Decimal,
    },
    WhaleAlert {
        platform: Platform,
        market_id: String,
        side: Side,
        flow: Decimal,
        price: Decimal,
    },
}

impl ModelEvent {
    /// The wire `type` of the event.
    pub fn event_type(&self) -> &'static str {
        match self {
            ModelEvent::PriceShift { .. } => "price_shift",
            ModelEvent::WhaleAlert { .. } => "whale_alert",
        }
    }
}

/// The seeded market model. `step` is the only way it changes.
#[derive(Clone, Debug)]
pub struct Model {
    rng: StdRng,
    slots: u64,
    markets: Vec<Market>,
    index: HashMap<(Platform, String), usize>,
    retired: HashMap<(Platform, String), Retired>,
    /// Retired markets not yet finalized (their timestamps still to stamp).
    settling: Vec<(Platform, String)>,
    step: u64,
    next_serial: u64,
    next_close: u64,
    /// Markets whose outcome became `determined` in the last step, with it (true: YES).
    determined: Vec<(Platform, String, bool)>,
}

impl Model {
    /// `markets` slots (0 gives a model that never produces anything).
    pub fn new(seed: u64, markets: u32) -> Model {
        let mut model = Model {
            rng: StdRng::seed_from_u64(seed),
            slots: u64::from(markets),
            markets: Vec::with_capacity(markets as usize),
            index: HashMap::new(),
            retired: HashMap::new(),
            settling: Vec::new(),
            step: 0,
            next_serial: 0,
            next_close: u64::MAX,
            determined: Vec::new(),
        };
        for slot in 0..markets as usize {
            // Initial markets are of random age, so they do not all close together.
            let remaining = model.rng.random_range(model.slots * 50..=model.slots * 800);
            let market = model.open_market(remaining);
            model.index.insert(key(&market), slot);
            model.markets.push(market);
        }
        model.next_close = model.earliest_close();
        model
    }

    pub fn is_empty(&self) -> bool {
        self.markets.is_empty()
    }

    /// Steps taken so far (= events produced).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Ids of the open markets, in slot order.
    pub fn open_markets(&self) -> Vec<(Platform, String)> {
        self.markets.iter().map(key).collect()
    }

    /// Advances one step; `now` stamps any lifecycle change. `None` only for an empty model.
    pub fn step(&mut self, now: Timestamp) -> Option<ModelEvent> {
        if self.markets.is_empty() {
            return None;
        }
        self.step += 1;
        self.determined.clear();
        self.stamp_settling(now);
        if self.step >= self.next_close {
            if let Some(event) = self.close_due(now) {
                return Some(event);
            }
        }
        let slot = self.rng.random_range(0..self.markets.len());
        if self.rng.random_bool(WHALE_PROBABILITY) {
            return Some(self.whale(slot));
        }
        if let Some(event) = self.move_price(slot) {
            return Some(event);
        }
        // Truth and quote both on a bound: nothing left to trade, so the market closes now.
        self.markets[slot].close_step = self.step;
        let event = self.close_due(now);
        Some(event.unwrap_or_else(|| self.whale(slot)))
    }

    /// The market as the signal endpoint sees it (closed markets included).
    pub fn quote(&self, platform: Platform, market_id: &str) -> Option<Quote> {
        let key = (platform, market_id.to_owned());
        if let Some(&slot) = self.index.get(&key) {
            return self.markets.get(slot).map(|m| m.quote(self.step, false));
        }
        self.retired
            .get(&key)
            .map(|r| r.last.quote(self.step, true))
    }

    /// The markets whose outcome became `determined` in the last step, with the outcome
    /// (true: YES): what a resolution poller would learn then.
    pub fn determined_now(&self) -> &[(Platform, String, bool)] {
        &self.determined
    }

    pub fn resolution(&self, platform: Platform, market_id: &str) -> Option<Resolution> {
        let key = (platform, market_id.to_owned());
        if self.index.contains_key(&key) {
            return Some(Resolution {
                status: Status::Active,
                closed_at: None,
                determined_at: None,
                finalized_at: None,
            });
        }
        let retired = self.retired.get(&key)?;
        let since = self.step.saturating_sub(retired.close_step);
        let status = if since >= self.slots * FINALIZE_LAG_PER_SLOT {
            Status::Finalized
        } else if since >= self.slots * DETERMINE_LAG_PER_SLOT {
            Status::Determined
        } else {
            Status::Closed
        };
        Some(Resolution {
            status,
            closed_at: Some(retired.closed_at),
            determined_at: retired.determined_at,
            finalized_at: retired.finalized_at,
        })
    }

    fn earliest_close(&self) -> u64 {
        self.markets
            .iter()
            .map(|m| m.close_step)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// A new market closing `lifetime` steps from now.
    fn open_market(&mut self, lifetime: u64) -> Market {
        let serial = self.next_serial;
        self.next_serial += 1;
        let (platform, market_id, decimals) = if self.rng.random_bool(0.5) {
            (Platform::Kalshi, format!("KXSIM-{serial:03}"), 2)
        } else {
            (Platform::Polymarket, format!("poly-sim-{serial:03}"), 3)
        };
        let start = self.rng.random_range(0.08..0.92);
        let volatility = self.rng.random_range(0.008..0.03);
        let close_step = self.step + lifetime.max(1);
        let mut market = Market {
            platform,
            market_id,
            decimals,
            ticks: 0,
            ahead: VecDeque::with_capacity(LAG + 1),
            volatility,
            close_step,
            final_from: close_step - lifetime.max(1) * 15 / 100,
        };
        market.ticks = market.to_ticks(start);
        // The informed start LAG moves ahead of the quote.
        for _ in 0..LAG {
            let size = move_size(&mut self.rng, &market, false);
            if let Some(next) = market.truth_step(&mut self.rng, size) {
                market.ahead.push_back(next);
            }
        }
        market
    }

    /// Closes the first market whose time is up; returns its settlement print, if it moved.
    fn close_due(&mut self, now: Timestamp) -> Option<ModelEvent> {
        let slot = self
            .markets
            .iter()
            .position(|m| m.close_step <= self.step)?;
        let lifetime = self
            .rng
            .random_range(self.slots * LIFETIME_PER_SLOT.0..=self.slots * LIFETIME_PER_SLOT.1);
        let replacement = self.open_market(lifetime);
        let mut closing = std::mem::replace(&mut self.markets[slot], replacement);
        let yes = self.rng.random_bool(closing.truth().clamp(0.0, 1.0));
        let old_ticks = closing.ticks;
        closing.ticks = if yes {
            closing.max_ticks()
        } else {
            closing.min_ticks()
        };
        closing.ahead.clear();
        let event = (closing.ticks != old_ticks).then(|| ModelEvent::PriceShift {
            platform: closing.platform,
            market_id: closing.market_id.clone(),
            old_yes: Decimal::new(old_ticks, closing.decimals),
            new_yes: closing.price(),
            change_pct: change_pct(Decimal::new(old_ticks, closing.decimals), closing.price()),
        });
        let old_key = key(&closing);
        self.index.remove(&old_key);
        self.index.insert(key(&self.markets[slot]), slot);
        self.settling.push(old_key.clone());
        self.retired.insert(
            old_key,
            Retired {
                last: closing,
                close_step: self.step,
                closed_at: now,
                determined_at: None,
                finalized_at: None,
            },
        );
        self.next_close = self.earliest_close();
        event
    }

    fn stamp_settling(&mut self, now: Timestamp) {
        let (step, slots) = (self.step, self.slots);
        let retired = &mut self.retired;
        let determined = &mut self.determined;
        self.settling.retain(|key| {
            let Some(r) = retired.get_mut(key) else {
                return false;
            };
            let since = step.saturating_sub(r.close_step);
            if r.determined_at.is_none() && since >= slots * DETERMINE_LAG_PER_SLOT {
                r.determined_at = Some(now);
                let yes = r.last.ticks == r.last.max_ticks();
                determined.push((key.0, key.1.clone(), yes));
            }
            if since >= slots * FINALIZE_LAG_PER_SLOT {
                r.finalized_at = Some(now);
                return false;
            }
            true
        });
    }

    /// The truth moves once and the quote prints the move [`LAG`] moves old. `None` when the
    /// quote has caught up with a truth stuck on a bound.
    fn move_price(&mut self, slot: usize) -> Option<ModelEvent> {
        let final_phase = self.step >= self.markets[slot].final_from;
        let m = &mut self.markets[slot];
        let size = move_size(&mut self.rng, m, final_phase);
        if let Some(next) = m.truth_step(&mut self.rng, size) {
            m.ahead.push_back(next);
        }
        let old_ticks = m.ticks;
        m.ticks = m.ahead.pop_front()?;
        let old_yes = Decimal::new(old_ticks, m.decimals);
        Some(ModelEvent::PriceShift {
            platform: m.platform,
            market_id: m.market_id.clone(),
            old_yes,
            new_yes: m.price(),
            change_pct: change_pct(old_yes, m.price()),
        })
    }

    fn whale(&mut self, slot: usize) -> ModelEvent {
        let informed = self.rng.random_bool(INFORMED_WHALES);
        let flow = self.rng.random_range(25_000u32..=750_000);
        let m = &self.markets[slot];
        let toward_truth = if m.truth_ticks() > m.ticks {
            Side::Yes
        } else {
            Side::No
        };
        ModelEvent::WhaleAlert {
            platform: m.platform,
            market_id: m.market_id.clone(),
            side: if informed {
                toward_truth
            } else {
                toward_truth.opposite()
            },
            flow: Decimal::from(flow),
            price: m.price(),
        }
    }
}

/// The size of the truth's next move, in probability points: mostly noise, sometimes a jump.
fn move_size(rng: &mut StdRng, market: &Market, final_phase: bool) -> f64 {
    let size = if rng.random_bool(JUMP_PROBABILITY) {
        rng.random_range(0.06..0.2)
    } else {
        gauss(rng).abs() * market.volatility
    };
    if final_phase {
        size * FINAL_VOLATILITY
    } else {
        size
    }
}

fn key(market: &Market) -> (Platform, String) {
    (market.platform, market.market_id.clone())
}

#[cfg(test)]
mod tests;
