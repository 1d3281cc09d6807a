use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use strategies::{CoreConfig, Outcome, Side, TradeAction};

use super::*;
use crate::replay::test_support::{at, ndjson, settled, shift, signal, signalled, tape};

fn keep(fallback: Fallback) -> ReplayOptions {
    ReplayOptions {
        fallback,
        keep_decisions: true,
        ..ReplayOptions::default()
    }
}

fn outcomes(run: &ReplayRun) -> Vec<(String, &'static str, Timestamp)> {
    run.decisions
        .iter()
        .map(|d| (d.event_id.clone(), d.outcome.as_str(), d.decided_at))
        .collect()
}

fn row(id: &str, outcome: &'static str, millis: i64) -> (String, &'static str, Timestamp) {
    (id.to_string(), outcome, at(millis))
}

/// A decision `nanos` after `millis`: the decision clock moves a decision that would tie
/// with the one before it just past it (`strategies::timeline`), as live.
fn row_after(
    id: &str,
    outcome: &'static str,
    millis: i64,
    nanos: i64,
) -> (String, &'static str, Timestamp) {
    let (id, outcome, at) = row(id, outcome, millis);
    (id, outcome, at + chrono::Duration::nanoseconds(nanos))
}

#[test]
fn recorded_replies_arrive_at_their_recorded_time() {
    let lines = vec![
        signalled(
            shift("1", "kalshi/A", "0.50", "0.56", 0),
            signal("BUY_YES", "0.10"),
            1_000,
        ),
        // While the signal for A is in flight (and within its cooldown). It moves A's price
        // to 0.60.
        shift("2", "kalshi/A", "0.56", "0.60", 500),
        // After the reply, within the 60 s cooldown of the request.
        shift("3", "kalshi/A", "0.60", "0.64", 2_000),
        // Never signalled when recorded.
        shift("4", "kalshi/B", "0.40", "0.30", 3_000),
        // The skipped request still started B's cooldown, as a live request would.
        shift("5", "kalshi/B", "0.30", "0.25", 4_000),
    ];
    let run = replay(&tape(&lines), CoreConfig::default(), &keep(Fallback::Skip));
    assert_eq!(
        outcomes(&run),
        vec![
            row("2", "cooldown", 500),
            row("1", "traded", 1_000),
            row("3", "cooldown", 2_000),
            // The fallback answers after its request, as any reply does.
            row_after("4", "no_recorded_signal", 3_000, 1),
            row("5", "cooldown", 4_000),
        ]
    );
    assert_eq!(run.events, 5);
    assert_eq!(run.recorded_replies, 1);
    assert_eq!(run.fallback_replies, 1);
    assert_eq!(run.tally.total(), 5);
    assert_eq!(run.tally.get(ReplayOutcome::NoRecordedSignal), 1);
    assert_eq!(run.tally.get(ReplayOutcome::Core(Outcome::SignalError)), 0);
    assert_eq!(run.decisions[3].reason, NO_RECORDED_SIGNAL_REASON);
    // Sized at the price when the reply came (0.60, moved by event 2), w = c + |edge|:
    // c_eff = 0.6 + 0.07*0.6*0.4 = 0.6168, f* = 0.0832/0.3832, 1/4 Kelly capped at 5 % of
    // 10000 = 500, floor(500 / 0.6168) = 810 contracts, fee ceil(0.07*810*0.24) = 13.61.
    assert_eq!(run.trades.len(), 1);
    let trade = &run.trades[0];
    assert_eq!(trade.event_id, "1");
    assert_eq!(trade.side, Side::Yes);
    assert_eq!(trade.action, TradeAction::Open);
    assert_eq!(trade.contracts, 810);
    assert_eq!(trade.price, dec!(0.60));
    assert_eq!(trade.win_probability, Some(dec!(0.70)));
    assert_eq!(trade.cost, dec!(486));
    assert_eq!(trade.fee, dec!(13.61));
    assert_eq!(trade.cash_after, dec!(9500.39));
    assert_eq!(trade.placed_at, at(1_000));
    assert_eq!(run.decision_span, Some((at(500), at(4_000))));
}

#[test]
fn the_market_is_busy_until_its_recorded_reply_and_free_from_then_on() {
    let mut config = CoreConfig::default();
    config.filter.cooldown = chrono::Duration::zero();
    let lines = vec![
        signalled(
            shift("1", "kalshi/A", "0.50", "0.56", 0),
            signal("NO_TRADE", "0.01"),
            2_500,
        ),
        shift("2", "kalshi/A", "0.56", "0.60", 2_000),
        shift("3", "kalshi/A", "0.60", "0.64", 2_500),
        shift("4", "kalshi/A", "0.64", "0.70", 2_600),
    ];
    let run = replay(&tape(&lines), config, &keep(Fallback::Skip));
    // A reply due at the same instant as an event goes first, so event 3 finds A free (and
    // is decided just after it, its fallback reply just after that).
    assert_eq!(
        outcomes(&run),
        vec![
            row("2", "market_busy", 2_000),
            row("1", "no_trade", 2_500),
            row_after("3", "no_recorded_signal", 2_500, 2),
            row_after("4", "no_recorded_signal", 2_600, 1),
        ]
    );
}

#[test]
fn replies_due_together_are_delivered_in_request_order_and_never_early() {
    let lines = vec![
        signalled(
            shift("1", "kalshi/A", "0.50", "0.56", 0),
            signal("NO_TRADE", "0"),
            1_000,
        ),
        signalled(
            shift("2", "kalshi/B", "0.50", "0.56", 100),
            signal("NO_TRADE", "0"),
            1_000,
        ),
        // A reply recorded before its own event (a hand-edited file) waits for the event.
        signalled(
            shift("3", "kalshi/C", "0.50", "0.56", 2_000),
            signal("NO_TRADE", "0"),
            1_500,
        ),
    ];
    let run = replay(&tape(&lines), CoreConfig::default(), &keep(Fallback::Skip));
    assert_eq!(
        outcomes(&run),
        vec![
            row("1", "no_trade", 1_000),
            row_after("2", "no_trade", 1_000, 1),
            row_after("3", "no_trade", 2_000, 1),
        ]
    );
}

#[test]
fn the_model_fallback_answers_from_the_markets_price_history() {
    let lines = vec![
        shift("1", "kalshi/C", "0.50", "0.51", 0),
        shift("2", "kalshi/C", "0.51", "0.50", 1_000),
        shift("3", "kalshi/C", "0.50", "0.51", 2_000),
        shift("4", "kalshi/C", "0.51", "0.50", 3_000),
        shift("5", "kalshi/C", "0.50", "0.51", 4_000),
        shift("6", "kalshi/C", "0.51", "0.40", 5_000),
    ];
    let tape = tape(&lines);
    let run = replay(&tape, CoreConfig::default(), &keep(Fallback::Model));
    let last = run.decisions.last().expect("decided");
    assert_eq!(
        (last.event_id.as_str(), last.outcome.as_str()),
        ("6", "traded")
    );
    assert_eq!(run.recorded_replies, 0);
    assert_eq!(run.fallback_replies, 1);
    // EWMA of 0.51, 0.50, 0.51, 0.50, 0.51 with alpha 0.2 = 0.507376: BUY_YES at 0.40.
    assert_eq!(run.trades.len(), 1);
    assert_eq!(run.trades[0].side, Side::Yes);
    assert_eq!(run.trades[0].price, dec!(0.40));
    assert_eq!(run.trades[0].win_probability, Some(dec!(0.507376)));

    let skipped = replay(&tape, CoreConfig::default(), &keep(Fallback::Skip));
    assert_eq!(
        skipped.decisions.last().map(|d| d.outcome),
        Some(ReplayOutcome::NoRecordedSignal)
    );
    assert!(skipped.trades.is_empty());
}

#[test]
fn a_recorded_failure_decides_signal_error_and_its_pause_holds() {
    let mut failed = shift("1", "kalshi/A", "0.50", "0.56", 0);
    failed.signal_at = Some(at(100));
    failed.signal_error = Some("signal quota exhausted until 2026-01-02T00:00:00Z".into());
    failed.signal_pause_until = Some(at(86_400_000));
    let lines = vec![failed, shift("2", "kalshi/B", "0.50", "0.56", 200)];
    let run = replay(&tape(&lines), CoreConfig::default(), &keep(Fallback::Model));
    assert_eq!(
        outcomes(&run),
        vec![row("1", "signal_error", 100), row("2", "signal_error", 200)]
    );
    assert!(
        run.decisions[1]
            .reason
            .starts_with("signals paused until 2026-01-02T00:00:00"),
        "{}",
        run.decisions[1].reason
    );
    // The pause refused event 2 before any signal request: the model was not asked.
    assert_eq!(run.fallback_replies, 0);
}

/// 200 shifts on 7 markets, 0.7 s apart, each with a recorded reply 0.3 s later.
fn alternating_tape() -> Tape {
    let lines: Vec<_> = (0..200)
        .map(|i| {
            let market = format!("kalshi/M{}", i % 7);
            let (old, new) = if i % 3 == 0 {
                ("0.50", "0.44")
            } else {
                ("0.44", "0.50")
            };
            let line = shift(&i.to_string(), &market, old, new, i * 700);
            let edge = if i % 2 == 0 { "0.09" } else { "-0.09" };
            let side = if i % 2 == 0 { "BUY_YES" } else { "BUY_NO" };
            signalled(line, signal(side, edge), i * 700 + 300)
        })
        .collect();
    tape(&lines)
}

#[test]
fn replay_is_deterministic_and_sweeps_do_not_need_decisions() {
    let tape = alternating_tape();
    let light = ReplayOptions::default();
    let a = replay(&tape, CoreConfig::default(), &light);
    let b = replay(&tape, CoreConfig::default(), &light);
    assert!(a.decisions.is_empty());
    assert_eq!(a.trades, b.trades);
    assert_eq!(a.tally, b.tally);
    assert_eq!(a.core().book(), b.core().book());
    assert!(a.trades.iter().any(|t| t.action == TradeAction::Close));
    assert_eq!(a.tally.total(), 200);
    let full = replay(&tape, CoreConfig::default(), &keep(Fallback::Skip));
    assert_eq!(full.trades, a.trades);
    assert_eq!(full.decisions.len(), 200);
}

/// Replay makes the live engine's equity snapshots on the recording's clock: one at every
/// trade, others at least `snapshot_every` apart, in time order, and the last one values the
/// book as the report does.
#[test]
fn replay_snapshots_the_book_on_the_recordings_clock() {
    let tape = alternating_tape();
    let config = CoreConfig {
        snapshot_every: chrono::Duration::seconds(10),
        ..CoreConfig::default()
    };
    let run = replay(&tape, config, &ReplayOptions::default());
    assert!(!run.trades.is_empty());
    let span = tape.span().expect("a span");
    assert!(run
        .snapshots
        .iter()
        .all(|s| s.at >= span.0 && s.at <= span.1 + chrono::Duration::seconds(1)));
    assert!(run.snapshots.windows(2).all(|w| w[0].at <= w[1].at));
    for trade in &run.trades {
        assert!(
            run.snapshots.iter().any(|s| s.at == trade.placed_at),
            "no snapshot at trade {}",
            trade.trade_id
        );
    }
    let traded_at: std::collections::BTreeSet<Timestamp> =
        run.trades.iter().map(|t| t.placed_at).collect();
    let mut last: Option<Timestamp> = None;
    for s in &run.snapshots {
        if !traded_at.contains(&s.at) {
            assert!(last.is_none_or(|l| s.at - l >= chrono::Duration::seconds(10)));
        }
        last = Some(s.at);
        assert_eq!(s.equity, s.cash + s.market_value);
    }
    let book = run.core().book();
    let s = run.snapshots.last().expect("snapshots");
    assert_eq!(s.cash, book.cash());
}

/// Two markets traded, settlements between and after the events (as `export-events` places
/// them): A opens at 1.0 s, is settled YES at 1.5 s, opens again at 2.5 s and is settled NO at
/// the end; C's settlement at 1.6 s comes before its reply (1.8 s), so C stays open.
fn settled_tape() -> Tape {
    let text = [
        ndjson(&[
            signalled(
                shift("1", "kalshi/A", "0.50", "0.56", 0),
                signal("BUY_YES", "0.10"),
                1_000,
            ),
            signalled(
                shift("2", "kalshi/C", "0.50", "0.56", 100),
                signal("BUY_YES", "0.10"),
                1_800,
            ),
        ]),
        settled("manual-settle:kalshi/A", "kalshi/A", Side::Yes, 1_500),
        settled("resolution:kalshi/C:finalized", "kalshi/C", Side::No, 1_600),
        ndjson(&[signalled(
            shift("3", "kalshi/A", "0.56", "0.62", 2_000),
            signal("BUY_YES", "0.10"),
            2_500,
        )]),
        settled("resolution:kalshi/A:finalized", "kalshi/A", Side::No, 3_000),
    ]
    .concat();
    Tape::read(text.as_bytes(), "test").expect("a valid recording")
}

fn no_cooldown() -> CoreConfig {
    let mut config = CoreConfig::default();
    config.filter.cooldown = chrono::Duration::zero();
    config
}

#[test]
fn recorded_settlements_pay_out_at_their_place_in_the_timeline() {
    let tape = settled_tape();
    assert_eq!((tape.len(), tape.settlements().len()), (3, 3));
    let run = replay(&tape, no_cooldown(), &keep(Fallback::Skip));
    // Settlements are not decisions.
    assert_eq!(run.events, 3);
    assert_eq!(run.tally.total(), 3);
    assert_eq!(
        outcomes(&run),
        vec![
            row("1", "traded", 1_000),
            row("2", "traded", 1_800),
            row("3", "traded", 2_500),
        ]
    );
    let trades: Vec<(&str, &str, TradeAction, Timestamp)> = run
        .trades
        .iter()
        .map(|t| {
            (
                t.event_id.as_str(),
                t.market_id.as_str(),
                t.action,
                t.placed_at,
            )
        })
        .collect();
    assert_eq!(
        trades,
        vec![
            ("1", "A", TradeAction::Open, at(1_000)),
            (
                "manual-settle:kalshi/A",
                "A",
                TradeAction::Settle,
                at(1_500)
            ),
            ("2", "C", TradeAction::Open, at(1_800)),
            ("3", "A", TradeAction::Open, at(2_500)),
            (
                "resolution:kalshi/A:finalized",
                "A",
                TradeAction::Settle,
                at(3_000)
            ),
        ]
    );
    // YES won the first time: 1 per contract; NO the second: 0 for the YES held.
    let (first, won) = (&run.trades[0], &run.trades[1]);
    assert_eq!(
        (won.side, won.contracts, won.price),
        (Side::Yes, first.contracts, dec!(1))
    );
    assert_eq!(
        won.cash_after,
        won.cash_before + Decimal::from(first.contracts)
    );
    // The next entry is sized on the cash after the payout.
    assert_eq!(run.trades[2].cash_before, won.cash_after);
    let lost = &run.trades[4];
    assert_eq!((lost.price, lost.cost), (dec!(0), dec!(0)));
    assert_eq!(lost.cash_after, lost.cash_before);
    // Only C is still held; the book agrees with the trades.
    let held: Vec<&str> = run
        .core()
        .book()
        .positions
        .keys()
        .map(|(m, _)| m.market_id.as_str())
        .collect();
    assert_eq!(held, ["C"]);
    assert_eq!(run.core().book().cash(), lost.cash_after);

    // The report counts them as settle trades, as of the last settlement.
    let report = crate::replay::replay_report(&run);
    assert_eq!(
        (
            report.trades.open,
            report.trades.settle,
            report.trades.total
        ),
        (3, 2, 5)
    );
    assert_eq!(report.as_of, at(3_000));
}

#[test]
fn under_another_config_a_recorded_winner_settles_only_what_the_replay_holds() {
    let tape = settled_tape();
    // Nothing passes the threshold: nothing held, so no settlement pays anything.
    let mut choosy = no_cooldown();
    choosy.filter.min_shift_pct = dec!(50);
    let run = replay(&tape, choosy, &keep(Fallback::Skip));
    assert!(run.trades.is_empty(), "{:?}", run.trades);
    assert_eq!(run.core().book().cash(), dec!(10000));
    assert_eq!(run.tally.total(), 3);

    // With the default 60 s cooldown event 3 is refused: A's second position never opens, so
    // the final NO settlement of A pays nothing, while the first one still settles event 1's.
    let run = replay(&tape, CoreConfig::default(), &keep(Fallback::Skip));
    let actions: Vec<(&str, TradeAction)> = run
        .trades
        .iter()
        .map(|t| (t.market_id.as_str(), t.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("A", TradeAction::Open),
            ("A", TradeAction::Settle),
            ("C", TradeAction::Open),
        ]
    );
    assert_eq!(run.decisions[2].outcome.as_str(), "cooldown");
}

#[test]
fn fallback_and_outcome_names() {
    assert_eq!("skip".parse::<Fallback>(), Ok(Fallback::Skip));
    assert_eq!("model".parse::<Fallback>(), Ok(Fallback::Model));
    assert!("guess".parse::<Fallback>().is_err());
    assert_eq!(
        ReplayOutcome::NoRecordedSignal.as_str(),
        "no_recorded_signal"
    );
    assert_eq!(ReplayOutcome::Core(Outcome::Traded).to_string(), "traded");
    let names: Vec<&str> = ReplayOutcome::all().map(ReplayOutcome::as_str).collect();
    assert_eq!(names.len(), Outcome::ALL.len() + 1);
    assert_eq!(names.last(), Some(&"no_recorded_signal"));
    let mut tally = Tally::default();
    for outcome in ReplayOutcome::all() {
        tally.add(outcome);
    }
    assert!(ReplayOutcome::all().all(|o| tally.get(o) == 1));
}
