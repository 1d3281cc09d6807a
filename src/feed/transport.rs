//! The HTTP transport under eventsource-client: hyper, with each successful response body
//! rewritten by [`LineNormalizer`] and watched for idleness.
//!
//! eventsource-client's own SSE parser is private, so the only way to make it accept bare JSON
//! lines (and not carry ids over between events) is to change the bytes it is given: this
//! wrapper implements `HttpTransport` around `HyperTransport` and hands the client a normalized
//! body stream. `retry:` values seen on the way are published through [`RetryHint`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use launchdarkly_sdk_transport::{
    ByteStream, HttpTransport, HyperTransport, Request, ResponseFuture, TransportError,
};

use super::normalize::LineNormalizer;
use super::FeedError;

/// What the body streams tell the reconnect loop: the latest server `retry:` value, and how
/// many events were dropped over the size cap on every connection so far.
#[derive(Debug, Default)]
pub(crate) struct RetryHint(Mutex<Option<Duration>>, AtomicU64);

impl RetryHint {
    /// Adds `n` dropped events; returns the total.
    fn add_dropped(&self, n: u64) -> u64 {
        self.1.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Events dropped over `feed.max_event_bytes` since the source started.
    #[cfg(test)]
    pub(crate) fn dropped_events(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, retry: Duration) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(retry);
    }
}

/// `HttpTransport` whose successful response bodies are normalized to strict SSE.
#[derive(Clone)]
pub(crate) struct NormalizingTransport<T> {
    inner: T,
    idle_timeout: Duration,
    max_event_bytes: usize,
    retry_hint: Arc<RetryHint>,
}

impl<T: HttpTransport> NormalizingTransport<T> {
    pub(crate) fn new(inner: T, idle_timeout: Duration, retry_hint: Arc<RetryHint>) -> Self {
        Self {
            inner,
            idle_timeout,
            max_event_bytes: super::normalize::MAX_EVENT_BYTES,
            retry_hint,
        }
    }

    /// Events larger than this are dropped (`feed.max_event_bytes`).
    pub(crate) fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }
}

impl<T: HttpTransport> HttpTransport for NormalizingTransport<T> {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        let response = self.inner.request(request);
        let idle_timeout = self.idle_timeout;
        let max_event = self.max_event_bytes;
        let retry_hint = Arc::clone(&self.retry_hint);
        Box::pin(async move {
            let response = response.await?;
            if !response.status().is_success() {
                // Error bodies are never parsed as events; leave them untouched.
                return Ok(response);
            }
            Ok(response.map(|body| {
                let normalizer = LineNormalizer::with_max_event(max_event);
                Box::pin(NormalizedBody::new(
                    body,
                    normalizer,
                    idle_timeout,
                    retry_hint,
                )) as ByteStream
            }))
        })
    }
}

/// Builds the hyper transport for `scheme`, with proxies disabled (a loopback simulator must
/// never be sent to an `HTTP_PROXY`) and the socket-level connect and read timeouts set.
pub(crate) fn hyper_transport(
    scheme: &str,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<AnyTransport, FeedError> {
    ensure_crypto_provider();
    let builder = HyperTransport::builder()
        .disable_proxy()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout);
    let built = match scheme {
        "https" => builder.build_https().map(AnyTransport::new),
        _ => builder.build_http().map(AnyTransport::new),
    };
    built.map_err(|err| FeedError::Transport(err.to_string()))
}

/// Any `HttpTransport` behind one cloneable type, so plain and TLS hyper transports (whose
/// connector types differ) and test transports share one code path.
#[derive(Clone)]
pub(crate) struct AnyTransport(Arc<dyn Fn(Request<Option<Bytes>>) -> ResponseFuture + Send + Sync>);

impl AnyTransport {
    pub(crate) fn new<T: HttpTransport>(transport: T) -> Self {
        Self(Arc::new(move |request| transport.request(request)))
    }
}

impl HttpTransport for AnyTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        (self.0)(request)
    }
}

/// The TLS stack pulls in both rustls crypto providers (ring here, aws-lc-rs through reqwest),
/// and rustls then refuses to pick one by itself: building a client config would panic. The
/// binary installs ring at start; library callers and tests get the same here.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any installed provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A response body rewritten line by line, failing with `TimedOut` after `idle_timeout`
/// without a complete event or heartbeat comment while the consumer is waiting for more.
/// Bytes alone do not count: a server trickling a byte a second without ever finishing a line
/// (or an event) would otherwise hold the connection for ever.
struct NormalizedBody {
    inner: ByteStream,
    normalizer: LineNormalizer,
    idle_timeout: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    /// The previous poll returned a value: time spent by the consumer since then (e.g. blocked
    /// on a full event channel) must not count as server idleness, so the timer restarts.
    rearm_idle: bool,
    retry_hint: Arc<RetryHint>,
    /// Dropped events of this body already added to the total.
    dropped_seen: u64,
    done: bool,
}

impl NormalizedBody {
    fn new(
        inner: ByteStream,
        normalizer: LineNormalizer,
        idle_timeout: Duration,
        retry_hint: Arc<RetryHint>,
    ) -> Self {
        Self {
            inner,
            normalizer,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            rearm_idle: false,
            retry_hint,
            dropped_seen: 0,
            done: false,
        }
    }

    fn rearm(&mut self) {
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        self.idle.as_mut().reset(deadline);
    }

    fn publish_retry(&self) {
        if let Some(retry) = self.normalizer.retry() {
            self.retry_hint.set(retry);
        }
    }

    /// Logs each event the normalizer dropped over the size cap, with the running total.
    fn report_dropped(&mut self) {
        let dropped = self.normalizer.dropped_events();
        if dropped > self.dropped_seen {
            let total = self.retry_hint.add_dropped(dropped - self.dropped_seen);
            crate::metrics::events_dropped(dropped - self.dropped_seen);
            self.dropped_seen = dropped;
            tracing::warn!(
                max_event_bytes = self.normalizer.max_event(),
                dropped_events_total = total,
                "dropping an event over feed.max_event_bytes from the event stream"
            );
        }
    }
}

impl Stream for NormalizedBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if std::mem::take(&mut this.rearm_idle) {
            this.rearm();
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = this.normalizer.push(&chunk);
                    this.publish_retry();
                    this.report_dropped();
                    if !out.is_empty() {
                        this.rearm();
                        this.rearm_idle = true;
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.normalizer.finish();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        this.done = true;
                        let err = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            idle_message(this.idle_timeout),
                        );
                        return Poll::Ready(Some(Err(TransportError::new(err))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// What an idle connection is told (and the reconnect warning shows).
pub(crate) fn idle_message(idle_timeout: Duration) -> String {
    format!(
        "no complete event or heartbeat for {} (feed.idle_timeout)",
        humantime::format_duration(idle_timeout)
    )
}

/// The normalized bytes through the real eventsource-client parser (no sockets).
#[cfg(test)]
mod tests {
    use super::*;
    use eventsource_client::{Client, ClientBuilder, Error as SseError, ReconnectOptions, SSE};
    use futures_util::StreamExt;

    /// Answers every request with 200 and a body made by `body`.
    #[derive(Clone)]
    struct FakeTransport {
        body: Arc<dyn Fn() -> ByteStream + Send + Sync>,
    }

    impl HttpTransport for FakeTransport {
        fn request(&self, _request: Request<Option<Bytes>>) -> ResponseFuture {
            let body = (self.body)();
            Box::pin(async move {
                http_response(body)
                    .map_err(|err| TransportError::new(std::io::Error::other(err.to_string())))
            })
        }
    }

    fn http_response(
        body: ByteStream,
    ) -> Result<launchdarkly_sdk_transport::Response<ByteStream>, String> {
        launchdarkly_sdk_transport::Response::builder()
            .status(200)
            .body(body)
            .map_err(|err| err.to_string())
    }

    fn chunks_body(chunks: Vec<Vec<u8>>) -> ByteStream {
        let items: Vec<Result<Bytes, TransportError>> =
            chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    type Seen = (Option<String>, String, String);

    /// Events (id, type, data) and errors the client yields for one connection.
    async fn through_client(
        body: impl Fn() -> ByteStream + Send + Sync + 'static,
        idle_timeout: Duration,
    ) -> (Vec<Seen>, Vec<String>, Option<Duration>) {
        let hint = Arc::new(RetryHint::default());
        let fake = FakeTransport {
            body: Arc::new(body),
        };
        let transport = NormalizingTransport::new(fake, idle_timeout, Arc::clone(&hint));
        let client = ClientBuilder::for_url("http://fake.invalid/v1/stream")
            .expect("url")
            .reconnect(ReconnectOptions::reconnect(false).build())
            .build_with_transport(transport);
        let mut stream = client.stream();
        let (mut events, mut errors) = (Vec::new(), Vec::new());
        while let Some(item) = stream.next().await {
            match item {
                Ok(SSE::Event(e)) => events.push((e.id, e.event_type, e.data)),
                Ok(_) => {}
                Err(SseError::Eof) => {}
                Err(err) => errors.push(err.to_string()),
            }
        }
        (events, errors, hint.get())
    }

    fn seen(id: Option<&str>, event_type: &str, data: &str) -> Seen {
        (
            id.map(str::to_string),
            event_type.to_string(),
            data.to_string(),
        )
    }

    const MIXED: &[u8] = b"\xEF\xBB\xBF: hb\r\nretry: 50\r\n\r\nid: 1\r\nevent: price_shift\r\n\
        data: {\"type\":\r\ndata: \"price_shift\"}\r\n\r\n{\"type\":\"whale_alert\",\"id\":\"w\"}\n\
        \ndata: {\"no\":\"id\"}\n\nunknown: field\n\n{\"type\":\"x\"}\ndata: \xff\n\n\
        {\"type\":\"tail\"}";

    fn mixed_expected() -> Vec<Seen> {
        vec![
            seen(Some("1"), "price_shift", "{\"type\":\n\"price_shift\"}"),
            seen(Some("w"), "message", r#"{"type":"whale_alert","id":"w"}"#),
            seen(Some(""), "message", r#"{"no":"id"}"#),
            seen(Some(""), "message", r#"{"type":"x"}"#),
            seen(Some(""), "message", "\u{FFFD}"),
            seen(Some(""), "message", r#"{"type":"tail"}"#),
        ]
    }

    #[tokio::test]
    async fn client_parses_normalized_bytes_at_every_split() {
        for split in 0..=MIXED.len() {
            let body = move || chunks_body(vec![MIXED[..split].to_vec(), MIXED[split..].to_vec()]);
            let (events, errors, retry) = through_client(body, Duration::from_secs(60)).await;
            assert_eq!(events, mixed_expected(), "split at {split}");
            assert!(errors.is_empty(), "split at {split}: {errors:?}");
            assert_eq!(retry, Some(Duration::from_millis(50)));
        }
    }

    #[tokio::test]
    async fn client_parses_normalized_bytes_one_byte_at_a_time() {
        let body = || chunks_body(MIXED.iter().map(|b| vec![*b]).collect());
        let (events, errors, _) = through_client(body, Duration::from_secs(60)).await;
        assert_eq!(events, mixed_expected());
        assert!(errors.is_empty(), "{errors:?}");
    }

    /// Events dropped over the cap are counted across connections, not per connection.
    #[tokio::test]
    async fn dropped_events_are_counted_across_connections() {
        let hint = Arc::new(RetryHint::default());
        let body = || {
            let mut big = b"id: big\n".to_vec();
            for _ in 0..8 {
                big.extend_from_slice(format!("data: {}\n", "x".repeat(500)).as_bytes());
            }
            big.extend_from_slice(b"\nid: ok\ndata: {}\n\n");
            chunks_body(vec![big])
        };
        let fake = FakeTransport {
            body: Arc::new(body),
        };
        let transport = NormalizingTransport::new(fake, Duration::from_secs(60), Arc::clone(&hint))
            .with_max_event_bytes(1024);
        for connection in 1..=2 {
            let client = ClientBuilder::for_url("http://fake.invalid/v1/stream")
                .expect("url")
                .reconnect(ReconnectOptions::reconnect(false).build())
                .build_with_transport(transport.clone());
            let mut stream = client.stream();
            let mut ids = Vec::new();
            while let Some(item) = stream.next().await {
                if let Ok(SSE::Event(e)) = item {
                    ids.push(e.id);
                }
            }
            assert_eq!(ids, vec![Some("ok".to_string())]);
            assert_eq!(hint.dropped_events(), connection);
        }
    }

    #[tokio::test]
    async fn hyper_transports_build_for_both_schemes() {
        // Building the TLS stack must not panic on the two-crypto-provider build.
        let second = Duration::from_secs(1);
        assert!(hyper_transport("https", second, second).is_ok());
        assert!(hyper_transport("http", second, second).is_ok());
    }

    #[tokio::test]
    async fn silent_body_times_out() {
        let body = || -> ByteStream {
            let first = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"data: {}\n\n"))]);
            Box::pin(first.chain(futures_util::stream::pending()))
        };
        let (events, errors, _) = through_client(body, Duration::from_millis(100)).await;
        assert_eq!(events, vec![seen(Some(""), "message", "{}")]);
        assert_eq!(errors, vec!["timed out".to_string()]);
    }

    #[tokio::test]
    async fn time_spent_by_the_consumer_is_not_idleness() {
        let body = || -> ByteStream {
            let first =
                futures_util::stream::iter(vec![Ok(Bytes::from_static(b"id: a\ndata: 1\n\n"))]);
            let second = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Bytes::from_static(b"id: b\ndata: 2\n\n"))
            });
            Box::pin(first.chain(second))
        };
        let hint = Arc::new(RetryHint::default());
        let fake = FakeTransport {
            body: Arc::new(body),
        };
        let transport = NormalizingTransport::new(fake, Duration::from_secs(1), hint);
        let client = ClientBuilder::for_url("http://fake.invalid/")
            .expect("url")
            .reconnect(ReconnectOptions::reconnect(false).build())
            .build_with_transport(transport);
        let mut stream = client.stream();
        let mut ids = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(SSE::Event(e)) => {
                    ids.push(e.id);
                    // A slow consumer (e.g. a full channel) between two server writes.
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                }
                Ok(_) | Err(SseError::Eof) => {}
                Err(err) => panic!("unexpected error {err}"),
            }
        }
        assert_eq!(ids, vec![Some("a".to_string()), Some("b".to_string())]);
    }
}
