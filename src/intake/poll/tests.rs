//! The anchor rule by hand: first sight sets, unchanged `updated_at` skips, a move past the
//! threshold emits from the anchor and moves it, and the derived event decodes exactly.

use rust_decimal_macros::dec;
use strategies::{EventBody, MarketKey, Platform, Price};

use super::*;

fn quote(market: &str, yes: Decimal, updated_at: &str) -> Quote {
    Quote {
        market: MarketKey::new(Platform::Kalshi, market).expect("market"),
        yes: Price::new(yes).expect("price"),
        updated_at: Some(updated_at.to_string()),
    }
}

fn at(second: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_780_000_000 + second, 0).expect("time")
}

#[test]
fn anchors_follow_the_hand_calculation() {
    let mut anchors = Anchors::default();
    let min = dec!(5);
    // First sight: the anchor is set, nothing emitted.
    let (anchor, shift) = anchors
        .observe(&quote("A", dec!(0.60), "t1"), min, at(0))
        .expect("saved");
    assert_eq!(anchor.anchor, dec!(0.60));
    assert!(shift.is_none());
    // Same updated_at: skipped even though the price differs (the listing did not change).
    assert!(anchors
        .observe(&quote("A", dec!(0.90), "t1"), min, at(1))
        .is_none());
    // 0.60 -> 0.62: 3.33 % < 5 %: no event, the anchor stays, updated_at is saved.
    let (anchor, shift) = anchors
        .observe(&quote("A", dec!(0.62), "t2"), min, at(2))
        .expect("updated_at moved");
    assert_eq!(anchor.anchor, dec!(0.60));
    assert!(shift.is_none());
    // 0.60 -> 0.63: exactly 5 %: emitted from the anchor, which moves to 0.63.
    let (anchor, shift) = anchors
        .observe(&quote("A", dec!(0.63), "t3"), min, at(3))
        .expect("shift");
    assert_eq!(anchor.anchor, dec!(0.63));
    let shift = shift.expect("a 5 % move is a shift");
    // 0.63 -> 0.60: 4.76 % from the new anchor: nothing.
    let (_, none) = anchors
        .observe(&quote("A", dec!(0.60), "t4"), min, at(4))
        .expect("updated_at moved");
    assert!(none.is_none());
    // 0.63 -> 0.59: 6.35 % down: emitted, signed.
    let (_, down) = anchors
        .observe(&quote("A", dec!(0.59), "t5"), min, at(5))
        .expect("shift");
    let down = down.expect("down shift");

    let raw = |shift: &DerivedShift| RawEvent {
        id: Some(shift.id.clone()),
        sse_event: None,
        data: shift.json.clone(),
        received_at: at(10),
    };
    let event = crate::wire::decode_event(&raw(&shift));
    assert_eq!(event.id, shift.id);
    assert_eq!(event.event_type, "price_shift");
    let EventBody::PriceShift(up) = event.body else {
        panic!("a price shift: {:?}", event.body)
    };
    assert_eq!(up.old_yes.get(), dec!(0.60));
    assert_eq!(up.new_yes.get(), dec!(0.63));
    assert_eq!(up.change_pct, dec!(5));
    let EventBody::PriceShift(down) = crate::wire::decode_event(&raw(&down)).body else {
        panic!("a price shift")
    };
    assert_eq!(
        (down.old_yes.get(), down.new_yes.get()),
        (dec!(0.63), dec!(0.59))
    );
    assert_eq!(down.change_pct, dec!(-6.3492));
}

#[test]
fn the_same_observation_is_the_same_event_and_markets_are_apart() {
    let observe = |anchors: &mut Anchors, q: &Quote, t| anchors.observe(q, dec!(5), at(t));
    let mut first = Anchors::default();
    observe(&mut first, &quote("A", dec!(0.40), "t1"), 0);
    observe(&mut first, &quote("B", dec!(0.40), "t1"), 0);
    let mut restarted = first.clone();
    let a = observe(&mut first, &quote("A", dec!(0.50), "t2"), 1).and_then(|(_, s)| s);
    // A restart that lost the round (anchors not saved) derives the same id, later.
    let again = observe(&mut restarted, &quote("A", dec!(0.50), "t2"), 99).and_then(|(_, s)| s);
    let (a, again) = (a.expect("shift"), again.expect("shift"));
    assert_eq!(a.id, again.id);
    // Another market with the same prices is another event.
    let b = observe(&mut first, &quote("B", dec!(0.50), "t2"), 1).and_then(|(_, s)| s);
    assert_ne!(b.expect("shift").id, a.id);
    // Without updated_at in the listing, a quote is looked at every time.
    let mut bare = Anchors::default();
    let mut q = quote("C", dec!(0.40), "x");
    q.updated_at = None;
    bare.observe(&q, dec!(5), at(0));
    q.yes = Price::new(dec!(0.45)).expect("price");
    assert!(bare
        .observe(&q, dec!(5), at(1))
        .and_then(|(_, s)| s)
        .is_some());
}

#[test]
fn fallback_polls_only_while_every_watched_intake_is_silent_for_after() {
    let settings = |mode| PollSettings {
        sources: vec![Platform::Kalshi],
        interval: Duration::from_secs(300),
        mode,
        after: Duration::from_secs(120),
        max_per_day: 0,
    };
    let fallback = settings(PollMode::Fallback);
    let stream = Liveness::new(at(0));
    let socket = Liveness::new(at(0));
    let watched = [stream.clone(), socket.clone()];
    assert!(
        !gate_open(&fallback, &watched, at(119)),
        "both just heard from"
    );
    assert!(
        gate_open(&fallback, &watched, at(120)),
        "both silent for `after`"
    );
    socket.beat(at(100));
    assert!(
        !gate_open(&fallback, &watched, at(200)),
        "one is alive again"
    );
    assert!(gate_open(&fallback, &watched, at(220)));
    assert!(
        gate_open(&fallback, &[], at(0)),
        "nothing to stand in for: the only source"
    );
    assert!(gate_open(&settings(PollMode::Always), &watched, at(1)));
}
