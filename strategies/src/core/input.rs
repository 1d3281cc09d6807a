//! The core's one entry: an [`Input`] and the caller's clock in, an [`Output`] out — what the
//! input did ([`Effect`]) and the audit of what it changed in the persisted state
//! ([`Changes`]), from which the caller's store batch is built. Nothing else writes state.
//!
//! Drivers go through [`crate::timeline::Timeline`], which adds the decision clock and the
//! reply schedule; the step functions below ([`Core::on_event`], [`Core::on_signal`], ...) are
//! what `apply` dispatches to, public for the example tests that look at one step.

use super::{Control, Core, MarketState, QuotaPause, SignalReply, SignalTicket, Step};
use crate::book::{BookTotals, Position};
use crate::budget::SignalBudget;
use crate::decision::{Decision, Trade};
use crate::event::Event;
use crate::report::EquitySnapshot;
use crate::types::{MarketKey, Side, Timestamp};

/// Everything that can happen to the core.
#[derive(Debug)]
pub enum Input<'a> {
    /// A received event, from any intake or a recording. Its `received_at` is its decision
    /// time: the timeline stamps it before the core sees it.
    Event(&'a mut Event),
    /// An event that was waiting for its signal when the bot stopped.
    Resume(&'a Event),
    /// The answer to a signal request (after the caller's retries).
    Reply(&'a SignalTicket, SignalReply),
    /// A resolved market, paid to `winner`; `id` names the cause in the ledger.
    Settle {
        market: &'a MarketKey,
        winner: Side,
        id: &'a str,
    },
    /// An operator's action, decided under `id`.
    Control { control: &'a Control, id: &'a str },
}

/// What an input did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Decided(Decision),
    /// Ask the signal API, then apply [`Input::Reply`] with the ticket.
    NeedSignal(SignalTicket),
    /// A settlement's trades (none when nothing was held there).
    Settled(Vec<Trade>),
}

impl Effect {
    /// The trades made, in order.
    pub fn trades(&self) -> &[Trade] {
        match self {
            Effect::Decided(decision) => &decision.trades,
            Effect::NeedSignal(_) => &[],
            Effect::Settled(trades) => trades,
        }
    }
}

/// One input's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The time the input was decided at.
    pub at: Timestamp,
    pub effect: Effect,
    /// The persisted state it changed (empty with [`Core::set_audit`] off).
    pub changes: Changes,
    /// The book's value after this input, when one is due: after every input that trades, and
    /// at most once per `snapshot_every` while held prices move. Made with the audit off too,
    /// since replay draws its equity curve through them.
    pub snapshot: Option<EquitySnapshot>,
}

/// The persisted state one input changed, each item as it now is: written in the same store
/// transaction as the input's decision, it keeps the store equal to the core (a restart
/// restores exactly this).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub markets: Vec<(MarketKey, MarketState)>,
    /// A position's new state; `None`: closed.
    pub positions: Vec<((MarketKey, Side), Option<Position>)>,
    pub totals: Option<BookTotals>,
    pub budget: Option<SignalBudget>,
    /// `Some(None)`: the pause ended.
    pub pause: Option<Option<QuotaPause>>,
    /// The operator's pause, when it changed.
    pub halted: Option<bool>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.markets.is_empty()
            && self.positions.is_empty()
            && self.totals.is_none()
            && self.budget.is_none()
            && self.pause.is_none()
            && self.halted.is_none()
    }

    /// Append the changes of a later input: its items override these where they meet.
    pub fn absorb(&mut self, later: Changes) {
        self.markets.extend(later.markets);
        self.positions.extend(later.positions);
        self.totals = later.totals.or(self.totals.take());
        self.budget = later.budget.or(self.budget.take());
        self.pause = later.pause.or(self.pause.take());
        self.halted = later.halted.or(self.halted.take());
    }
}

/// Which scalar parts of the state the current input wrote (set where they are written).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Touched {
    pub budget: bool,
    pub pause: bool,
    pub halted: bool,
}

impl Core {
    /// Decide `input` at `now` (the caller's clock; see [`crate::timeline::Timeline`] for the
    /// one that drivers use).
    pub fn apply(&mut self, input: Input<'_>, now: Timestamp) -> Output {
        self.touched = Touched::default();
        let (effect, market) = match input {
            Input::Event(event) => {
                event.received_at = now;
                let effect = match self.on_event(event, now) {
                    Step::Decided(decision) => Effect::Decided(decision),
                    Step::NeedSignal(ticket) => Effect::NeedSignal(ticket),
                };
                (
                    effect,
                    self.audit.then(|| event.market().cloned()).flatten(),
                )
            }
            Input::Resume(event) => {
                let effect = match self.resume(event, now) {
                    Step::Decided(decision) => Effect::Decided(decision),
                    Step::NeedSignal(ticket) => Effect::NeedSignal(ticket),
                };
                (
                    effect,
                    self.audit.then(|| event.market().cloned()).flatten(),
                )
            }
            Input::Reply(ticket, reply) => {
                (Effect::Decided(self.on_signal(ticket, reply, now)), None)
            }
            Input::Settle { market, winner, id } => {
                (Effect::Settled(self.settle(market, winner, id, now)), None)
            }
            Input::Control { control, id } => {
                (Effect::Decided(self.control(control, id, now)), None)
            }
        };
        let changes = match self.audit {
            true => self.changes(market, effect.trades()),
            false => Changes::default(),
        };
        let snapshot = self
            .snapshot_due(now, !effect.trades().is_empty())
            .then(|| self.snapshot(now));
        Output {
            at: now,
            effect,
            changes,
            snapshot,
        }
    }

    /// A snapshot follows every input that traded, and an input at least
    /// `snapshot_every` after the last snapshot when a held market's price has moved since.
    fn snapshot_due(&self, now: Timestamp, traded: bool) -> bool {
        traded
            || (self.prices_moved
                && self
                    .snapshot_at
                    .is_none_or(|at| now - at >= self.config.snapshot_every))
    }

    /// The book at the latest prices seen: the held side of each market's last YES price, or
    /// the position's average entry price where none was seen (a store from before prices
    /// were kept), as `shiftbot report` values it.
    fn snapshot(&mut self, now: Timestamp) -> EquitySnapshot {
        self.snapshot_at = Some(now);
        self.prices_moved = false;
        let totals = &self.book.totals;
        let market_value: rust_decimal::Decimal = self
            .book
            .positions
            .iter()
            .map(|((market, side), position)| {
                let mark = self
                    .markets
                    .get(market)
                    .and_then(|state| state.last_yes)
                    .map_or(position.average_price(), |yes| {
                        crate::report::side_price(*side, yes.get())
                    });
                rust_decimal::Decimal::from(position.contracts) * mark
            })
            .sum();
        let equity = totals.cash + market_value;
        EquitySnapshot {
            at: now,
            cash: totals.cash,
            market_value,
            equity,
            realized_pnl: totals.realized_pnl,
            unrealized_pnl: equity - totals.starting_bankroll - totals.realized_pnl,
        }
    }

    /// When the last snapshot was made (from the store, after a restart), so the next one
    /// keeps its distance.
    pub fn set_snapshot_clock(&mut self, last: Option<Timestamp>) {
        self.snapshot_at = last;
    }

    /// Whether [`Core::apply`] reports its [`Changes`] (on unless set off). Off for a driver
    /// that persists nothing (replay, sweeps), where building them is a measurable share of
    /// the time; every decision and trade is the same either way.
    pub fn set_audit(&mut self, audit: bool) {
        self.audit = audit;
    }

    /// The audit of the input just decided: the event's market, the position of every
    /// trade's (market, side) and the totals when anything traded (the book changes only
    /// through trades), and the scalars it wrote.
    fn changes(&self, market: Option<MarketKey>, trades: &[Trade]) -> Changes {
        let mut changes = Changes::default();
        if let Some(market) = market {
            if let Some(state) = self.markets.get(&market) {
                changes.markets.push((market, state.clone()));
            }
        }
        for trade in trades {
            let market = trade.market();
            let position = self.book.position(&market, trade.side).cloned();
            changes.positions.push(((market, trade.side), position));
        }
        if !trades.is_empty() {
            changes.totals = Some(self.book.totals.clone());
        }
        let touched = self.touched;
        changes.budget = touched.budget.then(|| self.budget.clone());
        changes.pause = touched.pause.then(|| self.pause.clone());
        changes.halted = touched.halted.then_some(self.halted);
        changes
    }
}
