use rust_decimal_macros::dec;
use serde_json::json;
use strategies::{EventBody, Recommendation, SignalReply};

use super::*;
use crate::feed::RawEvent;
use crate::replay::record::payload_text;
use crate::replay::test_support::{at, line, ndjson, shift, signal, signalled, tape};
use crate::wire;

/// What the live engine decodes for a recorded line: the same payload, id and type.
fn live_decode(line: &crate::replay::RecordLine) -> Event {
    wire::decode_event(&RawEvent {
        id: Some(line.id.clone()),
        sse_event: Some(line.event_type.clone()),
        data: payload_text(line.data.raw()).expect("payload").into_owned(),
        received_at: line.received_at,
    })
}

fn varied_lines() -> Vec<crate::replay::RecordLine> {
    vec![
        shift("1", "kalshi/KX-1", "0.50", "0.56", 0),
        line(
            "2",
            "whale_alert",
            json!({"type":"whale_alert","platform":"polymarket","market_id":"poly-1",
                   "side":"no","flow":250000,"price":0.31,"timestamp":"2026-01-01T00:00:00.5Z"}),
            500,
        ),
        line("3", "price_shift", json!("this is {not json"), 600),
        line("4", "unknown", json!("[1,2,3]"), 700),
        line(
            "5",
            "analysis_complete",
            json!({"type":"analysis_complete","platform":"kalshi","market_id":"KX-1"}),
            800,
        ),
        line(
            "6",
            "price_shift",
            json!({"type":"price_shift","platform":"kalshi","market_id":"KX-2",
                   "old_yes":1.5,"new_yes":0.5,"change_pct":-66.67}),
            900,
        ),
        shift("7", "polymarket/poly-1", "0.310", "0.290", 1_000),
        shift("8", "kalshi/KX-1", "0.56", "0.50", 1_100),
    ]
}

#[test]
fn every_event_decodes_exactly_as_the_live_decoder_does() {
    let lines = varied_lines();
    let tape = tape(&lines);
    assert_eq!(tape.len(), lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(tape.event(i), Some(live_decode(line)), "line {}", i + 1);
        assert_eq!(tape.id(i), Some(line.id.as_str()));
        assert_eq!(tape.received_at(i), Some(line.received_at));
    }
    // The garbage and the out-of-range price stay invalid, with the live reasons.
    assert!(matches!(
        tape.event(2).map(|e| e.body),
        Some(EventBody::Invalid { .. })
    ));
    assert!(matches!(
        tape.event(5).map(|e| e.body),
        Some(EventBody::Invalid { .. })
    ));
    // KX-1, poly-1 (first seen in the whale alert); the invalid KX-2 has no market.
    assert_eq!(tape.market_count(), 2);
    assert_eq!(tape.market_of(1), Some(1));
    assert_eq!(tape.market_of(6), Some(1));
    assert_eq!(tape.market_of(5), None);
    assert_eq!(tape.span(), Some((at(0), at(1_100))));
}

#[test]
fn refilling_one_scratch_event_gives_each_event_in_turn() {
    let lines = varied_lines();
    let tape = tape(&lines);
    let mut scratch = blank_event();
    // Forwards, backwards: every body kind follows every other one.
    let order: Vec<usize> = (0..tape.len()).chain((0..tape.len()).rev()).collect();
    for i in order {
        assert!(tape.fill(i, &mut scratch));
        assert_eq!(Some(&scratch), tape.event(i).as_ref(), "event {i}");
    }
    assert!(!tape.fill(tape.len(), &mut scratch));
}

fn full_signal() -> serde_json::Value {
    json!({"recommendation": "BUY_YES", "edge": 0.0612, "probability": "0.6612",
           "expires_at": "2026-01-01T00:15:00Z", "freshness": "Stale", "confidence": 0.7})
}

#[test]
fn recorded_replies_decode_like_live_responses() {
    let lines = vec![
        signalled(
            shift("1", "kalshi/KX-1", "0.50", "0.56", 0),
            signal("BUY_NO", "-0.07"),
            250,
        ),
        // A response body that the live client could not decode: a failure, as live.
        signalled(
            shift("2", "kalshi/KX-2", "0.50", "0.56", 10),
            json!({"recommendation": "SELL"}),
            20,
        ),
        // A failed request, with the quota pause it caused.
        {
            let mut l = shift("3", "kalshi/KX-3", "0.50", "0.56", 30);
            l.signal_at = Some(at(40));
            l.signal_error = Some("signal quota exhausted until 2026-01-02T00:00:00Z".into());
            l.signal_pause_until = Some(at(86_400_000));
            l
        },
        shift("4", "kalshi/KX-4", "0.50", "0.56", 50),
        // A signal without signal_at (a hand-written file): applied at once.
        {
            let mut l = shift("5", "kalshi/KX-5", "0.50", "0.56", 60);
            l.signal = Some(signal("NO_TRADE", "0").into());
            l
        },
        signalled(
            shift("6", "kalshi/KX-6", "0.50", "0.56", 70),
            full_signal(),
            80,
        ),
    ];
    let tape = tape(&lines);
    assert_eq!(tape.signalled(), 5);
    let full = crate::signal::decode_signal(&full_signal().to_string()).expect("valid");
    assert!(full.probability.is_some() && full.expires_at.is_some());
    assert_eq!(
        tape.reply(5),
        Some(RecordedReply {
            at: at(80),
            reply: SignalReply::Signal(full)
        })
    );
    let first = tape.reply(0).expect("recorded");
    assert_eq!(first.at, at(250));
    match &first.reply {
        SignalReply::Signal(s) => {
            assert_eq!(s.recommendation, Recommendation::BuyNo);
            assert_eq!(s.edge, dec!(-0.07));
            assert_eq!(s.freshness.as_deref(), Some("fresh"));
        }
        other => panic!("expected a signal, got {other:?}"),
    }
    let expected_reason =
        crate::signal::decode_signal(&json!({"recommendation": "SELL"}).to_string())
            .expect_err("undecodable");
    assert_eq!(
        tape.reply(1).map(|r| r.reply),
        Some(SignalReply::Failed {
            reason: expected_reason,
            pause_until: None
        })
    );
    assert_eq!(
        tape.reply(2),
        Some(RecordedReply {
            at: at(40),
            reply: SignalReply::Failed {
                reason: "signal quota exhausted until 2026-01-02T00:00:00Z".into(),
                pause_until: Some(at(86_400_000)),
            }
        })
    );
    assert_eq!(tape.reply(3), None);
    assert_eq!(tape.reply(4).map(|r| r.at), Some(at(60)));
}

#[test]
fn bad_lines_are_reported_with_their_line_number_and_blank_lines_skipped() {
    let good = ndjson(&[shift("1", "kalshi/KX-1", "0.50", "0.56", 0)]);
    let text = format!("{good}\n   \n{{\"id\":\"2\",\"type\":\"price_shift\",\"data\":{{}}}}\n");
    let err = Tape::read(text.as_bytes(), "events.ndjson").expect_err("missing received_at");
    let message = err.to_string();
    assert!(
        message.starts_with("events.ndjson:4: missing field `received_at`"),
        "{message}"
    );
    let err = Tape::read("not json\n".as_bytes(), "x").expect_err("not JSON");
    assert!(err.to_string().starts_with("x:1: "), "{err}");
    let tape = Tape::read(format!("{good}\n\n{good}").as_bytes(), "x").expect("valid");
    assert_eq!(tape.len(), 2);
}

#[test]
fn unknown_fields_are_ignored() {
    let text = ndjson(&[shift("1", "kalshi/KX-1", "0.50", "0.56", 0)]).replacen(
        '{',
        "{\"comment\":\"from a newer version\",",
        1,
    );
    let tape = Tape::read(text.as_bytes(), "x").expect("valid");
    assert_eq!(tape.len(), 1);
}
