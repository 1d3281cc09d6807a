//! What a reload (SIGHUP) may change in a running bot, and what it must refuse.
//!
//! The new settings were validated in full before they get here. The thresholds, filters,
//! sizing, fees, exits and signal budgets take effect for the next event; everything the bot
//! wired at start (the store, listen addresses, the feed and its URL, the signal client, the
//! simulator, the starting bankroll, the resolution poller) keeps its old value, and each such
//! change is named as refused. Key paths are the config file's (`filter.min_shift_pct`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Settings;

/// What a reload did, as `shiftbot reload` prints it (`POST /v1/reload` answers it as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The file was valid (whatever it changed).
    pub valid: bool,
    pub changed: Vec<String>,
    pub refused: Vec<String>,
    /// Every problem of an invalid file, by key path.
    pub problems: Vec<String>,
}

/// The outcome of comparing the running settings with a freshly loaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadPlan {
    /// What the bot runs with from now on: the old settings with every changeable key taken
    /// from the new ones.
    pub settings: Settings,
    /// Keys whose value changes, in key order.
    pub changed: Vec<String>,
    /// Keys that differ in the file but cannot change while running.
    pub refused: Vec<String>,
}

impl ReloadPlan {
    pub fn new(running: &Settings, loaded: &Settings) -> ReloadPlan {
        let mut settings = running.clone();
        settings.filter = loaded.filter.clone();
        settings.fees = loaded.fees.clone();
        settings.sizing = super::SizingSettings {
            // The store's starting bankroll rules; a new one needs `reset --yes`.
            bankroll: running.sizing.bankroll,
            ..loaded.sizing.clone()
        };
        settings.exits = super::ExitSettings {
            // The resolution poller was started with its interval.
            resolution_poll: running.exits.resolution_poll,
            ..loaded.exits.clone()
        };
        settings.signal.max_per_minute = loaded.signal.max_per_minute;
        settings.signal.max_per_day = loaded.signal.max_per_day;
        settings.signal.max_in_flight = loaded.signal.max_in_flight;
        settings.replay = loaded.replay.clone();
        // The sinks' tasks are restarted with the new list (the store keeps their backlogs).
        settings.notify = loaded.notify.clone();
        ReloadPlan {
            changed: differing_keys(running, &settings),
            refused: differing_keys(&settings, loaded),
            settings,
        }
    }
}

/// The dotted paths of every leaf that differs between `a` and `b` (secrets are not
/// serialized, so they never show).
fn differing_keys(a: &Settings, b: &Settings) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    diff("", &a, &b, &mut keys);
    keys.sort();
    keys
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, left) in a {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    Some(right) => diff(&child, left, right, out),
                    None => out.push(child),
                }
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                });
            }
        }
        (left, right) if left != right => out.push(path.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::LoadOptions;

    fn load(env: &[(&str, &str)]) -> Settings {
        Settings::load(LoadOptions {
            file: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .expect("valid settings")
    }

    #[test]
    fn thresholds_change_and_wiring_is_refused() {
        let running = load(&[]);
        let loaded = load(&[
            ("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "3"),
            ("SHIFTBOT__SIZING__KELLY_FRACTION", "0.1"),
            ("SHIFTBOT__SIZING__BANKROLL", "500"),
            ("SHIFTBOT__SIGNAL__MAX_PER_DAY", "10"),
            ("SHIFTBOT__SIGNAL__TIMEOUT", "5s"),
            ("SHIFTBOT__STORAGE__PATH", "elsewhere/store"),
            ("SHIFTBOT__ADMIN__LISTEN", "127.0.0.1:9999"),
            ("SHIFTBOT__EXITS__TAKE_PROFIT", "0.3"),
            ("SHIFTBOT__EXITS__RESOLUTION_POLL", "1m"),
        ]);
        let plan = ReloadPlan::new(&running, &loaded);
        assert_eq!(
            plan.changed,
            vec![
                "exits.take_profit",
                "filter.min_shift_pct",
                "signal.max_per_day",
                "sizing.kelly_fraction",
            ]
        );
        assert_eq!(
            plan.refused,
            vec![
                "admin.listen",
                "exits.resolution_poll",
                "signal.timeout",
                "sizing.bankroll",
                "storage.path",
            ]
        );
        assert_eq!(plan.settings.filter, loaded.filter);
        assert_eq!(plan.settings.storage, running.storage);
        assert_eq!(plan.settings.sizing.bankroll, running.sizing.bankroll);
        assert_eq!(plan.settings.signal.timeout, running.signal.timeout);
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let running = load(&[("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "3")]);
        let plan = ReloadPlan::new(&running, &running.clone());
        assert!(
            plan.changed.is_empty() && plan.refused.is_empty(),
            "{plan:?}"
        );
        assert_eq!(plan.settings, running);
    }
}
