//! The live loop: feed in, decisions out, everything through the engine and the group-commit
//! writer.
//!
//! ```text
//! feed task ──RawEvent──► engine ──Batch──► writer thread (1 transaction + 1 flush per group)
//!                          │  ▲                 │
//!               SignalJob  ▼  │ SignalDone      └─Durable(n)─► cursor (Last-Event-ID), mirror
//!                  signal tasks (≤ max_in_flight)
//! ```
//! Shutdown (SIGINT/SIGTERM): stop intake, abandon in-flight signals (their events stay in the
//! inbox and are resumed next start), commit and flush what was decided, exit.
//!
//! `app`: the running bot as wiring (`app::wiring`), the loop and the stop, apart.

mod app;
mod engine;

use std::time::Duration;

use strategies::{Book, Core};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::clock::SharedClock;
use crate::configuration::{ConfigErrors, ReloadPlan, ReloadReport, Settings};
use crate::feed::FeedError;
use crate::mirror::OutboxAck;
use crate::store::{Store, StoreError};
use app::Application;

pub(crate) use engine::log_trade;
pub use engine::operator::ControlDone;
pub use engine::{Engine, SignalDone, SignalJob};

mod offline;
pub use offline::control_in_store;

/// Why `run` stopped with an error. The exit code is part of the public contract.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Config(String),
    /// A client for the API cannot be made from the configuration (its address, its key).
    #[error(transparent)]
    Client(#[from] crate::signal::ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A commit failed (disk full, I/O error): what was acknowledged before is intact, nothing
    /// after it was acknowledged, and the bot stops without waiting on a flush that cannot end.
    #[error(
        "the store could not be written, stopping (what was acknowledged before is intact): {0}"
    )]
    StoreWrite(#[source] StoreError),
    /// A listener of the bot's (a webhook receiver) cannot bind its address.
    #[error("cannot start the {what} on {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl RunError {
    /// 4: the store could not be written; 3: the API rejected the key; 2: unusable settings;
    /// 1: anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::StoreWrite(_) => crate::cli::exit::STORE_WRITE,
            RunError::Unauthorized(_) => 3,
            RunError::Config(_) | RunError::Client(_) => 2,
            RunError::Store(_) | RunError::Listen { .. } | RunError::Other(_) => 1,
        }
    }
}

/// After a failed commit the process must end within this long, whatever hangs: sled's own
/// flushes wait on a condition that a full disk never fulfils.
pub const STORE_FAILURE_EXIT: Duration = Duration::from_secs(4);

/// The store cannot be written: stop the tasks, make sure the process ends in time, and leak
/// this handle so that dropping it cannot start sled's flush-on-drop (which waits for ever on
/// a full disk).
fn give_up_on_store(store: Store, tasks: &mut JoinSet<()>) {
    exit_soon_after_store_failure();
    std::mem::forget(store);
    tasks.abort_all();
}

/// Ends the process with exit code 4 after [`STORE_FAILURE_EXIT`] unless it ended before.
fn exit_soon_after_store_failure() {
    let spawned = std::thread::Builder::new()
        .name("shiftbot-store-failure".to_string())
        .spawn(|| {
            std::thread::sleep(STORE_FAILURE_EXIT);
            eprintln!("error: the store could not be written; exiting without a final flush");
            std::process::exit(crate::cli::exit::STORE_WRITE);
        });
    if spawned.is_err() {
        std::process::exit(crate::cli::exit::STORE_WRITE);
    }
}

/// Counters and latencies of one run (printed at exit, used by the benchmark).
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub received: u64,
    pub duplicates: u64,
    pub decided: u64,
    pub traded: u64,
    /// Decisions made durable.
    pub persisted: u64,
    /// Event arrival → decision durable, in microseconds, one per persisted decision.
    pub latencies_us: Vec<u64>,
}

/// Run the bot until `shutdown` turns true or a fatal error.
pub async fn run(
    settings: Settings,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    run_with_stats(settings, clock, shutdown).await.map(drop)
}

struct StoreAck(Store);

impl OutboxAck for StoreAck {
    fn done(&self, trade_id: u64) {
        if let Err(err) = self.0.outbox_done(trade_id) {
            warn!(trade_id, error = %err, "could not drop a mirrored trade from the outbox");
        }
    }
}

/// [`run`], returning the run's counters.
pub async fn run_with_stats(
    settings: Settings,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> Result<RunStats, RunError> {
    run_inner(settings, clock, shutdown, None).await
}

/// Config reloads for a running bot: a request (SIGHUP) makes it `load` the settings again
/// and apply what may change while running ([`ReloadPlan`]).
pub struct Reloads {
    pub requests: mpsc::Receiver<()>,
    pub load: Box<dyn Fn() -> Result<Settings, ConfigErrors> + Send + Sync>,
}

/// [`run`] with config reloads on request.
pub async fn run_reloadable(
    settings: Settings,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
    reloads: Reloads,
) -> Result<(), RunError> {
    run_inner(settings, clock, shutdown, Some(reloads))
        .await
        .map(drop)
}

async fn run_inner(
    settings: Settings,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
    reloads: Option<Reloads>,
) -> Result<RunStats, RunError> {
    let mut app = Application::build(settings, clock, reloads).await?;
    let outcome = app.run_until_stopped(shutdown).await;
    app.stop(outcome).await
}

/// How long a stopping bot gives its sinks to hear why.
const LAST_WORDS: Duration = Duration::from_secs(3);

/// How often the engine looks for time-driven notifications (feed down, daily summary).
const NOTIFY_TICK: Duration = Duration::from_secs(1);

/// The core as the store left it: book, markets, signal budget, quota pause (cut to
/// `signal.max_pause` by the caller) and the operator's pause, under the configured rules.
/// A fresh store starts from `sizing.bankroll`; a stored book keeps its own bankroll.
pub(crate) fn restore_core(settings: &Settings, loaded: &crate::store::Loaded) -> Core {
    let core_config = settings.core_config();
    let book = match loaded.totals.clone() {
        Some(totals) => {
            if totals.starting_bankroll != core_config.sizing.bankroll {
                warn!(
                    stored = %totals.starting_bankroll,
                    configured = %core_config.sizing.bankroll,
                    "sizing.bankroll differs from the store's starting bankroll; the store wins \
                     (run `shiftbot reset --yes` to start a fresh bankroll)"
                );
            }
            Book::restore(totals, loaded.positions.clone())
        }
        None => Book::new(core_config.sizing.bankroll),
    };
    let mut core = Core::restore(
        core_config,
        book,
        loaded.markets.iter().cloned(),
        loaded.budget.clone(),
        loaded.pause.clone(),
    );
    core.set_halted(loaded.halted);
    core.set_snapshot_clock(loaded.last_snapshot_at);
    core
}

/// The next change of retention's "behind" flag; false once retention's thread is gone.
async fn retention_changed(behind: &mut Option<watch::Receiver<bool>>) -> bool {
    match behind {
        Some(behind) => behind.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Events taken from the intake in one turn of the loop before the batch is handed to the
/// writer (and shutdown and the writer's reports are looked at again).
const MAX_EVENTS_PER_TURN: usize = 4096;

/// The next reload request (SIGHUP, or the admin listener's with a reply), or never when
/// there are no reloads.
async fn next_reload(
    reloads: &mut Option<Reloads>,
    admin: &mut mpsc::Receiver<crate::admin::ReloadJob>,
) -> Option<Option<crate::admin::ReloadJob>> {
    match reloads {
        Some(reloads) => tokio::select! {
            signal = reloads.requests.recv() => signal.map(|()| None),
            job = admin.recv() => job.map(Some),
        },
        None => std::future::pending().await,
    }
}

/// Load the settings again and say what changes; the plan is `None` when the file is invalid
/// (nothing changes then) or nothing differs.
fn reload(running: &Settings, reloads: &Reloads) -> (Option<ReloadPlan>, ReloadReport) {
    let loaded = match (reloads.load)() {
        Ok(loaded) => loaded,
        Err(errors) => {
            let problems: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
            error!(
                problems = %problems.join("; "),
                "configuration reload refused: the file is invalid, nothing changed"
            );
            let report = ReloadReport {
                problems,
                ..ReloadReport::default()
            };
            return (None, report);
        }
    };
    let plan = ReloadPlan::new(running, &loaded);
    let report = ReloadReport {
        valid: true,
        changed: plan.changed.clone(),
        refused: plan.refused.clone(),
        problems: Vec::new(),
    };
    for key in &plan.refused {
        warn!(
            key = %key,
            "configuration reload: this key cannot change while running; the running value is \
             kept (restart to apply it)"
        );
    }
    if plan.changed.is_empty() {
        info!("configuration reloaded: no changeable key differs");
        return (None, report);
    }
    info!(changed = %plan.changed.join(", "), "configuration reloaded");
    (Some(plan), report)
}

/// How often a quota pause in force is logged.
const PAUSE_REPORT_EVERY: Duration = Duration::from_secs(3600);

fn log_pause(core: &Core, now: strategies::Timestamp) {
    if let Some(pause) = core.pause().filter(|pause| pause.until > now) {
        let left = (pause.until - now).to_std().unwrap_or_default();
        warn!(
            until = %pause.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            left = %humantime::format_duration(Duration::from_secs(left.as_secs())),
            reason = %pause.reason,
            "signal requests are paused"
        );
    }
}

fn feed_error(err: FeedError) -> RunError {
    match err {
        FeedError::Unauthorized { .. } => RunError::Unauthorized(err.to_string()),
        FeedError::InvalidUrl { .. } | FeedError::InvalidApiKey => {
            RunError::Config(err.to_string())
        }
        other => RunError::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::{FeedKind, LoadOptions, Secret};

    /// A key the HTTP stack cannot send is unusable settings (exit code 2), named without the
    /// key itself, and nothing is started.
    #[tokio::test]
    async fn an_api_key_that_cannot_be_a_header_is_a_settings_error_without_the_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::load(LoadOptions::default()).expect("default settings");
        settings.feed.kind = FeedKind::Rekko;
        settings.feed.base_url = "http://127.0.0.1:9".to_string();
        settings.api_key = Some(Secret::from("sk-secret\nvalue"));
        settings.storage.path = dir.path().join("store");
        let clock = crate::clock::system();
        let err = match Application::build(settings, clock, None).await {
            Ok(_) => panic!("a key with a newline was accepted"),
            Err(err) => err,
        };
        assert!(matches!(err, RunError::Client(_)), "{err:?}");
        assert_eq!(err.exit_code(), 2);
        assert!(!err.to_string().contains("sk-secret"), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the header error is kept as the cause"
        );
    }
}
