//! `GET /v1/stream`: the event stream, as SSE or bare JSON lines, with injected faults.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::world::{Entry, Next};
use super::{App, StreamFormat};

/// Events fetched from the log per lock, and so at most per body chunk.
const BATCH: usize = 512;
/// Pause before a `drop_after` abort, so the events before it reach the client.
const DROP_FLUSH_PAUSE: Duration = Duration::from_millis(20);

pub(super) async fn stream(
    State(app): State<Arc<App>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let types = requested_types(&params);
    let last_event_id = headers
        .get("last-event-id")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    app.stats.stream_connected(last_event_id.clone());
    let position = app.world().resume_position(
        last_event_id.as_deref(),
        app.config.faults.redeliver,
        Instant::now(),
        chrono::Utc::now(),
    );
    tracing::debug!(
        ?last_event_id,
        position,
        ?types,
        "simulator: stream connected"
    );
    let heartbeat = (!app.config.heartbeat.is_zero()).then(|| {
        let start = tokio::time::Instant::now() + app.config.heartbeat;
        let mut interval = tokio::time::interval_at(start, app.config.heartbeat);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let content_type = match app.config.format {
        StreamFormat::Sse => "text/event-stream",
        StreamFormat::Lines => "application/x-ndjson",
    };
    let connection = Connection {
        shutdown: app.shutdown.clone(),
        app,
        position,
        types,
        sent: 0,
        greeted: false,
        finished: false,
        heartbeat,
    };
    let body = futures_util::stream::unfold(connection, |mut connection| async move {
        let chunk = connection.next_chunk().await?;
        Some((chunk, connection))
    });
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The `events=a,b` of a query (repeatable); `price_shift` when none.
pub(super) fn requested_types(params: &[(String, String)]) -> Vec<String> {
    let mut types: Vec<String> = params
        .iter()
        .filter(|(key, _)| key == "events")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if types.is_empty() {
        types.push("price_shift".to_owned());
    }
    types
}

/// One stream connection's progress through the log.
struct Connection {
    app: Arc<App>,
    shutdown: watch::Receiver<bool>,
    position: u64,
    types: Vec<String>,
    /// Events sent on this connection (for `drop_after`).
    sent: u64,
    greeted: bool,
    finished: bool,
    heartbeat: Option<Interval>,
}

impl Connection {
    fn wants(&self, entry: &Entry) -> bool {
        // Undecodable (scripted) data has no type: always sent, it is there to test the client.
        entry
            .event_type
            .as_ref()
            .is_none_or(|t| self.types.iter().any(|wanted| wanted == t))
    }

    /// The next body chunk; `Err` aborts the connection, `None` ends it.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.finished {
            return None;
        }
        let config = &self.app.config;
        if !self.greeted {
            self.greeted = true;
            if let (StreamFormat::Sse, Some(ms)) = (config.format, config.retry_ms) {
                return Some(Ok(Bytes::from(format!("retry: {ms}\n\n"))));
            }
        }
        loop {
            // A dropped handle (sender gone) stops the server like an explicit shutdown.
            if *self.shutdown.borrow() || self.shutdown.has_changed().is_err() {
                self.finished = true;
                return None;
            }
            let budget = match config.faults.drop_after {
                Some(limit) if self.sent >= limit => {
                    self.finished = true;
                    tracing::debug!(sent = self.sent, "simulator: dropping the connection");
                    // hyper flushes what it buffered only when the body goes pending; aborting
                    // at once could discard the events "sent" (or even the response head).
                    tokio::time::sleep(DROP_FLUSH_PAUSE).await;
                    return Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "simulated fault: connection dropped",
                    )));
                }
                Some(limit) => limit - self.sent,
                None => u64::MAX,
            };
            let batch =
                self.app
                    .world()
                    .fetch(self.position, BATCH, Instant::now(), chrono::Utc::now());
            self.position = batch.start;
            let mut chunk = Vec::new();
            let mut count = 0;
            for entry in &batch.entries {
                if count >= budget {
                    break;
                }
                self.position += 1;
                if self.wants(entry) {
                    render(entry, config.format, &mut chunk);
                    count += 1;
                }
            }
            if count > 0 {
                self.sent += count;
                self.app.stats.events_written(count);
                return Some(Ok(Bytes::from(chunk)));
            }
            if !batch.entries.is_empty() || batch.next == Next::Now {
                // Everything fetched was filtered out: fetch on, but let other tasks run.
                tokio::task::yield_now().await;
                continue;
            }
            let deadline = match batch.next {
                Next::At(at) => Some(tokio::time::Instant::from_std(at)),
                Next::Now | Next::Never => None,
            };
            tokio::select! {
                _ = self.shutdown.changed() => {
                    self.finished = true;
                    return None;
                }
                _ = sleep_until(deadline) => {}
                _ = tick(&mut self.heartbeat) => {
                    let ping: &'static [u8] = match config.format {
                        StreamFormat::Sse => b": ping\n\n",
                        // A JSON-lines reader skips empty lines; anything else would not parse.
                        StreamFormat::Lines => b"\n",
                    };
                    return Some(Ok(Bytes::from_static(ping)));
                }
            }
        }
    }
}

pub(super) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Appends one event in the connection's format.
fn render(entry: &Entry, format: StreamFormat, out: &mut Vec<u8>) {
    match format {
        StreamFormat::Lines => {
            out.extend_from_slice(entry.line.as_bytes());
            out.push(b'\n');
        }
        StreamFormat::Sse => {
            if let Some(id) = &entry.id {
                out.extend_from_slice(b"id: ");
                out.extend_from_slice(id.as_bytes());
                out.push(b'\n');
            }
            if let Some(event_type) = &entry.event_type {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(event_type.as_bytes());
                out.push(b'\n');
            }
            // Multi-line data is one `data:` field per line, as SSE prescribes.
            for line in entry.data.split('\n') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
                out.push(b'\n');
            }
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: Option<&str>, event_type: Option<&str>, data: &str) -> Entry {
        Entry {
            id: id.map(str::to_owned),
            event_type: event_type.map(str::to_owned),
            data: data.to_owned(),
            line: data.to_owned(),
        }
    }

    #[test]
    fn sse_rendering_splits_multiline_data_and_omits_missing_fields() {
        let mut out = Vec::new();
        render(
            &entry(Some("7"), Some("price_shift"), "{\"a\":1}"),
            StreamFormat::Sse,
            &mut out,
        );
        render(
            &entry(None, None, "not\r\njson"),
            StreamFormat::Sse,
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "id: 7\nevent: price_shift\ndata: {\"a\":1}\n\ndata: not\ndata: json\n\n"
        );
    }
}
