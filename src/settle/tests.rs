//! Settlement through a real sled store in a temp dir: what is written, idempotence, the
//! command's output, and the runner's decision to settle or wait.

use chrono::TimeZone;
use rust_decimal_macros::dec;
use strategies::{
    Core, CoreConfig, Event, EventBody, MarketKey, Platform, Price, Recommendation, Signal,
    SignalReply, Step, TradeAction, WhaleAlert,
};

use super::*;
use crate::configuration::LoadOptions;
use crate::resolution::ResolutionStatus;

fn t(sec: i64) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 19, 18, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::seconds(sec)
}

fn fed() -> MarketKey {
    MarketKey::new(Platform::Kalshi, "KXFED-26MAR19").expect("market")
}

fn price(value: rust_decimal::Decimal) -> Price {
    Price::new(value).expect("price")
}

/// The issue's example entry: 1199 YES at 0.40 (cost 479.60, fee 20.15, cash 9500.25).
/// Exits off, so marks to 0.99/0.01 only move the price.
fn core_holding_yes() -> Core {
    let mut config = CoreConfig::default();
    config.exits.take_profit = None;
    config.exits.stop_loss = None;
    config.exits.max_hold = None;
    let mut core = Core::new(config);
    let event = Event {
        id: "e1".to_string(),
        event_type: "price_shift".to_string(),
        received_at: t(0),
        body: EventBody::PriceShift(strategies::PriceShift {
            market: fed(),
            old_yes: price(dec!(0.30)),
            new_yes: price(dec!(0.40)),
            change_pct: dec!(33),
            timestamp: None,
        }),
    };
    let Step::NeedSignal(ticket) = core.on_event(&event, t(0)) else {
        panic!("expected a signal request")
    };
    let signal = Signal {
        recommendation: Recommendation::BuyYes,
        edge: dec!(0.15),
        probability: None,
        expires_at: None,
        freshness: None,
    };
    let d = core.on_signal(&ticket, SignalReply::Signal(signal), t(1));
    assert_eq!(d.trades.len(), 1, "{}", d.reason);
    core
}

fn mark(core: &mut Core, yes: rust_decimal::Decimal, sec: i64) {
    let whale = Event {
        id: format!("w{sec}"),
        event_type: "whale_alert".to_string(),
        received_at: t(sec),
        body: EventBody::WhaleAlert(WhaleAlert {
            market: fed(),
            side: None,
            flow: None,
            price: Some(price(yes)),
            timestamp: None,
        }),
    };
    core.on_event(&whale, t(sec));
}

/// A store holding the core's book, as the runner would have written it.
fn store_with(core: &Core, dir: &tempfile::TempDir) -> Store {
    let store = Store::open(&dir.path().join("store")).expect("open");
    let batch = Batch {
        state: strategies::Changes {
            positions: core
                .book()
                .positions
                .values()
                .map(|p| ((p.market.clone(), p.side), Some(p.clone())))
                .collect(),
            totals: Some(core.book().totals.clone()),
            ..Default::default()
        },
        ..Batch::default()
    };
    store.commit(&batch).expect("commit");
    store
}

fn resolution(status: ResolutionStatus) -> Resolution {
    Resolution {
        market: fed(),
        status,
        closed_at: None,
        determined_at: None,
        finalized_at: None,
    }
}

/// YES wins: 1199 paid 1199.00, realized 1199 - 479.60 - 20.15 = 699.25, cash 10699.25; the
/// position, trade and totals are in the store, and a second settlement writes nothing.
#[test]
fn settling_in_the_store_pays_and_persists_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with(&core_holding_yes(), &dir);
    let trades = settle_in_store(&store, &fed(), Side::Yes, t(100)).expect("settle");
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(
        (trade.action, trade.side, trade.contracts, trade.price),
        (TradeAction::Settle, Side::Yes, 1199, dec!(1))
    );
    assert_eq!((trade.cost, trade.fee), (dec!(1199), dec!(0)));
    assert_eq!(trade.realized_pnl, Some(dec!(699.25)));
    assert_eq!(trade.event_id, "manual-settle:kalshi/KXFED-26MAR19");
    assert_eq!(trade.trade_id, 2);

    let loaded = store.load().expect("load");
    assert!(loaded.positions.is_empty());
    let totals = loaded.totals.expect("totals");
    assert_eq!(totals.cash, dec!(10699.25));
    assert_eq!(totals.realized_pnl, dec!(699.25));
    assert_eq!(totals.next_trade_id, 3);
    let stored: Vec<_> = store.trades().collect::<Result<_, _>>().expect("trades");
    assert_eq!(stored, trades);

    assert!(settle_in_store(&store, &fed(), Side::Yes, t(200))
        .expect("again")
        .is_empty());
    assert!(settle_in_store(&store, &fed(), Side::No, t(200))
        .expect("other side")
        .is_empty());
    assert_eq!(store.load().expect("load").totals, Some(totals));
    assert_eq!(store.trades().count(), 1);
}

#[test]
fn a_store_that_never_ran_has_nothing_to_settle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("open");
    assert!(settle_in_store(&store, &fed(), Side::No, t(0))
        .expect("settle")
        .is_empty());
    assert!(store.load().expect("load").totals.is_none());
}

fn settings_for(dir: &tempfile::TempDir) -> Settings {
    let path = dir.path().join("store");
    Settings::load(LoadOptions {
        file: None,
        env: vec![(
            "SHIFTBOT__STORAGE__PATH".to_string(),
            path.display().to_string(),
        )],
    })
    .expect("settings")
}

fn run_command(settings: &Settings, line: &[&str]) -> Result<String, SettleError> {
    #[derive(clap::Parser)]
    struct Probe {
        #[command(flatten)]
        args: SettleArgs,
    }
    let probe = <Probe as clap::Parser>::try_parse_from(
        std::iter::once("settle").chain(line.iter().copied()),
    )
    .expect("arguments parse");
    let mut out = Vec::new();
    settle_command(settings, &probe.args, t(100), &mut out)?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

/// NO wins: the YES holder is paid 0 and realizes -(479.60 + 20.15) = -499.75; cash stays.
#[test]
fn the_command_prints_what_was_paid() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(store_with(&core_holding_yes(), &dir));
    let settings = settings_for(&dir);
    let text = run_command(&settings, &["kalshi/KXFED-26MAR19", "no"]).expect("settles");
    assert_eq!(
        text,
        "settled kalshi/KXFED-26MAR19 no won: trade 2 yes x1199 paid 0.00 realized -499.75\n\
         cash 9500.25\n"
    );
    let text = run_command(&settings, &["kalshi/KXFED-26MAR19", "NO"]).expect("idempotent");
    assert_eq!(
        text,
        "nothing to settle: no open position in kalshi/KXFED-26MAR19\n"
    );
}

#[test]
fn the_command_prints_ledger_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(store_with(&core_holding_yes(), &dir));
    let settings = settings_for(&dir);
    let text = run_command(&settings, &["--json", "kalshi/KXFED-26MAR19", "yes"]).expect("settles");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    let t = &lines[0];
    assert_eq!(t["action"], "settle");
    assert_eq!(t["side"], "yes");
    assert_eq!(t["contracts"], 1199);
    assert_eq!(t["price"], "1");
    assert_eq!(t["cost"], "1199");
    assert_eq!(t["fee"], "0");
    assert_eq!(t["realized_pnl"], "699.25");
    assert_eq!(t["cash_after"], "10699.25");
    assert_eq!(t["event_id"], "manual-settle:kalshi/KXFED-26MAR19");
    assert_eq!(
        run_command(&settings, &["--json", "kalshi/KXFED-26MAR19", "yes"]).expect("again"),
        ""
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    #[derive(Debug, clap::Parser)]
    struct Probe {
        #[command(flatten)]
        args: SettleArgs,
    }
    for line in [
        &["KXFED", "yes"][..],
        &["nyse/KXFED", "yes"],
        &["kalshi/", "yes"],
        &["kalshi/KXFED", "maybe"],
        &["kalshi/KXFED"],
    ] {
        let err = <Probe as clap::Parser>::try_parse_from(
            std::iter::once("settle").chain(line.iter().copied()),
        )
        .expect_err("usage error");
        assert_eq!(err.exit_code(), 2, "{line:?}");
    }
}

#[test]
fn a_locked_store_says_to_stop_the_bot() {
    let err = SettleError::from(StoreError::Locked {
        path: "data/store".into(),
    });
    assert_eq!(
        err.to_string(),
        "store data/store is in use by another shiftbot process (sled allows one process per \
         store); stop `shiftbot run` first (a running bot settles resolved markets itself)"
    );
}

/// The runner settles a resolved market by its last price, waits while the price is not
/// decisive or the market not resolved, and settles only once.
#[test]
fn the_runner_settles_resolved_markets_by_the_last_price() {
    let mut timeline = strategies::Timeline::new(core_holding_yes());
    for status in [ResolutionStatus::Active, ResolutionStatus::Closed] {
        mark(timeline.core_mut(), dec!(0.99), 5);
        assert!(settle_resolved(&mut timeline, &resolution(status), t(10)).is_none());
    }
    mark(timeline.core_mut(), dec!(0.98), 6);
    let determined = resolution(ResolutionStatus::Determined);
    assert!(settle_resolved(&mut timeline, &determined, t(10)).is_none());
    assert_eq!(
        timeline.core().book().positions.len(),
        1,
        "waits for a decisive price"
    );

    mark(timeline.core_mut(), dec!(0.01), 7);
    let batch = settle_resolved(
        &mut timeline,
        &resolution(ResolutionStatus::Finalized),
        t(10),
    )
    .expect("settles NO");
    let core = timeline.core();
    assert_eq!(batch.trades.len(), 1);
    let trade = &batch.trades[0];
    assert_eq!((trade.side, trade.price), (Side::Yes, dec!(0)));
    assert_eq!(trade.event_id, "resolution:kalshi/KXFED-26MAR19:finalized");
    assert_eq!(trade.realized_pnl, Some(dec!(-499.75)));
    assert_eq!(batch.state.positions, vec![((fed(), Side::Yes), None)]);
    assert_eq!(batch.state.totals.as_ref(), Some(&core.book().totals));
    assert!(batch.outbox.is_empty() && batch.decisions.is_empty());
    let again = resolution(ResolutionStatus::Finalized);
    assert!(settle_resolved(&mut timeline, &again, t(11)).is_none());
}

// ---------------------------------------------------------------------------------------------
// Through the runner's engine and group-commit writer, with a real store.

struct FixedClock(Timestamp);

impl crate::clock::Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

fn engine_for(
    core: Core,
    store: &Store,
    mirror_tx: Option<tokio::sync::mpsc::UnboundedSender<crate::mirror::MirrorOrder>>,
) -> (
    crate::runner::Engine,
    tokio::sync::mpsc::UnboundedReceiver<crate::store::WriterEvent>,
) {
    let (committer, durable) = crate::store::Committer::start(store.clone());
    let (cursor_tx, _cursor_rx) = tokio::sync::watch::channel(None);
    let engine = crate::runner::Engine::new(
        core,
        store.clone(),
        committer,
        std::sync::Arc::new(FixedClock(t(50))),
        crate::store::Counters::default(),
        cursor_tx,
        mirror_tx,
    );
    (engine, durable)
}

fn raw(id: &str, data: &str, sec: i64) -> crate::feed::RawEvent {
    crate::feed::RawEvent {
        id: Some(id.to_string()),
        sse_event: None,
        data: data.to_string(),
        received_at: t(sec),
    }
}

/// A poll answer settles through the engine: the trade, the closed position and the totals are
/// durable together after the writer has run.
#[test]
fn the_engine_settles_a_resolved_market_durably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with(&core_holding_yes(), &dir);
    let (mirror_tx, mut mirror_rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut engine, mut durable) = engine_for(core_holding_yes(), &store, Some(mirror_tx));
    let whale =
        r#"{"type":"whale_alert","platform":"kalshi","market_id":"KXFED-26MAR19","price":0.99}"#;
    engine
        .on_raw(raw("w1", whale, 40), std::time::Instant::now())
        .expect("event");
    engine.on_resolution(resolution(ResolutionStatus::Determined));
    engine.on_resolution(resolution(ResolutionStatus::Finalized));
    engine.close(&mut durable).expect("flushed");

    let loaded = store.load().expect("load");
    assert!(loaded.positions.is_empty());
    assert_eq!(loaded.totals.map(|t| t.cash), Some(dec!(10699.25)));
    let trades: Vec<_> = store.trades().collect::<Result<_, _>>().expect("trades");
    assert_eq!(trades.len(), 1, "settled once: {trades:?}");
    assert_eq!(trades[0].action, TradeAction::Settle);
    assert_eq!(trades[0].placed_at, t(50));
    assert_eq!(
        trades[0].event_id,
        "resolution:kalshi/KXFED-26MAR19:determined"
    );
    assert!(loaded.outbox.is_empty());
    assert!(
        mirror_rx.try_recv().is_err(),
        "a settlement is not mirrored"
    );
}

/// An exit rides along with the event's decision and is persisted with it, but is not sent to
/// the shadow-trade mirror (which records buys).
#[test]
fn the_engine_persists_exits_without_mirroring_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = core_holding_yes();
    let mut config = core.config().clone();
    config.exits.take_profit = Some(dec!(0.15));
    core = Core::restore(
        config,
        core.book().clone(),
        core.markets().clone(),
        core.budget().clone(),
        None,
    );
    let store = store_with(&core, &dir);
    let (mirror_tx, mut mirror_rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut engine, mut durable) = engine_for(core, &store, Some(mirror_tx));
    let small_move = r#"{"type":"price_shift","platform":"kalshi","market_id":"KXFED-26MAR19","old_yes":0.54,"new_yes":0.55,"change_pct":1.8}"#;
    engine
        .on_raw(raw("e2", small_move, 40), std::time::Instant::now())
        .expect("event");
    engine.close(&mut durable).expect("flushed");

    let loaded = store.load().expect("load");
    assert!(loaded.positions.is_empty());
    let trades: Vec<_> = store.trades().collect::<Result<_, _>>().expect("trades");
    assert_eq!(trades.len(), 1);
    assert_eq!(
        (
            trades[0].action,
            trades[0].price,
            trades[0].event_id.as_str()
        ),
        (TradeAction::Close, dec!(0.55), "e2")
    );
    assert_eq!(trades[0].realized_pnl, Some(dec!(138.92)));
    let decisions: Vec<_> = store
        .decisions()
        .collect::<Result<_, _>>()
        .expect("decisions");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision.trades, trades);
    assert!(loaded.outbox.is_empty());
    assert!(mirror_rx.try_recv().is_err(), "an exit is not mirrored");
}

/// A settlement takes its time from the engine's decision clock, so that a recording places it
/// among the events in the order it happened: an event stamped before it by the feed but taken
/// after it (it waited in the channel) moves past it, and a poll that settles nothing takes no
/// time. `export-events` then writes the settlement line exactly between the two.
#[test]
fn a_settlement_takes_its_time_from_the_decision_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with(&core_holding_yes(), &dir);
    let (mut engine, mut durable) = engine_for(core_holding_yes(), &store, None);
    let whale = |price: &str| {
        format!(
            r#"{{"type":"whale_alert","platform":"kalshi","market_id":"KXFED-26MAR19","price":{price}}}"#
        )
    };
    let arrived = std::time::Instant::now;
    engine
        .on_raw(raw("w1", &whale("0.50"), 40), arrived())
        .expect("event");
    // Resolved, but 0.50 is not decisive: nothing settles, the clock (t(50)) is not taken.
    engine.on_resolution(resolution(ResolutionStatus::Determined));
    engine
        .on_raw(raw("w2", &whale("0.99"), 45), arrived())
        .expect("event");
    engine.on_resolution(resolution(ResolutionStatus::Finalized));
    // Stamped at t(48), taken after the settlement at t(50).
    engine
        .on_raw(raw("w3", &whale("0.99"), 48), arrived())
        .expect("event");
    engine.close(&mut durable).expect("flushed");

    let received: Vec<(String, Timestamp)> = store
        .events()
        .map(|e| e.map(|e| (e.id, e.received_at)))
        .collect::<Result<_, _>>()
        .expect("events");
    let settled_at = t(50);
    assert_eq!(
        received,
        vec![
            ("w1".to_string(), t(40)),
            ("w2".to_string(), t(45)),
            (
                "w3".to_string(),
                settled_at + chrono::Duration::nanoseconds(1)
            ),
        ]
    );
    let trades: Vec<_> = store.trades().collect::<Result<_, _>>().expect("trades");
    assert_eq!(trades.len(), 1);
    assert_eq!(
        (trades[0].action, trades[0].placed_at),
        (TradeAction::Settle, settled_at)
    );

    let mut out = Vec::new();
    crate::replay::export_events(&store, None, &mut out).expect("export");
    let ids: Vec<String> = String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).expect("JSON");
            line["id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(
        ids,
        [
            "w1",
            "w2",
            "resolution:kalshi/KXFED-26MAR19:finalized",
            "w3"
        ]
    );
}
