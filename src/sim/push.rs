//! Webhooks from the simulator: the `/v1/webhooks` registry (seed 001: create, list, delete)
//! and the pushers that POST each event of the log to a receiver, signed.
//!
//! A registration made over HTTP is pushed like the real API pushes: the flat event body,
//! `x-webhook-signature` (the `rekko` scheme), only the registered event types. After
//! [`DISABLE_AFTER`] events in a row that could not be delivered, it is disabled. The embedded
//! simulator also pushes to targets the bot names in-process ([`super::SimHandle::push_to`]),
//! in any scheme: the body is then the scheme's envelope (`{"id","type","created_at","data"}`,
//! `{"event_type","id","data"}`, `{"type","timestamp","data"}`), with a delivery id per event.
//!
//! Every failed POST is retried with backoff, like a real sender; `webhook_redeliver_every`
//! sends every Nth delivered event once more with the same delivery id (a sender that did not
//! see the 200).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::world::{Entry, Next};
use super::{wait_for_shutdown, App};
use crate::intake::webhook::scheme::Scheme;
use crate::intake::webhook::signed_headers;

/// Consecutive undeliverable events after which a registration is disabled.
pub(crate) const DISABLE_AFTER: u64 = 5;
/// Attempts per event before it counts as undeliverable.
const ATTEMPTS: u32 = 8;
const EVENT_TYPES: [&str; 3] = ["price_shift", "whale_alert", "analysis_complete"];

/// Where a pusher sends.
#[derive(Clone, Debug)]
pub struct PushTarget {
    pub url: String,
    pub scheme: Scheme,
    /// None: unsigned (a receiver with `allow_unsigned`).
    pub secret: Option<String>,
    pub events: Vec<String>,
}

/// One registration of the `/v1/webhooks` registry.
#[derive(Debug)]
pub(crate) struct Hook {
    id: String,
    url: String,
    events: Vec<String>,
    created_at: String,
    enabled: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    /// Set when the registration is deleted: its pusher stops.
    deleted: Arc<AtomicBool>,
}

impl Hook {
    fn info(&self) -> Value {
        json!({
            "webhook_id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled.load(Ordering::SeqCst),
            "failure_count": self.failures.load(Ordering::SeqCst),
            "created_at": self.created_at,
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    hooks: Mutex<Vec<Hook>>,
    created: AtomicU64,
}

impl Registry {
    fn hooks(&self) -> MutexGuard<'_, Vec<Hook>> {
        self.hooks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Disable a registration (what the API does after failed deliveries); false if unknown.
    pub(crate) fn disable(&self, id: &str) -> bool {
        self.hooks()
            .iter()
            .find(|h| h.id == id)
            .map(|h| h.enabled.store(false, Ordering::SeqCst))
            .is_some()
    }
}

fn unprocessable(field: &str, msg: &str) -> Response {
    let body = json!({"detail": [{"loc": ["body", field], "msg": msg, "type": "value_error"}]});
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

/// `POST /v1/webhooks`: register, and start pushing to it.
pub(super) async fn create(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    app.stats.webhook_call();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return unprocessable("body", "not a JSON object");
    };
    let Some(url) = request
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    else {
        return unprocessable("url", "an http(s) URL is required");
    };
    let events: Option<Vec<String>> = request.get("events").and_then(Value::as_array).map(|list| {
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let Some(events) =
        events.filter(|e| !e.is_empty() && e.iter().all(|t| EVENT_TYPES.contains(&t.as_str())))
    else {
        return unprocessable(
            "events",
            "a non-empty list of price_shift, whale_alert, analysis_complete",
        );
    };
    let secret = request
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let number = app.hooks.created.fetch_add(1, Ordering::SeqCst) + 1;
    let hook = Hook {
        id: format!("wh-{number:012x}"),
        url: url.to_owned(),
        events: events.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        enabled: Arc::new(AtomicBool::new(true)),
        failures: Arc::new(AtomicU64::new(0)),
        deleted: Arc::new(AtomicBool::new(false)),
    };
    let info = hook.info();
    let pusher = Pusher {
        target: PushTarget {
            url: url.to_owned(),
            scheme: Scheme::Rekko,
            secret,
            events,
        },
        enabled: Some(Arc::clone(&hook.enabled)),
        failures: Arc::clone(&hook.failures),
        deleted: Arc::clone(&hook.deleted),
    };
    app.hooks.hooks().push(hook);
    tokio::spawn(pusher.run(Arc::clone(&app)));
    (StatusCode::OK, Json(info)).into_response()
}

/// `GET /v1/webhooks`: every registration.
pub(super) async fn list(State(app): State<Arc<App>>) -> Response {
    app.stats.webhook_call();
    let list: Vec<Value> = app.hooks.hooks().iter().map(Hook::info).collect();
    (StatusCode::OK, Json(Value::Array(list))).into_response()
}

/// `DELETE /v1/webhooks/{id}`.
pub(super) async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    app.stats.webhook_call();
    let mut hooks = app.hooks.hooks();
    match hooks.iter().position(|h| h.id == id) {
        Some(index) => {
            let hook = hooks.remove(index);
            hook.deleted.store(true, Ordering::SeqCst);
            (
                StatusCode::OK,
                Json(json!({"webhook_id": id, "deleted": true})),
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Not Found", "detail": format!("no webhook {id}")})),
        )
            .into_response(),
    }
}

/// Pushes the log to one target, from its start.
pub(crate) struct Pusher {
    pub(crate) target: PushTarget,
    /// A registration's switch (None: an in-process target, never disabled).
    pub(crate) enabled: Option<Arc<AtomicBool>>,
    pub(crate) failures: Arc<AtomicU64>,
    pub(crate) deleted: Arc<AtomicBool>,
}

impl Pusher {
    pub(crate) fn new(target: PushTarget) -> Pusher {
        Pusher {
            target,
            enabled: None,
            failures: Arc::new(AtomicU64::new(0)),
            deleted: Arc::new(AtomicBool::new(false)),
        }
    }

    fn live(&self) -> bool {
        !self.deleted.load(Ordering::SeqCst)
            && self
                .enabled
                .as_ref()
                .is_none_or(|e| e.load(Ordering::SeqCst))
    }

    pub(crate) async fn run(self, app: Arc<App>) {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
        {
            Ok(http) => http,
            Err(err) => {
                tracing::warn!("simulator: no HTTP client for webhooks: {err}");
                return;
            }
        };
        let mut shutdown = app.shutdown.clone();
        let mut position = 0u64;
        let mut delivered = 0u64;
        while self.live() && !*shutdown.borrow() {
            let batch = app
                .world()
                .fetch(position, 64, Instant::now(), chrono::Utc::now());
            position = batch.start;
            for entry in &batch.entries {
                position += 1;
                let wanted = entry
                    .event_type
                    .as_ref()
                    .is_none_or(|t| self.target.events.iter().any(|w| w == t));
                if !wanted || !self.live() {
                    continue;
                }
                let delivery = format!("dlv_{position}");
                let body = body(self.target.scheme, entry);
                let mut copies = 1;
                delivered += 1;
                let every = app.config.faults.webhook_redeliver_every;
                if every > 0 && delivered.is_multiple_of(every) {
                    copies = 2;
                }
                for _ in 0..copies {
                    let sent = tokio::select! {
                        sent = self.deliver(&app, &http, &body, &delivery) => sent,
                        () = wait_for_shutdown(&mut shutdown) => return,
                    };
                    if !sent {
                        break;
                    }
                }
            }
            if !batch.entries.is_empty() || batch.next == Next::Now {
                continue;
            }
            let deadline = match batch.next {
                Next::At(at) => Some(tokio::time::Instant::from_std(at)),
                Next::Now | Next::Never => {
                    Some(tokio::time::Instant::now() + Duration::from_millis(200))
                }
            };
            tokio::select! {
                () = wait_for_shutdown(&mut shutdown) => return,
                () = super::stream::sleep_until(deadline) => {}
            }
        }
    }

    /// POST one event until a 2xx or [`ATTEMPTS`] failures; false when it could not be
    /// delivered (a registration is disabled after [`DISABLE_AFTER`] such events in a row).
    async fn deliver(&self, app: &App, http: &reqwest::Client, body: &str, delivery: &str) -> bool {
        let mut pause = Duration::from_millis(50);
        for _ in 0..ATTEMPTS {
            let now = chrono::Utc::now().timestamp();
            let headers = match &self.target.secret {
                Some(secret) => {
                    signed_headers(self.target.scheme, secret, body.as_bytes(), delivery, now)
                }
                None => axum::http::HeaderMap::new(),
            };
            let answer = http
                .post(&self.target.url)
                .headers(headers)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
                .await;
            let ok = answer.is_ok_and(|a| a.status().is_success());
            app.stats.pushed(ok);
            if ok {
                self.failures.store(0, Ordering::SeqCst);
                return true;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        let failed = self.failures.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(enabled) = &self.enabled {
            if failed >= DISABLE_AFTER {
                tracing::info!(url = %self.target.url, "simulator: webhook disabled after failed deliveries");
                enabled.store(false, Ordering::SeqCst);
            }
        }
        false
    }
}

/// The body the scheme's senders post: the flat event (`rekko`) or their envelope around it.
fn body(scheme: Scheme, entry: &Entry) -> String {
    let (Some(kind), Some(id)) = (&entry.event_type, &entry.id) else {
        // Undecodable scripted data goes as it is, to test the receiver.
        return entry.data.clone();
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let quote = super::json::quote;
    match scheme {
        Scheme::Rekko => entry.line.clone(),
        Scheme::Timestamped => format!(
            r#"{{"id":{},"type":{},"created_at":{},"data":{}}}"#,
            quote(id),
            quote(kind),
            quote(&now),
            entry.line
        ),
        Scheme::SortedJson => format!(
            r#"{{"event_type":{},"id":{},"data":{}}}"#,
            quote(kind),
            quote(id),
            entry.line
        ),
        Scheme::Standard => format!(
            r#"{{"type":{},"timestamp":{},"data":{}}}"#,
            quote(kind),
            quote(&now),
            entry.line
        ),
    }
}
