use std::collections::HashMap;

use rust_decimal::Decimal;
use strategies::Recommendation;

use super::*;
use crate::feed::RawEvent;
use crate::replay::record::payload_text;
use crate::replay::tape::Tape;
use crate::signal::decode_signal;
use crate::sim::generate_events;
use crate::wire::decode_event;

const EVENTS: usize = 3_000;

fn decode(id: Option<String>, data: String, received_at: Timestamp) -> strategies::Event {
    decode_event(&RawEvent {
        id,
        sse_event: None,
        data,
        received_at,
    })
}

#[test]
fn the_session_is_the_simulators_own_event_sequence() {
    let config = SimConfig::default();
    let expected = generate_events(&config, EVENTS as u64);
    let lines: Vec<RecordLine> = SimSession::new(&config, RiskLimit::Medium)
        .take(EVENTS)
        .collect();
    assert_eq!(lines.len(), expected.len());
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for (line, original) in lines.iter().zip(&expected) {
        // Stamped on the simulator's timeline: received when it happened.
        let live = decode(original.id.clone(), original.data.clone(), line.received_at);
        let recorded = decode(
            Some(line.id.clone()),
            payload_text(line.data.raw()).expect("payload").into_owned(),
            line.received_at,
        );
        assert_eq!(recorded, live, "event {}", line.id);
        assert_eq!(line.event_type, live.event_type);
        *kinds.entry(line.event_type.clone()).or_default() += 1;
    }
    assert_eq!(lines[0].received_at, recording_epoch());
    assert_eq!(
        lines[5].received_at,
        recording_epoch() + chrono::Duration::seconds(1)
    );
    assert!(
        kinds.get("whale_alert").is_some_and(|n| *n > 0),
        "{kinds:?}"
    );
    assert!(
        kinds.get("price_shift").is_some_and(|n| *n > 2_000),
        "{kinds:?}"
    );
}

#[test]
fn every_price_shift_carries_the_simulators_answer_applied_at_once() {
    let lines: Vec<RecordLine> = SimSession::new(&SimConfig::default(), RiskLimit::Medium)
        .take(EVENTS)
        .collect();
    let mut recommendations: HashMap<&'static str, usize> = HashMap::new();
    for line in &lines {
        if line.event_type != "price_shift" {
            assert_eq!((&line.signal, line.signal_at), (&None, None), "{}", line.id);
            continue;
        }
        let text = line.signal.as_ref().expect("a price shift is answered");
        let json = &text.value();
        assert_eq!(line.signal_at, Some(line.received_at));
        let signal = decode_signal(text.get()).expect("the simulator's answer decodes");
        let number = |key: &str| -> Decimal { json[key].to_string().parse().expect("a decimal") };
        // The answer is the model's truth against the price just published.
        assert_eq!(
            signal.edge,
            (number("probability") - number("market_price")).round_dp(4)
        );
        assert_eq!(
            json["market_price"],
            line.data.value()["new_yes"],
            "event {}: the quote is the price the event published",
            line.id
        );
        let expires: Timestamp = json["expires_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("expires_at");
        assert_eq!(expires - line.received_at, chrono::Duration::minutes(15));
        *recommendations
            .entry(match signal.recommendation {
                Recommendation::BuyYes => "yes",
                Recommendation::BuyNo => "no",
                Recommendation::NoTrade => "none",
            })
            .or_default() += 1;
    }
    for kind in ["yes", "no", "none"] {
        assert!(
            recommendations.get(kind).is_some_and(|n| *n > 0),
            "{recommendations:?}"
        );
    }
}

#[test]
fn the_risk_limit_changes_how_often_the_simulator_says_trade() {
    let trades = |risk| {
        SimSession::new(&SimConfig::default(), risk)
            .take(EVENTS)
            .filter_map(|line| line.signal)
            .filter(|s| s.value()["recommendation"] != "NO_TRADE")
            .count()
    };
    assert!(trades(RiskLimit::High) > trades(RiskLimit::Low));
}

#[test]
fn a_recorded_session_is_a_readable_tape() {
    let mut out = Vec::new();
    let config = SimConfig {
        seed: 7,
        markets: 5,
        events_per_second: 2,
        ..SimConfig::default()
    };
    let stats = record_sim(&config, RiskLimit::High, 500, &mut out).expect("record");
    assert_eq!(stats.events, 500);
    let text = String::from_utf8(out).expect("UTF-8");
    assert_eq!(text.lines().count() as u64, 500 + stats.settlements);
    let tape = Tape::read(text.as_bytes(), "sim").expect("readable");
    assert_eq!(tape.len(), 500);
    assert_eq!(tape.settlements().len() as u64, stats.settlements);
    assert_eq!(tape.signalled() as u64, stats.signalled);
    assert!(stats.signalled > 400, "{stats:?}");
    // Half a second apart at 2 events per second.
    assert_eq!(
        tape.received_at(499),
        Some(recording_epoch() + chrono::Duration::milliseconds(499 * 500))
    );
    let same = record_sim(&config, RiskLimit::High, 500, &mut Vec::new()).expect("record");
    assert_eq!(same, stats);
}

/// `sim --record` records a signal for every price shift whatever the skill, and a blind
/// service (skill 0, no noise) recommends nothing: the replay of its session never trades.
#[test]
fn a_blind_signal_service_is_recorded_for_every_shift_and_never_trades() {
    let config = SimConfig {
        signal_skill: Decimal::ZERO,
        signal_noise: Decimal::ZERO,
        ..SimConfig::default()
    };
    let lines: Vec<RecordLine> = SimSession::new(&config, RiskLimit::High)
        .take(EVENTS)
        .collect();
    let shifts = lines
        .iter()
        .filter(|l| l.event_type == "price_shift")
        .count();
    assert_eq!(lines.iter().filter(|l| l.signal.is_some()).count(), shifts);
    for line in lines.iter().filter_map(|l| l.signal.as_ref()) {
        let value = line.value();
        assert_eq!(value["recommendation"], "NO_TRADE", "{value}");
        assert_eq!(value["edge"].as_f64(), Some(0.0), "{value}");
    }
}

/// The skill knob does what it says, measured the way a user would (README: "How honest is
/// the simulator"): the default config replayed on 20,000-event sessions of seeds 1-8. A blind
/// service (skill 0, the default noise) loses on average, by about the fees it pays; the
/// calibrated default service lands in between; the oracle wins on every seed.
#[test]
fn skill_zero_loses_after_fees_and_full_skill_wins() {
    use crate::configuration::{LoadOptions, Settings};
    use crate::replay::tape::Tape;
    use crate::replay::{replay, replay_report, ReplayOptions};
    use rust_decimal::MathematicalOps;

    let settings = Settings::load(LoadOptions::default()).expect("the default config");
    let defaults = settings.sim_config();
    let returns = |skill: Decimal, noise: Decimal| -> Vec<(Decimal, Decimal)> {
        let seeds: Vec<u64> = (1..=8).collect();
        std::thread::scope(|scope| {
            let runs: Vec<_> = seeds
                .chunks(4)
                .map(|chunk| {
                    let (settings, defaults) = (&settings, &defaults);
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|&seed| {
                                let config = SimConfig {
                                    seed,
                                    signal_skill: skill,
                                    signal_noise: noise,
                                    ..defaults.clone()
                                };
                                let mut out = Vec::new();
                                record_sim(&config, settings.signal.risk_limit, 20_000, &mut out)
                                    .expect("record");
                                let tape = Tape::read(out.as_slice(), "sim").expect("readable");
                                let run = replay(
                                    &tape,
                                    settings.core_config(),
                                    &ReplayOptions::default(),
                                );
                                let report = replay_report(&run);
                                let fees = report.fees / report.starting_bankroll;
                                (report.return_fraction.expect("a bankroll"), fees)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            runs.into_iter()
                .flat_map(|run| run.join().expect("a replay thread"))
                .collect()
        })
    };
    let blind = returns(Decimal::ZERO, defaults.signal_noise);
    let calibrated = returns(defaults.signal_skill, defaults.signal_noise);
    let oracle = returns(Decimal::ONE, Decimal::ZERO);
    let mean =
        |runs: &[(Decimal, Decimal)]| mean_of(&runs.iter().map(|(r, _)| *r).collect::<Vec<_>>());
    // The seeds' luck is large (one session's return spreads by 20-30 points): a mean is
    // "about" a value when it lies within 2.5 standard errors of it.
    let about_zero = |sample: &[Decimal]| {
        let n = Decimal::from(sample.len());
        let m = mean_of(sample);
        let variance =
            sample.iter().map(|x| (x - m) * (x - m)).sum::<Decimal>() / (n - Decimal::ONE);
        let error = (variance / n).sqrt().expect("a variance is not negative");
        (m.abs() < error * Decimal::new(25, 1), error)
    };
    assert!(mean(&blind) < Decimal::ZERO, "blind: {blind:?}");
    // Fair bets: what the blind lose is the fees. Net of its fees, each session's return is
    // a fair bet's outcome, so their mean is about zero.
    let net: Vec<Decimal> = blind.iter().map(|(r, f)| r + f).collect();
    let (fair, error) = about_zero(&net);
    let mean_fees = mean_of(&blind.iter().map(|(_, f)| *f).collect::<Vec<_>>());
    assert!(
        fair,
        "blind {} against fees {mean_fees} (standard error {error}): {blind:?}",
        mean(&blind)
    );
    let (even, error) = about_zero(&calibrated.iter().map(|(r, _)| *r).collect::<Vec<_>>());
    assert!(
        even,
        "the default service breaks even, roughly (standard error {error}): {calibrated:?}"
    );
    assert!(mean(&blind) < mean(&calibrated) && mean(&calibrated) < mean(&oracle));
    assert!(
        oracle.iter().all(|(r, _)| *r > Decimal::ZERO),
        "oracle: {oracle:?}"
    );
}

fn mean_of(sample: &[Decimal]) -> Decimal {
    sample.iter().sum::<Decimal>() / Decimal::from(sample.len())
}
