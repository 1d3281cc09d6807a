//! Exits and settlement on hand-computed cases: the thresholds to the tick, the exact fills of
//! take-profit, stop-loss, max-hold and opposite-signal sales, and settlement paying 1 or 0.
//!
//! Most scenarios start from the example entry (core_flows.rs): 1199 YES of
//! kalshi/KXFED-26MAR19 at 0.40, cost 479.60, fee 20.15, cash 10000 -> 9500.25.

mod support;

use chrono::Duration;
use rust_decimal::Decimal;
use strategies::exits::{self, exit_fee, exit_reason, settlement_side, ExitReason, ExitRules};
use strategies::sizing::FeeSchedule;
use strategies::{
    Book, Core, CoreConfig, Decision, Event, EventBody, Outcome, Position, Recommendation, Side,
    SignalReply, TradeAction, WhaleAlert,
};
use support::flows::*;
use support::*;

fn position(side: Side, contracts: u64, cost_basis: Decimal) -> Position {
    Position {
        market: fed(),
        side,
        contracts,
        cost_basis,
        fees_paid: Decimal::ZERO,
        opened_at: t0(),
        updated_at: t0(),
    }
}

fn rules(take_profit: Option<Decimal>, stop_loss: Option<Decimal>) -> ExitRules {
    ExitRules {
        take_profit,
        stop_loss,
        max_hold: None,
        ..ExitRules::default()
    }
}

/// The core after the example entry, decided at `at(2)`.
fn holding_yes(config: CoreConfig) -> Core {
    let mut core = Core::new(config);
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(97, 1), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(2),
    );
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(core.book().cash(), dec(950_025, 2));
    core
}

fn whale(id: &str, yes: Option<strategies::Price>, secs: i64) -> Event {
    Event {
        id: id.to_string(),
        event_type: "whale_alert".to_string(),
        received_at: at(secs),
        body: EventBody::WhaleAlert(WhaleAlert {
            market: fed(),
            side: None,
            flow: None,
            price: yes,
            timestamp: None,
        }),
    }
}

fn only_close(d: &Decision) -> &strategies::Trade {
    assert_eq!(d.trades.len(), 1, "{:?}", d.trades);
    let t = &d.trades[0];
    assert_eq!(t.action, TradeAction::Close);
    t
}

// ---------------------------------------------------------------------------------------------
// The pure rules, at their boundaries.

#[test]
fn take_profit_fires_at_exactly_the_move_and_not_a_tick_before() {
    // 100 YES at an average 0.40; take_profit 0.15 -> sells at 0.55.
    let p = position(Side::Yes, 100, dec(40, 0));
    let r = rules(Some(dec(15, 2)), None);
    assert_eq!(
        exit_reason(&r, &p, price(55, 2), at(0)),
        Some(ExitReason::TakeProfit)
    );
    assert_eq!(exit_reason(&r, &p, price(5499, 4), at(0)), None);
    assert_eq!(
        exit_reason(&r, &p, price(90, 2), at(0)),
        Some(ExitReason::TakeProfit)
    );
}

#[test]
fn stop_loss_fires_at_exactly_the_move_and_not_a_tick_before() {
    let p = position(Side::Yes, 100, dec(40, 0));
    let r = rules(None, Some(dec(10, 2)));
    assert_eq!(
        exit_reason(&r, &p, price(30, 2), at(0)),
        Some(ExitReason::StopLoss)
    );
    assert_eq!(exit_reason(&r, &p, price(3001, 4), at(0)), None);
    assert_eq!(exit_reason(&r, &p, price(40, 2), at(0)), None);
}

/// A NO position is judged on the NO price: bought at 0.30 (YES 0.70), it takes profit when
/// YES falls to 0.55 (NO 0.45) and stops out when YES rises to 0.80 (NO 0.20).
#[test]
fn no_positions_are_judged_on_the_no_price() {
    let p = position(Side::No, 200, dec(60, 0));
    let r = rules(Some(dec(15, 2)), Some(dec(10, 2)));
    let no = |yes: strategies::Price| Side::No.price_of(yes);
    assert_eq!(
        exit_reason(&r, &p, no(price(55, 2)), at(0)),
        Some(ExitReason::TakeProfit)
    );
    assert_eq!(exit_reason(&r, &p, no(price(56, 2)), at(0)), None);
    assert_eq!(
        exit_reason(&r, &p, no(price(80, 2)), at(0)),
        Some(ExitReason::StopLoss)
    );
    assert_eq!(exit_reason(&r, &p, no(price(79, 2)), at(0)), None);
}

/// 3 contracts for 1.00 average 0.3333...: take_profit 0.15 needs 3 p - 1 >= 0.45, so
/// p >= 0.48333...; compared without dividing, 0.4834 fires and 0.4833 does not.
#[test]
fn thresholds_are_exact_with_a_non_terminating_average() {
    let p = position(Side::Yes, 3, dec(1, 0));
    let r = rules(Some(dec(15, 2)), None);
    assert_eq!(
        exit_reason(&r, &p, price(4834, 4), at(0)),
        Some(ExitReason::TakeProfit)
    );
    assert_eq!(exit_reason(&r, &p, price(4833, 4), at(0)), None);
}

#[test]
fn max_hold_fires_at_exactly_the_holding_time() {
    let p = position(Side::Yes, 100, dec(40, 0));
    let r = ExitRules {
        take_profit: None,
        stop_loss: None,
        max_hold: Some(Duration::days(7)),
        ..ExitRules::default()
    };
    let week = 7 * 24 * 3600;
    assert_eq!(exit_reason(&r, &p, price(40, 2), at(week - 1)), None);
    assert_eq!(
        exit_reason(&r, &p, price(40, 2), at(week)),
        Some(ExitReason::MaxHold)
    );
    // A price reason wins over age.
    let both = ExitRules {
        take_profit: Some(dec(15, 2)),
        ..r
    };
    assert_eq!(
        exit_reason(&both, &p, price(60, 2), at(week)),
        Some(ExitReason::TakeProfit)
    );
}

#[test]
fn rules_switched_off_never_fire() {
    let p = position(Side::Yes, 100, dec(40, 0));
    let off = ExitRules {
        take_profit: None,
        stop_loss: None,
        max_hold: None,
        ..ExitRules::default()
    };
    for yes in [price(1, 2), price(40, 2), price(99, 2)] {
        assert_eq!(exit_reason(&off, &p, yes, at(10_000_000)), None);
    }
}

#[test]
fn settlement_side_needs_a_decisive_last_price() {
    let at99 = dec(99, 2);
    assert_eq!(settlement_side(price(99, 2), at99), Some(Side::Yes));
    assert_eq!(settlement_side(price(9999, 4), at99), Some(Side::Yes));
    assert_eq!(settlement_side(price(9899, 4), at99), None);
    assert_eq!(settlement_side(price(50, 2), at99), None);
    assert_eq!(settlement_side(price(101, 4), at99), None);
    assert_eq!(settlement_side(price(1, 2), at99), Some(Side::No));
    assert_eq!(settlement_side(price(5, 2), dec(95, 2)), Some(Side::No));
    assert_eq!(settlement_side(price(6, 2), dec(95, 2)), None);
}

#[test]
fn exit_fee_is_the_entry_formula_capped_at_the_proceeds() {
    // 0.07 * 1199 * 0.55 * 0.45 = 20.772675 -> 20.78.
    assert_eq!(exit_fee(dec(7, 2), 1199, dec(55, 2)), dec(2078, 2));
    // One contract at 0.0001 would owe a whole cent on 0.0001 of proceeds.
    assert_eq!(exit_fee(dec(7, 2), 1, dec(1, 4)), dec(1, 4));
    assert_eq!(exit_fee(Decimal::ZERO, 500, dec(30, 2)), Decimal::ZERO);
}

#[test]
fn rule_problems_name_the_key() {
    assert!(ExitRules::default().problems().is_empty());
    let bad = ExitRules {
        take_profit: Some(Decimal::ZERO),
        stop_loss: Some(Decimal::ONE),
        max_hold: Some(Duration::zero()),
        close_on_opposite_signal: true,
        settle_at: dec(5, 1),
    };
    let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec!["take_profit", "stop_loss", "max_hold", "settle_at"]
    );
}

// ---------------------------------------------------------------------------------------------
// The core: exits ride along with decisions.

/// YES marks to 0.55 on a small move (below the 5 % threshold, so decided at once):
/// proceeds 1199 * 0.55 = 659.45; fee ceil_cent(0.07 * 1199 * 0.2475 = 20.772675) = 20.78;
/// realized 659.45 - 479.60 - 20.15 - 20.78 = 138.92; cash 9500.25 + 659.45 - 20.78 = 10138.92.
#[test]
fn take_profit_closes_on_a_price_shift_decided_below_threshold() {
    let mut core = holding_yes(CoreConfig::default());
    let d = decided(core.on_event(
        &shift_event("e2", &fed(), price(55, 2), dec(1, 0), at(10)),
        at(10),
    ));
    assert_eq!(d.outcome, Outcome::BelowThreshold);
    assert_eq!(
        d.reason,
        "|change| 1% < min_shift_pct 5%; closed kalshi/KXFED-26MAR19 yes x1199 @ 0.55 on \
         take_profit (realized 138.92)"
    );
    let t = only_close(&d);
    assert_eq!((t.trade_id, t.event_id.as_str()), (2, "e2"));
    assert_eq!(
        (t.side, t.contracts, t.price),
        (Side::Yes, 1199, dec(55, 2))
    );
    assert_eq!((t.cost, t.fee), (dec(65945, 2), dec(2078, 2)));
    assert_eq!(t.realized_pnl, Some(dec(13892, 2)));
    assert_eq!(t.win_probability, None);
    assert_eq!(
        (t.cash_before, t.cash_after),
        (dec(950_025, 2), dec(1_013_892, 2))
    );
    assert_eq!(t.placed_at, at(10));
    assert!(core.book().positions.is_empty());
    assert_eq!(core.book().totals.realized_pnl, dec(13892, 2));
    assert_eq!(core.book().totals.fees_paid, dec(4093, 2));
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

/// A whale alert at YES 0.30 stops the position out: proceeds 359.70, fee
/// ceil_cent(0.07 * 1199 * 0.21 = 17.6253) = 17.63, realized 359.70 - 479.60 - 20.15 - 17.63
/// = -157.68, cash 9500.25 + 359.70 - 17.63 = 9842.32.
#[test]
fn stop_loss_closes_on_a_whale_alert() {
    let mut core = holding_yes(CoreConfig::default());
    let d = decided(core.on_event(&whale("w1", Some(price(30, 2)), 10), at(10)));
    assert_eq!(d.outcome, Outcome::IgnoredType);
    assert!(
        d.reason
            .starts_with("whale_alert events are not traded; closed"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("on stop_loss"), "{}", d.reason);
    let t = only_close(&d);
    assert_eq!(
        (t.price, t.cost, t.fee),
        (dec(30, 2), dec(35970, 2), dec(1763, 2))
    );
    assert_eq!(t.realized_pnl, Some(dec(-15768, 2)));
    assert_eq!(core.book().cash(), dec(984_232, 2));
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

/// A whale alert without a price marks nothing and closes nothing; a move short of both
/// thresholds leaves the position alone.
#[test]
fn moves_inside_the_thresholds_close_nothing() {
    let mut core = holding_yes(CoreConfig::default());
    let d = decided(core.on_event(&whale("w1", None, 10), at(10)));
    assert!(d.trades.is_empty());
    let d = decided(core.on_event(
        &shift_event("e2", &fed(), price(5499, 4), dec(1, 0), at(11)),
        at(11),
    ));
    assert!(d.trades.is_empty(), "{}", d.reason);
    let d = decided(core.on_event(
        &shift_event("e3", &fed(), price(3001, 4), dec(-1, 0), at(12)),
        at(12),
    ));
    assert!(d.trades.is_empty(), "{}", d.reason);
    assert_eq!(d.reason, "|change| 1% < min_shift_pct 5%");
    assert_eq!(
        core.book().position(&fed(), Side::Yes).map(|p| p.contracts),
        Some(1199)
    );
}

/// max_hold fires on any event, here one for another market, at the held market's last price
/// (0.40): proceeds 479.60, fee 20.15, realized -40.30.
#[test]
fn max_hold_fires_on_an_event_for_another_market() {
    let mut core = holding_yes(CoreConfig::default());
    let week = 7 * 24 * 3600;
    let other = |id: &str, secs: i64| Event {
        id: id.to_string(),
        event_type: "analysis_complete".to_string(),
        received_at: at(secs),
        body: EventBody::Other {
            market: Some(cpi()),
        },
    };
    // The position was opened at at(2), when the signal came back.
    let d = decided(core.on_event(&other("o1", week + 1), at(week + 1)));
    assert!(d.trades.is_empty(), "{}", d.reason);
    let d = decided(core.on_event(&other("o2", week + 2), at(week + 2)));
    assert_eq!(d.market, Some(cpi()));
    let t = only_close(&d);
    assert_eq!(t.market(), fed());
    assert_eq!(
        (t.price, t.cost, t.fee),
        (dec(40, 2), dec(4796, 1), dec(2015, 2))
    );
    assert_eq!(t.realized_pnl, Some(dec(-4030, 2)));
    assert!(
        d.reason.ends_with("on max_hold (realized -40.30)"),
        "{}",
        d.reason
    );
    assert_eq!(core.book().cash(), dec(995_970, 2));
}

/// Exits wait while an event is out for its signal and run when the reply is decided.
#[test]
fn an_event_sent_for_a_signal_closes_nothing_until_its_reply() {
    let mut core = holding_yes(no_cooldown());
    let before = core.book().clone();
    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(56, 2), dec(40, 0), at(10)),
        at(10),
    ));
    assert_eq!(core.book(), &before);
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::NoTrade, Decimal::ZERO)),
        at(11),
    );
    assert_eq!(d.outcome, Outcome::NoTrade);
    let close = only_close(&d);
    assert_eq!((close.event_id.as_str(), close.price), ("e2", dec(56, 2)));
    assert!(
        d.reason.starts_with("signal recommends NO_TRADE; closed"),
        "{}",
        d.reason
    );
}

/// BUY_NO at YES 0.45 while holding YES sells the YES first: proceeds 539.55, fee
/// ceil_cent(20.772675) = 20.78, realized 539.55 - 479.60 - 20.15 - 20.78 = 19.02, cash 10019.02.
/// Then NO at 0.55 with w = 0.55 + 0.15 = 0.70 is sized on that cash: c_eff = 0.567325,
/// f* = 0.132675 / 0.432675 > 0.2, so stake = 5 % of 10019.02 = 500.951; contracts
/// floor(500.951 / 0.567325) = 883; cost 485.65; fee ceil_cent(0.07 * 883 * 0.2475 = 15.297975)
/// = 15.30; cash 10019.02 - 485.65 - 15.30 = 9518.07.
#[test]
fn opposite_signal_closes_first_then_sizes_on_the_new_cash() {
    let mut core = holding_yes(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(12, 0), at(10)),
        at(10),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyNo, dec(-15, 2))),
        at(11),
    );
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(d.trades.len(), 2);
    let (close, open) = (&d.trades[0], &d.trades[1]);
    assert_eq!(
        (close.action, close.side, close.contracts, close.price),
        (TradeAction::Close, Side::Yes, 1199, dec(45, 2))
    );
    assert_eq!((close.cost, close.fee), (dec(53955, 2), dec(2078, 2)));
    assert_eq!(close.realized_pnl, Some(dec(1902, 2)));
    assert_eq!(close.cash_after, dec(1_001_902, 2));
    assert_eq!(
        (open.action, open.side, open.price),
        (TradeAction::Open, Side::No, dec(55, 2))
    );
    assert_eq!(open.cash_before, dec(1_001_902, 2));
    assert_eq!(
        (open.contracts, open.cost, open.fee),
        (883, dec(48565, 2), dec(1530, 2))
    );
    assert_eq!(open.cash_after, dec(951_807, 2));
    assert_eq!((close.trade_id, open.trade_id), (2, 3));
    assert!(
        d.reason.starts_with("BUY_NO kalshi/KXFED-26MAR19 x883"),
        "{}",
        d.reason
    );
    assert!(
        d.reason.ends_with(
            "closed kalshi/KXFED-26MAR19 yes x1199 @ 0.45 on opposite_signal (realized 19.02)"
        ),
        "{}",
        d.reason
    );
    assert!(core.book().position(&fed(), Side::Yes).is_none());
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

/// The sale stands when the entry is then refused: the signal still calls YES overpriced.
#[test]
fn opposite_signal_sells_even_when_the_entry_is_refused() {
    let mut core = holding_yes(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(12, 0), at(10)),
        at(10),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyNo, dec(-1, 2))),
        at(11),
    );
    assert_eq!(d.outcome, Outcome::EdgeBelowMin, "{}", d.reason);
    let close = only_close(&d);
    assert_eq!((close.side, close.price), (Side::Yes, dec(45, 2)));
    assert!(core.book().positions.is_empty());
}

#[test]
fn with_close_on_opposite_signal_off_both_sides_are_held() {
    let mut config = no_cooldown();
    config.exits.close_on_opposite_signal = false;
    let mut core = holding_yes(config);
    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(12, 0), at(10)),
        at(10),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyNo, dec(-15, 2))),
        at(11),
    );
    assert_eq!(d.trades.len(), 1);
    assert_eq!(d.trades[0].action, TradeAction::Open);
    assert!(core.book().position(&fed(), Side::Yes).is_some());
    assert!(core.book().position(&fed(), Side::No).is_some());
}

// ---------------------------------------------------------------------------------------------
// Settlement.

/// YES wins: 1199 contracts pay 1199.00, no fee; realized 1199 - 479.60 - 20.15 = 699.25;
/// cash 9500.25 + 1199 = 10699.25. Settling again finds nothing.
#[test]
fn settlement_pays_one_per_winning_contract_once() {
    let mut core = holding_yes(CoreConfig::default());
    let trades = core.settle(&fed(), Side::Yes, "settle:kalshi/KXFED-26MAR19", at(100));
    assert_eq!(trades.len(), 1);
    let t = &trades[0];
    assert_eq!(
        (t.action, t.side, t.contracts, t.price),
        (TradeAction::Settle, Side::Yes, 1199, Decimal::ONE)
    );
    assert_eq!((t.cost, t.fee), (dec(1199, 0), Decimal::ZERO));
    assert_eq!(t.realized_pnl, Some(dec(69925, 2)));
    assert_eq!(t.cash_after, dec(1_069_925, 2));
    assert_eq!(t.event_id, "settle:kalshi/KXFED-26MAR19");
    let after = core.book().clone();
    assert!(core.settle(&fed(), Side::Yes, "again", at(101)).is_empty());
    assert!(core.settle(&fed(), Side::No, "again", at(101)).is_empty());
    assert_eq!(core.book(), &after);
    assert_eq!(after.accounted_total(), dec(10_000, 0));
}

/// Both sides held (opposite-signal closing off): the winner is paid 1, the loser 0 and
/// realizes minus its whole cost basis and entry fee.
#[test]
fn settlement_pays_zero_to_the_losing_side() {
    let mut config = no_cooldown();
    config.exits.close_on_opposite_signal = false;
    let mut core = holding_yes(config);
    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(45, 2), dec(12, 0), at(10)),
        at(10),
    ));
    core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyNo, dec(-15, 2))),
        at(11),
    );
    let no = core
        .book()
        .position(&fed(), Side::No)
        .cloned()
        .expect("NO held");
    let trades = core.settle(&fed(), Side::Yes, "s", at(20));
    assert_eq!(
        trades.iter().map(|t| (t.side, t.price)).collect::<Vec<_>>(),
        vec![(Side::Yes, Decimal::ONE), (Side::No, Decimal::ZERO)]
    );
    let lost = &trades[1];
    assert_eq!(lost.cost, Decimal::ZERO);
    assert_eq!(lost.cash_after, lost.cash_before);
    assert_eq!(lost.realized_pnl, Some(-no.cost_basis - no.fees_paid));
    assert!(core.book().positions.is_empty());
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

#[test]
fn settlement_candidate_reads_the_last_price() {
    let mut core = holding_yes(CoreConfig::default());
    assert_eq!(core.settlement_candidate(&fed()), None);
    assert_eq!(core.settlement_candidate(&cpi()), None, "no price seen");
    // A mark at 0.99 would also take profit, so switch exits off to watch the candidate.
    let config = CoreConfig {
        exits: ExitRules {
            take_profit: None,
            stop_loss: None,
            max_hold: None,
            ..ExitRules::default()
        },
        ..CoreConfig::default()
    };
    core = Core::restore(
        config,
        core.book().clone(),
        core.markets().clone(),
        core.budget().clone(),
        None,
    );
    core.on_event(&whale("w1", Some(price(99, 2)), 10), at(10));
    assert_eq!(core.settlement_candidate(&fed()), Some(Side::Yes));
    core.on_event(&whale("w2", Some(price(2, 2)), 11), at(11));
    assert_eq!(core.settlement_candidate(&fed()), None);
    core.on_event(&whale("w3", Some(price(1, 2)), 12), at(12));
    assert_eq!(core.settlement_candidate(&fed()), Some(Side::No));
    assert_eq!(
        core.open_markets().into_iter().collect::<Vec<_>>(),
        vec![fed()]
    );
}

// ---------------------------------------------------------------------------------------------
// Marking.

/// Marked at YES 0.50: 1199 YES are worth 599.50; unrealized 599.50 - 479.60 - 20.15 = 99.75;
/// equity 9500.25 + 599.50 = 10099.75 = bankroll + realized 0 + unrealized 99.75.
#[test]
fn marking_values_positions_at_the_last_price() {
    let core = holding_yes(CoreConfig::default());
    let p = core
        .book()
        .position(&fed(), Side::Yes)
        .cloned()
        .expect("held");
    assert_eq!(p.market_value(price(50, 2)), dec(5995, 1));
    assert_eq!(p.unrealized_pnl(price(50, 2)), dec(9975, 2));
    assert_eq!(
        core.book().equity(|_| Some(price(50, 2))),
        dec(1_009_975, 2)
    );
    // Without a price a position is carried at cost.
    assert_eq!(core.book().equity(|_| None), dec(997_985, 2));
}

/// `exits::close_position` on a book directly: nothing held, nothing sold.
#[test]
fn closing_nothing_trades_nothing() {
    let mut book = Book::new(dec(100, 0));
    let fees = FeeSchedule::default();
    assert!(exits::close_position(
        &mut book,
        &fees,
        &fed(),
        Side::Yes,
        price(50, 2),
        "x",
        at(0)
    )
    .is_none());
    assert!(exits::settle(&mut book, &fed(), Side::Yes, "x", at(0)).is_empty());
    assert_eq!(book, Book::new(dec(100, 0)));
}

/// A reload that lowers take-profit applies at the next input: the held market is looked at
/// again although its price has not moved since.
#[test]
fn reconfigured_exits_apply_from_the_next_input() {
    let off = CoreConfig {
        exits: rules(None, None),
        ..no_cooldown()
    };
    let mut core = holding_yes(off.clone());
    // The price moves up 0.05 with no exit rule: nothing happens.
    let d = core.on_event(&whale("w1", Some(price(45, 2)), 3), at(3));
    assert!(decided(d).trades.is_empty());
    // take_profit 0.05 from now on; the next input (another market) closes the position.
    core.reconfigure(CoreConfig {
        exits: rules(Some(dec(5, 2)), None),
        ..off
    });
    let other = shift_event("e2", &cpi(), price(30, 2), dec(1, 0), at(4));
    let d = decided(core.on_event(&other, at(4)));
    let close = only_close(&d);
    assert_eq!(close.price, dec(45, 2));
    assert!(core.book().positions.is_empty());
}
