//! Exits and settlement as properties: the accounting identity in both forms over any sequence
//! of opens, marks, exits, closes and settlements; round-trip P&L; no shorting; idempotent
//! settlement; thresholds that fire exactly; and, through the `Core` harness, that every close
//! a decision makes is due (or an opposite-signal sale) and that nothing due is left open.
//! Hand-computed cases are in `exits_examples.rs`.

#[allow(dead_code)] // prop_core uses the model; this file only drives scenarios.
mod core_harness;
mod support;

use std::collections::BTreeMap;

use chrono::Duration;
use core_harness::model::{decided, expired};
use core_harness::{drive, scenario, Record};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRng, TestRunner};
use rust_decimal::Decimal;
use strategies::exits::{
    self, exit_fee, exit_reason, settlement_side, Closes, ExitReason, ExitRules,
};
use strategies::sizing::FeeSchedule;
use strategies::{
    Book, CoreConfig, Decision, MarketKey, Platform, Price, Side, SignalReply, Trade, TradeAction,
};
use support::*;

fn markets() -> Vec<MarketKey> {
    vec![
        market(Platform::Kalshi, "KXFED-26MAR19"),
        market(Platform::Kalshi, "KXCPI-26APR"),
        market(Platform::Polymarket, "will-it-rain"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Book-level sequences.

#[derive(Clone, Debug)]
enum Op {
    Open {
        market: usize,
        side: Side,
        contracts: u64,
        price: Price,
        fee: Decimal,
    },
    Mark {
        market: usize,
        yes: Price,
    },
    Wait {
        secs: i64,
    },
    /// Run the exit rules over the whole book.
    Exits {
        rules: ExitRules,
    },
    /// Sell one position at its market's price (as an opposite signal would).
    Close {
        market: usize,
        side: Side,
    },
    Settle {
        market: usize,
        winner: Side,
    },
}

fn exit_rules() -> impl Strategy<Value = ExitRules> {
    (
        prop::option::of((1i64..=50).prop_map(|n| dec(n, 2))),
        prop::option::of((1i64..=50).prop_map(|n| dec(n, 2))),
        prop::option::of((1i64..=3_600).prop_map(Duration::seconds)),
        any::<bool>(),
        (51i64..=99).prop_map(|n| dec(n, 2)),
    )
        .prop_map(
            |(take_profit, stop_loss, max_hold, close_on_opposite_signal, settle_at)| ExitRules {
                take_profit,
                stop_loss,
                max_hold,
                close_on_opposite_signal,
                settle_at,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, side(), 1u64..=2_000, any_price(), money(2_000)).prop_map(
            |(market, side, contracts, price, fee)| Op::Open { market, side, contracts, price, fee }
        ),
        4 => (0usize..3, any_price()).prop_map(|(market, yes)| Op::Mark { market, yes }),
        1 => (0i64..=1_800).prop_map(|secs| Op::Wait { secs }),
        3 => exit_rules().prop_map(|rules| Op::Exits { rules }),
        1 => (0usize..3, side()).prop_map(|(market, side)| Op::Close { market, side }),
        1 => (0usize..3, side()).prop_map(|(market, winner)| Op::Settle { market, winner }),
    ]
}

/// A starting price for every market, then the ops.
fn sequence() -> impl Strategy<Value = (Decimal, FeeSchedule, [Price; 3], Vec<Op>)> {
    (
        (1i64..=100_000_000).prop_map(|n| dec(n, 2)),
        fee_schedule(),
        [any_price(), any_price(), any_price()],
        prop::collection::vec(op(), 0..80),
    )
}

/// What the test tallies from the trades alone, independently of the book's own totals.
#[derive(Default)]
struct Tally {
    fees: Decimal,
    opened_cost: Decimal,
    proceeds: Decimal,
    realized: Decimal,
    cash: Option<Decimal>,
    held: BTreeMap<(MarketKey, Side), u64>,
}

impl Tally {
    fn take(&mut self, trade: &Trade) -> Result<(), TestCaseError> {
        if let Some(cash) = self.cash {
            prop_assert_eq!(trade.cash_before, cash, "cash chain broken at {:?}", trade);
        }
        self.cash = Some(trade.cash_after);
        self.fees += trade.fee;
        let held = self.held.entry((trade.market(), trade.side)).or_default();
        match trade.action {
            TradeAction::Open => {
                prop_assert_eq!(trade.cash_after, trade.cash_before - trade.cost - trade.fee);
                self.opened_cost += trade.cost;
                *held += trade.contracts;
            }
            TradeAction::Close | TradeAction::Settle => {
                prop_assert!(
                    trade.contracts <= *held,
                    "sold {} of {} held",
                    trade.contracts,
                    held
                );
                prop_assert_eq!(trade.cost, Decimal::from(trade.contracts) * trade.price);
                prop_assert_eq!(trade.cash_after, trade.cash_before + trade.cost - trade.fee);
                prop_assert!(
                    trade.fee <= trade.cost,
                    "exit fee {} over proceeds {}",
                    trade.fee,
                    trade.cost
                );
                self.proceeds += trade.cost;
                self.realized += trade.realized_pnl.unwrap_or_default();
                *held -= trade.contracts;
            }
        }
        Ok(())
    }
}

fn apply(
    book: &mut Book,
    fees: &FeeSchedule,
    prices: &mut BTreeMap<MarketKey, Price>,
    now: &mut strategies::Timestamp,
    op: &Op,
    seq: usize,
) -> Vec<Trade> {
    let ms = markets();
    let id = format!("op-{seq}");
    match op {
        Op::Open {
            market,
            side,
            contracts,
            price,
            fee,
        } => {
            let s = sizing(*contracts, *price, *fee);
            vec![book.open(&id, &ms[*market], *side, &s, Decimal::ONE, *now)]
        }
        Op::Mark { market, yes } => {
            prices.insert(ms[*market].clone(), *yes);
            Vec::new()
        }
        Op::Wait { secs } => {
            *now += Duration::seconds(*secs);
            Vec::new()
        }
        Op::Exits { rules } => {
            let mut closes = Closes::default();
            exits::run_exits(
                rules,
                fees,
                book,
                |m| prices.get(m).copied(),
                |_| true,
                &id,
                *now,
                &mut closes,
            );
            closes.trades
        }
        Op::Close { market, side } => {
            let m = &ms[*market];
            let yes = prices[m];
            exits::close_position(book, fees, m, *side, yes, &id, *now)
                .into_iter()
                .collect()
        }
        Op::Settle { market, winner } => exits::settle(book, &ms[*market], *winner, &id, *now),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `cash + open cost basis + open entry fees − net realized == bankroll` (the book's form) and
    /// `cash + open cost basis + all fees paid − gross realized == bankroll` (the form,
    /// from the trades alone), exactly, after every op; equity marks to bankroll + realized +
    /// unrealized.
    #[test]
    fn prop_exits_identity_holds_in_both_forms((bankroll, fees, start, ops) in sequence()) {
        let mut book = Book::new(bankroll);
        let mut prices: BTreeMap<MarketKey, Price> = markets().into_iter().zip(start).collect();
        let mut now = t0();
        let mut tally = Tally { cash: Some(bankroll), ..Tally::default() };
        for (i, op) in ops.iter().enumerate() {
            for trade in apply(&mut book, &fees, &mut prices, &mut now, op, i) {
                tally.take(&trade)?;
            }
            prop_assert_eq!(book.accounted_total(), bankroll, "book form after {:?}", op);
            prop_assert_eq!(tally.fees, book.totals.fees_paid);
            let gross = tally.proceeds - (tally.opened_cost - book.open_exposure());
            prop_assert_eq!(
                book.cash() + book.open_exposure() + tally.fees - gross, bankroll,
                "issue form after {:?}", op
            );
            prop_assert_eq!(gross, book.realized_pnl_gross());
            prop_assert_eq!(book.accounted_total_gross(), bankroll);
            prop_assert_eq!(tally.realized, book.totals.realized_pnl);
            prop_assert_eq!(tally.cash.unwrap_or(bankroll), book.cash());
            let unrealized: Decimal = book.positions.values().map(|p| p.unrealized_pnl(prices[&p.market])).sum();
            prop_assert_eq!(
                book.equity(|m| prices.get(m).copied()),
                bankroll + book.totals.realized_pnl + unrealized
            );
        }
    }

    /// Positions hold exactly what was bought minus what was sold, never less than zero; exits,
    /// closes and settlements sell whole positions.
    #[test]
    fn prop_exits_never_go_short((bankroll, fees, start, ops) in sequence()) {
        let mut book = Book::new(bankroll);
        let mut prices: BTreeMap<MarketKey, Price> = markets().into_iter().zip(start).collect();
        let mut now = t0();
        let mut tally = Tally::default();
        for (i, op) in ops.iter().enumerate() {
            let before = book.clone();
            for trade in apply(&mut book, &fees, &mut prices, &mut now, op, i) {
                if trade.action != TradeAction::Open {
                    let held = before.position(&trade.market(), trade.side).map(|p| p.contracts);
                    prop_assert_eq!(Some(trade.contracts), held, "a sale sells the whole position");
                    prop_assert!(book.position(&trade.market(), trade.side).is_none());
                }
                tally.take(&trade)?;
            }
            for (key, n) in &tally.held {
                prop_assert_eq!(book.positions.get(key).map_or(0, |p| p.contracts), *n);
            }
        }
    }

    /// One open then one sale at a later price: realized = proceeds − cost − entry fee − exit fee.
    #[test]
    fn prop_exits_round_trip_realizes_proceeds_minus_cost_minus_fees(
        m in market_key(), side in side(), n in prop_oneof![1u64..=20, 1u64..=100_000],
        entry_yes in any_price(), exit_yes in exit_price(), entry_fee in money(10_000), rate in fee_rate(),
    ) {
        let fees = FeeSchedule { kalshi: rate, polymarket: rate };
        let mut book = Book::new(dec(1_000_000_000, 0));
        let c1 = side.price_of(entry_yes);
        book.open("in", &m, side, &sizing(n, c1, entry_fee), Decimal::ONE, at(0));
        let t = exits::close_position(&mut book, &fees, &m, side, exit_yes, "out", at(1));
        let t = t.expect("a held position closes");
        let c2 = side.price_of(exit_yes).get();
        let proceeds = Decimal::from(n) * c2;
        let fee = exit_fee(rate, n, c2);
        prop_assert_eq!(fee, sizing_fee(rate, n, c2).min(proceeds));
        prop_assert_eq!((t.action, t.contracts, t.price, t.cost, t.fee), (TradeAction::Close, n, c2, proceeds, fee));
        prop_assert_eq!(t.realized_pnl, Some(proceeds - Decimal::from(n) * c1.get() - entry_fee - fee));
        prop_assert!(book.positions.is_empty());
    }

    /// Settlement pays 1 per winning contract and 0 per losing one, with no fee, and settling
    /// again changes nothing.
    #[test]
    fn prop_exits_settlement_pays_and_is_idempotent(
        (bankroll, fees, start, ops) in sequence(), which in 0usize..3, winner in side(),
    ) {
        let mut book = Book::new(bankroll);
        let mut prices: BTreeMap<MarketKey, Price> = markets().into_iter().zip(start).collect();
        let mut now = t0();
        for (i, op) in ops.iter().enumerate() {
            apply(&mut book, &fees, &mut prices, &mut now, op, i);
        }
        let m = &markets()[which];
        let before = book.clone();
        let trades = exits::settle(&mut book, m, winner, "settle", now);
        for t in &trades {
            let held = before.position(m, t.side).cloned().expect("settled a held position");
            let pay = if t.side == winner { Decimal::ONE } else { Decimal::ZERO };
            prop_assert_eq!((t.action, t.price, t.fee, t.contracts), (TradeAction::Settle, pay, Decimal::ZERO, held.contracts));
            prop_assert_eq!(t.realized_pnl, Some(pay * Decimal::from(held.contracts) - held.cost_basis - held.fees_paid));
        }
        let held_sides = [Side::Yes, Side::No].into_iter().filter(|s| before.position(m, *s).is_some()).count();
        prop_assert_eq!(trades.len(), held_sides);
        prop_assert!(book.position(m, Side::Yes).is_none() && book.position(m, Side::No).is_none());
        let settled = book.clone();
        prop_assert!(exits::settle(&mut book, m, winner, "again", now).is_empty());
        prop_assert!(exits::settle(&mut book, m, winner.opposite(), "again", now).is_empty());
        prop_assert_eq!(&book, &settled);
        prop_assert_eq!(book.accounted_total(), bankroll);
    }

    /// With the average entry `a` exact, take-profit fires iff `held − a >= tp` and stop-loss iff
    /// `a − held >= sl`: in particular at exactly the threshold, and not a 0.0001 tick short.
    #[test]
    fn prop_exits_fire_exactly_at_the_thresholds(
        n in 1u64..=10_000, a in 1i64..=9_999, threshold in 1i64..=5_000, held in 1i64..=9_999,
        side in side(),
    ) {
        let avg = dec(a, 4);
        let th = dec(threshold, 4);
        let position = strategies::Position {
            market: market(Platform::Kalshi, "KXA"),
            side,
            contracts: n,
            cost_basis: Decimal::from(n) * avg,
            fees_paid: Decimal::ZERO,
            opened_at: t0(),
            updated_at: t0(),
        };
        let tp = ExitRules { take_profit: Some(th), stop_loss: None, max_hold: None, ..ExitRules::default() };
        let sl = ExitRules { take_profit: None, stop_loss: Some(th), max_hold: None, ..ExitRules::default() };
        let h = price(held, 4);
        prop_assert_eq!(exit_reason(&tp, &position, h, t0()).is_some(), h.get() - avg >= th);
        prop_assert_eq!(exit_reason(&sl, &position, h, t0()).is_some(), avg - h.get() >= th);
        for (rules, at_threshold, short) in [(&tp, a + threshold, a + threshold - 1), (&sl, a - threshold, a - threshold + 1)] {
            if (1..=9_999).contains(&at_threshold) {
                prop_assert!(exit_reason(rules, &position, price(at_threshold, 4), t0()).is_some());
            }
            if (1..=9_999).contains(&short) {
                prop_assert_eq!(exit_reason(rules, &position, price(short, 4), t0()), None);
            }
        }
    }

    /// `max_hold` fires at exactly the holding time and not a second before.
    #[test]
    fn prop_exits_max_hold_fires_exactly(hold_s in 1i64..=10_000_000, opened_s in 0i64..=1_000) {
        let position = strategies::Position {
            market: market(Platform::Kalshi, "KXA"),
            side: Side::Yes,
            contracts: 10,
            cost_basis: dec(5, 0),
            fees_paid: Decimal::ZERO,
            opened_at: at(opened_s),
            updated_at: at(opened_s),
        };
        let rules = ExitRules { take_profit: None, stop_loss: None, max_hold: Some(Duration::seconds(hold_s)), ..ExitRules::default() };
        prop_assert_eq!(exit_reason(&rules, &position, price(50, 2), at(opened_s + hold_s)), Some(ExitReason::MaxHold));
        prop_assert_eq!(exit_reason(&rules, &position, price(50, 2), at(opened_s + hold_s - 1)), None);
    }

    #[test]
    fn prop_exits_settlement_side_follows_settle_at(yes in fine_price(), settle_at in (5001i64..=9999).prop_map(|n| dec(n, 4))) {
        let expected = if yes.get() >= settle_at {
            Some(Side::Yes)
        } else if yes.get() <= Decimal::ONE - settle_at {
            Some(Side::No)
        } else {
            None
        };
        prop_assert_eq!(settlement_side(yes, settle_at), expected);
        // Symmetric: the NO side of a YES settlement is a NO settlement of the mirror price.
        prop_assert_eq!(settlement_side(yes.complement(), settle_at), expected.map(Side::opposite));
    }
}

/// Any price, often one within a few ticks of 0 or 1, where a rounded-up fee can exceed the
/// proceeds of a small sale.
fn exit_price() -> impl Strategy<Value = Price> {
    prop_oneof![
        2 => any_price(),
        1 => (1i64..=30).prop_map(|n| price(n, 4)),
        1 => (9_970i64..=9_999).prop_map(|n| price(n, 4)),
    ]
}

fn sizing_fee(rate: Decimal, n: u64, c: Decimal) -> Decimal {
    strategies::sizing::trade_fee(rate, n, c)
}

// ---------------------------------------------------------------------------------------------
// The core, through the harness.

/// Latest YES price per market, replayed from the records up to (and including) each event.
struct Prices(BTreeMap<MarketKey, Price>);

impl Prices {
    fn see(&mut self, record: &Record) {
        if let Record::Event { event, .. } = record {
            if let (Some(m), Some(p)) = (event.market(), event.yes_price()) {
                self.0.insert(m.clone(), p);
            }
        }
    }
}

/// The decision a record holds, the book before it, and its clock; `None` for a ticket.
fn decision_of(record: &Record) -> Option<(&Decision, &Book, strategies::Timestamp)> {
    match record {
        Record::Event {
            step,
            book_before,
            now,
            ..
        } => decided(step).map(|d| (d, book_before, *now)),
        Record::Reply {
            decision,
            book_before,
            now,
            ..
        } => Some((decision, book_before, *now)),
    }
}

/// The side a reply's signal buys, when it is usable (so an opposite-side sale is allowed).
fn bought_side(record: &Record) -> Option<(MarketKey, Side)> {
    let Record::Reply {
        reply: SignalReply::Signal(signal),
        ticket,
        now,
        ..
    } = record
    else {
        return None;
    };
    if expired(signal, *now) {
        return None;
    }
    signal
        .recommendation
        .side()
        .map(|s| (ticket.market.clone(), s))
}

fn check_decision_closes(
    config: &CoreConfig,
    record: &Record,
    prices: &Prices,
) -> Result<(), TestCaseError> {
    let Some((decision, before, now)) = decision_of(record) else {
        if let Record::Event {
            book_before,
            book_after,
            ..
        } = record
        {
            prop_assert_eq!(book_before, book_after, "a ticket changed the book");
        }
        return Ok(());
    };
    let rules = &config.exits;
    let due: Vec<(MarketKey, Side)> = before
        .positions
        .values()
        .filter(|p| {
            prices
                .0
                .get(&p.market)
                .is_some_and(|yes| exit_reason(rules, p, p.side.price_of(*yes), now).is_some())
        })
        .map(|p| (p.market.clone(), p.side))
        .collect();
    let closes: Vec<&Trade> = decision
        .trades
        .iter()
        .filter(|t| t.action != TradeAction::Open)
        .collect();
    let opposite = bought_side(record)
        .filter(|_| rules.close_on_opposite_signal)
        .map(|(m, s)| (m, s.opposite()));
    for key in &due {
        prop_assert!(
            closes.iter().any(|t| (t.market(), t.side) == *key),
            "{:?} was due at {} but not closed by {}",
            key,
            now,
            decision.event_id
        );
    }
    for t in &closes {
        let key = (t.market(), t.side);
        prop_assert_eq!(t.action, TradeAction::Close);
        prop_assert_eq!(&t.event_id, &decision.event_id);
        prop_assert_eq!(t.placed_at, now);
        prop_assert!(
            due.contains(&key) || opposite.as_ref() == Some(&key),
            "close of {:?} is neither due nor opposite",
            key
        );
        let held = before
            .position(&key.0, key.1)
            .expect("closed a held position");
        prop_assert_eq!(t.contracts, held.contracts);
        let yes = prices
            .0
            .get(&key.0)
            .copied()
            .expect("closed at a known price");
        prop_assert_eq!(t.price, key.1.price_of(yes).get());
        prop_assert_eq!(
            t.fee,
            exit_fee(config.fees.rate(key.0.platform), t.contracts, t.price)
        );
    }
    // Closes come first, and an opposite-side sale comes before the entry it makes room for.
    if let Some(first_open) = decision
        .trades
        .iter()
        .position(|t| t.action == TradeAction::Open)
    {
        prop_assert_eq!(first_open, decision.trades.len() - 1);
        if let Some(key) = &opposite {
            if before.position(&key.0, key.1).is_some() {
                prop_assert!(
                    closes.iter().any(|t| (t.market(), t.side) == *key),
                    "opposite side not sold first"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// Every close a decision makes is due by the rules at that moment (or sells the side
    /// opposite to a usable signal), at the market's last price minus the exit fee, before any
    /// entry; every position due is closed by the first decision after it becomes due.
    #[test]
    fn prop_exits_core_closes_exactly_what_is_due((config, actions) in scenario(80)) {
        let (records, _) = drive(&config, &actions);
        let mut prices = Prices(BTreeMap::new());
        for r in &records {
            prices.see(r);
            check_decision_closes(&config, r, &prices)?;
        }
    }

    /// After any run, settling every market (to either side) keeps the book balanced, pays 1/0
    /// and is idempotent; the settlement candidate follows the last price.
    #[test]
    fn prop_exits_core_settles_any_run((config, actions) in scenario(80), winners in prop::collection::vec(side(), 3)) {
        let (records, mut core) = drive(&config, &actions);
        let bankroll = config.sizing.bankroll;
        let mut prices = Prices(BTreeMap::new());
        records.iter().for_each(|r| prices.see(r));
        for (m, winner) in core_harness::markets().iter().zip(winners) {
            prop_assert_eq!(
                core.settlement_candidate(m),
                prices.0.get(m).and_then(|p| settlement_side(*p, config.exits.settle_at))
            );
            let held: Vec<_> = [Side::Yes, Side::No].into_iter().filter_map(|s| core.book().position(m, s).cloned()).collect();
            let trades = core.settle(m, winner, "settle", t0());
            prop_assert_eq!(trades.len(), held.len());
            for (t, p) in trades.iter().zip(&held) {
                let pay = if p.side == winner { Decimal::ONE } else { Decimal::ZERO };
                prop_assert_eq!((t.side, t.price, t.fee), (p.side, pay, Decimal::ZERO));
            }
            prop_assert!(!core.open_markets().contains(m));
            prop_assert!(core.settle(m, winner, "again", t0()).is_empty());
            prop_assert_eq!(core.book().accounted_total(), bankroll);
        }
        prop_assert!(core.book().positions.is_empty());
        prop_assert_eq!(core.book().cash() - core.book().totals.realized_pnl, bankroll);
    }
}

/// The scenario generator really reaches every exit reason, so the core properties above are
/// not vacuous. Deterministic: a fixed seed.
#[test]
fn harness_scenarios_reach_every_exit_reason() {
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig::default(),
        TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = scenario(80);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..400 {
        let (config, actions) = strategy
            .new_tree(&mut runner)
            .map(|tree| proptest::strategy::ValueTree::current(&tree))
            .expect("a scenario");
        let (records, _) = drive(&config, &actions);
        for r in &records {
            if let Some((d, _, _)) = decision_of(r) {
                for reason in ["take_profit", "stop_loss", "max_hold", "opposite_signal"] {
                    if d.reason.contains(&format!(" on {reason} ")) {
                        *seen.entry(reason.to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    for reason in ["take_profit", "stop_loss", "max_hold", "opposite_signal"] {
        assert!(
            seen.get(reason).copied().unwrap_or(0) >= 5,
            "{reason} reached {seen:?}"
        );
    }
}
