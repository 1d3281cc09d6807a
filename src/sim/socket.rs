//! `GET /v1/ws?events=a,b`: the event log over a WebSocket (the ARA design, seed 003), for the
//! bot's `kind = "websocket"` intake.
//!
//! Each event is one text message, the bare JSON line of the stream (the payload with its
//! `"id"`). Every `heartbeat` the server sends a JSON `{"type":"ping"}` and a protocol ping,
//! alternately, and counts the client's answers ([`super::SimStats::ws_pongs`]). A
//! connection starts at the beginning of the log (the client recognises what it saw). The
//! fault `ws_silent_after` makes the first `ws_silent_connections` connections go silent (no
//! events, no pings, the socket left open) after that many events: a dead server the client
//! must notice by itself.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::time::MissedTickBehavior;

use super::world::Next;
use super::{wait_for_shutdown, App};

const BATCH: usize = 256;

pub(super) async fn socket(
    State(app): State<Arc<App>>,
    Query(params): Query<Vec<(String, String)>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let types = super::stream::requested_types(&params);
    upgrade.on_upgrade(move |socket| serve(app, types, socket))
}

async fn serve(app: Arc<App>, types: Vec<String>, socket: WebSocket) {
    let number = app.stats.ws_connected();
    let faults = &app.config.faults;
    let silent_after = faults
        .ws_silent_after
        .filter(|_| number <= u64::from(faults.ws_silent_connections));
    let (mut tx, mut rx) = socket.split();
    let heartbeat = app
        .config
        .heartbeat
        .max(std::time::Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shutdown = app.shutdown.clone();
    let mut position = 0;
    let mut sent = 0u64;
    let mut json_ping = true;
    loop {
        if silent_after.is_some_and(|limit| sent >= limit) {
            tracing::debug!(sent, "simulator: websocket goes silent");
            // Read (and count) what the client sends, never answer: until it leaves.
            tokio::select! {
                () = wait_for_shutdown(&mut shutdown) => return,
                () = drain(&app, &mut rx) => return,
            }
        }
        let batch = app
            .world()
            .fetch(position, BATCH, Instant::now(), chrono::Utc::now());
        position = batch.start;
        let mut wrote = false;
        for entry in &batch.entries {
            if silent_after.is_some_and(|limit| sent >= limit) {
                break;
            }
            position += 1;
            let wanted = entry
                .event_type
                .as_ref()
                .is_none_or(|t| types.iter().any(|w| w == t));
            if !wanted {
                continue;
            }
            if tx.send(Message::text(entry.line.clone())).await.is_err() {
                return;
            }
            sent += 1;
            wrote = true;
            app.stats.events_written(1);
        }
        if wrote || batch.next == Next::Now {
            continue;
        }
        let deadline = match batch.next {
            Next::At(at) => Some(tokio::time::Instant::from_std(at)),
            Next::Now | Next::Never => None,
        };
        tokio::select! {
            () = wait_for_shutdown(&mut shutdown) => {
                let _ = tx.send(Message::Close(None)).await;
                return;
            }
            () = super::stream::sleep_until(deadline) => {}
            _ = ticks.tick() => {
                let ping = match json_ping {
                    true => Message::text(r#"{"type":"ping"}"#),
                    false => Message::Ping(bytes::Bytes::from_static(b"sim")),
                };
                json_ping = !json_ping;
                if tx.send(ping).await.is_err() {
                    return;
                }
            }
            message = rx.next() => match message {
                Some(Ok(message)) => count(&app, &message),
                Some(Err(_)) | None => return,
            },
        }
    }
}

async fn drain(app: &App, rx: &mut futures_util::stream::SplitStream<WebSocket>) {
    while let Some(Ok(message)) = rx.next().await {
        count(app, &message);
    }
}

/// A pong of either kind is counted; anything else from the client is ignored.
fn count(app: &App, message: &Message) {
    let pong = match message {
        Message::Pong(_) => true,
        Message::Text(text) => text.as_str().contains(r#""pong""#),
        _ => false,
    };
    if pong {
        app.stats.ws_pong();
    }
}
