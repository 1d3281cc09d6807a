//! The Rekko stream source: connect, forward events, reconnect with backoff.
//!
//! eventsource-client parses the (normalized) body, with its own reconnect disabled: this loop
//! owns reconnection so that the delay follows [`Backoff`] and every connect sends the current
//! resume cursor (the last *persisted* id, which the client itself cannot know) as
//! `Last-Event-ID`.

use std::sync::Arc;
use std::time::Duration;

use eventsource_client::{
    BoxStream, Client, ClientBuilder, Error as SseError, ReconnectOptions, SSE,
};
use futures_util::StreamExt;
use launchdarkly_sdk_transport::{HeaderValue, Uri};
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use super::transport::{
    hyper_transport, idle_message, AnyTransport, NormalizingTransport, RetryHint,
};
use super::{FeedError, RawEvent, StreamSettings};
use crate::clock::SharedClock;
use crate::intake::Liveness;

/// Runs until `shutdown` fires (returns Ok) or a fatal error (401/403 -> Err(Unauthorized)).
/// Reconnects forever otherwise. Before every (re)connect it reads the CURRENT value of `cursor`
/// (the last *persisted* event id, maintained by the store/runner) and sends it as
/// `Last-Event-ID`.
///
/// Events are sent to `tx` in arrival order, waiting when it is full (never dropping); a closed
/// `tx` ends the source with Ok. A dropped `shutdown` sender counts as shutdown.
pub async fn run_stream(
    settings: StreamSettings,
    clock: SharedClock,
    cursor: watch::Receiver<Option<String>>,
    tx: mpsc::Sender<RawEvent>,
    mut shutdown: watch::Receiver<bool>,
    liveness: Liveness,
) -> Result<(), FeedError> {
    let (url, scheme) = stream_url(&settings.base_url, &settings.events)?;
    let authorization = authorization(
        settings
            .api_key
            .as_ref()
            .map(crate::configuration::Secret::expose),
    )?;
    let hyper = hyper_transport(&scheme, settings.connect_timeout, settings.idle_timeout)?;
    let retry_hint = Arc::new(RetryHint::default());
    let transport = NormalizingTransport::new(
        AnyTransport::new(hyper),
        settings.idle_timeout,
        Arc::clone(&retry_hint),
    )
    .with_max_event_bytes(settings.max_event_bytes);
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    // A cursor the server refused to take (HTTP 431/414): not sent again until it changes.
    let mut refused_cursor: Option<String> = None;

    loop {
        if *shutdown.borrow() || tx.is_closed() {
            return Ok(());
        }
        let resume_from = usable_cursor(cursor.borrow().clone(), refused_cursor.as_deref());
        tracing::debug!(resume_from = ?resume_from, "connecting to the event stream");
        let events = open(
            &url,
            authorization.as_deref(),
            resume_from.clone(),
            transport.clone(),
        )?;
        let end = tokio::select! {
            biased;
            () = shutdown_signal(&mut shutdown) => return Ok(()),
            () = tx.closed() => return Ok(()),
            end = forward(events, &clock, &tx, settings.idle_timeout, &url, &liveness) => end,
        };
        if let (
            ConnectionEnd::Lost {
                status: Some(431 | 414),
                ..
            },
            Some(sent),
        ) = (&end, &resume_from)
        {
            tracing::warn!(
                cursor_bytes = sent.len(),
                "the server refused the resume cursor as too large; reconnecting without \
                 Last-Event-ID (events sent meanwhile may arrive again and are recognised)"
            );
            refused_cursor = Some(sent.clone());
        }
        let (reason, delay) = match end {
            ConnectionEnd::Fatal(err) => return Err(err),
            ConnectionEnd::ConsumerGone => return Ok(()),
            ConnectionEnd::Lost {
                reason,
                delivered,
                retry_after,
                ..
            } => {
                let retry_after = retry_after.map(|asked| {
                    if asked > settings.backoff_max {
                        tracing::warn!(
                            retry_after_s = asked.as_secs(),
                            capped_s = settings.backoff_max.as_secs(),
                            "the stream's Retry-After exceeds feed.backoff_max; waiting \
                             feed.backoff_max instead"
                        );
                    }
                    asked.min(settings.backoff_max)
                });
                let unit = rand::random::<f64>();
                let delay =
                    backoff.after_connection(delivered, retry_hint.get(), retry_after, unit);
                (reason, delay)
            }
        };
        crate::metrics::feed_reconnect(crate::metrics::STREAM);
        tracing::warn!(
            attempt = backoff.attempt(),
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason = %reason,
            "event stream lost; reconnecting"
        );
        tokio::select! {
            biased;
            () = shutdown_signal(&mut shutdown) => return Ok(()),
            () = tx.closed() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// How one connection ended.
enum ConnectionEnd {
    Fatal(FeedError),
    ConsumerGone,
    Lost {
        reason: String,
        /// At least one event was forwarded: the backoff schedule starts over.
        delivered: bool,
        /// The server's `Retry-After`, a floor for the next delay.
        retry_after: Option<Duration>,
        /// The HTTP status that refused the connection, if it was one.
        status: Option<u16>,
    },
}

/// The cursor to send as `Last-Event-ID`: not one the server refused, and not one longer than
/// an event id may be (an old store may hold one from before ids were bounded).
fn usable_cursor(cursor: Option<String>, refused: Option<&str>) -> Option<String> {
    let cursor = cursor.filter(|id| !id.is_empty())?;
    if refused == Some(cursor.as_str()) {
        return None;
    }
    if cursor.len() > crate::wire::MAX_EVENT_ID_BYTES {
        tracing::warn!(
            cursor_bytes = cursor.len(),
            "the stored resume cursor is longer than an event id may be; not sent"
        );
        return None;
    }
    Some(cursor)
}

/// Starts one connection (no retries inside the client: a failure ends its stream).
fn open(
    url: &str,
    authorization: Option<&str>,
    resume_from: Option<String>,
    transport: NormalizingTransport<AnyTransport>,
) -> Result<BoxStream<eventsource_client::Result<SSE>>, FeedError> {
    let invalid_url = |err: SseError| FeedError::InvalidUrl {
        url: url.to_string(),
        reason: err.to_string(),
    };
    let mut builder = ClientBuilder::for_url(url)
        .map_err(invalid_url)?
        .reconnect(
            ReconnectOptions::reconnect(false)
                .retry_initial(false)
                .build(),
        )
        // A redirect would carry the API key to another place; it is retried instead, and the
        // warning names the status so the operator can fix feed.base_url.
        .redirect_limit(0);
    if let Some(value) = authorization {
        builder = builder
            .header("Authorization", value)
            .map_err(|_| FeedError::InvalidApiKey)?;
    }
    match resume_from.filter(|id| !id.is_empty()) {
        Some(id) if HeaderValue::from_str(&id).is_ok() => builder = builder.last_event_id(id),
        Some(_) => tracing::warn!("resume cursor cannot be sent as Last-Event-ID; omitted"),
        None => {}
    }
    Ok(builder.build_with_transport(transport).stream())
}

/// Forwards the events of one connection until it ends.
async fn forward(
    mut events: BoxStream<eventsource_client::Result<SSE>>,
    clock: &SharedClock,
    tx: &mpsc::Sender<RawEvent>,
    idle_timeout: Duration,
    url: &str,
    liveness: &Liveness,
) -> ConnectionEnd {
    let mut delivered = false;
    while let Some(item) = events.next().await {
        if item.is_ok() {
            liveness.beat(clock.now());
        }
        match item {
            Ok(SSE::Connected(_)) => tracing::info!("event stream connected"),
            Ok(SSE::Comment(_)) => {}
            Ok(SSE::Event(event)) => {
                let raw = RawEvent {
                    id: event.id.filter(|id| !id.is_empty()),
                    sse_event: Some(event.event_type).filter(|name| name != "message"),
                    data: event.data,
                    received_at: clock.now(),
                };
                if tx.send(raw).await.is_err() {
                    return ConnectionEnd::ConsumerGone;
                }
                delivered = true;
            }
            Err(err) => return failure(err, delivered, clock, idle_timeout, url),
        }
    }
    lost("server closed the stream".to_string(), delivered, None)
}

fn lost(reason: String, delivered: bool, retry_after: Option<Duration>) -> ConnectionEnd {
    ConnectionEnd::Lost {
        reason,
        delivered,
        retry_after,
        status: None,
    }
}

/// An error and its causes on one line, each said once: the client's errors wrap each other
/// and repeat themselves ("transport error: transport error: client error (Connect)") while
/// the cause that matters (connection refused, no such host) sits at the bottom.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let text = err.to_string();
        let text = text.trim_start_matches("transport error: ").trim();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(text)) {
            parts.push(text.to_string());
        }
        current = err.source();
    }
    parts.join(": ")
}

/// Whether an error, or any error it was caused by, is a timeout.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = err.source();
    }
    false
}

/// Classifies a client error: 401/403 are fatal, everything else is retried.
fn failure(
    err: SseError,
    delivered: bool,
    clock: &SharedClock,
    idle_timeout: Duration,
    url: &str,
) -> ConnectionEnd {
    match err {
        SseError::UnexpectedResponse(response, _) => {
            let status = response.status();
            if status == 401 || status == 403 {
                return ConnectionEnd::Fatal(FeedError::Unauthorized { status });
            }
            let retry_after = response
                .get_header_value("retry-after")
                .ok()
                .flatten()
                .and_then(|value| parse_retry_after(value, clock.now()));
            ConnectionEnd::Lost {
                reason: format!("HTTP {status}"),
                delivered,
                retry_after,
                status: Some(status),
            }
        }
        SseError::Eof => lost("server closed the stream".into(), delivered, None),
        SseError::UnexpectedEof => {
            lost("server closed the stream mid-event".into(), delivered, None)
        }
        SseError::TimedOut => lost(idle_message(idle_timeout), delivered, None),
        SseError::MaxRedirectLimitReached(_) => lost(
            "server answered with a redirect, which is not followed (the API key stays with \
             feed.base_url)"
                .into(),
            delivered,
            None,
        ),
        other if timed_out(&other) => lost(idle_message(idle_timeout), delivered, None),
        other => lost(
            format!("cannot reach {url}: {}", causes(&other)),
            delivered,
            None,
        ),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past means no wait).
pub(crate) fn parse_retry_after(value: &str, now: strategies::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Resolves when shutdown is requested or no one is left to request it.
async fn shutdown_signal(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// `Authorization` header value, checked once so a bad key fails at start, not per connect.
fn authorization(api_key: Option<&str>) -> Result<Option<String>, FeedError> {
    let Some(key) = api_key.map(str::trim).filter(|key| !key.is_empty()) else {
        return Ok(None);
    };
    let value = format!("Bearer {key}");
    match HeaderValue::from_str(&value) {
        Ok(_) => Ok(Some(value)),
        Err(_) => Err(FeedError::InvalidApiKey),
    }
}

/// `{base_url}/v1/stream?events=a,b` and its scheme, or why it cannot be used.
pub(crate) fn stream_url(base_url: &str, events: &[String]) -> Result<(String, String), FeedError> {
    let invalid = |reason: String| FeedError::InvalidUrl {
        url: base_url.to_string(),
        reason,
    };
    let mut url = format!("{}/v1/stream", base_url.trim().trim_end_matches('/'));
    let events: Vec<String> = events
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .map(percent_encode)
        .collect();
    if !events.is_empty() {
        url.push_str("?events=");
        url.push_str(&events.join(","));
    }
    let uri: Uri = url.parse().map_err(|err| invalid(format!("{err}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        Some(other) => return Err(invalid(format!("scheme {other:?} is not http or https"))),
        None => return Err(invalid("it has no http:// or https:// scheme".into())),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    Ok((url, scheme.to_string()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joins_base_and_events() {
        let events = vec!["price_shift".to_string(), " whale_alert ".to_string()];
        let (url, scheme) = stream_url("https://api.rekko.ai/", &events).expect("valid");
        assert_eq!(
            url,
            "https://api.rekko.ai/v1/stream?events=price_shift,whale_alert"
        );
        assert_eq!(scheme, "https");
        let (url, _) = stream_url("http://127.0.0.1:9", &["a b&c".into()]).expect("valid");
        assert_eq!(url, "http://127.0.0.1:9/v1/stream?events=a%20b%26c");
        let (url, _) = stream_url("http://127.0.0.1:9", &[]).expect("valid");
        assert_eq!(url, "http://127.0.0.1:9/v1/stream");
    }

    #[test]
    fn unusable_urls_are_rejected() {
        for bad in [
            "",
            "api.rekko.ai",
            "ftp://host",
            "http://",
            "http://exa mple",
        ] {
            let err = stream_url(bad, &["price_shift".into()]).expect_err(bad);
            assert!(matches!(err, FeedError::InvalidUrl { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn authorization_is_checked_without_echoing_the_key() {
        assert_eq!(authorization(None), Ok(None));
        assert_eq!(authorization(Some("  ")), Ok(None));
        assert_eq!(authorization(Some("k-1")), Ok(Some("Bearer k-1".into())));
        let err = authorization(Some("sec\nret")).expect_err("newline");
        assert_eq!(err, FeedError::InvalidApiKey);
        assert!(!err.to_string().contains("sec"));
    }

    #[test]
    fn causes_are_said_once_each() {
        let root = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let wrapped = launchdarkly_sdk_transport::TransportError::new(root);
        let outer = SseError::Transport(wrapped);
        assert_eq!(causes(&outer), "connection refused");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .expect("date")
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
