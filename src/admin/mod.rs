//! The admin listener: while `shiftbot run` holds the store (sled allows one process), the
//! review commands are answered by the running bot.
//!
//! `POST /v1/review` takes a JSON [`ReviewRequest`] (the parsed command, the caller's `now`
//! and configured bankroll) and runs [`crate::commands::render`] — the same function the CLI
//! runs on an unlocked store — against the bot's own store handle, answering with the rendered
//! [`Rendered`] text as JSON. The output is therefore the same either way by construction.
//!
//! A request names the store its caller means; a bot serving another store (two bots, one
//! configured address) answers 409 rather than someone else's ledger.
//!
//! `POST /v1/store/backup` (`shiftbot store backup DIR` while the bot runs) has the bot's
//! writer thread copy the store to a new directory between two commits, then verifies the copy.
//! `POST /v1/reload` (`shiftbot reload`) makes the bot reload its configuration, as SIGHUP
//! does, and answers what changed. `POST /v1/control` (`shiftbot pause`, `resume`, `close`)
//! hands an operator action to the engine, which decides and persists it like an event and
//! answers once it is durable. `GET /healthz`, `/readyz` and `/metrics`: see
//! [`crate::metrics`].
//!
//! The store is never written through it: the handlers only read trees (a backup writes a new
//! store elsewhere, a reload changes rules in memory). It binds `admin.listen` (loopback by
//! default). Off loopback every route but `/healthz` needs the bearer token from
//! `SHIFTBOT_ADMIN_TOKEN`; write routes need it everywhere unless `admin.local_writes`
//! (`authorize`). Nothing it can answer contains a secret (the store holds none). A bind
//! failure is logged and the bot keeps trading: reviewing is a convenience, not a duty.
//! Only `application/json` bodies are accepted, so a web page cannot post to it without a
//! CORS preflight, which it does not grant.

pub mod api;
pub mod dashboard;
pub mod live;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::commands::{render, Rendered, ReviewRequest};
use crate::store::health::{self, Depth, Verified};
use crate::store::{BackupReply, Store};

/// The review route.
pub const REVIEW_PATH: &str = "/v1/review";
/// The backup route: `{"store", "dir"}` in, a [`BackupDone`] out.
pub const BACKUP_PATH: &str = "/v1/store/backup";
/// Alive: 200 while the listener answers.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Ready: 200, or 503 with the reasons (JSON either way).
pub const READYZ_PATH: &str = "/readyz";
/// Prometheus text.
pub const METRICS_PATH: &str = "/metrics";

/// How long the CLI waits for the next bytes of a running bot's answer (a report over a large
/// store reads every trade). Per read, not in all: a streamed answer of a long history may take
/// minutes to arrive, and goes on as long as it keeps coming.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the CLI waits to connect to the admin listener.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client must send its request headers within this long, and its body within
/// [`BODY_TIMEOUT`]: a thousand half-open requests once held the listener for over half a
/// minute.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long whatever it is doing (the longest answer the CLI
/// waits for, plus headroom).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(150);
/// Connections served at once; more are closed at accept, with a warning.
pub const MAX_CONNECTIONS: usize = 32;
/// Largest request body: a review request is a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest answer built whole (a report: its text and chart). Beyond it the bot answers 413
/// and the command says to narrow it: no request makes the bot build gigabytes. The other
/// review answers are streamed and need no limit.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// How far the caller's `now` may be from the bot's own clock: a review renders "now" by the
/// caller's clock (so both sides print the same), but a far-future `now` once made one report
/// build a daily series to the year 100000.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Why asking the running bot failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin.listen {0:?} is not a socket address (like 127.0.0.1:7878)")]
    Address(String),
    #[error("{0}")]
    Http(String),
    #[error("the bot answered {status}: {message}")]
    Status { status: u16, message: String },
}

/// A backup asked of the running bot: made by its writer thread between two commits.
pub struct BackupJob {
    pub dir: PathBuf,
    pub reply: BackupReply,
}

/// What the bot answers to a backup request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupDone {
    pub dir: PathBuf,
    /// What the full verification of the copy found.
    #[serde(flatten)]
    pub verified: Verified,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupRequest {
    /// The store the caller means (as for reviews).
    pub store: Option<PathBuf>,
    pub dir: PathBuf,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub clock: SharedClock,
    /// The running bot's writer, for consistent backups; `None` where there is none (tests).
    pub backups: Option<mpsc::Sender<BackupJob>>,
    /// What `/readyz` reports; `None` where there is no running bot (tests).
    pub health: Option<Arc<crate::metrics::Health>>,
    /// The running bot's reloads (`shiftbot reload`); `None` where it cannot reload.
    pub reloads: Option<mpsc::Sender<ReloadJob>>,
    /// The running bot's engine, for operator actions; `None` where there is none (tests).
    pub controls: Option<mpsc::Sender<ControlJob>>,
    /// `SHIFTBOT_ADMIN_TOKEN`: needed off loopback by every route but `/healthz`, and by write
    /// routes everywhere unless `local_writes`.
    pub token: Option<crate::configuration::Secret>,
    pub local_writes: bool,
    /// The configured bankroll: what a store that has never traded reports.
    pub bankroll: rust_decimal::Decimal,
    /// `signal.max_per_day` (0: unlimited), for the dashboard's budget left today.
    pub signal_max_per_day: u32,
}

/// A reload asked of the running bot; it answers what the reload did.
pub type ReloadJob = oneshot::Sender<crate::configuration::ReloadReport>;

/// The reload route (a write route).
pub const RELOAD_PATH: &str = "/v1/reload";
/// Operator actions (a write route): a [`ControlRequest`] in, a [`ControlDone`] out.
pub const CONTROL_PATH: &str = "/v1/control";

/// An operator action for the engine, answered once durable.
pub type ControlJob = (strategies::Control, oneshot::Sender<ControlDone>);
pub use crate::runner::ControlDone;

/// `{"store", "action", "market", "side"}`: the action, and the store its caller means.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControlRequest {
    pub store: Option<PathBuf>,
    #[serde(flatten)]
    pub control: strategies::Control,
}

/// Bind `listen` and serve until `stop` turns true. A bind failure only logs a warning.
pub async fn serve(listen: String, state: AdminState, stop: watch::Receiver<bool>) {
    match TcpListener::bind(&listen).await {
        Ok(listener) => serve_on(listener, state, stop).await,
        Err(err) => warn!(
            listen = %listen,
            error = %err,
            "admin listener not started: review commands cannot reach this bot while it runs"
        ),
    }
}

/// Serve on an already bound listener (tests bind port 0).
///
/// The accept loop is ours, not `axum::serve`, for what that hides: a header read timeout, a
/// connection limit and a cap on each connection's life (hyper's builders take them).
pub async fn serve_on(listener: TcpListener, state: AdminState, mut stop: watch::Receiver<bool>) {
    match listener.local_addr() {
        Ok(addr) => {
            info!(addr = %addr, "admin listener serving review commands (read-only)");
            if !addr.ip().is_loopback() {
                warn!(addr = %addr, "admin listener is reachable beyond this machine");
            }
        }
        Err(err) => warn!(error = %err, "admin listener has no local address"),
    }
    let loopback = listener
        .local_addr()
        .map(|addr| addr.ip().is_loopback())
        .unwrap_or(false);
    let app = Router::new()
        .route(REVIEW_PATH, post(serve_review))
        .route(RELOAD_PATH, post(serve_reload))
        .route(CONTROL_PATH, post(serve_control))
        .route(BACKUP_PATH, post(serve_backup))
        .route(HEALTHZ_PATH, get(|| async { "ok\n" }))
        .route(READYZ_PATH, get(serve_readyz))
        .route(METRICS_PATH, get(serve_metrics))
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::script))
        .route("/assets/app.css", get(dashboard::style))
        .route("/api/v1/summary", get(api::summary))
        .route("/api/v1/positions", get(api::positions))
        .route("/api/v1/trades", get(api::trades))
        .route("/api/v1/decisions", get(api::decisions))
        .route("/api/v1/equity", get(api::equity))
        .route("/api/v1/equity.svg", get(api::equity_svg))
        .route(
            "/api/v1/events",
            get(live::events).layer(axum::Extension(live::Stop(stop.clone()))),
        )
        .layer(middleware::from_fn(read_body_in_time))
        .layer(middleware::from_fn_with_state(
            (state.clone(), loopback),
            authorize,
        ))
        .layer(middleware::from_fn(secure_dashboard))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, _) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                warn!(error = %err, "admin listener could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                warn!(
                    refused,
                    max = MAX_CONNECTIONS,
                    "admin listener at its connection limit; closing new connections"
                );
            }
            drop(socket);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(socket), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

/// The bearer token, where it is needed: every route but `/healthz` off loopback, and write
/// routes everywhere unless `admin.local_writes`. Compared in constant time; never logged.
async fn authorize(
    State((state, loopback)): State<(AdminState, bool)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let write = path == RELOAD_PATH || path == CONTROL_PATH;
    // The dashboard's page holds no data (it asks the API, which needs the token).
    let public = path == HEALTHZ_PATH || dashboard::PAGE_PATHS.contains(&path);
    let needed = !public && (!loopback || (write && !state.local_writes));
    if !needed {
        return next.run(request).await;
    }
    let Some(token) = &state.token else {
        return (
            StatusCode::UNAUTHORIZED,
            "this route needs the admin token: set SHIFTBOT_ADMIN_TOKEN for the bot and the \
             command (or admin.local_writes = true for writes on loopback)",
        )
            .into_response();
    };
    let offered = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    use subtle::ConstantTimeEq;
    if bool::from(offered.as_bytes().ct_eq(token.expose().as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer, from SHIFTBOT_ADMIN_TOKEN)",
        )
            .into_response()
    }
}

/// The dashboard's headers on the page and every API answer (401s included).
async fn secure_dashboard(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let covered = path.starts_with("/api/") || dashboard::PAGE_PATHS.contains(&path);
    let mut response = next.run(request).await;
    if covered {
        dashboard::secure(response.headers_mut());
    }
    response
}

async fn serve_reload(
    State(state): State<AdminState>,
    Json(request): Json<StoreNamed>,
) -> Response {
    if let Err(refusal) = check_store(&state.store, request.store.as_ref()) {
        return refusal.into_response();
    }
    let Some(reloads) = &state.reloads else {
        return (StatusCode::NOT_FOUND, "this bot cannot reload").into_response();
    };
    let (reply, done) = oneshot::channel();
    if reloads.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the bot is stopping").into_response();
    }
    match done.await {
        Ok(report) => Json(report).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the bot is stopping").into_response(),
    }
}

async fn serve_control(
    State(state): State<AdminState>,
    Json(request): Json<ControlRequest>,
) -> Response {
    if let Err(refusal) = check_store(&state.store, request.store.as_ref()) {
        return refusal.into_response();
    }
    let Some(controls) = &state.controls else {
        return (StatusCode::NOT_FOUND, "this bot takes no operator actions").into_response();
    };
    let (reply, done) = oneshot::channel();
    if controls.send((request.control, reply)).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the bot is stopping").into_response();
    }
    match done.await {
        Ok(done) => Json(done).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the bot stopped before the action was stored; run the command again",
        )
            .into_response(),
    }
}

/// Ask the bot listening on `listen` to apply an operator action. Blocking.
pub fn request_control(listen: &str, request: &ControlRequest) -> Result<ControlDone, AdminError> {
    let addr = connect_address(listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Http(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(post_json(addr, CONTROL_PATH, request))
}

/// A request that only names the store it means.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoreNamed {
    pub store: Option<PathBuf>,
}

/// Reads the whole body within [`BODY_TIMEOUT`] (and [`MAX_REQUEST_BYTES`]) before any
/// handler runs: a client trickling its body does not hold a handler.
async fn read_body_in_time(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_REQUEST_BYTES);
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request body not sent in time").into_response(),
    }
}

async fn serve_readyz(State(state): State<AdminState>) -> Response {
    let Some(health) = &state.health else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no running bot").into_response();
    };
    let readiness = health.readiness(state.clock.now());
    let status = match readiness.ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(readiness)).into_response()
}

async fn serve_metrics(State(state): State<AdminState>) -> Response {
    if let Some(health) = &state.health {
        // Sets the last-event-age gauge to now.
        health.readiness(state.clock.now());
    }
    crate::metrics::outbox_backlog("shadow", state.store.outbox_len());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// A 409 unless `wanted` (if named) is the store this bot serves.
fn check_store(store: &Store, wanted: Option<&PathBuf>) -> Result<(), (StatusCode, String)> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let served = std::fs::canonicalize(store.path()).unwrap_or_else(|_| store.path().into());
    if *wanted == served {
        return Ok(());
    }
    Err((
        StatusCode::CONFLICT,
        format!(
            "this shiftbot serves the store at {}, not {}",
            served.display(),
            wanted.display()
        ),
    ))
}

/// The caller's `now`, kept within [`MAX_CLOCK_SKEW`] of the bot's clock.
pub fn clamp_now(
    asked: strategies::Timestamp,
    own: strategies::Timestamp,
) -> strategies::Timestamp {
    asked.clamp(own - MAX_CLOCK_SKEW, own + MAX_CLOCK_SKEW)
}

async fn serve_review(
    State(state): State<AdminState>,
    Json(mut request): Json<ReviewRequest>,
) -> Response {
    if let Err(refusal) = check_store(&state.store, request.store.as_ref()) {
        return refusal.into_response();
    }
    request.now = clamp_now(request.now, state.clock.now());
    let store = state.store.clone();
    if !matches!(request.command, crate::commands::ReviewCommand::Report(_)) {
        return stream_review(store, request).await;
    }
    // A report reads two decisions and carries a chart beside its text: one JSON answer.
    // Rendering reads sled synchronously; keep it off the async workers.
    match tokio::task::spawn_blocking(move || render(Some(&store), &request)).await {
        Ok(Ok(rendered)) => {
            let size = rendered.output.len() + rendered.chart.as_ref().map_or(0, String::len);
            if size > MAX_RESPONSE_BYTES {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the answer would be {size} bytes, over the {MAX_RESPONSE_BYTES} a \
                         request may take; narrow it with --limit or --since"
                    ),
                )
                    .into_response();
            }
            Json(rendered).into_response()
        }
        Ok(Err(err)) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("review task failed: {err}"),
        )
            .into_response(),
    }
}

/// Output of a streamed answer, in pieces of this size.
const STREAM_CHUNK: usize = 64 * 1024;

/// `positions`, `ledger` and `decisions` as they are rendered: the render runs on a blocking
/// thread and writes into a channel of a few [`STREAM_CHUNK`]s, which the body drains at the
/// client's pace, so the bot holds at most a few chunks of an answer however long the history
/// (an unlimited `decisions --json` on a store of millions of decisions included). An error
/// before the first chunk is a 500 with its message; one after it cuts the answer short, which
/// the client reports, and the bot logs it.
async fn stream_review(store: Store, request: ReviewRequest) -> Response {
    let (tx, mut rx) = mpsc::channel::<Result<bytes::Bytes, String>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(STREAM_CHUNK),
        };
        let rendered = crate::commands::render_to(Some(&store), &request, &mut out)
            .map(|_| ())
            .and_then(|()| Ok(out.send()?));
        if let Err(err) = rendered {
            warn!(error = %err, "a review answer failed");
            let _ = tx.blocking_send(Err(err.to_string()));
        }
    });
    let first = match rx.recv().await {
        None => bytes::Bytes::new(),
        Some(Err(message)) => return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
        Some(Ok(first)) => first,
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        let next = rx.recv().await?;
        Some((next.map_err(std::io::Error::other), rx))
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }),
        rest,
    );
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, STREAM_TYPE)
        .body(Body::from_stream(body))
        .unwrap_or_else(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())
}

/// The content type of a streamed review answer (the command's own output, as it prints it).
const STREAM_TYPE: &str = "text/plain; charset=utf-8";

/// `Write` into the answer's channel, a chunk at a time; blocks while the client is slow.
struct ChunkWriter {
    tx: mpsc::Sender<Result<bytes::Bytes, String>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STREAM_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn serve_backup(
    State(state): State<AdminState>,
    Json(request): Json<BackupRequest>,
) -> Response {
    if let Err(refusal) = check_store(&state.store, request.store.as_ref()) {
        return refusal.into_response();
    }
    let Some(backups) = &state.backups else {
        return (StatusCode::NOT_FOUND, "this listener makes no backups").into_response();
    };
    let (reply, made) = oneshot::channel();
    let job = BackupJob {
        dir: request.dir,
        reply,
    };
    if backups.send(job).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the bot is stopping").into_response();
    }
    let dir = match made.await {
        Ok(Ok(dir)) => dir,
        Ok(Err(err)) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store's writer stopped before the backup was made",
            )
                .into_response()
        }
    };
    let verified = tokio::task::spawn_blocking(move || verify_copy(&dir)).await;
    match verified {
        Ok(Ok(done)) => Json(done).into_response(),
        Ok(Err(err)) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("backup verification failed: {err}"),
        )
            .into_response(),
    }
}

/// Opens a fresh backup and verifies it fully: a backup that does not verify is no backup.
pub fn verify_copy(dir: &std::path::Path) -> Result<BackupDone, crate::store::StoreError> {
    let copy = Store::open(dir)?;
    let verified = health::verify(&copy, Depth::Full)?;
    Ok(BackupDone {
        dir: dir.to_path_buf(),
        verified,
    })
}

/// Ask the bot listening on `listen` to render `request`. Blocking; safe to call from inside
/// or outside a tokio runtime.
pub fn fetch(listen: &str, request: &ReviewRequest) -> Result<Rendered, AdminError> {
    let mut out = Vec::new();
    let chart = fetch_to(listen, request, &mut out)?;
    Rendered::collected(out, chart).map_err(|e| AdminError::Http(format!("unreadable answer: {e}")))
}

/// [`fetch`], writing the output into `out` as it arrives (the bot streams `positions`,
/// `ledger` and `decisions` in 64 KiB chunks); returns the report's chart.
pub fn fetch_to(
    listen: &str,
    request: &ReviewRequest,
    out: &mut dyn std::io::Write,
) -> Result<Option<String>, AdminError> {
    let addr = connect_address(listen)?;
    let work = |out: &mut dyn std::io::Write| -> Result<Option<String>, AdminError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AdminError::Http(format!("cannot start a runtime: {e}")))?;
        runtime.block_on(fetch_async_to(addr, request, out))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        // block_on inside a runtime panics: do the blocking call on a thread of its own (a
        // program that is async itself; the CLI is not, and streams straight into `out`).
        let mut buffer = Vec::new();
        let chart = std::thread::scope(|scope| {
            scope
                .spawn(|| work(&mut buffer))
                .join()
                .unwrap_or_else(|_| Err(AdminError::Http("the request thread failed".into())))
        })?;
        out.write_all(&buffer)
            .map_err(|e| AdminError::Http(format!("cannot write the answer: {e}")))?;
        Ok(chart)
    } else {
        work(out)
    }
}

/// Ask the bot listening on `listen` to reload its configuration. Blocking.
pub fn request_reload(
    listen: &str,
    request: &StoreNamed,
) -> Result<crate::configuration::ReloadReport, AdminError> {
    let addr = connect_address(listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Http(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(post_json(addr, RELOAD_PATH, request))
}

/// Ask the bot listening on `listen` for a backup. Blocking, like [`fetch`].
pub fn request_backup(listen: &str, request: &BackupRequest) -> Result<BackupDone, AdminError> {
    let addr = connect_address(listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Http(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(post_json(addr, BACKUP_PATH, request))
}

/// POST `body` as JSON to `path` on the bot and read its JSON answer.
async fn post_json<B: Serialize, T: serde::de::DeserializeOwned>(
    addr: SocketAddr,
    path: &str,
    body: &B,
) -> Result<T, AdminError> {
    post_to(addr, path, body)
        .await?
        .json::<T>()
        .await
        .map_err(|e| AdminError::Http(format!("unreadable answer: {}", describe(&e))))
}

/// POST `body` as JSON with the command's token; a non-2xx answer is an error with its text.
async fn post_to<B: Serialize>(
    addr: SocketAddr,
    path: &str,
    body: &B,
) -> Result<reqwest::Response, AdminError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| AdminError::Http(e.to_string()))?;
    let mut post = client.post(format!("http://{addr}{path}")).json(body);
    // The command's own token, from its environment (it is the bot's when both run as one
    // user with one environment).
    if let Some(token) = std::env::var(crate::configuration::ADMIN_TOKEN_VAR)
        .ok()
        .filter(|token| !token.is_empty())
    {
        post = post.bearer_auth(token);
    }
    let response = post
        .send()
        .await
        .map_err(|e| AdminError::Http(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let message = response.text().await.unwrap_or_default();
        return Err(AdminError::Status {
            status: status.as_u16(),
            message: message.trim().to_string(),
        });
    }
    Ok(response)
}

/// [`fetch`], async.
pub async fn fetch_async(
    addr: SocketAddr,
    request: &ReviewRequest,
) -> Result<Rendered, AdminError> {
    let mut out = Vec::new();
    let chart = fetch_async_to(addr, request, &mut out).await?;
    Rendered::collected(out, chart).map_err(|e| AdminError::Http(format!("unreadable answer: {e}")))
}

/// [`fetch_to`], async: a JSON answer (a report) is read whole, a streamed one is written to
/// `out` chunk by chunk.
async fn fetch_async_to(
    addr: SocketAddr,
    request: &ReviewRequest,
    out: &mut dyn std::io::Write,
) -> Result<Option<String>, AdminError> {
    let mut response = post_to(addr, REVIEW_PATH, request).await?;
    let streamed = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes() == STREAM_TYPE.as_bytes());
    if !streamed {
        let rendered: Rendered = response
            .json()
            .await
            .map_err(|e| AdminError::Http(format!("unreadable answer: {}", describe(&e))))?;
        out.write_all(rendered.output.as_bytes())
            .map_err(|e| AdminError::Http(format!("cannot write the answer: {e}")))?;
        return Ok(rendered.chart);
    }
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        AdminError::Http(format!(
            "the answer was cut short (the bot's log says why): {}",
            describe(&e)
        ))
    })? {
        out.write_all(&chunk)
            .map_err(|e| AdminError::Http(format!("cannot write the answer: {e}")))?;
    }
    Ok(None)
}

/// Where to connect for a listen address: an unspecified address (`0.0.0.0`, `[::]`) is reached
/// on the loopback of the same family.
pub fn connect_address(listen: &str) -> Result<SocketAddr, AdminError> {
    let mut addr: SocketAddr = listen
        .trim()
        .parse()
        .map_err(|_| AdminError::Address(listen.to_string()))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// reqwest's top-level message plus its causes ("error sending request: connection refused").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::configuration::{LoadOptions, Settings};

    fn load(listen: Option<&str>) -> Result<Settings, String> {
        let env = listen
            .map(|l| vec![("SHIFTBOT__ADMIN__LISTEN".to_string(), l.to_string())])
            .unwrap_or_default();
        Settings::load(LoadOptions { file: None, env }).map_err(|e| e.to_string())
    }

    #[test]
    fn admin_listen_defaults_to_loopback_and_is_validated_by_key_path() {
        let default = load(None).expect("the default is valid");
        assert_eq!(default.admin.listen.to_string(), "127.0.0.1:7878");
        assert!(default.admin.listen.ip().is_loopback());
        let moved = load(Some("127.0.0.1:9000")).expect("valid");
        assert_eq!(moved.admin.listen.port(), 9000);
        for bad in ["localhost:7878", "7878", "127.0.0.1", "127.0.0.1:99999"] {
            let err = load(Some(bad)).expect_err(bad);
            assert!(err.contains("admin.listen"), "{bad}: {err}");
            assert!(err.contains("127.0.0.1:7878"), "{bad}: {err}");
        }
    }
}
