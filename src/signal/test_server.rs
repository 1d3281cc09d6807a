//! A scripted HTTP server for the signal and mirror tests: real axum on 127.0.0.1:0 answering
//! each request with the next scripted reply (then a fallback), recording what it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Sleep this long before answering (to exceed a client timeout).
    pub delay: Duration,
    /// Send the body chunked (no `Content-Length`), in 64 KiB pieces.
    pub chunked: bool,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn json(body: &str) -> Reply {
        Reply::new(200, body).header("content-type", "application/json")
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn chunked(mut self) -> Reply {
        self.chunked = true;
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    fallback: Reply,
    requests: Mutex<Vec<Recorded>>,
}

pub(crate) struct ScriptServer {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ScriptServer {
    pub async fn start(script: Vec<Reply>, fallback: Reply) -> ScriptServer {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            fallback,
            requests: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        ScriptServer {
            base_url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    pub fn hits(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Wait (generously) until the server has seen `count` requests.
    pub async fn wait_for_hits(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.hits() < count {
            assert!(
                Instant::now() < deadline,
                "server saw {} of {count} requests",
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.requests).push(Recorded {
        method,
        uri,
        headers,
        body,
        at: Instant::now(),
    });
    let reply = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| shared.fallback.clone());
    tokio::time::sleep(reply.delay).await;
    let mut response_headers = HeaderMap::new();
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::from_str(value)) {
            response_headers.insert(name, value);
        }
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if reply.chunked {
        let pieces: Vec<Result<Bytes, std::io::Error>> = reply
            .body
            .into_bytes()
            .chunks(64 * 1024)
            .map(|piece| Ok(Bytes::copy_from_slice(piece)))
            .collect();
        let body = axum::body::Body::from_stream(futures_util::stream::iter(pieces));
        return (status, response_headers, body).into_response();
    }
    (status, response_headers, reply.body).into_response()
}
