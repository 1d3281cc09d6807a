//! Reading a recording in place gives the tape that line-by-line decoding gives, whatever the reader's buffer size, and names the right line in errors.

use std::io::BufReader;

use proptest::prelude::*;

use super::*;

const SHIFT: &str = r#"{"id":"ID","type":"price_shift","data":{"change_pct":10.0,"market_id":"KXSIM-008","new_yes":0.33,"old_yes":0.3,"platform":"kalshi","timestamp":"2026-01-01T00:00:02.000Z","type":"price_shift"},"received_at":"2026-01-01T00:00:02Z","signal":{"confidence":0.55,"edge":-0.0438,"expires_at":"2026-01-01T00:15:02.000Z","freshness":"fresh","market":"kalshi/KXSIM-008","probability":0.2862,"recommendation":"BUY_NO","size_pct":0},"signal_at":"2026-01-01T00:00:02.100Z"}"#;
const WHALE: &str = r#"{"id":"ID","type":"whale_alert","data":{"flow":329211,"market_id":"poly-sim-005","platform":"polymarket","price":0.461,"side":"no","timestamp":"2026-01-01T00:00:05.200Z","type":"whale_alert"},"received_at":"2026-01-01T00:00:05.200Z","signal":null}"#;
/// An escape in the market id: decoded to `KX-9`, owned rather than borrowed.
const ESCAPED: &str = r#"{"id":"ID","type":"price_shift","data":{"change_pct":2,"market_id":"KX\u002d9","new_yes":0.51,"old_yes":0.5,"platform":"kalshi","type":"price_shift"},"received_at":"2026-01-01T00:00:06Z","signal":null}"#;
/// Garbage payload: a line all the same, decided `invalid`.
const GARBAGE: &str = r#"{"id":"ID","type":"price_shift","data":"this is {not json","received_at":"2026-01-01T00:00:07Z","signal":null}"#;
const SPACED: &str = r#" { "id" : "ID" , "type":"price_shift","data":{"change_pct":-6.0,"market_id":"KX-2","new_yes":0.47,"old_yes":0.5,"platform":"kalshi","type":"price_shift"},"received_at":"2026-01-01T00:00:08Z"}  "#;

/// Everything a tape holds, event by event, scale of every decimal included.
fn snapshot(tape: &Tape) -> Vec<String> {
    let mut all: Vec<String> = (0..tape.len())
        .map(|i| {
            format!(
                "{:?} {:?} {:?} {:?}",
                tape.event(i),
                tape.reply(i),
                tape.id(i),
                tape.received_at(i)
            )
        })
        .collect();
    all.push(format!("{:?}", tape.settlements()));
    all
}

/// The reference: every non-blank line through the live decoders, one by one.
fn line_by_line(text: &str) -> Tape {
    let mut tape = Tape::default();
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            assert_eq!(tape.push_line(line), Ok(true), "{line}");
        }
    }
    tape
}

fn recording(kinds: &[usize], crlf: bool, final_newline: bool) -> String {
    let mut text = String::new();
    for (i, kind) in kinds.iter().enumerate() {
        let line = match kind {
            0..=2 => SHIFT,
            3 => WHALE,
            4 => ESCAPED,
            5 => GARBAGE,
            6 => SPACED,
            _ => "   ",
        };
        text.push_str(&line.replace("\"ID\"", &format!("\"{i}\"")));
        text.push_str(if crlf { "\r\n" } else { "\n" });
    }
    if !final_newline {
        text.truncate(text.trim_end().len());
    }
    text
}

proptest! {
    #[test]
    fn prop_reading_in_any_buffer_gives_the_line_by_line_tape(
        kinds in prop::collection::vec(0usize..8, 1..12),
        capacity in 1usize..700,
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let text = recording(&kinds, crlf, final_newline);
        let reference = snapshot(&line_by_line(&text));
        let whole = Tape::read(text.as_bytes(), "test").expect("valid");
        prop_assert_eq!(snapshot(&whole), reference.clone());
        let small = Tape::read(BufReader::with_capacity(capacity, text.as_bytes()), "test")
            .expect("valid");
        prop_assert_eq!(snapshot(&small), reference);
    }
}

/// Line by line through the live decoders, as `Tape::read` did before the fast path: the
/// first line that fails names itself.
fn line_by_line_result(bytes: &[u8]) -> Result<Vec<String>, u64> {
    let mut tape = Tape::default();
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let number = i as u64 + 1;
        let text = std::str::from_utf8(line).map_err(|_| number)?;
        if text.trim().is_empty() {
            continue;
        }
        match tape.push_line(text) {
            Ok(true) => {}
            _ => return Err(number),
        }
    }
    Ok(snapshot(&tape))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Corrupt a valid recording anywhere (any byte, any value): reading never panics, and
    /// succeeds or fails exactly as line-by-line live decoding does, naming the same line.
    #[test]
    fn prop_corrupted_recordings_read_as_the_live_decoders_read_them(
        kinds in prop::collection::vec(0usize..8, 1..8),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        capacity in 1usize..700,
    ) {
        let mut bytes = recording(&kinds, false, true).into_bytes();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        let expected = line_by_line_result(&bytes);
        let read = Tape::read(BufReader::with_capacity(capacity, &bytes[..]), "rec");
        match (read, expected) {
            (Ok(tape), Ok(reference)) => prop_assert_eq!(snapshot(&tape), reference),
            (Err(TapeError::Line { line, .. }), Err(number)) => prop_assert_eq!(line, number),
            (read, expected) => prop_assert!(
                false,
                "read {:?}, line by line {:?}",
                read.map(|t| t.len()),
                expected.map(|s| s.len())
            ),
        }
    }
}

#[test]
fn errors_name_their_line_whatever_the_buffer() {
    let good = SHIFT.replace("\"ID\"", "\"1\"");
    let mut text = format!("{good}\n\n{good}\nnot json at all\n{good}\n").into_bytes();
    for capacity in [1, 16, 300, 1 << 20] {
        let err = Tape::read(BufReader::with_capacity(capacity, &text[..]), "rec.ndjson")
            .expect_err("line 4 is not JSON");
        assert!(
            matches!(&err, TapeError::Line { line: 4, origin, .. } if origin == "rec.ndjson"),
            "{capacity}: {err}"
        );
    }
    // Invalid UTF-8 on line 2 (the blank line before it counts).
    text.splice(good.len() + 1..good.len() + 1, [0xff, b'\n']);
    for capacity in [1, 16, 300, 1 << 20] {
        let err = Tape::read(BufReader::with_capacity(capacity, &text[..]), "rec")
            .expect_err("not UTF-8");
        assert!(
            matches!(&err, TapeError::Line { line: 2, message, .. } if message.contains("UTF-8")),
            "{capacity}: {err}"
        );
    }
}

#[test]
fn an_object_spread_over_lines_is_not_a_line() {
    let spread = SHIFT.replace("\"ID\"", "\"1\"").replacen(",", ",\n", 1);
    let err = Tape::read(spread.as_bytes(), "rec").expect_err("two broken lines");
    assert!(matches!(err, TapeError::Line { line: 1, .. }), "{err}");
}

/// A signal response field of a line: absent, null, valid, or one the one-pass read cannot take.
fn signal_field() -> impl Strategy<Value = Option<String>> {
    prop::sample::select(vec![
        None,
        Some("null"),
        Some(r#"{"recommendation":"BUY_YES","edge":0.0620,"probability":"0.7","freshness":" Fresh "}"#),
        Some(r#"{"recommendation":"BUY_NO","edge":-0.1234567890123456789,"expires_at":"2026-01-01T00:15:00Z"}"#),
        Some(r#"{"recommendation":"BUY_YES","edge":0.1,"edge":0.2}"#),
        Some(r#"{"recommendation":"BUY_YES","edge":1e-2,"volume":[1,{"a":2}]}"#),
        Some(r#"["BUY_YES",0.1]"#),
        Some(r#""BUY_YES""#),
        Some(r#"{"edge":0.1}"#),
    ])
    .prop_map(|s| s.map(str::to_string))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// The one-pass read of a line and the read in parts (line, then payload and response from
    /// their own text) put the same thing on the tape, or fail the same way.
    #[test]
    fn prop_the_one_pass_read_agrees_with_the_read_in_parts(
        mut payload in crate::wire::prop_tests::payload(),
        untyped in any::<bool>(),
        as_text in prop::bool::weighted(0.1),
        id in prop::sample::select(vec!["\"7\"", "\"\"", "\"a\\u0062c\""]),
        signal in signal_field(),
        signal_error in prop::option::weighted(0.1, Just("\"quota\"")),
    ) {
        if untyped {
            // The line's type stands in for the payload's.
            payload.fields.retain(|(key, _)| key != "type");
        }
        let data = crate::wire::prop_tests::render(&payload.fields, false);
        let data = match as_text {
            true => serde_json::Value::from(data).to_string(),
            false => data,
        };
        let mut line = format!(r#"{{"id":{id},"type":"price_shift","data":{data},"received_at":"2026-01-01T00:00:02Z""#);
        if let Some(signal) = signal {
            line.push_str(&format!(r#","signal":{signal},"signal_at":"2026-01-01T00:00:02.5Z""#));
        }
        if let Some(error) = signal_error {
            line.push_str(&format!(r#","signal_error":{error}"#));
        }
        line.push('}');
        let (mut one_pass, mut in_parts) = (Tape::default(), Tape::default());
        let (a, b) = (one_pass.push_line(&line), in_parts.push_line_in_parts(&line));
        prop_assert_eq!(a, b, "{}", line);
        prop_assert_eq!(snapshot(&one_pass), snapshot(&in_parts), "{}", line);
    }
}
