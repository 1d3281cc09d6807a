//! Reading typed values out of the merged config tree one key at a time, collecting every
//! problem instead of stopping at the first.
//!
//! The reader also remembers which keys it was asked for: those are the known keys, so the
//! unknown-key check can never drift from the schema. Adding a setting is one call in
//! `schema.rs`, nothing else.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::Duration;

use config::{Map, Value, ValueKind};
use rust_decimal::Decimal;

use super::problems::ConfigProblem;
use super::values::{choose, decimal, describe, duration, unsigned, DecimalRange, DurationRange};

/// What config's `Environment` source records as the origin of its values.
const ENV_ORIGIN: &str = "the environment";

pub(crate) struct Reader<'a> {
    root: &'a Map<String, Value>,
    known: BTreeSet<String>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(root: &'a Map<String, Value>) -> Reader<'a> {
        Reader {
            root,
            known: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// Record a problem once (several keys under one broken table report it only once).
    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let problem = ConfigProblem::new(path, message);
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    /// Like [`Reader::problem`], naming the environment variable when the value came from one:
    /// the user wrote `SHIFTBOT__SIZING__KELLY_FRACTION`, not `sizing.kelly_fraction`.
    fn problem_at(&mut self, path: &str, value: &Value, message: String) {
        let message = if value.origin() == Some(ENV_ORIGIN) {
            format!("{message} (from {})", env_var_name(path))
        } else {
            message
        };
        self.problem(path, message);
    }

    /// Each table of the array `key` (`[[notify]]`, `[[intake]]`) read by `item`, which puts
    /// the table's problems in its first list (they are reported under `key[N].`) and problems
    /// of the array as a whole in its second (reported as they are). `None` if anything was
    /// wrong. (Array items cannot be named by the one-key-at-a-time schema, so each table gets
    /// a [`Reader`] of its own in `item`.)
    pub(crate) fn tables<T>(
        &mut self,
        key: &str,
        mut item: impl FnMut(
            &Map<String, Value>,
            &mut Vec<ConfigProblem>,
            &mut Vec<ConfigProblem>,
        ) -> Option<T>,
    ) -> Option<Vec<T>> {
        let value = self.raw(key)?;
        let items: &[Value] = match &value.kind {
            ValueKind::Array(items) => items,
            other => {
                self.problem(
                    key,
                    format!(
                        "expected an array of [[{key}]] tables, got {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let mut read = Vec::new();
        let mut ok = true;
        for (i, value) in items.iter().enumerate() {
            let prefix = format!("{key}[{i}]");
            let ValueKind::Table(table) = &value.kind else {
                self.problem(
                    prefix,
                    format!("expected a table, got {}", describe(&value.kind)),
                );
                ok = false;
                continue;
            };
            let (mut own, mut outer) = (Vec::new(), Vec::new());
            let parsed = item(table, &mut own, &mut outer);
            ok &= own.is_empty() && outer.is_empty();
            for problem in outer {
                self.problem(problem.path, problem.message);
            }
            for problem in own {
                self.problem(format!("{prefix}.{}", problem.path), problem.message);
            }
            match parsed {
                Some(parsed) => read.push(parsed),
                None => ok = false,
            }
        }
        ok.then_some(read)
    }

    pub(crate) fn into_problems(self) -> Vec<ConfigProblem> {
        self.problems
    }

    fn lookup(&mut self, path: &str) -> Option<&'a Value> {
        self.known.insert(path.to_string());
        let mut table = self.root;
        let mut walked = String::new();
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(segment);
            let Some(value) = table.get(segment) else {
                self.problem(
                    walked,
                    "missing (every key needs a value; see config/default.toml)",
                );
                return None;
            };
            if segments.peek().is_none() {
                return Some(value);
            }
            match &value.kind {
                ValueKind::Table(inner) => table = inner,
                _ => {
                    let message = format!(
                        "expected a table of settings, got {}",
                        describe(&value.kind)
                    );
                    self.problem_at(&walked.clone(), value, message);
                    return None;
                }
            }
        }
        None
    }

    /// The value at `path` as it is (an array of tables, read by its own code), known from now
    /// on; `None` (with a problem) when missing.
    pub(crate) fn raw(&mut self, path: &str) -> Option<&'a Value> {
        self.lookup(path)
    }

    /// Read one key with `parse`, which returns the typed value or what is wrong with it.
    pub(crate) fn read<T>(
        &mut self,
        path: &str,
        parse: impl FnOnce(&ValueKind) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.lookup(path)?;
        match parse(&value.kind) {
            Ok(typed) => Some(typed),
            Err(message) => {
                self.problem_at(path, value, message);
                None
            }
        }
    }

    pub(crate) fn decimal(&mut self, path: &str, range: DecimalRange) -> Option<Decimal> {
        self.read(path, |kind| {
            let value = decimal(kind)?;
            range.check(value)
        })
    }

    pub(crate) fn unsigned(&mut self, path: &str, range: RangeInclusive<u64>) -> Option<u64> {
        self.read(path, |kind| {
            let value = unsigned(kind)?;
            if range.contains(&value) {
                Ok(value)
            } else if *range.end() == u64::MAX {
                Err(format!("must be at least {}, got {value}", range.start()))
            } else {
                Err(format!(
                    "must be between {} and {}, got {value}",
                    range.start(),
                    range.end()
                ))
            }
        })
    }

    pub(crate) fn boolean(&mut self, path: &str) -> Option<bool> {
        self.read(path, |kind| match kind {
            ValueKind::Boolean(b) => Ok(*b),
            ValueKind::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
            ValueKind::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
            other => Err(format!("expected true or false, got {}", describe(other))),
        })
    }

    /// A non-empty string.
    pub(crate) fn text(&mut self, path: &str) -> Option<String> {
        self.read(path, |kind| match kind {
            ValueKind::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            ValueKind::String(_) => Err("must not be empty".to_string()),
            other => Err(format!("expected a string, got {}", describe(other))),
        })
    }

    /// A duration written like `"30s"`, `"5m"`, `"250ms"`, within `range`.
    pub(crate) fn duration(&mut self, path: &str, range: DurationRange) -> Option<Duration> {
        self.read(path, |kind| {
            let value = duration(kind)?;
            range.check(value)
        })
    }

    /// One of a fixed set of words.
    pub(crate) fn choice<T: Copy>(&mut self, path: &str, options: &[(&str, T)]) -> Option<T> {
        self.read(path, |kind| choose(kind, options))
    }

    /// A list, each item parsed by `parse`. An environment variable gives the list
    /// comma-separated (`SHIFTBOT__FEED__EVENTS=price_shift,whale_alert`; empty means `[]`).
    pub(crate) fn list<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&ValueKind) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        self.read(path, |kind| {
            let items: Vec<ValueKind> = match kind {
                ValueKind::Array(items) => items.iter().map(|v| v.kind.clone()).collect(),
                ValueKind::String(s) => s
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| ValueKind::String(item.to_string()))
                    .collect(),
                other => return Err(format!("expected a list, got {}", describe(other))),
            };
            let mut parsed = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for item in &items {
                match parse(item) {
                    Ok(value) => parsed.push(value),
                    Err(why) => errors.push(why),
                }
            }
            if errors.is_empty() {
                Ok(parsed)
            } else {
                Err(errors.join("; "))
            }
        })
    }

    /// Report every key in the tree that no read asked for. `explain` may give a better message
    /// than "unknown key" for some paths (a secret in a file, an unknown platform).
    pub(crate) fn report_unknown_keys(&mut self, explain: impl Fn(&str) -> Option<String>) {
        let sections: BTreeSet<String> = self
            .known
            .iter()
            .flat_map(|path| {
                path.match_indices('.')
                    .map(|(at, _)| path[..at].to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut unknown = Vec::new();
        self.walk(self.root, "", &sections, &mut unknown);
        for (path, value) in unknown {
            let message = explain(&path).unwrap_or_else(|| match suggest(&path, &self.known) {
                Some(near) => format!("unknown key (did you mean {near}?)"),
                None => "unknown key".to_string(),
            });
            self.problem_at(&path, value, message);
        }
    }

    fn walk(
        &self,
        table: &'a Map<String, Value>,
        prefix: &str,
        sections: &BTreeSet<String>,
        unknown: &mut Vec<(String, &'a Value)>,
    ) {
        let mut keys: Vec<&String> = table.keys().collect();
        keys.sort();
        for key in keys {
            let Some(value) = table.get(key) else {
                continue;
            };
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if self.known.contains(&path) {
                continue;
            }
            if sections.contains(&path) {
                // A section that is not a table was reported when its keys were read.
                if let ValueKind::Table(inner) = &value.kind {
                    self.walk(inner, &path, sections, unknown);
                }
                continue;
            }
            unknown.push((path, value));
        }
    }
}

/// `sizing.kelly_fraction` → `SHIFTBOT__SIZING__KELLY_FRACTION`.
pub(crate) fn env_var_name(path: &str) -> String {
    format!("SHIFTBOT__{}", path.replace('.', "__").to_uppercase())
}

/// A known key close to a mistyped one: same name in another section, or a small typo.
fn suggest(path: &str, known: &BTreeSet<String>) -> Option<String> {
    let (parent, name) = path.rsplit_once('.').unwrap_or(("", path));
    let same_name = known
        .iter()
        .find(|k| k.rsplit_once('.').map(|(_, n)| n) == Some(name));
    if let Some(found) = same_name {
        return Some(found.clone());
    }
    known
        .iter()
        .filter(|k| k.rsplit_once('.').map(|(p, _)| p).unwrap_or("") == parent)
        .map(|k| (edit_distance(k.rsplit('.').next().unwrap_or(k), name), k))
        .filter(|(distance, k)| *distance <= 2 && *distance < k.len() / 2)
        .min()
        .map(|(_, k)| k.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
