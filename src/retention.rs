//! Retention (`storage.retain`): raw events and decisions older than the window move from the
//! store to `<store>.archive/events-YYYY-MM-DD.ndjson.zst`, in the `export-events` format
//! (so `replay --events` reads an archive file as it reads an export), in a background thread
//! that never holds up a commit.
//!
//! # What is removed, what never is
//! A pass takes the oldest events in intake order, in chunks of [`CHUNK`], while they were
//! received before `now - retain`, their decision was made before it too, and they are not
//! waiting for a signal; it stops at the first that is not. Each chunk's decisions go with it.
//! Trades, positions, cash, markets, the outboxes and the counters are never touched. An id
//! received inside `storage.dedupe_window` stays in the exactly-once index (in `seen_aged`)
//! until the window has passed, so a redelivery of a pruned event is still a duplicate.
//!
//! # Crash safety: no line lost, none written twice
//! One chunk is: cut the day's file back to the length the store last committed for it (bytes
//! past it belong to a chunk whose removal never committed), append the chunk as one zstd
//! frame, `fsync`; then remove its records and record the file's new length in ONE store
//! transaction, and flush. `kill -9` before the transaction leaves the records in the store and
//! an uncommitted frame that the next pass cuts off and writes again; after it, both are done.
//! zstd reads concatenated frames as one stream, so a file is many chunks and one recording.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strategies::Timestamp;

use crate::replay::record::{recorded_signals, settlements_since, RecordLine};
use crate::store::{DecisionRecord, EventRecord, PrunedEvent, Store, StoreError};

/// Events archived per transaction: small enough that a chunk's removal is a short commit
/// beside the writer's, large enough that a zstd frame compresses well.
pub const CHUNK: usize = 2_000;

/// Chunks one pass may archive before retention counts as behind: 10,000 events, a few
/// seconds of the fastest live feed, more than a pass ever finds at the rates a market feed
/// sends.
pub const BEHIND_CHUNKS: usize = 5;

/// zstd level: 3 is zstd's default, fast enough to stay far behind the decision rate.
const LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the settlements to archive: {0}")]
    Settlements(#[from] crate::replay::record::ExportError),
    #[error("archive file {path}: {source}")]
    Archive {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    pub events: u64,
    pub decisions: u64,
    pub settlements: u64,
    /// Ids forgotten because their dedupe window passed.
    pub expired_ids: u64,
}

/// Retention over one store.
#[derive(Clone)]
pub struct Retention {
    store: Store,
    retain: Duration,
    dedupe_window: Duration,
    dir: PathBuf,
    scan: RefCell<SettleScan>,
    /// Set while a pass is more than [`BEHIND_CHUNKS`] chunks behind: the engine stops taking
    /// events until it has caught up (see [`Retention::behind`]).
    behind: Arc<tokio::sync::watch::Sender<bool>>,
    /// Tests: stop dead after the archive write and before the removal, as `kill -9` would.
    #[cfg(test)]
    crash_after_write: bool,
}

/// The settle trades retention has not archived yet, and how far the trades were read. The
/// ledger is never pruned, so reading all of it for every chunk would make a chunk cost the
/// whole history (on a soak of 2,000,000 events, most of the retention thread's time); this
/// reads each trade once per process.
#[derive(Clone, Debug, Default)]
struct SettleScan {
    /// The last trade id read.
    after: u64,
    settle_trades: Vec<strategies::Trade>,
}

impl SettleScan {
    /// Read the trades committed since the last call. Trades are committed in id order, each
    /// batch at once, so what is read is always a prefix of the ledger.
    fn read(&mut self, store: &Store) -> Result<(), StoreError> {
        for trade in store.trades_after(self.after) {
            let trade = trade?;
            self.after = trade.trade_id;
            if trade.action == strategies::TradeAction::Settle {
                self.settle_trades.push(trade);
            }
        }
        Ok(())
    }
}

/// `<store>.archive`, beside the store.
pub fn archive_dir(store_path: &Path) -> PathBuf {
    let mut name = store_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".archive");
    store_path.with_file_name(name)
}

impl Retention {
    pub fn new(store: Store, retain: Duration, dedupe_window: Duration) -> Retention {
        let dir = archive_dir(store.path());
        Retention {
            store,
            retain,
            dedupe_window,
            dir,
            scan: RefCell::default(),
            behind: Arc::new(tokio::sync::watch::Sender::new(false)),
            #[cfg(test)]
            crash_after_write: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True while retention is far behind. A source faster than retention can archive (the
    /// simulator at full speed on two cores: about 14,000 events/s against 5,000 archived while
    /// the writer is busy) would otherwise grow the store without bound; the intake waits
    /// instead, and no commit ever waits for retention. The flag is only ever set by a chunk
    /// that succeeded and is cleared when a pass ends, however it ends, so a retention that
    /// fails (an unwritable archive) never stops the intake.
    pub fn behind(&self) -> tokio::sync::watch::Receiver<bool> {
        self.behind.subscribe()
    }

    /// Archive everything due at `now`, chunk by chunk, until nothing is due or `stop` is set.
    pub fn pass(&self, now: Timestamp, stop: &AtomicBool) -> Result<PassStats, RetentionError> {
        let passed = self.archive_due(now, stop);
        self.behind
            .send_if_modified(|behind| std::mem::replace(behind, false));
        passed
    }

    fn archive_due(&self, now: Timestamp, stop: &AtomicBool) -> Result<PassStats, RetentionError> {
        let mut stats = PassStats::default();
        let mut chunks = 0;
        let cutoff =
            now - chrono::Duration::from_std(self.retain).unwrap_or(chrono::TimeDelta::MAX);
        let keep_ids_after =
            now - chrono::Duration::from_std(self.dedupe_window).unwrap_or(chrono::TimeDelta::MAX);
        while !stop.load(Ordering::Relaxed) {
            let chunk = self.chunk(cutoff, keep_ids_after)?;
            stats.events += chunk.events;
            stats.decisions += chunk.decisions;
            stats.settlements += chunk.settlements;
            if chunk.events == 0 {
                break;
            }
            chunks += 1;
            if chunks == BEHIND_CHUNKS {
                self.behind.send_replace(true);
            }
        }
        while !stop.load(Ordering::Relaxed) {
            let expired = self.store.expire_ids(keep_ids_after, CHUNK)?;
            stats.expired_ids += expired as u64;
            if expired < CHUNK {
                break;
            }
        }
        Ok(stats)
    }

    /// One chunk: the oldest due events of one UTC day, written then removed.
    fn chunk(
        &self,
        cutoff: Timestamp,
        keep_ids_after: Timestamp,
    ) -> Result<PassStats, RetentionError> {
        let store = &self.store;
        let waiting: Option<u64> = store.first_waiting()?;
        let mut events: Vec<EventRecord> = Vec::new();
        for event in store.events() {
            let event = event?;
            let day_changed = events.first().is_some_and(|first| {
                first.received_at.date_naive() != event.received_at.date_naive()
            });
            if event.received_at >= cutoff
                || waiting.is_some_and(|w| event.seq >= w)
                || day_changed
                || events.len() == CHUNK
            {
                break;
            }
            events.push(event);
        }
        if events.is_empty() {
            return Ok(PassStats::default());
        }
        // Their decisions: decided before the cutoff too, in the order they were made.
        let mut wanted: HashSet<u64> = events.iter().map(|e| e.seq).collect();
        let last_seq = events.last().map_or(0, |e| e.seq);
        let mut decisions: Vec<DecisionRecord> = Vec::new();
        for record in store.decisions() {
            let record = record?;
            if record.decision.decided_at >= cutoff || wanted.is_empty() {
                break;
            }
            if record.event_seq <= last_seq && wanted.remove(&record.event_seq) {
                decisions.push(record);
            }
        }
        // An event whose decision is not due yet ends the chunk before it.
        if let Some(first_missing) = wanted.iter().min().copied() {
            events.retain(|e| e.seq < first_missing);
            decisions.retain(|d| d.event_seq < first_missing);
            if events.is_empty() {
                return Ok(PassStats::default());
            }
        }
        let mut state = store.archive_state()?;
        let through = events.last().map(|e| e.received_at);
        let settlements: Vec<_> = {
            let mut scan = self.scan.borrow_mut();
            scan.read(store)?;
            settlements_since(scan.settle_trades.clone(), state.through)?
                .into_iter()
                .filter(|s| through.is_some_and(|t| s.at < t))
                .collect()
        };
        let signals = recorded_signals(decisions.iter().cloned().map(Ok))?;
        let mut text = Vec::with_capacity(events.len() * 512);
        let mut pending = settlements.iter().peekable();
        for event in &events {
            while let Some(settlement) = pending.next_if(|s| s.at < event.received_at) {
                settlement
                    .write(&mut text)
                    .map_err(|e| self.file_error(&self.dir, e))?;
            }
            RecordLine::from_store(event, signals.get(&event.seq))
                .write(&mut text)
                .map_err(|e| self.file_error(&self.dir, e))?;
        }
        let name = format!(
            "events-{}.ndjson.zst",
            events[0].received_at.format("%Y-%m-%d")
        );
        let committed = state.files.get(&name).copied().unwrap_or(0);
        let length = self.append_frame(&name, committed, &text)?;
        #[cfg(test)]
        if self.crash_after_write {
            return Err(self.file_error(&self.dir, std::io::Error::other("crashed")));
        }
        state.files.insert(name, length);
        state.events += events.len() as u64;
        state.decisions += decisions.len() as u64;
        state.through = through;
        let pruned: Vec<PrunedEvent> = events
            .iter()
            .map(|e| PrunedEvent {
                seq: e.seq,
                id: e.id.clone(),
                received_at: e.received_at,
                keep_id: e.received_at >= keep_ids_after,
            })
            .collect();
        let decision_seqs: Vec<u64> = decisions.iter().map(|d| d.seq).collect();
        store.prune(&pruned, &decision_seqs, &state)?;
        // Settlements before the new `through` are archived (or, settled late, never will be).
        self.scan
            .borrow_mut()
            .settle_trades
            .retain(|t| through.is_some_and(|through| t.placed_at >= through));
        Ok(PassStats {
            events: events.len() as u64,
            decisions: decisions.len() as u64,
            settlements: settlements.len() as u64,
            expired_ids: 0,
        })
    }

    /// Cut `name` back to `committed` bytes, append `text` as one zstd frame, fsync. Returns
    /// the file's new length.
    fn append_frame(&self, name: &str, committed: u64, text: &[u8]) -> Result<u64, RetentionError> {
        let created = !self.dir.exists();
        std::fs::create_dir_all(&self.dir).map_err(|e| self.file_error(&self.dir, e))?;
        if created {
            sync_dir(self.dir.parent().unwrap_or(Path::new(".")));
        }
        let path = self.dir.join(name);
        let new_file = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.file_error(&path, e))?;
        let frame = zstd::bulk::compress(text, LEVEL).map_err(|e| self.file_error(&path, e))?;
        let io = |e| self.file_error(&path, e);
        file.set_len(committed).map_err(io)?;
        file.seek(SeekFrom::Start(committed)).map_err(io)?;
        file.write_all(&frame).map_err(io)?;
        file.sync_data().map_err(io)?;
        if new_file {
            sync_dir(&self.dir);
        }
        Ok(committed + frame.len() as u64)
    }

    fn file_error(&self, path: &Path, source: std::io::Error) -> RetentionError {
        RetentionError::Archive {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Make a new directory entry durable (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// How often the background thread looks: a tenth of the window, between 1 s and 1 min.
pub fn interval(retain: Duration) -> Duration {
    (retain / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Run passes every [`interval`] until `stop` is set; failures are logged and retried at the
/// next interval (retention is housekeeping: it never stops the bot).
pub fn spawn(retention: Retention, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("shiftbot-retention".to_string())
        .spawn(move || {
            let every = interval(retention.retain);
            while !stop.load(Ordering::Relaxed) {
                match retention.pass(chrono::Utc::now(), &stop) {
                    Ok(stats) if stats.events > 0 || stats.expired_ids > 0 => tracing::info!(
                        events = stats.events,
                        decisions = stats.decisions,
                        settlements = stats.settlements,
                        expired_ids = stats.expired_ids,
                        dir = %retention.dir.display(),
                        "retention: archived and removed"
                    ),
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "retention pass failed; retrying later")
                    }
                }
                let mut slept = Duration::ZERO;
                while slept < every && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    slept += Duration::from_millis(100);
                }
            }
        })
        .expect("spawning the retention thread")
}

#[cfg(test)]
mod tests;
