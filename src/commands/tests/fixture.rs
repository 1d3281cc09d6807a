//! A known store, written through the real `Store::commit`: the worked example of
//! `strategies::report`'s tests (bankroll 1000; A bought and sold at a profit, B lost at
//! settlement, C still open and marked at 0.25), plus decisions of several outcomes.

use chrono::TimeZone;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use strategies::sizing::Sizing;
use strategies::{
    Book, Decision, MarketKey, MarketState, Outcome, Platform, Price, Recommendation, Side, Signal,
    Timestamp, Trade, TradeAction,
};

use crate::commands::{ReviewCommand, ReviewRequest};
use crate::store::{Batch, DecisionRecord, Store};

pub fn day(d: u32, hour: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, d, hour, 0, 0)
        .single()
        .expect("valid literal")
}

/// The instant every command is run at.
pub fn now() -> Timestamp {
    day(5, 12)
}

pub fn request(command: ReviewCommand) -> ReviewRequest {
    ReviewRequest {
        command,
        now: now(),
        bankroll: dec!(777),
        store: None,
    }
}

fn market(platform: Platform, id: &str) -> MarketKey {
    MarketKey::new(platform, id).expect("valid literal")
}

fn sizing(contracts: u64, price: Decimal, fee: Decimal) -> Sizing {
    Sizing {
        contracts,
        price,
        cost: Decimal::from(contracts) * price,
        fee,
        stake: Decimal::from(contracts) * price + fee,
        kelly: Decimal::ZERO,
        edge_after_fees: Decimal::ZERO,
    }
}

fn signal(recommendation: Recommendation, edge: Decimal) -> Option<Signal> {
    Some(Signal {
        recommendation,
        edge,
        probability: None,
        expires_at: None,
        freshness: None,
    })
}

struct Decided {
    id: &'static str,
    market: Option<MarketKey>,
    outcome: Outcome,
    reason: &'static str,
    at: Timestamp,
    signal: Option<Signal>,
    trades: Vec<Trade>,
}

/// Write the example into a fresh store at `path` and return the open store.
pub fn build(path: &std::path::Path) -> Store {
    let a = market(Platform::Kalshi, "KXA");
    let b = market(Platform::Polymarket, "will-b");
    let c = market(Platform::Kalshi, "KXC");
    let mut book = Book::new(dec!(1000));
    let t1 = book.open(
        "e1",
        &a,
        Side::Yes,
        &sizing(100, dec!(0.40), dec!(1.68)),
        dec!(0.50),
        day(1, 10),
    );
    let t2 = book.open(
        "e2",
        &b,
        Side::No,
        &sizing(50, dec!(0.30), dec!(0)),
        dec!(0.45),
        day(1, 12),
    );
    let t3 = book
        .close(
            "e3",
            &a,
            Side::Yes,
            TradeAction::Close,
            100,
            dec!(0.55),
            dec!(1.74),
            day(2, 9),
        )
        .expect("A is held");
    let t4 = book.open(
        "e4",
        &c,
        Side::Yes,
        &sizing(200, dec!(0.20), dec!(2.24)),
        dec!(0.24),
        day(3, 15),
    );
    let t5 = book
        .close(
            "resolution:polymarket/will-b",
            &b,
            Side::No,
            TradeAction::Settle,
            50,
            dec!(0),
            dec!(0),
            day(4, 11),
        )
        .expect("B is held");

    let decided = vec![
        Decided {
            id: "e0",
            market: Some(a.clone()),
            outcome: Outcome::BelowThreshold,
            reason: "|change_pct| 1.2 < min_shift_pct 5",
            at: day(1, 9),
            signal: None,
            trades: vec![],
        },
        Decided {
            id: "e1",
            market: Some(a.clone()),
            outcome: Outcome::Traded,
            reason: "bought 100 yes at 0.40",
            at: day(1, 10),
            signal: signal(Recommendation::BuyYes, dec!(0.10)),
            trades: vec![t1.clone()],
        },
        Decided {
            id: "e2",
            market: Some(b.clone()),
            outcome: Outcome::Traded,
            reason: "bought 50 no at 0.30",
            at: day(1, 12),
            signal: signal(Recommendation::BuyNo, dec!(-0.15)),
            trades: vec![t2.clone()],
        },
        Decided {
            id: "e3",
            market: Some(a.clone()),
            outcome: Outcome::NoTrade,
            reason: "signal says NO_TRADE; closed kalshi/KXA yes (take_profit)",
            at: day(2, 9),
            signal: signal(Recommendation::NoTrade, dec!(0)),
            trades: vec![t3.clone()],
        },
        Decided {
            id: "bad,\"id\"",
            market: None,
            outcome: Outcome::Invalid,
            reason: "price 1.5 is outside (0, 1)",
            at: day(2, 10),
            signal: None,
            trades: vec![],
        },
        Decided {
            id: "e4",
            market: Some(c.clone()),
            outcome: Outcome::Traded,
            reason: "bought 200 yes at 0.20",
            at: day(3, 15),
            signal: signal(Recommendation::BuyYes, dec!(0.04)),
            trades: vec![t4.clone()],
        },
        Decided {
            id: "e5",
            market: Some(c.clone()),
            outcome: Outcome::Cooldown,
            reason: "kalshi/KXC was sent for a signal 30s ago (cooldown 60s)",
            at: day(3, 15),
            signal: None,
            trades: vec![],
        },
        Decided {
            id: "e6",
            market: Some(c.clone()),
            outcome: Outcome::SignalError,
            reason: "signal request failed: 503",
            at: day(5, 10),
            signal: None,
            trades: vec![],
        },
    ];
    let decisions = decided
        .into_iter()
        .enumerate()
        .map(|(seq, d)| DecisionRecord {
            seq: seq as u64,
            event_seq: seq as u64,
            decision: Decision {
                event_id: d.id.to_string(),
                event_type: "price_shift".to_string(),
                market: d.market,
                outcome: d.outcome,
                reason: d.reason.to_string(),
                decided_at: d.at,
                signal: d.signal,
                trades: d.trades,
            },
            signal_raw: None,
        })
        .collect();

    let mut positions = vec![
        ((a.clone(), Side::Yes), None),
        ((b.clone(), Side::No), None),
    ];
    positions.extend(
        book.positions
            .iter()
            .map(|(key, p)| (key.clone(), Some(p.clone()))),
    );
    let mark = |yes: Decimal, at: Timestamp| MarketState {
        last_yes: Some(Price::new(yes).expect("valid literal")),
        last_price_at: Some(at),
        last_signal_at: None,
    };
    let batch = Batch {
        decisions,
        trades: vec![t1, t2, t3, t4, t5],
        state: strategies::Changes {
            positions,
            markets: vec![
                (a, mark(dec!(0.58), day(2, 9))),
                (b, mark(dec!(0.995), day(4, 11))),
                (c, mark(dec!(0.25), day(5, 10))),
            ],
            totals: Some(book.totals.clone()),
            ..Default::default()
        },
        ..Batch::default()
    };
    let store = Store::open(path).expect("a fresh store opens");
    store.commit(&batch).expect("the batch commits");
    store
}
