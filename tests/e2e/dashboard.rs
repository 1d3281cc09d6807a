//! The dashboard in a real headless Chromium against the real binary on the simulator: every
//! page opens and shows what `report --json` and `positions --json` say, a new trade appears
//! without a reload, a hostile market id renders as text, and each page is saved as a
//! screenshot under `target/screenshots/` (CI keeps them). Also, without a browser: the equity
//! curve moves between trades and ends at `report`'s equity.

use serde_json::Value;

use crate::notify::admin_of;
use crate::support::browser::browser;
use crate::support::{eventually, fresh_price_shift, model_price_shifts, Setup};

/// A market id that would run script if it were ever written as HTML.
const HOSTILE: &str = "<img src=x onerror=window.__xss=1>";

fn get_json(url: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        reqwest::get(url)
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON")
    })
}

/// A live stream: the hostile event first, then the model's shifts at 15 a second.
fn live_script(n: u64) -> Vec<shiftbot::sim::ScriptedEvent> {
    let mut script = vec![fresh_price_shift(
        Some("hostile-1"),
        "kalshi",
        HOSTILE,
        "0.40",
        "0.52",
    )];
    script.extend(model_price_shifts(77, 4, n, 15));
    script
}

#[test]
fn every_page_shows_the_book_live_and_escapes_what_it_shows() {
    let Some(browser) = browser() else { return };
    let script = live_script(450);
    let n = script.len();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 15)
        .screen_every_event()
        .set("report.snapshot_every", "1s")
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    let page = format!("http://{admin}/");
    let api = format!("http://{admin}/api/v1");

    // Trades page, open while the bot trades: a newer trade appears without a reload.
    let first_trade = eventually("a first trade", || {
        let trades = get_json(&format!("{api}/trades?limit=1"));
        trades["items"][0]["trade_id"].as_u64()
    });
    browser
        .run(browser.client.goto(&format!("{page}#trades")))
        .expect("open the trades page");
    browser.eval("window.__sameDocument = 'yes'; return null;");
    eventually("the trades page to load", || {
        (browser.data("loaded").as_deref() == Some("trades")).then_some(())
    });
    let top = |b: &crate::support::browser::Browser| -> Option<u64> {
        b.eval(
            "const c = document.querySelector('#trades tr td'); return c ? c.textContent : null;",
        )
        .as_str()
        .and_then(|s| s.parse().ok())
    };
    let shown = eventually("the first trade on the page", || {
        top(&browser).filter(|t| *t >= first_trade)
    });
    let newer = eventually("a newer trade to appear without a reload", || {
        top(&browser).filter(|t| *t > shown)
    });
    assert!(newer > shown);
    assert_eq!(
        browser.eval("return window.__sameDocument || null;"),
        Value::String("yes".into()),
        "the page was not reloaded"
    );
    assert!(
        browser.data("lastSeq").is_some(),
        "the live stream delivered decisions"
    );

    // Once every event is decided, the numbers hold still: compare them with the CLI's.
    running.wait_for_decisions(n);
    let (code, out, err) = app.output_with_env(
        &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
        &["report", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).expect("report JSON");
    browser
        .run(browser.client.goto(&format!("{page}#overview")))
        .expect("open the overview");
    let equity = report["equity"].as_str().expect("equity").to_string();
    eventually("the overview to show report's equity", || {
        (browser.data("loaded").as_deref() == Some("overview")
            && browser.text_of("equity") == equity)
            .then_some(())
    });
    for (id, key) in [
        ("cash", "cash"),
        ("realized", "realized_pnl"),
        ("unrealized", "unrealized_pnl"),
        ("fees", "fees"),
    ] {
        assert_eq!(
            browser.text_of(id),
            report[key].as_str().expect(key),
            "{id}"
        );
    }
    assert_eq!(
        browser.text_of("trade-count"),
        report["trades"]["total"].to_string()
    );
    assert_eq!(browser.text_of("state"), "running");
    eventually("the chart to draw", || {
        browser
            .eval("const i = document.getElementById('chart'); return i.complete && i.naturalWidth > 0;")
            .as_bool()
            .filter(|drawn| *drawn)
    });
    browser.screenshot("overview");

    let (code, out, err) = app.output_with_env(
        &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
        &["positions", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let cli: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    browser
        .run(browser.client.goto(&format!("{page}#positions")))
        .expect("open positions");
    let rows = eventually("the positions table", || {
        let rows = browser.eval(
            "if (document.body.dataset.loaded !== 'positions') return null;\
             return [...document.querySelectorAll('#positions tr')].map(r => [...r.children].map(c => c.textContent));",
        );
        rows.as_array().cloned()
    });
    assert_eq!(rows.len(), cli.len());
    for (row, position) in rows.iter().zip(&cli) {
        assert_eq!(row[1], position["market_id"]);
        assert_eq!(row[3], position["contracts"].to_string());
        assert_eq!(row[9], position["unrealized_pnl"]);
    }
    browser.screenshot("positions");

    browser
        .run(browser.client.goto(&format!("{page}#trades")))
        .expect("open trades");
    eventually("the trades page", || {
        (browser.data("loaded").as_deref() == Some("trades")).then_some(())
    });
    browser.screenshot("trades");

    // The hostile id, through the decisions page's market filter: shown as text, never run.
    let filter = serde_json::to_string(HOSTILE).expect("JSON string");
    browser.eval(&format!(
        "location.hash = '#decisions'; document.querySelector('#decision-filter [name=market]').value = {filter}; return null;"
    ));
    browser.eval("document.querySelector('#decision-filter button').click(); return null;");
    let cells = eventually("the hostile decision", || {
        let cells = browser.eval(
            "return [...document.querySelectorAll('#decisions td')].map(c => c.textContent);",
        );
        cells
            .as_array()
            .filter(|c| c.iter().any(|t| t == HOSTILE))
            .cloned()
    });
    assert!(cells.iter().any(|t| t == HOSTILE));
    assert_eq!(
        browser.eval("return document.querySelectorAll('main img:not(#chart)').length;"),
        Value::from(0),
        "the market id became an element"
    );
    assert_eq!(browser.eval("return window.__xss || null;"), Value::Null);
    let funnel = browser.eval(
        "return [...document.querySelectorAll('#funnel tr')].map(r => r.children[1].textContent);",
    );
    let (_, cli, _) = app.output_with_env(
        &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
        &["decisions", "--summary", "--json"],
    );
    let cli: Value = serde_json::from_str(&cli).expect("JSON");
    let expected: Vec<Value> = ["received", "passed_threshold", "signalled", "traded"]
        .iter()
        .map(|stage| Value::String(cli["funnel"][stage].to_string()))
        .collect();
    assert_eq!(
        funnel,
        Value::Array(expected),
        "the funnel is decisions --summary's"
    );
    assert_eq!(cli["funnel"]["received"], n, "every event decided once");
    browser.screenshot("decisions");
    running.terminate();
}

/// Prices move between trades, so the curve drawn through the snapshots moves between them,
/// and its last point is the book's equity as `report` says.
#[test]
fn the_equity_curve_moves_between_trades_and_ends_at_the_reported_equity() {
    // One market whose trades a cooldown keeps seconds apart and no exit rule closes, so that
    // an open position's price moves (and 1 s snapshots record it) between trades.
    let script = model_price_shifts(78, 1, 300, 0);
    let n = script.len();
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 40)
        .screen_every_event()
        .set("report.snapshot_every", "1s")
        .set("filter.cooldown", "2s")
        .set("exits.take_profit", "0")
        .set("exits.stop_loss", "0")
        .set("exits.close_on_opposite_signal", "false")
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    running.wait_for_decisions(n);
    let (code, out, err) = app.output_with_env(
        &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
        &["report", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).expect("report JSON");
    let curve = get_json(&format!("http://{admin}/api/v1/equity"));
    let points = curve["points"].as_array().expect("points");
    assert_eq!(points.last().expect("a point")["equity"], report["equity"]);
    let (code, out, _) = app.output_with_env(
        &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
        &["ledger", "--json"],
    );
    assert_eq!(code, 0);
    let placed: Vec<String> = out
        .lines()
        .map(|l| {
            let t: Value = serde_json::from_str(l).expect("JSON");
            t["placed_at"].as_str().expect("placed_at").to_string()
        })
        .collect();
    assert!(placed.len() >= 2, "the scenario trades: {}", placed.len());
    // Between some two consecutive trades the curve takes a value other than the one it had
    // just after the first of them: it is not a step function of the trades.
    let at = |p: &Value| {
        chrono::DateTime::parse_from_rfc3339(p["at"].as_str().expect("at")).expect("time")
    };
    let time = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time");
    let moved = placed.windows(2).any(|pair| {
        let (from, to) = (time(&pair[0]), time(&pair[1]));
        let inside: Vec<&Value> = points
            .iter()
            .filter(|p| at(p) >= from && at(p) < to)
            .collect();
        inside
            .first()
            .is_some_and(|first| inside.iter().any(|p| p["equity"] != first["equity"]))
    });
    assert!(
        moved,
        "the curve is flat between every two trades: {points:?}"
    );
    running.terminate();
}

/// The dashboard under 100 decisions a second: the bot's decision rate with the page open and
/// following live against the same stream without it, and how late the page's own timers run
/// (its responsiveness). A measurement, not a test of speed: it prints, and asserts only that
/// every event was decided. Run:
/// `cargo test --release --test e2e dashboard_under_load -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; see the doc comment for the command"]
fn dashboard_under_load() {
    const RATE: u32 = 100;
    const EVENTS: u64 = 3000;
    let measure = |with_page: bool| -> (f64, Option<Value>) {
        let script = model_price_shifts(91, 8, EVENTS, RATE);
        let n = script.len();
        let mut app = Setup::new(script)
            .sim(|sim| sim.events_per_second = RATE)
            .screen_every_event()
            .spawn();
        let mut running = app.start();
        let admin = admin_of(&mut running);
        let page = with_page.then(|| {
            let browser = browser().expect("a browser");
            browser
                .run(browser.client.goto(&format!("http://{admin}/#overview")))
                .expect("open the overview");
            browser
        });
        // Event-loop lag: a 50 ms timer, re-armed for 20 s; how late each one fires.
        if let Some(browser) = &page {
            browser.eval(
                "window.__lags = []; let last = performance.now();\
                 const tick = () => { const now = performance.now(); window.__lags.push(now - last - 50); last = now;\
                   if (window.__lags.length < 400) setTimeout(tick, 50); };\
                 setTimeout(tick, 50); return null;",
            );
        }
        running.wait_for_decisions(n);
        let times: Vec<chrono::DateTime<chrono::FixedOffset>> = running
            .logs()
            .iter()
            .filter(|l| l["message"] == "decision")
            .filter_map(|l| l["timestamp"].as_str())
            .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .collect();
        let span =
            (*times.last().expect("decisions") - times[0]).num_milliseconds() as f64 / 1000.0;
        let rate = (times.len() - 1) as f64 / span;
        let lags = page.as_ref().map(|browser| {
            eventually("the lag probe", || {
                let lags = browser.eval("return window.__lags.length >= 400 ? window.__lags : null;");
                lags.as_array().cloned()
            });
            browser.eval(
                "const l = [...window.__lags].sort((a, b) => a - b);\
                 return { p50: l[Math.floor(l.length * 0.5)], p99: l[Math.floor(l.length * 0.99)], max: l[l.length - 1],\
                          refreshes: Number(document.body.dataset.refreshes), last_seq: document.body.dataset.lastSeq };",
            )
        });
        running.terminate();
        drop(page);
        (rate, lags)
    };
    let (alone, _) = measure(false);
    let (watched, page) = measure(true);
    println!("decisions/s without the dashboard: {alone:.1}");
    println!("decisions/s with the dashboard open and live: {watched:.1}");
    println!(
        "page timer lateness (ms) and refreshes: {}",
        page.unwrap_or_default()
    );
}

/// Off loopback the data needs the token: the page asks for it once, keeps it for the tab,
/// and then shows the book; a wrong token is refused and said so.
#[test]
fn off_loopback_the_page_asks_for_the_token_once() {
    let Some(browser) = browser() else { return };
    const TOKEN: &str = "dash-T0ken-4c1e";
    let mut app = Setup::new(model_price_shifts(79, 3, 60, 0))
        .sim(|sim| sim.events_per_second = 50)
        .set("admin.listen", "0.0.0.0:0")
        .env("SHIFTBOT_ADMIN_TOKEN", TOKEN)
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    let port = admin.rsplit(':').next().expect("a port");
    let page = format!("http://127.0.0.1:{port}/#overview");
    browser
        .run(browser.client.goto(&page))
        .expect("open the page");
    let form_shown = || {
        browser
            .eval("return !document.getElementById('token-form').hidden;")
            .as_bool()
            .filter(|shown| *shown)
    };
    eventually("the token form", form_shown);
    assert_eq!(
        browser.data("loaded"),
        None,
        "nothing shown without the token"
    );
    let submit = |token: &str| {
        let token = serde_json::to_string(token).expect("JSON");
        browser.eval(&format!(
            "document.getElementById('token').value = {token};\
             document.querySelector('#token-form button').click(); return null;"
        ));
    };
    submit("not-the-token");
    eventually("the refusal", || {
        (form_shown().is_some() && browser.text_of("token-error").contains("refused")).then_some(())
    });
    submit(TOKEN);
    eventually("the overview with the token", || {
        (browser.data("loaded").as_deref() == Some("overview")).then_some(())
    });
    assert_eq!(
        browser.eval("return sessionStorage.getItem('shiftbot-admin-token');"),
        Value::String(TOKEN.into()),
        "kept for the tab"
    );
    // A reload keeps the session: no second prompt.
    browser.run(browser.client.refresh()).expect("reload");
    eventually("the overview after a reload", || {
        (browser.data("loaded").as_deref() == Some("overview")).then_some(())
    });
    assert!(form_shown().is_none());
    running.terminate();
}
