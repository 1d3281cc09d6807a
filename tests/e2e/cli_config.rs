//! The real binary's configuration handling: `config check` output and exit codes, and
//! `reset` refusing to act without `--yes`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary with a clean configuration environment: no inherited SHIFTBOT__* or key.
fn shiftbot(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shiftbot"));
    command
        .current_dir(dir)
        .env_remove("REKKO_API_KEY")
        .env_remove("RUST_LOG");
    for (key, _) in std::env::vars_os() {
        if key
            .to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("SHIFTBOT__")
        {
            command.env_remove(key);
        }
    }
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("binary runs");
    let code = status.code().expect("exited normally");
    (
        code,
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("test.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn config_check_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write_config(
        dir.path(),
        "[sizing]\nkelly_fraction = 1.5\nkely_fraction = 0.1\n\
         [filter]\ndirection = \"sideways\"\n[signal]\nmax_in_flight = 0\n",
    );
    let (code, stdout, stderr) = run(shiftbot(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file));
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(
        stdout.is_empty(),
        "nothing printed for an invalid config: {stdout}"
    );
    for line in [
        "sizing.kelly_fraction: must be in (0, 1], got 1.5",
        "sizing.kely_fraction: unknown key",
        "filter.direction: expected one of both, up, down, got \"sideways\"",
        "signal.max_in_flight: must be between 1 and 256, got 0",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn run_refuses_a_bad_config_with_exit_2_before_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, _, stderr) = run(shiftbot(dir.path())
        .arg("run")
        .env("SHIFTBOT__SIZING__BANKROLL", "-5")
        .env("SHIFTBOT__FEED__KIND", "paper"));
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(
        stderr.contains("sizing.bankroll: must be in (0, 1000000000000], got -5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("feed.kind: expected one of sim, rekko, got \"paper\""),
        "{stderr}"
    );
    assert!(
        !dir.path().join("shiftbot-data").exists(),
        "nothing was created"
    );
}

#[test]
fn config_check_prints_the_effective_config_with_the_key_redacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stdout, stderr) = run(shiftbot(dir.path())
        .args(["config", "check"])
        .env("REKKO_API_KEY", "sk-very-secret-123")
        .env("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "3"));
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("api_key = \"[redacted]\""), "{stdout}");
    assert!(!stdout.contains("sk-very-secret") && !stderr.contains("sk-very-secret"));
    let parsed: toml::Table = toml::from_str(&stdout).expect("output is TOML");
    assert_eq!(parsed["filter"]["min_shift_pct"].as_str(), Some("3"));
    assert_eq!(parsed["feed"]["kind"].as_str(), Some("sim"));

    let (code, stdout, _) = run(shiftbot(dir.path()).args(["config", "check", "--json"]));
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("output is JSON");
    assert_eq!(json["sizing"]["kelly_fraction"], "0.25");
    assert!(
        json.get("api_key").is_none(),
        "no key set, none shown: {stdout}"
    );
}

#[test]
fn shipped_rekko_config_checks_with_a_key_and_asks_for_one_without() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rekko = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rekko.toml");
    let (code, stdout, stderr) = run(shiftbot(dir.path())
        .args(["config", "check", "--config"])
        .arg(&rekko)
        .env("REKKO_API_KEY", "sk-test"));
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("kind = \"rekko\""), "{stdout}");

    let (code, _, stderr) = run(shiftbot(dir.path())
        .args(["config", "check", "--config"])
        .arg(&rekko));
    assert_eq!(code, 2);
    assert!(stderr.contains("REKKO_API_KEY: not set"), "{stderr}");
}

#[test]
fn reset_without_yes_refuses_with_exit_2_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    std::fs::create_dir(&store).expect("store dir");
    std::fs::write(store.join("marker"), "keep me").expect("marker");
    let (code, stdout, stderr) = run(shiftbot(dir.path())
        .arg("reset")
        .env("SHIFTBOT__STORAGE__PATH", &store));
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("--yes") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(store.join("marker")).expect("untouched"),
        "keep me"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["frobnicate"][..],
        &["run", "--log-format", "xml"],
        &["sim"],
    ] {
        let (code, _, stderr) = run(shiftbot(dir.path()).args(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
    let (code, stdout, _) = run(shiftbot(dir.path()).arg("--help"));
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
}

#[test]
fn a_missing_config_file_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, _, stderr) =
        run(shiftbot(dir.path()).args(["config", "check", "--config", "nope.toml"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nope.toml: cannot read config file"),
        "{stderr}"
    );
}
