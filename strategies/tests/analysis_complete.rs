//! `filter.on_analysis_complete`: ignored by default; with `signal`, an `analysis_complete`
//! asks for its market's signal through the stages that apply (age, lists, cooldown, budget)
//! and trades on the market's last seen price like a price shift would.

mod support;

use chrono::Duration;
use strategies::budget::BudgetLimits;
use strategies::filter::{MarketPattern, OnAnalysisComplete};
use strategies::{Core, CoreConfig, Event, EventBody, Outcome, Recommendation, SignalReply};
use support::flows::*;
use support::*;

fn analysis(id: &str, market: Option<strategies::MarketKey>, secs: i64) -> Event {
    Event {
        id: id.to_string(),
        event_type: "analysis_complete".to_string(),
        received_at: at(secs),
        body: EventBody::Other { market },
    }
}

fn signalling() -> CoreConfig {
    let mut config = CoreConfig::default();
    config.filter.on_analysis_complete = OnAnalysisComplete::Signal;
    config
}

#[test]
fn by_default_an_analysis_complete_is_not_traded() {
    let mut core = Core::new(CoreConfig::default());
    let d = decided(core.on_event(&analysis("a1", Some(fed()), 0), at(0)));
    assert_eq!(d.outcome, Outcome::IgnoredType);
    assert_eq!(d.reason, "analysis_complete events are not traded");
}

#[test]
fn with_signal_it_asks_for_a_signal_and_trades_at_the_last_seen_price() {
    let mut core = Core::new(signalling());
    // A shift below the threshold sets the price and asks nothing.
    let d = decided(core.on_event(
        &shift_event("s1", &fed(), price(40, 2), dec(1, 0), at(0)),
        at(0),
    ));
    assert_eq!(d.outcome, Outcome::BelowThreshold);
    let t = ticket(core.on_event(&analysis("a1", Some(fed()), 1), at(1)));
    assert_eq!(t.market, fed());
    assert_eq!(t.event_type, "analysis_complete");
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(2),
    );
    assert_eq!(d.outcome, Outcome::Traded, "{}", d.reason);
    assert_eq!(d.trades[0].price, price(40, 2).get());
    // The cooldown the request started applies to the next one, of either type.
    let d = decided(core.on_event(&analysis("a2", Some(fed()), 3), at(3)));
    assert_eq!(d.outcome, Outcome::Cooldown);
}

#[test]
fn with_signal_the_lists_age_budget_and_price_still_apply() {
    let mut config = signalling();
    config.filter.exclude_markets = vec![MarketPattern::parse("kalshi/KXFED*").expect("pattern")];
    config.filter.max_event_age = Duration::seconds(60);
    config.budget = BudgetLimits {
        max_per_minute: 1,
        max_per_day: 0,
    };
    let mut core = Core::new(config);
    let d = decided(core.on_event(&analysis("a1", Some(fed()), 0), at(0)));
    assert_eq!(d.outcome, Outcome::FilteredMarket, "{}", d.reason);
    let d = decided(core.on_event(&analysis("a2", Some(cpi()), 0), at(120)));
    assert_eq!(d.outcome, Outcome::Stale, "{}", d.reason);
    let d = decided(core.on_event(&analysis("a3", None, 0), at(0)));
    assert_eq!(
        d.outcome,
        Outcome::IgnoredType,
        "no market, nothing to ask about"
    );
    // The budget: one per minute.
    let t = ticket(core.on_event(&analysis("a4", Some(cpi()), 10), at(10)));
    let other =
        strategies::MarketKey::new(strategies::Platform::Polymarket, "poly-1").expect("key");
    let d = decided(core.on_event(&analysis("a5", Some(other), 11), at(11)));
    assert_eq!(d.outcome, Outcome::SignalBudget, "{}", d.reason);
    // No price seen for the market: nothing to size a trade at.
    let d = core.on_signal(
        &t,
        SignalReply::Signal(signal(Recommendation::BuyYes, dec(15, 2))),
        at(12),
    );
    assert_eq!(d.outcome, Outcome::Invalid);
    assert!(d.reason.contains("no price seen"), "{}", d.reason);
}
