//! A tiny scripted HTTP/1.1 server on 127.0.0.1:0 for the stream tests: it records every
//! request and answers connection N with the N-th scripted reply, writing raw bytes so tests
//! control exactly what goes on the wire (chunking, closing mid-stream, staying silent).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Generous bound for "eventually" waits: a loaded 2-core machine is slow, never this slow.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub(crate) struct RecordedRequest {
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

impl RecordedRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What one connection gets.
pub(crate) enum Reply {
    /// This status with these headers and an empty body, then close.
    Status(u16, Vec<(&'static str, &'static str)>),
    /// 200, these body chunks, then close.
    Stream(Vec<Vec<u8>>),
    /// 200, these body chunks, then close once the notify fires.
    StreamThenWait(Vec<Vec<u8>>, Arc<Notify>),
    /// 200, these body chunks, then stay open and silent.
    StreamThenHold(Vec<Vec<u8>>),
    /// 200, then a `: ping` comment every `every` for `count` times, then these chunks, hold.
    HeartbeatsThen(Duration, usize, Vec<Vec<u8>>),
    /// 200, then one byte every `every`, never a newline, until the client goes.
    Trickle(Duration),
}

pub(crate) struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    arrived: Arc<Notify>,
    accept_task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.accept_task.abort();
    }
}

/// Body chunk helper.
pub(crate) fn chunk(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

impl TestServer {
    /// Connections beyond the script get a silent, open 200 stream.
    pub(crate) async fn start(script: Vec<Reply>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let accept_task = tokio::spawn(accept_loop(
            listener,
            script,
            Arc::clone(&requests),
            Arc::clone(&arrived),
        ));
        TestServer {
            addr,
            requests,
            arrived,
            accept_task,
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// Waits until at least `count` requests arrived and returns them all.
    pub(crate) async fn wait_for_requests(&self, count: usize) -> Vec<RecordedRequest> {
        let waiting = async {
            loop {
                let notified = self.arrived.notified();
                let seen = self.requests();
                if seen.len() >= count {
                    return seen;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, waiting)
            .await
            .unwrap_or_else(|_| panic!("server did not see {count} requests"))
    }
}

async fn accept_loop(
    listener: TcpListener,
    script: Vec<Reply>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    arrived: Arc<Notify>,
) {
    let mut script = script.into_iter();
    let mut connections = JoinSet::new();
    while let Ok((socket, _)) = listener.accept().await {
        let reply = script
            .next()
            .unwrap_or_else(|| Reply::StreamThenHold(Vec::new()));
        let requests = Arc::clone(&requests);
        let arrived = Arc::clone(&arrived);
        connections.spawn(async move {
            let _ = serve(socket, reply, requests, arrived).await;
        });
    }
}

async fn serve(
    mut socket: TcpStream,
    reply: Reply,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    arrived: Arc<Notify>,
) -> std::io::Result<()> {
    let head = read_head(&mut socket).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    requests
        .lock()
        .expect("requests lock")
        .push(RecordedRequest {
            target,
            headers,
            at: Instant::now(),
        });
    arrived.notify_waiters();

    const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
        Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
    match reply {
        Reply::Status(status, extra) => {
            let mut head =
                format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n");
            for (key, value) in extra {
                head.push_str(&format!("{key}: {value}\r\n"));
            }
            head.push_str("\r\n");
            socket.write_all(head.as_bytes()).await?;
        }
        Reply::Stream(chunks) => {
            socket.write_all(STREAM_HEAD).await?;
            write_chunks(&mut socket, chunks).await?;
        }
        Reply::StreamThenWait(chunks, release) => {
            socket.write_all(STREAM_HEAD).await?;
            write_chunks(&mut socket, chunks).await?;
            release.notified().await;
        }
        Reply::StreamThenHold(chunks) => {
            socket.write_all(STREAM_HEAD).await?;
            write_chunks(&mut socket, chunks).await?;
            std::future::pending::<()>().await;
        }
        Reply::HeartbeatsThen(every, count, chunks) => {
            socket.write_all(STREAM_HEAD).await?;
            for _ in 0..count {
                tokio::time::sleep(every).await;
                socket.write_all(b": ping\n\n").await?;
                socket.flush().await?;
            }
            write_chunks(&mut socket, chunks).await?;
            std::future::pending::<()>().await;
        }
        Reply::Trickle(every) => {
            socket.write_all(STREAM_HEAD).await?;
            socket.write_all(b"data: ").await?;
            loop {
                tokio::time::sleep(every).await;
                socket.write_all(b"x").await?;
                socket.flush().await?;
            }
        }
    }
    socket.shutdown().await
}

async fn write_chunks(socket: &mut TcpStream, chunks: Vec<Vec<u8>>) -> std::io::Result<()> {
    for chunk in chunks {
        socket.write_all(&chunk).await?;
        socket.flush().await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}

async fn read_head(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = socket.read(&mut buf).await?;
        if read == 0 || head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
