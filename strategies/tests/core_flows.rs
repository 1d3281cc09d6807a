//! The pipeline `Core` on hand-computed trading scenarios: the exact fills, the price used, the
//! win probability, exposure filling up, resuming after a restart. Refusal paths are in
//! `core_refusals.rs`.

mod support;

use strategies::{
    Core, CoreConfig, Event, EventBody, Outcome, Platform, Recommendation, Side, Signal,
    SignalReply, TradeAction, WhaleAlert,
};
use support::flows::*;
use support::*;

/// The example end to end: YES at 0.40 on Kalshi, BUY_YES with edge 0.15, so
/// w = 0.40 + 0.15 = 0.55. Sized by hand in sizing_examples.rs: 1199 contracts, cost 479.60,
/// fee 20.15, cash 10000 -> 9500.25.
#[test]
fn buy_yes_trades_the_hand_computed_size() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(97, 1), at(0)),
        at(0),
    ));
    assert_eq!(t.event_id, "e1");
    assert_eq!(t.event_type, "price_shift");
    assert_eq!(t.market, fed());
    assert_eq!(t.requested_at, at(0));
    assert_eq!(core.in_flight(), 1);

    let sig = signal(Recommendation::BuyYes, dec(15, 2));
    let d = core.on_signal(&t, SignalReply::Signal(sig.clone()), at(2));
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(d.event_id, "e1");
    assert_eq!(d.market, Some(fed()));
    assert_eq!(d.decided_at, at(2));
    assert_eq!(d.signal, Some(sig));
    assert_eq!(d.trades.len(), 1);
    let tr = &d.trades[0];
    assert_eq!(
        (tr.trade_id, tr.action, tr.side),
        (1, TradeAction::Open, Side::Yes)
    );
    assert_eq!(tr.contracts, 1199);
    assert_eq!(tr.price, dec(40, 2));
    assert_eq!(tr.win_probability, Some(dec(55, 2)));
    assert_eq!(tr.cost, dec(47960, 2));
    assert_eq!(tr.fee, dec(2015, 2));
    assert_eq!(tr.cash_before, dec(10_000, 0));
    assert_eq!(tr.cash_after, dec(950_025, 2));
    assert!(
        d.reason.contains("BUY_YES") && d.reason.contains("kalshi/KXFED-26MAR19"),
        "{}",
        d.reason
    );
    assert!(
        d.reason.contains("1199") && d.reason.contains("0.40"),
        "{}",
        d.reason
    );
    assert_eq!(core.in_flight(), 0);
    assert_eq!(core.book().cash(), dec(950_025, 2));
    let p = core.book().position(&fed(), Side::Yes).expect("position");
    assert_eq!(
        (p.contracts, p.cost_basis, p.fees_paid),
        (1199, dec(47960, 2), dec(2015, 2))
    );
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

/// BUY_NO with YES at 0.70: the NO side costs 0.30 and wins with 0.30 + |-0.12| = 0.42.
/// Sized by hand in sizing_examples.rs: 1220 contracts, cost 366.00, fee 17.94.
#[test]
fn buy_no_trades_the_complement() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(70, 2), dec(-12, 0), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyNo, dec(-12, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    let tr = &d.trades[0];
    assert_eq!(tr.side, Side::No);
    assert_eq!(tr.price, dec(30, 2));
    assert_eq!(tr.win_probability, Some(dec(42, 2)));
    assert_eq!(
        (tr.contracts, tr.cost, tr.fee),
        (1220, dec(366, 0), dec(1794, 2))
    );
    assert_eq!(tr.cash_after, dec(961_606, 2));
}

/// The price used is the latest seen when the signal returns, not the one that asked.
/// YES moves 0.40 -> 0.45 while the signal is out (the second event is `market_busy`).
/// c = 0.45, w = 0.60; fee/contract = 0.07 * 0.45 * 0.55 = 0.017325; c_eff = 0.467325;
/// f* = 0.132675 / 0.532675 = 0.249...; 0.25 f* > 0.05 so stake 500;
/// contracts = floor(500 / 0.467325) = 1069 (1069 c_eff = 499.570425; 1070 c_eff = 500.03775);
/// cost = 481.05; fee = ceil_cent(0.07 * 1069 * 0.2475) = ceil_cent(18.520425) = 18.53.
#[test]
fn trades_at_the_latest_price_seen() {
    let mut core = Core::new(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let busy = decided(core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(12, 0), at(1)),
        at(1),
    ));
    assert_eq!(busy.outcome, Outcome::MarketBusy);
    assert_eq!(
        busy.reason,
        "a signal for kalshi/KXFED-26MAR19 is already in flight"
    );
    assert_eq!(
        core.market(&fed()).and_then(|m| m.last_yes),
        Some(price(45, 2))
    );
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(2),
    );
    let tr = &d.trades[0];
    assert_eq!(tr.price, dec(45, 2));
    assert_eq!(tr.win_probability, Some(dec(60, 2)));
    assert_eq!(
        (tr.contracts, tr.cost, tr.fee),
        (1069, dec(48105, 2), dec(1853, 2))
    );
    assert_eq!(tr.cash_after, dec(950_042, 2));
}

/// A whale alert is not traded, but its price marks the market.
#[test]
fn whale_alert_is_ignored_but_moves_the_price() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let whale = Event {
        id: "w1".to_string(),
        event_type: "whale_alert".to_string(),
        received_at: at(1),
        body: EventBody::WhaleAlert(WhaleAlert {
            market: fed(),
            side: Some(Side::No),
            flow: Some(dec(50_000, 0)),
            price: Some(price(38, 2)),
            timestamp: None,
        }),
    };
    let d = decided(core.on_event(&whale, at(1)));
    assert_eq!(d.outcome, Outcome::IgnoredType);
    assert_eq!(d.reason, "whale_alert events are not traded");
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(2),
    );
    assert_eq!(d.trades[0].price, dec(38, 2));
}

#[test]
fn probability_field_overrides_price_plus_edge() {
    let mut core = Core::new(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let sig = Signal {
        probability: Some(dec(62, 2)),
        ..signal(Recommendation::BuyYes, dec(1, 2))
    };
    let d = core.on_signal(&t, SignalReply::Signal(sig), at(1));
    assert_eq!(d.trades[0].win_probability, Some(dec(62, 2)));
    // On BUY_NO the YES probability is turned around: 1 - 0.25 = 0.75 for NO at 0.60.
    let t = ticket(core.on_event(
        &shift_event("e2", &cpi(), price(40, 2), dec(10, 0), at(2)),
        at(2),
    ));
    let sig = Signal {
        probability: Some(dec(25, 2)),
        ..signal(Recommendation::BuyNo, dec(-1, 2))
    };
    let d = core.on_signal(&t, SignalReply::Signal(sig), at(3));
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(d.trades[0].price, dec(60, 2));
    assert_eq!(d.trades[0].win_probability, Some(dec(75, 2)));
}

/// Exposure fills up. Polymarket (no fee), c = 0.50, w = 0.70: f* = 0.20 / 0.50 = 0.4, and
/// 0.25 f* = 0.1 > 0.05, so each stake is 5 % of cash, until max_exposure_pct 0.10 of 10000 = 1000:
/// 1st: stake 500 -> 1000 contracts, cost 500; cash 9500, exposure 500
/// 2nd: stake 475 (< headroom 500) -> 950 contracts, cost 475; cash 9025, exposure 975
/// 3rd: stake 451.25 > headroom 25 -> stake 25 -> 50 contracts, cost 25; exposure 1000
/// 4th: headroom 0 -> exposure_limit.
#[test]
fn exposure_limit_stops_new_positions() {
    let mut config = no_cooldown();
    config.sizing.max_exposure_pct = dec(10, 2);
    let mut core = Core::new(config);
    let mut fills = Vec::new();
    let mut last = None;
    for i in 0..4 {
        let m = market(Platform::Polymarket, &format!("M{i}"));
        let t = ticket(core.on_event(
            &shift_event(&format!("e{i}"), &m, price(50, 2), dec(10, 0), at(i)),
            at(i),
        ));
        let d = core.on_signal(
            &t,
            SignalReply::Signal(signal(Recommendation::BuyYes, dec(20, 2))),
            at(i),
        );
        fills.extend(d.trades.iter().map(|t| (t.contracts, t.cost)));
        last = Some(d);
    }
    assert_eq!(
        fills,
        vec![(1000, dec(500, 0)), (950, dec(475, 0)), (50, dec(25, 0))]
    );
    let d = last.expect("four decisions");
    assert_eq!(d.outcome, Outcome::ExposureLimit);
    assert_eq!(
        d.reason,
        "open exposure 1000.00 is at max_exposure_pct 0.10 of bankroll 10000"
    );
    assert_eq!(core.book().open_exposure(), dec(1000, 0));
    assert_eq!(core.book().cash(), dec(9000, 0));
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

#[test]
fn resume_rearms_a_fresh_event_and_refuses_a_stale_one() {
    let mut core = Core::new(CoreConfig::default());
    let e = shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0));
    let t = ticket(core.resume(&e, at(30)));
    assert_eq!((t.event_id.as_str(), t.requested_at), ("e1", at(30)));
    assert_eq!(core.in_flight(), 1);
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(31),
    );
    assert_eq!(d.outcome, Outcome::Traded);
    assert_eq!(d.trades[0].price, dec(40, 2));

    let old = shift_event("e2", &cpi(), price(40, 2), dec(10, 0), at(0));
    let d = decided(core.resume(&old, at(121)));
    assert_eq!(d.outcome, Outcome::Stale);
    assert_eq!(core.in_flight(), 0);
}
