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

mod engine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use strategies::{Book, Core};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::clock::SharedClock;
use crate::configuration::{ConfigErrors, FeedKind, ReloadPlan, ReloadReport, Settings};
use crate::feed::{self, FeedError, StreamSettings};
use crate::mirror::{self, MirrorSettings, OutboxAck};
use crate::signal::{SignalClient, SignalSettings};
use crate::sim;
use crate::store::{Committer, Store, StoreError, WriterEvent};

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
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A commit failed (disk full, I/O error): what was acknowledged before is intact, nothing
    /// after it was acknowledged, and the bot stops without waiting on a flush that cannot end.
    #[error(
        "the store could not be written, stopping (what was acknowledged before is intact): {0}"
    )]
    StoreWrite(#[source] StoreError),
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
            RunError::Config(_) => 2,
            RunError::Store(_) | RunError::Other(_) => 1,
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
    mut shutdown: watch::Receiver<bool>,
    mut reloads: Option<Reloads>,
) -> Result<RunStats, RunError> {
    let mut running = settings.clone();
    let opening = Instant::now();
    let store = Store::open(&settings.storage.path)?;
    // Never trade on a store that disagrees with itself (a damaged file, a lost snapshot).
    let verified = crate::store::health::verify(&store, crate::store::health::Depth::Quick)?;
    info!(
        path = %store.path().display(),
        events = verified.events,
        decisions = verified.decisions,
        trades = verified.trades,
        took_ms = u64::try_from(opening.elapsed().as_millis()).unwrap_or(u64::MAX),
        "store verified"
    );
    let mut loaded = store.load()?;
    // Metrics count what the store holds from the store's own counts (a restart keeps them).
    if loaded.counters.outcomes.is_empty() && loaded.counters.next_decision_seq > 0 {
        let (types, outcomes) = store.count_history()?;
        info!(
            decisions = loaded.counters.next_decision_seq,
            "counted the store's events and decisions once, for /metrics"
        );
        loaded.counters.event_types = types;
        loaded.counters.outcomes = outcomes;
    }
    crate::metrics::restore(
        &loaded.counters.event_types,
        &loaded.counters.outcomes,
        &store.trades_by_action()?,
    );
    let health = Arc::new(crate::metrics::Health::new(
        clock.now(),
        settings.feed.stale_after,
    ));
    // A pause persisted before signal.max_pause existed (or under a longer one) is cut short.
    if let Some(pause) = loaded.pause.as_mut() {
        pause.until = crate::signal::cap_pause(pause.until, clock.now(), settings.signal.max_pause);
    }
    let fresh = loaded.totals.is_none();
    let core = restore_core(&settings, &loaded);
    let retention = settings.storage.retain.map(|retain| {
        let retention =
            crate::retention::Retention::new(store.clone(), retain, settings.storage.dedupe_window);
        info!(
            retain = %humantime::format_duration(retain),
            dedupe_window = %humantime::format_duration(settings.storage.dedupe_window),
            archive = %retention.dir().display(),
            "retention on"
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            stop.clone(),
            retention.behind(),
            crate::retention::spawn(retention, stop),
        )
    });

    // The embedded simulator is a real HTTP server: the bot talks to it like to the live API.
    let (sim_handle, base_url, api_key) = match settings.feed.kind {
        FeedKind::Sim => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| RunError::Other(format!("cannot start the simulator: {e}")))?;
            let handle = sim::spawn(settings.sim_config(), listener)
                .await
                .map_err(|e| RunError::Other(format!("cannot start the simulator: {e}")))?;
            let url = handle.base_url();
            info!(base_url = %url, "embedded simulator started");
            (Some(handle), url, None)
        }
        FeedKind::Rekko => (
            None,
            settings.feed.base_url.trim_end_matches('/').to_string(),
            settings.api_key.clone(),
        ),
    };
    let key_text = api_key.as_ref().map(crate::configuration::Secret::expose);

    let signal_client = SignalClient::new(
        SignalSettings::new(
            base_url.clone(),
            api_key.clone(),
            settings.signal.risk_limit.as_str(),
            settings.signal.timeout,
            settings.signal.max_retries,
        )
        .with_max_pause(settings.signal.max_pause),
        clock.clone(),
    )
    .map_err(RunError::Config)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mirror_tx = if settings.execution.mirror {
        let (tx, rx) = mpsc::unbounded_channel();
        let mirror_settings = MirrorSettings {
            base_url: base_url.clone(),
            api_key: api_key.clone(),
            timeout: settings.signal.timeout,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        };
        let ack: Arc<dyn OutboxAck> = Arc::new(StoreAck(store.clone()));
        tasks.spawn(mirror::run_mirror(
            mirror_settings,
            rx,
            ack,
            stop_rx.clone(),
        ));
        for order in &loaded.outbox {
            let _ = tx.send(engine::to_order(order));
        }
        Some(tx)
    } else {
        None
    };
    // While the bot holds the store, review commands are answered through it (read-only).
    let (backup_tx, mut backup_rx) = mpsc::channel::<crate::admin::BackupJob>(4);
    let (admin_reload_tx, mut admin_reload_rx) = mpsc::channel::<crate::admin::ReloadJob>(4);
    let (control_tx, mut control_rx) = mpsc::channel::<crate::admin::ControlJob>(16);
    tasks.spawn(crate::admin::serve(
        settings.admin.listen.to_string(),
        crate::admin::AdminState {
            store: store.clone(),
            clock: clock.clone(),
            backups: Some(backup_tx),
            health: Some(Arc::clone(&health)),
            reloads: reloads.is_some().then_some(admin_reload_tx),
            controls: Some(control_tx),
            token: settings.admin_token.clone(),
            local_writes: settings.admin.local_writes,
        },
        stop_rx.clone(),
    ));

    let notifier = crate::notify::outbox::Notifier::start(
        &settings.notify,
        &store,
        &mut loaded.counters,
        &mut tasks,
        stop_rx.clone(),
    )?;
    let (cursor_tx, cursor_rx) = watch::channel(loaded.cursor.clone());
    let (committer, mut durable_rx) = Committer::start(store.clone());
    let mut engine = Engine::new(
        core,
        store.clone(),
        committer,
        clock.clone(),
        loaded.counters.clone(),
        cursor_tx,
        mirror_tx,
    );
    engine.set_redactor(crate::signal::http::Redactor::new(key_text));
    engine.set_health(Arc::clone(&health));
    engine.set_notifier(notifier);
    let mut retention_behind = retention.as_ref().map(|(_, behind, _)| behind.clone());
    if let Some(behind) = &retention_behind {
        engine.set_retention_behind(behind.clone());
    }
    health.paused_until(engine.core().pause().map(|pause| pause.until));
    crate::metrics::book(engine.core());
    if fresh {
        engine.write_initial_totals();
    }
    info!(
        cash = %engine.core().book().cash(),
        positions = engine.core().book().positions.len(),
        waiting = loaded.inbox.len(),
        cursor = ?loaded.cursor,
        "book loaded"
    );
    engine.resume(loaded.inbox);

    // Markets with open positions are asked about their resolution, rarely; a resolved one
    // with a decisive last price is settled by the engine.
    let (held_tx, held_rx) = watch::channel(engine.core().open_markets());
    let (resolved_tx, mut resolved_rx) = mpsc::unbounded_channel();
    let resolution_client =
        crate::resolution::ResolutionClient::new(&base_url, key_text, settings.signal.timeout)
            .map_err(RunError::Config)?;
    tasks.spawn(crate::resolution::run_poller(
        resolution_client,
        settings.exits.resolution_poll,
        held_rx,
        resolved_tx,
        stop_rx.clone(),
    ));

    let (raw_tx, mut raw_rx) = mpsc::channel(4096);
    let stream_settings = StreamSettings {
        base_url: base_url.clone(),
        events: settings.feed.events.clone(),
        api_key,
        connect_timeout: settings.feed.connect_timeout,
        idle_timeout: settings.feed.idle_timeout,
        max_event_bytes: settings.feed.max_event_bytes,
        backoff_initial: settings.feed.backoff_initial,
        backoff_max: settings.feed.backoff_max,
    };
    let mut feed_task = tokio::spawn(feed::run_stream(
        stream_settings,
        clock.clone(),
        cursor_rx,
        raw_tx,
        stop_rx.clone(),
    ));

    let mut max_in_flight = settings.signal.max_in_flight.max(1);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<SignalDone>();
    let mut signals = JoinSet::new();
    let mut outcome: Result<(), RunError> = Ok(());
    let mut feed_open = true;
    let mut key_rejected = None;
    let mut feed_joined = false;
    // While signal requests are paused, say so every hour: a silent pause looks like a hang.
    let mut pause_report = tokio::time::interval_at(
        tokio::time::Instant::now() + PAUSE_REPORT_EVERY,
        PAUSE_REPORT_EVERY,
    );
    log_pause(engine.core(), clock.now());
    let mut pause_logged = engine.core().pause().map(|pause| pause.until);
    // systemd's watchdog is pinged from this loop: a loop that stops turning stops the pings.
    let watchdog_every = crate::service::watchdog_interval();
    let mut watchdog = tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
    // Feed-down alarms and daily summaries are looked for once a second.
    let mut notify_tick = tokio::time::interval(NOTIFY_TICK);
    notify_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    crate::service::ready();

    loop {
        while signals.len() < max_in_flight {
            let Some(job) = engine.jobs.pop_front() else {
                break;
            };
            let client = signal_client.clone();
            let done_tx = done_tx.clone();
            signals.spawn(async move {
                let asked = Instant::now();
                let fetch = client.fetch(&job.ticket.market).await;
                let ok = matches!(fetch.reply, strategies::SignalReply::Signal(_));
                crate::metrics::signal_request(ok, asked.elapsed());
                let _ = done_tx.send(SignalDone { job, fetch });
            });
        }
        if engine.submit() {
            crate::metrics::book(engine.core());
        }
        held_tx.send_if_modified(|held| {
            let open = engine.core().open_markets();
            let changed = *held != open;
            *held = open;
            changed
        });
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    info!("shutdown requested: stopping intake");
                    break;
                }
            }
            Some(report) = durable_rx.recv() => match report {
                WriterEvent::Durable(n) => engine.on_durable(n),
                WriterEvent::Failed(err) => {
                    health.store_failed();
                    error!(error = %err, "store commit failed; stopping (exit code 4)");
                    // Not persisted (the store is what failed): told now, or never.
                    let message = crate::notify::Message::error(
                        "store_error",
                        &format!("the store failed to commit; the bot stops (exit code 4): {err}"),
                        clock.now(),
                    );
                    crate::notify::delivery::last_words(&running.notify, &message, LAST_WORDS).await;
                    outcome = Err(RunError::StoreWrite(err));
                    break;
                }
            },
            Some(done) = done_rx.recv() => {
                engine.on_signal(done);
                let until = engine.core().pause().map(|pause| pause.until);
                health.paused_until(until);
                if until.is_some() && until != pause_logged {
                    log_pause(engine.core(), clock.now());
                    pause_logged = until;
                }
            }
            Some(resolution) = resolved_rx.recv() => engine.on_resolution(resolution),
            // Wakes the loop when retention catches up (the intake may go on).
            alive = retention_changed(&mut retention_behind) => if !alive { retention_behind = None },
            _ = pause_report.tick() => log_pause(engine.core(), clock.now()),
            _ = watchdog.tick(), if watchdog_every.is_some() => crate::service::watchdog(),
            _ = notify_tick.tick() => {
                if let Err(err) = engine.notify_tick() {
                    warn!(error = %err, "cannot read the store for the daily summary; trying again later");
                }
            }
            Some((control, reply)) = control_rx.recv() => engine.on_control(&control, Some(reply)),
            Some(reply) = next_reload(&mut reloads, &mut admin_reload_rx) => {
                crate::service::reloading();
                if let Some(reloads) = &reloads {
                    let (plan, report) = reload(&running, reloads);
                    if let Some(plan) = plan {
                        engine.reconfigure(plan.settings.core_config());
                        if plan.settings.notify != running.notify {
                            // The old sinks' tasks stop with their notifier; the store keeps
                            // what they had not delivered for the new ones.
                            engine.set_notifier(crate::notify::outbox::Notifier::none());
                            match crate::notify::outbox::Notifier::start(
                                &plan.settings.notify,
                                &store,
                                engine.counters_mut(),
                                &mut tasks,
                                stop_rx.clone(),
                            ) {
                                Ok(notifier) => engine.set_notifier(notifier),
                                Err(err) => warn!(error = %err, "cannot start the new notification sinks"),
                            }
                        }
                        max_in_flight = plan.settings.signal.max_in_flight.max(1);
                        running = plan.settings;
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(report);
                    }
                }
                crate::service::ready();
            }
            Some(job) = backup_rx.recv() => {
                // After everything decided so far: the writer takes jobs in order.
                engine.submit();
                engine.backup(job.dir, job.reply);
            }
            Some(_) = signals.join_next(), if !signals.is_empty() => {}
            // Backpressure: past these bounds the intake waits (the feed's channel fills, then
            // the socket), so a source faster than the writer or the signal API cannot grow
            // this process without limit; events not read stay at the server, behind the cursor.
            raw = raw_rx.recv(), if feed_open && engine.has_room() => match raw {
                Some(raw) => {
                    if let Err(err) = engine.on_raw(raw, Instant::now()) {
                        outcome = Err(err);
                        break;
                    }
                    // Drain what is already queued before the next submit: one batch, many events.
                    // Bounded: a source faster than the engine would otherwise keep this loop
                    // going for ever, growing one batch that is never committed, and never
                    // looking at shutdown or the writer's reports again.
                    for _ in 1..MAX_EVENTS_PER_TURN {
                        if !engine.has_room() {
                            break;
                        }
                        let Ok(raw) = raw_rx.try_recv() else { break };
                        if let Err(err) = engine.on_raw(raw, Instant::now()) {
                            outcome = Err(err);
                            break;
                        }
                    }
                    if outcome.is_err() { break; }
                }
                None => feed_open = false,
            },
            joined = &mut feed_task, if !feed_joined => {
                feed_joined = true;
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        error!(error = %err, "event feed stopped");
                        if matches!(err, FeedError::Unauthorized { .. }) {
                            key_rejected = Some(engine.notify_error(
                                "key_rejected",
                                &format!("the API refused the key; the bot stops: {err}"),
                            ));
                        }
                        outcome = Err(feed_error(err));
                        break;
                    }
                    Err(join) => {
                        outcome = Err(RunError::Other(format!("event feed task failed: {join}")));
                        break;
                    }
                }
            }
        }
    }

    // Stop intake and outbound calls, then let the store settle.
    crate::service::stopping();
    stop_tx.send_replace(true);
    // Retention stops between two chunks; a chunk cut short is redone by the next start.
    let retention = retention.map(|(stop, _, thread)| {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        thread
    });
    signals.abort_all();
    drop(raw_rx);
    if matches!(outcome, Err(RunError::StoreWrite(_))) {
        // No final commit or flush: it cannot succeed and sled would wait on it for ever.
        engine.abandon();
        feed_task.abort();
        give_up_on_store(store, &mut tasks);
        return outcome.map(|()| RunStats::default());
    }
    if !feed_joined {
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut feed_task).await;
        feed_task.abort();
    }
    let closing = tokio::task::spawn_blocking(move || engine.close(&mut durable_rx));
    let closed = if outcome.is_err() {
        // Stopping on an error (a failed read of the store, say): the final commit may hang
        // on the same fault, so it gets a deadline. Nothing unflushed was acknowledged.
        match tokio::time::timeout(STORE_FAILURE_EXIT, closing).await {
            Ok(joined) => joined,
            Err(_) => {
                error!("the store's final commit did not finish in time; exiting without it");
                give_up_on_store(store, &mut tasks);
                return outcome.map(|()| RunStats::default());
            }
        }
    } else {
        closing.await
    }
    .map_err(|e| RunError::Other(format!("writer shutdown failed: {e}")))?;
    if let Err(RunError::StoreWrite(err)) = closed {
        error!(error = %err, "store commit failed during shutdown (exit code 4)");
        give_up_on_store(store, &mut tasks);
        return Err(RunError::StoreWrite(err));
    }
    let stats = closed?;
    if let Some((message, entries)) = key_rejected {
        // Stored with the last batch, so the next start delivers it if this does not.
        for name in crate::notify::delivery::last_words(&running.notify, &message, LAST_WORDS).await
        {
            for entry in entries.iter().filter(|e| e.sink == name) {
                let _ = store.notify_done(&entry.sink, entry.seq);
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    if let Some(thread) = retention {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::task::spawn_blocking(move || thread.join()),
        )
        .await;
    }
    if let Some(handle) = sim_handle {
        let _ = tokio::time::timeout(Duration::from_secs(1), handle.shutdown()).await;
    }
    info!(
        received = stats.received,
        duplicates = stats.duplicates,
        decided = stats.decided,
        traded = stats.traded,
        "stopped; store flushed"
    );
    outcome.map(|()| stats)
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
        loaded.markets.iter().cloned().collect(),
        loaded.budget.clone(),
        loaded.pause.clone(),
    );
    core.set_halted(loaded.halted);
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
