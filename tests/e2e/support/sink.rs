//! A notification receiver on 127.0.0.1:0 standing in for a webhook, Slack, Discord or
//! Telegram endpoint: it records every request (path, headers, body) and answers from a script
//! (a status, or hanging without an answer), on a thread of its own.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// How one request is answered.
#[derive(Clone, Debug)]
pub enum SinkAnswer {
    /// This status, with these headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// No answer for this long (longer than the bot's timeout: a hung sink).
    Hang(Duration),
}

impl SinkAnswer {
    pub fn ok() -> SinkAnswer {
        SinkAnswer::Status(200, Vec::new(), "ok".to_string())
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<SinkAnswer>,
    default: Option<SinkAnswer>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<Script>>;

pub struct SinkServer {
    addr: SocketAddr,
    script: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SinkServer {
    /// Answers `default` to every request unless [`SinkServer::answers`] queued others.
    pub fn start(default: SinkAnswer) -> SinkServer {
        let script: Shared = Arc::new(Mutex::new(Script {
            default: Some(default),
            ..Script::default()
        }));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&script);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
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
                let app = Router::new().fallback(receive).with_state(shared);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("the sink's address");
        SinkServer {
            addr,
            script,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers for the next requests, before the default one.
    pub fn answers(&self, answers: Vec<SinkAnswer>) {
        self.lock().answers.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SinkServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn receive(
    State(script): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        script.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body: body.to_vec(),
        });
        script
            .answers
            .pop_front()
            .or_else(|| script.default.clone())
            .unwrap_or_else(SinkAnswer::ok)
    };
    match answer {
        SinkAnswer::Status(status, headers, body) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
            )
                .into_response();
            for (name, value) in headers {
                if let Ok(value) = value.parse() {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        SinkAnswer::Hang(duration) => {
            tokio::time::sleep(duration).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}
