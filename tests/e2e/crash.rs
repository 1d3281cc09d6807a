//! `kill -9` mid-stream, three times at varying points, then a clean run to the end: every
//! event decided exactly once, no trade lost or doubled, the ledger a consistent cash chain,
//! and after every crash the store is a consistent prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;

use crate::support::{ids, model_price_shifts, DecisionRow, LedgerRow, Setup, TestApp};

const BANKROLL: i64 = 10_000;
const CRASHES: usize = 3;

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// The store as the review commands show it, checked for internal consistency.
fn consistent_store(app: &TestApp) -> (Vec<DecisionRow>, Vec<LedgerRow>) {
    let decisions = app.decisions();
    let mut once = BTreeSet::new();
    for decision in &decisions {
        assert!(
            once.insert(decision.event_id.clone()),
            "event {} decided twice",
            decision.event_id
        );
    }
    let ledger = app.ledger();
    let mut cash = Decimal::from(BANKROLL);
    for (index, trade) in ledger.iter().enumerate() {
        assert_eq!(trade.trade_id, index as u64 + 1, "trade ids are dense");
        assert_eq!(
            trade.cash_before, cash,
            "cash chain broken at trade {}",
            trade.trade_id
        );
        assert_eq!(trade.cash_after, trade.expected_cash_after(), "{trade:?}");
        cash = trade.cash_after;
    }
    // Every traded decision has exactly one entry in the ledger, and every entry a decision.
    let traded: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d.outcome == "traded")
        .map(|d| d.event_id.as_str())
        .collect();
    let mut entries: BTreeMap<&str, usize> = BTreeMap::new();
    for trade in ledger.iter().filter(|t| t.is_open()) {
        *entries.entry(trade.event_id.as_str()).or_default() += 1;
    }
    assert!(
        entries.values().all(|&n| n == 1),
        "an entry doubled: {entries:?}"
    );
    assert_eq!(entries.keys().copied().collect::<BTreeSet<_>>(), traded);
    (decisions, ledger)
}

#[test]
fn kill_9_mid_stream_then_restart_loses_and_doubles_nothing() {
    let rate = 150;
    let script = model_price_shifts(11, 16, 1200, rate);
    let script_ids = ids(&script);
    let n = script_ids.len();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = rate)
        .set("filter.min_shift_pct", 1)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .set("sizing.bankroll", BANKROLL)
        .spawn();

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("crash points seed: {seed}");
    let mut random = Lcg(seed);

    let mut persisted: BTreeSet<String> = BTreeSet::new();
    for crash in 0..CRASHES {
        let mut bot = app.start();
        let at = 20 + random.below(100) as usize;
        bot.wait_for_decisions(at);
        let logged = bot.kill9();
        for decision in &logged {
            assert!(
                !persisted.contains(&decision.event_id),
                "crash {crash}: event {} was decided again after it was persisted",
                decision.event_id
            );
        }
        let (decisions, _) = consistent_store(&app);
        let now: BTreeSet<String> = decisions.into_iter().map(|d| d.event_id).collect();
        assert!(
            now.is_superset(&persisted),
            "crash {crash}: persisted decisions lost"
        );
        persisted = now;
    }

    // A clean run to the end of the script.
    let mut bot = app.start();
    let missing: BTreeSet<String> = script_ids
        .iter()
        .filter(|id| !persisted.contains(*id))
        .cloned()
        .collect();
    let logged = bot.wait_for("every remaining event decided", |logs| {
        let decided: BTreeSet<String> = crate::support::decisions_in(logs)
            .into_iter()
            .map(|d| d.event_id)
            .collect();
        decided.is_superset(&missing).then_some(decided)
    });
    bot.terminate();
    assert!(
        logged.is_disjoint(&persisted),
        "a persisted event was decided again"
    );

    let (decisions, ledger) = consistent_store(&app);
    let decided: Vec<&str> = {
        let mut ids: Vec<&str> = decisions.iter().map(|d| d.event_id.as_str()).collect();
        ids.sort_unstable();
        ids
    };
    let mut expected: Vec<&str> = script_ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(
        decided, expected,
        "every event exactly one decision ({n} events)"
    );
    assert!(
        ledger.iter().any(LedgerRow::is_open),
        "the session must trade for this test to mean anything"
    );

    // Final cash = bankroll − Σ(cost + fee) of entries + Σ(proceeds − fee) of exits.
    let mut cash = Decimal::from(BANKROLL);
    let mut held: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for trade in &ledger {
        let key = (
            trade.platform.clone(),
            trade.market_id.clone(),
            trade.side.clone(),
        );
        let contracts = i64::try_from(trade.contracts).expect("contracts fit");
        if trade.is_open() {
            cash -= trade.cost + trade.fee;
            *held.entry(key).or_default() += contracts;
        } else {
            cash += trade.cost - trade.fee;
            *held.entry(key).or_default() -= contracts;
        }
    }
    let last = ledger.last().expect("trades");
    assert_eq!(last.cash_after, cash);

    // The next start loads exactly that book, with nothing waiting and the cursor at the end.
    let mut check = app.start();
    let loaded = check.wait_for_message("book loaded");
    check.terminate();
    let loaded_cash: Decimal = loaded["cash"]
        .as_str()
        .expect("cash")
        .parse()
        .expect("decimal");
    assert_eq!(loaded_cash, cash);
    let open_positions = held.values().filter(|&&n| n > 0).count();
    assert!(
        held.values().all(|&n| n >= 0),
        "sold more than held: {held:?}"
    );
    assert_eq!(loaded["positions"].as_u64(), Some(open_positions as u64));
    assert_eq!(loaded["waiting"].as_u64(), Some(0));
    assert_eq!(
        loaded["cursor"].as_str(),
        Some(format!("{:?}", script_ids.last()).as_str())
    );
}
