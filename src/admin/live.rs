//! `GET /api/v1/events`: the decisions as they become durable, as Server-Sent Events (the
//! protocol the bot itself consumes from the API).
//!
//! Each durable decision is one `event: decision` with `id:` its seq and `data:` the
//! dashboard's [`DecisionItem`] JSON. A client that reconnects with `Last-Event-ID` (or
//! `?after=SEQ`) gets every decision after it, none twice; without either it starts at the
//! newest. The stream wakes on the store's commit signal, not a timer, and reads only what is
//! new; an idle stream sends a `: keepalive` comment every [`KEEPALIVE`]. A slow reader costs
//! the bot nothing: decisions are read from the store at the reader's pace (the channel to
//! the connection is bounded), never queued by the engine.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::api::DecisionItem;
use super::AdminState;

/// An idle stream's comment interval (proxies close silent connections).
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Decisions sent per wake before looking at the commit signal again.
const BATCH: usize = 500;

/// The listener's stop signal: a stopping bot ends its live streams.
#[derive(Clone)]
pub struct Stop(pub tokio::sync::watch::Receiver<bool>);

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    after: Option<u64>,
}

/// `GET /api/v1/events`.
pub async fn events(
    State(state): State<AdminState>,
    Extension(Stop(mut stop)): Extension<Stop>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(query.after);
    let store = state.store.clone();
    let start = match resume {
        Some(after) => Some(after),
        None => match store.decisions_before(None).next().transpose() {
            Ok(newest) => newest.map(|r| r.seq),
            Err(err) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
            }
        },
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        let mut commits = store.watch_commits();
        let mut after = start;
        // `retry:` first: how long a browser waits before reconnecting.
        let retry = Event::default()
            .retry(Duration::from_secs(1))
            .comment("live");
        if tx.send(Ok(retry)).await.is_err() {
            return;
        }
        loop {
            let reader = store.clone();
            let from = after;
            let read = tokio::task::spawn_blocking(move || {
                reader
                    .decisions_after(from)
                    .take(BATCH)
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
            let Ok(Ok(records)) = read else { return };
            let full = records.len() == BATCH;
            for record in records {
                after = Some(record.seq);
                let event = Event::default()
                    .id(record.seq.to_string())
                    .event("decision")
                    .json_data(DecisionItem::new(record));
                let Ok(event) = event else { return };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEPALIVE)),
    )
        .into_response()
}
