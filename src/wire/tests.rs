use chrono::TimeZone;
use rust_decimal_macros::dec;

use super::*;

fn raw(id: Option<&str>, data: &str) -> RawEvent {
    RawEvent {
        id: id.map(str::to_string),
        sse_event: None,
        data: data.to_string(),
        received_at: chrono::Utc
            .with_ymd_and_hms(2026, 3, 21, 14, 30, 5)
            .unwrap(),
    }
}

const SEED_EXAMPLE: &str = r#"{"type":"price_shift","market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.7,"timestamp":"2026-03-21T14:30:00Z"}"#;

#[test]
fn the_documented_payload_decodes_exactly() {
    let event = decode_event(&raw(Some("17"), SEED_EXAMPLE));
    assert_eq!(event.id, "17");
    assert_eq!(event.event_type, "price_shift");
    let EventBody::PriceShift(shift) = event.body else {
        panic!("not a price shift: {event:?}")
    };
    assert_eq!(shift.market.to_string(), "kalshi/KXFED-26MAR19");
    assert_eq!(shift.old_yes.get(), dec!(0.62));
    assert_eq!(shift.new_yes.get(), dec!(0.68));
    assert_eq!(shift.change_pct, dec!(9.7));
    assert_eq!(
        shift.timestamp,
        Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 3, 21, 14, 30, 0)
                .unwrap()
        )
    );
}

#[test]
fn decimals_as_strings_are_read_exactly() {
    let data = r#"{"type":"price_shift","market_id":"M","platform":"polymarket","old_yes":"0.1234","new_yes":"0.2","change_pct":"-62.07"}"#;
    let EventBody::PriceShift(shift) = decode_event(&raw(None, data)).body else {
        panic!()
    };
    assert_eq!(shift.old_yes.get(), dec!(0.1234));
    assert_eq!(shift.change_pct, dec!(-62.07));
    assert_eq!(shift.timestamp, None);
}

fn reason_of(data: &str) -> String {
    match decode_event(&raw(None, data)).body {
        EventBody::Invalid { reason, .. } => reason,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn bad_events_are_invalid_with_a_reason() {
    let cases = [
        ("not json", "payload is not JSON"),
        ("[1,2]", "not a JSON object"),
        (r#"{"market_id":"M"}"#, "no \"type\""),
        (
            r#"{"type":"price_shift","market_id":"","platform":"kalshi","old_yes":0.5,"new_yes":0.6,"change_pct":1}"#,
            "market_id is empty",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"binance","old_yes":0.5,"new_yes":0.6,"change_pct":1}"#,
            "unknown platform",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0.5,"new_yes":1.0,"change_pct":1}"#,
            "new_yes: price 1.0 is outside (0, 1)",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0,"new_yes":0.6,"change_pct":1}"#,
            "old_yes: price 0 is outside",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":-0.2,"new_yes":0.6,"change_pct":1}"#,
            "outside (0, 1)",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0.5,"new_yes":0.6,"change_pct":"NaN"}"#,
            "change_pct \"NaN\" is not a finite",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0.5,"new_yes":0.6,"change_pct":1e400}"#,
            "change_pct \"1e400\" is not a finite decimal number",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0.5,"new_yes":0.6}"#,
            "change_pct is missing",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":"abc","new_yes":0.6,"change_pct":1}"#,
            "old_yes \"abc\" is not a finite",
        ),
        (
            r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":0.5,"new_yes":0.6,"change_pct":1,"timestamp":"yesterday"}"#,
            "not RFC 3339",
        ),
        (
            r#"{"type":"price_shift","market_id":7,"platform":"kalshi","old_yes":0.5,"new_yes":0.6,"change_pct":1}"#,
            "market_id is not a string",
        ),
        (
            r#"{"type":"whale_alert","market_id":"M","platform":"kalshi","price":1.5}"#,
            "price: price 1.5 is outside",
        ),
    ];
    for (data, expected) in cases {
        let reason = reason_of(data);
        assert!(
            reason.contains(expected),
            "{data}: reason {reason:?} lacks {expected:?}"
        );
    }
}

#[test]
fn invalid_events_keep_their_market_when_it_is_readable() {
    let data = r#"{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":2,"new_yes":0.6,"change_pct":1}"#;
    let event = decode_event(&raw(None, data));
    assert_eq!(
        event.market().map(ToString::to_string).as_deref(),
        Some("kalshi/M")
    );
}

#[test]
fn other_types_decode_as_other_and_sse_name_is_a_fallback_type() {
    let event = decode_event(&raw(
        None,
        r#"{"type":"analysis_complete","analysis_id":"a1","market_id":"M","platform":"kalshi"}"#,
    ));
    assert_eq!(event.event_type, "analysis_complete");
    assert!(matches!(event.body, EventBody::Other { market: Some(_) }));
    let mut named = raw(
        None,
        r#"{"market_id":"M","platform":"kalshi","side":"yes","flow":25000,"price":0.41}"#,
    );
    named.sse_event = Some("whale_alert".to_string());
    let event = decode_event(&named);
    assert_eq!(event.event_type, "whale_alert");
    assert_eq!(event.yes_price().map(Price::get), Some(dec!(0.41)));
}

#[test]
fn ids_prefer_the_server_then_the_json_then_the_content() {
    assert_eq!(
        decode_event(&raw(Some("abc"), r#"{"id":"x","type":"t"}"#)).id,
        "abc"
    );
    assert_eq!(
        decode_event(&raw(Some(""), r#"{"id":"x","type":"t"}"#)).id,
        "x"
    );
    assert_eq!(decode_event(&raw(None, r#"{"id":42,"type":"t"}"#)).id, "42");
    let derived = decode_event(&raw(None, SEED_EXAMPLE)).id;
    assert!(
        derived.starts_with("sha256:") && derived.len() == 7 + 32,
        "{derived}"
    );
}

#[test]
fn derived_ids_recognise_reserialised_copies_and_differ_for_different_content() {
    let a = decode_event(&raw(None, SEED_EXAMPLE)).id;
    let reordered = r#"{ "platform": "kalshi", "type": "price_shift", "new_yes": 0.68, "old_yes": 0.62,
        "market_id": "KXFED-26MAR19", "change_pct": 9.7, "timestamp": "2026-03-21T14:30:00Z" }"#;
    assert_eq!(decode_event(&raw(None, reordered)).id, a);
    let other = SEED_EXAMPLE.replace("0.68", "0.69");
    assert_ne!(decode_event(&raw(None, &other)).id, a);
    let garbage_a = decode_event(&raw(None, "  garbage\n")).id;
    assert_eq!(decode_event(&raw(None, "garbage")).id, garbage_a);
    assert_ne!(decode_event(&raw(None, "garbage2")).id, garbage_a);
}

proptest::proptest! {
    #[test]
    fn prop_decoding_never_panics(data in ".{0,200}") {
        let event = decode_event(&raw(None, &data));
        proptest::prop_assert!(!event.id.is_empty());
    }

    #[test]
    fn prop_prices_in_range_decode_exactly(old in 1u32..10_000, new in 1u32..10_000, change in -100_000i64..100_000) {
        let old = Decimal::new(old.into(), 4);
        let new = Decimal::new(new.into(), 4);
        let change = Decimal::new(change, 2);
        let data = format!(r#"{{"type":"price_shift","market_id":"M","platform":"kalshi","old_yes":{old},"new_yes":{new},"change_pct":{change}}}"#);
        let EventBody::PriceShift(shift) = decode_event(&raw(None, &data)).body else {
            return Err(proptest::test_runner::TestCaseError::fail("not decoded"));
        };
        proptest::prop_assert_eq!(shift.old_yes.get(), old);
        proptest::prop_assert_eq!(shift.new_yes.get(), new);
        proptest::prop_assert_eq!(shift.change_pct, change);
    }
}

#[test]
fn over_long_ids_are_not_ids() {
    let long = "i".repeat(MAX_EVENT_ID_BYTES + 1);
    let at_bound = "j".repeat(MAX_EVENT_ID_BYTES);
    assert_eq!(
        decode_event(&raw(Some(&at_bound), SEED_EXAMPLE)).id,
        at_bound
    );
    let derived = decode_event(&raw(None, SEED_EXAMPLE)).id;
    assert!(derived.starts_with("sha256:"));
    assert_eq!(decode_event(&raw(Some(&long), SEED_EXAMPLE)).id, derived);
    // The same bound for an id carried in the JSON itself.
    let with_json_id = format!(r#"{{"id":"{long}","type":"x"}}"#);
    assert!(decode_event(&raw(None, &with_json_id))
        .id
        .starts_with("sha256:"));
}

#[test]
fn a_market_id_mangled_by_invalid_utf8_is_invalid() {
    let mangled = SEED_EXAMPLE.replace("KXFED-26MAR19", "KXFED-\u{FFFD}");
    let event = decode_event(&raw(Some("m"), &mangled));
    let EventBody::Invalid { reason, .. } = event.body else {
        panic!("decoded: {event:?}")
    };
    assert!(reason.contains("U+FFFD"), "{reason}");
}

#[test]
fn a_long_decimal_keeps_every_digit_in_events_signals_and_recordings() {
    let data = SEED_EXAMPLE.replace("9.7", "0.1234567890123456789");
    let EventBody::PriceShift(shift) = decode_event(&raw(Some("1"), &data)).body else {
        panic!("not decoded: {data}")
    };
    assert_eq!(shift.change_pct.to_string(), "0.1234567890123456789");
    let signal = crate::signal::decode_signal(
        r#"{"recommendation":"BUY_YES","edge":0.1234567890123456789,"probability":0.1234567890123456789}"#,
    )
    .expect("decodes");
    assert_eq!(signal.edge.to_string(), "0.1234567890123456789");
    assert_eq!(
        signal.probability.map(|p| p.to_string()).as_deref(),
        Some("0.1234567890123456789")
    );
    let line = format!(
        r#"{{"id":"1","type":"price_shift","data":{data},"received_at":"2026-03-21T14:30:05Z"}}"#
    );
    let mut tape = crate::replay::Tape::default();
    assert_eq!(tape.push_line(&line), Ok(true));
    let Some(EventBody::PriceShift(replayed)) = tape.event(0).map(|e| e.body) else {
        panic!("not on the tape")
    };
    assert_eq!(replayed, shift);
}

/// The webhook envelopes of seeds 002 (VecTrade), 003 (ARA) and Standard Webhooks: the event's
/// fields in `data`, its type and id on the envelope.
#[test]
fn envelopes_decode_to_the_event_their_data_holds() {
    let fields = r#"{"market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.7,"timestamp":"2026-03-21T14:30:00Z"}"#;
    let flat = decode_event(&raw(None, SEED_EXAMPLE));
    for (body, id) in [
        (
            format!(
                r#"{{"id":"evt_abc123","type":"price_shift","created_at":"2026-05-15T14:30:00Z","data":{fields}}}"#
            ),
            Some("evt_abc123"),
        ),
        (
            format!(r#"{{"data": {fields}, "event_type": "price_shift"}}"#),
            None,
        ),
        (
            format!(
                r#"{{"type":"price_shift","timestamp":"2026-03-21T14:30:01Z","data":{fields}}}"#
            ),
            None,
        ),
    ] {
        let event = decode_event(&raw(None, &body));
        assert_eq!(event.event_type, "price_shift", "{body}");
        assert_eq!(event.body, flat.body, "{body}");
        match id {
            Some(id) => assert_eq!(event.id, id),
            None => assert!(event.id.starts_with("sha256:"), "{}", event.id),
        }
    }
    // The id inside `data` serves when the envelope has none.
    let inner_id = format!(
        r#"{{"event_type":"price_shift","data":{}}}"#,
        fields.replacen('{', r#"{"id":"e-9","#, 1)
    );
    assert_eq!(decode_event(&raw(None, &inner_id)).id, "e-9");
    // The same envelope delivered twice, re-serialised, is known by the same derived id.
    let a = decode_event(&raw(
        None,
        &format!(r#"{{"event_type":"price_shift","data":{fields}}}"#),
    ));
    let b = decode_event(&raw(
        None,
        &format!(r#"{{ "data" : {fields} , "event_type" : "price_shift" }}"#),
    ));
    assert_eq!(a.id, b.id);
}

#[test]
fn envelopes_of_other_types_are_ignored_and_broken_ones_invalid() {
    let alert = r#"{"id":"evt_1","type":"price.alert","created_at":"2026-05-15T14:30:00Z","data":{"symbol":"AAPL","price":200.00}}"#;
    let event = decode_event(&raw(None, alert));
    assert_eq!(event.event_type, "price.alert");
    assert!(
        matches!(event.body, EventBody::Other { market: None }),
        "{event:?}"
    );
    assert_eq!(
        reason_of(r#"{"event_type":"price_shift","data":{"platform":"kalshi"}}"#),
        "market_id is missing"
    );
    assert_eq!(
        reason_of(r#"{"type":"price_shift","data":{"market_id":"M","market_id":"N"}}"#),
        "data: duplicate field `market_id` at line 1 column 28"
    );
    let no_type = decode_event(&raw(
        None,
        r#"{"data":{"market_id":"M","platform":"kalshi"}}"#,
    ));
    assert!(
        matches!(no_type.body, EventBody::Invalid { .. }),
        "{no_type:?}"
    );
}
