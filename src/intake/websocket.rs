//! A WebSocket feed (the ARA design, seed 003): one intake of `kind = "websocket"`.
//!
//! The bot connects to `url` (`?token=` appended from `token_env`; the token is redacted from
//! every log line and error), and every text message is an event in the Rekko shape or the
//! `{"type": ..., "data": {...}}` envelope, handed to the engine as it arrived (decoded there,
//! by the one decoder). The server's heartbeats are answered: a JSON `{"type":"ping"}` with
//! `{"type":"pong"}`, a protocol ping with a pong, each flushed at once. A connection that
//! brings no message at all for 2.5 × `heartbeat` is presumed dead and replaced, on the
//! stream's backoff (exponential with jitter, reset by a connection that delivered an event).
//!
//! There is no resume cursor on this wire: what the server sent while the bot was away is the
//! server's to resend, and an event sent twice (by two intakes, or after a reconnect) is
//! recognised by its id.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use super::{Delivery, Liveness};
use crate::clock::SharedClock;
use crate::configuration::WebsocketSettings;
use crate::feed::backoff::Backoff;
use crate::feed::RawEvent;
use crate::signal::http::Redactor;

/// Silence longer than this many heartbeats means the connection is dead.
const DEAD_AFTER_HEARTBEATS: f64 = 2.5;

/// Longest text checked for being a JSON ping (`{"type":"ping"}` and spacing variants); an
/// event is never that short, so events are not parsed here.
const PING_MAX_BYTES: usize = 64;

/// One WebSocket intake, ready to run.
pub struct Websocket {
    pub name: Arc<str>,
    pub settings: WebsocketSettings,
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    pub clock: SharedClock,
    pub liveness: Liveness,
    pub tx: mpsc::Sender<Delivery>,
}

/// How one connection ended.
enum End {
    Stop,
    Lost { reason: String, delivered: bool },
}

impl Websocket {
    /// Connect, read, reconnect, until `stop` or the engine is gone.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let redactor = Redactor::new(self.settings.token.as_ref());
        let url = match self.connect_url() {
            Ok(url) => url,
            Err(why) => {
                tracing::error!(intake = %self.name, "websocket intake not started: {why}");
                return;
            }
        };
        let dead_after = self.settings.heartbeat.mul_f64(DEAD_AFTER_HEARTBEATS);
        loop {
            if *stop.borrow() || self.tx.is_closed() {
                return;
            }
            let end = tokio::select! {
                biased;
                () = stopped(&mut stop) => End::Stop,
                end = self.connection(&url, dead_after, &redactor) => end,
            };
            let (reason, delivered) = match end {
                End::Stop => return,
                End::Lost { reason, delivered } => (reason, delivered),
            };
            crate::metrics::feed_reconnect(&self.name);
            let delay = self
                .backoff
                .after_connection(delivered, None, None, rand::random::<f64>());
            warn!(
                intake = %self.name,
                reason = %redactor.clean(&reason),
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "websocket connection lost; reconnecting"
            );
            tokio::select! {
                () = stopped(&mut stop) => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// `url` with `?token=` added (encoded) when a token is configured.
    fn connect_url(&self) -> Result<String, String> {
        let mut url = reqwest::Url::parse(&self.settings.url)
            .map_err(|e| format!("url {:?} is not usable: {e}", self.settings.url))?;
        if let Some(token) = &self.settings.token {
            url.query_pairs_mut().append_pair("token", token.expose());
        }
        Ok(url.to_string())
    }

    /// One connection: open it, then forward messages until it ends.
    async fn connection(&self, url: &str, dead_after: Duration, redactor: &Redactor) -> End {
        let lost = |reason: String, delivered| End::Lost { reason, delivered };
        let opened =
            tokio::time::timeout(self.connect_timeout, tokio_tungstenite::connect_async(url)).await;
        let mut socket = match opened {
            Err(_) => {
                return lost(
                    format!("no connection within {:?}", self.connect_timeout),
                    false,
                )
            }
            Ok(Err(err)) => {
                return lost(
                    format!("cannot connect: {}", redactor.chain_text(&err)),
                    false,
                )
            }
            Ok(Ok((socket, _))) => socket,
        };
        info!(intake = %self.name, "websocket connected");
        self.liveness.beat(self.clock.now());
        let mut delivered = false;
        loop {
            let message = match tokio::time::timeout(dead_after, socket.next()).await {
                Err(_) => {
                    return lost(
                        format!("no message for {dead_after:?} (2.5 × heartbeat): presumed dead"),
                        delivered,
                    )
                }
                Ok(None) => return lost("the server closed the connection".into(), delivered),
                Ok(Some(Err(err))) => return lost(redactor.chain_text(&err), delivered),
                Ok(Some(Ok(message))) => message,
            };
            let now = self.clock.now();
            self.liveness.beat(now);
            let text = match message {
                Message::Text(text) => text.as_str().to_string(),
                // Binary frames are taken as text when they are UTF-8; anything else is
                // garbage, decided `invalid` like any other.
                Message::Binary(bytes) => String::from_utf8(bytes.to_vec())
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                Message::Ping(_) => {
                    // tungstenite queued the pong while reading; send it now.
                    if let Err(err) = socket.flush().await {
                        return lost(redactor.chain_text(&err), delivered);
                    }
                    continue;
                }
                Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    let why = frame
                        .map(|f| format!("{} {}", f.code, f.reason))
                        .unwrap_or_default();
                    return lost(format!("the server closed the connection {why}"), delivered);
                }
            };
            match json_heartbeat(&text) {
                Some(Heartbeat::Ping) => {
                    debug!(intake = %self.name, "ping answered");
                    let pong = Message::text(r#"{"type":"pong"}"#);
                    // `send` flushes.
                    if let Err(err) = socket.send(pong).await {
                        return lost(redactor.chain_text(&err), delivered);
                    }
                    continue;
                }
                Some(Heartbeat::Pong) => continue,
                None => {}
            }
            let (ack, _) = oneshot::channel();
            let delivery = Delivery {
                intake: Arc::clone(&self.name),
                raw: RawEvent {
                    id: None,
                    sse_event: None,
                    data: text,
                    received_at: now,
                },
                key: None,
                ack,
            };
            if self.tx.send(delivery).await.is_err() {
                return End::Stop;
            }
            delivered = true;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Heartbeat {
    Ping,
    Pong,
}

/// A JSON `{"type":"ping"}` or `{"type":"pong"}` (any spacing), told from an event without
/// parsing events: only short texts are looked at.
fn json_heartbeat(text: &str) -> Option<Heartbeat> {
    #[derive(serde::Deserialize)]
    struct Only<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    if text.len() > PING_MAX_BYTES {
        return None;
    }
    let only: Only<'_> = serde_json::from_str(text).ok()?;
    match only.kind {
        "ping" => Some(Heartbeat::Ping),
        "pong" => Some(Heartbeat::Pong),
        _ => None,
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_ping_and_pong_objects_are_heartbeats() {
        assert_eq!(json_heartbeat(r#"{"type":"ping"}"#), Some(Heartbeat::Ping));
        assert_eq!(
            json_heartbeat(r#" { "type" : "pong" } "#),
            Some(Heartbeat::Pong)
        );
        assert_eq!(
            json_heartbeat(r#"{"type":"ping","ts":1}"#),
            Some(Heartbeat::Ping)
        );
        assert_eq!(json_heartbeat(r#"{"type":"price_shift"}"#), None);
        assert_eq!(json_heartbeat("ping"), None);
        assert_eq!(json_heartbeat("{not json"), None);
        let event =
            r#"{"type":"ping","market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.5}"#;
        assert_eq!(
            json_heartbeat(event),
            None,
            "long texts are events, left to the decoder"
        );
    }
}
