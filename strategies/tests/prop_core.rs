//! The pipeline `Core`, driven by random event streams and signal replies delivered in random
//! order. The harness (`core_harness`) records every step; each property here checks one promise
//! over the record against a small independent model (prices seen, tickets out, pause, budget).

mod core_harness;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use core_harness::model::{decided, expired, win_probability, Model};
use core_harness::{drive, drive_with, scenario, Record};
use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::sizing::{self, SizeRequest};
use strategies::{
    Decision, EventBody, Outcome, SignalReply, SignalTicket, Step, Timestamp, TradeAction,
};

/// A decision's reason without the `; closed ...` notes that exits append.
fn own_reason(reason: &str) -> &str {
    reason.split("; closed ").next().unwrap_or(reason)
}

// ---------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_core_every_event_gets_exactly_one_decision((config, actions) in scenario(80)) {
        let (records, core) = drive(&config, &actions);
        let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
        let mut events = BTreeSet::new();
        let mut tickets: BTreeMap<String, SignalTicket> = BTreeMap::new();
        for r in &records {
            match r {
                Record::Event { event, step, now, .. } => {
                    prop_assert!(events.insert(event.id.clone()));
                    match step {
                        Step::Decided(d) => {
                            prop_assert_eq!(&d.event_id, &event.id);
                            prop_assert_eq!(&d.event_type, &event.event_type);
                            prop_assert_eq!(d.market.as_ref(), event.market());
                            prop_assert_eq!(d.decided_at, *now);
                            prop_assert!(d.signal.is_none());
                            // Only exits ride along with a decision made without a signal.
                            for t in &d.trades {
                                prop_assert_eq!(t.action, TradeAction::Close);
                                prop_assert_eq!(&t.event_id, &event.id);
                            }
                            prop_assert!(!d.reason.is_empty(), "{:?} without a reason", d.outcome);
                            *decisions.entry(d.event_id.clone()).or_default() += 1;
                        }
                        Step::NeedSignal(t) => {
                            prop_assert_eq!(&t.event_id, &event.id);
                            prop_assert_eq!(&t.event_type, &event.event_type);
                            prop_assert_eq!(Some(&t.market), event.market());
                            prop_assert_eq!(t.requested_at, *now);
                            prop_assert!(tickets.insert(t.event_id.clone(), t.clone()).is_none());
                        }
                    }
                }
                Record::Reply { ticket, decision, now, .. } => {
                    prop_assert_eq!(tickets.get(&ticket.event_id), Some(ticket), "reply for an unknown ticket");
                    prop_assert_eq!(&decision.event_id, &ticket.event_id);
                    prop_assert_eq!(&decision.event_type, &ticket.event_type);
                    prop_assert_eq!(decision.market.as_ref(), Some(&ticket.market));
                    prop_assert_eq!(decision.decided_at, *now);
                    prop_assert!(!decision.reason.is_empty(), "{:?} without a reason", decision.outcome);
                    *decisions.entry(decision.event_id.clone()).or_default() += 1;
                }
            }
        }
        for id in &events {
            prop_assert_eq!(decisions.get(id).copied(), Some(1), "event {} decided {:?} times", id, decisions.get(id));
        }
        prop_assert_eq!(decisions.len(), events.len());
        prop_assert_eq!(core.in_flight(), 0);
    }

    #[test]
    fn prop_core_at_most_one_ticket_per_market((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        for r in &records {
            if let Record::Event { event, step, busy, in_flight_after, .. } = r {
                let market = event.market();
                match step {
                    Step::NeedSignal(t) => {
                        prop_assert!(!busy.contains(&t.market), "second ticket for {}", t.market);
                        prop_assert_eq!(*in_flight_after, busy.len() + 1);
                    }
                    Step::Decided(d) => {
                        prop_assert_eq!(*in_flight_after, busy.len());
                        if d.outcome == Outcome::MarketBusy {
                            let m = market.expect("busy names a market");
                            prop_assert!(busy.contains(m), "market_busy for idle {}", m);
                            prop_assert!(d.reason.contains(&m.to_string()), "{}", d.reason);
                        }
                    }
                }
            }
        }
    }

    /// Each event meets exactly the refusals the spec says apply to it: a ticket when none does,
    /// otherwise one of those that do.
    #[test]
    fn prop_core_event_outcomes_follow_the_filter_model((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        let mut model = Model::default();
        for r in &records {
            if let Record::Event { event, step, busy, now, .. } = r {
                let applicable = model.applicable(&config, event, busy, *now);
                match step {
                    Step::NeedSignal(_) => prop_assert!(
                        applicable.is_empty(),
                        "event {} got a ticket although {:?} apply", event.id, applicable
                    ),
                    Step::Decided(d) => {
                        prop_assert!(
                            applicable.contains(&d.outcome),
                            "event {} decided {} ({}) but only {:?} apply", event.id, d.outcome, d.reason, applicable
                        );
                        if let EventBody::Invalid { reason, .. } = &event.body {
                            prop_assert_eq!(own_reason(&d.reason), reason.as_str());
                        }
                    }
                }
            }
            model.observe(r);
        }
    }

    #[test]
    fn prop_core_book_balances_after_every_step((config, actions) in scenario(80)) {
        let (records, core) = drive(&config, &actions);
        let bankroll = config.sizing.bankroll;
        let mut closed_any = false;
        for r in &records {
            let (before, after, trades) = match r {
                Record::Event { book_before, book_after, step, .. } => {
                    (book_before, book_after, decided(step).map(|d| d.trades.clone()).unwrap_or_default())
                }
                Record::Reply { book_before, book_after, decision, .. } => (book_before, book_after, decision.trades.clone()),
            };
            if trades.is_empty() {
                prop_assert_eq!(before, after, "a step without trades changed the book");
            }
            closed_any |= trades.iter().any(|t| t.action != TradeAction::Open);
            prop_assert_eq!(after.accounted_total(), bankroll);
            if !closed_any {
                prop_assert_eq!(after.cash() + after.open_exposure() + after.totals.fees_paid, bankroll);
            }
            prop_assert!(after.cash() >= Decimal::ZERO, "cash {} < 0", after.cash());
            prop_assert!(
                after.open_exposure() <= bankroll * config.sizing.max_exposure_pct,
                "exposure {} over the cap", after.open_exposure()
            );
        }
        prop_assert_eq!(core.book().accounted_total(), bankroll);
    }

    /// Every `traded` decision opens exactly one position at the bought side's price of the latest
    /// YES price seen, sized as `sizing::size` sizes it against the book at that moment.
    #[test]
    fn prop_core_trades_at_the_latest_price((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        let mut next_trade_id = 1;
        for r in &records {
            // Trade ids run densely across every decision, exits on events included.
            let trades = match r {
                Record::Event { step, .. } => decided(step).map(|d| d.trades.clone()).unwrap_or_default(),
                Record::Reply { decision, .. } => decision.trades.clone(),
            };
            for t in &trades {
                prop_assert_eq!(t.trade_id, next_trade_id);
                next_trade_id += 1;
            }
            let Record::Reply { decision, reply, last_yes, ticket, book_before, book_after, now, .. } = r else { continue };
            if decision.outcome != Outcome::Traded {
                // Exits (and an opposite-side sale before a refused entry) still close.
                prop_assert!(decision.trades.iter().all(|t| t.action == TradeAction::Close), "{:?}", decision.trades);
                continue;
            }
            let SignalReply::Signal(signal) = reply else {
                prop_assert!(false, "traded on a failed signal");
                continue;
            };
            prop_assert_eq!(decision.signal.as_ref(), Some(signal));
            let side = signal.recommendation.side().expect("traded on a BUY");
            let opens: Vec<_> = decision.trades.iter().filter(|t| t.action == TradeAction::Open).collect();
            prop_assert_eq!(opens.len(), 1, "{:?}", decision.trades);
            let open = opens[0];
            prop_assert_eq!(decision.trades.last(), Some(open), "closes come before the entry");
            for other in decision.trades.iter().filter(|t| t.action != TradeAction::Open) {
                prop_assert_eq!(other.action, TradeAction::Close);
            }
            if config.exits.close_on_opposite_signal {
                prop_assert!(book_after.position(&ticket.market, side.opposite()).is_none(), "opposite side still held");
            }
            let yes = last_yes.expect("a traded market has a price");
            let c = side.price_of(yes).get();
            prop_assert_eq!(&open.event_id, &ticket.event_id);
            prop_assert_eq!(open.market(), ticket.market.clone());
            prop_assert_eq!(open.side, side);
            prop_assert_eq!(open.price, c);
            prop_assert_eq!(open.placed_at, *now);
            let w = win_probability(signal, side, c);
            prop_assert_eq!(open.win_probability, Some(w));
            if decision.trades.len() == 1 {
                prop_assert_eq!(open.cash_before, book_before.cash());
            }
            let request = SizeRequest {
                platform: ticket.market.platform,
                price: side.price_of(yes),
                win_probability: w,
                cash: open.cash_before,
                open_exposure: book_after.open_exposure() - open.cost,
            };
            let sized = sizing::size(&config.sizing, &config.fees, &request);
            prop_assert!(sized.is_ok(), "traded although sizing refuses: {:?}", sized);
            if let Ok(s) = sized {
                prop_assert_eq!(open.contracts, s.contracts);
                prop_assert_eq!(open.cost, s.cost);
                prop_assert_eq!(open.fee, s.fee);
                prop_assert_eq!(open.cash_after, open.cash_before - s.cost - s.fee);
            }
            prop_assert_eq!(book_after.cash(), decision.trades.last().map_or(book_before.cash(), |t| t.cash_after));
        }
    }

    /// A reply decides as the spec says: failures are `signal_error` with their reason, expired
    /// signals `signal_expired`, `NO_TRADE` `no_trade`, otherwise what sizing says.
    #[test]
    fn prop_core_signal_replies_decide_as_specified((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        for r in &records {
            let Record::Reply { decision, reply, last_yes, ticket, book_before, now, .. } = r else { continue };
            match reply {
                SignalReply::Failed { reason, .. } => {
                    prop_assert_eq!(decision.outcome, Outcome::SignalError);
                    prop_assert!(decision.reason.contains(reason.as_str()), "{}", decision.reason);
                    prop_assert!(decision.signal.is_none());
                }
                SignalReply::Signal(signal) => {
                    prop_assert_eq!(decision.signal.as_ref(), Some(signal));
                    let outcome = decision.outcome;
                    if expired(signal, *now) {
                        prop_assert_eq!(outcome, Outcome::SignalExpired, "{}", decision.reason);
                    } else if let Some(side) = signal.recommendation.side() {
                        let yes = last_yes.expect("a signalled market has a price");
                        let c = side.price_of(yes).get();
                        // Sizing sees the book after the closes that come first (exits, the
                        // opposite side): their proceeds in cash, their whole cost basis out of
                        // the exposure.
                        let closes: Vec<_> = decision.trades.iter().filter(|t| t.action == TradeAction::Close).collect();
                        let cash = closes.last().map_or(book_before.cash(), |t| t.cash_after);
                        let closed_basis: Decimal = closes
                            .iter()
                            .filter_map(|t| book_before.position(&t.market(), t.side))
                            .map(|p| p.cost_basis)
                            .sum();
                        let request = SizeRequest {
                            platform: ticket.market.platform,
                            price: side.price_of(yes),
                            win_probability: win_probability(signal, side, c),
                            cash,
                            open_exposure: book_before.open_exposure() - closed_basis,
                        };
                        match sizing::size(&config.sizing, &config.fees, &request) {
                            Ok(_) => prop_assert_eq!(outcome, Outcome::Traded, "{}", decision.reason),
                            Err(refusal) => {
                                prop_assert_eq!(outcome, refusal.outcome);
                                prop_assert_eq!(own_reason(&decision.reason), refusal.reason.to_string());
                            }
                        }
                    } else {
                        prop_assert_eq!(outcome, Outcome::NoTrade, "{}", decision.reason);
                    }
                }
            }
        }
    }

    /// After a failure that carries `pause_until`, events that would otherwise be sent for a
    /// signal are `signal_error` without a ticket until the pause passes.
    #[test]
    fn prop_core_quota_pause_blocks_signals_until_it_passes((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        let mut model = Model::default();
        for r in &records {
            if let Record::Event { event, step, busy, now, .. } = r {
                if model.paused(*now) {
                    prop_assert!(decided(step).is_some(), "ticket during a pause for {}", event.id);
                    let applicable = model.applicable(&config, event, busy, *now);
                    let others: Vec<_> = applicable
                        .iter()
                        .filter(|o| !matches!(o, Outcome::SignalError | Outcome::SignalBudget))
                        .collect();
                    if others.is_empty() {
                        let d = decided(step).expect("decided");
                        prop_assert_eq!(d.outcome, Outcome::SignalError, "{}", d.reason);
                        prop_assert!(d.reason.contains("quota spent"), "{}", d.reason);
                    }
                }
            }
            model.observe(r);
        }
    }

    #[test]
    fn prop_core_budget_caps_signal_requests((config, actions) in scenario(120)) {
        let (records, core) = drive(&config, &actions);
        let limits = config.budget;
        let sent: Vec<Timestamp> = records
            .iter()
            .filter_map(|r| match r {
                Record::Event { step: Step::NeedSignal(_), now, .. } => Some(*now),
                _ => None,
            })
            .collect();
        for t in &sent {
            if limits.max_per_minute > 0 {
                let n = sent.iter().filter(|s| **s > *t - Duration::minutes(1) && **s <= *t).count();
                prop_assert!(n <= limits.max_per_minute as usize, "{} requests in the minute to {}", n, t);
            }
            if limits.max_per_day > 0 {
                let n = sent.iter().filter(|s| s.date_naive() == t.date_naive()).count();
                prop_assert!(n <= limits.max_per_day as usize, "{} requests on {}", n, t.date_naive());
            }
        }
        // The budget's day is that of the last event that reached it (sent, or refused by it).
        let last_check = records.iter().rev().find_map(|r| match r {
            Record::Event { step: Step::NeedSignal(_), now, .. } => Some(*now),
            Record::Event { step: Step::Decided(d), now, .. } if d.outcome == Outcome::SignalBudget => Some(*now),
            _ => None,
        });
        if let Some(last) = last_check {
            let today = sent.iter().filter(|s| s.date_naive() == last.date_naive()).count();
            prop_assert_eq!(core.budget().spent_today() as usize, today);
        }
        for r in &records {
            if let Record::Event { step: Step::Decided(d), .. } = r {
                if d.outcome == Outcome::SignalBudget {
                    prop_assert!(d.reason.contains("signal.max_per"), "{}", d.reason);
                }
            }
        }
    }

    /// A quiet core (no explanations, for sweeps) decides exactly as an explaining one: the
    /// same steps, outcomes, times, signals, trades and books; only who and why are left out
    /// of refusals made without a signal.
    #[test]
    fn prop_core_quiet_decisions_keep_every_outcome_and_trade((config, actions) in scenario(80)) {
        let (told, told_core) = drive_with(&config, &actions, true);
        let (quiet, quiet_core) = drive_with(&config, &actions, false);
        prop_assert_eq!(told.len(), quiet.len());
        let hush = |d: &Decision| Decision {
            event_id: String::new(),
            event_type: String::new(),
            market: None,
            reason: String::new(),
            ..d.clone()
        };
        for (told, quiet) in told.iter().zip(&quiet) {
            match (told, quiet) {
                (
                    Record::Event { step: Step::Decided(a), book_after: x, .. },
                    Record::Event { step: Step::Decided(b), book_after: y, .. },
                ) => {
                    prop_assert_eq!(&hush(a), b);
                    prop_assert!(!a.reason.is_empty(), "an explaining core says why");
                    prop_assert_eq!(x, y);
                }
                (Record::Reply { decision: a, .. }, Record::Reply { decision: b, .. }) => {
                    prop_assert_eq!(a, b);
                }
                (a, b) => prop_assert_eq!(a, b),
            }
        }
        prop_assert_eq!(told_core.book(), quiet_core.book());
        prop_assert_eq!(told_core.markets(), quiet_core.markets());
    }

    #[test]
    fn prop_core_is_deterministic((config, actions) in scenario(80)) {
        let (first, core1) = drive(&config, &actions);
        let (second, core2) = drive(&config, &actions);
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(core1.book(), core2.book());
        prop_assert_eq!(core1.markets(), core2.markets());
        prop_assert_eq!(core1.budget(), core2.budget());
        prop_assert_eq!(core1.pause(), core2.pause());
    }

    /// Every input that trades leaves an equity snapshot; one that does not leaves one exactly
    /// when a held market's price has moved since the last and `snapshot_every` has passed.
    /// Each values the book after the input at the latest prices seen, to the cent.
    #[test]
    fn prop_core_equity_snapshots_value_the_book((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        let bankroll = config.sizing.bankroll;
        let mut last_yes: BTreeMap<strategies::MarketKey, Decimal> = BTreeMap::new();
        let mut moved = false;
        let mut last_at: Option<Timestamp> = None;
        for r in &records {
            let (now, traded, after, snapshot) = match r {
                Record::Event { now, event, step, book_before, book_after, snapshot, .. } => {
                    if let (Some(m), Some(p)) = (event.market(), event.yes_price()) {
                        let changed = last_yes.insert(m.clone(), p.get()) != Some(p.get());
                        moved |= changed && !book_before.positions.is_empty();
                    }
                    let traded = decided(step).is_some_and(|d| !d.trades.is_empty());
                    (*now, traded, book_after, snapshot)
                }
                Record::Reply { now, decision, book_after, snapshot, .. } => {
                    (*now, !decision.trades.is_empty(), book_after, snapshot)
                }
            };
            let due = traded
                || (moved && last_at.is_none_or(|at| now - at >= config.snapshot_every));
            prop_assert_eq!(snapshot.is_some(), due, "snapshot at {} (traded {})", now, traded);
            let Some(s) = snapshot else { continue };
            moved = false;
            last_at = Some(now);
            let value: Decimal = after
                .positions
                .iter()
                .map(|((m, side), p)| {
                    let mark = last_yes.get(m).map_or(p.average_price(), |yes| match side {
                        strategies::Side::Yes => *yes,
                        strategies::Side::No => Decimal::ONE - yes,
                    });
                    Decimal::from(p.contracts) * mark
                })
                .sum();
            prop_assert_eq!(s.at, now);
            prop_assert_eq!(s.cash, after.cash());
            prop_assert_eq!(s.market_value, value);
            prop_assert_eq!(s.equity, s.cash + s.market_value);
            prop_assert_eq!(s.realized_pnl, after.totals.realized_pnl);
            prop_assert_eq!(s.equity - bankroll, s.realized_pnl + s.unrealized_pnl);
        }
    }
}
