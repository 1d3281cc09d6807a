//! A running `shiftbot run`: its JSON log (stderr, in a file), waiting for decisions, and
//! stopping it with SIGTERM or SIGKILL.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{contains, eventually, PATIENCE, STOP_WITHIN};

/// One decision as logged (`"message":"decision"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedDecision {
    pub event_id: String,
    pub market: String,
    pub outcome: String,
    pub reason: Option<String>,
    /// For trades.
    pub side: Option<String>,
    pub contracts: Option<String>,
    pub cost: Option<String>,
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub elapsed: Duration,
    /// Every JSON log line.
    pub logs: Vec<Value>,
    /// stderr as text (also non-JSON lines such as the final `error:`).
    pub stderr: String,
}

impl Finished {
    pub fn decisions(&self) -> Vec<LoggedDecision> {
        decisions_in(&self.logs)
    }

    /// The `"stopped; store flushed"` line's counters.
    pub fn stop_line(&self) -> &Value {
        self.logs
            .iter()
            .find(|line| message(line) == "stopped; store flushed")
            .unwrap_or_else(|| panic!("no stop line in:\n{}", self.stderr))
    }
}

pub struct Running {
    child: Option<Child>,
    log: PathBuf,
    out: PathBuf,
    secrets: Vec<String>,
}

impl Running {
    pub(super) fn new(child: Child, log: PathBuf, out: PathBuf, secrets: Vec<String>) -> Running {
        Running {
            child: Some(child),
            log,
            out,
            secrets,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Complete JSON log lines so far.
    pub fn logs(&self) -> Vec<Value> {
        parse_log(&self.stderr())
    }

    /// Wait until `condition` holds for the log; fails (with the log) if the process exits
    /// first or [`PATIENCE`] runs out.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        mut condition: impl FnMut(&[Value]) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            let logs = self.logs();
            if let Some(value) = condition(&logs) {
                return value;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "shiftbot exited ({status}) while waiting for {what}; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until at least `n` decisions are logged; returns them.
    pub fn wait_for_decisions(&mut self, n: usize) -> Vec<LoggedDecision> {
        self.wait_for(&format!("{n} decisions"), |logs| {
            let decisions = decisions_in(logs);
            (decisions.len() >= n).then_some(decisions)
        })
    }

    /// Wait until a log line has this `message`.
    pub fn wait_for_message(&mut self, text: &str) -> Value {
        self.wait_for(&format!("log message {text:?}"), |logs| {
            logs.iter().find(|line| message(line) == text).cloned()
        })
    }

    /// SIGTERM, then the contract: exit code 0 within 5 s.
    pub fn terminate(mut self) -> Finished {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let finished = self.wait_exit(STOP_WITHIN + Duration::from_secs(5));
        assert!(
            finished.elapsed <= STOP_WITHIN,
            "SIGTERM took {:?} (> {STOP_WITHIN:?}) to stop shiftbot; stderr:\n{}",
            finished.elapsed,
            finished.stderr
        );
        assert_eq!(
            finished.code, 0,
            "shiftbot did not exit 0 after SIGTERM; stderr:\n{}",
            finished.stderr
        );
        finished
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(mut self) -> Vec<LoggedDecision> {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap the killed process");
        let logs = self.logs();
        self.check_secrets();
        decisions_in(&logs)
    }

    /// Wait for the process to exit on its own (at most `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> Finished {
        let started = Instant::now();
        let mut child = self.child.take().expect("running");
        let status = eventually("shiftbot to exit", || {
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "shiftbot did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            child.try_wait().expect("try_wait")
        });
        let elapsed = started.elapsed();
        self.check_secrets();
        let stderr = self.stderr();
        Finished {
            code: status
                .code()
                .unwrap_or_else(|| panic!("killed by a signal ({status}); stderr:\n{stderr}")),
            elapsed,
            logs: parse_log(&stderr),
            stderr,
        }
    }

    fn check_secrets(&self) {
        let stderr = std::fs::read(&self.log).unwrap_or_default();
        let stdout = std::fs::read(&self.out).unwrap_or_default();
        for secret in &self.secrets {
            assert!(
                !contains(&stderr, secret.as_bytes()) && !contains(&stdout, secret.as_bytes()),
                "the API key appeared in the output of shiftbot run"
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only reached without an orderly stop (a failed assertion): leave no process behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every complete line of `text` that is a JSON object.
pub fn parse_log(text: &str) -> Vec<Value> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(Value::is_object)
        .collect()
}

pub fn message(line: &Value) -> &str {
    line.get("message").and_then(Value::as_str).unwrap_or("")
}

fn text(line: &Value, key: &str) -> Option<String> {
    line.get(key).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

pub fn decisions_in(logs: &[Value]) -> Vec<LoggedDecision> {
    logs.iter()
        .filter(|line| message(line) == "decision")
        .map(|line| LoggedDecision {
            event_id: text(line, "event_id").expect("a decision line has event_id"),
            market: text(line, "market").unwrap_or_default(),
            outcome: text(line, "outcome").expect("a decision line has outcome"),
            reason: text(line, "reason"),
            side: text(line, "side"),
            contracts: text(line, "contracts"),
            cost: text(line, "cost"),
        })
        .collect()
}
