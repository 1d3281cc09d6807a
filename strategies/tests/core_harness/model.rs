//! The model of what an event or a reply should meet, rebuilt from the record in order: when
//! each market was last sent for a signal, the quota pause, and the budget spent.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use rust_decimal::Decimal;
use strategies::budget::BudgetLimits;
use strategies::filter;
use strategies::{
    CoreConfig, Decision, Event, EventBody, MarketKey, Outcome, Side, Signal, SignalReply, Step,
    Timestamp,
};

use super::Record;

#[derive(Default)]
pub struct Model {
    last_signal_at: BTreeMap<MarketKey, Timestamp>,
    pause_until: Option<Timestamp>,
    spent: Vec<Timestamp>,
}

impl Model {
    pub fn paused(&self, now: Timestamp) -> bool {
        self.pause_until.is_some_and(|u| now < u)
    }

    pub fn budget_full(&self, limits: BudgetLimits, now: Timestamp) -> bool {
        let minute = self
            .spent
            .iter()
            .filter(|t| **t > now - Duration::minutes(1))
            .count();
        let day = self
            .spent
            .iter()
            .filter(|t| t.date_naive() == now.date_naive())
            .count();
        (limits.max_per_minute > 0 && minute >= limits.max_per_minute as usize)
            || (limits.max_per_day > 0 && day >= limits.max_per_day as usize)
    }

    /// Refusals that apply to an event before any signal request, by the spec; empty means the
    /// event must get a ticket.
    pub fn applicable(
        &self,
        config: &CoreConfig,
        event: &Event,
        busy: &BTreeSet<MarketKey>,
        now: Timestamp,
    ) -> Vec<Outcome> {
        let shift = match &event.body {
            EventBody::Invalid { .. } => return vec![Outcome::Invalid],
            EventBody::PriceShift(s) if config.trade_types.contains(&event.event_type) => s,
            _ => return vec![Outcome::IgnoredType],
        };
        let rules = &config.filter;
        let mut out = Vec::new();
        if filter::check_age(rules, shift.timestamp.unwrap_or(event.received_at), now).is_err() {
            out.push(Outcome::Stale);
        }
        if filter::check_market(rules, &shift.market).is_err() {
            out.push(Outcome::FilteredMarket);
        }
        if filter::check_threshold(rules, shift).is_err() {
            out.push(Outcome::BelowThreshold);
        }
        if self
            .last_signal_at
            .get(&shift.market)
            .is_some_and(|t| now - *t < rules.cooldown)
        {
            out.push(Outcome::Cooldown);
        }
        if busy.contains(&shift.market) {
            out.push(Outcome::MarketBusy);
        }
        if self.paused(now) {
            out.push(Outcome::SignalError);
        }
        if self.budget_full(config.budget, now) {
            out.push(Outcome::SignalBudget);
        }
        out
    }

    pub fn observe(&mut self, record: &Record) {
        match record {
            Record::Event {
                step: Step::NeedSignal(t),
                now,
                ..
            } => {
                self.last_signal_at.insert(t.market.clone(), *now);
                self.spent.push(*now);
            }
            Record::Reply {
                reply:
                    SignalReply::Failed {
                        pause_until: Some(u),
                        ..
                    },
                ..
            } => {
                self.pause_until = Some(*u);
            }
            _ => {}
        }
    }
}

/// The win probability the spec gives the bought side.
pub fn win_probability(signal: &Signal, side: Side, c: Decimal) -> Decimal {
    match (signal.probability, side) {
        (Some(p), Side::Yes) => p,
        (Some(p), Side::No) => Decimal::ONE - p,
        (None, _) => (c + signal.edge.abs()).min(Decimal::ONE),
    }
}

pub fn expired(signal: &Signal, now: Timestamp) -> bool {
    signal.freshness.as_deref() == Some("expired") || signal.expires_at.is_some_and(|e| e <= now)
}

pub fn decided(step: &Step) -> Option<&Decision> {
    match step {
        Step::Decided(d) => Some(d),
        Step::NeedSignal(_) => None,
    }
}
