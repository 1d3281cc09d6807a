//! Operator actions on the core: pause refuses new positions as `paused` (no signal asked),
//! exits keep running, resume opens again, a manual close sells at the last price with reason
//! `manual`, and each action is one `control` decision.

mod support;

use strategies::{
    Control, Core, CoreConfig, Outcome, Recommendation, Side, SignalReply, Step, TradeAction,
};
use support::flows::*;
use support::*;

fn open_fed(core: &mut Core) {
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(97, 1), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
}

#[test]
fn pause_refuses_events_that_would_ask_for_a_signal_and_resume_reopens() {
    let mut core = Core::new(CoreConfig::default());
    let d = core.control(&Control::Pause, "control:1", at(0));
    assert_eq!(d.outcome, Outcome::Control);
    assert_eq!(d.event_type, "control");
    assert!(d.reason.starts_with("paused"), "{}", d.reason);
    assert!(core.halted());
    let budget_before = core.budget().clone();
    match core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(97, 1), at(1)),
        at(1),
    ) {
        Step::Decided(d) => {
            assert_eq!(d.outcome, Outcome::Paused, "{}", d.reason);
            assert!(d.reason.contains("shiftbot resume"), "{}", d.reason);
        }
        Step::NeedSignal(_) => panic!("a paused core asked for a signal"),
    }
    assert_eq!(*core.budget(), budget_before, "no signal budget spent");
    // Below the threshold stays below the threshold: the pause is not a new filter.
    match core.on_event(
        &shift_event("e2", &fed(), price(41, 2), dec(1, 1), at(2)),
        at(2),
    ) {
        Step::Decided(d) => assert_eq!(d.outcome, Outcome::BelowThreshold),
        Step::NeedSignal(_) => panic!("below threshold asked for a signal"),
    }
    let again = core.control(&Control::Pause, "control:2", at(3));
    assert!(
        again.reason.starts_with("already paused"),
        "{}",
        again.reason
    );
    let d = core.control(&Control::Resume, "control:3", at(4));
    assert!(d.reason.starts_with("resumed"), "{}", d.reason);
    assert!(!core.halted());
    assert!(matches!(
        core.on_event(
            &shift_event("e3", &fed(), price(40, 2), dec(97, 1), at(5)),
            at(5)
        ),
        Step::NeedSignal(_)
    ));
}

#[test]
fn a_signal_in_flight_when_paused_opens_nothing() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(97, 1), at(0)),
        at(0),
    ));
    core.control(&Control::Pause, "control:1", at(1));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(2),
    );
    assert_eq!(d.outcome, Outcome::Paused, "{}", d.reason);
    assert!(d.trades.is_empty());
    assert!(core.book().positions.is_empty());
    assert_eq!(core.in_flight(), 0);
}

#[test]
fn exits_keep_running_while_paused() {
    let mut config = CoreConfig::default();
    config.exits.take_profit = Some(dec(5, 2));
    let mut core = Core::new(config);
    open_fed(&mut core);
    core.control(&Control::Pause, "control:1", at(2));
    // The price jumps: take-profit is due at the next decision, paused or not.
    let step = core.on_event(
        &shift_event("e2", &fed(), price(60, 2), dec(1, 1), at(3)),
        at(3),
    );
    let Step::Decided(d) = step else {
        panic!("asked for a signal")
    };
    assert_eq!(d.trades.len(), 1, "{}", d.reason);
    assert_eq!(d.trades[0].action, TradeAction::Close);
    assert!(d.reason.contains("take_profit"), "{}", d.reason);
}

#[test]
fn manual_close_sells_at_the_last_price_with_reason_manual() {
    let mut core = Core::new(CoreConfig::default());
    open_fed(&mut core);
    // A whale alert moves the mark without a trade.
    let _ = core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(1, 1), at(2)),
        at(2),
    );
    let cash_before = core.book().cash();
    let d = core.control(
        &Control::Close {
            market: fed(),
            side: Some(Side::Yes),
        },
        "control:9",
        at(3),
    );
    assert_eq!(d.outcome, Outcome::Control);
    assert_eq!(d.market, Some(fed()));
    assert_eq!(d.trades.len(), 1, "{}", d.reason);
    let tr = &d.trades[0];
    assert_eq!(
        (tr.action, tr.side, tr.contracts),
        (TradeAction::Close, Side::Yes, 1199)
    );
    assert_eq!(tr.price, dec(45, 2));
    assert_eq!(tr.event_id, "control:9");
    assert_eq!(tr.cash_before, cash_before);
    assert!(d.reason.contains("manual"), "{}", d.reason);
    assert!(core.book().positions.is_empty());
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));

    // Closing again is harmless: nothing held, nothing traded.
    let d = core.control(
        &Control::Close {
            market: fed(),
            side: None,
        },
        "control:10",
        at(4),
    );
    assert!(d.trades.is_empty());
    assert!(d.reason.contains("nothing held"), "{}", d.reason);
}

#[test]
fn control_actions_read_and_write_as_json() {
    let close: Control =
        serde_json::from_str(r#"{"action":"close","market":"kalshi/KXFED-26MAR19","side":"no"}"#)
            .expect("parses");
    assert_eq!(
        close,
        Control::Close {
            market: fed(),
            side: Some(Side::No)
        }
    );
    let pause: Control = serde_json::from_str(r#"{"action":"pause"}"#).expect("parses");
    assert_eq!(pause, Control::Pause);
    assert_eq!(
        serde_json::to_string(&Control::Resume).unwrap(),
        r#"{"action":"resume"}"#
    );
    assert!(serde_json::from_str::<Control>(r#"{"action":"halt"}"#).is_err());
}
