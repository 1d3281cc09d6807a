//! The commands of this module as the command line sees them: `export-events`,
//! `sim --record`, `replay` and `sweep` (argument types and the work behind each; `crate::cli`
//! parses and dispatches, and owns exit codes).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::commands::args::{parse_since, Since};
use crate::configuration::{ConfigErrors, Settings, ENV_PREFIX};
use crate::store::{Store, StoreError};

use super::engine::{replay_stream, ReplayOptions};
use super::record::{export_events, ExportError};
use super::shard::ShardArg;
use super::simrec::record_sim;
use super::summary::{replay_report, ReplaySummary};
use super::sweep::{self, Combination, Metric, SetArg};
use super::tape::{Tape, TapeError, READ_BUFFER};

/// `shiftbot export-events`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct ExportArgs {
    /// Only events received (and settlements made) at or after this: an RFC 3339 instant, or a
    /// duration before now (`24h`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Since>,
}

/// `shiftbot replay`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct ReplayArgs {
    /// The recording: NDJSON from `export-events` or `sim --record` ("-" reads stdin).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also draw the equity curve and drawdown to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

/// `shiftbot sweep`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct SweepArgs {
    /// The recording: NDJSON from `export-events` or `sim --record` ("-" reads stdin).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// A config key and the values to try, comma-separated: `filter.min_shift_pct=2,3,5`;
    /// or a range `lo..hi` (decimals, or durations) to draw from with `--samples`. Repeat for
    /// more keys; every combination is replayed.
    #[arg(long = "set", value_name = "KEY=V1,V2,...|KEY=LO..HI", required = true)]
    pub sets: Vec<SetArg>,
    /// Random search: draw this many combinations (ranges uniformly, lists one value each)
    /// instead of the whole grid.
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// The seed of `--samples` (the same seed draws the same combinations, in every shard).
    #[arg(long, value_name = "SEED", default_value_t = 1, requires = "samples")]
    pub seed: u64,
    /// Rank by this metric.
    #[arg(long, value_enum, default_value_t = Metric::Equity)]
    pub by: Metric,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Replay only the I-th (0-based) of N disjoint shares of the combinations and write its
    /// rows as JSON lines, for `sweep-merge`; `auto/N` reads JOB_COMPLETION_INDEX (Kubernetes)
    /// or SLURM_ARRAY_TASK_ID (Slurm).
    #[arg(long, value_name = "I/N", conflicts_with_all = ["json", "csv"])]
    pub shard: Option<ShardArg>,
    /// Rank on the first part of the recording (by time) and show every combination's
    /// figures on the held-out rest beside them: `--holdout 30%`.
    #[arg(long, value_name = "P%", value_parser = super::folds::parse_holdout,
          conflicts_with_all = ["csv", "shard", "walk_forward"])]
    pub holdout: Option<rust_decimal::Decimal>,
    /// Cut the recording into K consecutive folds of equal time; pick the best combination on
    /// each and score it on the next; print the chained out-of-sample result.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(2..=1000),
          conflicts_with_all = ["csv", "json", "shard"])]
    pub walk_forward: Option<u16>,
}

/// `shiftbot sweep-merge`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct SweepMergeArgs {
    /// The shard files of one sweep (`sweep --shard I/N > FILE`), every shard once.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Rank by this metric.
    #[arg(long, value_enum, default_value_t = Metric::Equity)]
    pub by: Metric,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
}

/// Why a command of this module failed (exit code 1; configuration problems are reported
/// before any work as [`ConfigErrors`], exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ReplayCommandError {
    #[error(transparent)]
    Tape(#[from] TapeError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no store at {0}: nothing has been recorded there yet")]
    NoStore(PathBuf),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Draw(#[from] crate::commands::chart::ChartError),
    #[error("cannot write the chart to {path}: {source}")]
    Chart {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write output: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Merge(#[from] super::shard::MergeError),
    #[error("{0}")]
    Shard(String),
    /// The metric ranks nothing on this recording.
    #[error("--by {metric}: {why}")]
    Undefined { metric: &'static str, why: String },
}

/// `export-events`: the store's events as NDJSON on `out`.
pub fn export_command(
    settings: &Settings,
    args: &ExportArgs,
    now: strategies::Timestamp,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    let path = &settings.storage.path;
    // Reading must not create a store as a side effect.
    if !path.exists() {
        return Err(ReplayCommandError::NoStore(path.clone()));
    }
    let store = Store::open(path)?;
    let stats = export_events(&store, args.since.map(|s| s.resolve(now)), out)?;
    tracing::info!(
        events = stats.events,
        signalled = stats.signalled,
        settlements = stats.settlements,
        "events exported"
    );
    Ok(())
}

/// `sim --record FILE --events N`.
pub fn sim_record_command(
    settings: &Settings,
    path: &Path,
    events: u64,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    let file_error = |e: io::Error| ReplayCommandError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut file = BufWriter::new(File::create(path).map_err(file_error)?);
    let stats = record_sim(
        &settings.sim_config(),
        settings.signal.risk_limit,
        events,
        &mut file,
    )
    .map_err(file_error)?;
    file.flush().map_err(file_error)?;
    writeln!(
        out,
        "recorded {} events ({} with the simulator's signal) and {} settlements to {}",
        stats.events,
        stats.signalled,
        stats.settlements,
        path.display()
    )?;
    Ok(())
}

/// The replay options the settings ask for.
pub fn replay_options(settings: &Settings) -> ReplayOptions {
    ReplayOptions {
        fallback: settings.replay.fallback,
        ..ReplayOptions::default()
    }
}

/// `replay`: the report of the recording replayed with `settings`.
pub fn replay_command(
    settings: &Settings,
    args: &ReplayArgs,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    let (reader, origin) = open_recording(&args.events)?;
    let options = replay_options(settings);
    let started = Instant::now();
    // Read and replayed as it goes: one replay needs no tape of the whole recording.
    let run = replay_stream(reader, &origin, settings.core_config(), &options)?;
    tracing::info!(
        events = run.events,
        recorded_replies = run.recorded_replies,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replay finished"
    );
    let report = replay_report(&run);
    let summary = ReplaySummary::new(&run, options.fallback, &report);
    if args.json {
        summary.write_json(out)?;
    } else {
        summary.write_text(out)?;
    }
    if let Some(path) = &args.chart {
        let title = format!("replay of {}", args.events.display());
        let svg = crate::commands::chart::report_svg(&report, &title)?;
        std::fs::write(path, svg).map_err(|source| ReplayCommandError::Chart {
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), "chart written");
    }
    Ok(())
}

/// The combinations a sweep asks for, validated (exit code 2 on problems, before any work).
pub fn sweep_combinations(
    config_file: Option<PathBuf>,
    args: &SweepArgs,
) -> Result<Vec<Combination>, ConfigErrors> {
    let prefix = format!("{ENV_PREFIX}__");
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(key, _)| key.to_ascii_uppercase().starts_with(&prefix))
        .collect();
    match args.samples {
        Some(samples) => super::sample::sampled(config_file, &env, &args.sets, samples, args.seed),
        None => sweep::combinations(config_file, &env, &args.sets),
    }
}

/// `sweep`: every combination replayed, ranked by `args.by`.
pub fn sweep_command(
    args: &SweepArgs,
    combinations: &[Combination],
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    let shard = match args.shard {
        Some(arg) => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            Some(super::shard::resolve(arg, &env).map_err(ReplayCommandError::Shard)?)
        }
        None => None,
    };
    let tape = read_tape(&args.events)?;
    if shard.is_none() && args.by == Metric::Sharpe {
        // Before any work: a recording too short for daily returns ranks nothing by them.
        if let Some(why) = sweep::too_short_for_sharpe(tape.span()) {
            return Err(ReplayCommandError::Undefined {
                metric: "sharpe",
                why,
            });
        }
    }
    let threads = match args.threads {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    if args.holdout.is_some() || args.walk_forward.is_some() {
        return out_of_sample(args, &tape, combinations, threads, out);
    }
    let mine: Vec<Combination> = combinations
        .iter()
        .filter(|c| shard.is_none_or(|s| s.owns(c.number)))
        .cloned()
        .collect();
    let bar = sweep::progress_bar(mine.len() as u64);
    let started = Instant::now();
    let rows = sweep::run(&tape, &mine, replay_options, threads, &|| bar.inc(1));
    bar.finish_and_clear();
    tracing::info!(
        combinations = rows.len(),
        of = combinations.len(),
        events = tape.len(),
        threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sweep finished"
    );
    match shard {
        Some(shard) => Ok(super::shard::write_shard(
            &rows,
            combinations.len(),
            shard,
            out,
        )?),
        None => print_ranked(rows, args.by, args.json, args.csv, out),
    }
}

/// `--holdout` and `--walk-forward`: every combination replayed on each fold, fresh each time.
fn out_of_sample(
    args: &SweepArgs,
    tape: &Tape,
    combinations: &[Combination],
    threads: usize,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    use super::folds;
    use rust_decimal::Decimal;
    let mut times = Vec::with_capacity(tape.len());
    for index in 0..tape.len() {
        let previous = times.last().copied().unwrap_or_default();
        times.push(tape.received_at(index).unwrap_or(previous));
    }
    let shares: Vec<Decimal> = match (args.holdout, args.walk_forward) {
        (Some(held), _) => vec![Decimal::ONE_HUNDRED - held, held],
        (None, Some(k)) => vec![Decimal::ONE; usize::from(k)],
        (None, None) => Vec::new(),
    };
    let windows = folds::windows(&times, &shares);
    let bar = sweep::progress_bar((combinations.len() * windows.len()) as u64);
    let started = Instant::now();
    let per_fold: Vec<Vec<sweep::SweepRow>> = windows
        .iter()
        .map(|window| {
            let options = |settings: &Settings| ReplayOptions {
                window: Some(window.clone()),
                ..replay_options(settings)
            };
            sweep::run(tape, combinations, options, threads, &|| bar.inc(1))
        })
        .collect();
    bar.finish_and_clear();
    tracing::info!(
        combinations = combinations.len(),
        folds = windows.len(),
        events = tape.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sweep finished"
    );
    if let Some(why) = per_fold
        .first()
        .and_then(|rows| sweep::undefined_for_all(rows, args.by))
    {
        return Err(ReplayCommandError::Undefined {
            metric: args.by.name(),
            why,
        });
    }
    if args.holdout.is_some() {
        let mut rows: Vec<folds::HoldoutRow> = per_fold[0]
            .iter()
            .cloned()
            .zip(per_fold[1].iter().cloned())
            .map(|(in_sample, out_of_sample)| folds::HoldoutRow {
                in_sample,
                out_of_sample,
            })
            .collect();
        folds::rank_holdout(&mut rows, args.by);
        match args.json {
            true => folds::write_holdout_json(&rows, out)?,
            false => {
                let held = args.holdout.unwrap_or_default();
                writeln!(
                    out,
                    "in sample: events 1-{} (the first {}% of the time), out of sample: events {}-{} (the last {held}%)",
                    windows[0].end,
                    Decimal::ONE_HUNDRED - held,
                    windows[1].start + 1,
                    windows[1].end,
                )?;
                folds::write_holdout(&rows, out)?;
            }
        }
        return Ok(());
    }
    let steps = folds::walk_forward(&per_fold, args.by);
    folds::write_walk_forward(&steps, &windows, &times, args.by, out)?;
    Ok(())
}

/// `sweep-merge`: the shards' rows ranked into the table one run prints.
pub fn sweep_merge_command(
    args: &SweepMergeArgs,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    let mut files: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    for path in &args.files {
        let (reader, origin) = open_recording(path)?;
        files.push((origin, reader));
    }
    let rows = super::shard::merge(files)?;
    print_ranked(rows, args.by, args.json, args.csv, out)
}

/// Rank and print in the chosen format; a metric undefined for every row is an error.
fn print_ranked(
    mut rows: Vec<sweep::SweepRow>,
    by: Metric,
    json: bool,
    csv: bool,
    out: &mut dyn Write,
) -> Result<(), ReplayCommandError> {
    if let Some(why) = sweep::undefined_for_all(&rows, by) {
        return Err(ReplayCommandError::Undefined {
            metric: by.name(),
            why,
        });
    }
    sweep::rank(&mut rows, by);
    if json {
        sweep::write_json(&rows, out)?;
    } else if csv {
        sweep::write_csv(&rows, out)?;
    } else {
        sweep::write_table(&rows, out)?;
        if let Some(note) = sweep::undefined_note(&rows, by) {
            writeln!(out, "{note}")?;
        }
        if let Some(note) = sweep::unsignalled_note(&rows) {
            writeln!(out, "{note}")?;
        }
    }
    Ok(())
}

/// The recording at `path` ("-": stdin), buffered, and the name errors give it.
fn open_recording(path: &Path) -> Result<(Box<dyn BufRead>, String), ReplayCommandError> {
    if path == Path::new("-") {
        let stdin = BufReader::with_capacity(READ_BUFFER, io::stdin().lock());
        return Ok((Box::new(stdin), "stdin".to_string()));
    }
    let file = File::open(path).map_err(|e| ReplayCommandError::File {
        path: path.to_path_buf(),
        message: format!("cannot open the recording: {e}"),
    })?;
    if path.extension().is_some_and(|ext| ext == "zst") {
        // A retention archive (or any zstd-compressed recording): frames read as one stream.
        let decoder =
            zstd::stream::read::Decoder::new(file).map_err(|e| ReplayCommandError::File {
                path: path.to_path_buf(),
                message: format!("cannot read the recording as zstd: {e}"),
            })?;
        let reader = BufReader::with_capacity(READ_BUFFER, decoder);
        return Ok((Box::new(reader), path.display().to_string()));
    }
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    Ok((Box::new(reader), path.display().to_string()))
}

/// Read a whole recording from `path` ("-": stdin), for the sweep's many replays.
pub fn read_tape(path: &Path) -> Result<Tape, ReplayCommandError> {
    let started = Instant::now();
    let (reader, origin) = open_recording(path)?;
    let tape = Tape::read(reader, &origin)?;
    tracing::info!(
        events = tape.len(),
        signalled = tape.signalled(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recording decoded"
    );
    Ok(tape)
}
