//! The replay driver: the live core, a virtual clock, recorded or fallback signal replies.
//!
//! # The timeline
//! The core is driven through the same [`Timeline`] as the live engine. Events are fed in file
//! order, each at its `received_at` (the live engine's decision clock for an event). A signal
//! request is answered by the event's recorded reply, scheduled on the timeline at its
//! recorded `signal_at`: decided before every later event whose `received_at` is after
//! `signal_at`, in `signal_at` order, so markets stay busy, cooldowns run and prices move
//! exactly as they did live. A reply is never decided before its own event. Replies still
//! pending at the end of the file are decided then, in order. Nothing is persisted, so the
//! core keeps no audit ([`Core::set_audit`]).
//!
//! # Settlements
//! A recording's settlement lines ([`super::settlement`]) are applied where they sit in the
//! file, at their recorded time: the replies due by then are delivered first, then
//! `Core::settle(market, winner, id, at)` pays whatever the replay holds in that market, and its
//! settle trades join the run's trades. That is how the live engine orders them (a settlement
//! gets a decision time of its own), so a replay with the live config settles exactly what the
//! live run settled. Under another config the recorded winner is applied to whatever the
//! replay holds there (the winner is a fact about the market), possibly nothing. What the
//! recording cannot tell: a market that resolved while the live bot held nothing there left no
//! settle trade and so no line, and a replay holding a position there keeps it open.
//!
//! # Events that were not signalled when recorded
//! When the replayed config asks for a signal the live run never requested (a lower
//! threshold, another cooldown), [`Fallback`] decides:
//! - `skip`: the request is answered at once with a failure, so the core releases the market
//!   (its cooldown and budget count the request, as a live request would), and the decision is
//!   tallied as [`ReplayOutcome::NoRecordedSignal`] instead of the core's `signal_error`.
//!   The outcome exists only in replay; `strategies::Outcome` is unchanged.
//! - `model`: the request is answered at once by the local baseline model
//!   ([`strategies::model`]) from the market's prices seen so far in the file.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use strategies::model::{ModelParams, PriceHistory};
use strategies::{
    Core, CoreConfig, Decision, Effect, Input, Outcome, Output, SignalReply, SignalTicket,
    Timeline, Timestamp, Trade,
};

use super::settlement::Settlement;
use super::tape::{blank_event, Tape, TapeError, TapeReader};

/// What answers a signal request that has no recorded reply (`replay.fallback`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Decide `no_recorded_signal`.
    #[default]
    Skip,
    /// Ask the local baseline model ([`strategies::model`]).
    Model,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Skip => "skip",
            Fallback::Model => "model",
        }
    }
}

impl std::str::FromStr for Fallback {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "skip" => Ok(Fallback::Skip),
            "model" => Ok(Fallback::Model),
            other => Err(format!(
                "unknown fallback {other:?} (expected skip or model)"
            )),
        }
    }
}

/// How to replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    pub fallback: Fallback,
    pub model: ModelParams,
    /// Keep every decision (event id, outcome, reason) in [`ReplayRun::decisions`]; off for
    /// sweeps, which only need the tally and the trades.
    pub keep_decisions: bool,
    /// Replay only the events at these indexes of the tape (and the settlements placed among
    /// them), on a fresh book: one fold of a holdout or walk-forward sweep. None: all.
    pub window: Option<std::ops::Range<usize>>,
}

/// The failure reason a skipped request is answered with (and shows in its decision).
pub const NO_RECORDED_SIGNAL_REASON: &str =
    "no recorded signal for this event (replay.fallback = \"skip\")";

/// A decision's outcome in replay: the core's, or the replay-only `no_recorded_signal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReplayOutcome {
    Core(Outcome),
    NoRecordedSignal,
}

impl ReplayOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayOutcome::Core(outcome) => outcome.as_str(),
            ReplayOutcome::NoRecordedSignal => "no_recorded_signal",
        }
    }

    /// Every outcome, in the order reports list them.
    pub fn all() -> impl Iterator<Item = ReplayOutcome> {
        Outcome::ALL
            .into_iter()
            .map(ReplayOutcome::Core)
            .chain(std::iter::once(ReplayOutcome::NoRecordedSignal))
    }

    fn index(self) -> usize {
        match self {
            ReplayOutcome::Core(outcome) => Outcome::ALL
                .iter()
                .position(|o| *o == outcome)
                .unwrap_or(Outcome::ALL.len()),
            ReplayOutcome::NoRecordedSignal => Outcome::ALL.len() + 1,
        }
    }
}

impl std::fmt::Display for ReplayOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReplayOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Decisions counted by outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// By [`ReplayOutcome::index`]; one spare slot for an outcome missing from `Outcome::ALL`.
    counts: [u64; Outcome::ALL.len() + 2],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            counts: [0; Outcome::ALL.len() + 2],
        }
    }
}

impl Tally {
    pub fn add(&mut self, outcome: ReplayOutcome) {
        self.counts[outcome.index()] += 1;
    }

    pub fn get(&self, outcome: ReplayOutcome) -> u64 {
        self.counts[outcome.index()]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Outcomes with at least one decision, in report order.
    pub fn nonzero(&self) -> impl Iterator<Item = (ReplayOutcome, u64)> + '_ {
        ReplayOutcome::all()
            .map(|o| (o, self.get(o)))
            .filter(|(_, n)| *n > 0)
    }
}

/// One decision of a replay, kept when [`ReplayOptions::keep_decisions`] is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayDecision {
    pub event_id: String,
    pub outcome: ReplayOutcome,
    pub reason: String,
    pub decided_at: Timestamp,
}

/// Everything a replay produced.
#[derive(Clone, Debug)]
pub struct ReplayRun {
    /// The core after the last event, on its timeline.
    timeline: Timeline,
    pub tally: Tally,
    /// Every trade, in the order made.
    pub trades: Vec<Trade>,
    /// The core's equity snapshots, on the recording's clock (as live would have stored them).
    pub snapshots: Vec<strategies::report::EquitySnapshot>,
    pub decisions: Vec<ReplayDecision>,
    pub events: u64,
    /// First and last decision time.
    pub decision_span: Option<(Timestamp, Timestamp)>,
    /// First and last event receive time (the recording's period).
    pub event_span: Option<(Timestamp, Timestamp)>,
    /// Signal requests answered by a recorded reply, by the fallback.
    pub recorded_replies: u64,
    pub fallback_replies: u64,
}

impl ReplayRun {
    /// The core after the last event: book, markets and their last prices.
    pub fn core(&self) -> &Core {
        self.timeline.core()
    }
}

/// Replay `tape` through a fresh core built from `config`.
pub fn replay(tape: &Tape, config: CoreConfig, options: &ReplayOptions) -> ReplayRun {
    let mut replayer = Replayer::new(config, options);
    replayer.feed(tape);
    replayer.finish()
}

/// Replay a recording as it is read, a buffer of lines at a time, never holding more of it
/// than that (memory does not grow with the recording): what `shiftbot replay` does. The same
/// run as [`replay`] over the whole tape.
pub fn replay_stream(
    reader: impl BufRead,
    origin: &str,
    config: CoreConfig,
    options: &ReplayOptions,
) -> Result<ReplayRun, TapeError> {
    let mut replayer = Replayer::new(config, options);
    let mut lines = TapeReader::new(reader, origin);
    let mut chunk = Tape::default();
    while lines.read_more(&mut chunk)? {
        replayer.feed(&chunk);
        chunk.clear_events();
    }
    replayer.feed(&chunk);
    Ok(replayer.finish())
}

/// A replay in progress: fed tapes in order (one whole recording, or its chunks, which must
/// share their interned markets: one [`Tape`] cleared between chunks).
pub struct Replayer<'a> {
    driver: Driver<'a>,
    scratch: strategies::Event,
}

impl<'a> Replayer<'a> {
    pub fn new(config: CoreConfig, options: &'a ReplayOptions) -> Replayer<'a> {
        let mut core = Core::new(config);
        // Nobody reads the reasons of decisions not kept: don't build them.
        core.set_explain(options.keep_decisions);
        core.set_audit(false);
        Replayer {
            driver: Driver {
                options,
                run: ReplayRun {
                    timeline: Timeline::new(core),
                    tally: Tally::default(),
                    trades: Vec::new(),
                    snapshots: Vec::new(),
                    decisions: Vec::new(),
                    events: 0,
                    decision_span: None,
                    event_span: None,
                    recorded_replies: 0,
                    fallback_replies: 0,
                },
                history: Vec::new(),
            },
            scratch: blank_event(),
        }
    }

    /// Replay `tape`'s events and settlements, after everything fed before.
    pub fn feed(&mut self, tape: &Tape) {
        let driver = &mut self.driver;
        let scratch = &mut self.scratch;
        if driver.options.fallback == Fallback::Model {
            driver
                .history
                .resize(tape.market_count(), PriceHistory::default());
        }
        let window = driver.options.window.clone().unwrap_or(0..tape.len());
        let (start, end) = (window.start.min(tape.len()), window.end.min(tape.len()));
        let last_window = end == tape.len();
        let mut settlements = tape
            .settlements()
            .iter()
            .filter(|s| s.position >= start && (last_window || s.position < end))
            .peekable();
        for index in start..end {
            while let Some(placed) = settlements.next_if(|s| s.position <= index) {
                driver.settle(&placed.settlement);
            }
            if !tape.fill(index, scratch) {
                continue;
            }
            let now = scratch.received_at;
            driver.run.event_span = Some(match driver.run.event_span {
                None => (now, now),
                Some((first, _)) => (first, now),
            });
            driver.deliver_until(Some(now));
            let output = driver.run.timeline.apply(Input::Event(scratch), now);
            driver.run.snapshots.extend(output.snapshot);
            match output.effect {
                Effect::Decided(decision) => driver.record(decision, None),
                Effect::NeedSignal(ticket) => driver.answer(tape, index, ticket, output.at),
                Effect::Settled(trades) => driver.run.trades.extend(trades),
            }
            if let (Some(market), Some(price)) = (tape.market_of(index), scratch.yes_price()) {
                if let Some(history) = driver.history.get_mut(market) {
                    history.observe(&driver.options.model, price);
                }
            }
            driver.run.events += 1;
        }
        for placed in settlements {
            driver.settle(&placed.settlement);
        }
    }

    /// Deliver the replies still pending and hand over the run.
    pub fn finish(mut self) -> ReplayRun {
        self.driver.deliver_until(None);
        self.driver.run
    }
}

struct Driver<'a> {
    options: &'a ReplayOptions,
    /// The run so far, its timeline (and its recorded replies not yet decided) included.
    run: ReplayRun,
    /// Per interned market, for the model fallback (empty otherwise).
    history: Vec<PriceHistory>,
}

impl Driver<'_> {
    /// A signal request for `tape`'s event `index`, made at `now`.
    fn answer(&mut self, tape: &Tape, index: usize, ticket: SignalTicket, now: Timestamp) {
        if let Some(recorded) = tape.reply(index) {
            self.run
                .timeline
                .schedule(ticket, recorded.reply, recorded.at);
            return;
        }
        self.run.fallback_replies += 1;
        match self.options.fallback {
            Fallback::Skip => {
                let reply = SignalReply::Failed {
                    reason: NO_RECORDED_SIGNAL_REASON.to_string(),
                    pause_until: None,
                };
                self.reply(&ticket, reply, now, Some(ReplayOutcome::NoRecordedSignal));
            }
            Fallback::Model => {
                let history = tape
                    .market_of(index)
                    .and_then(|m| self.history.get(m))
                    .copied()
                    .unwrap_or_default();
                let reply = match self.run.core().last_yes(&ticket.market) {
                    Some(current) => {
                        SignalReply::Signal(history.signal(&self.options.model, current))
                    }
                    None => SignalReply::Failed {
                        reason: "the model has no price for this market".to_string(),
                        pause_until: None,
                    },
                };
                self.reply(&ticket, reply, now, None);
            }
        }
    }

    /// Decide a reply the replay made up, now.
    fn reply(
        &mut self,
        ticket: &SignalTicket,
        reply: SignalReply,
        now: Timestamp,
        outcome: Option<ReplayOutcome>,
    ) {
        let output = self.run.timeline.apply(Input::Reply(ticket, reply), now);
        self.follow(output, outcome);
    }

    fn follow(&mut self, output: Output, outcome: Option<ReplayOutcome>) {
        self.run.snapshots.extend(output.snapshot);
        match output.effect {
            Effect::Decided(decision) => self.record(decision, outcome),
            // Neither a reply nor a settlement asks for a signal.
            Effect::NeedSignal(_) => {}
            Effect::Settled(trades) => self.run.trades.extend(trades),
        }
    }

    /// Apply a recorded settlement at its time, after the replies due by then.
    fn settle(&mut self, settlement: &Settlement) {
        self.deliver_until(Some(settlement.at));
        let input = Input::Settle {
            market: &settlement.market,
            winner: settlement.winner,
            id: &settlement.id,
        };
        let output = self.run.timeline.apply(input, settlement.at);
        self.follow(output, None);
    }

    /// Decide the recorded replies due at or before `until` (all when `None`).
    fn deliver_until(&mut self, until: Option<Timestamp>) {
        while let Some(output) = self.run.timeline.due(until) {
            self.run.recorded_replies += 1;
            self.follow(output, None);
        }
    }

    fn record(&mut self, decision: Decision, replay_outcome: Option<ReplayOutcome>) {
        let run = &mut self.run;
        let outcome = replay_outcome.unwrap_or(ReplayOutcome::Core(decision.outcome));
        run.tally.add(outcome);
        let at = decision.decided_at;
        run.decision_span = Some(match run.decision_span {
            None => (at, at),
            Some((first, last)) => (first.min(at), last.max(at)),
        });
        if self.options.keep_decisions {
            run.decisions.push(ReplayDecision {
                event_id: decision.event_id,
                outcome,
                reason: decision.reason,
                decided_at: at,
            });
        }
        run.trades.extend(decision.trades);
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "stream_tests.rs"]
mod stream_tests;
