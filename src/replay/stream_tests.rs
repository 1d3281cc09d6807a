//! A replay streamed a buffer of lines at a time is the replay of the whole tape.

use std::io::BufReader;

use strategies::{MarketKey, Side};

use super::*;
use crate::configuration::{LoadOptions, RiskLimit, Settings};
use crate::replay::record_sim;
use crate::replay::settlement::Settlement;

/// A simulated session of `events` lines with a settlement of a traded market spliced into
/// its middle, so that chunks split replies, settlements and events every which way.
fn recording(settings: &Settings, events: u64) -> String {
    let mut out = Vec::new();
    record_sim(&settings.sim_config(), RiskLimit::Medium, events, &mut out).expect("record");
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let middle = lines.len() / 2;
    // A market the first half leaves a position in.
    let first_half = lines[..=middle].join("\n");
    let half = Tape::read(first_half.as_bytes(), "half").expect("valid");
    let run = replay(&half, settings.core_config(), &ReplayOptions::default());
    let market: MarketKey = run
        .core()
        .book()
        .positions
        .keys()
        .map(|(market, _)| market.clone())
        .next()
        .expect("the first half holds a position");
    let at: serde_json::Value = serde_json::from_str(lines[middle]).expect("a line");
    let settlement = Settlement {
        id: format!("manual-settle:{market}"),
        market,
        winner: Side::Yes,
        at: serde_json::from_value(at["received_at"].clone()).expect("a time"),
    };
    let mut spliced = Vec::new();
    settlement.write(&mut spliced).expect("write");
    let mut all = lines[..=middle].join("\n");
    all.push('\n');
    all.push_str(std::str::from_utf8(&spliced).expect("UTF-8"));
    all.push_str(&lines[middle + 1..].join("\n"));
    all.push('\n');
    all
}

#[test]
fn a_streamed_replay_is_the_replay_of_the_whole_tape() {
    let settings = Settings::load(LoadOptions::default()).expect("the default config");
    let text = recording(&settings, 3_000);
    let tape = Tape::read(text.as_bytes(), "recording").expect("valid");
    let manual = |s: &&crate::replay::settlement::PlacedSettlement| {
        s.settlement.id.starts_with("manual-settle:")
    };
    assert_eq!(tape.settlements().iter().filter(manual).count(), 1);
    assert!(tape.settlements().len() > 1, "and the simulator's own");
    for (fallback, keep_decisions) in [
        (Fallback::Skip, true),
        (Fallback::Model, false),
        (Fallback::Model, true),
    ] {
        let options = ReplayOptions {
            fallback,
            keep_decisions,
            ..ReplayOptions::default()
        };
        let whole = replay(&tape, settings.core_config(), &options);
        assert!(whole.trades.len() > 10, "a run that trades");
        assert!(whole
            .trades
            .iter()
            .any(|t| t.action == strategies::TradeAction::Settle));
        // With and without a newline after the last line.
        for (capacity, text) in [64, 4_096, 1 << 20]
            .into_iter()
            .flat_map(|c| [(c, text.as_str()), (c, text.trim_end())])
        {
            let reader = BufReader::with_capacity(capacity, text.as_bytes());
            let streamed = replay_stream(reader, "recording", settings.core_config(), &options)
                .expect("valid");
            let what = format!(
                "{fallback:?}, keep {keep_decisions}, buffer {capacity}, {} bytes",
                text.len()
            );
            assert_eq!(streamed.trades, whole.trades, "{what}");
            assert_eq!(streamed.tally, whole.tally, "{what}");
            assert_eq!(streamed.decisions, whole.decisions, "{what}");
            assert_eq!(streamed.events, whole.events, "{what}");
            assert_eq!(streamed.decision_span, whole.decision_span, "{what}");
            assert_eq!(streamed.event_span, tape.span(), "{what}");
            assert_eq!(streamed.recorded_replies, whole.recorded_replies, "{what}");
            assert_eq!(streamed.fallback_replies, whole.fallback_replies, "{what}");
            assert_eq!(streamed.core().book(), whole.core().book(), "{what}");
        }
    }
}

#[test]
fn a_bad_line_stops_a_streamed_replay_with_its_number() {
    let settings = Settings::load(LoadOptions::default()).expect("the default config");
    let text = recording(&settings, 200);
    let broken = text.replacen('\n', "\nnot json\n", 1);
    let reader = BufReader::with_capacity(64, broken.as_bytes());
    let err = replay_stream(
        reader,
        "rec",
        settings.core_config(),
        &ReplayOptions::default(),
    )
    .expect_err("line 2 is not JSON");
    assert!(matches!(err, TapeError::Line { line: 2, .. }), "{err}");
}
