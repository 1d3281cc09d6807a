//! The review commands — `positions`, `ledger`, `decisions`, `report` — and `reset`.
//!
//! Output formats are a public contract: `--json` prints one JSON object per line (decimals as
//! strings; `report --json` and `decisions --summary --json` print one object), `ledger --csv`
//! prints RFC 4180 CSV, and without either an aligned table for a terminal.
//!
//! # One function, two ways to reach the store
//! sled lets one process open a store. With the bot stopped, [`review`] opens the store and
//! calls [`render`]. While `shiftbot run` holds it, `Store::open` fails with `Locked`, and
//! [`review`] sends the parsed command (a [`ReviewRequest`], JSON) to the bot's admin listener
//! ([`crate::admin`]), which calls the very same [`render`] on its own store handle and sends
//! back the rendered text. The request carries the caller's `now` (ages, `--since 24h`, the
//! report's last point), so both paths print the same bytes by construction. A chart is rendered
//! remotely too, but written to the file by the caller, never by the bot.
//!
//! # Layout
//! - [`args`]: the clap/serde argument types and filters.
//! - `positions`, `ledger`, `decisions`, `report`: one renderer each.
//! - `chart`: the SVG of `report --chart`.
//! - [`format`](mod@format): tables, number formats, CSV.

pub mod args;
pub mod chart;
pub mod control;
mod decisions;
pub mod format;
mod ledger;
pub mod maintenance;
mod positions;
pub mod report;
#[cfg(test)]
mod tests;
pub mod webhooks;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use strategies::Timestamp;

pub use args::{
    DecisionsArgs, Filters, LedgerArgs, MarketFilter, PositionsArgs, ReportArgs, ReviewCommand,
    Since,
};
pub use decisions::{funnel_depth, FUNNEL};

use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Io(#[from] io::Error),
    /// The store is held by a running bot and its admin listener could not answer.
    #[error(
        "store {path} is in use by a running shiftbot, and its admin listener at {listen} \
         did not answer: {message} (is admin.listen the same for both? is the bot still starting?)"
    )]
    Remote {
        path: PathBuf,
        listen: String,
        message: String,
    },
    #[error(transparent)]
    Draw(#[from] chart::ChartError),
    #[error("cannot write the chart to {path}: {source}")]
    Chart {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no store at {0} (check storage.path and the working directory)")]
    NoStore(PathBuf),
    #[error("{0}")]
    Control(String),
}

/// A review command with everything that makes its output reproducible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub command: ReviewCommand,
    /// When the command was issued, by the caller's clock.
    pub now: Timestamp,
    /// The configured bankroll; used only for a store that has never run (no totals yet).
    pub bankroll: Decimal,
    /// The store the caller means (canonical path), filled in when asking a running bot: its
    /// admin listener refuses to answer for a different store (two bots, one address).
    #[serde(default)]
    pub store: Option<PathBuf>,
}

/// What a review command produced: the text for stdout and, for `report --chart`, the SVG.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub output: String,
    pub chart: Option<String>,
}

impl Rendered {
    /// An answer collected whole (for a caller that wants it as one value): output written
    /// into a buffer by [`render_to`] or a streamed fetch, and the report's chart.
    pub fn collected(output: Vec<u8>, chart: Option<String>) -> io::Result<Rendered> {
        let output =
            String::from_utf8(output).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Rendered { output, chart })
    }
}

/// Where the review commands find the book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewTarget {
    pub store_path: PathBuf,
    /// The running bot's admin listener, asked when the store is locked.
    pub admin_listen: String,
    pub bankroll: Decimal,
}

impl ReviewTarget {
    pub fn from_settings(settings: &Settings) -> ReviewTarget {
        ReviewTarget {
            store_path: settings.storage.path.clone(),
            admin_listen: settings.admin.listen.to_string(),
            bankroll: settings.sizing.bankroll,
        }
    }
}

/// Run a review command against the store at `store` (`None`: there is no store yet, so the
/// book is empty). This is the one function both the CLI and the admin listener call.
pub fn render(store: Option<&Store>, request: &ReviewRequest) -> Result<Rendered, CommandError> {
    let mut out = Vec::new();
    let chart = render_to(store, request, &mut out)?;
    Ok(Rendered::collected(out, chart)?)
}

/// [`render`] into `out` as the output is made: an unlimited `decisions --json` or `ledger`
/// writes record by record, so neither the CLI nor the bot answering it holds the history.
/// Returns the report's chart.
pub fn render_to(
    store: Option<&Store>,
    request: &ReviewRequest,
    out: &mut dyn Write,
) -> Result<Option<String>, CommandError> {
    match &request.command {
        ReviewCommand::Positions(args) => positions::render(store, request, args, out)?,
        ReviewCommand::Ledger(args) => ledger::render(store, request, args, out)?,
        ReviewCommand::Decisions(args) => decisions::render(store, request, args, out)?,
        ReviewCommand::Report(args) => return report::render(store, request, args, out),
    }
    Ok(None)
}

/// The CLI side: render locally, or through the running bot when it holds the store; print the
/// output and write the chart file.
pub fn review(
    target: &ReviewTarget,
    command: ReviewCommand,
    clock: &SharedClock,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let chart_path = match &command {
        ReviewCommand::Report(ReportArgs { chart, .. }) => chart.clone(),
        _ => None,
    };
    let request = ReviewRequest {
        command,
        now: clock.now(),
        bankroll: target.bankroll,
        store: None,
    };
    let chart = fetch_or_render_to(target, &request, out)?;
    if let (Some(path), Some(svg)) = (chart_path, chart) {
        std::fs::write(&path, svg).map_err(|source| CommandError::Chart {
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), "chart written");
    }
    Ok(())
}

/// [`render`] on the store if it can be opened, else ask the bot that holds it.
pub fn fetch_or_render(
    target: &ReviewTarget,
    request: &ReviewRequest,
) -> Result<Rendered, CommandError> {
    let mut out = Vec::new();
    let chart = fetch_or_render_to(target, request, &mut out)?;
    Ok(Rendered::collected(out, chart)?)
}

/// [`fetch_or_render`] into `out` as the answer comes (see [`render_to`]).
pub fn fetch_or_render_to(
    target: &ReviewTarget,
    request: &ReviewRequest,
    out: &mut dyn Write,
) -> Result<Option<String>, CommandError> {
    // Reading must not create a store as a side effect, and a store that is not there is
    // an error, not an empty book (a bot started from another folder has its store there).
    if !target.store_path.exists() {
        return Err(CommandError::NoStore(target.store_path.clone()));
    }
    match Store::open(&target.store_path) {
        Ok(store) => crate::store::health::guarded(&target.store_path, "reading the store", || {
            render_to(Some(&store), request, out)
        }),
        Err(StoreError::Locked { path }) => {
            let request = ReviewRequest {
                store: Some(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())),
                ..request.clone()
            };
            crate::admin::fetch_to(&target.admin_listen, &request, out).map_err(|e| {
                CommandError::Remote {
                    path,
                    listen: target.admin_listen.clone(),
                    message: e.to_string(),
                }
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// Archive the store so the next run starts a fresh bankroll.
pub fn reset(
    settings: &Settings,
    clock: &SharedClock,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let path: &Path = &settings.storage.path;
    match store::archive(path, clock.now())? {
        Some(archived) => writeln!(
            out,
            "archived {} to {}; the next run starts a fresh bankroll of {}",
            path.display(),
            archived.display(),
            settings.sizing.bankroll
        )?,
        None => writeln!(
            out,
            "no store at {}; the next run starts a fresh bankroll of {}",
            path.display(),
            settings.sizing.bankroll
        )?,
    }
    Ok(())
}

/// Write one value as a JSON line.
fn json_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The one-thread runtime a command's few calls run on; `None` (the reason printed) when
/// the machine cannot give one.
pub(crate) fn command_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            eprintln!("error: cannot start a runtime: {err}");
            None
        }
    }
}
