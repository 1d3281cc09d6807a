//! The one driver ([`Timeline`]) and the core's audit ([`strategies::Changes`]), driven by the
//! core harness's random events and replies plus what only the live engine and replay do:
//! replies scheduled ahead (replay), settlements, operator actions and restarts.
//!
//! - Decision times strictly increase, and an event is stamped with its own.
//! - A scheduled reply is decided at or after its time, and before every event later than it.
//! - The audit is every change: a mirror that only ever sees the [`strategies::Changes`]
//!   equals the core's persisted state after every input, and a core restored from that
//!   mirror decides every later input exactly as the one that never stopped.

#[allow(dead_code)] // the harness's generators; its model is prop_core's.
mod core_harness;
mod support;

use std::collections::BTreeMap;

use chrono::Duration;
use core_harness::{action, config, event_for, markets, reply_for, Action, ReplyGen};
use proptest::prelude::*;
use strategies::budget::SignalBudget;
use strategies::{
    Book, BookTotals, Changes, Control, Core, CoreConfig, Effect, Input, MarketKey, MarketState,
    Output, Position, QuotaPause, Side, SignalTicket, Timeline, Timestamp,
};

use crate::support::t0;

#[derive(Clone, Debug)]
enum Op {
    /// An event, a wait or an immediate reply, as the core harness makes them.
    Harness(Action),
    /// Hold a reply to the `pick`-th outstanding ticket until `in_ms` from now.
    Schedule {
        pick: usize,
        reply: ReplyGen,
        in_ms: i64,
    },
    Settle {
        market: usize,
        winner: Side,
    },
    Operator(Control),
    /// Stop and start again from the mirror (when nothing is in flight).
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let control = prop_oneof![
        Just(Control::Pause),
        Just(Control::Resume),
        (
            0usize..3,
            prop::option::of(prop_oneof![Just(Side::Yes), Just(Side::No)])
        )
            .prop_map(|(m, side)| Control::Close {
                market: markets()[m].clone(),
                side
            }),
    ];
    prop_oneof![
        12 => action().prop_map(Op::Harness),
        4 => (any::<usize>(), core_harness::reply_gen(), -2_000i64..=30_000)
            .prop_map(|(pick, reply, in_ms)| Op::Schedule { pick, reply, in_ms }),
        1 => (0usize..3, prop_oneof![Just(Side::Yes), Just(Side::No)])
            .prop_map(|(market, winner)| Op::Settle { market, winner }),
        1 => control.prop_map(Op::Operator),
        1 => Just(Op::Restart),
    ]
}

/// The store, as the audit alone builds it.
#[derive(Clone, Debug, PartialEq)]
struct Mirror {
    markets: BTreeMap<MarketKey, MarketState>,
    positions: BTreeMap<(MarketKey, Side), Position>,
    totals: BookTotals,
    budget: SignalBudget,
    pause: Option<QuotaPause>,
    halted: bool,
}

impl Mirror {
    fn new(core: &Core) -> Mirror {
        Mirror {
            markets: BTreeMap::new(),
            positions: BTreeMap::new(),
            totals: core.book().totals.clone(),
            budget: SignalBudget::default(),
            pause: None,
            halted: false,
        }
    }

    fn absorb(&mut self, changes: &Changes) {
        for (market, state) in &changes.markets {
            self.markets.insert(market.clone(), state.clone());
        }
        for (key, position) in &changes.positions {
            match position {
                Some(position) => self.positions.insert(key.clone(), position.clone()),
                None => self.positions.remove(key),
            };
        }
        if let Some(totals) = &changes.totals {
            self.totals = totals.clone();
        }
        if let Some(budget) = &changes.budget {
            self.budget = budget.clone();
        }
        if let Some(pause) = &changes.pause {
            self.pause = pause.clone();
        }
        if let Some(halted) = changes.halted {
            self.halted = halted;
        }
    }

    fn of(core: &Core) -> Mirror {
        Mirror {
            markets: core
                .markets()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            positions: core.book().positions.clone(),
            totals: core.book().totals.clone(),
            budget: core.budget().clone(),
            pause: core.pause().cloned(),
            halted: core.halted(),
        }
    }

    fn restore(&self, config: &CoreConfig) -> Core {
        let book = Book::restore(self.totals.clone(), self.positions.values().cloned());
        let mut core = Core::restore(
            config.clone(),
            book,
            self.markets.clone(),
            self.budget.clone(),
            self.pause.clone(),
        );
        core.set_halted(self.halted);
        core
    }
}

/// What a run did, in order, and the checks made along the way.
struct Run {
    effects: Vec<(Timestamp, Effect)>,
}

/// Drive `ops`; with `restarts` off, `Op::Restart` is skipped (the twin that never stops).
fn run(config: &CoreConfig, ops: &[Op], restarts: bool) -> Result<Run, TestCaseError> {
    let mut timeline = Timeline::new(Core::new(config.clone()));
    let mut mirror = Mirror::new(timeline.core());
    let mut now = t0();
    let mut last: Option<Timestamp> = None;
    let mut outstanding: Vec<SignalTicket> = Vec::new();
    let mut scheduled: Vec<(String, Timestamp)> = Vec::new();
    let mut effects = Vec::new();
    let mut seq = 0;
    let mut take = |output: Output,
                    timeline: &Timeline,
                    mirror: &mut Mirror,
                    outstanding: &mut Vec<SignalTicket>,
                    scheduled: &mut Vec<(String, Timestamp)>|
     -> Result<(), TestCaseError> {
        let empty_settle = matches!(&output.effect, Effect::Settled(t) if t.is_empty());
        if !empty_settle {
            prop_assert!(
                last.is_none_or(|last| output.at > last),
                "decision times must increase"
            );
            last = Some(output.at);
        }
        if let Effect::Decided(decision) = &output.effect {
            prop_assert_eq!(decision.decided_at, output.at);
            if let Some(i) = scheduled
                .iter()
                .position(|(id, _)| *id == decision.event_id)
            {
                let (_, at) = scheduled.remove(i);
                prop_assert!(output.at >= at, "a scheduled reply came before its time");
            }
        }
        if let Effect::NeedSignal(ticket) = &output.effect {
            outstanding.push(ticket.clone());
        }
        mirror.absorb(&output.changes);
        prop_assert_eq!(
            &*mirror,
            &Mirror::of(timeline.core()),
            "the audit missed a change"
        );
        effects.push((output.at, output.effect));
        Ok(())
    };
    for op in ops {
        match op {
            Op::Harness(Action::Wait { ms }) => now += Duration::milliseconds(*ms),
            Op::Harness(Action::Reply { pick, reply }) => {
                if outstanding.is_empty() {
                    continue;
                }
                let ticket = outstanding.remove(pick % outstanding.len());
                let output = timeline.apply(Input::Reply(&ticket, reply_for(reply, now)), now);
                take(
                    output,
                    &timeline,
                    &mut mirror,
                    &mut outstanding,
                    &mut scheduled,
                )?;
            }
            Op::Harness(action) => {
                while let Some(output) = timeline.due(Some(now)) {
                    take(
                        output,
                        &timeline,
                        &mut mirror,
                        &mut outstanding,
                        &mut scheduled,
                    )?;
                }
                prop_assert!(
                    scheduled.iter().all(|(_, at)| *at > now),
                    "an event came before a reply due earlier"
                );
                let Some(mut event) = event_for(action, seq, now) else {
                    continue;
                };
                seq += 1;
                let output = timeline.apply(Input::Event(&mut event), now);
                prop_assert_eq!(
                    event.received_at,
                    output.at,
                    "an event keeps its decision time"
                );
                take(
                    output,
                    &timeline,
                    &mut mirror,
                    &mut outstanding,
                    &mut scheduled,
                )?;
            }
            Op::Schedule { pick, reply, in_ms } => {
                if outstanding.is_empty() {
                    continue;
                }
                let ticket = outstanding.remove(pick % outstanding.len());
                let at = now + Duration::milliseconds(*in_ms);
                scheduled.push((ticket.event_id.clone(), timeline.next_time(at)));
                timeline.schedule(ticket, reply_for(reply, at), at);
            }
            Op::Settle { market, winner } => {
                let market = &markets()[*market];
                let input = Input::Settle {
                    market,
                    winner: *winner,
                    id: "settle",
                };
                let output = timeline.apply(input, now);
                take(
                    output,
                    &timeline,
                    &mut mirror,
                    &mut outstanding,
                    &mut scheduled,
                )?;
            }
            Op::Operator(control) => {
                let output = timeline.apply(Input::Control { control, id: "op" }, now);
                take(
                    output,
                    &timeline,
                    &mut mirror,
                    &mut outstanding,
                    &mut scheduled,
                )?;
            }
            Op::Restart => {
                if restarts && outstanding.is_empty() && timeline.scheduled() == 0 {
                    *timeline.core_mut() = mirror.restore(config);
                }
            }
        }
    }
    while let Some(output) = timeline.due(None) {
        take(
            output,
            &timeline,
            &mut mirror,
            &mut outstanding,
            &mut scheduled,
        )?;
    }
    prop_assert!(
        scheduled.is_empty(),
        "every scheduled reply is decided by the end"
    );
    Ok(Run { effects })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_the_timeline_orders_and_the_audit_is_every_change(
        config in config(),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let restarted = run(&config, &ops, true)?;
        let twin = run(&config, &ops, false)?;
        prop_assert_eq!(restarted.effects, twin.effects, "a restart from the audit changed a decision");
    }

    #[test]
    fn prop_no_audit_changes_no_decision(
        config in config(),
        ops in prop::collection::vec(action(), 1..80),
    ) {
        let drive = |audit: bool| {
            let mut core = Core::new(config.clone());
            core.set_audit(audit);
            let mut timeline = Timeline::new(core);
            let mut now = t0();
            let mut outstanding = Vec::new();
            let mut out = Vec::new();
            for (seq, action) in ops.iter().enumerate() {
                let output = match action {
                    Action::Wait { ms } => { now += Duration::milliseconds(*ms); continue }
                    Action::Reply { pick, reply } => {
                        if outstanding.is_empty() { continue }
                        let ticket: SignalTicket = outstanding.remove(pick % outstanding.len());
                        timeline.apply(Input::Reply(&ticket, reply_for(reply, now)), now)
                    }
                    action => {
                        let Some(mut event) = event_for(action, seq, now) else { continue };
                        timeline.apply(Input::Event(&mut event), now)
                    }
                };
                if let Effect::NeedSignal(ticket) = &output.effect {
                    outstanding.push(ticket.clone());
                }
                out.push((output.at, output.effect, output.changes.is_empty()));
            }
            out
        };
        let audited = drive(true);
        let quiet = drive(false);
        prop_assert!(quiet.iter().all(|(_, _, empty)| *empty), "audit off reports nothing");
        let strip = |v: Vec<(Timestamp, Effect, bool)>| v.into_iter().map(|(t, e, _)| (t, e)).collect::<Vec<_>>();
        prop_assert_eq!(strip(audited), strip(quiet));
    }
}
