//! The decision pipeline, top to bottom: one event in, one decision (or a signal request) out.
//!
//! ```text
//!  Event ──► decode result ──► type ──► filter (age, lists, threshold, cooldown)
//!        ──► market busy? ──► quota pause? ──► budget ──► NeedSignal(ticket)
//!  ticket + SignalReply ──► error / expired / NO_TRADE ──► size (Kelly, caps) ──► open trade
//! ```
//!
//! `Core` is synchronous and deterministic: the caller supplies the clock, the events and the
//! signal replies, in order. The live runner, replay and the tests all drive this same code.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::book::Book;
use crate::budget::{BudgetLimits, SignalBudget};
use crate::decision::{Decision, Outcome, Refusal};
use crate::event::{Event, EventBody};
use crate::filter::{self, FilterRules};
use crate::sizing::{self, FeeSchedule, SizeRequest, SizingRules};
use crate::types::{MarketKey, Price, Signal, Timestamp};

/// Everything the core needs to decide, from the config files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    pub filter: FilterRules,
    pub sizing: SizingRules,
    pub fees: FeeSchedule,
    pub budget: BudgetLimits,
    /// Event types that are traded (`price_shift`); others only update prices.
    pub trade_types: Vec<String>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            filter: FilterRules::default(),
            sizing: SizingRules::default(),
            fees: FeeSchedule::default(),
            budget: BudgetLimits::default(),
            trade_types: vec!["price_shift".to_string()],
        }
    }
}

/// What the core remembers per market. Persisted with every change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MarketState {
    /// Latest YES price seen on the stream.
    pub last_yes: Option<Price>,
    pub last_price_at: Option<Timestamp>,
    /// When the market was last sent for a signal (starts the cooldown).
    pub last_signal_at: Option<Timestamp>,
}

/// A pending signal request: the event that asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalTicket {
    pub event_id: String,
    pub event_type: String,
    pub market: MarketKey,
    pub requested_at: Timestamp,
}

/// How a signal request ended, after the caller's retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalReply {
    Signal(Signal),
    Failed {
        reason: String,
        /// The API said the quota is spent until then (a 429 with a date `Retry-After`).
        pause_until: Option<Timestamp>,
    },
}

/// The result of feeding one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Decided(Decision),
    /// Ask the signal API, then call [`Core::on_signal`] with the ticket and the reply.
    NeedSignal(SignalTicket),
}

/// Pause of all signal requests after the API reported its quota spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaPause {
    pub until: Timestamp,
    pub reason: String,
}

/// The synchronous trading core.
#[derive(Clone, Debug)]
pub struct Core {
    config: CoreConfig,
    book: Book,
    markets: BTreeMap<MarketKey, MarketState>,
    in_flight: BTreeSet<MarketKey>,
    budget: SignalBudget,
    pause: Option<QuotaPause>,
}

impl Core {
    pub fn new(config: CoreConfig) -> Core {
        let book = Book::new(config.sizing.bankroll);
        Core::restore(config, book, BTreeMap::new(), SignalBudget::default(), None)
    }

    /// Rebuild from persisted state (after a restart).
    pub fn restore(
        config: CoreConfig,
        book: Book,
        markets: BTreeMap<MarketKey, MarketState>,
        budget: SignalBudget,
        pause: Option<QuotaPause>,
    ) -> Core {
        Core {
            config,
            book,
            markets,
            in_flight: BTreeSet::new(),
            budget,
            pause,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    pub fn market(&self, key: &MarketKey) -> Option<&MarketState> {
        self.markets.get(key)
    }

    pub fn markets(&self) -> &BTreeMap<MarketKey, MarketState> {
        &self.markets
    }

    pub fn budget(&self) -> &SignalBudget {
        &self.budget
    }

    pub fn pause(&self) -> Option<&QuotaPause> {
        self.pause.as_ref()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Decide an event, or ask for a signal.
    pub fn on_event(&mut self, event: &Event, now: Timestamp) -> Step {
        if let (Some(market), Some(price)) = (event.market(), event.yes_price()) {
            let state = self.markets.entry(market.clone()).or_default();
            state.last_yes = Some(price);
            state.last_price_at = Some(now);
        }
        match self.screen(event, now) {
            Ok(ticket) => Step::NeedSignal(ticket),
            Err(refusal) => Step::Decided(self.decision(event, refusal, now)),
        }
    }

    fn screen(&mut self, event: &Event, now: Timestamp) -> Result<SignalTicket, Refusal> {
        let shift = match &event.body {
            EventBody::Invalid { reason, .. } => {
                return Err(Refusal::new(Outcome::Invalid, reason.clone()))
            }
            EventBody::PriceShift(shift)
                if self
                    .config
                    .trade_types
                    .iter()
                    .any(|t| t == &event.event_type) =>
            {
                shift
            }
            _ => {
                return Err(Refusal::new(
                    Outcome::IgnoredType,
                    format!("{} events are not traded", event.event_type),
                ))
            }
        };
        let market = &shift.market;
        let last_signal_at = self.markets.get(market).and_then(|m| m.last_signal_at);
        filter::screen(
            &self.config.filter,
            shift,
            event.received_at,
            last_signal_at,
            now,
        )?;
        if self.in_flight.contains(market) {
            return Err(Refusal::new(
                Outcome::MarketBusy,
                format!("a signal for {market} is already in flight"),
            ));
        }
        self.check_pause(now)?;
        self.budget
            .try_spend(self.config.budget, now)
            .map_err(|why| Refusal::new(Outcome::SignalBudget, why))?;
        Ok(self.start_signal(event, market.clone(), now))
    }

    /// Refuse while the API's quota pause lasts; forget the pause once it has passed.
    fn check_pause(&mut self, now: Timestamp) -> Result<(), Refusal> {
        if let Some(pause) = &self.pause {
            if now < pause.until {
                return Err(Refusal::new(
                    Outcome::SignalError,
                    format!(
                        "signals paused until {}: {}",
                        pause.until.to_rfc3339(),
                        pause.reason
                    ),
                ));
            }
            self.pause = None;
        }
        Ok(())
    }

    fn start_signal(&mut self, event: &Event, market: MarketKey, now: Timestamp) -> SignalTicket {
        self.markets
            .entry(market.clone())
            .or_default()
            .last_signal_at = Some(now);
        self.in_flight.insert(market.clone());
        SignalTicket {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            market,
            requested_at: now,
        }
    }

    /// Re-arm a ticket for an event that was waiting for its signal when the bot stopped.
    /// Refuses it as `stale` if it has aged past `filter.max_event_age` meanwhile.
    pub fn resume(&mut self, event: &Event, now: Timestamp) -> Step {
        let event_time = match &event.body {
            EventBody::PriceShift(shift) => shift.timestamp.unwrap_or(event.received_at),
            _ => event.received_at,
        };
        let market = event.market().cloned();
        let checked = filter::check_age(&self.config.filter, event_time, now)
            .and_then(|()| self.check_pause(now))
            .and_then(|()| {
                market.ok_or_else(|| Refusal::new(Outcome::Invalid, "event has no market"))
            });
        match checked {
            Ok(market) => {
                if let Some(price) = event.yes_price() {
                    let state = self.markets.entry(market.clone()).or_default();
                    if state.last_yes.is_none() {
                        state.last_yes = Some(price);
                    }
                }
                self.in_flight.insert(market.clone());
                Step::NeedSignal(SignalTicket {
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                    market,
                    requested_at: now,
                })
            }
            Err(refusal) => Step::Decided(self.decision(event, refusal, now)),
        }
    }

    /// Decide an event whose signal came back (or failed for good).
    pub fn on_signal(
        &mut self,
        ticket: &SignalTicket,
        reply: SignalReply,
        now: Timestamp,
    ) -> Decision {
        self.in_flight.remove(&ticket.market);
        let (signal, result) = match reply {
            SignalReply::Failed {
                reason,
                pause_until,
            } => {
                if let Some(until) = pause_until {
                    self.pause = Some(QuotaPause {
                        until,
                        reason: reason.clone(),
                    });
                }
                (None, Err(Refusal::new(Outcome::SignalError, reason)))
            }
            SignalReply::Signal(signal) => {
                let result = self.trade_on(ticket, &signal, now);
                (Some(signal), result)
            }
        };
        let (outcome, reason, trades) = match result {
            Ok((reason, trades)) => (Outcome::Traded, reason, trades),
            Err(refusal) => (refusal.outcome, refusal.reason, Vec::new()),
        };
        Decision {
            event_id: ticket.event_id.clone(),
            event_type: ticket.event_type.clone(),
            market: Some(ticket.market.clone()),
            outcome,
            reason,
            decided_at: now,
            signal,
            trades,
        }
    }

    fn trade_on(
        &mut self,
        ticket: &SignalTicket,
        signal: &Signal,
        now: Timestamp,
    ) -> Result<(String, Vec<crate::decision::Trade>), Refusal> {
        if signal.freshness.as_deref() == Some("expired") {
            return Err(Refusal::new(
                Outcome::SignalExpired,
                "signal freshness is \"expired\"",
            ));
        }
        if let Some(expires_at) = signal.expires_at {
            if expires_at <= now {
                return Err(Refusal::new(
                    Outcome::SignalExpired,
                    format!("signal expired at {}", expires_at.to_rfc3339()),
                ));
            }
        }
        let Some(side) = signal.recommendation.side() else {
            return Err(Refusal::new(Outcome::NoTrade, "signal recommends NO_TRADE"));
        };
        let market = &ticket.market;
        let Some(yes) = self.markets.get(market).and_then(|m| m.last_yes) else {
            return Err(Refusal::new(
                Outcome::Invalid,
                format!("no price seen for {market}"),
            ));
        };
        let price = side.price_of(yes);
        let c = price.get();
        let w = match signal.probability {
            Some(p_yes) => match side {
                crate::types::Side::Yes => p_yes,
                crate::types::Side::No => Decimal::ONE - p_yes,
            },
            None => (c + signal.edge.abs()).min(Decimal::ONE),
        };
        let request = SizeRequest {
            platform: market.platform,
            price,
            win_probability: w,
            cash: self.book.cash(),
            open_exposure: self.book.open_exposure(),
        };
        let sized = sizing::size(&self.config.sizing, &self.config.fees, &request)?;
        let trade = self
            .book
            .open(&ticket.event_id, market, side, &sized, w, now);
        let reason = format!(
            "{} {} x{} @ {} (w {}, kelly {}, stake {})",
            signal_name(signal),
            market,
            sized.contracts,
            c,
            w,
            sized.kelly.round_dp(4),
            sized.stake.round_dp(2)
        );
        Ok((reason, vec![trade]))
    }

    fn decision(&self, event: &Event, refusal: Refusal, now: Timestamp) -> Decision {
        Decision {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            market: event.market().cloned(),
            outcome: refusal.outcome,
            reason: refusal.reason,
            decided_at: now,
            signal: None,
            trades: Vec::new(),
        }
    }
}

fn signal_name(signal: &Signal) -> &'static str {
    match signal.recommendation {
        crate::types::Recommendation::BuyYes => "BUY_YES",
        crate::types::Recommendation::BuyNo => "BUY_NO",
        crate::types::Recommendation::NoTrade => "NO_TRADE",
    }
}
