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
//! Read-only by construction too: the handler only reads trees. It binds `admin.listen`
//! (loopback by default); nothing it can answer contains a secret (the store holds none). A
//! bind failure is logged and the bot keeps trading: reviewing is a convenience, not a duty.
//! Only `application/json` bodies are accepted, so a web page cannot post to it without a
//! CORS preflight, which it does not grant.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::commands::{render, Rendered, ReviewRequest};
use crate::store::Store;

/// The one route.
pub const REVIEW_PATH: &str = "/v1/review";

/// How long the CLI waits for a running bot's answer (a report over a large store reads
/// every trade and decision).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

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

/// Bind `listen` and serve until `stop` turns true. A bind failure only logs a warning.
pub async fn serve(listen: String, store: Store, stop: watch::Receiver<bool>) {
    match TcpListener::bind(&listen).await {
        Ok(listener) => serve_on(listener, store, stop).await,
        Err(err) => warn!(
            listen = %listen,
            error = %err,
            "admin listener not started: review commands cannot reach this bot while it runs"
        ),
    }
}

/// Serve on an already bound listener (tests bind port 0).
pub async fn serve_on(listener: TcpListener, store: Store, mut stop: watch::Receiver<bool>) {
    match listener.local_addr() {
        Ok(addr) => {
            info!(addr = %addr, "admin listener serving review commands (read-only)");
            if !addr.ip().is_loopback() {
                warn!(addr = %addr, "admin listener is reachable beyond this machine");
            }
        }
        Err(err) => warn!(error = %err, "admin listener has no local address"),
    }
    let app = Router::new()
        .route(REVIEW_PATH, post(review))
        .with_state(store);
    let shutdown = async move {
        // An error means the sender is gone: the bot is stopping anyway.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        warn!(error = %err, "admin listener stopped");
    }
}

async fn review(State(store): State<Store>, Json(request): Json<ReviewRequest>) -> Response {
    if let Some(wanted) = &request.store {
        let served = std::fs::canonicalize(store.path()).unwrap_or_else(|_| store.path().into());
        if *wanted != served {
            return (
                StatusCode::CONFLICT,
                format!(
                    "this shiftbot serves the store at {}, not {}",
                    served.display(),
                    wanted.display()
                ),
            )
                .into_response();
        }
    }
    // Rendering reads sled synchronously; keep it off the async workers.
    match tokio::task::spawn_blocking(move || render(Some(&store), &request)).await {
        Ok(Ok(rendered)) => Json(rendered).into_response(),
        Ok(Err(err)) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("review task failed: {err}"),
        )
            .into_response(),
    }
}

/// Ask the bot listening on `listen` to render `request`. Blocking; safe to call from inside
/// or outside a tokio runtime.
pub fn fetch(listen: &str, request: &ReviewRequest) -> Result<Rendered, AdminError> {
    let addr = connect_address(listen)?;
    let work = || -> Result<Rendered, AdminError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AdminError::Http(format!("cannot start a runtime: {e}")))?;
        runtime.block_on(fetch_async(addr, request))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        // block_on inside a runtime panics: do the blocking call on a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(work)
                .join()
                .unwrap_or_else(|_| Err(AdminError::Http("the request thread failed".into())))
        })
    } else {
        work()
    }
}

/// [`fetch`], async.
pub async fn fetch_async(
    addr: SocketAddr,
    request: &ReviewRequest,
) -> Result<Rendered, AdminError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| AdminError::Http(e.to_string()))?;
    let response = client
        .post(format!("http://{addr}{REVIEW_PATH}"))
        .json(request)
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
    response
        .json::<Rendered>()
        .await
        .map_err(|e| AdminError::Http(format!("unreadable answer: {}", describe(&e))))
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
