//! `shiftbot pause`, `resume` and `close` against the real binary: through the admin listener
//! while it runs (token required unless `admin.local_writes`), on the store when it is
//! stopped, the pause surviving a restart, and every action in the decisions journal.

use crate::notify::admin_of;
use crate::support::{decisions_in, model_price_shifts, Setup};

/// The trades logged on `shiftbot::trade`: (action, market, event_id).
fn trades_in(logs: &[serde_json::Value]) -> Vec<(String, String, String)> {
    logs.iter()
        .filter(|line| crate::support::message(line) == "trade")
        .map(|line| {
            let field = |key: &str| line[key].as_str().unwrap_or_default().to_string();
            (field("action"), field("market"), field("event_id"))
        })
        .collect()
}

#[test]
fn pause_resume_close_through_the_listener_and_on_a_stopped_store() {
    let rate = 40;
    let mut app = Setup::new(model_price_shifts(7, 6, 6000, rate))
        .sim(|sim| sim.events_per_second = rate)
        .screen_every_event()
        .set("exits.take_profit", 0)
        .set("exits.stop_loss", 0)
        .set("exits.close_on_opposite_signal", false)
        .env("SHIFTBOT_ADMIN_TOKEN", "e2e-admin-token-7f3a")
        .spawn();
    let mut running = app.start();
    let admin = admin_of(&mut running);
    let env = [("SHIFTBOT__ADMIN__LISTEN", admin.as_str())];
    let opened = running.wait_for("two opens", |logs| {
        let opens: Vec<_> = trades_in(logs)
            .into_iter()
            .filter(|(action, _, _)| action == "open")
            .collect();
        (opens.len() >= 2).then_some(opens)
    });

    // A write route needs the token, loopback included (admin.local_writes is off).
    let without = [
        ("SHIFTBOT__ADMIN__LISTEN", admin.as_str()),
        ("SHIFTBOT_ADMIN_TOKEN", ""),
    ];
    let (code, _, stderr) = app.output_with_env(&without, &["pause"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    let (code, stdout, stderr) = app.output_with_env(&env, &["pause"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("paused: no new positions"), "{stdout}");
    assert!(stdout.contains("new positions: paused"), "{stdout}");
    let paused_at = running.logs().len();
    running.wait_for("decisions refused as paused", |logs| {
        let paused = decisions_in(&logs[paused_at..])
            .into_iter()
            .filter(|d| d.outcome == "paused")
            .count();
        (paused >= 5).then_some(())
    });
    let logs = running.logs();
    // The control decision is logged; after it, nothing opens.
    let control_at = logs
        .iter()
        .position(|line| {
            crate::support::message(line) == "decision" && line["outcome"] == "control"
        })
        .expect("the pause's decision is logged");
    assert!(
        trades_in(&logs[control_at..])
            .iter()
            .all(|(action, _, _)| action != "open"),
        "an open after the pause"
    );

    // Close a held market by hand at its last price.
    let market = opened[0].1.clone();
    let (code, stdout, stderr) = app.output_with_env(&env, &["close", &market]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("manual close of {market} at YES ")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("close {market} ")), "{stdout}");
    let (code, stdout, _) = app.output_with_env(&env, &["close", &market, "--side", "yes"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing held"), "{stdout}");

    let (code, stdout, stderr) = app.output_with_env(&env, &["resume"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("resumed: new positions may open"),
        "{stdout}"
    );
    let resumed_at = running.logs().len();
    running.wait_for("an open after resume", |logs| {
        trades_in(&logs[resumed_at..])
            .iter()
            .any(|(action, _, _)| action == "open")
            .then_some(())
    });
    let finished = running.terminate();
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        !finished.stderr.contains("e2e-admin-token-7f3a"),
        "the token was logged"
    );

    // On the stopped store: the same command, applied here.
    let (code, stdout, stderr) = app.output(&["pause"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("paused: no new positions"), "{stdout}");

    // The journal has every action, as a `control` event with its decision.
    let controls: Vec<_> = app
        .decisions()
        .into_iter()
        .filter(|d| d.outcome == "control")
        .collect();
    let kinds: Vec<&str> = controls
        .iter()
        .map(|d| d.event_id.split(':').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["pause", "close", "close", "resume", "pause"],
        "{controls:?}"
    );
    assert!(controls.iter().all(|d| d.event_type == "control"));
    let ledger = app.ledger();
    let manual: Vec<_> = ledger
        .iter()
        .filter(|t| t.event_id.starts_with("control:close:"))
        .collect();
    assert!(
        !manual.is_empty() && manual.iter().all(|t| !t.is_open()),
        "{manual:?}"
    );

    // The pause survives a restart: events are decided as `paused`, nothing opens.
    let mut again = app.start();
    again.wait_for("paused decisions after the restart", |logs| {
        (decisions_in(logs)
            .iter()
            .filter(|d| d.outcome == "paused")
            .count()
            >= 3)
            .then_some(())
    });
    let logs = again.logs();
    assert!(trades_in(&logs)
        .iter()
        .all(|(action, _, _)| action != "open"));
    again.terminate();
}
