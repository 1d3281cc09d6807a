//! One task per sink: deliver its messages in order, each until the sink accepts it.
//!
//! A message is removed from the store's `notify` tree only after a 2xx (or a final 4xx,
//! counted as dropped and logged), so a crash at any point means at most a resend of the same
//! message, with the same id. Retries back off with jitter from 1 s to 5 min, or wait what the
//! sink asked for (`Retry-After`, Telegram's `retry_after`, at most an hour). The task never
//! holds anything the engine waits on: a sink that hangs or fails slows only itself.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::sink::{attempt, Attempt};
use super::Message;
use crate::configuration::NotifySink;
use crate::feed::backoff::equal_jitter;
use crate::store::Store;

const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The longest wait a sink's own retry hint gets.
const MAX_RETRY_HINT: Duration = Duration::from_secs(3600);

/// A message for one sink, with its seq in the store.
pub type Queued = (u64, Message);

/// The shared count of a sink's undelivered messages: raised by the engine when it writes
/// one, lowered here when one leaves. Exported as `shiftbot_outbox_backlog{sink}`.
#[derive(Clone, Debug, Default)]
pub struct Backlog(Arc<AtomicU64>);

impl Backlog {
    pub fn new(n: u64) -> Backlog {
        Backlog(Arc::new(AtomicU64::new(n)))
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn remove(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// Deliver `sink`'s messages: those the store held at start (`backlog`), then whatever the
/// engine sends once durable. A message from the channel that was also in the store's backlog
/// (made durable just before the task read the store) is not sent twice.
pub async fn run_sink(
    sink: NotifySink,
    store: Store,
    backlog: Vec<Queued>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    count: Backlog,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .connect_timeout(sink.timeout)
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            warn!(sink = %sink.name, error = %err, "cannot build an HTTP client; notifications to this sink stay queued");
            return;
        }
    };
    let loaded: HashSet<u64> = backlog.iter().map(|(seq, _)| *seq).collect();
    let mut queue: VecDeque<Queued> = backlog.into();
    let mut failures: u32 = 0;
    loop {
        while let Ok(item) = rx.try_recv() {
            if !loaded.contains(&item.0) {
                queue.push_back(item);
            }
        }
        let Some((seq, message)) = queue.front().cloned() else {
            tokio::select! {
                _ = stop.changed() => return,
                item = rx.recv() => match item {
                    Some(item) if !loaded.contains(&item.0) => queue.push_back(item),
                    Some(_) => {}
                    None => return,
                },
            }
            continue;
        };
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            outcome = attempt(&client, &sink, &message) => outcome,
        };
        let wait = match outcome {
            Attempt::Delivered { status } => {
                tracing::debug!(sink = %sink.name, id = %message.id, status, "notification delivered");
                if failures > 0 {
                    info!(sink = %sink.name, "notification sink is accepting messages again");
                }
                failures = 0;
                done(&store, &sink, seq, &count);
                queue.pop_front();
                continue;
            }
            Attempt::Rejected { why } => {
                warn!(sink = %sink.name, id = %message.id, kind = message.kind.as_str(), %why, "notification refused by its sink; dropped");
                crate::metrics::notification_dropped(&sink.name, 1);
                done(&store, &sink, seq, &count);
                queue.pop_front();
                continue;
            }
            Attempt::Retry { why, after } => {
                let wait = match after {
                    Some(after) => after.min(MAX_RETRY_HINT),
                    None => equal_jitter(BACKOFF_INITIAL, BACKOFF_MAX, failures, rand::random()),
                };
                warn!(
                    sink = %sink.name,
                    id = %message.id,
                    %why,
                    retry_in = %humantime::format_duration(Duration::from_secs(wait.as_secs())),
                    backlog = count.get(),
                    "notification not delivered; will retry"
                );
                failures = failures.saturating_add(1);
                wait
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn done(store: &Store, sink: &NotifySink, seq: u64, count: &Backlog) {
    if let Err(err) = store.notify_done(&sink.name, seq) {
        warn!(sink = %sink.name, error = %err, "cannot remove a delivered notification from the store; it may be sent again");
    }
    count.remove();
    crate::metrics::notify_backlog(&sink.name, count.get());
}

/// A bot that must stop now (the store failed, the key was refused) tells the sinks that
/// want errors, each at once and all within `deadline`; returns the sinks that accepted.
pub async fn last_words(
    sinks: &[NotifySink],
    message: &Message,
    deadline: Duration,
) -> Vec<String> {
    let wanted = sinks
        .iter()
        .filter(|sink| sink.wants(crate::configuration::NotifyOn::Error));
    let sends = wanted.map(|sink| async move {
        let answer = tokio::time::timeout(deadline, send_once(sink, message)).await;
        matches!(answer, Ok(Attempt::Delivered { .. })).then(|| sink.name.clone())
    });
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `shiftbot notify test`, and the last words of a bot that must stop: send `message` to
/// `sink` now, once, and say how it went.
pub async fn send_once(sink: &NotifySink, message: &Message) -> Attempt {
    match reqwest::Client::builder()
        .connect_timeout(sink.timeout)
        .build()
    {
        Ok(client) => attempt(&client, sink, message).await,
        Err(err) => Attempt::Rejected {
            why: format!("cannot build an HTTP client: {err}"),
        },
    }
}
