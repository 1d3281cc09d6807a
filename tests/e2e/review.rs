//! The review commands while `shiftbot run` holds the store: sled lets one process open it, so
//! `positions`, `report`, `ledger` and `decisions` are answered by the running bot's admin
//! listener, and agree with what the store says once the bot has stopped.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::support::{LedgerRow, Setup, TestApp};

/// Events the embedded simulator sends before going quiet.
const EVENTS: usize = 300;

/// Run a command with `admin.listen` pointing at `admin`; returns (code, stdout, stderr).
fn review(app: &TestApp, admin: &str, args: &[&str]) -> (i32, String, String) {
    app.output_with_env(&[("SHIFTBOT__ADMIN__LISTEN", admin)], args)
}

fn ok(app: &TestApp, admin: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = review(app, admin, args);
    assert_eq!(code, 0, "shiftbot {} failed: {stderr}", args.join(" "));
    stdout
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("decimals are JSON strings: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// A report without what depends on the instant it was made. The equity curve ends at that
/// instant, so when the book's equity now is its low, the trough is dated now (and a later
/// snapshot at the same equity moves it back): the drawdown's size stays, its times go.
fn timeless(mut report: Value) -> Value {
    let object = report.as_object_mut().expect("an object");
    for key in ["as_of", "daily", "sharpe", "sharpe_days"] {
        object.remove(key);
    }
    if let Some(drawdown) = object
        .get_mut("max_drawdown")
        .and_then(Value::as_object_mut)
    {
        drawdown.remove("peak_at");
        drawdown.remove("trough_at");
    }
    report
}

/// Positions without their age.
fn ageless(positions: &str) -> Vec<Value> {
    json_lines(positions)
        .into_iter()
        .map(|mut p| {
            p.as_object_mut().expect("an object").remove("age_seconds");
            p
        })
        .collect()
}

#[test]
fn review_commands_are_answered_by_the_running_bot() {
    let mut app = Setup::embedded_default()
        .env("SHIFTBOT__SIM__EVENTS_PER_SECOND", "300")
        .env("SHIFTBOT__SIM__TOTAL_EVENTS", &EVENTS.to_string())
        .env("SHIFTBOT__SIGNAL__MAX_PER_MINUTE", "0")
        // Every event type, so that every event the simulator numbers gets a decision.
        .env(
            "SHIFTBOT__FEED__EVENTS",
            "price_shift,whale_alert,analysis_complete",
        )
        .env("SHIFTBOT__ADMIN__LISTEN", "127.0.0.1:0")
        .spawn();
    let mut bot = app.start();
    let listening = bot.wait_for_message("admin listener serving review commands (read-only)");
    let admin = listening["addr"].as_str().expect("addr").to_string();
    assert!(admin.starts_with("127.0.0.1:"), "{admin}");
    // Every event decided: the book is quiet from here on (exits only run at decisions).
    bot.wait_for_decisions(EVENTS);

    // The store is locked by the bot; each command goes through its admin listener.
    let decisions = ok(&app, &admin, &["decisions", "--json"]);
    assert!(json_lines(&decisions).len() >= EVENTS);
    // A settlement could land between two commands: read until the ledger held still around
    // the positions and the report, so the three describe the same book.
    let (ledger, positions, report_text) = (0..20)
        .find_map(|_| {
            let before = ok(&app, &admin, &["ledger", "--json"]);
            let positions = ok(&app, &admin, &["positions", "--json"]);
            let report = ok(&app, &admin, &["report", "--json"]);
            let after = ok(&app, &admin, &["ledger", "--json"]);
            (before == after).then_some((after, positions, report))
        })
        .expect("the book holds still for a moment once the stream is quiet");
    let trades: Vec<LedgerRow> = ledger
        .lines()
        .map(|line| serde_json::from_str(line).expect("a ledger line"))
        .collect();
    assert!(
        trades.iter().any(LedgerRow::is_open),
        "the simulator produced trades"
    );

    let report: Value = serde_json::from_str(&report_text).expect("one JSON object");
    assert_eq!(decimal(&report["starting_bankroll"]), Decimal::from(10_000));
    assert_eq!(
        report["trades"]["total"].as_u64(),
        Some(trades.len() as u64)
    );
    assert_eq!(
        decimal(&report["cash"]),
        trades.last().expect("a trade").cash_after
    );
    assert_eq!(
        decimal(&report["equity"]),
        decimal(&report["cash"]) + decimal(&report["market_value"])
    );
    assert_eq!(
        decimal(&report["equity"]) - decimal(&report["starting_bankroll"]),
        decimal(&report["realized_pnl"]) + decimal(&report["unrealized_pnl"])
    );
    // positions and report value the book the same way.
    let open = json_lines(&positions);
    assert_eq!(report["open_positions"].as_u64(), Some(open.len() as u64));
    let value: Decimal = open.iter().map(|p| decimal(&p["market_value"])).sum();
    assert_eq!(value, decimal(&report["market_value"]));
    for p in &open {
        assert!(p["contracts"].as_u64().unwrap_or(0) > 0, "{p}");
        assert_eq!(
            decimal(&p["market_value"]),
            Decimal::from(p["contracts"].as_u64().unwrap_or(0)) * decimal(&p["last_price"])
        );
    }

    // Tables and the chart work through the bot too; the chart file is written here.
    let table = ok(&app, &admin, &["report"]);
    assert!(table.starts_with("as of "), "{table}");
    assert!(table.contains("\nequity "), "{table}");
    let chart = app.dir.path().join("equity.svg");
    ok(
        &app,
        &admin,
        &["report", "--chart", chart.to_str().expect("UTF-8 path")],
    );
    let svg = std::fs::read_to_string(&chart).expect("the chart file");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));

    // A locked store with nobody answering at admin.listen is a clear failure, not a hang.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let (code, _, stderr) = review(&app, &dead, &["positions"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("in use by a running shiftbot"), "{stderr}");
    assert!(stderr.contains(&dead), "{stderr}");

    bot.terminate();

    // Stopped: the commands read the store directly. Trades and decisions only ever append, so
    // what the bot answered is a prefix of what the store holds now.
    let direct_ledger = ok(&app, &admin, &["ledger", "--json"]);
    assert!(
        direct_ledger.starts_with(&ledger),
        "the ledger only appends"
    );
    let direct_decisions = ok(&app, &admin, &["decisions", "--json"]);
    assert!(direct_decisions.starts_with(&decisions));
    if direct_ledger == ledger {
        // Nothing traded meanwhile (no settlement at shutdown): the same book either way.
        let direct_report: Value =
            serde_json::from_str(&ok(&app, &admin, &["report", "--json"])).expect("JSON");
        assert_eq!(timeless(direct_report), timeless(report));
        assert_eq!(
            ageless(&ok(&app, &admin, &["positions", "--json"])),
            ageless(&positions)
        );
    }
}
