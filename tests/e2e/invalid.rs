//! Malformed and out-of-range events are decided `invalid` with a reason, and the bot keeps
//! running and trades the valid events after them. An event without an id is known by its
//! content: a redelivered copy (even re-serialised) is the same event.

use std::collections::BTreeMap;

use crate::support::{fresh_price_shift, now_rfc3339, raw, Setup};

#[test]
fn malformed_events_are_invalid_and_the_bot_keeps_trading() {
    let ts = now_rfc3339();
    let shift = |fields: &str| format!(r#"{{"type":"price_shift",{fields},"timestamp":"{ts}"}}"#);
    let valid_fields = r#""market_id":"KXE2E-C","platform":"kalshi","old_yes":0.50,"new_yes":0.55,"change_pct":10"#;
    let anonymous = shift(valid_fields);
    // The same object, keys reordered and spaced out, as a server re-serialising it might.
    let reserialised = format!(
        r#"{{ "timestamp": "{ts}", "change_pct": 10, "new_yes": 0.55, "old_yes": 0.50,
             "platform": "kalshi", "market_id": "KXE2E-C", "type": "price_shift" }}"#
    )
    .replace('\n', " ");

    let cases: Vec<(&str, String, &[&str])> = vec![
        ("m1", "this is not json {".to_string(), &["not JSON"]),
        (
            "m2",
            shift(r#""platform":"kalshi","old_yes":0.40,"new_yes":0.50,"change_pct":25"#),
            &["market_id is missing"],
        ),
        (
            "m3",
            shift(
                r#""market_id":"KXE2E-B","platform":"kalshi","old_yes":0.40,"new_yes":0,"change_pct":-100"#,
            ),
            &["new_yes", "outside (0, 1)"],
        ),
        (
            "m4",
            shift(
                r#""market_id":"KXE2E-B","platform":"kalshi","old_yes":0.40,"new_yes":1,"change_pct":150"#,
            ),
            &["new_yes", "outside (0, 1)"],
        ),
        (
            "m5",
            shift(
                r#""market_id":"KXE2E-B","platform":"kalshi","old_yes":0.40,"new_yes":1.5,"change_pct":275"#,
            ),
            &["new_yes", "outside (0, 1)"],
        ),
        (
            "m6",
            shift(
                r#""market_id":"BF-1","platform":"betfair","old_yes":0.40,"new_yes":0.50,"change_pct":25"#,
            ),
            &["unknown platform", "betfair"],
        ),
        (
            "m7",
            shift(
                r#""market_id":"KXE2E-B","platform":"kalshi","old_yes":0.40,"new_yes":0.50,"change_pct":"NaN""#,
            ),
            &["change_pct", "not a finite decimal"],
        ),
        (
            "m8",
            format!(
                r#"{{"market_id":"KXE2E-B","platform":"kalshi","old_yes":0.4,"new_yes":0.5,"change_pct":25,"timestamp":"{ts}"}}"#
            ),
            &["no \"type\""],
        ),
        (
            "m9",
            shift(
                r#""market_id":"KXE2E-B","platform":"kalshi","old_yes":-0.2,"new_yes":0.50,"change_pct":25"#,
            ),
            &["old_yes", "outside (0, 1)"],
        ),
        (
            "m10",
            shift(
                r#""market_id":"   ","platform":"kalshi","old_yes":0.40,"new_yes":0.50,"change_pct":25"#,
            ),
            &["market_id is empty"],
        ),
    ];
    let mut script: Vec<_> = cases
        .iter()
        .map(|(id, data, _)| raw(Some(id), data))
        .collect();
    script.push(raw(None, &anonymous));
    script.push(raw(None, &anonymous));
    script.push(raw(None, &reserialised));
    script.push(fresh_price_shift(
        Some("v1"),
        "polymarket",
        "e2e-a",
        "0.40",
        "0.30",
    ));

    let mut app = Setup::new(script)
        .set("filter.min_shift_pct", 5)
        .set("signal.max_in_flight", 1)
        .spawn();
    let mut bot = app.start();
    bot.wait_for_decisions(cases.len() + 2);
    let finished = bot.terminate();
    assert_eq!(finished.stop_line()["duplicates"].as_u64(), Some(2));

    let decisions = app.decisions();
    assert_eq!(decisions.len(), cases.len() + 2, "{decisions:#?}");
    let by_id: BTreeMap<&str, _> = decisions.iter().map(|d| (d.event_id.as_str(), d)).collect();
    for (id, _, reasons) in &cases {
        let decision = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} has no decision"));
        assert_eq!(decision.outcome, "invalid", "{id}: {}", decision.reason);
        for part in *reasons {
            assert!(
                decision.reason.contains(part),
                "{id}: reason {:?} lacks {part:?}",
                decision.reason
            );
        }
    }

    // The id-less event: one decision under a content-derived id, and it traded.
    let anonymous: Vec<_> = decisions
        .iter()
        .filter(|d| d.event_id.starts_with("sha256:"))
        .collect();
    assert_eq!(anonymous.len(), 1, "{decisions:#?}");
    assert_eq!(anonymous[0].outcome, "traded", "{}", anonymous[0].reason);
    assert_eq!(anonymous[0].market_id.as_deref(), Some("KXE2E-C"));
    assert_eq!(by_id["v1"].outcome, "traded", "{}", by_id["v1"].reason);

    let ledger = app.ledger();
    let traded: Vec<(&str, &str, u64)> = ledger
        .iter()
        .map(|t| (t.event_id.as_str(), t.market_id.as_str(), t.contracts))
        .collect();
    // The same fills as in `trades`: 881 YES of KXE2E-C, then 678 NO of e2e-a at cash 9500.18.
    assert_eq!(
        traded,
        vec![
            (anonymous[0].event_id.as_str(), "KXE2E-C", 881),
            ("v1", "e2e-a", 678)
        ]
    );
}
