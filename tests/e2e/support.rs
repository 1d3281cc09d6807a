//! The shared harness: a simulator in the test process, a temp directory with a config file
//! and a store, and the real `shiftbot` binary run against them.
//!
//! ```text
//! Setup::new(script).set("signal.max_in_flight", 1).spawn()  ─►  TestApp
//!   app.start()        ─► Running (shiftbot run --config FILE --log-format json)
//!   running.wait_for_decisions(n) / terminate() / kill9()
//!   app.decisions() / app.ledger() / app.reset()   (the review commands, parsed)
//! ```
//!
//! Every test gets its own simulator port, temp directory and store, so tests run in
//! parallel. Whatever a test does, the API key must never show up in the binary's output or in
//! any file under the temp directory: [`TestApp`] checks that when it is dropped, and every
//! command's output is checked as it is read.

pub mod browser;
pub mod hostile;
mod output;
mod process;
mod script;
mod sim;
pub mod sink;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use shiftbot::sim::{Faults, ScriptedEvent, SimConfig, SimStats};

pub use output::{DecisionRow, LedgerRow};
pub use process::{decisions_in, message, Running};
pub use script::{fresh_price_shift, ids, model_price_shifts, now_rfc3339, raw};
pub use sim::{scripted_sim, Sim};

/// The API key the simulator demands and the bot is given. Distinctive, so a leak is found.
pub const KEY: &str = "rk_e2e_S3cr3t_5d9c0f7a2b41";

/// Bound for every "eventually" wait: generous, because the machine may be loaded. It bounds
/// a hang; it measures nothing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The issue's contract: SIGTERM → exit 0 within 5 s.
pub const STOP_WITHIN: Duration = Duration::from_secs(5);

/// What a test wants: simulator settings, config keys, environment.
pub struct Setup {
    sim: Option<SimConfig>,
    /// The API, when it is not a simulator of the test's (a hostile server).
    base_url: Option<String>,
    settings: Vec<(String, toml::Value)>,
    bot_key: Option<String>,
    env: Vec<(String, String)>,
    config_file: bool,
}

impl Setup {
    /// A scripted simulator and a bot configured to trade on it (`feed.kind = "rekko"`).
    pub fn new(script: Vec<ScriptedEvent>) -> Setup {
        Setup {
            sim: Some(scripted_sim(script)),
            base_url: None,
            settings: Vec::new(),
            bot_key: Some(KEY.to_string()),
            env: Vec::new(),
            config_file: true,
        }
    }

    /// No test simulator, no config file, no key: `shiftbot run` on its built-in default
    /// (the embedded simulator), with the store relative to the temp directory.
    pub fn embedded_default() -> Setup {
        Setup {
            sim: None,
            base_url: None,
            settings: Vec::new(),
            bot_key: None,
            env: Vec::new(),
            config_file: false,
        }
    }

    /// A bot configured against the API at `base_url` (a hostile server of the test's).
    pub fn against(base_url: String) -> Setup {
        Setup {
            sim: None,
            base_url: Some(base_url),
            settings: Vec::new(),
            bot_key: Some(KEY.to_string()),
            env: Vec::new(),
            config_file: true,
        }
    }

    /// Nearly every event goes to the signal API: a 1 % threshold, no cooldown, no age limit.
    pub fn screen_every_event(self) -> Setup {
        self.set("filter.min_shift_pct", 1)
            .set("filter.cooldown", "0s")
            .set("filter.max_event_age", "0s")
    }

    pub fn sim(mut self, change: impl FnOnce(&mut SimConfig)) -> Setup {
        change(self.sim.as_mut().expect("this setup has a test simulator"));
        self
    }

    pub fn faults(self, faults: Faults) -> Setup {
        self.sim(|sim| sim.faults = faults)
    }

    /// Set a config key (`"signal.max_in_flight"`) in the config file.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Setup {
        self.settings.push((key.to_string(), value.into()));
        self
    }

    /// Give the bot this key instead of the right one.
    pub fn bot_key(mut self, key: &str) -> Setup {
        self.bot_key = Some(key.to_string());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Setup {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = self.sim.map(Sim::start);
        let store_path = if self.config_file {
            dir.path().join("store")
        } else {
            // config/default.toml: storage.path = "shiftbot-data/store", relative to the cwd.
            dir.path().join("shiftbot-data").join("store")
        };
        let config_path = self.config_file.then(|| {
            let base_url = match (&sim, self.base_url) {
                (Some(sim), _) => sim.base_url(),
                (None, Some(base_url)) => base_url,
                (None, None) => panic!("a scripted setup has a sim or a base URL"),
            };
            let mut table = toml::Table::new();
            for (key, value) in base_settings(&base_url, &store_path) {
                set_key(&mut table, &key, value);
            }
            for (key, value) in self.settings {
                set_key(&mut table, &key, value);
            }
            let path = dir.path().join("shiftbot.toml");
            let text = toml::to_string(&table).expect("serialize the test config");
            // `{api_host}` in a setting is the API's host:port (a WebSocket URL, say).
            let host = base_url.split_once("://").map_or("", |(_, host)| host);
            let text = text.replace("{api_host}", host);
            std::fs::write(&path, text).expect("write the test config");
            path
        });
        let mut secrets = vec![KEY.to_string()];
        secrets.extend(self.bot_key.clone());
        TestApp {
            dir,
            config_path,
            store_path,
            sim,
            bot_key: self.bot_key,
            env: self.env,
            secrets,
            runs: 0,
        }
    }
}

/// Settings every scripted test starts from: the test simulator as the Rekko API, quick
/// reconnects and timeouts, no signal budget, no mirroring.
fn base_settings(base_url: &str, store: &Path) -> Vec<(String, toml::Value)> {
    let text = |s: &str| toml::Value::String(s.to_string());
    vec![
        ("feed.kind".into(), text("rekko")),
        ("feed.base_url".into(), text(base_url)),
        ("feed.connect_timeout".into(), text("5s")),
        ("feed.idle_timeout".into(), text("10s")),
        ("feed.backoff_initial".into(), text("50ms")),
        ("feed.backoff_max".into(), text("1s")),
        ("signal.timeout".into(), text("5s")),
        ("signal.max_per_minute".into(), 0.into()),
        ("signal.max_per_day".into(), 0.into()),
        ("execution.mirror".into(), false.into()),
        // Each bot gets its own admin port, so parallel tests never meet on the default one.
        ("admin.listen".into(), text("127.0.0.1:0")),
        (
            "storage.path".into(),
            text(store.to_str().expect("temp paths are UTF-8")),
        ),
    ]
}

fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) {
    let Some((section, name)) = key.split_once('.') else {
        // A top-level key: `notify`, the array of [[notify]] tables.
        table.insert(key.to_string(), value);
        return;
    };
    let section = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match section {
        toml::Value::Table(section) => {
            if let Some((sub, name)) = name.split_once('.') {
                // fees.kalshi.rate
                let nested = section
                    .entry(sub.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                match nested {
                    toml::Value::Table(nested) => {
                        nested.insert(name.to_string(), value);
                    }
                    _ => panic!("{key}: {sub} is not a table"),
                }
            } else {
                section.insert(name.to_string(), value);
            }
        }
        _ => panic!("{key}: section is not a table"),
    }
}

/// One test's world: simulator, temp directory, config, store, and the runs of the binary.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub config_path: Option<PathBuf>,
    pub store_path: PathBuf,
    sim: Option<Sim>,
    bot_key: Option<String>,
    /// Environment of every command; a test may add to it between runs.
    pub env: Vec<(String, String)>,
    secrets: Vec<String>,
    runs: u32,
}

impl TestApp {
    /// Replace the simulator by a new one (e.g. without the faults of the first) and point
    /// the config file at it. The store, and so the book and the cursor, stay.
    pub fn switch_sim(&mut self, config: SimConfig) {
        let old = self.sim.take().expect("test simulator").base_url();
        let sim = Sim::start(config);
        let path = self.config_path.as_ref().expect("config file");
        let text = std::fs::read_to_string(path).expect("read the test config");
        assert!(text.contains(&old));
        std::fs::write(path, text.replace(&old, &sim.base_url())).expect("rewrite the config");
        self.sim = Some(sim);
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("test simulator")
    }

    pub fn sim_stats(&self) -> Arc<SimStats> {
        self.sim.as_ref().expect("test simulator").stats()
    }

    /// The binary, in the temp directory, with a clean environment: no inherited
    /// `SHIFTBOT__*`, `RUST_LOG` or key; then this test's key and variables.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(self.config_path.as_deref(), args)
    }

    /// [`TestApp::command`] with another config file (or none).
    pub fn command_with(&self, config: Option<&Path>, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shiftbot"));
        command.current_dir(self.dir.path()).args(args);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.env_remove("REKKO_API_KEY").env_remove("RUST_LOG");
        // A test runner started by systemd must not have the bots talk to it.
        for systemd in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            command.env_remove(systemd);
        }
        for (key, _) in std::env::vars_os() {
            if key
                .to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("SHIFTBOT__")
            {
                command.env_remove(key);
            }
        }
        if let Some(key) = &self.bot_key {
            command.env("REKKO_API_KEY", key);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// `shiftbot run --config FILE --log-format json`, stderr and stdout to files.
    pub fn start(&mut self) -> Running {
        self.runs += 1;
        let log = self.dir.path().join(format!("run-{}.log", self.runs));
        let out = self.dir.path().join(format!("run-{}.out", self.runs));
        let mut command = self.command(&["run", "--log-format", "json"]);
        command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("stderr file"));
        let child = command.spawn().expect("spawn shiftbot run");
        Running::new(child, log, out, self.secrets.clone())
    }

    /// Run a review command to completion; its output is checked for secrets.
    pub fn output(&self, args: &[&str]) -> (i32, String, String) {
        self.output_with_config(self.config_path.as_deref(), args)
    }

    /// [`TestApp::output`] with another config file.
    pub fn output_with_config(
        &self,
        config: Option<&Path>,
        args: &[&str],
    ) -> (i32, String, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = self
            .command_with(config, args)
            .output()
            .expect("run shiftbot");
        let stdout = String::from_utf8(stdout).expect("stdout is UTF-8");
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        for secret in &self.secrets {
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "`shiftbot {}` printed the API key",
                args.join(" ")
            );
        }
        let code = status.code().expect("exited normally, not by a signal");
        (code, stdout, stderr)
    }

    /// [`TestApp::output`] with these variables set too (a store or admin address of the
    /// test's choosing). The output is not checked for secrets: callers that need it do.
    pub fn output_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run shiftbot");
        (
            output
                .status
                .code()
                .expect("exited normally, not by a signal"),
            String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `shiftbot decisions --json`, parsed and contract-checked.
    pub fn decisions(&self) -> Vec<DecisionRow> {
        let (code, stdout, stderr) = self.output(&["decisions", "--json"]);
        assert_eq!(code, 0, "decisions --json failed: {stderr}");
        output::parse_decisions(&stdout)
    }

    /// `shiftbot ledger --json`, parsed and contract-checked.
    pub fn ledger(&self) -> Vec<LedgerRow> {
        let (code, stdout, stderr) = self.output(&["ledger", "--json"]);
        assert_eq!(code, 0, "ledger --json failed: {stderr}");
        output::parse_ledger(&stdout)
    }

    /// Every file under the temp directory (config, logs, the sled store, archives), read as
    /// bytes: the key must appear in none.
    pub fn assert_no_secret_on_disk(&self) {
        let mut files = Vec::new();
        collect_files(self.dir.path(), &mut files);
        assert!(!files.is_empty());
        for file in files {
            let Ok(bytes) = std::fs::read(&file) else {
                continue; // removed meanwhile (sled temp files)
            };
            for secret in &self.secrets {
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "the API key was written to {}",
                    file.display()
                );
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A failed test is already reported; checking now could only abort the process.
        if !std::thread::panicking() {
            self.assert_no_secret_on_disk();
        }
    }
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Poll `probe` until it returns `Some`, for at most [`PATIENCE`].
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
