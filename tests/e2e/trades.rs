//! Events become the right trades: a scripted session whose every decision and every fill was
//! worked out by hand from the formulas.
//!
//! The simulator's signal for a scripted market carries `probability` = the model's hidden
//! probability `q` ([`hidden_probability`], seed 42) and `edge = q - p` at the published price
//! `p`; with `risk_limit = "medium"` it recommends BUY_YES at `edge >= 0.04`, BUY_NO at
//! `edge <= -0.04`, else NO_TRADE. The bot buys side `c` (YES: `p`, NO: `1 - p`) with
//! `w` = q (YES) or 1 - q (NO), then sizes:
//! `c_eff = c + rate·c·(1-c)`, `f* = (w - c_eff)/(1 - c_eff)`,
//! `stake = cash · min(0.25·f*, 0.05)` capped by `0.19 · 10000 − open cost`,
//! `contracts = floor(stake / c_eff)`, `fee = ceil_to_cent(rate·n·c·(1-c))`.
//! With `signal.max_in_flight = 1` the signals, hence the fills, go in event order.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shiftbot::sim::hidden_probability;
use strategies::Platform;

use crate::support::{fresh_price_shift, Setup};

struct Fill {
    event_id: &'static str,
    platform: &'static str,
    market_id: &'static str,
    side: &'static str,
    contracts: u64,
    price: Decimal,
    w: Decimal,
    cost: Decimal,
    fee: Decimal,
    cash_before: Decimal,
    cash_after: Decimal,
}

/// The hand computation, one fill per traded event, in order.
fn expected_fills() -> Vec<Fill> {
    vec![
        // q 0.73, p 0.55: edge 0.18 → BUY_YES. c_eff = 0.55 + 0.07·0.55·0.45 = 0.567325,
        // f* = 0.162675/0.432675 = 0.376 → 0.25·f* = 0.094 > 0.05: stake 10000·0.05 = 500,
        // n = floor(500/0.567325) = 881, cost 484.55, fee ceil(15.263325) = 15.27.
        Fill {
            event_id: "t1",
            platform: "kalshi",
            market_id: "KXE2E-C",
            side: "yes",
            contracts: 881,
            price: dec!(0.55),
            w: dec!(0.73),
            cost: dec!(484.55),
            fee: dec!(15.27),
            cash_before: dec!(10000),
            cash_after: dec!(9500.18),
        },
        // q 0.16, p 0.30: edge -0.14 → BUY_NO at c 0.70, w 0.84, no fee on Polymarket.
        // f* = 0.14/0.30 → capped: stake 9500.18·0.05 = 475.009, n = floor(678.58) = 678.
        Fill {
            event_id: "t2",
            platform: "polymarket",
            market_id: "e2e-a",
            side: "no",
            contracts: 678,
            price: dec!(0.70),
            w: dec!(0.84),
            cost: dec!(474.60),
            fee: dec!(0),
            cash_before: dec!(9500.18),
            cash_after: dec!(9025.58),
        },
        // q 0.14, p 0.20: edge -0.06 → BUY_NO at c 0.80, w 0.86. c_eff = 0.8112,
        // f* = 0.0488/0.1888 = 0.258 → capped: stake 451.279, n = floor(556.31) = 556,
        // fee ceil(556·0.0112 = 6.2272) = 6.23.
        Fill {
            event_id: "t3",
            platform: "kalshi",
            market_id: "KXE2E-D",
            side: "no",
            contracts: 556,
            price: dec!(0.80),
            w: dec!(0.86),
            cost: dec!(444.80),
            fee: dec!(6.23),
            cash_before: dec!(9025.58),
            cash_after: dec!(8574.55),
        },
        // q 0.60, p 0.55: edge 0.05 → BUY_YES. w - c_eff = 0.032675 >= min_edge 0.03;
        // f* = 0.075519, 0.25·f* = 0.018880 < 0.05 (Kelly, not the cap, sizes this one):
        // stake 8574.55·0.018880 = 161.88, n = floor(285.35) = 285, fee ceil(4.937625).
        Fill {
            event_id: "t4",
            platform: "kalshi",
            market_id: "KXE2E-I",
            side: "yes",
            contracts: 285,
            price: dec!(0.55),
            w: dec!(0.60),
            cost: dec!(156.75),
            fee: dec!(4.94),
            cash_before: dec!(8574.55),
            cash_after: dec!(8412.86),
        },
        // q 0.76, p 0.60: BUY_YES, capped stake 420.643, but open cost is 1560.70 of the
        // 1900 allowed: stake = headroom 339.30, n = floor(339.30/0.60) = 565.
        Fill {
            event_id: "t9",
            platform: "polymarket",
            market_id: "e2e-d",
            side: "yes",
            contracts: 565,
            price: dec!(0.60),
            w: dec!(0.76),
            cost: dec!(339.00),
            fee: dec!(0),
            cash_before: dec!(8412.86),
            cash_after: dec!(8073.86),
        },
    ]
}

#[test]
fn scripted_events_become_exactly_the_hand_computed_trades() {
    // The hidden probabilities the hand computation rests on.
    let q = |platform, id| hidden_probability(42, platform, id);
    assert_eq!(q(Platform::Kalshi, "KXE2E-C"), dec!(0.73));
    assert_eq!(q(Platform::Polymarket, "e2e-a"), dec!(0.16));
    assert_eq!(q(Platform::Kalshi, "KXE2E-D"), dec!(0.14));
    assert_eq!(q(Platform::Kalshi, "KXE2E-I"), dec!(0.60));
    assert_eq!(q(Platform::Polymarket, "e2e-e"), dec!(0.44));
    assert_eq!(q(Platform::Kalshi, "KXE2E-L"), dec!(0.55));
    assert_eq!(q(Platform::Polymarket, "e2e-d"), dec!(0.76));
    assert_eq!(q(Platform::Kalshi, "KXE2E-H"), dec!(0.82));

    let script = vec![
        fresh_price_shift(Some("t1"), "kalshi", "KXE2E-C", "0.50", "0.55"),
        fresh_price_shift(Some("t2"), "polymarket", "e2e-a", "0.40", "0.30"),
        fresh_price_shift(Some("t3"), "kalshi", "KXE2E-D", "0.25", "0.20"),
        fresh_price_shift(Some("t4"), "kalshi", "KXE2E-I", "0.50", "0.55"),
        fresh_price_shift(Some("t5"), "polymarket", "e2e-e", "0.38", "0.42"),
        fresh_price_shift(Some("t6"), "kalshi", "KXE2E-L", "0.45", "0.505"),
        fresh_price_shift(Some("t7"), "kalshi", "KXE2E-A", "0.50", "0.51"),
        fresh_price_shift(Some("t8"), "kalshi", "KXE2E-C", "0.60", "0.55"),
        fresh_price_shift(Some("t9"), "polymarket", "e2e-d", "0.50", "0.60"),
        fresh_price_shift(Some("t10"), "kalshi", "KXE2E-H", "0.45", "0.50"),
    ];
    let mut app = Setup::new(script)
        .set("filter.min_shift_pct", 5)
        .set("filter.cooldown", "60s")
        .set("signal.risk_limit", "medium")
        .set("signal.max_in_flight", 1)
        .set("sizing.bankroll", 10000)
        .set("sizing.kelly_fraction", "0.25")
        .set("sizing.max_position_pct", "0.05")
        .set("sizing.max_exposure_pct", "0.19")
        .set("sizing.min_edge", "0.03")
        .set("fees.kalshi.rate", "0.07")
        .set("fees.polymarket.rate", "0")
        .set("execution.mirror", true)
        .spawn();
    let stats = app.sim_stats();

    let mut bot = app.start();
    bot.wait_for_decisions(10);
    // Mirroring follows durability; wait for it so the run is complete before stopping.
    crate::support::eventually("5 shadow trades", || {
        (stats.shadow_trades().len() == 5).then_some(())
    });
    let finished = bot.terminate();

    let fills = expected_fills();
    let ledger = app.ledger();
    assert_eq!(ledger.len(), fills.len(), "{ledger:#?}");
    for (index, (got, want)) in ledger.iter().zip(&fills).enumerate() {
        assert_eq!(got.trade_id, index as u64 + 1);
        assert_eq!(got.event_id, want.event_id);
        assert_eq!(got.platform, want.platform);
        assert_eq!(got.market_id, want.market_id);
        assert_eq!(got.side, want.side, "{}", want.event_id);
        assert_eq!(got.contracts, want.contracts, "{}", want.event_id);
        assert_eq!(got.price, want.price, "{}", want.event_id);
        assert_eq!(got.win_probability, Some(want.w), "{}", want.event_id);
        assert_eq!(got.cost, want.cost, "{}", want.event_id);
        assert_eq!(got.fee, want.fee, "{}", want.event_id);
        assert_eq!(got.cash_before, want.cash_before, "{}", want.event_id);
        assert_eq!(got.cash_after, want.cash_after, "{}", want.event_id);
    }

    let decisions = app.decisions();
    assert_eq!(decisions.len(), 10);
    let by_id: BTreeMap<&str, _> = decisions.iter().map(|d| (d.event_id.as_str(), d)).collect();
    assert_eq!(by_id.len(), 10, "one decision per event");
    let expect = [
        ("t1", "KXE2E-C", "traded", "x881 @ 0.55"),
        ("t2", "e2e-a", "traded", "x678 @ 0.70"),
        ("t3", "KXE2E-D", "traded", "x556 @ 0.80"),
        ("t4", "KXE2E-I", "traded", "x285 @ 0.55"),
        ("t5", "e2e-e", "no_trade", "NO_TRADE"),
        ("t6", "KXE2E-L", "edge_below_min", "min_edge 0.03"),
        ("t7", "KXE2E-A", "below_threshold", "min_shift_pct"),
        ("t8", "KXE2E-C", "cooldown", "cooldown"),
        ("t9", "e2e-d", "traded", "x565 @ 0.60"),
        ("t10", "KXE2E-H", "exposure_limit", "exposure"),
    ];
    for (id, market_id, outcome, reason) in expect {
        let decision = by_id[id];
        assert_eq!(decision.event_type, "price_shift");
        assert_eq!(decision.market_id.as_deref(), Some(market_id), "{id}");
        let platform = if market_id.starts_with("KX") {
            "kalshi"
        } else {
            "polymarket"
        };
        assert_eq!(decision.platform.as_deref(), Some(platform), "{id}");
        assert_eq!(decision.outcome, outcome, "{id}: {}", decision.reason);
        assert!(
            decision.reason.contains(reason),
            "{id}: reason {:?} lacks {reason:?}",
            decision.reason
        );
    }

    // Each decision was logged once, with the same outcome; trades with side/contracts/cost.
    let logged = finished.decisions();
    assert_eq!(logged.len(), 10);
    for line in &logged {
        assert_eq!(line.outcome, by_id[line.event_id.as_str()].outcome);
    }
    for fill in &fills {
        let line = logged
            .iter()
            .find(|l| l.event_id == fill.event_id)
            .expect("logged");
        assert_eq!(line.side.as_deref(), Some(fill.side));
        assert_eq!(line.contracts, Some(fill.contracts.to_string()));
        let cost: Decimal = line
            .cost
            .as_deref()
            .expect("cost")
            .parse()
            .expect("decimal");
        assert_eq!(cost, fill.cost);
        assert_eq!(line.market, format!("{}/{}", fill.platform, fill.market_id));
    }

    // What the simulator was asked: one signal per screened event, in order, with both
    // spellings of the market.
    let bodies = stats.signal_bodies();
    let asked: Vec<(String, String)> = [
        ("kalshi", "KXE2E-C"),
        ("polymarket", "e2e-a"),
        ("kalshi", "KXE2E-D"),
        ("kalshi", "KXE2E-I"),
        ("polymarket", "e2e-e"),
        ("kalshi", "KXE2E-L"),
        ("polymarket", "e2e-d"),
        ("kalshi", "KXE2E-H"),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    assert_eq!(bodies.len(), asked.len(), "{bodies:#?}");
    for (body, (platform, market_id)) in bodies.iter().zip(&asked) {
        assert_eq!(
            body,
            &serde_json::json!({
                "platform": platform,
                "market_id": market_id,
                "market": format!("{platform}/{market_id}"),
                "risk_limit": "medium",
            })
        );
    }

    // Every fill mirrored exactly once, with the fill's cost as size_usd.
    let mut mirrored: Vec<(String, String, String, Decimal)> = stats
        .shadow_trades()
        .iter()
        .map(|body| {
            (
                body["ticker"].as_str().expect("ticker").to_string(),
                body["platform"].as_str().expect("platform").to_string(),
                body["side"].as_str().expect("side").to_string(),
                serde_json::from_value(body["size_usd"].clone()).expect("size_usd"),
            )
        })
        .collect();
    mirrored.sort();
    let mut want: Vec<_> = fills
        .iter()
        .map(|f| {
            (
                f.market_id.to_string(),
                f.platform.to_string(),
                f.side.to_string(),
                f.cost,
            )
        })
        .collect();
    want.sort();
    assert_eq!(mirrored, want);
    assert_eq!(stats.shadow_calls(), 5);
}
