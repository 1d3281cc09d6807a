//! The driving harness for the `Core` property tests: random scenarios (events, waits and
//! signal replies for outstanding tickets in random order), a driver that feeds them to a fresh
//! `Core` and records every step, and the model of what each step should meet.

pub mod model;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::budget::BudgetLimits;
use strategies::filter::{Direction, FilterRules, MarketPattern};
use strategies::report::EquitySnapshot;
use strategies::sizing::SizingRules;
use strategies::{
    Book, Core, CoreConfig, Decision, Effect, Event, EventBody, ExitRules, Input, MarketKey,
    Platform, Price, PriceShift, Recommendation, Side, Signal, SignalReply, SignalTicket, Step,
    Timeline, Timestamp, WhaleAlert,
};

use crate::support::*;

pub fn markets() -> [MarketKey; 3] {
    [
        market(Platform::Kalshi, "KXA"),
        market(Platform::Kalshi, "KXB"),
        market(Platform::Polymarket, "PMC"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Scenario generation.

#[derive(Clone, Debug)]
pub enum ReplyGen {
    Signal {
        recommendation: Recommendation,
        edge: Decimal,
        probability: Option<Decimal>,
        /// Seconds from delivery; negative is already expired.
        expires_in_s: Option<i64>,
        freshness: Option<&'static str>,
    },
    Failed {
        /// Seconds from delivery until the quota pause ends, when the failure carries one.
        pause_s: Option<i64>,
    },
}

#[derive(Clone, Debug)]
pub enum Action {
    Wait {
        ms: i64,
    },
    Shift {
        market: usize,
        new_yes: Price,
        change_pct: Decimal,
        age_s: Option<i64>,
    },
    Whale {
        market: usize,
        price: Option<Price>,
    },
    Other {
        market: usize,
    },
    Invalid {
        market: Option<usize>,
    },
    /// Deliver the reply for the `pick % pending`-th outstanding ticket, if any.
    Reply {
        pick: usize,
        reply: ReplyGen,
    },
}

pub fn reply_gen() -> impl Strategy<Value = ReplyGen> {
    let recommendation = prop_oneof![
        2 => Just(Recommendation::BuyYes),
        2 => Just(Recommendation::BuyNo),
        1 => Just(Recommendation::NoTrade),
    ];
    let signal = (
        recommendation,
        (-3000i64..=3000).prop_map(|n| dec(n, 4)),
        prop_oneof![3 => Just(None), 1 => probability().prop_map(Some)],
        prop_oneof![3 => Just(None), 2 => (-60i64..=600).prop_map(Some)],
        prop_oneof![
            4 => Just(None),
            2 => Just(Some("fresh")),
            1 => Just(Some("stale")),
            1 => Just(Some("expired")),
        ],
    )
        .prop_map(
            |(recommendation, edge, probability, expires_in_s, freshness)| ReplyGen::Signal {
                recommendation,
                edge,
                probability,
                expires_in_s,
                freshness,
            },
        );
    let failed = prop_oneof![1 => Just(None), 1 => (0i64..=120).prop_map(Some)]
        .prop_map(|pause_s| ReplyGen::Failed { pause_s });
    prop_oneof![6 => signal, 1 => failed]
}

pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => prop_oneof![
            3 => 0i64..=5_000,
            1 => 5_000i64..=90_000,
        ].prop_map(|ms| Action::Wait { ms }),
        8 => (
            0usize..3,
            any_price(),
            (-150i64..=150).prop_map(|n| dec(n, 1)),
            prop_oneof![3 => Just(None), 1 => (0i64..=240).prop_map(Some)],
        )
            .prop_map(|(market, new_yes, change_pct, age_s)| Action::Shift { market, new_yes, change_pct, age_s }),
        1 => (0usize..3, prop::option::of(cent_price())).prop_map(|(market, price)| Action::Whale { market, price }),
        1 => (0usize..3).prop_map(|market| Action::Other { market }),
        1 => prop::option::of(0usize..3).prop_map(|market| Action::Invalid { market }),
        6 => (any::<usize>(), reply_gen()).prop_map(|(pick, reply)| Action::Reply { pick, reply }),
    ]
}

pub fn config() -> impl Strategy<Value = CoreConfig> {
    let filter = (
        prop_oneof![Just(dec(0, 0)), Just(dec(5, 0)), Just(dec(10, 0))],
        prop_oneof![
            3 => Just(Direction::Both),
            1 => Just(Direction::Up),
            1 => Just(Direction::Down)
        ],
        prop_oneof![2 => Just(0i64), 1 => 1i64..=60],
        prop_oneof![Just(0i64), Just(120)],
        prop_oneof![3 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(min_shift_pct, direction, cooldown_s, max_age_s, skip_b)| FilterRules {
                min_shift_pct,
                direction,
                cooldown: Duration::seconds(cooldown_s),
                max_event_age: Duration::seconds(max_age_s),
                exclude_markets: match MarketPattern::parse("kalshi/KXB") {
                    Ok(p) if skip_b => vec![p],
                    _ => Vec::new(),
                },
                ..FilterRules::default()
            },
        );
    let sizing = (
        prop_oneof![
            Just(dec(5, 0)),
            Just(dec(50, 0)),
            Just(dec(1000, 0)),
            Just(dec(10_000, 0))
        ],
        prop_oneof![Just(dec(25, 2)), Just(dec(1, 0))],
        prop_oneof![Just(dec(5, 2)), Just(dec(50, 2))],
        prop_oneof![Just(dec(10, 2)), Just(dec(50, 2)), Just(dec(1, 0))],
        prop_oneof![Just(dec(0, 0)), Just(dec(2, 2))],
    )
        .prop_map(
            |(bankroll, kelly_fraction, max_position_pct, max_exposure_pct, min_edge)| {
                SizingRules {
                    bankroll,
                    kelly_fraction,
                    max_position_pct,
                    max_exposure_pct,
                    min_edge,
                }
            },
        );
    let budget = (
        prop_oneof![2 => Just(0u32), 1 => 1u32..=4],
        prop_oneof![2 => Just(0u32), 1 => 1u32..=12],
    )
        .prop_map(|(max_per_minute, max_per_day)| BudgetLimits {
            max_per_minute,
            max_per_day,
        });
    let snapshot_every = prop_oneof![Just(0i64), Just(1_000), Just(60_000)];
    (
        filter,
        sizing,
        fee_schedule(),
        budget,
        exit_rules(),
        snapshot_every,
    )
        .prop_map(
            |(filter, sizing, fees, budget, exits, every_ms)| CoreConfig {
                filter,
                sizing,
                fees,
                budget,
                exits,
                trade_types: vec!["price_shift".to_string()],
                snapshot_every: Duration::milliseconds(every_ms),
            },
        )
}

/// Exit rules tight enough that the random price walk and clock of a scenario hit them.
pub fn exit_rules() -> impl Strategy<Value = ExitRules> {
    (
        prop_oneof![1 => Just(None), 2 => prop_oneof![Just(dec(5, 2)), Just(dec(15, 2))].prop_map(Some)],
        prop_oneof![1 => Just(None), 2 => prop_oneof![Just(dec(5, 2)), Just(dec(10, 2))].prop_map(Some)],
        prop_oneof![
            1 => Just(None),
            1 => prop_oneof![Just(30i64), Just(300)].prop_map(|s| Some(Duration::seconds(s))),
        ],
        prop_oneof![3 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(take_profit, stop_loss, max_hold, close_on_opposite_signal)| ExitRules {
            take_profit,
            stop_loss,
            max_hold,
            close_on_opposite_signal,
            settle_at: dec(99, 2),
        })
}

pub fn scenario(max_len: usize) -> impl Strategy<Value = (CoreConfig, Vec<Action>)> {
    (config(), prop::collection::vec(action(), 1..max_len))
}

// ---------------------------------------------------------------------------------------------
// The harness: drive the core and record everything.

#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Event {
        now: Timestamp,
        event: Event,
        step: Step,
        /// Markets with a ticket out just before the event.
        busy: BTreeSet<MarketKey>,
        in_flight_after: usize,
        book_before: Book,
        book_after: Book,
        snapshot: Option<EquitySnapshot>,
    },
    Reply {
        now: Timestamp,
        ticket: SignalTicket,
        reply: SignalReply,
        decision: Decision,
        /// The latest YES price the stream showed for the ticket's market, by the model.
        last_yes: Option<Price>,
        book_before: Book,
        book_after: Book,
        snapshot: Option<EquitySnapshot>,
    },
}

pub fn event_for(action: &Action, seq: usize, now: Timestamp) -> Option<Event> {
    let ms = markets();
    let (event_type, body) = match action {
        Action::Shift {
            market,
            new_yes,
            change_pct,
            age_s,
        } => (
            "price_shift",
            EventBody::PriceShift(PriceShift {
                market: ms[*market].clone(),
                old_yes: price(50, 2),
                new_yes: *new_yes,
                change_pct: *change_pct,
                timestamp: age_s.map(|a| now - Duration::seconds(a)),
            }),
        ),
        Action::Whale { market, price } => (
            "whale_alert",
            EventBody::WhaleAlert(WhaleAlert {
                market: ms[*market].clone(),
                side: Some(Side::Yes),
                flow: Some(dec(25_000, 0)),
                price: *price,
                timestamp: None,
            }),
        ),
        Action::Other { market } => (
            "analysis_complete",
            EventBody::Other {
                market: Some(ms[*market].clone()),
            },
        ),
        Action::Invalid { market } => (
            "price_shift",
            EventBody::Invalid {
                market: market.map(|m| ms[m].clone()),
                reason: "new_yes 1.5 is outside (0, 1)".to_string(),
            },
        ),
        Action::Wait { .. } | Action::Reply { .. } => return None,
    };
    Some(Event {
        id: format!("ev-{seq}"),
        event_type: event_type.to_string(),
        received_at: now,
        body,
    })
}

pub fn reply_for(gen: &ReplyGen, now: Timestamp) -> SignalReply {
    match gen {
        ReplyGen::Signal {
            recommendation,
            edge,
            probability,
            expires_in_s,
            freshness,
        } => SignalReply::Signal(Signal {
            recommendation: *recommendation,
            edge: *edge,
            probability: *probability,
            expires_at: expires_in_s.map(|s| now + Duration::seconds(s)),
            freshness: freshness.map(str::to_string),
        }),
        ReplyGen::Failed { pause_s } => SignalReply::Failed {
            reason: "429 Too Many Requests: monthly quota spent".to_string(),
            pause_until: pause_s.map(|s| now + Duration::seconds(s)),
        },
    }
}

/// Run the scenario. Tickets still out at the end get a `NO_TRADE` reply, so every run ends with
/// nothing in flight.
pub fn drive(config: &CoreConfig, actions: &[Action]) -> (Vec<Record>, Core) {
    drive_with(config, actions, true)
}

/// [`drive`] with [`Core::set_explain`] set to `explain`. The core is driven through the
/// [`Timeline`] the live engine and replay use, so each record's `now` is its decision time.
pub fn drive_with(config: &CoreConfig, actions: &[Action], explain: bool) -> (Vec<Record>, Core) {
    let mut core = Core::new(config.clone());
    core.set_explain(explain);
    let mut timeline = Timeline::new(core);
    let mut now = t0();
    let mut pending: Vec<SignalTicket> = Vec::new();
    let mut last_yes: BTreeMap<MarketKey, Price> = BTreeMap::new();
    let mut records = Vec::new();
    let mut seq = 0;
    let deliver = |timeline: &mut Timeline,
                   records: &mut Vec<Record>,
                   last_yes: &BTreeMap<MarketKey, Price>,
                   ticket: SignalTicket,
                   reply: SignalReply,
                   now: Timestamp| {
        let book_before = timeline.core().book().clone();
        let output = timeline.apply(Input::Reply(&ticket, reply.clone()), now);
        let Effect::Decided(decision) = output.effect else {
            panic!("a reply is always decided: {:?}", output.effect);
        };
        records.push(Record::Reply {
            now: output.at,
            last_yes: last_yes.get(&ticket.market).copied(),
            ticket,
            reply,
            decision,
            book_before,
            book_after: timeline.core().book().clone(),
            snapshot: output.snapshot,
        });
    };
    for action in actions {
        match action {
            Action::Wait { ms } => now += Duration::milliseconds(*ms),
            Action::Reply { pick, reply } => {
                if !pending.is_empty() {
                    let ticket = pending.remove(pick % pending.len());
                    let at = timeline.next_time(now);
                    deliver(
                        &mut timeline,
                        &mut records,
                        &last_yes,
                        ticket,
                        reply_for(reply, at),
                        at,
                    );
                }
            }
            _ => {
                let at = timeline.next_time(now);
                let Some(mut event) = event_for(action, seq, at) else {
                    continue;
                };
                seq += 1;
                if let (Some(m), Some(p)) = (event.market(), event.yes_price()) {
                    last_yes.insert(m.clone(), p);
                }
                let busy = pending.iter().map(|t| t.market.clone()).collect();
                let book_before = timeline.core().book().clone();
                let output = timeline.apply(Input::Event(&mut event), at);
                let step = match output.effect {
                    Effect::Decided(decision) => Step::Decided(decision),
                    Effect::NeedSignal(ticket) => {
                        pending.push(ticket.clone());
                        Step::NeedSignal(ticket)
                    }
                    Effect::Settled(trades) => panic!("an event settled: {trades:?}"),
                };
                records.push(Record::Event {
                    now: output.at,
                    event,
                    step,
                    busy,
                    in_flight_after: timeline.core().in_flight(),
                    book_before,
                    book_after: timeline.core().book().clone(),
                    snapshot: output.snapshot,
                });
            }
        }
    }
    let no_trade = ReplyGen::Signal {
        recommendation: Recommendation::NoTrade,
        edge: Decimal::ZERO,
        probability: None,
        expires_in_s: None,
        freshness: None,
    };
    for ticket in std::mem::take(&mut pending) {
        let at = timeline.next_time(now);
        deliver(
            &mut timeline,
            &mut records,
            &last_yes,
            ticket,
            reply_for(&no_trade, at),
            at,
        );
    }
    (records, timeline.into_core())
}
