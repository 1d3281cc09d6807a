//! The decision pipeline, top to bottom: one event in, one decision (or a signal request) out.
//!
//! ```text
//!  Event ──► mark price ──► decode result ──► type ──► filter (age, lists, threshold, cooldown)
//!        ──► market busy? ──► quota pause? ──► budget ──► NeedSignal(ticket)
//!  ticket + SignalReply ──► exits ──► error / expired / NO_TRADE ──► close opposite side
//!        ──► size (Kelly, caps) ──► open trade
//! ```
//! (A refused event runs the exits too: see below.)
//!
//! `Core` is synchronous and deterministic: the caller supplies the clock, the events and the
//! signal replies, in order. The live runner, replay and the tests all drive this same code.
//!
//! # When exits run
//! Every event marks its market (`price_shift.new_yes`, `whale_alert.price`). Then, at every
//! *decision* — an event decided at once, a signal reply, a resumed event refused — the exit
//! rules ([`crate::exits`]) run over **all** open positions at their markets' last prices and
//! the decision's clock, and whatever they close goes first in that decision's `trades` (the
//! outcome stays the event's own; the reason gains `; closed ...`). Because the closes belong
//! to a decision, they are persisted atomically with it: exactly once, like entries.
//! An event that asks for a signal makes no decision yet, so its exits run when its reply is
//! decided (moments later, at the then-latest prices). Checking every position at every
//! decision also fires `max_hold` for markets whose price has gone quiet; the cost is one pass
//! over the (exposure-capped, small) position map. On a silent stream `max_hold` waits for the
//! next event.
//!
//! A `BUY_NO` while holding YES (or the reverse) sells the held side first when
//! `exits.close_on_opposite_signal` is on, then sizes the entry with the cash after the sale;
//! the sale stands even when the entry is then refused, since the signal still says the held
//! side is overpriced. With it off, both sides may be held.
//!
//! Settlement ([`Core::settle`]) is not driven by events; the shell calls it when the API says a
//! market has resolved, and persists the returned trades with the book.

mod control;
mod dirty;
mod input;
mod state;

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;

pub use control::Control;
use dirty::DirtyMarkets;
use input::Touched;
pub use input::{Changes, Effect, Input, Output};
pub use state::{CoreConfig, MarketState, QuotaPause, SignalReply, SignalTicket, Step};

use crate::book::{Book, Position};
use crate::budget::SignalBudget;
use crate::decision::{Decision, Outcome, Refusal, Trade};
use crate::event::{Event, EventBody};
use crate::exits::{self, Closes, ExitReason};
use crate::filter;
use crate::sizing::{self, SizeRequest};
use crate::types::{MarketKey, Price, Recommendation, Side, Signal, Timestamp};

/// The markets the core has seen, by key. A hash map with a fixed hasher (the same on every
/// run): the core looks a market up on every event, and a sweep replays millions of events per
/// combination. With thousands of markets a `BTreeMap` spent most of that lookup in string
/// comparisons (`memcmp` was 12 % of a 1,000,000-event sweep's profile), and SipHash, the
/// standard hasher, 7 %; rustc-hash's Fx hasher is a few instructions per word. Nothing
/// depends on the map's order (callers that show markets sort them).
pub type MarketMap = HashMap<MarketKey, MarketState, rustc_hash::FxBuildHasher>;

/// The synchronous trading core.
#[derive(Clone, Debug)]
pub struct Core {
    config: CoreConfig,
    book: Book,
    markets: MarketMap,
    in_flight: BTreeSet<MarketKey>,
    budget: SignalBudget,
    pause: Option<QuotaPause>,
    /// Markets whose price moved (or whose positions changed) since the exits last ran: only
    /// their positions can have newly reached take-profit or stop-loss. Usually one market.
    exits_dirty: DirtyMarkets,
    /// Whether decisions say who and why (see [`Core::set_explain`]).
    explain: bool,
    /// No open position reaches `exits.max_hold` before this (`None`: not known, look). A
    /// lower bound: positions opened later are due later still, closed ones not at all, so
    /// the exits skip the scan of every position for age until it passes.
    hold_due_at: Option<Timestamp>,
    /// The operator's pause (see [`control`]): no new positions while set.
    halted: bool,
    /// Whether [`Core::apply`] reports what it changed (see [`Core::set_audit`]).
    audit: bool,
    /// What the input being decided wrote, for its [`Changes`].
    touched: Touched,
    /// When the last equity snapshot was made, and whether a held market's price moved since.
    snapshot_at: Option<Timestamp>,
    prices_moved: bool,
}

impl Core {
    pub fn new(config: CoreConfig) -> Core {
        let book = Book::new(config.sizing.bankroll);
        Core::restore(
            config,
            book,
            MarketMap::default(),
            SignalBudget::default(),
            None,
        )
    }

    /// Rebuild from persisted state (after a restart).
    pub fn restore(
        config: CoreConfig,
        book: Book,
        markets: impl IntoIterator<Item = (MarketKey, MarketState)>,
        budget: SignalBudget,
        pause: Option<QuotaPause>,
    ) -> Core {
        let mut exits_dirty = DirtyMarkets::default();
        for (market, _) in book.positions.keys() {
            exits_dirty.mark(market);
        }
        Core {
            config,
            book,
            markets: markets.into_iter().collect(),
            in_flight: BTreeSet::new(),
            budget,
            pause,
            exits_dirty,
            explain: true,
            hold_due_at: None,
            halted: false,
            audit: true,
            touched: Touched::default(),
            snapshot_at: None,
            prices_moved: false,
        }
    }

    /// With `false`, refusals made without a signal (nearly every event) come out as quiet
    /// decisions: outcome, `decided_at` and trades as always, but an empty `event_id`,
    /// `event_type` and `reason` and no `market`, none of them built. For sweeps, which decide
    /// millions of events and read only outcomes and trades; every outcome, trade and number
    /// is the same either way. Decisions on a signal reply are always complete.
    pub fn set_explain(&mut self, explain: bool) {
        self.explain = explain;
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Take new rules from the next input on (a config reload). Every held market is looked at
    /// by the next exit check (take-profit or stop-loss may now be due), and the `max_hold`
    /// shortcut is recomputed. Book, markets, budget spent and pause stay as they are.
    pub fn reconfigure(&mut self, config: CoreConfig) {
        self.config = config;
        for (market, _) in self.book.positions.keys() {
            self.exits_dirty.mark(market);
        }
        self.hold_due_at = None;
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    pub fn market(&self, key: &MarketKey) -> Option<&MarketState> {
        self.markets.get(key)
    }

    /// Every market seen, in no particular order.
    pub fn markets(&self) -> &MarketMap {
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

    /// The latest YES price seen for `market`.
    pub fn last_yes(&self, market: &MarketKey) -> Option<Price> {
        self.markets.get(market).and_then(|m| m.last_yes)
    }

    /// Markets with at least one open position: the ones whose resolution is worth polling.
    pub fn open_markets(&self) -> BTreeSet<MarketKey> {
        self.book.positions.keys().map(|(m, _)| m.clone()).collect()
    }

    /// Decide an event, or ask for a signal.
    pub fn on_event(&mut self, event: &Event, now: Timestamp) -> Step {
        let mut last_signal_at = None;
        if let (Some(market), Some(price)) = (event.market(), event.yes_price()) {
            // `get_mut` first: a known market (nearly every event) costs no key clone.
            let state = match self.markets.get_mut(market) {
                Some(state) => state,
                None => self.markets.entry(market.clone()).or_default(),
            };
            let moved = state.last_yes != Some(price);
            state.last_yes = Some(price);
            state.last_price_at = Some(now);
            last_signal_at = Some(state.last_signal_at);
            if !self.book.positions.is_empty() {
                self.exits_dirty.mark(market);
                self.prices_moved |= moved;
            }
        }
        match self.screen(event, last_signal_at, now) {
            Ok(ticket) => Step::NeedSignal(ticket),
            Err(refusal) => Step::Decided(self.refuse(event, refusal, now)),
        }
    }

    /// `last_signal_at`: the market's, when the caller has already looked it up (`None`:
    /// look it up here).
    fn screen(
        &mut self,
        event: &Event,
        last_signal_at: Option<Option<Timestamp>>,
        now: Timestamp,
    ) -> Result<SignalTicket, Refusal> {
        let last_signal = |market: &MarketKey| match last_signal_at {
            Some(known) => known,
            None => self.markets.get(market).and_then(|m| m.last_signal_at),
        };
        let rules = &self.config.filter;
        let market = match &event.body {
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
                let last = last_signal(&shift.market);
                filter::screen(rules, shift, event.received_at, last, now)?;
                &shift.market
            }
            EventBody::Other {
                market: Some(market),
            } if event.event_type == filter::ANALYSIS_COMPLETE
                && rules.on_analysis_complete == filter::OnAnalysisComplete::Signal =>
            {
                let last = last_signal(market);
                filter::screen_analysis(rules, market, event.received_at, last, now)?;
                market
            }
            _ => {
                return Err(Refusal::new(
                    Outcome::IgnoredType,
                    format!("{} events are not traded", event.event_type),
                ))
            }
        };
        if self.halted {
            return Err(Refusal::new(Outcome::Paused, control::PAUSED_REASON));
        }
        if self.in_flight.contains(market) {
            return Err(Refusal::new(
                Outcome::MarketBusy,
                format!("a signal for {market} is already in flight"),
            ));
        }
        self.check_pause(now)?;
        self.touched.budget = true;
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
            self.touched.pause = true;
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
            .and_then(|()| match self.halted {
                true => Err(Refusal::new(Outcome::Paused, control::PAUSED_REASON)),
                false => Ok(()),
            })
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
            Err(refusal) => Step::Decided(self.refuse(event, refusal, now)),
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
        let mut closes = Closes::default();
        self.run_exits(&ticket.event_id, now, &mut closes);
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
                    self.touched.pause = true;
                }
                (None, Err(Refusal::new(Outcome::SignalError, reason)))
            }
            SignalReply::Signal(signal) => {
                let result = self.trade_on(ticket, &signal, now, &mut closes);
                (Some(signal), result)
            }
        };
        let (outcome, reason, entry) = match result {
            Ok((reason, entry)) => (Outcome::Traded, reason, Some(entry)),
            Err(refusal) => (refusal.outcome, refusal.reason.to_string(), None),
        };
        let reason = closes.annotate(reason);
        let entry_opened = entry.is_some();
        let mut trades = closes.trades;
        trades.extend(entry);
        for trade in &trades {
            self.exits_dirty.mark(&trade.market());
        }
        if entry_opened {
            // A position opened now is due for age at now + max_hold: keep the bound a bound
            // even if a caller's clock ever steps back.
            let due = self
                .config
                .exits
                .max_hold
                .and_then(|max| now.checked_add_signed(max));
            self.hold_due_at = match (self.hold_due_at, due) {
                (Some(at), Some(due)) => Some(at.min(due)),
                _ => None,
            };
        }
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

    /// Act on a usable signal: sell the opposite side if held (into `closes`), then buy.
    fn trade_on(
        &mut self,
        ticket: &SignalTicket,
        signal: &Signal,
        now: Timestamp,
        closes: &mut Closes,
    ) -> Result<(String, Trade), Refusal> {
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
        if self.config.exits.close_on_opposite_signal {
            let held = side.opposite();
            if let Some(trade) = exits::close_position(
                &mut self.book,
                &self.config.fees,
                market,
                held,
                yes,
                &ticket.event_id,
                now,
            ) {
                closes.push(trade, ExitReason::OppositeSignal);
            }
        }
        if self.halted {
            return Err(Refusal::new(Outcome::Paused, control::PAUSED_REASON));
        }
        let price = side.price_of(yes);
        let c = price.get();
        let w = match signal.probability {
            Some(p_yes) => match side {
                Side::Yes => p_yes,
                Side::No => Decimal::ONE - p_yes,
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
        Ok((reason, trade))
    }

    /// Decide an event without a signal; the exits due at `now` ride along.
    fn refuse(&mut self, event: &Event, refusal: Refusal, now: Timestamp) -> Decision {
        let mut closes = Closes::default();
        self.run_exits(&event.id, now, &mut closes);
        // Quiet: who and why are left empty, never built (see `set_explain`).
        let (event_id, event_type, market, reason) = match self.explain {
            true => (
                event.id.clone(),
                event.event_type.clone(),
                event.market().cloned(),
                closes.annotate(refusal.reason.to_string()),
            ),
            false => (String::new(), String::new(), None, String::new()),
        };
        Decision {
            event_id,
            event_type,
            market,
            outcome: refusal.outcome,
            reason,
            decided_at: now,
            signal: None,
            trades: closes.trades,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Exits and settlement (the rules themselves live in `crate::exits`).

    /// The side a resolved market settled to by its last price and `exits.settle_at`, or
    /// `None` (no price, or not decisive yet: wait).
    pub fn settlement_candidate(&self, market: &MarketKey) -> Option<Side> {
        exits::settlement_side(self.last_yes(market)?, self.config.exits.settle_at)
    }

    /// Settle `market` to `winner`: every open position in it is paid 1 (winner) or 0 per
    /// contract, no fee. Idempotent: with nothing held it returns no trades and changes nothing.
    /// `event_id` names what caused it (the poll or the manual command) in the ledger.
    pub fn settle(
        &mut self,
        market: &MarketKey,
        winner: Side,
        event_id: &str,
        now: Timestamp,
    ) -> Vec<Trade> {
        exits::settle(&mut self.book, market, winner, event_id, now)
    }

    /// Run the exit rules over every open position that can have become due (see the module
    /// docs): those in markets whose price moved or whose positions changed, found by key
    /// rather than by comparing every position's market, and, with `max_hold`, those held that
    /// long. Due closes go in the book's (market, side) order, as a full scan would give them.
    fn run_exits(&mut self, event_id: &str, now: Timestamp, closes: &mut Closes) {
        if !self.book.positions.is_empty() {
            let dirty = std::mem::take(&mut self.exits_dirty);
            self.exits_for(dirty.members(), event_id, now, closes);
            self.exits_dirty = dirty;
        }
        self.exits_dirty.clear();
    }

    /// `dirty`: the markets to look at, each as the key its positions start at.
    fn exits_for<'a>(
        &mut self,
        dirty: impl Iterator<Item = &'a (MarketKey, Side)>,
        event_id: &str,
        now: Timestamp,
        closes: &mut Closes,
    ) {
        let max_hold = self.config.exits.max_hold;
        let scan_ages = max_hold.is_some() && self.hold_due_at.is_none_or(|at| now >= at);
        // Before `hold_due_at` (a lower bound) no position is held that long, so the age test,
        // and the date arithmetic of its cutoff, is only needed when the ages are scanned.
        let cutoff = match scan_ages {
            true => max_hold.and_then(|max| now.checked_sub_signed(max)),
            false => None,
        };
        let held_long =
            |p: &Position| scan_ages && cutoff.is_none_or(|cutoff| p.opened_at <= cutoff);
        let positions = &self.book.positions;
        let markets = &self.markets;
        let last_yes = |m: &MarketKey| markets.get(m).and_then(|s| s.last_yes);
        let rules = &self.config.exits;
        let mut due = Vec::new();
        for start in dirty {
            let mut in_market = positions
                .range(start..)
                .take_while(|((m, _), _)| *m == start.0)
                .map(|(_, p)| p)
                .filter(|p| !held_long(p))
                .peekable();
            // One price for the market's positions, looked up only if it has any.
            if in_market.peek().is_none() {
                continue;
            }
            let Some(yes) = last_yes(&start.0) else {
                continue;
            };
            due.extend(exits::due_exits(rules, in_market, |_| Some(yes), now));
        }
        if scan_ages {
            let old = positions.values().filter(|p| held_long(p));
            due.extend(exits::due_exits(rules, old, last_yes, now));
        }
        due.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        exits::close_due(
            &mut self.book,
            &self.config.fees,
            due,
            event_id,
            now,
            closes,
        );
        if scan_ages {
            // The earliest any position left (one with no price to close at included) is due.
            let oldest = self.book.positions.values().map(|p| p.opened_at).min();
            self.hold_due_at = match (oldest, max_hold) {
                (Some(opened), Some(max)) => opened.checked_add_signed(max),
                _ => None,
            };
        }
    }
}

fn signal_name(signal: &Signal) -> &'static str {
    match signal.recommendation {
        Recommendation::BuyYes => "BUY_YES",
        Recommendation::BuyNo => "BUY_NO",
        Recommendation::NoTrade => "NO_TRADE",
    }
}
