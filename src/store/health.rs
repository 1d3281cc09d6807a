//! Keeping a damaged or starved store from being used: what is checked before sled opens a
//! store, around the open, and after it.
//!
//! - **Before**: the filesystem must have [`MIN_FREE_BYTES`] free (sled writes a snapshot on
//!   open; on a full disk it left a 0-byte `snap.*.generating` that made every later open fail
//!   with "Read corrupted data", even after space was freed), and such a leftover snapshot file
//!   (too short for sled to read: an unfinished write) is removed, with a warning.
//! - **Around**: sled panics on some damaged files (a `db` truncated to half: "index out of
//!   bounds"); the panic is caught here and becomes [`StoreError::Damaged`].
//! - **After**: a marker file beside sled's own records that this store holds a book. A store
//!   whose marker is there but whose book is not lost its data (a deleted snapshot made sled
//!   open stores as empty, silently) and is refused instead of starting a fresh bankroll.
//! - [`verify`] checks that what the store holds agrees with itself: every tree reads and
//!   decodes, the counters match the records, the cash follows the trades from the starting
//!   bankroll to the totals, the positions are what the trades left open. `run` refuses a
//!   store that fails it; `shiftbot store verify` runs it by hand.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use strategies::{BookTotals, MarketKey, Position, Side, Trade, TradeAction};

use super::{decode, Counters, DecisionRecord, EventRecord, Store, StoreError, META_COUNTERS};

/// Free space a store's filesystem must have before it is opened: a snapshot and a few
/// segments of sled's log, with room to spare.
pub const MIN_FREE_BYTES: u64 = 8 * 1024 * 1024;

/// The marker file, inside the store's directory (sled ignores files it does not know).
pub(crate) const MARKER: &str = "shiftbot-store.json";

/// What a store must be before it is opened.
pub(crate) fn preflight(path: &Path) -> Result<(), StoreError> {
    let probe = existing_ancestor(path);
    if let Ok(stat) = rustix::fs::statvfs(&probe) {
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        if free < MIN_FREE_BYTES {
            return Err(StoreError::NoSpace {
                path: path.to_path_buf(),
                free,
                needed: MIN_FREE_BYTES,
            });
        }
    }
    remove_unfinished_snapshots(path)
}

/// The nearest directory of `path` that exists (the store may not yet).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        match probe.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => probe = parent.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
    probe
}

/// sled writes `snap.<lsn>.generating` and renames it when complete; one that is too short to
/// hold a snapshot's length and checksum (12 bytes) was cut off, and sled would refuse the
/// whole store because of it. The snapshot before it, and sled's log, are intact.
fn remove_unfinished_snapshots(path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("snap.") && name.ends_with(".generating")) {
            continue;
        }
        let len = entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if len > 12 {
            continue;
        }
        std::fs::remove_file(entry.path()).map_err(|e| StoreError::File {
            path: entry.path(),
            source: e,
        })?;
        tracing::warn!(
            file = %entry.path().display(),
            bytes = len,
            "removed an unfinished snapshot file left by an interrupted write (disk full?)"
        );
    }
    Ok(())
}

/// Runs `work` on sled, turning a panic inside it into [`StoreError::Damaged`]. The panic's
/// own message is kept (it says what sled tripped over) and the default report of it is not
/// printed: the error names the store and the remedy instead.
pub fn guarded<T, E: From<StoreError>>(
    path: &Path,
    what: &str,
    work: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    // The hook is process-wide: two guarded sections at once (a backup verified while a
    // command opens a store) must not restore each other's silent hook for good.
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    panic::set_hook(previous);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(StoreError::Damaged {
            path: path.to_path_buf(),
            problem: format!("the storage engine failed while {what}: {message}"),
        }
        .into())
    })
}

/// Records that this store holds a book (written once the first totals are durable).
pub(crate) fn write_marker(path: &Path) -> Result<(), StoreError> {
    let marker = path.join(MARKER);
    let text = "{\"holds_a_book\":true}\n";
    std::fs::write(&marker, text)
        .and_then(|()| std::fs::File::open(&marker)?.sync_all())
        .map_err(|e| StoreError::File {
            path: marker,
            source: e,
        })
}

pub(crate) fn has_marker(path: &Path) -> bool {
    path.join(MARKER).exists()
}

/// What [`verify`] found, for `shiftbot store verify` (and a backup's answer).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verified {
    pub events: u64,
    pub decisions: u64,
    pub trades: u64,
    pub positions: u64,
    pub cash: Option<Decimal>,
}

/// How thoroughly to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Every tree is read through (sled checks each record's checksum); books, trades,
    /// positions and counters are decoded and cross-checked. What `run` does at start.
    Quick,
    /// Also decodes every event and decision record. What `shiftbot store verify` does.
    Full,
}

/// Checks that the store agrees with itself; the first disagreement is the error.
pub fn verify(store: &Store, depth: Depth) -> Result<Verified, StoreError> {
    guarded(store.path(), "reading the store", || {
        verify_inner(store, depth)
    })
    .map_err(|err| {
        match err {
            // A record that cannot be read or decoded is damage too.
            StoreError::Engine { source, .. } => StoreError::Damaged {
                path: store.path.clone(),
                problem: format!("a record cannot be read: {source}"),
            },
            StoreError::Corrupt { what, source } => StoreError::Damaged {
                path: store.path.clone(),
                problem: format!("an unreadable {what}: {source}"),
            },
            other => other,
        }
    })
}

fn verify_inner(store: &Store, depth: Depth) -> Result<Verified, StoreError> {
    let damaged = |problem: String| StoreError::Damaged {
        path: store.path.clone(),
        problem,
    };
    let totals: Option<BookTotals> = store.totals()?;
    let counters: Counters = store.meta_get(META_COUNTERS)?.unwrap_or_default();
    let archived = store.archive_state()?;
    let mut found = Verified::default();

    let events = count(store, &store.events, |bytes| match depth {
        Depth::Full => decode::<EventRecord>(bytes, "event").map(drop),
        Depth::Quick => Ok(()),
    })?;
    let decisions = count(store, &store.decisions, |bytes| match depth {
        Depth::Full => decode::<DecisionRecord>(bytes, "decision").map(drop),
        Depth::Quick => Ok(()),
    })?;
    let seen = count(store, &store.seen, |_| Ok(()))?;
    let aged = count(store, &store.seen_aged, |_| Ok(()))?;
    count(store, &store.markets, |_| Ok(()))?;
    found.events = events.len;
    found.decisions = decisions.len;
    // Retention removes a prefix of the events, so those left are dense up to the last
    // received; decisions leave in their events' order, so only their count is known.
    let held_events = events.len + archived.events;
    if held_events != counters.next_event_seq
        || events
            .last
            .is_some_and(|k| k + 1 != counters.next_event_seq)
    {
        return Err(damaged(format!(
            "it holds {} events ({} more archived) but counted {} received",
            events.len, archived.events, counters.next_event_seq
        )));
    }
    if seen.len != events.len + aged.len {
        return Err(damaged(format!(
            "its exactly-once index has {} ids for {} events ({} archived ids kept)",
            seen.len, events.len, aged.len
        )));
    }
    if decisions.len + archived.decisions != counters.next_decision_seq
        || decisions
            .last
            .is_some_and(|k| k + 1 != counters.next_decision_seq)
    {
        return Err(damaged(format!(
            "it holds {} decisions ({} more archived) but counted {} made",
            decisions.len, archived.decisions, counters.next_decision_seq
        )));
    }
    for item in store.inbox.iter() {
        let (seq, _) = item.map_err(|e| store.io_err(e))?;
        if !store
            .events
            .contains_key(&seq)
            .map_err(|e| store.io_err(e))?
        {
            return Err(damaged("an event waiting for its signal is missing".into()));
        }
    }

    let trades: Vec<Trade> = store.trades().collect::<Result<_, _>>()?;
    let positions: Vec<Position> = store.positions()?;
    found.trades = trades.len() as u64;
    found.positions = positions.len() as u64;
    let Some(totals) = totals else {
        if !trades.is_empty() || !positions.is_empty() || decisions.len > 0 {
            return Err(damaged(
                "its book (cash and totals) is missing while trades or decisions remain".into(),
            ));
        }
        return Ok(found);
    };
    found.cash = Some(totals.cash);
    check_cash(&totals, &trades).map_err(damaged)?;
    check_positions(&trades, &positions).map_err(damaged)?;
    Ok(found)
}

/// A tree's length and last big-endian `u64` key, each value checked by `check`.
struct Counted {
    len: u64,
    last: Option<u64>,
}

fn count(
    store: &Store,
    tree: &sled::Tree,
    check: impl Fn(&[u8]) -> Result<(), StoreError>,
) -> Result<Counted, StoreError> {
    let mut counted = Counted { len: 0, last: None };
    for item in tree.iter() {
        let (key, value) = item.map_err(|e| store.io_err(e))?;
        check(&value)?;
        counted.len += 1;
        counted.last = <[u8; 8]>::try_from(key.as_ref())
            .ok()
            .map(u64::from_be_bytes);
    }
    Ok(counted)
}

/// Trade ids are dense from 1; each trade's cash starts where the previous one left it, from
/// the starting bankroll to the totals' cash; fees and realized P&L add up to the totals.
fn check_cash(totals: &BookTotals, trades: &[Trade]) -> Result<(), String> {
    let mut cash = totals.starting_bankroll;
    let (mut fees, mut realized) = (Decimal::ZERO, Decimal::ZERO);
    for (index, trade) in trades.iter().enumerate() {
        if trade.trade_id != index as u64 + 1 {
            return Err(format!(
                "trade {} is missing (the next one found is {})",
                index + 1,
                trade.trade_id
            ));
        }
        if trade.cash_before != cash {
            return Err(format!(
                "trade {} starts from cash {} but the trades before it leave {}",
                trade.trade_id, trade.cash_before, cash
            ));
        }
        cash = trade.cash_after;
        fees += trade.fee;
        realized += trade.realized_pnl.unwrap_or_default();
    }
    if cash != totals.cash {
        return Err(format!(
            "its cash is {} but the trades leave {}",
            totals.cash, cash
        ));
    }
    if trades.len() as u64 + 1 != totals.next_trade_id {
        return Err(format!(
            "it holds {} trades but counted {}",
            trades.len(),
            totals.next_trade_id.saturating_sub(1)
        ));
    }
    if fees != totals.fees_paid || realized != totals.realized_pnl {
        return Err(format!(
            "its fees {} and realized P&L {} are not what the trades add up to ({} and {})",
            totals.fees_paid, totals.realized_pnl, fees, realized
        ));
    }
    Ok(())
}

/// The open positions are exactly what the trades bought and did not sell.
fn check_positions(trades: &[Trade], positions: &[Position]) -> Result<(), String> {
    let mut held: BTreeMap<(MarketKey, Side), i128> = BTreeMap::new();
    for trade in trades {
        let contracts = i128::from(trade.contracts);
        let entry = held.entry((trade.market(), trade.side)).or_default();
        match trade.action {
            TradeAction::Open => *entry += contracts,
            TradeAction::Close | TradeAction::Settle => *entry -= contracts,
        }
    }
    held.retain(|_, contracts| *contracts != 0);
    let stored: BTreeMap<(MarketKey, Side), i128> = positions
        .iter()
        .map(|p| ((p.market.clone(), p.side), i128::from(p.contracts)))
        .collect();
    if held != stored {
        let differs = held
            .iter()
            .find(|(key, n)| stored.get(key) != Some(n))
            .map(|(key, _)| key)
            .or_else(|| stored.keys().find(|key| !held.contains_key(key)));
        let what = differs
            .map(|(market, side)| format!("{market} {side}"))
            .unwrap_or_default();
        return Err(format!(
            "its open positions are not what the trades left open ({what})"
        ));
    }
    Ok(())
}
