//! The sled store: every received event, every decision, trades, positions, cash and the
//! resume cursor.
//!
//! # Trees
//! | tree        | key                         | value                                  |
//! |-------------|-----------------------------|----------------------------------------|
//! | `events`    | intake seq (u64 BE)         | [`EventRecord`]: the raw event as received |
//! | `seen`      | event id                    | intake seq: the exactly-once index     |
//! | `seen_aged` | received ns, seq (u64 BE)   | event id: archived, id not yet expired |
//! | `inbox`     | intake seq                  | empty: received, waiting for its signal |
//! | `decisions` | decision seq (u64 BE)       | [`DecisionRecord`]                     |
//! | `trades`    | trade id (u64 BE)           | `strategies::Trade`                    |
//! | `positions` | `platform/market_id/side`   | `strategies::Position`                 |
//! | `markets`   | `platform/market_id`        | `strategies::MarketState`              |
//! | `outbox`    | trade id                    | [`OutboxRecord`]: fills not yet mirrored |
//! | `deliveries`| `intake/delivery id`        | expiry ns (i64 BE): a webhook delivery seen |
//! | `equity`    | snapshot ns (u64 BE)        | `strategies::report::EquitySnapshot`: the book marked to market |
//! | `intakes`   | `poll/{intake}/…`, `webhook/{intake}` | [`intakes`]: poll anchors and calls, webhook registrations |
//! | `notify`    | sink name, 0, seq (u64 BE)  | `notify::Message`: not yet delivered   |
//! | `meta`      | name                        | totals, cursor, budget, pause, halted, counters, archive |
//!
//! Values are JSON (decimals as strings); the records written with every decision or commit
//! are that JSON compressed by LZ4 against a built-in dictionary (`codec`), the rest plain;
//! `export-events` prints the events of a store and `store stats` what each tree holds.
//! Every [`Batch`] is applied in ONE multi-tree sled transaction and then flushed; nothing in
//! it counts as done before [`Store::commit`] returns.

mod batch;
mod codec;
pub mod health;
pub mod intakes;
mod notify;
mod prune;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strategies::budget::SignalBudget;
use strategies::{
    BookTotals, Decision, MarketKey, MarketState, Position, QuotaPause, Timestamp, Trade,
};

pub use batch::{Batch, NotifyEntry};
pub use prune::{ArchiveState, PrunedEvent};
pub use writer::{BackupReply, Committer, WriterEvent};

/// One raw event as received, kept for exactly-once processing, restarts and replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    pub id: String,
    /// The server's own id, when it sent one (what `Last-Event-ID` resumes from).
    pub server_id: Option<String>,
    pub event_type: String,
    pub sse_event: Option<String>,
    pub data: String,
    pub received_at: Timestamp,
    /// The intake it came through (`[[intake]]`'s name); absent for the `[feed]` stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One decision, with the signal response it was based on, exactly as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub seq: u64,
    pub event_seq: u64,
    pub decision: Decision,
    pub signal_raw: Option<crate::wire::Json>,
}

/// A paper fill waiting to be mirrored to `/v1/trades/shadow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub trade_id: u64,
    pub ticker: String,
    pub platform: strategies::Platform,
    pub side: strategies::Side,
    pub size_usd: rust_decimal::Decimal,
}

/// What one tree holds (`shiftbot store stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    pub name: &'static str,
    pub entries: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

/// Counts by name (event types, outcomes).
pub type Counts = BTreeMap<String, u64>;

/// Scalar state kept under `meta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub next_event_seq: u64,
    pub next_decision_seq: u64,
    /// Events received by type, and decisions by outcome: what `/metrics` counts from, so
    /// its counters survive a restart. Absent in stores written before they existed (then
    /// counted once from the records, see [`Store::count_history`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_types: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, u64>,
    /// The seq the next notification gets (one sequence for every sink).
    #[serde(default)]
    pub next_notify_seq: u64,
    /// Notifications dropped, by sink (a full backlog, a sink removed from the config).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notify_dropped: BTreeMap<String, u64>,
    /// The last day each sink's daily summary was made for (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notify_daily: BTreeMap<String, String>,
}

/// What a restart needs to rebuild the running state.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub totals: Option<BookTotals>,
    pub positions: Vec<Position>,
    pub markets: Vec<(MarketKey, MarketState)>,
    pub budget: SignalBudget,
    pub pause: Option<QuotaPause>,
    pub cursor: Option<String>,
    pub counters: Counters,
    /// The operator's pause (`shiftbot pause`).
    pub halted: bool,
    /// Received events still waiting for their signal, in intake order.
    pub inbox: Vec<EventRecord>,
    pub outbox: Vec<OutboxRecord>,
    /// When the newest equity snapshot was made.
    pub last_snapshot_at: Option<Timestamp>,
}

/// Errors from the store. Never contain secrets: nothing secret is stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store {path} is in use by another shiftbot process (sled allows one process per store)"
    )]
    Locked { path: PathBuf },
    /// sled failed to read, write or flush.
    #[error("store {path}: {source}")]
    Engine {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// A transaction ended without committing for a reason other than sled's (none of ours
    /// aborts: this names the bug instead of hiding it).
    #[error("store {path}: the {what} transaction was aborted")]
    Aborted { path: PathBuf, what: &'static str },
    #[error("store {path}: cannot encode a record: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("store {path}: cannot move it aside to {to}: {source}")]
    MoveAside {
        path: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {path}: only {free} bytes are free on its filesystem and at least {needed} are \
         needed to open it safely (sled writes a snapshot on open); free some space and retry"
    )]
    NoSpace {
        path: PathBuf,
        free: u64,
        needed: u64,
    },
    #[error(
        "store {path} is damaged: {problem}. Restore a backup (`shiftbot store backup DIR` \
         makes one), or move it aside and start a fresh book with `shiftbot reset --yes`"
    )]
    Damaged { path: PathBuf, problem: String },
    #[error("store holds an unreadable {what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: Unreadable,
    },
}

/// Why a stored record cannot be read (or written).
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// Not a record's shape: a key or a reference that is wrong.
    #[error("{0}")]
    Shape(&'static str),
}

pub(crate) const META_TOTALS: &str = "totals";
pub(crate) const META_CURSOR: &str = "cursor";
pub(crate) const META_BUDGET: &str = "budget";
pub(crate) const META_PAUSE: &str = "pause";
pub(crate) const META_COUNTERS: &str = "counters";
pub(crate) const META_HALTED: &str = "halted";
pub(crate) const META_ARCHIVE: &str = "archive";

/// sled's page cache. Its default (1 GiB) let resident memory follow the store's length: the
/// start-up verification reads every tree, and a 372 MB store left the bot at 400 MB resident.
/// The hot set is the tail of each tree and the small state trees; 64 MiB holds it.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The open store. Cheap to clone (sled trees are reference-counted handles).
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    pub(crate) events: sled::Tree,
    pub(crate) seen: sled::Tree,
    pub(crate) seen_aged: sled::Tree,
    pub(crate) inbox: sled::Tree,
    pub(crate) decisions: sled::Tree,
    pub(crate) trades: sled::Tree,
    pub(crate) positions: sled::Tree,
    pub(crate) markets: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) notify: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) deliveries: sled::Tree,
    pub(crate) equity: sled::Tree,
    pub(crate) intakes: sled::Tree,
    /// The marker file ([`health::MARKER`]) is known to be on disk.
    marked: Arc<AtomicBool>,
    /// Held for writing while a commit's transaction applies, and for reading by
    /// [`Store::quiesced`]: sled has no snapshots, and a whole-tree read spans many commits.
    commits: Arc<std::sync::RwLock<()>>,
    /// Counts durable commits: readers that follow the store live ([`Store::watch_commits`])
    /// wake on it instead of polling.
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Store {
    /// Open (or create) the store at `path`. Fails with [`StoreError::Locked`] while another
    /// process holds it, [`StoreError::NoSpace`] on a (nearly) full filesystem and
    /// [`StoreError::Damaged`] when sled trips over its files or the book is gone.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        health::preflight(path)?;
        let store = Store::open_unlocked(path)?;
        let holds_book = store.totals()?.is_some();
        match (health::has_marker(path), holds_book) {
            (true, false) => {
                return Err(StoreError::Damaged {
                    path: path.to_path_buf(),
                    problem: "it held a book, but the storage engine now finds none (its \
                              snapshot or log was lost)"
                        .to_string(),
                })
            }
            (false, true) => {
                health::write_marker(path)?;
                store.marked.store(true, Ordering::Relaxed);
            }
            (true, true) => store.marked.store(true, Ordering::Relaxed),
            (false, false) => {}
        }
        Ok(store)
    }

    /// sled releases its file lock from its flusher thread, a moment after the last handle is
    /// dropped, so a store this process closed and opens again at once can find it still held.
    /// Only then is a lock retried (for up to half a second); a lock on a store this process
    /// never opened is another process's, and reported at once (the review commands then ask
    /// the running bot, and must not wait to do so).
    fn open_unlocked(path: &Path) -> Result<Store, StoreError> {
        static OPENED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let opened_before = || {
            OPENED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .any(|p| p == path)
        };
        let mut tries = 0;
        loop {
            match health::guarded(path, "opening the store", || Store::open_files(path)) {
                Err(StoreError::Locked { .. }) if tries < 10 && opened_before() => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(store) => {
                    let mut opened = OPENED
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if !opened.iter().any(|p| p == path) {
                        opened.push(path.to_path_buf());
                    }
                    return Ok(store);
                }
                other => return other,
            }
        }
    }

    fn open_files(path: &Path) -> Result<Store, StoreError> {
        let engine = |source: sled::Error| StoreError::Engine {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::File {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(err)
                    if err.kind() == std::io::ErrorKind::WouldBlock
                        || err.to_string().contains("lock") =>
                {
                    StoreError::Locked {
                        path: path.to_path_buf(),
                    }
                }
                sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => {
                    StoreError::Damaged {
                        path: path.to_path_buf(),
                        problem: format!("the storage engine cannot read it ({e})"),
                    }
                }
                _ => engine(e),
            })?;
        let tree = |name: &str| db.open_tree(name).map_err(engine);
        Ok(Store {
            path: path.to_path_buf(),
            events: tree("events")?,
            seen: tree("seen")?,
            seen_aged: tree("seen_aged")?,
            inbox: tree("inbox")?,
            decisions: tree("decisions")?,
            trades: tree("trades")?,
            positions: tree("positions")?,
            markets: tree("markets")?,
            outbox: tree("outbox")?,
            notify: tree("notify")?,
            meta: tree("meta")?,
            deliveries: tree("deliveries")?,
            equity: tree("equity")?,
            intakes: tree("intakes")?,
            db,
            marked: Arc::new(AtomicBool::new(false)),
            commits: Arc::new(std::sync::RwLock::new(())),
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_err(&self, source: sled::Error) -> StoreError {
        StoreError::Engine {
            path: self.path.clone(),
            source,
        }
    }

    /// A transaction that did not commit: sled's failure, or (never on purpose) an abort.
    fn tx_err(
        &self,
        what: &'static str,
        err: sled::transaction::TransactionError<()>,
    ) -> StoreError {
        match err {
            sled::transaction::TransactionError::Storage(source) => self.io_err(source),
            sled::transaction::TransactionError::Abort(()) => StoreError::Aborted {
                path: self.path.clone(),
                what,
            },
        }
    }

    fn encode_err(&self, source: serde_json::Error) -> StoreError {
        StoreError::Encode {
            path: self.path.clone(),
            source,
        }
    }

    /// Has an event with this id been received (decided or waiting) before?
    pub fn is_seen(&self, event_id: &str) -> Result<bool, StoreError> {
        self.seen
            .contains_key(event_id.as_bytes())
            .map_err(|e| self.io_err(e))
    }

    /// Has a webhook delivery with this key (`intake/delivery id`) been recorded?
    pub fn is_delivered(&self, key: &str) -> Result<bool, StoreError> {
        self.deliveries
            .contains_key(key.as_bytes())
            .map_err(|e| self.io_err(e))
    }

    /// Forget delivery keys whose time is up (at most `max` per call); how many went. Not
    /// flushed on its own: a forgotten key that comes back after a crash only costs space.
    pub fn prune_deliveries(&self, now: Timestamp, max: usize) -> Result<usize, StoreError> {
        let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut gone = 0;
        for item in self.deliveries.iter() {
            let (key, value) = item.map_err(|e| self.io_err(e))?;
            let expiry = <[u8; 8]>::try_from(value.as_ref()).map(i64::from_be_bytes);
            if expiry.is_ok_and(|at| at <= now_ns) {
                self.deliveries.remove(key).map_err(|e| self.io_err(e))?;
                gone += 1;
                if gone >= max {
                    break;
                }
            }
        }
        Ok(gone)
    }

    /// Everything a restart needs.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded {
            totals: self.meta_get(META_TOTALS)?,
            budget: self.meta_get(META_BUDGET)?.unwrap_or_default(),
            pause: self.meta_get(META_PAUSE)?.flatten(),
            cursor: self.meta_get(META_CURSOR)?,
            counters: self.meta_get(META_COUNTERS)?.unwrap_or_default(),
            halted: self.meta_get(META_HALTED)?.unwrap_or_default(),
            last_snapshot_at: self.last_snapshot_at()?,
            ..Loaded::default()
        };
        loaded.positions = self.values(&self.positions, "position")?;
        for item in self.markets.iter() {
            let (key, value) = item.map_err(|e| self.io_err(e))?;
            let key = std::str::from_utf8(&key)
                .ok()
                .and_then(|k| k.parse::<MarketKey>().ok())
                .ok_or_else(|| {
                    corrupt("market key", Unreadable::Shape("not platform/market_id"))
                })?;
            loaded.markets.push((key, decode(&value, "market state")?));
        }
        for item in self.inbox.iter() {
            let (seq, _) = item.map_err(|e| self.io_err(e))?;
            let record = self
                .events
                .get(&seq)
                .map_err(|e| self.io_err(e))?
                .ok_or_else(|| {
                    corrupt(
                        "inbox entry",
                        Unreadable::Shape("its event record is missing"),
                    )
                })?;
            loaded.inbox.push(decode(&record, "event")?);
        }
        loaded.outbox = self.values(&self.outbox, "outbox entry")?;
        Ok(loaded)
    }

    /// Wakes after each durable commit (the value counts them); for live readers.
    pub fn watch_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// The event and decision counters (decisions by outcome among them), as last committed.
    pub fn counters(&self) -> Result<Counters, StoreError> {
        Ok(self.meta_get(META_COUNTERS)?.unwrap_or_default())
    }

    /// The operator's pause (`shiftbot pause`), and the quota pause, as last committed.
    pub fn pauses(&self) -> Result<(bool, Option<QuotaPause>), StoreError> {
        Ok((
            self.meta_get(META_HALTED)?.unwrap_or_default(),
            self.meta_get(META_PAUSE)?.flatten(),
        ))
    }

    /// The signal budget spent, as last committed.
    pub fn budget(&self) -> Result<SignalBudget, StoreError> {
        Ok(self.meta_get(META_BUDGET)?.unwrap_or_default())
    }

    /// Decisions numbered above `after` (all with `None`), oldest first.
    pub fn decisions_after(
        &self,
        after: Option<u64>,
    ) -> impl Iterator<Item = Result<DecisionRecord, StoreError>> + '_ {
        let from = after.map_or(Some(0), |a| a.checked_add(1));
        let tail = from.map(|from| self.decisions.range(from.to_be_bytes()..));
        tail.into_iter().flatten().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "decision")
        })
    }

    /// Decisions numbered below `before` (all with `None`), newest first: a page of history.
    pub fn decisions_before(
        &self,
        before: Option<u64>,
    ) -> impl Iterator<Item = Result<DecisionRecord, StoreError>> + '_ {
        self.newest_first(&self.decisions, before, "decision")
    }

    /// Trades with an id below `before` (all with `None`), newest first: a page of the ledger.
    pub fn trades_before(
        &self,
        before: Option<u64>,
    ) -> impl Iterator<Item = Result<Trade, StoreError>> + '_ {
        self.newest_first(&self.trades, before, "trade")
    }

    /// The records of a tree keyed by u64 BE, below `before` (all with `None`), newest first.
    fn newest_first<'a, T: DeserializeOwned + 'a>(
        &'a self,
        tree: &sled::Tree,
        before: Option<u64>,
        what: &'static str,
    ) -> impl Iterator<Item = Result<T, StoreError>> + 'a {
        let range = match before {
            None => tree.iter(),
            Some(before) => tree.range(..before.to_be_bytes()),
        };
        range.rev().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, what)
        })
    }

    /// Decisions in the order they were made (`.rev()` reads from the newest without touching
    /// the rest: what `decisions --limit N` does on a long history).
    pub fn decisions(
        &self,
    ) -> impl DoubleEndedIterator<Item = Result<DecisionRecord, StoreError>> + '_ {
        self.decisions.iter().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "decision")
        })
    }

    /// Trades in id order (which is the order they were made); `.rev()` from the newest.
    pub fn trades(&self) -> impl DoubleEndedIterator<Item = Result<Trade, StoreError>> + '_ {
        self.trades.iter().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "trade")
        })
    }

    /// Equity snapshots in time order; `.rev()` from the newest.
    pub fn snapshots(
        &self,
    ) -> impl DoubleEndedIterator<Item = Result<strategies::report::EquitySnapshot, StoreError>> + '_
    {
        self.equity.iter().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "equity snapshot")
        })
    }

    /// When the newest equity snapshot was made (the core's snapshot clock after a restart).
    pub fn last_snapshot_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.snapshots()
            .next_back()
            .transpose()
            .map(|s| s.map(|s| s.at))
    }

    /// Trades with an id above `after`, in id order: what a reader that keeps its place reads.
    pub fn trades_after(&self, after: u64) -> impl Iterator<Item = Result<Trade, StoreError>> + '_ {
        let from = after.saturating_add(1).to_be_bytes();
        let tail = (after < u64::MAX).then(|| self.trades.range(from..));
        tail.into_iter().flatten().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "trade")
        })
    }

    /// Received events in intake order.
    pub fn events(&self) -> impl Iterator<Item = Result<EventRecord, StoreError>> + '_ {
        self.events.iter().map(move |item| {
            let (_, value) = item.map_err(|e| self.io_err(e))?;
            decode(&value, "event")
        })
    }

    pub fn positions(&self) -> Result<Vec<Position>, StoreError> {
        self.values(&self.positions, "position")
    }

    pub fn totals(&self) -> Result<Option<BookTotals>, StoreError> {
        self.meta_get(META_TOTALS)
    }

    pub fn cursor(&self) -> Result<Option<String>, StoreError> {
        self.meta_get(META_CURSOR)
    }

    /// Drop a mirrored (or abandoned) fill from the outbox. Not flushed on its own: losing
    /// this removal in a crash only means the fill is mirrored once more.
    pub fn outbox_done(&self, trade_id: u64) -> Result<(), StoreError> {
        self.outbox
            .remove(trade_id.to_be_bytes())
            .map(drop)
            .map_err(|e| self.io_err(e))
    }

    /// Apply a batch in one transaction and flush it to disk.
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let ops = batch.encode()?;
        if ops.is_empty() {
            return Ok(());
        }
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let gate = self
            .commits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let trees = (
            &self.events,
            &self.seen,
            &self.inbox,
            &self.decisions,
            &self.trades,
            &self.positions,
            &self.markets,
            &self.outbox,
            &self.notify,
            &self.meta,
            &self.deliveries,
            &self.equity,
        );
        let result: Result<(), TransactionError<()>> = sled::Transactional::transaction(
            &trees,
            |(
                events,
                seen,
                inbox,
                decisions,
                trades,
                positions,
                markets,
                outbox,
                notify,
                meta,
                deliveries,
                equity,
            )| {
                for op in &ops {
                    let tree = match op.tree {
                        batch::TreeId::Events => events,
                        batch::TreeId::Seen => seen,
                        batch::TreeId::Inbox => inbox,
                        batch::TreeId::Decisions => decisions,
                        batch::TreeId::Trades => trades,
                        batch::TreeId::Positions => positions,
                        batch::TreeId::Markets => markets,
                        batch::TreeId::Outbox => outbox,
                        batch::TreeId::Notify => notify,
                        batch::TreeId::Meta => meta,
                        batch::TreeId::Deliveries => deliveries,
                        batch::TreeId::Equity => equity,
                    };
                    match &op.value {
                        Some(value) => tree.insert(op.key.as_slice(), value.as_slice())?,
                        None => tree.remove(op.key.as_slice())?,
                    };
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            },
        );
        drop(gate);
        result.map_err(|e| self.tx_err("commit", e))?;
        let flushing = std::time::Instant::now();
        self.db.flush().map_err(|e| self.io_err(e))?;
        crate::metrics::committed(batch.events.len(), flushing.elapsed());
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        if batch.state.totals.is_some() && !self.marked.load(Ordering::Relaxed) {
            health::write_marker(&self.path)?;
            self.marked.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Run `read` while no commit applies (commits of this process wait; sled lets no other
    /// process open the store). For readers whose optimistic read kept meeting commits: it
    /// holds the writer back for as long as `read` takes, so it is the fallback, not the rule.
    pub fn quiesced<T>(&self, read: impl FnOnce() -> T) -> T {
        let _gate = self
            .commits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read()
    }

    /// Copy every tree into a new store at `dir` (which must not exist, or be an empty
    /// directory): sled's export/import, then a flush. Callers make sure no commit runs
    /// meanwhile (the writer thread does it between two commits), so the copy is consistent.
    /// Returns the backup's path; open it with [`Store::open`] to read or verify it.
    pub fn backup_to(&self, dir: &Path) -> Result<PathBuf, StoreError> {
        let file_err = |source: std::io::Error| StoreError::File {
            path: dir.to_path_buf(),
            source,
        };
        if dir.exists() && std::fs::read_dir(dir).map_err(file_err)?.next().is_some() {
            return Err(StoreError::File {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the backup directory is not empty; name a new one",
                ),
            });
        }
        health::preflight(dir)?;
        let target = sled::Config::new()
            .path(dir)
            .create_new(!dir.exists())
            .open()
            .map_err(|source| StoreError::Engine {
                path: dir.to_path_buf(),
                source,
            })?;
        target.import(self.db.export());
        target.flush().map_err(|source| StoreError::Engine {
            path: dir.to_path_buf(),
            source,
        })?;
        drop(target);
        if self.marked.load(Ordering::Relaxed) || self.totals()?.is_some() {
            health::write_marker(dir)?;
        }
        Ok(dir.to_path_buf())
    }

    /// Events by type and decisions by outcome, read from every record: for a store written
    /// before [`Counters`] kept them (once, at the first start that needs them).
    pub fn count_history(&self) -> Result<(Counts, Counts), StoreError> {
        let mut types = BTreeMap::new();
        for event in self.events() {
            *types.entry(event?.event_type).or_default() += 1;
        }
        let mut outcomes = BTreeMap::new();
        for decision in self.decisions() {
            *outcomes
                .entry(decision?.decision.outcome.as_str().to_string())
                .or_default() += 1;
        }
        Ok((types, outcomes))
    }

    /// How many trades of each action the store holds.
    pub fn trades_by_action(&self) -> Result<Vec<(strategies::TradeAction, u64)>, StoreError> {
        use strategies::TradeAction;
        let mut counts = [0u64; 3];
        for trade in self.trades() {
            counts[match trade?.action {
                TradeAction::Open => 0,
                TradeAction::Close => 1,
                TradeAction::Settle => 2,
            }] += 1;
        }
        Ok(vec![
            (TradeAction::Open, counts[0]),
            (TradeAction::Close, counts[1]),
            (TradeAction::Settle, counts[2]),
        ])
    }

    /// Entries and bytes of every tree, in the order of the table above.
    pub fn tree_stats(&self) -> Result<Vec<TreeStats>, StoreError> {
        let trees = [
            ("events", &self.events),
            ("seen", &self.seen),
            ("seen_aged", &self.seen_aged),
            ("deliveries", &self.deliveries),
            ("equity", &self.equity),
            ("inbox", &self.inbox),
            ("decisions", &self.decisions),
            ("trades", &self.trades),
            ("positions", &self.positions),
            ("markets", &self.markets),
            ("outbox", &self.outbox),
            ("notify", &self.notify),
            ("meta", &self.meta),
            ("intakes", &self.intakes),
        ];
        trees
            .into_iter()
            .map(|(name, tree)| {
                let mut stats = TreeStats {
                    name,
                    ..TreeStats::default()
                };
                for item in tree.iter() {
                    let (key, value) = item.map_err(|e| self.io_err(e))?;
                    stats.entries += 1;
                    stats.key_bytes += key.len() as u64;
                    stats.value_bytes += value.len() as u64;
                }
                Ok(stats)
            })
            .collect()
    }

    /// What the store's files take on disk (sled's own estimate: its log and snapshots).
    pub fn disk_bytes(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(|e| self.io_err(e))
    }

    /// Fills waiting to be mirrored.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Flush whatever is pending (used before closing).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(|e| self.io_err(e))
    }

    pub(crate) fn meta_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.meta.get(key).map_err(|e| self.io_err(e))? {
            Some(bytes) => decode(&bytes, key).map(Some),
            None => Ok(None),
        }
    }

    fn values<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .map(|item| {
                let (_, value) = item.map_err(|e| self.io_err(e))?;
                decode(&value, what)
            })
            .collect()
    }
}

/// Move the store aside (to `<path>.archived-<UTC time>`) so the next start begins a fresh
/// bankroll. Fails if a running bot holds it. Returns the archive's path, or None if there was
/// no store.
pub fn archive(path: &Path, now: Timestamp) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    drop(Store::open(path)?);
    let name = format!(
        "{}.archived-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        now.format("%Y%m%dT%H%M%SZ")
    );
    let target = path.with_file_name(name);
    std::fs::rename(path, &target).map_err(|source| StoreError::MoveAside {
        path: path.to_path_buf(),
        to: target.clone(),
        source,
    })?;
    Ok(Some(target))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    let json = codec::json_of(bytes).map_err(|e| corrupt(what, e))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(what, e))
}

fn corrupt(what: &str, source: impl Into<Unreadable>) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        source: source.into(),
    }
}

pub(crate) fn position_key(market: &MarketKey, side: strategies::Side) -> String {
    format!("{market}/{side}")
}

#[cfg(test)]
pub(crate) mod tests;
