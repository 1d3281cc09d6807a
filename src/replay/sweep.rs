//! `shiftbot sweep`: replay one recording under every combination of some config values, in
//! parallel, and rank the combinations by a metric.
//!
//! `--set key=v1,v2,...` names a config key path and its alternatives (comma-separated, so a
//! list-valued key cannot be swept). Every combination is loaded through the same layers and
//! validation as any config (`--config` file, then `SHIFTBOT__*` variables, then the swept
//! values as the last layer), so a bad key or value is reported exactly as at start, by key
//! path. The recording is decoded once and shared by all worker threads; combinations are
//! handed out one at a time to as many threads as there are cores.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rust_decimal::Decimal;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::engine::{replay, ReplayOptions, ReplayOutcome};
use super::summary::replay_report;
use super::tape::Tape;
use crate::commands::format::{csv_record, exact6, money, percent, ratio, table};
use crate::configuration::{ConfigErrors, ConfigProblem, LoadOptions, Settings, ENV_PREFIX};

/// The most combinations one sweep may ask for (a typo like `=1,2,...` times five keys
/// should not start a day-long run).
pub const MAX_COMBINATIONS: usize = 100_000;

/// One `--set key=v1,v2,...` or `--set key=lo..hi` (a range, for `--samples`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetArg {
    pub key: String,
    /// The listed values (empty for a range).
    pub values: Vec<String>,
    pub range: Option<super::sample::Range>,
}

impl FromStr for SetArg {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| format!("--set {text:?}: expected key=value[,value...]"))?;
        let key = key.trim();
        let well_formed = !key.is_empty()
            && key.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !well_formed {
            return Err(format!(
                "--set {text:?}: {key:?} is not a config key path like filter.min_shift_pct"
            ));
        }
        if values.contains("..") {
            let range = values
                .parse::<super::sample::Range>()
                .map_err(|why| format!("--set {text:?}: {why}"))?;
            return Ok(SetArg {
                key: key.to_string(),
                values: Vec::new(),
                range: Some(range),
            });
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("--set {text:?}: empty value"));
        }
        Ok(SetArg {
            key: key.to_string(),
            values,
            range: None,
        })
    }
}

impl SetArg {
    /// The environment variable that sets this key (`SHIFTBOT__FILTER__MIN_SHIFT_PCT`).
    pub fn env_key(&self) -> String {
        format!(
            "{ENV_PREFIX}__{}",
            self.key.replace('.', "__").to_ascii_uppercase()
        )
    }
}

/// The metric a sweep is ranked by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Metric {
    /// Final equity, highest first.
    #[default]
    Equity,
    /// Return on the starting bankroll, highest first.
    Return,
    /// Max drawdown as a fraction of its peak, smallest first.
    Drawdown,
    /// Sharpe ratio of daily returns, highest first (combinations without one last).
    Sharpe,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Equity => "equity",
            Metric::Return => "return",
            Metric::Drawdown => "drawdown",
            Metric::Sharpe => "sharpe",
        }
    }

    /// Whether the metric is defined for `row`.
    fn defined(self, row: &SweepRow) -> bool {
        match self {
            Metric::Equity | Metric::Drawdown => true,
            Metric::Return => row.return_fraction.is_some(),
            Metric::Sharpe => row.sharpe.is_some(),
        }
    }
}

/// Why Sharpe cannot rank a recording that spans `span`, if it cannot: under two days it is
/// computed from hourly returns (`sharpe_basis`), and under two hours there are fewer than
/// two of them.
pub fn too_short_for_sharpe(
    span: Option<(strategies::Timestamp, strategies::Timestamp)>,
) -> Option<String> {
    let length = span.map_or(chrono::Duration::zero(), |(first, last)| last - first);
    (length < chrono::Duration::hours(2)).then(|| {
        let shown = humantime::format_duration(length.to_std().unwrap_or_default());
        format!(
            "Sharpe is computed from hourly returns under two days and needs a recording of at least two hours; this one spans {shown}, so it is undefined for every combination. Rank by equity or return, or replay a longer recording"
        )
    })
}

/// Why `metric` ranks nothing here, when it is undefined for every row.
pub fn undefined_for_all(rows: &[SweepRow], metric: Metric) -> Option<String> {
    let all = !rows.is_empty() && rows.iter().all(|r| !metric.defined(r));
    all.then(|| match metric {
        Metric::Sharpe => "Sharpe is undefined for every combination: it needs two or more returns (hourly under two days, else daily) with some spread between them (no trades, or a flat equity, give none). Rank by equity or return"
            .to_string(),
        _ => format!("{} is undefined for every combination", metric.name()),
    })
}

impl SweepRow {
    /// More than 5 % of its signal requests had no recorded signal: its figures rest on
    /// counterfactuals the recording lacks.
    pub fn marked(&self) -> bool {
        super::summary::unsignalled_share_exceeded(self.unsignalled, self.recorded)
    }
}

/// The line under a table with marked rows.
pub fn unsignalled_note(rows: &[SweepRow]) -> Option<String> {
    let marked = rows.iter().filter(|r| r.marked()).count();
    (marked > 0).then(|| {
        format!(
            "* {marked} of {} combinations asked for signals the recording has none for on more than 5 % of their requests: their figures rest on the fallback (replay.fallback), not on what the API answered",
            rows.len()
        )
    })
}

/// The line under a table whose metric is undefined for some rows (they rank last).
pub fn undefined_note(rows: &[SweepRow], metric: Metric) -> Option<String> {
    let undefined = rows.iter().filter(|r| !metric.defined(r)).count();
    (undefined > 0).then(|| {
        format!(
            "{} undefined for {undefined} of {} combinations (shown as -): they rank last, in combination order",
            metric.name(),
            rows.len()
        )
    })
}

/// One combination of swept values, with its validated settings.
#[derive(Clone, Debug)]
pub struct Combination {
    /// Its place among all the combinations of the sweep (0-based): shards are cut by it and
    /// ties are broken by it.
    pub number: usize,
    /// `(key, value)` in `--set` order.
    pub values: Vec<(String, String)>,
    pub settings: Settings,
}

/// Every combination of `sets` (the first key varies slowest), each loaded over `file` and
/// `env` and validated. All problems of all combinations are returned together, once each.
pub fn combinations(
    file: Option<PathBuf>,
    env: &[(String, String)],
    sets: &[SetArg],
) -> Result<Vec<Combination>, ConfigErrors> {
    if let Some(set) = sets.iter().find(|s| s.range.is_some()) {
        return Err(ConfigErrors::one(
            "--set",
            format!(
                "{} is given a range: draw combinations from it with --samples N",
                set.key
            ),
        ));
    }
    let total = sets
        .iter()
        .try_fold(1usize, |n, set| n.checked_mul(set.values.len()))
        .filter(|n| *n <= MAX_COMBINATIONS)
        .ok_or_else(|| {
            ConfigErrors::one(
                "--set",
                format!("more than {MAX_COMBINATIONS} combinations; sweep fewer values"),
            )
        })?;
    let picks = (0..total).map(|number| {
        let mut rest = number;
        let mut picks = vec![String::new(); sets.len()];
        for (i, set) in sets.iter().enumerate().rev() {
            picks[i] = set.values[rest % set.values.len()].clone();
            rest /= set.values.len();
        }
        picks
    });
    load(file, env, sets, picks)
}

/// Load one combination per item of `picks` (one value per set, in `--set` order), numbered in
/// that order, each over `file` and `env` and validated; every problem once.
pub fn load(
    file: Option<PathBuf>,
    env: &[(String, String)],
    sets: &[SetArg],
    picks: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<Combination>, ConfigErrors> {
    let mut seen = BTreeSet::new();
    let mut problems: Vec<ConfigProblem> = Vec::new();
    let mut out = Vec::new();
    for (number, picks) in picks.enumerate() {
        let mut vars = env.to_vec();
        let mut values = Vec::with_capacity(sets.len());
        for (set, value) in sets.iter().zip(picks) {
            vars.push((set.env_key(), value.clone()));
            values.push((set.key.clone(), value));
        }
        match Settings::load(LoadOptions {
            file: file.clone(),
            env: vars,
        }) {
            Ok(settings) => out.push(Combination {
                number,
                values,
                settings,
            }),
            Err(ConfigErrors(found)) => {
                for mut problem in found {
                    for set in sets {
                        let env = format!("(from {})", set.env_key());
                        let flag = format!("(from --set {})", set.key);
                        problem.message = problem.message.replace(&env, &flag);
                    }
                    if seen.insert(problem.to_string()) {
                        problems.push(problem);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// The figures of one combination (serialised exactly, decimals as strings, in shard files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SweepRow {
    /// [`Combination::number`].
    pub combination: usize,
    pub values: Vec<(String, String)>,
    pub equity: Decimal,
    pub return_fraction: Option<Decimal>,
    pub max_drawdown: Decimal,
    pub max_drawdown_fraction: Decimal,
    pub sharpe: Option<Decimal>,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    /// All trades (opens, closes, settlements).
    pub trades: u64,
    /// Decisions with outcome `traded`.
    pub traded: u64,
    pub win_rate: Option<Decimal>,
    /// Signal requests with no recorded signal (answered by `replay.fallback`), and those
    /// answered by a recorded one.
    #[serde(default)]
    pub unsignalled: u64,
    #[serde(default)]
    pub recorded: u64,
}

/// Replay `tape` under every combination on `threads` threads (at least one). `done` is
/// called after each combination, from the worker thread (for a progress bar). Rows come back
/// in combination order.
pub fn run(
    tape: &Tape,
    combinations: &[Combination],
    options: impl Fn(&Settings) -> ReplayOptions + Sync,
    threads: usize,
    done: &(dyn Fn() + Sync),
) -> Vec<SweepRow> {
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<SweepRow>>> = Mutex::new(vec![None; combinations.len()]);
    let threads = threads.clamp(1, combinations.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(combination) = combinations.get(index) else {
                    break;
                };
                let row = run_one(tape, combination, &options(&combination.settings));
                if let Ok(mut rows) = rows.lock() {
                    rows[index] = Some(row);
                }
                done();
            });
        }
    });
    rows.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

fn run_one(tape: &Tape, combination: &Combination, options: &ReplayOptions) -> SweepRow {
    let run = replay(tape, combination.settings.core_config(), options);
    let report = replay_report(&run);
    SweepRow {
        combination: combination.number,
        values: combination.values.clone(),
        equity: report.equity,
        return_fraction: report.return_fraction,
        max_drawdown: report.max_drawdown.amount,
        max_drawdown_fraction: report.max_drawdown.fraction,
        sharpe: report.sharpe,
        realized_pnl: report.realized_pnl,
        fees: report.fees,
        trades: report.trades.total,
        traded: run
            .tally
            .get(ReplayOutcome::Core(strategies::Outcome::Traded)),
        win_rate: report.closed.win_rate,
        unsignalled: run.fallback_replies,
        recorded: run.recorded_replies,
    }
}

/// Best first by `metric`; ties (and combinations without the metric, which rank last) in
/// combination order, whatever order the rows came in (a merge of shards ranks alike).
pub fn rank(rows: &mut [SweepRow], metric: Metric) {
    // `None` sorts below every value, so "highest first" puts combinations without one last.
    use std::cmp::Reverse;
    rows.sort_by_key(|r| r.combination);
    match metric {
        Metric::Equity => rows.sort_by_key(|r| Reverse(r.equity)),
        Metric::Return => rows.sort_by_key(|r| Reverse(r.return_fraction)),
        Metric::Drawdown => rows.sort_by_key(|r| r.max_drawdown_fraction),
        Metric::Sharpe => rows.sort_by_key(|r| Reverse(r.sharpe)),
    }
}

const COLUMNS: [&str; 11] = [
    "equity",
    "return",
    "max_drawdown",
    "max_drawdown_pct",
    "sharpe",
    "realized_pnl",
    "fees",
    "trades",
    "traded",
    "win_rate",
    "unsignalled",
];

/// An aligned table, best first.
pub fn write_table(rows: &[SweepRow], out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<&str> = rows
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut header = vec!["rank"];
    header.extend(keys.iter().copied());
    header.extend(COLUMNS);
    let none = || "-".to_string();
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![(i + 1).to_string()];
            cells.extend(r.values.iter().map(|(_, v)| v.clone()));
            cells.extend([
                money(r.equity),
                r.return_fraction.map_or_else(none, percent),
                money(r.max_drawdown),
                percent(r.max_drawdown_fraction),
                r.sharpe.map_or_else(none, ratio),
                money(r.realized_pnl),
                money(r.fees),
                r.trades.to_string(),
                r.traded.to_string(),
                r.win_rate.map_or_else(none, percent),
                match r.marked() {
                    true => format!("{}*", r.unsignalled),
                    false => r.unsignalled.to_string(),
                },
            ]);
            cells
        })
        .collect();
    let right: Vec<usize> = (0..header.len())
        .filter(|&i| i == 0 || i > keys.len())
        .collect();
    table(out, &header, &body, &right)
}

/// RFC 4180 CSV with a header, best first; values exact.
pub fn write_csv(rows: &[SweepRow], out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<String> = rows
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut header = vec!["rank".to_string()];
    header.extend(keys);
    header.extend(COLUMNS.iter().map(|c| c.to_string()));
    csv_record(out, &header)?;
    let text = |v: Option<Decimal>| v.map(|v| exact6(v).to_string()).unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        let mut cells = vec![(i + 1).to_string()];
        cells.extend(r.values.iter().map(|(_, v)| v.clone()));
        cells.extend([
            r.equity.to_string(),
            text(r.return_fraction),
            r.max_drawdown.to_string(),
            exact6(r.max_drawdown_fraction).to_string(),
            text(r.sharpe),
            r.realized_pnl.to_string(),
            r.fees.to_string(),
            r.trades.to_string(),
            r.traded.to_string(),
            text(r.win_rate),
            r.unsignalled.to_string(),
        ]);
        csv_record(out, &cells)?;
    }
    Ok(())
}

/// One JSON object per line, best first: `rank`, `set` (key → value), then the figures
/// (decimals as strings, ratios rounded to 6 places).
pub fn write_json(rows: &[SweepRow], out: &mut dyn Write) -> io::Result<()> {
    for (i, row) in rows.iter().enumerate() {
        serde_json::to_writer(&mut *out, &JsonRow { rank: i + 1, row })
            .map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

struct JsonRow<'a> {
    rank: usize,
    row: &'a SweepRow,
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.row;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("rank", &self.rank)?;
        map.serialize_entry("set", &SetMap(&r.values))?;
        map.serialize_entry("equity", &r.equity)?;
        map.serialize_entry("return", &r.return_fraction.map(exact6))?;
        map.serialize_entry("max_drawdown", &r.max_drawdown)?;
        map.serialize_entry("max_drawdown_fraction", &exact6(r.max_drawdown_fraction))?;
        map.serialize_entry("sharpe", &r.sharpe.map(exact6))?;
        map.serialize_entry("realized_pnl", &r.realized_pnl)?;
        map.serialize_entry("fees", &r.fees)?;
        map.serialize_entry("trades", &r.trades)?;
        map.serialize_entry("traded", &r.traded)?;
        map.serialize_entry("win_rate", &r.win_rate.map(exact6))?;
        map.serialize_entry("unsignalled", &r.unsignalled)?;
        map.serialize_entry("unsignalled_marked", &r.marked())?;
        map.end()
    }
}

/// The swept values as a JSON object, key → value in `--set` order (sweep rows and holdout
/// rows alike).
pub(super) struct SetMap<'a>(pub(super) &'a [(String, String)]);

impl Serialize for SetMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A progress bar on stderr, drawn only when both stdout and stderr are terminals (piped or
/// redirected output stays clean).
pub fn progress_bar(len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !(io::stdout().is_terminal() && io::stderr().is_terminal()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} sweeping [{bar:40}] {pos}/{len} combinations, {elapsed} elapsed, ~{eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
