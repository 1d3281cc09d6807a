//! The one driver around [`Core`]: the live engine, replay and the property-test harness all
//! feed their inputs through a [`Timeline`], so they order and time decisions the same way.
//!
//! # The decision clock
//! Every input is decided at the caller's time, moved just past the previous decision's when
//! it is not already later: decision times strictly increase in the order decisions are made,
//! whatever the clock (a wall clock that steps back, events stamped out of order, a recording's
//! equal times). An event is stamped with its decision time (`received_at`), which is what a
//! recording stores and a replay decides it at again. A settlement that pays nothing takes no
//! time.
//!
//! # Replies known ahead
//! A replay knows each signal reply and when it arrived. [`Timeline::schedule`] holds it until
//! its time; [`Timeline::due`] decides the replies due by a time, in time order (among equal
//! times, the earlier request's first), never before the decision that asked for them. The
//! replay asks for the replies due before each event and settlement, and for the rest at the
//! end, so markets stay busy, cooldowns run and prices move as they did live. The live engine
//! schedules nothing: its replies arrive when they arrive.

use std::collections::VecDeque;

use crate::core::{Core, Input, Output};
use crate::types::Timestamp;
use crate::{SignalReply, SignalTicket};

/// A [`Core`] with its decision clock and its scheduled replies.
#[derive(Clone, Debug)]
pub struct Timeline {
    core: Core,
    last: Option<Timestamp>,
    scheduled: VecDeque<Scheduled>,
}

#[derive(Clone, Debug)]
struct Scheduled {
    at: Timestamp,
    ticket: SignalTicket,
    reply: SignalReply,
}

impl Timeline {
    pub fn new(core: Core) -> Timeline {
        Timeline {
            core,
            last: None,
            scheduled: VecDeque::new(),
        }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// For what is not an input: reconfiguring, restoring the operator's pause.
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    pub fn into_core(self) -> Core {
        self.core
    }

    /// The time an input given at `at` would be decided at.
    pub fn next_time(&self, at: Timestamp) -> Timestamp {
        match self.last {
            Some(last) if at <= last => last + chrono::Duration::nanoseconds(1),
            _ => at,
        }
    }

    /// Decide `input` at `at` on the decision clock.
    pub fn apply(&mut self, input: Input<'_>, at: Timestamp) -> Output {
        let at = self.next_time(at);
        let settles = matches!(input, Input::Settle { .. });
        let output = self.core.apply(input, at);
        if !(settles && output.effect.trades().is_empty()) {
            self.last = Some(at);
        }
        output
    }

    /// Hold `reply` to `ticket` until `at` (see the module docs).
    pub fn schedule(&mut self, ticket: SignalTicket, reply: SignalReply, at: Timestamp) {
        let at = self.next_time(at);
        // Stable: among equal times, the earlier request's reply goes first.
        let position = self.scheduled.partition_point(|s| s.at <= at);
        self.scheduled
            .insert(position, Scheduled { at, ticket, reply });
    }

    /// Decide the next scheduled reply due at or before `until` (any, when `None`).
    pub fn due(&mut self, until: Option<Timestamp>) -> Option<Output> {
        let next = self.scheduled.front()?;
        if until.is_some_and(|until| next.at > until) {
            return None;
        }
        let Scheduled { at, ticket, reply } = self.scheduled.pop_front()?;
        Some(self.apply(Input::Reply(&ticket, reply), at))
    }

    /// Replies scheduled and not yet decided.
    pub fn scheduled(&self) -> usize {
        self.scheduled.len()
    }
}
