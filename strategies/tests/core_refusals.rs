//! The pipeline `Core` on every path that does not trade, with the exact reason texts.

mod support;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use strategies::budget::{BudgetLimits, SignalBudget};
use strategies::{
    Book, Core, CoreConfig, Event, EventBody, Outcome, QuotaPause, Recommendation, Signal,
    SignalReply,
};
use support::flows::*;
use support::*;

#[test]
fn no_trade_signal() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::NoTrade, dec(1, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::NoTrade);
    assert_eq!(d.reason, "signal recommends NO_TRADE");
    assert!(d.trades.is_empty());
    assert_eq!(core.book().cash(), dec(10_000, 0));
}

#[test]
fn expired_signals_are_not_traded() {
    let mut core = Core::new(no_cooldown());
    let buy = signal(Recommendation::BuyYes, dec(15, 2));

    // Expiring exactly now is expired.
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let sig = Signal {
        expires_at: Some(at(5)),
        ..buy.clone()
    };
    let d = core.on_signal(&t, SignalReply::Signal(sig), at(5));
    assert_eq!(d.outcome, Outcome::SignalExpired);
    assert_eq!(d.reason, "signal expired at 2026-03-01T23:50:05+00:00");

    let t = ticket(core.on_event(
        &shift_event("e2", &fed(), price(40, 2), dec(10, 0), at(6)),
        at(6),
    ));
    let sig = Signal {
        freshness: Some("expired".to_string()),
        ..buy.clone()
    };
    let d = core.on_signal(&t, SignalReply::Signal(sig), at(7));
    assert_eq!(d.outcome, Outcome::SignalExpired);
    assert_eq!(d.reason, "signal freshness is \"expired\"");

    // A second to spare, or a "stale" freshness, still trades.
    let t = ticket(core.on_event(
        &shift_event("e3", &fed(), price(40, 2), dec(10, 0), at(8)),
        at(8),
    ));
    let sig = Signal {
        expires_at: Some(at(10)),
        freshness: Some("stale".to_string()),
        ..buy
    };
    let d = core.on_signal(&t, SignalReply::Signal(sig), at(9));
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(core.book().accounted_total(), dec(10_000, 0));
}

/// A 429 with a date pauses every signal request until then, without spending budget.
#[test]
fn quota_pause_blocks_until_it_passes() {
    let mut config = no_cooldown();
    config.budget = BudgetLimits {
        max_per_minute: 0,
        max_per_day: 100,
    };
    let mut core = Core::new(config);
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Failed {
            reason: "quota spent".to_string(),
            pause_until: Some(at(300)),
        },
        at(1),
    );
    assert_eq!(d.outcome, Outcome::SignalError);
    assert_eq!(d.reason, "quota spent");
    assert_eq!(d.signal, None);
    assert_eq!(core.pause().map(|p| p.until), Some(at(300)));
    assert_eq!(core.budget().spent_today(), 1);

    for (i, s) in [2, 100, 299].into_iter().enumerate() {
        let d = decided(core.on_event(
            &shift_event(&format!("p{i}"), &cpi(), price(40, 2), dec(10, 0), at(s)),
            at(s),
        ));
        assert_eq!(d.outcome, Outcome::SignalError);
        assert_eq!(
            d.reason,
            "signals paused until 2026-03-01T23:55:00+00:00: quota spent"
        );
    }
    assert_eq!(
        core.budget().spent_today(),
        1,
        "a paused event spends no budget"
    );
    assert_eq!(core.in_flight(), 0);
    let t = ticket(core.on_event(
        &shift_event("later", &cpi(), price(40, 2), dec(10, 0), at(300)),
        at(300),
    ));
    assert_eq!(t.event_id, "later");
    assert_eq!(core.pause(), None);
}

#[test]
fn a_failure_without_a_date_does_not_pause() {
    let mut core = Core::new(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Failed {
            reason: "HTTP 503 after 3 retries".to_string(),
            pause_until: None,
        },
        at(1),
    );
    assert_eq!(d.outcome, Outcome::SignalError);
    assert_eq!(d.reason, "HTTP 503 after 3 retries");
    assert_eq!(core.pause(), None);
    ticket(core.on_event(
        &shift_event("e2", &fed(), price(40, 2), dec(10, 0), at(2)),
        at(2),
    ));
}

#[test]
fn budget_refuses_past_the_cap() {
    let mut config = no_cooldown();
    config.budget = BudgetLimits {
        max_per_minute: 1,
        max_per_day: 0,
    };
    let mut core = Core::new(config);
    ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let d = decided(core.on_event(
        &shift_event("e2", &cpi(), price(40, 2), dec(10, 0), at(59)),
        at(59),
    ));
    assert_eq!(d.outcome, Outcome::SignalBudget);
    assert_eq!(d.reason, "signal.max_per_minute 1 reached");
    ticket(core.on_event(
        &shift_event("e3", &cpi(), price(40, 2), dec(10, 0), at(60)),
        at(60),
    ));
}

#[test]
fn cooldown_counts_from_the_signal_request() {
    let mut core = Core::new(CoreConfig::default());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::NoTrade, Decimal::ZERO)),
        at(5),
    );
    let d = decided(core.on_event(
        &shift_event("e2", &fed(), price(40, 2), dec(10, 0), at(59)),
        at(59),
    ));
    assert_eq!(d.outcome, Outcome::Cooldown);
    assert_eq!(d.reason, "last signal request 59s ago, cooldown is 60s");
    ticket(core.on_event(
        &shift_event("e3", &fed(), price(40, 2), dec(10, 0), at(60)),
        at(60),
    ));
}

#[test]
fn invalid_and_filtered_events() {
    let mut core = Core::new(CoreConfig::default());
    let bad = Event {
        id: "bad".to_string(),
        event_type: "price_shift".to_string(),
        received_at: at(0),
        body: EventBody::Invalid {
            market: None,
            reason: "new_yes 1.2 is outside (0, 1)".to_string(),
        },
    };
    let d = decided(core.on_event(&bad, at(0)));
    assert_eq!(d.outcome, Outcome::Invalid);
    assert_eq!(d.reason, "new_yes 1.2 is outside (0, 1)");
    assert_eq!(d.market, None);

    let d = decided(core.on_event(
        &shift_event("small", &fed(), price(40, 2), dec(49, 1), at(0)),
        at(0),
    ));
    assert_eq!(d.outcome, Outcome::BelowThreshold);
    assert_eq!(d.reason, "|change| 4.9% < min_shift_pct 5%");

    let mut old = shift_event("old", &fed(), price(40, 2), dec(10, 0), at(500));
    if let EventBody::PriceShift(s) = &mut old.body {
        s.timestamp = Some(at(0));
    }
    let d = decided(core.on_event(&old, at(500)));
    assert_eq!(d.outcome, Outcome::Stale);
    assert_eq!(d.reason, "event is 500s old, max_event_age is 120s");
    assert_eq!(core.in_flight(), 0);
    assert_eq!(core.budget().spent_today(), 0);
}

/// Sizing refusals reach the decision with their reason.
#[test]
fn sizing_refusals_become_decisions() {
    let mut core = Core::new(no_cooldown());
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    // w = 0.40 + 0.03 = 0.43; edge after fees 0.0132 < 0.02.
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(3, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::EdgeBelowMin);
    assert!(
        d.reason.contains("0.0132") && d.reason.contains("min_edge 0.02"),
        "{}",
        d.reason
    );
    assert!(d.trades.is_empty());

    let mut config = no_cooldown();
    config.sizing.bankroll = dec(5, 0);
    let mut core = Core::new(config);
    let t = ticket(core.on_event(
        &shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0)),
        at(0),
    ));
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(1),
    );
    assert_eq!(d.outcome, Outcome::SizeZero);
    assert!(d.reason.contains("0.25"), "{}", d.reason);
}

/// A quota pause survives a restart; an event re-armed after the restart must not call the API
/// during it ("pauses all signal requests until then").
#[test]
fn resume_during_a_quota_pause_does_not_call() {
    let config = CoreConfig::default();
    let pause = QuotaPause {
        until: at(600),
        reason: "quota spent".to_string(),
    };
    let mut core = Core::restore(
        config.clone(),
        Book::new(config.sizing.bankroll),
        BTreeMap::new(),
        SignalBudget::default(),
        Some(pause),
    );
    let e = shift_event("e1", &fed(), price(40, 2), dec(10, 0), at(0));
    let d = decided(core.resume(&e, at(10)));
    assert_eq!(d.outcome, Outcome::SignalError);
    assert!(d.reason.contains("quota spent"), "{}", d.reason);
    assert_eq!(core.in_flight(), 0);
}
