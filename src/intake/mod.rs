//! Intakes other than the `[feed]` stream ([`crate::feed`]): each turns requests or messages on
//! a wire into [`crate::feed::RawEvent`]s for the engine, and acknowledges them only when the
//! engine says they are durable. No field is decoded here (that is [`crate::wire`]'s), and no
//! business rule lives here.
//!
//! # Layout
//! - [`webhook`]: the signed-webhook receiver; its signature schemes in [`webhook::scheme`].
//! - [`websocket`]: a WebSocket feed the bot keeps open (pings answered, a silent server
//!   replaced).
//! - [`poll`]: `GET /v1/markets` on an interval; price shifts derived from persisted anchors.
//! - [`registration`]: `/v1/webhooks` (register, list, delete) and the rule `webhooks ensure`
//!   follows.
//! - [`Liveness`]: when each connected intake last heard from its server, which the poller's
//!   `mode = "fallback"` reads.

pub mod poll;
pub mod registration;
pub mod webhook;
pub mod websocket;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strategies::Timestamp;
use tokio::sync::oneshot;

use crate::feed::RawEvent;

/// What the engine says about a delivery once it is safe to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// A new event, now durable (its decision may still be pending).
    Recorded,
    /// Seen before (by delivery id or event id); the first copy is durable.
    Duplicate,
}

/// One event taken in by an intake, for the engine. `ack` is answered once the event is
/// durable (a webhook's 200 waits for it; the poller moves its anchors after it; a WebSocket
/// has nothing to acknowledge and drops the receiving end).
#[derive(Debug)]
pub struct Delivery {
    /// The intake's name (the event's `source`).
    pub intake: Arc<str>,
    pub raw: RawEvent,
    /// `{intake}/{delivery id}` when the scheme names deliveries, with how long to keep it.
    pub key: Option<(String, Duration)>,
    pub ack: oneshot::Sender<Ack>,
}

/// When a connected intake (the stream, a WebSocket) last heard anything from its server: an
/// event, a heartbeat or a ping. Cheap to clone and to beat (one atomic store).
#[derive(Clone, Debug)]
pub struct Liveness(Arc<AtomicI64>);

impl Liveness {
    /// Counted as heard at `now`: an intake just started is given `after` before it is
    /// presumed down.
    pub fn new(now: Timestamp) -> Liveness {
        Liveness(Arc::new(AtomicI64::new(nanos(now))))
    }

    pub fn beat(&self, now: Timestamp) {
        self.0.fetch_max(nanos(now), Ordering::Relaxed);
    }

    /// How long the intake has been silent at `now`.
    pub fn silent_for(&self, now: Timestamp) -> Duration {
        let silent = nanos(now).saturating_sub(self.0.load(Ordering::Relaxed));
        Duration::from_nanos(u64::try_from(silent).unwrap_or(0))
    }
}

fn nanos(at: Timestamp) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_measures_silence_from_the_latest_beat() {
        let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let live = Liveness::new(start);
        let later = start + chrono::Duration::seconds(90);
        assert_eq!(live.silent_for(later), Duration::from_secs(90));
        live.beat(start + chrono::Duration::seconds(60));
        assert_eq!(live.silent_for(later), Duration::from_secs(30));
        // A beat from the past (a slow task) never moves it back.
        live.beat(start);
        assert_eq!(live.silent_for(later), Duration::from_secs(30));
        // A clock that went back reads as not silent, not as a huge silence.
        assert_eq!(live.silent_for(start), Duration::ZERO);
    }
}
