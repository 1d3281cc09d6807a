//! `shiftbot store verify`, `store stats` and `store backup DIR`: checking a store by hand,
//! measuring what it holds, and copying it consistently whether or not a bot holds it.
//!
//! A backup is itself a store: point `storage.path` at it (or move it into place) to restore.
//! With the bot stopped the copy is made here; while it runs, the bot's writer thread makes it
//! between two commits (through the admin listener), so it is one consistent state either way.
//! Every backup is opened and fully verified before it is reported as written.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CommandError;
use crate::admin::{verify_copy, BackupRequest};
use crate::store::health::{self, Depth, Verified};
use crate::store::{Store, StoreError};

/// Verify the store at `path` (which must exist) in full.
pub fn verify_command(path: &Path, out: &mut dyn Write) -> Result<(), CommandError> {
    let store = open_existing(path)?;
    let verified = health::verify(&store, Depth::Full)?;
    writeln!(
        out,
        "store {}: ok ({})",
        shown(path).display(),
        counts(&verified)
    )?;
    Ok(())
}

/// Back the store at `path` up to `dir`, here or through the running bot.
pub fn backup_command(
    path: &Path,
    admin_listen: &str,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let done = match open_existing(path) {
        Ok(store) => {
            store.backup_to(dir)?;
            drop(store);
            verify_copy(dir)?
        }
        Err(CommandError::Store(StoreError::Locked { path })) => {
            // The bot writes the copy: the directory must mean the same to it as to us.
            let dir = absolute(dir);
            let request = BackupRequest {
                store: Some(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())),
                dir,
            };
            crate::admin::request_backup(admin_listen, &request).map_err(|e| {
                CommandError::Remote {
                    path,
                    listen: admin_listen.to_string(),
                    message: e.to_string(),
                }
            })?
        }
        Err(other) => return Err(other),
    };
    writeln!(
        out,
        "backup of {} written to {} and verified ({})",
        shown(path).display(),
        done.dir.display(),
        counts(&done.verified)
    )?;
    Ok(())
}

/// `store stats`: entries and bytes by tree, size on disk, bytes per decision.
pub fn stats_command(path: &Path, out: &mut dyn Write) -> Result<(), CommandError> {
    let store = open_existing(path)?;
    let trees = store.tree_stats()?;
    let disk = store.disk_bytes()?;
    let decisions = trees
        .iter()
        .find(|t| t.name == "decisions")
        .map_or(0, |t| t.entries);
    let rows: Vec<Vec<String>> = trees
        .iter()
        .map(|t| {
            vec![
                t.name.to_string(),
                t.entries.to_string(),
                t.key_bytes.to_string(),
                t.value_bytes.to_string(),
            ]
        })
        .collect();
    writeln!(out, "store {}", shown(path).display())?;
    super::format::table(
        out,
        &["TREE", "ENTRIES", "KEY_BYTES", "VALUE_BYTES"],
        &rows,
        &[1, 2, 3],
    )?;
    let logical: u64 = trees.iter().map(|t| t.key_bytes + t.value_bytes).sum();
    writeln!(out, "on disk: {disk} bytes (records: {logical} bytes)")?;
    match disk.checked_div(decisions) {
        Some(per) => writeln!(
            out,
            "per decision: {per} bytes on disk over {decisions} decisions"
        )?,
        None => writeln!(out, "per decision: - (no decisions)")?,
    }
    Ok(())
}

fn open_existing(path: &Path) -> Result<Store, CommandError> {
    // Checking must not create a store as a side effect.
    if !path.exists() {
        return Err(CommandError::NoStore(absolute(path)));
    }
    Ok(Store::open(path)?)
}

fn counts(verified: &Verified) -> String {
    let cash = verified
        .cash
        .map(|cash| format!(", cash {}", cash.round_dp(2)))
        .unwrap_or_default();
    format!(
        "{} events, {} decisions, {} trades, {} open positions{cash}",
        verified.events, verified.decisions, verified.trades, verified.positions
    )
}

fn shown(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
