//! The running bot in three parts, each readable on its own (zero2prod's `Application::build`
//! apart from `run_until_stopped`):
//! - [`Application::build`]: open and verify the store, restore the core, start every task
//!   (simulator, mirror, admin listener, notifications, resolution poller, feed);
//! - [`Application::run_until_stopped`]: the loop, one `select!` over everything that can
//!   happen, each case handled by a method of its own;
//! - [`Application::stop`]: intake off, the store settled, the tasks given a moment.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strategies::MarketKey;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, info, warn};

use super::{
    feed_error, give_up_on_store, log_pause, next_reload, reload, retention_changed, Engine,
    Reloads, RunError, RunStats, SignalDone, LAST_WORDS, MAX_EVENTS_PER_TURN, NOTIFY_TICK,
    PAUSE_REPORT_EVERY, STORE_FAILURE_EXIT,
};
use crate::admin::{BackupJob, ControlJob, ReloadJob};
use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::feed::{FeedError, RawEvent};
use crate::metrics::Health;
use crate::notify::outbox::Notifier;
use crate::notify::Message;
use crate::resolution::Resolution;
use crate::signal::SignalClient;
use crate::sim::SimHandle;
use crate::store::{NotifyEntry, Store, WriterEvent};

/// How often webhook delivery keys past their time are looked for, and at most how many go
/// at once (the rest the next time).
const DELIVERY_PRUNE_EVERY: Duration = Duration::from_secs(600);
const DELIVERY_PRUNE_MAX: usize = 100_000;

/// Everything a running bot holds: the engine, the tasks around it and the channels between.
pub(super) struct Application {
    /// The settings in force (a reload replaces them).
    running: Settings,
    clock: SharedClock,
    store: Store,
    health: Arc<Health>,
    engine: Engine,
    reloads: Option<Reloads>,
    tasks: JoinSet<()>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    retention: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    retention_behind: Option<watch::Receiver<bool>>,
    sim_handle: Option<SimHandle>,
    signal_client: SignalClient,
    max_in_flight: usize,
    signals: JoinSet<()>,
    done_tx: mpsc::UnboundedSender<SignalDone>,
    done_rx: mpsc::UnboundedReceiver<SignalDone>,
    durable_rx: mpsc::UnboundedReceiver<WriterEvent>,
    held_tx: watch::Sender<BTreeSet<MarketKey>>,
    resolved_rx: mpsc::UnboundedReceiver<Resolution>,
    raw_rx: mpsc::Receiver<RawEvent>,
    /// Webhook deliveries, from every webhook intake.
    delivery_rx: mpsc::Receiver<crate::intake::Delivery>,
    feed_task: JoinHandle<Result<(), FeedError>>,
    feed_open: bool,
    feed_joined: bool,
    /// The notification of a refused key, said once more as the bot stops.
    key_rejected: Option<(Message, Vec<NotifyEntry>)>,
    backup_rx: mpsc::Receiver<BackupJob>,
    admin_reload_rx: mpsc::Receiver<ReloadJob>,
    control_rx: mpsc::Receiver<ControlJob>,
    /// The pause last logged, so that a new one is logged once.
    pause_logged: Option<strategies::Timestamp>,
}

impl Application {
    /// Turn the loop until `shutdown` turns true or something fatal happens (the error).
    pub(super) async fn run_until_stopped(
        &mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), RunError> {
        // While signal requests are paused, say so every hour: a silent pause looks like a hang.
        let mut pause_report = tokio::time::interval_at(
            tokio::time::Instant::now() + PAUSE_REPORT_EVERY,
            PAUSE_REPORT_EVERY,
        );
        log_pause(self.engine.core(), self.clock.now());
        self.pause_logged = self.engine.core().pause().map(|pause| pause.until);
        // systemd's watchdog is pinged from this loop: a loop that stops turning stops the pings.
        let watchdog_every = crate::service::watchdog_interval();
        let mut watchdog =
            tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
        // Feed-down alarms and daily summaries are looked for once a second.
        let mut notify_tick = tokio::time::interval(NOTIFY_TICK);
        notify_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Webhook delivery keys past their time are forgotten every few minutes, off the loop.
        let mut prune_tick = tokio::time::interval(DELIVERY_PRUNE_EVERY);
        prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let receives_webhooks = self.running.intake.iter().any(|i| i.webhook.is_some());
        crate::service::ready();

        loop {
            self.spawn_signal_requests();
            if self.engine.submit() {
                crate::metrics::book(self.engine.core());
            }
            let engine = &self.engine;
            self.held_tx.send_if_modified(|held| {
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
                        return Ok(());
                    }
                }
                Some(report) = self.durable_rx.recv() => self.on_writer(report).await?,
                Some(done) = self.done_rx.recv() => self.on_signal(done),
                Some(resolution) = self.resolved_rx.recv() => self.engine.on_resolution(resolution),
                // Wakes the loop when retention catches up (the intake may go on).
                alive = retention_changed(&mut self.retention_behind) => {
                    if !alive {
                        self.retention_behind = None;
                    }
                }
                _ = pause_report.tick() => log_pause(self.engine.core(), self.clock.now()),
                _ = prune_tick.tick(), if receives_webhooks => {
                    let (store, now) = (self.store.clone(), self.clock.now());
                    tokio::task::spawn_blocking(move || {
                        match store.prune_deliveries(now, DELIVERY_PRUNE_MAX) {
                            Ok(0) => {}
                            Ok(gone) => info!(gone, "forgot webhook delivery ids past their time"),
                            Err(err) => warn!(error = %err, "cannot prune webhook delivery ids; trying again later"),
                        }
                    });
                }
                _ = watchdog.tick(), if watchdog_every.is_some() => crate::service::watchdog(),
                _ = notify_tick.tick() => {
                    if let Err(err) = self.engine.notify_tick() {
                        warn!(error = %err, "cannot read the store for the daily summary; trying again later");
                    }
                }
                Some((control, reply)) = self.control_rx.recv() => {
                    self.engine.on_control(&control, Some(reply));
                }
                Some(reply) = next_reload(&mut self.reloads, &mut self.admin_reload_rx) => {
                    self.on_reload(reply);
                }
                Some(job) = self.backup_rx.recv() => {
                    // After everything decided so far: the writer takes jobs in order.
                    self.engine.submit();
                    self.engine.backup(job.dir, job.reply);
                }
                Some(_) = self.signals.join_next(), if !self.signals.is_empty() => {}
                // Backpressure: past these bounds the intake waits (the feed's channel fills,
                // then the socket), so a source faster than the writer or the signal API cannot
                // grow this process without limit; events not read stay at the server, behind
                // the cursor.
                raw = self.raw_rx.recv(), if self.feed_open && self.engine.has_room() => match raw {
                    Some(raw) => self.on_raw(raw)?,
                    None => self.feed_open = false,
                },
                // Webhooks wait under the same bounds; their senders get 503 past the deadline.
                Some(delivery) = self.delivery_rx.recv(), if self.engine.has_room() => {
                    self.on_delivery(delivery)?;
                }
                joined = &mut self.feed_task, if !self.feed_joined => self.on_feed_ended(joined)?,
            }
        }
    }

    /// Start signal requests for waiting jobs, up to `signal.max_in_flight` at once.
    fn spawn_signal_requests(&mut self) {
        while self.signals.len() < self.max_in_flight {
            let Some(job) = self.engine.jobs.pop_front() else {
                break;
            };
            let client = self.signal_client.clone();
            let done_tx = self.done_tx.clone();
            self.signals.spawn(async move {
                let asked = Instant::now();
                let fetch = client.fetch(&job.ticket.market).await;
                let ok = matches!(fetch.reply, strategies::SignalReply::Signal(_));
                crate::metrics::signal_request(ok, asked.elapsed());
                let _ = done_tx.send(SignalDone { job, fetch });
            });
        }
    }

    /// A report of the writer: decisions durable, or a failed commit (fatal).
    async fn on_writer(&mut self, report: WriterEvent) -> Result<(), RunError> {
        match report {
            WriterEvent::Durable(n) => {
                self.engine.on_durable(n);
                Ok(())
            }
            WriterEvent::Failed(err) => {
                self.health.store_failed();
                error!(error = %err, "store commit failed; stopping (exit code 4)");
                // Not persisted (the store is what failed): told now, or never.
                let message = Message::error(
                    "store_error",
                    &format!("the store failed to commit; the bot stops (exit code 4): {err}"),
                    self.clock.now(),
                );
                crate::notify::delivery::last_words(&self.running.notify, &message, LAST_WORDS)
                    .await;
                Err(RunError::StoreWrite(err))
            }
        }
    }

    fn on_signal(&mut self, done: SignalDone) {
        self.engine.on_signal(done);
        let until = self.engine.core().pause().map(|pause| pause.until);
        self.health.paused_until(until);
        if until.is_some() && until != self.pause_logged {
            log_pause(self.engine.core(), self.clock.now());
            self.pause_logged = until;
        }
    }

    /// An event, and what is already queued behind it: one batch, many events. Bounded: a
    /// source faster than the engine would otherwise keep the loop here for ever, growing one
    /// batch that is never committed, and never looking at shutdown or the writer again.
    fn on_raw(&mut self, raw: RawEvent) -> Result<(), RunError> {
        take_queued(&mut self.engine, &mut self.raw_rx, raw, Engine::on_raw)
    }

    /// A webhook delivery, and those queued behind it (bounded like [`Self::on_raw`]).
    fn on_delivery(&mut self, delivery: crate::intake::Delivery) -> Result<(), RunError> {
        take_queued(
            &mut self.engine,
            &mut self.delivery_rx,
            delivery,
            Engine::on_delivery,
        )
    }

    /// The feed's task ended: only an error (or a panic) ends it before shutdown.
    fn on_feed_ended(
        &mut self,
        joined: Result<Result<(), FeedError>, tokio::task::JoinError>,
    ) -> Result<(), RunError> {
        self.feed_joined = true;
        match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                error!(error = %err, "event feed stopped");
                if matches!(err, FeedError::Unauthorized { .. }) {
                    self.key_rejected = Some(self.engine.notify_error(
                        "key_rejected",
                        &format!("the API refused the key; the bot stops: {err}"),
                    ));
                }
                Err(feed_error(err))
            }
            Err(join) => Err(RunError::Other(format!("event feed task failed: {join}"))),
        }
    }

    /// SIGHUP or the admin listener asked for a reload: apply what may change while running.
    fn on_reload(&mut self, reply: Option<ReloadJob>) {
        crate::service::reloading();
        if let Some(reloads) = &self.reloads {
            let (plan, report) = reload(&self.running, reloads);
            if let Some(plan) = plan {
                self.engine.reconfigure(plan.settings.core_config());
                if plan.settings.notify != self.running.notify {
                    // The old sinks' tasks stop with their notifier; the store keeps what they
                    // had not delivered for the new ones.
                    self.engine.set_notifier(Notifier::none());
                    match Notifier::start(
                        &plan.settings.notify,
                        &self.store,
                        self.engine.counters_mut(),
                        &mut self.tasks,
                        self.stop_rx.clone(),
                    ) {
                        Ok(notifier) => self.engine.set_notifier(notifier),
                        Err(err) => warn!(error = %err, "cannot start the new notification sinks"),
                    }
                }
                self.max_in_flight = plan.settings.signal.max_in_flight.max(1);
                self.running = plan.settings;
            }
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
        }
        crate::service::ready();
    }

    /// Stop intake and outbound calls, then let the store settle; the run's counters, or why
    /// it stopped (`outcome`, or a failure of the final commit).
    pub(super) async fn stop(self, outcome: Result<(), RunError>) -> Result<RunStats, RunError> {
        let Application {
            running,
            store,
            engine,
            mut tasks,
            stop_tx,
            retention,
            sim_handle,
            mut signals,
            mut durable_rx,
            raw_rx,
            delivery_rx,
            mut feed_task,
            feed_joined,
            key_rejected,
            ..
        } = self;
        crate::service::stopping();
        stop_tx.send_replace(true);
        // Retention stops between two chunks; a chunk cut short is redone by the next start.
        let retention = retention.map(|(stop, thread)| {
            stop.store(true, Ordering::Relaxed);
            thread
        });
        signals.abort_all();
        drop(raw_rx);
        // Senders still waiting get 503 (not durable) and deliver again after the restart.
        drop(delivery_rx);
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
            for name in
                crate::notify::delivery::last_words(&running.notify, &message, LAST_WORDS).await
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
}

/// `first`, then what is queued behind it on `rx`, each given to the engine by `take`: at
/// most [`MAX_EVENTS_PER_TURN`], and only while the engine has room.
fn take_queued<T>(
    engine: &mut Engine,
    rx: &mut mpsc::Receiver<T>,
    first: T,
    take: fn(&mut Engine, T, Instant) -> Result<(), RunError>,
) -> Result<(), RunError> {
    take(engine, first, Instant::now())?;
    for _ in 1..MAX_EVENTS_PER_TURN {
        if !engine.has_room() {
            break;
        }
        let Ok(next) = rx.try_recv() else {
            break;
        };
        take(engine, next, Instant::now())?;
    }
    Ok(())
}

mod wiring;
