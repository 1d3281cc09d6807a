//! SIGHUP reloads the config file in a running bot: a valid change takes effect from the next
//! event (one log line lists the keys), an invalid file changes nothing (every problem
//! logged), a key that cannot change while running is refused; SIGHUP never ends the bot.

use std::process::Command;

use serde_json::Value;

use crate::support::{decisions_in, message, model_price_shifts, Running, Setup, TestApp};

/// Rewrite one `section.key` of the test's config file.
fn set_in_file(app: &TestApp, section: &str, key: &str, value: toml::Value) {
    let path = app.config_path.as_ref().expect("config file");
    let text = std::fs::read_to_string(path).expect("read config");
    let mut table: toml::Table = text.parse().expect("the test config is TOML");
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    entry
        .as_table_mut()
        .expect("a section")
        .insert(key.to_string(), value);
    std::fs::write(path, toml::to_string(&table).expect("toml")).expect("write config");
}

fn hangup(running: &Running) {
    let status = Command::new("kill")
        .args(["-HUP", &running.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// The position in the log of the `n`-th line with this message (0-based).
fn nth_line(logs: &[Value], text: &str, n: usize) -> Option<usize> {
    logs.iter()
        .enumerate()
        .filter(|(_, line)| message(line).starts_with(text))
        .nth(n)
        .map(|(at, _)| at)
}

#[test]
fn sighup_reloads_thresholds_refuses_bad_files_and_wiring_and_keeps_running() {
    let rate = 25;
    let mut app = Setup::new(model_price_shifts(21, 6, 1500, rate))
        .sim(|sim| sim.events_per_second = rate)
        .set("filter.min_shift_pct", 1000)
        .set("filter.cooldown", "0s")
        .set("filter.max_event_age", "0s")
        .spawn();
    let mut running = app.start();
    let before = running.wait_for_decisions(10);
    assert!(
        before.iter().all(|d| d.outcome == "below_threshold"),
        "{before:?}"
    );

    // A valid change: every event passes the threshold from the next one on.
    set_in_file(&app, "filter", "min_shift_pct", 0.into());
    hangup(&running);
    let reloaded = running.wait_for_message("configuration reloaded");
    assert_eq!(reloaded["changed"], "filter.min_shift_pct", "{reloaded}");
    running.wait_for("15 decisions after the reload", |logs| {
        let at = nth_line(logs, "configuration reloaded", 0)?;
        (decisions_in(&logs[at..]).len() >= 15).then_some(())
    });
    let logs = running.logs();
    let at = nth_line(&logs, "configuration reloaded", 0).expect("reload line");
    let after = decisions_in(&logs[at..]);
    assert!(
        after.iter().all(|d| d.outcome != "below_threshold"),
        "{after:?}"
    );

    // An invalid file: refused with every problem, and nothing changes.
    set_in_file(&app, "filter", "direction", "sideways".into());
    set_in_file(&app, "sizing", "kelly_fraction", 7.into());
    hangup(&running);
    let refused = running
        .wait_for_message("configuration reload refused: the file is invalid, nothing changed");
    let problems = refused["problems"].as_str().expect("problems");
    assert!(problems.contains("filter.direction"), "{problems}");
    assert!(problems.contains("sizing.kelly_fraction"), "{problems}");
    running.wait_for("10 decisions after the refused reload", |logs| {
        let at = nth_line(logs, "configuration reload refused", 0)?;
        (decisions_in(&logs[at..]).len() >= 10).then_some(())
    });
    let logs = running.logs();
    let at = nth_line(&logs, "configuration reload refused", 0).expect("refusal line");
    assert!(
        decisions_in(&logs[at..])
            .iter()
            .all(|d| d.outcome != "below_threshold"),
        "the old (reloaded) threshold still applies"
    );

    // Wiring cannot change while running: refused by name, the running value kept.
    set_in_file(&app, "filter", "direction", "both".into());
    set_in_file(&app, "sizing", "kelly_fraction", 0.25.into());
    set_in_file(&app, "storage", "path", "/nonexistent/elsewhere".into());
    hangup(&running);
    let kept = running.wait_for("the refused key", |logs| {
        logs.iter()
            .find(|line| {
                message(line).starts_with("configuration reload: this key cannot change")
                    && line["key"] == "storage.path"
            })
            .cloned()
    });
    assert_eq!(kept["level"], "WARN", "{kept}");
    running.wait_for_message("configuration reloaded: no changeable key differs");
    let finished = running.terminate();
    // The bot kept writing to the store it started with.
    let decided = finished.stop_line()["decided"].as_u64().expect("decided");
    set_in_file(
        &app,
        "storage",
        "path",
        app.store_path.to_str().expect("utf-8").into(),
    );
    assert_eq!(app.decisions().len() as u64, decided);
}

const TOKEN: &str = "adm_e2e_T0ken_9f3c21";

/// `shiftbot reload` goes through the admin listener: a write route, so it needs the token
/// (loopback included); with it the bot reloads and says what changed; an invalid file exits 2.
#[test]
fn shiftbot_reload_needs_the_token_and_reports_what_changed() {
    let rate = 25;
    let mut app = Setup::new(model_price_shifts(22, 6, 1500, rate))
        .sim(|sim| sim.events_per_second = rate)
        .set("filter.min_shift_pct", 1000)
        .env("SHIFTBOT_ADMIN_TOKEN", TOKEN)
        .spawn();
    let mut running = app.start();
    let listening = running.wait_for_message("admin listener serving review commands (read-only)");
    let admin = listening["addr"].as_str().expect("addr").to_string();
    set_in_file(&app, "filter", "min_shift_pct", 2.into());
    let admin_env = ("SHIFTBOT__ADMIN__LISTEN", admin.as_str());

    // Without the token (the command's environment lacks it): refused, nothing changes.
    let (code, _, stderr) =
        app.output_with_env(&[admin_env, ("SHIFTBOT_ADMIN_TOKEN", "")], &["reload"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, _, stderr) =
        app.output_with_env(&[admin_env, ("SHIFTBOT_ADMIN_TOKEN", "wrong")], &["reload"]);
    assert_eq!(code, 1, "{stderr}");

    // Reads on loopback need no token.
    let (code, _, stderr) =
        app.output_with_env(&[admin_env, ("SHIFTBOT_ADMIN_TOKEN", "")], &["positions"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = app.output_with_env(&[admin_env], &["reload"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded: changed filter.min_shift_pct");

    set_in_file(&app, "filter", "direction", "sideways".into());
    let (code, _, stderr) = app.output_with_env(&[admin_env], &["reload"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("filter.direction"), "{stderr}");
    let finished = running.terminate();
    assert!(
        !finished.stderr.contains(TOKEN),
        "the token reached the log"
    );
}

/// Off loopback, the bot refuses to start without a token; with one, every route but
/// `/healthz` needs it.
#[test]
fn off_loopback_every_route_but_healthz_needs_the_token() {
    let app = Setup::new(model_price_shifts(23, 4, 200, 10))
        .sim(|sim| sim.events_per_second = 10)
        .set("admin.listen", "0.0.0.0:0")
        .spawn();
    let (code, _, stderr) = app.output(&["run"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SHIFTBOT_ADMIN_TOKEN"), "{stderr}");

    let mut app = Setup::new(model_price_shifts(23, 4, 200, 10))
        .sim(|sim| sim.events_per_second = 10)
        .set("admin.listen", "0.0.0.0:0")
        .env("SHIFTBOT_ADMIN_TOKEN", TOKEN)
        .spawn();
    let mut running = app.start();
    let listening = running.wait_for_message("admin listener serving review commands (read-only)");
    let port = listening["addr"]
        .as_str()
        .and_then(|addr| addr.rsplit(':').next())
        .expect("port")
        .to_string();
    let admin = format!("127.0.0.1:{port}");
    let admin_env = ("SHIFTBOT__ADMIN__LISTEN", admin.as_str());
    let (code, _, stderr) =
        app.output_with_env(&[admin_env, ("SHIFTBOT_ADMIN_TOKEN", "")], &["positions"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, _, stderr) = app.output_with_env(&[admin_env], &["positions"]);
    assert_eq!(code, 0, "{stderr}");
    let mut socket = std::net::TcpStream::connect(&admin).expect("connect");
    use std::io::{Read, Write};
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let finished = running.terminate();
    assert!(
        !finished.stderr.contains(TOKEN),
        "the token reached the log"
    );
}
