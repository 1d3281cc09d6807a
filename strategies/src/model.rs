//! A local fallback signal model: a pure function of one market's price history.
//!
//! Replay uses it for events that were never signalled when they were recorded (a lower
//! threshold in the replayed config lets them through, but nobody asked the API then), when
//! `replay.fallback = "model"`.
//!
//! # What it does
//! It keeps an exponentially weighted moving average (EWMA) of the YES prices the stream has
//! shown for the market and bets that a fresh move *reverts* toward that average: the
//! estimated YES probability is the average of the prices seen *before* the current one, the
//! edge is that estimate minus the current price, and the recommendation follows the sign of
//! the edge once it clears [`ModelParams::min_edge`] (`NO_TRADE` below it, and until the
//! market has shown [`ModelParams::warmup`] prices). The estimate goes out as the signal's
//! `probability`, so the core sizes with `w` = the estimate (YES) or `1 -` the estimate (NO).
//!
//! # What it is not
//! **A baseline, not an edge.** It knows nothing the market does not: it only assumes that
//! jumps overshoot. It answers "would this config have traded these events under a naive
//! mean-reversion view?", so a sweep can be run on events that were never signalled; it says
//! nothing about what the real signal API would have recommended. Do not trade on it.
//!
//! Everything is `Decimal` and deterministic: the average is rounded to
//! [`ModelParams::DECIMALS`] places after every update so its scale never grows.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::types::{Price, Recommendation, Signal};

/// Tuning of the model. The defaults are a plain, documented choice, not fitted to anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelParams {
    /// Weight of the newest price in the average, in (0, 1]: 0.2 gives a memory of roughly
    /// the last 5 to 10 moves.
    pub alpha: Decimal,
    /// Smallest |estimate - price| that produces a trade recommendation, in probability points.
    pub min_edge: Decimal,
    /// Prices a market must have shown before the model says anything but `NO_TRADE`.
    pub warmup: u32,
}

impl ModelParams {
    /// Decimal places kept on the average.
    pub const DECIMALS: u32 = 6;
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            alpha: Decimal::new(2, 1),
            min_edge: Decimal::new(3, 2),
            warmup: 5,
        }
    }
}

/// What the model remembers about one market: the running average and how many prices
/// went into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PriceHistory {
    average: Option<Decimal>,
    observed: u32,
}

impl PriceHistory {
    /// The average YES price so far, if any price has been seen.
    pub fn average(&self) -> Option<Decimal> {
        self.average
    }

    /// Prices seen so far.
    pub fn observed(&self) -> u32 {
        self.observed
    }

    /// Fold a newly seen YES price into the average.
    pub fn observe(&mut self, params: &ModelParams, yes: Price) {
        let price = yes.get();
        let next = match self.average {
            None => price,
            Some(average) => average + params.alpha * (price - average),
        };
        self.average =
            Some(next.round_dp_with_strategy(
                ModelParams::DECIMALS,
                RoundingStrategy::MidpointNearestEven,
            ));
        self.observed = self.observed.saturating_add(1);
    }

    /// The model's signal for the market now quoted at `current`, judged against the history
    /// seen *before* `current` (call [`PriceHistory::observe`] with it afterwards).
    pub fn signal(&self, params: &ModelParams, current: Price) -> Signal {
        let no_trade = |edge: Decimal, probability: Option<Decimal>| Signal {
            recommendation: Recommendation::NoTrade,
            edge,
            probability,
            expires_at: None,
            freshness: None,
        };
        let Some(estimate) = self.average else {
            return no_trade(Decimal::ZERO, None);
        };
        // The average of prices inside (0, 1) stays inside (0, 1): a convex combination.
        let edge = estimate - current.get();
        if self.observed < params.warmup || edge.abs() < params.min_edge {
            return no_trade(edge, Some(estimate));
        }
        let recommendation = if edge > Decimal::ZERO {
            Recommendation::BuyYes
        } else {
            Recommendation::BuyNo
        };
        Signal {
            recommendation,
            edge,
            probability: Some(estimate),
            expires_at: None,
            freshness: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Price {
        Price::new(text.parse().expect("decimal")).expect("inside (0, 1)")
    }

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn no_history_means_no_trade_without_an_estimate() {
        let signal = PriceHistory::default().signal(&ModelParams::default(), price("0.5"));
        assert_eq!(signal.recommendation, Recommendation::NoTrade);
        assert_eq!(signal.probability, None);
        assert_eq!(signal.edge, Decimal::ZERO);
    }

    #[test]
    fn the_average_is_an_ewma_rounded_to_six_places() {
        let params = ModelParams::default();
        let mut history = PriceHistory::default();
        history.observe(&params, price("0.50"));
        assert_eq!(history.average(), Some(dec("0.50")));
        history.observe(&params, price("0.60"));
        // 0.50 + 0.2 * (0.60 - 0.50)
        assert_eq!(history.average(), Some(dec("0.52")));
        history.observe(&params, price("0.01"));
        // 0.52 + 0.2 * (0.01 - 0.52) = 0.418
        assert_eq!(history.average(), Some(dec("0.418")));
        history.observe(&params, price("0.333333"));
        // 0.418 + 0.2 * (0.333333 - 0.418) = 0.4010666
        assert_eq!(history.average(), Some(dec("0.401067")));
        assert_eq!(history.observed(), 4);
    }

    #[test]
    fn a_jump_away_from_the_average_is_bet_to_revert() {
        let params = ModelParams::default();
        let mut history = PriceHistory::default();
        for _ in 0..params.warmup {
            history.observe(&params, price("0.50"));
        }
        let down = history.signal(&params, price("0.40"));
        assert_eq!(down.recommendation, Recommendation::BuyYes);
        assert_eq!(down.edge, dec("0.10"));
        assert_eq!(down.probability, Some(dec("0.50")));
        let up = history.signal(&params, price("0.58"));
        assert_eq!(up.recommendation, Recommendation::BuyNo);
        assert_eq!(up.edge, dec("-0.08"));
        // Inside the band: no trade, but the estimate is still reported.
        let small = history.signal(&params, price("0.52"));
        assert_eq!(small.recommendation, Recommendation::NoTrade);
        assert_eq!(small.edge, dec("-0.02"));
        assert_eq!(small.probability, Some(dec("0.50")));
        // Exactly at the band edge it acts.
        let edge = history.signal(&params, price("0.47"));
        assert_eq!(edge.recommendation, Recommendation::BuyYes);
    }

    #[test]
    fn nothing_but_no_trade_during_warmup() {
        let params = ModelParams::default();
        let mut history = PriceHistory::default();
        for _ in 1..params.warmup {
            history.observe(&params, price("0.50"));
        }
        let signal = history.signal(&params, price("0.20"));
        assert_eq!(signal.recommendation, Recommendation::NoTrade);
        assert_eq!(signal.edge, dec("0.30"));
        history.observe(&params, price("0.50"));
        assert_eq!(
            history.signal(&params, price("0.20")).recommendation,
            Recommendation::BuyYes
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_price() -> impl Strategy<Value = Price> {
            (1i64..=999).prop_map(|milli| Price::new(Decimal::new(milli, 3)).expect("inside"))
        }

        proptest! {
            /// The estimate stays a probability, the signal is consistent with its edge in
            /// the way the API's own signals are (BUY_YES never with a negative edge, BUY_NO
            /// never with a positive one), and the same history always gives the same answer.
            #[test]
            fn signals_are_consistent_and_deterministic(
                history in proptest::collection::vec(any_price(), 0..40),
                current in any_price(),
            ) {
                let params = ModelParams::default();
                let mut state = PriceHistory::default();
                for p in &history {
                    state.observe(&params, *p);
                    let average = state.average().expect("seen a price");
                    prop_assert!(average > Decimal::ZERO && average < Decimal::ONE);
                    prop_assert!(average.scale() <= ModelParams::DECIMALS);
                }
                let signal = state.signal(&params, current);
                prop_assert_eq!(&signal, &state.clone().signal(&params, current));
                match signal.recommendation {
                    Recommendation::BuyYes => prop_assert!(signal.edge >= params.min_edge),
                    Recommendation::BuyNo => prop_assert!(signal.edge <= -params.min_edge),
                    Recommendation::NoTrade => {}
                }
                if let Some(p) = signal.probability {
                    prop_assert_eq!(p - current.get(), signal.edge);
                }
            }
        }
    }
}
