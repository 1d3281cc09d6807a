//! Test helpers: start a simulator on 127.0.0.1:0 and read its stream with a minimal SSE parser.

use std::time::Duration;

use tokio::net::TcpListener;

use super::{spawn, SimConfig, SimHandle};

/// Generous bound for "eventually" waits: tests must not flake on a loaded 2-core machine.
pub(super) const PATIENCE: Duration = Duration::from_secs(30);

pub(super) async fn start(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    spawn(config, listener).await.expect("spawn")
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// One parsed SSE event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// What ended a read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The body ended cleanly.
    Closed,
    /// The connection broke (the server aborted the body).
    Broken,
    TimedOut,
}

/// Reads a stream response block by block (SSE) or line by line (Lines).
pub(super) struct StreamReader {
    response: reqwest::Response,
    buffer: String,
    pub comments: Vec<String>,
    pub retry: Option<u64>,
}

impl StreamReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
            comments: Vec::new(),
            retry: None,
        }
    }

    async fn fill(&mut self) -> Result<(), End> {
        match tokio::time::timeout(PATIENCE, self.response.chunk()).await {
            Err(_) => Err(End::TimedOut),
            Ok(Err(_)) => Err(End::Broken),
            Ok(Ok(None)) => Err(End::Closed),
            Ok(Ok(Some(bytes))) => {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
                Ok(())
            }
        }
    }

    /// The next SSE block that carries data; comments and `retry:` are collected on the way.
    pub async fn next_event(&mut self) -> Result<SseEvent, End> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        self.comments.push(comment.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("retry: ") {
                        self.retry = value.parse().ok();
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        event.id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        event.event = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(value);
                        has_data = true;
                    }
                }
                if has_data {
                    return Ok(event);
                }
            }
            self.fill().await?;
        }
    }

    pub async fn events(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next_event().await.expect("event"));
        }
        events
    }

    /// The next line (without its newline), empty lines included.
    pub async fn next_line(&mut self) -> Result<String, End> {
        loop {
            if let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..end + 1).collect();
                return Ok(line.trim_end_matches('\n').to_owned());
            }
            self.fill().await?;
        }
    }

    /// Reads until the body ends, returning how (events still buffered are discarded).
    pub async fn until_end(&mut self) -> End {
        loop {
            if let Err(end) = self.fill().await {
                return end;
            }
        }
    }
}

/// Opens `/v1/stream` with the given query and `Last-Event-ID`.
pub(super) async fn open_stream(
    sim: &SimHandle,
    query: &str,
    last_event_id: Option<&str>,
) -> StreamReader {
    let mut request = client().get(format!("{}/v1/stream{query}", sim.base_url()));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.expect("stream request");
    assert_eq!(response.status(), 200);
    StreamReader::new(response)
}
