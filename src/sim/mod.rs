//! An embedded, Rekko-compatible simulator: the API as shiftbot uses it, on a local port.
//!
//! It serves three purposes: `feed.kind = "sim"` starts it in-process on 127.0.0.1:0 and the bot
//! talks to it over real HTTP through the live code path (a fresh machine trades with no key and
//! no network); `shiftbot sim --listen ADDR` serves it standalone; tests and the benchmark drive
//! it with scripted events and injected faults.
//!
//! Endpoints (shapes follow the API's documentation):
//! - `GET /v1/stream?events=a,b`: SSE (`id:`, `event:`, `data:`, `: ping` heartbeats, `retry:`)
//!   or bare JSON lines; honours `Last-Event-ID`. The `world` module explains how the event
//!   sequence, pacing and resumption work; [`model`] describes the market model behind it.
//! - `POST /v1/signals`: a Signal from the model's hidden truth (module `advice`).
//! - `POST /v1/trades/shadow`: paper fills, recorded in [`SimStats`].
//! - `GET /v1/markets/{platform}/{market_id}/resolution`: the market's lifecycle status.
//!
//! When `api_key` is set every endpoint wants `Authorization: Bearer <key>` (401 otherwise).
//! [`Faults`] injects the failures the bot must survive.
//!
//! Layout: `model` (pure market model), `advice` (pure signal answer), `world` (shared state:
//! event log, pacing, quotes), `stream` and `api` (handlers), `stats`, `json` (a JSON writer
//! printing `Decimal`s as numbers).

mod advice;
mod api;
mod json;
pub mod model;
mod push;
mod socket;
mod stats;
mod stream;
mod world;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod intake_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod test_client;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use strategies::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use advice::signal_body;
pub use advice::{advise, Advice, Recommendation, Risk, Skill};
pub use model::hidden_probability;
pub use push::PushTarget;
pub use stats::{SimStats, RECORD_CAP};
pub(crate) use world::event_json;

/// Wire format of the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// Standard Server-Sent Events.
    #[default]
    Sse,
    /// One bare JSON object per line (with its `"id"`), as the API's own examples read it.
    Lines,
}

/// One event of a scripted stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedEvent {
    /// Sent as the SSE `id:` (and `"id"` in Lines format); None sends no id at all.
    pub id: Option<String>,
    /// Sent verbatim, even when it is not JSON (to test the client's handling of garbage).
    pub data: String,
}

/// Failures to inject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Abort each stream connection (no clean end of body) after this many events.
    pub drop_after: Option<u64>,
    /// On a reconnect with `Last-Event-ID`, first resend this many events before it
    /// (at-least-once redelivery).
    pub redeliver: u64,
    /// Status codes answered by successive `/v1/signals` calls before normal answers.
    pub signal_failures: Vec<u16>,
    /// `Retry-After` sent with those failures ("1", or an HTTP date).
    pub signal_retry_after: Option<String>,
    /// Answer signals only after this long (timeout tests).
    pub signal_hang: Option<Duration>,
    /// Answer `/v1/trades/shadow` with this status instead (404/405/503...).
    pub shadow_status: Option<u16>,
    /// A WebSocket connection sends nothing more (no events, no pings) after this many events,
    /// the socket left open...
    pub ws_silent_after: Option<u64>,
    /// ...on the first this many connections.
    pub ws_silent_connections: u32,
    /// Every Nth webhook push is delivered a second time with the same delivery id (0: none).
    pub webhook_redeliver_every: u64,
}

/// Everything the simulator does. The `[sim]` config section maps onto it.
#[derive(Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    /// Market slots of the model, mixed Kalshi (`KXSIM-007`) and Polymarket (`poly-sim-012`).
    pub markets: u32,
    /// Pacing of the stream; 0 = as fast as the client reads.
    pub events_per_second: u32,
    /// Stop after this many events (all types); the stream stays open with heartbeats. None =
    /// endless. Ignored when `script` is set.
    pub total_events: Option<u64>,
    /// Delay before answering `/v1/signals` (a slow API).
    pub signal_latency: Duration,
    /// When set, every endpoint requires `Authorization: Bearer <key>`.
    pub api_key: Option<crate::configuration::Secret>,
    pub format: StreamFormat,
    /// Interval of heartbeat comments (`: ping`; an empty line in Lines format). Zero: none.
    pub heartbeat: Duration,
    /// `retry:` sent at the start of each SSE connection.
    pub retry_ms: Option<u64>,
    /// Serve exactly these events instead of the model's. Markets they mention get a hidden
    /// probability from [`hidden_probability`] and the latest price the stream has published.
    pub script: Option<Vec<ScriptedEvent>>,
    pub faults: Faults,
    /// The share of the hidden edge the signal service sees (see [`Skill`]).
    pub signal_skill: rust_decimal::Decimal,
    /// The spread of the signal service's error, in probability points.
    pub signal_noise: rust_decimal::Decimal,
}

impl SimConfig {
    /// The signal service's skill, its errors drawn from the seed.
    pub fn skill(&self) -> Skill {
        Skill {
            skill: self.signal_skill,
            noise: self.signal_noise,
            seed: self.seed,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            markets: 24,
            events_per_second: 5,
            total_events: None,
            signal_latency: Duration::ZERO,
            api_key: None,
            format: StreamFormat::Sse,
            heartbeat: Duration::from_secs(15),
            retry_ms: Some(1000),
            script: None,
            faults: Faults::default(),
            // The oracle, not `config/default.toml`'s calibrated service: tests that script
            // the simulator assert the model's truth in its answers.
            signal_skill: Skill::ORACLE.skill,
            signal_noise: Skill::ORACLE.noise,
        }
    }
}

/// Hand-written so a script shows as its length (the key is a `Secret`: it redacts itself).
impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("markets", &self.markets)
            .field("events_per_second", &self.events_per_second)
            .field("total_events", &self.total_events)
            .field("signal_latency", &self.signal_latency)
            .field("api_key", &self.api_key)
            .field("format", &self.format)
            .field("heartbeat", &self.heartbeat)
            .field("retry_ms", &self.retry_ms)
            .field("script", &self.script.as_ref().map(Vec::len))
            .field("faults", &self.faults)
            .field("signal_skill", &self.signal_skill)
            .field("signal_noise", &self.signal_noise)
            .finish()
    }
}

/// Start of the virtual timeline of [`generate_events`].
fn recording_epoch() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The model's first `n` events (ids "1".."n"), deterministic for the seed, stamped on a virtual
/// timeline starting 2026-01-01T00:00:00Z at `events_per_second` (5/s when that is 0).
pub fn generate_events(config: &SimConfig, n: u64) -> Vec<ScriptedEvent> {
    generate_events_from(config, n, recording_epoch())
}

/// Like [`generate_events`], with the timeline starting at `start` (e.g. now, so that a
/// scripted replay is not decided stale).
pub fn generate_events_from(config: &SimConfig, n: u64, start: Timestamp) -> Vec<ScriptedEvent> {
    let mut model = model::Model::new(config.seed, config.markets);
    let per_second = match config.events_per_second {
        0 => 5,
        rate => i128::from(rate),
    };
    let mut events = Vec::new();
    for position in 0..n {
        let nanos = i128::from(position) * 1_000_000_000 / per_second;
        let offset = i64::try_from(nanos).unwrap_or(i64::MAX);
        let at = start
            .checked_add_signed(chrono::Duration::nanoseconds(offset))
            .unwrap_or(start);
        let Some(event) = model.step(at) else {
            break;
        };
        events.push(ScriptedEvent {
            id: Some((position + 1).to_string()),
            data: world::event_json(&event, at),
        });
    }
    events
}

/// State shared by the handlers.
pub(crate) struct App {
    pub(crate) config: SimConfig,
    pub(crate) stats: Arc<SimStats>,
    pub(crate) shutdown: watch::Receiver<bool>,
    world: Mutex<world::World>,
    signal_failures_served: AtomicUsize,
    shadow_trades: AtomicU64,
    pub(crate) hooks: push::Registry,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    pub(crate) fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The injected failure status for this signal call, if any remain.
    pub(crate) fn next_signal_failure(&self) -> Option<u16> {
        let failures = &self.config.faults.signal_failures;
        if failures.is_empty() {
            return None;
        }
        let index = self.signal_failures_served.fetch_add(1, Ordering::SeqCst);
        failures.get(index).copied()
    }

    pub(crate) fn next_shadow_trade_number(&self) -> u64 {
        self.shadow_trades.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Resolves once shutdown is requested (or its sender is gone).
pub(crate) async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/stream", get(stream::stream))
        .route("/v1/signals", post(api::signals))
        .route("/v1/trades/shadow", post(api::shadow_trade))
        .route("/v1/ws", get(socket::socket))
        .route("/v1/markets", get(api::markets))
        .route("/v1/webhooks", post(push::create).get(push::list))
        .route("/v1/webhooks/{id}", axum::routing::delete(push::delete))
        .route(
            "/v1/markets/{platform}/{market_id}/resolution",
            get(api::resolution),
        )
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api::require_auth,
        ))
        .with_state(app)
}

fn build(mut config: SimConfig, stats: Arc<SimStats>, shutdown: watch::Receiver<bool>) -> Arc<App> {
    let script = config.script.take();
    let world = world::World::new(
        config.seed,
        config.markets,
        config.events_per_second,
        config.total_events,
        script.as_deref(),
    );
    drop(script);
    Arc::new(App {
        config,
        stats,
        shutdown,
        world: Mutex::new(world),
        signal_failures_served: AtomicUsize::new(0),
        shadow_trades: AtomicU64::new(0),
        hooks: push::Registry::default(),
    })
}

async fn run(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    let mut signal = app.shutdown.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move { wait_for_shutdown(&mut signal).await })
        .await
}

/// Serves until `shutdown` resolves; open streams are ended then, so it returns promptly.
pub async fn serve(
    config: SimConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    let forward = tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let result = run(build(config, Arc::new(SimStats::default()), rx), listener).await;
    forward.abort();
    result
}

/// A simulator serving in a background task. Dropping the handle also stops it.
#[derive(Debug)]
pub struct SimHandle {
    pub addr: SocketAddr,
    pub stats: Arc<SimStats>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    app: Arc<App>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, to use as `feed.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POST every event of the log to `target`, signed with its scheme, from the start (the
    /// embedded simulator feeding the bot's own webhook receiver over real HTTP).
    pub fn push_to(&self, target: PushTarget) {
        tokio::spawn(push::Pusher::new(target).run(Arc::clone(&self.app)));
    }

    /// Disable a registration of `/v1/webhooks`, as the API does after failed deliveries.
    pub fn disable_webhook(&self, id: &str) -> bool {
        self.app.hooks.disable(id)
    }

    /// Ends every connection and waits (at most 5 s) for the server to stop.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("simulator stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("simulator task failed: {e}"),
            Err(_) => {
                tracing::warn!("simulator did not stop within 5 s; aborting it");
                task.abort();
            }
        }
    }
}

/// Starts serving on `listener` in a background task.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let stats = Arc::new(SimStats::default());
    let (tx, rx) = watch::channel(false);
    let app = build(config, stats.clone(), rx);
    let task = tokio::spawn(run(Arc::clone(&app), listener));
    tracing::debug!(%addr, "simulator listening");
    Ok(SimHandle {
        addr,
        stats,
        shutdown: tx,
        task,
        app,
    })
}
