//! The fast path agrees with the live decoder, or declines.
//!
//! Results are compared by their `Debug` text, not `==`: `Decimal` equality ignores the
//! scale (`0.5 == 0.50`), and the scale is part of what a trade record shows.

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use strategies::{Platform, Recommendation, Timestamp};

use super::super::tape::{FastPush, Tape};
use super::*;

/// A line as `sim --record` writes it.
const SIM_LINE: &str = r#"{"id":"2","type":"price_shift","data":{"change_pct":2.5,"market_id":"KXSIM-001","new_yes":0.82,"old_yes":0.8,"platform":"kalshi","timestamp":"2026-01-01T00:00:00.200Z","type":"price_shift"},"received_at":"2026-01-01T00:00:00.200Z","signal":{"confidence":0.55,"edge":0.0438,"expires_at":"2026-01-01T00:15:00.200Z","freshness":"fresh","generated_at":"2026-01-01T00:00:00.200Z","market":"kalshi/KXSIM-001","market_id":"KXSIM-001","market_price":0.82,"platform":"kalshi","probability":0.8638,"recommendation":"BUY_YES","risk_rating":"medium","size_pct":0.0608,"target_price":0.86,"time_horizon":"days"},"signal_at":"2026-01-01T00:00:00.200Z"}
"#;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn ts(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("rfc 3339")
        .with_timezone(&chrono::Utc)
}

#[test]
fn a_simulator_line_decodes_on_the_fast_path() {
    let line = parse(SIM_LINE.as_bytes(), &mut Layouts::default())
        .expect("the common line is the fast path's");
    assert_eq!(line.id, "2");
    assert_eq!(line.event_type, "price_shift");
    assert_eq!(line.platform, Platform::Kalshi);
    assert_eq!(line.market_id, "KXSIM-001");
    let FastBody::PriceShift {
        old_yes,
        new_yes,
        change_pct,
        timestamp,
    } = line.body
    else {
        panic!("a price shift: {:?}", line.body);
    };
    assert_eq!(old_yes.get().to_string(), "0.8");
    assert_eq!(new_yes.get().to_string(), "0.82");
    assert_eq!(change_pct.to_string(), "2.5");
    assert_eq!(timestamp, Some(ts("2026-01-01T00:00:00.2Z")));
    assert_eq!(line.received_at, ts("2026-01-01T00:00:00.2Z"));
    let (at, signal) = line.reply.expect("a signal");
    assert_eq!(at, ts("2026-01-01T00:00:00.2Z"));
    assert_eq!(signal.recommendation, Recommendation::BuyYes);
    assert_eq!(signal.edge.to_string(), "0.0438");
    assert_eq!(
        signal.probability.map(|p| p.to_string()),
        Some("0.8638".into())
    );
    assert_eq!(signal.expires_at, Some(ts("2026-01-01T00:15:00.2Z")));
    assert_eq!(signal.freshness, Some("fresh"));
}

#[test]
fn the_fast_path_reads_every_line_of_a_simulated_session() {
    let mut out = Vec::new();
    let settings = crate::configuration::Settings::load(Default::default()).expect("default");
    crate::replay::record_sim(
        &settings.sim_config(),
        crate::configuration::RiskLimit::Medium,
        2_000,
        &mut out,
    )
    .expect("record");
    let text = String::from_utf8(out).expect("UTF-8");
    let mut fast = 0;
    let mut shifts = 0;
    let mut whales = 0;
    let mut layouts = Layouts::default();
    for line in text.lines() {
        shifts += usize::from(line.contains(r#""type":"price_shift""#));
        whales += usize::from(line.contains(r#""type":"whale_alert""#));
        fast += usize::from(parse(line.as_bytes(), &mut layouts).is_some());
    }
    assert!(
        shifts > 1_800 && whales > 20,
        "{shifts} price shifts, {whales} whale alerts"
    );
    assert_eq!(
        fast,
        shifts + whales,
        "every line of a sim recording is fast"
    );
}

#[test]
fn lines_it_is_not_certain_of_are_declined() {
    let declined = [
        // An escape in a string, a duplicate key, an unknown line field.
        SIM_LINE.replace(r#""id":"2""#, r#""id":"\u0032""#),
        SIM_LINE.replace(
            r#""change_pct":2.5,"#,
            r#""change_pct":2.5,"change_pct":3,"#,
        ),
        SIM_LINE.replace(r#""id":"2","#, r#""id":"2","signal_error":"x","#),
        // Numbers it cannot read exactly as the live decoder does.
        SIM_LINE.replace(r#""new_yes":0.82"#, r#""new_yes":0.820"#),
        SIM_LINE.replace(r#""new_yes":0.82"#, r#""new_yes":8.2e-1"#),
        SIM_LINE.replace(r#""new_yes":0.82"#, r#""new_yes":"0.82""#),
        // Values the live decoder refuses, with its own words.
        SIM_LINE.replace(r#""new_yes":0.82"#, r#""new_yes":1.2"#),
        SIM_LINE.replace(r#""edge":0.0438"#, r#""edge":-0.0438"#),
        SIM_LINE.replace(
            r#""platform":"kalshi","timestamp""#,
            r#""platform":"nyse","timestamp""#,
        ),
        // Timestamps in another form, other event types, garbage after the object.
        SIM_LINE.replace(
            r#""received_at":"2026-01-01T00:00:00.200Z""#,
            r#""received_at":"2026-01-01T00:00:00.200+00:00""#,
        ),
        SIM_LINE.replace(r#""type":"price_shift"}"#, r#""type":"analysis_complete"}"#),
        SIM_LINE.replace("}\n", "}x\n"),
    ];
    for line in &declined {
        assert_ne!(line.as_str(), SIM_LINE, "the replacement applied");
        assert_eq!(
            parse(line.as_bytes(), &mut Layouts::default()),
            None,
            "{line}"
        );
        // Also with the keys learnt from a line before (the usual case).
        let mut learnt = Layouts::default();
        assert!(parse(SIM_LINE.as_bytes(), &mut learnt).is_some());
        assert_eq!(parse(line.as_bytes(), &mut learnt), None, "{line}");
    }
}

#[test]
fn a_market_id_the_live_decoder_refuses_is_declined_by_the_tape() {
    let line = SIM_LINE.replace(
        r#""market_id":"KXSIM-001","new_yes""#,
        r#""market_id":"KX/1","new_yes""#,
    );
    assert!(
        parse(line.as_bytes(), &mut Layouts::default()).is_some(),
        "market ids are checked by the tape"
    );
    assert_eq!(Tape::default().push_fast(&line), FastPush::Declined);
    assert_eq!(
        Tape::default().push_fast(SIM_LINE),
        FastPush::Pushed(SIM_LINE.len())
    );
}

#[test]
fn decimals_keep_the_digits_and_scale_as_written() {
    for (text, want) in [
        ("0.62", "0.62"),
        ("-1.28", "-1.28"),
        ("0.00012", "0.00012"),
        ("17", "17"),
        ("-3", "-3"),
        ("123456789.012345", "123456789.012345"),
    ] {
        for reader in [Reader::Payload, Reader::Signal] {
            let got = decimal(text.as_bytes(), reader).expect(text);
            assert_eq!(got.to_string(), want);
            assert_eq!(got.scale(), d(want).scale());
        }
    }
    // Whole floats: `ryu` keeps the `.0`, `Display` drops it.
    assert_eq!(
        decimal(b"10.0", Reader::Payload).map(|d| d.to_string()),
        Some("10.0".into())
    );
    assert_eq!(
        decimal(b"-6.0", Reader::Signal).map(|d| d.to_string()),
        Some("-6".into())
    );
    for text in [
        "0.620",
        "1.00",
        "-0.0",
        "01",
        "1.",
        ".5",
        "-0",
        "--1",
        "1e3",
        "0.000001",
        "1234567890.1234567",
        "1234567890123456789",
        "1234567890123456.0",
    ] {
        assert_eq!(decimal(text.as_bytes(), Reader::Payload), None, "{text}");
        assert_eq!(decimal(text.as_bytes(), Reader::Signal), None, "{text}");
    }
}

#[test]
fn timestamps_of_the_one_form_read_as_rfc_3339_does() {
    for text in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.2Z",
        "2024-02-29T23:59:59.123456789Z",
    ] {
        assert_eq!(
            timestamp(text, &mut Dates::default()),
            Some(ts(text)),
            "{text}"
        );
    }
    for text in [
        "2026-01-01T00:00:00.1234567891Z",
        "2026-01-01T00:00:60Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00.Z",
        "0999-01-01T00:00:00Z",
    ] {
        assert_eq!(timestamp(text, &mut Dates::default()), None, "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: generated lines around every rule; the fast path declines or agrees exactly.

/// Number texts: canonical ones, and near misses of every rule in [`decimal`].
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..2, "[0-9]{1,8}").prop_map(|(i, f)| format!("{i}.{f}")),
        2 => "-?(0|[1-9][0-9]{0,19})(\\.[0-9]{1,20})?",
        1 => "-?[0-9]{1,3}(\\.[0-9]{0,3})?[eE][+-]?[0-9]{1,3}",
        1 => prop::sample::select(vec![
            "0", "-0", "-0.0", "1.0", "10.0", "-6.0", "0.0", "0.50", "01", "1.", ".5", "\"0.5\"", "null", "true",
            "0.00001", "0.000001", "100.0", "999999999999999.9", "0.1234567890123456",
        ])
        .prop_map(str::to_string),
    ]
}

fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0i64..4_000_000_000_000, 0usize..10).prop_map(|(ms, digits)| {
            let at = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
            let full = at.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
            let cut = if digits == 0 { full.len() - 10 } else { full.len() - 9 + digits };
            format!("{}Z", &full[..cut])
        }),
        2 => "(19|20|00)[0-9]{2}-(0[0-9]|1[0-3])-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,11})?(Z|z|\\+00:00|-01:30)?",
    ]
}

fn string_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9-]{1,12}",
        1 => prop::sample::select(vec![
            "", " ", " KX-1", "KX/1", "\\u0041", "\\\"", "ü", "a\\nb", "kalshi", "polymarket",
            "KALSHI", "price_shift", "whale_alert", "BUY_YES", "buy_yes", " BUY_NO", "Fresh",
        ])
        .prop_map(str::to_string),
    ]
}

/// Any JSON value (or near-JSON text) that might replace a field's.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => number_text(),
        2 => quoted(timestamp_text()),
        2 => quoted(string_text()),
        1 => prop::sample::select(vec!["null", "true", "false", "[1]", "{\"a\":1}", "nul", "\"x"])
            .prop_map(str::to_string),
    ]
}

fn quoted(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    s.prop_map(|s| format!("\"{s}\""))
}

type Fields = Vec<(String, String)>;

fn field(key: &str, value: String) -> (String, String) {
    (key.to_string(), value)
}

/// A canonical timestamp, as the exporter writes one.
fn good_time() -> impl Strategy<Value = String> {
    (1_600_000_000_000i64..2_000_000_000_000, 0usize..4).prop_map(|(ms, digits)| {
        let at = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
        let full = at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
        let cut = if digits == 0 {
            full.len() - 4
        } else {
            full.len() - 3 + digits
        };
        format!("\"{}Z\"", &full[..cut])
    })
}

fn good_price() -> impl Strategy<Value = String> {
    "0\\.[0-9]{0,3}[1-9]"
}

/// A payload, a signal response and the line around them, every field valid.
fn good_parts() -> impl Strategy<Value = (Fields, Fields, Fields)> {
    let payload = (
        prop::sample::select(vec!["kalshi", "polymarket"]),
        "[A-Za-z0-9-]{1,12}",
        good_price(),
        good_price(),
        "-?[1-9][0-9]{0,2}(\\.[0-9]{0,2}[1-9]|\\.0)?",
        good_time(),
    )
        .prop_map(|(platform, market, old, new, pct, at)| {
            vec![
                field("change_pct", pct),
                field("market_id", format!("\"{market}\"")),
                field("new_yes", new),
                field("old_yes", old),
                field("platform", format!("\"{platform}\"")),
                field("timestamp", at),
                field("type", "\"price_shift\"".into()),
            ]
        });
    let whale = (
        prop::sample::select(vec!["kalshi", "polymarket"]),
        "[A-Za-z0-9-]{1,12}",
        prop::sample::select(vec!["\"yes\"", "\"no\"", "null", "\"YES\""]),
        prop_oneof![Just("null".to_string()), "[1-9][0-9]{0,6}".prop_map(|f| f)],
        prop_oneof![Just("null".to_string()), good_price().boxed()],
        good_time(),
    )
        .prop_map(|(platform, market, side, flow, price, at)| {
            vec![
                field("flow", flow),
                field("market_id", format!("\"{market}\"")),
                field("platform", format!("\"{platform}\"")),
                field("price", price),
                field("side", side.to_string()),
                field("timestamp", at),
                field("type", "\"whale_alert\"".into()),
            ]
        });
    let payload = prop_oneof![4 => payload, 1 => whale];
    let signal = (
        0usize..3,
        "0\\.[0-9]{0,3}[1-9]|0",
        good_price(),
        good_time(),
        prop::sample::select(vec!["fresh", "stale", "expired"]),
        good_price(),
    )
        .prop_map(
            |(which, edge, probability, expires, freshness, confidence)| {
                let (recommendation, edge) = match which {
                    0 => ("BUY_YES", edge),
                    1 => ("BUY_NO", format!("-{edge}")),
                    _ => ("NO_TRADE", edge),
                };
                vec![
                    field("confidence", confidence),
                    field("edge", edge),
                    field("expires_at", expires),
                    field("freshness", format!("\"{freshness}\"")),
                    field("market", "\"kalshi/KX\"".into()),
                    field("probability", probability),
                    field("recommendation", format!("\"{recommendation}\"")),
                ]
            },
        );
    let line = ("[0-9]{1,6}", good_time(), good_time(), 0usize..3).prop_map(
        |(id, received, signal_at, signal)| {
            let mut fields = vec![
                field("id", format!("\"{id}\"")),
                field("type", "\"price_shift\"".into()),
                field("data", String::new()),
                field("received_at", received),
            ];
            match signal {
                0 => {}
                1 => fields.push(field("signal", "null".into())),
                _ => {
                    fields.push(field("signal", String::new()));
                    fields.push(field("signal_at", signal_at));
                }
            }
            fields
        },
    );
    (payload, signal, line)
}

/// One change to one of the three field lists (0: payload, 1: signal, 2: line).
#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, usize, String),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Add(usize, String, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let key = prop::sample::select(vec![
        "volume",
        "id",
        "signal_error",
        "settlement",
        "type",
        "edge",
        "probability",
    ]);
    prop_oneof![
        6 => (0usize..3, any::<usize>(), any_value()).prop_map(|(l, i, v)| Mutation::Replace(l, i, v)),
        1 => (0usize..3, any::<usize>()).prop_map(|(l, i)| Mutation::Remove(l, i)),
        1 => (0usize..3, any::<usize>()).prop_map(|(l, i)| Mutation::Duplicate(l, i)),
        2 => (0usize..3, key, any_value()).prop_map(|(l, k, v)| Mutation::Add(l, k.into(), v)),
    ]
}

fn render(fields: &Fields, spaced: bool) -> String {
    let (colon, comma) = if spaced { (" : ", " ,\t") } else { (":", ",") };
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\"{colon}{value}"))
        .collect();
    format!("{{{}}}", body.join(comma))
}

/// Valid lines with up to two mutations each: most stay on or near the fast path's edge.
fn line() -> impl Strategy<Value = String> {
    (
        good_parts(),
        prop::collection::vec(mutation(), 0..=2),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|((payload, signal, line), mutations, newline, spaced)| {
            let mut lists = [payload, signal, line];
            for mutation in mutations {
                match mutation {
                    Mutation::Replace(l, i, value) if !lists[l].is_empty() => {
                        let len = lists[l].len();
                        lists[l][i % len].1 = value;
                    }
                    Mutation::Remove(l, i) if !lists[l].is_empty() => {
                        let len = lists[l].len();
                        lists[l].remove(i % len);
                    }
                    Mutation::Duplicate(l, i) if !lists[l].is_empty() => {
                        let len = lists[l].len();
                        let again = lists[l][i % len].clone();
                        lists[l].push(again);
                    }
                    Mutation::Add(l, key, value) => lists[l].push((key, value)),
                    _ => {}
                }
            }
            let [payload, signal, mut line] = lists;
            for (key, value) in &mut line {
                if value.is_empty() {
                    *value = match key.as_str() {
                        "data" => render(&payload, spaced),
                        _ => render(&signal, spaced),
                    };
                }
            }
            let text = render(&line, spaced);
            if newline {
                text + "\n"
            } else {
                text
            }
        })
}

/// Everything the tape holds for event `index`, scale included.
fn snapshot(tape: &Tape, index: usize) -> String {
    format!(
        "{:?} {:?} {:?} {:?}",
        tape.event(index),
        tape.reply(index),
        tape.id(index),
        tape.received_at(index)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// `learnt`: the fast tape has read a common line before, so its key layouts are warm
    /// and most keys are matched by their bytes; otherwise every key is read from scratch.
    #[test]
    fn prop_fast_path_agrees_with_the_live_decoder(line in line(), learnt in any::<bool>()) {
        let mut fast = Tape::default();
        let mut live = Tape::default();
        if learnt {
            prop_assert_eq!(fast.push_fast(SIM_LINE), FastPush::Pushed(SIM_LINE.len()));
            prop_assert_eq!(live.push_line(SIM_LINE), Ok(true));
        }
        let index = fast.len();
        if let FastPush::Pushed(used) = fast.push_fast(&line) {
            prop_assert_eq!(used, line.len(), "{}", line);
            prop_assert_eq!(live.push_line(&line), Ok(true), "{}", line);
            prop_assert_eq!(snapshot(&fast, index), snapshot(&live, index), "{}", line);
        }
    }

    #[test]
    fn prop_decimals_read_as_both_live_number_readers_do(text in number_text()) {
        let show = |d: &Decimal| (d.to_string(), d.scale(), d.serialize());
        if let Some(fast) = decimal(text.as_bytes(), Reader::Payload) {
            let json: Value = serde_json::from_str(&text).expect("a JSON number");
            let live = crate::wire::decimal_value(&json);
            prop_assert_eq!(live.map(|d| d.map(|d| show(&d))), Ok(Some(show(&fast))), "{}", text);
        }
        if let Some(fast) = decimal(text.as_bytes(), Reader::Signal) {
            let json: Value = serde_json::from_str(&text).expect("a JSON number");
            let live = crate::signal::decimal(&json);
            prop_assert_eq!(live.map(|d| show(&d)), Ok(show(&fast)), "{}", text);
        }
    }

    /// One `Dates` across a run of texts, as across the lines of a recording.
    #[test]
    fn prop_timestamps_read_as_both_live_time_readers_do(
        texts in prop::collection::vec(timestamp_text(), 1..8)
    ) {
        let mut dates = Dates::default();
        for text in texts {
            // Read twice: the second time the date comes from the cache.
            let first = timestamp(&text, &mut dates);
            prop_assert_eq!(timestamp(&text, &mut dates), first, "{}", text);
            if let Some(fast) = first {
                let rfc = chrono::DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&chrono::Utc));
                prop_assert_eq!(rfc, Ok(fast), "{}", text);
                let serde: Result<Timestamp, _> = serde_json::from_str(&format!("\"{text}\""));
                prop_assert_eq!(serde.ok(), Some(fast), "{}", text);
            }
        }
    }
}
