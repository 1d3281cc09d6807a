//! [`Application::build`]: the wiring of a running bot, before the loop turns.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::info;

use super::Application;
use crate::admin::{BackupJob, ControlJob, ReloadJob};
use crate::clock::SharedClock;
use crate::configuration::{FeedKind, IntakeKind, Secret, Settings};
use crate::feed::backoff::Backoff;
use crate::feed::{self, StreamSettings};
use crate::intake::poll::Poller;
use crate::intake::webhook::Receiver;
use crate::intake::websocket::Websocket;
use crate::intake::{Delivery, Liveness};
use crate::metrics::Health;
use crate::mirror::{self, MirrorSettings, OutboxAck};
use crate::notify::outbox::Notifier;
use crate::runner::{engine, restore_core, Engine, Reloads, RunError, SignalDone, StoreAck};
use crate::signal::{SignalClient, SignalSettings};
use crate::sim::{self, SimHandle};
use crate::store::{Committer, Loaded, Store};

/// The API the bot talks to: the embedded simulator (a real HTTP server) or the configured one.
struct Api {
    sim: Option<SimHandle>,
    base_url: String,
    key: Option<Secret>,
}

impl Application {
    /// Open the store, restore the core and start every task; the loop is not turning yet.
    pub(in crate::runner) async fn build(
        settings: Settings,
        clock: SharedClock,
        reloads: Option<Reloads>,
    ) -> Result<Application, RunError> {
        let (store, mut loaded) = open_store(&settings, &clock)?;
        let health = Arc::new(Health::new(clock.now(), settings.feed.stale_after));
        let fresh = loaded.totals.is_none();
        let core = restore_core(&settings, &loaded);
        let retention = start_retention(&settings, &store);
        let api = Api::start(&settings).await?;
        let signal_client = SignalClient::new(
            SignalSettings::new(
                api.base_url.clone(),
                api.key.clone(),
                settings.signal.risk_limit.as_str(),
                settings.signal.timeout,
                settings.signal.max_retries,
            )
            .with_max_pause(settings.signal.max_pause),
            clock.clone(),
        )?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mirror_tx = start_mirror(&settings, &api, &store, &loaded, &mut tasks, &stop_rx);
        // While the bot holds the store, review commands are answered through it (read-only).
        let (backup_tx, backup_rx) = mpsc::channel::<BackupJob>(4);
        let (admin_reload_tx, admin_reload_rx) = mpsc::channel::<ReloadJob>(4);
        let (control_tx, control_rx) = mpsc::channel::<ControlJob>(16);
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
                bankroll: settings.sizing.bankroll,
                signal_max_per_day: settings.signal.max_per_day,
            },
            stop_rx.clone(),
        ));
        let notifier = Notifier::start(
            &settings.notify,
            &store,
            &mut loaded.counters,
            &mut tasks,
            stop_rx.clone(),
        )?;

        let (cursor_tx, cursor_rx) = watch::channel(loaded.cursor.clone());
        let (committer, durable_rx) = Committer::start(store.clone());
        let mut engine = Engine::new(
            core,
            store.clone(),
            committer,
            clock.clone(),
            loaded.counters.clone(),
            cursor_tx,
            mirror_tx,
        );
        engine.set_redactor(crate::signal::http::Redactor::new(api.key.as_ref()));
        engine.set_health(Arc::clone(&health));
        engine.set_notifier(notifier);
        let retention_behind = retention.as_ref().map(|(_, behind, _)| behind.clone());
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

        // Markets with open positions are asked about their resolution, rarely; a resolved
        // one with a decisive last price is settled by the engine.
        let (held_tx, held_rx) = watch::channel(engine.core().open_markets());
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        let resolution_client = crate::resolution::ResolutionClient::new(
            &api.base_url,
            api.key.as_ref(),
            settings.signal.timeout,
        )?;
        tasks.spawn(crate::resolution::run_poller(
            resolution_client,
            settings.exits.resolution_poll,
            held_rx,
            resolved_tx,
            stop_rx.clone(),
        ));

        start_registrations(&settings, &api, &store, &mut tasks);
        let (delivery_tx, delivery_rx) = mpsc::channel::<Delivery>(4096);
        start_receivers(&settings, &api, &clock, &delivery_tx, &mut tasks, &stop_rx).await?;
        let (raw_tx, raw_rx) = mpsc::channel(4096);
        // No `[[intake]]` is the `[feed]` stream alone; with intakes, the stream runs when one
        // of them is it.
        let stream_wanted = settings.intake.is_empty()
            || settings.intake.iter().any(|i| i.kind == IntakeKind::Stream);
        let stream_liveness = Liveness::new(clock.now());
        let mut watched = Vec::new();
        if stream_wanted {
            watched.push(stream_liveness.clone());
        }
        watched.extend(start_websockets(
            &settings,
            &clock,
            &delivery_tx,
            &mut tasks,
            &stop_rx,
        ));
        start_poller(
            &settings,
            &api,
            &clock,
            &store,
            watched,
            &delivery_tx,
            &mut tasks,
            &stop_rx,
        );
        drop(delivery_tx);
        let feed_task = match stream_wanted {
            true => tokio::spawn(feed::run_stream(
                stream_settings(&settings, &api),
                clock.clone(),
                cursor_rx,
                raw_tx,
                stop_rx.clone(),
                stream_liveness,
            )),
            false => {
                drop(raw_tx);
                tokio::spawn(async { Ok(()) })
            }
        };
        let (done_tx, done_rx) = mpsc::unbounded_channel::<SignalDone>();
        Ok(Application {
            max_in_flight: settings.signal.max_in_flight.max(1),
            running: settings,
            clock,
            store,
            health,
            engine,
            reloads,
            tasks,
            stop_tx,
            stop_rx,
            retention: retention.map(|(stop, _, thread)| (stop, thread)),
            retention_behind,
            sim_handle: api.sim,
            signal_client,
            signals: JoinSet::new(),
            done_tx,
            done_rx,
            durable_rx,
            held_tx,
            resolved_rx,
            raw_rx,
            delivery_rx,
            feed_task,
            feed_open: true,
            feed_joined: false,
            key_rejected: None,
            backup_rx,
            admin_reload_rx,
            control_rx,
            pause_logged: None,
        })
    }
}

/// Bind every webhook intake's address (a taken port stops the start) and serve each; their
/// deliveries go to `tx`.
async fn start_receivers(
    settings: &Settings,
    api: &Api,
    clock: &SharedClock,
    tx: &mpsc::Sender<Delivery>,
    tasks: &mut JoinSet<()>,
    stop_rx: &watch::Receiver<bool>,
) -> Result<(), RunError> {
    let receivers = settings
        .intake
        .iter()
        .filter_map(|intake| {
            let mut hook = intake.webhook.clone()?;
            if api.sim.is_some() && hook.secret.is_none() && !hook.allow_unsigned {
                hook.secret = Some(run_secret(hook.scheme));
            }
            Some(Receiver::new(&intake.name, hook, clock.clone(), tx.clone()))
        })
        .collect();
    let bound = crate::intake::webhook::bind_all(receivers)
        .await
        .map_err(|(addr, err)| RunError::Listen {
            what: "webhook receiver",
            addr,
            source: err,
        })?;
    for (receiver, listener, addr) in bound {
        // The embedded simulator feeds each receiver, over real HTTP, in its scheme.
        if let Some(sim) = &api.sim {
            let target = sim::PushTarget {
                url: format!("http://{addr}{}", receiver.settings.path),
                scheme: receiver.settings.scheme,
                secret: receiver
                    .settings
                    .secret
                    .as_ref()
                    .map(|s| s.expose().to_string()),
                events: settings.feed.events.clone(),
            };
            info!(intake = %receiver.name, url = %target.url, "the simulator pushes webhooks to this intake");
            sim.push_to(target);
        }
        tasks.spawn(receiver.serve(listener, stop_rx.clone()));
    }
    Ok(())
}

/// A secret made for this run, for a webhook intake fed by the embedded simulator: 32 random
/// bytes, in the scheme's spelling (`whsec_<base64>` for Standard Webhooks, hex otherwise).
fn run_secret(scheme: crate::intake::webhook::scheme::Scheme) -> Secret {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    Secret::new(match scheme {
        crate::intake::webhook::scheme::Scheme::Standard => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        _ => hex::encode(bytes),
    })
}

/// Against the real API, check each webhook intake's registration (`public_url` for
/// `feed.events`) at start, in the background: one remembered in the store costs no call;
/// otherwise one `GET /v1/webhooks` and what [`ensure`] needs. A failure is logged, never
/// retried (registration calls are billed): `shiftbot webhooks ensure` is the way to retry.
fn start_registrations(settings: &Settings, api: &Api, store: &Store, tasks: &mut JoinSet<()>) {
    use crate::intake::registration::{ensure, remember, remembered, RegistrationClient, Wanted};
    if api.sim.is_some() {
        return;
    }
    let events = settings.feed.events.clone();
    let pending: Vec<(String, String, Option<Secret>)> = settings
        .intake
        .iter()
        .filter_map(|intake| {
            let hook = intake.webhook.as_ref()?;
            Some((
                intake.name.clone(),
                hook.public_url.clone()?,
                hook.secret.clone(),
            ))
        })
        .filter(|(name, url, _)| {
            let wanted = Wanted {
                intake: name,
                url,
                events: &events,
                secret: None,
            };
            let known = store.registration(name).ok().flatten();
            let covered = remembered(known.as_ref(), &wanted);
            if covered {
                info!(intake = %name, url = %url, "webhook registration remembered; no call");
            }
            !covered
        })
        .collect();
    if pending.is_empty() {
        return;
    }
    let client =
        match RegistrationClient::new(&api.base_url, api.key.as_ref(), settings.signal.timeout) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!("webhook registration not checked: {err}");
                return;
            }
        };
    let store = store.clone();
    tasks.spawn(async move {
        let existing = match client.list().await {
            Ok(existing) => existing,
            Err(err) => {
                tracing::warn!(error = %err, "webhook registrations not checked (not retried: each call is billed); run `shiftbot webhooks ensure`");
                return;
            }
        };
        for (name, url, secret) in &pending {
            let wanted = Wanted { intake: name, url, events: &events, secret: secret.as_ref() };
            match ensure(&client, &wanted, &existing, false).await {
                Ok(steps) => {
                    for step in &steps {
                        info!(intake = %name, "{}", step.line(&wanted));
                    }
                    if let Err(err) = remember(&store, &wanted, &steps, chrono::Utc::now()) {
                        tracing::warn!(intake = %name, error = %err, "webhook registration not remembered");
                    }
                }
                Err(err) => tracing::warn!(intake = %name, error = %err, "webhook registration failed (not retried: each call is billed); run `shiftbot webhooks ensure`"),
            }
        }
    });
}

/// Start every WebSocket intake (on the stream's backoff); their liveness, for the poller.
fn start_websockets(
    settings: &Settings,
    clock: &SharedClock,
    tx: &mpsc::Sender<Delivery>,
    tasks: &mut JoinSet<()>,
    stop_rx: &watch::Receiver<bool>,
) -> Vec<Liveness> {
    let mut watched = Vec::new();
    for intake in &settings.intake {
        let Some(ws) = intake.websocket.clone() else {
            continue;
        };
        let liveness = Liveness::new(clock.now());
        watched.push(liveness.clone());
        let websocket = Websocket {
            name: Arc::from(intake.name.as_str()),
            settings: ws,
            connect_timeout: settings.feed.connect_timeout,
            backoff: Backoff::new(settings.feed.backoff_initial, settings.feed.backoff_max),
            clock: clock.clone(),
            liveness,
            tx: tx.clone(),
        };
        tasks.spawn(websocket.run(stop_rx.clone()));
    }
    watched
}

/// Start the poll intake, if there is one, against the API the bot talks to.
#[allow(clippy::too_many_arguments)]
fn start_poller(
    settings: &Settings,
    api: &Api,
    clock: &SharedClock,
    store: &Store,
    watched: Vec<Liveness>,
    tx: &mpsc::Sender<Delivery>,
    tasks: &mut JoinSet<()>,
    stop_rx: &watch::Receiver<bool>,
) {
    let Some((name, poll)) = settings
        .intake
        .iter()
        .find_map(|i| Some((i.name.as_str(), i.poll.clone()?)))
    else {
        return;
    };
    let poller = Poller {
        name: Arc::from(name),
        settings: poll,
        base_url: api.base_url.clone(),
        api_key: api.key.clone(),
        timeout: settings.signal.timeout,
        min_shift_pct: settings.filter.min_shift_pct,
        clock: clock.clone(),
        store: store.clone(),
        watched,
        tx: tx.clone(),
    };
    tasks.spawn(poller.run(stop_rx.clone()));
}

/// The `[feed]` stream of the API the bot talks to.
fn stream_settings(settings: &Settings, api: &Api) -> StreamSettings {
    StreamSettings {
        base_url: api.base_url.clone(),
        events: settings.feed.events.clone(),
        api_key: api.key.clone(),
        connect_timeout: settings.feed.connect_timeout,
        idle_timeout: settings.feed.idle_timeout,
        max_event_bytes: settings.feed.max_event_bytes,
        backoff_initial: settings.feed.backoff_initial,
        backoff_max: settings.feed.backoff_max,
    }
}

/// Open the store, verify it and load what it holds; metrics restored from its counts.
fn open_store(settings: &Settings, clock: &SharedClock) -> Result<(Store, Loaded), RunError> {
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
    // A pause persisted before signal.max_pause existed (or under a longer one) is cut short.
    if let Some(pause) = loaded.pause.as_mut() {
        pause.until = crate::signal::cap_pause(pause.until, clock.now(), settings.signal.max_pause);
    }
    Ok((store, loaded))
}

/// Retention's thread, its stop flag and its "behind" flag, when `storage.retain` is set.
fn start_retention(
    settings: &Settings,
    store: &Store,
) -> Option<(
    Arc<AtomicBool>,
    watch::Receiver<bool>,
    std::thread::JoinHandle<()>,
)> {
    settings.storage.retain.map(|retain| {
        let retention =
            crate::retention::Retention::new(store.clone(), retain, settings.storage.dedupe_window);
        info!(
            retain = %humantime::format_duration(retain),
            dedupe_window = %humantime::format_duration(settings.storage.dedupe_window),
            archive = %retention.dir().display(),
            "retention on"
        );
        let stop = Arc::new(AtomicBool::new(false));
        (
            stop.clone(),
            retention.behind(),
            crate::retention::spawn(retention, stop),
        )
    })
}

impl Api {
    async fn start(settings: &Settings) -> Result<Api, RunError> {
        Ok(match settings.feed.kind {
            FeedKind::Sim => {
                let failed =
                    |e: std::io::Error| RunError::Other(format!("cannot start the simulator: {e}"));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(failed)?;
                let handle = sim::spawn(settings.sim_config(), listener)
                    .await
                    .map_err(failed)?;
                let base_url = handle.base_url();
                info!(base_url = %base_url, "embedded simulator started");
                Api {
                    sim: Some(handle),
                    base_url,
                    key: None,
                }
            }
            FeedKind::Rekko => Api {
                sim: None,
                base_url: settings.feed.base_url.trim_end_matches('/').to_string(),
                key: settings.api_key.clone(),
            },
        })
    }
}

/// The mirror task when `execution.mirror` is on, fed what the outbox still holds.
fn start_mirror(
    settings: &Settings,
    api: &Api,
    store: &Store,
    loaded: &Loaded,
    tasks: &mut JoinSet<()>,
    stop_rx: &watch::Receiver<bool>,
) -> Option<mpsc::UnboundedSender<crate::mirror::MirrorOrder>> {
    if !settings.execution.mirror {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let mirror_settings = MirrorSettings {
        base_url: api.base_url.clone(),
        api_key: api.key.clone(),
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
}
