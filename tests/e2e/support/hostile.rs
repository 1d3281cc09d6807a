//! A hostile Rekko-compatible server on 127.0.0.1:0: every stream connection and every signal
//! call is answered from a script (huge ids, absurd `Retry-After`s, echoed keys, endless
//! events), and every request is recorded. It runs on a thread of its own, so tests stay
//! synchronous like the rest of the harness.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt as _;

/// How one stream connection is answered.
pub enum StreamReply {
    /// This status and headers, empty body.
    Status(u16, Vec<(&'static str, String)>),
    /// 200 with these chunks, then the connection stays open (silent).
    Chunks(Vec<Vec<u8>>),
    /// 200, each chunk after its delay, then open and silent.
    Paced(Vec<(std::time::Duration, Vec<u8>)>),
}

/// How one signal call is answered.
#[derive(Clone)]
pub struct SignalAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl SignalAnswer {
    pub fn json(body: impl Into<String>) -> SignalAnswer {
        SignalAnswer {
            status: 200,
            headers: vec![("content-type", "application/json".to_string())],
            body: body.into(),
        }
    }

    /// A confident BUY_YES.
    pub fn buy_yes() -> SignalAnswer {
        SignalAnswer::json(r#"{"recommendation":"BUY_YES","edge":0.15,"confidence":0.8}"#)
    }
}

#[derive(Default)]
struct Script {
    streams: VecDeque<StreamReply>,
    signals: VecDeque<SignalAnswer>,
    default_signal: Option<SignalAnswer>,
    /// The `Last-Event-ID` of every stream request (None: not sent).
    cursors: Vec<Option<String>>,
    signal_calls: usize,
}

type Shared = Arc<Mutex<Script>>;

pub struct Hostile {
    addr: SocketAddr,
    script: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    /// A server answering streams with `streams` (then silent, open 200s) and signals with
    /// `signal` unless [`Hostile::signals`] queued others.
    pub fn start(streams: Vec<StreamReply>, signal: SignalAnswer) -> Hostile {
        let script: Shared = Arc::new(Mutex::new(Script {
            streams: streams.into(),
            default_signal: Some(signal),
            ..Script::default()
        }));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&script);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = Router::new()
                    .route("/v1/stream", get(stream))
                    .route("/v1/signals", post(signal_call))
                    .fallback(|| async { StatusCode::NOT_FOUND })
                    .with_state(shared);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("the hostile server's address");
        Hostile {
            addr,
            script,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers for the next signal calls, before the default one.
    pub fn signals(&self, answers: Vec<SignalAnswer>) {
        self.lock().signals.extend(answers);
    }

    /// The `Last-Event-ID` of every stream request so far.
    pub fn cursors(&self) -> Vec<Option<String>> {
        self.lock().cursors.clone()
    }

    pub fn signal_calls(&self) -> usize {
        self.lock().signal_calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open streams never end by themselves; the runtime's end drops them.
        if let Some(thread) = self.thread.take() {
            drop(thread);
        }
    }
}

/// Stands in for a server whose header limit is 8 KiB, as many are.
const MAX_HEADER: usize = 8 * 1024;

async fn stream(State(script): State<Shared>, headers: HeaderMap) -> Response {
    let cursor = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let reply = {
        let mut script = script.lock().unwrap_or_else(|p| p.into_inner());
        script.cursors.push(cursor.clone());
        script.streams.pop_front()
    };
    if cursor.as_ref().is_some_and(|c| c.len() > MAX_HEADER) {
        return StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
    }
    match reply {
        Some(StreamReply::Status(status, extra)) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::from_u16(status).expect("status");
            for (name, value) in extra {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            response
        }
        Some(StreamReply::Chunks(chunks)) => sse(chunks),
        Some(StreamReply::Paced(chunks)) => {
            let body = futures_util::stream::iter(chunks)
                .then(|(delay, chunk)| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<Bytes, std::io::Error>(Bytes::from(chunk))
                })
                .chain(futures_util::stream::pending());
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .expect("response")
        }
        None => sse(Vec::new()),
    }
}

fn sse(chunks: Vec<Vec<u8>>) -> Response {
    let body = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<Bytes, std::io::Error>(Bytes::from(chunk))),
    )
    .chain(futures_util::stream::pending());
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .expect("response")
}

async fn signal_call(State(script): State<Shared>) -> Response {
    let answer = {
        let mut script = script.lock().unwrap_or_else(|p| p.into_inner());
        script.signal_calls += 1;
        script
            .signals
            .pop_front()
            .or_else(|| script.default_signal.clone())
    };
    let Some(answer) = answer else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).expect("status");
    for (name, value) in answer.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

/// One SSE event block.
pub fn sse_event(id: Option<&str>, data: &str) -> Vec<u8> {
    let mut block = String::new();
    if let Some(id) = id {
        block.push_str(&format!("id: {id}\n"));
    }
    block.push_str(&format!("event: message\ndata: {data}\n\n"));
    block.into_bytes()
}
