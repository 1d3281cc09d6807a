//! The signed-webhook receiver: `POST {path}` on `listen`, one intake of `kind = "webhook"`.
//!
//! A request's path through it, in order, each step able to refuse it:
//! 1. the body is read as bytes, at most `max_body` (413 past it);
//! 2. the signature (and the signed timestamp) is checked on those bytes, before anything
//!    parses them ([`scheme::verify`]; 401, nothing recorded);
//! 3. the body goes to the engine as a [`Delivery`] and the answer waits until the engine
//!    reports it durable: 200 once the event (or the fact that it was a redelivery) is flushed
//!    in the store, 503 with `Retry-After` if that takes longer than [`ACK_DEADLINE`] (the
//!    senders' 5 s); a redelivery of a durable event is answered 200 at once.
//!
//! The decision itself happens later, in the engine (a slow signal API delays it, never the
//! answer): what is durable before the 200 is the event and its inbox entry, so a `kill -9`
//! after a 200 loses nothing. Bodies are never logged (they may carry what the sender holds).

pub mod scheme;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::clock::SharedClock;
use crate::configuration::WebhookSettings;
use crate::feed::RawEvent;
pub use crate::intake::{Ack, Delivery};

/// Longest a sender waits for its answer: under the 5 s that senders allow (seed 002), with
/// room for the network. Past it the answer is 503 and the sender's redelivery is recognised.
pub const ACK_DEADLINE: Duration = Duration::from_millis(4500);

/// How long a delivery id is remembered, at least: a redelivery inside it is recognised by
/// its id even if its body was re-serialised (three days, or the intake's `tolerance`).
pub const DELIVERY_MEMORY: Duration = Duration::from_secs(3 * 24 * 3600);

/// One webhook intake, ready to serve.
#[derive(Clone)]
pub struct Receiver {
    pub name: Arc<str>,
    pub settings: WebhookSettings,
    key: Option<Arc<[u8]>>,
    clock: SharedClock,
    tx: mpsc::Sender<Delivery>,
}

impl Receiver {
    pub fn new(
        name: &str,
        settings: WebhookSettings,
        clock: SharedClock,
        tx: mpsc::Sender<Delivery>,
    ) -> Receiver {
        let key = settings
            .secret
            .as_ref()
            .map(|secret| Arc::from(scheme::key(settings.scheme, secret.expose())));
        Receiver {
            name: Arc::from(name),
            settings,
            key,
            clock,
            tx,
        }
    }

    /// Bind `listen` (port 0 picks one; the address is logged and returned by `local_addr`).
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        TcpListener::bind(self.settings.listen).await
    }

    /// Serve on `listener` until `stop` turns true.
    pub async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        info!(
            intake = %self.name,
            addr = %addr,
            path = %self.settings.path,
            scheme = self.settings.scheme.as_str(),
            signed = self.key.is_some(),
            "webhook receiver listening"
        );
        let path = self.settings.path.clone();
        let app = Router::new()
            .route(&path, post(receive))
            .with_state(Arc::new(self));
        let shutdown = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            warn!(error = %err, "webhook receiver stopped");
        }
    }
}

/// Bind every receiver's address now, so that a taken port stops the start with a clear
/// error instead of a warning later.
pub async fn bind_all(
    receivers: Vec<Receiver>,
) -> Result<Vec<(Receiver, TcpListener, SocketAddr)>, (String, std::io::Error)> {
    let mut bound = Vec::new();
    for receiver in receivers {
        let listener = receiver
            .bind()
            .await
            .map_err(|e| (receiver.settings.listen.to_string(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| (receiver.settings.listen.to_string(), e))?;
        bound.push((receiver, listener, addr));
    }
    Ok(bound)
}

fn answer(intake: &str, status: StatusCode, body: &'static str) -> Response {
    crate::metrics::webhook_request(intake, status.as_u16());
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn receive(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    let arrived = Instant::now();
    let name = &*receiver.name;
    let settings = &receiver.settings;
    let (parts, body) = request.into_parts();
    let too_large = || {
        answer(
            name,
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"error":"body too large"}"#,
        )
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > settings.max_body as u64) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), settings.max_body).await else {
        return too_large();
    };
    let now = receiver.clock.now();
    let delivery = match &receiver.key {
        Some(key) => match scheme::verify(
            settings.scheme,
            key,
            &parts.headers,
            &bytes,
            now.timestamp(),
            settings.tolerance,
        ) {
            Ok(verified) => verified.delivery,
            Err(refused) => {
                debug!(intake = %name, reason = %refused, "webhook refused");
                return answer(
                    name,
                    StatusCode::UNAUTHORIZED,
                    r#"{"error":"invalid signature"}"#,
                );
            }
        },
        None => scheme::delivery_id(settings.scheme, &parts.headers),
    };
    let keep = DELIVERY_MEMORY.max(settings.tolerance);
    let (ack_tx, ack_rx) = oneshot::channel();
    let delivery = Delivery {
        intake: Arc::clone(&receiver.name),
        raw: RawEvent {
            id: None,
            sse_event: None,
            // Not UTF-8: kept as readable as it is, and decided `invalid` like any garbage.
            data: String::from_utf8(bytes.to_vec())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            received_at: now,
        },
        key: delivery.map(|id| (format!("{name}/{id}"), keep)),
        ack: ack_tx,
    };
    let busy = || {
        let mut response = answer(
            name,
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"not yet durable; deliver again"}"#,
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        response
    };
    let waited = tokio::time::timeout(ACK_DEADLINE, async {
        receiver.tx.send(delivery).await.ok()?;
        ack_rx.await.ok()
    })
    .await;
    match waited {
        Ok(Some(ack)) => {
            crate::metrics::webhook_durable(name, arrived.elapsed());
            match ack {
                Ack::Recorded => answer(name, StatusCode::OK, r#"{"ok":true}"#),
                Ack::Duplicate => answer(name, StatusCode::OK, r#"{"ok":true,"duplicate":true}"#),
            }
        }
        // The engine is stopping, or too far behind to make it durable in time.
        Ok(None) | Err(_) => busy(),
    }
}

/// The headers a test or the simulator sends (re-exported for them).
pub fn signed_headers(
    scheme: scheme::Scheme,
    secret: &str,
    body: &[u8],
    delivery: &str,
    now_unix: i64,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in scheme::sign(
        scheme,
        &scheme::key(scheme, secret),
        body,
        delivery,
        now_unix,
    ) {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers
}
