//! Group commit: one writer thread turns whatever batches queued up while the previous flush
//! ran into a single transaction and a single flush.
//!
//! A sled flush costs ~200 µs here, so flushing per event would cap the bot near 5,000
//! events/s. Batches are numbered; the writer reports the highest number that is durable, and
//! nothing in a batch (decision, cursor, mirror order) is acted on before that report.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::thread;

use tokio::sync::{mpsc, oneshot};

use super::{Batch, Store, StoreError};

/// Where a backup went, or why it could not be written.
pub type BackupReply = oneshot::Sender<Result<PathBuf, StoreError>>;

/// What the writer thread is asked to do, in order. Commits are the hot path and backups rare:
/// boxing the batch would cost an allocation per commit to save bytes on a rare message.
#[allow(clippy::large_enum_variant)]
enum Job {
    Commit(u64, Batch),
    /// Copy the store to a directory between two commits, so the copy is one consistent
    /// state (every batch before it, none after).
    Backup(PathBuf, BackupReply),
}

/// What the writer reports back.
#[derive(Debug)]
pub enum WriterEvent {
    /// Every batch numbered up to and including this one is committed and flushed.
    Durable(u64),
    /// A commit failed; nothing after the last `Durable` is on disk. The writer has stopped.
    Failed(StoreError),
}

/// Handle to the writer thread.
pub struct Committer {
    tx: Option<std_mpsc::Sender<Job>>,
    next: u64,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    /// Start the writer thread; reports arrive on the returned receiver.
    pub fn start(store: Store) -> (Committer, mpsc::UnboundedReceiver<WriterEvent>) {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let thread = thread::Builder::new()
            .name("shiftbot-writer".to_string())
            .spawn(move || write_loop(store, rx, report_tx))
            .expect("spawning the writer thread");
        (
            Committer {
                tx: Some(tx),
                next: 1,
                thread: Some(thread),
            },
            report_rx,
        )
    }

    /// Queue a batch; returns its number. Empty batches are not sent.
    pub fn submit(&mut self, batch: Batch) -> Option<u64> {
        if batch.is_empty() {
            return None;
        }
        let number = self.next;
        self.next += 1;
        // A send error means the writer stopped after a failure it already reported.
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Commit(number, batch));
        }
        Some(number)
    }

    /// Back the store up to `dir` after every batch submitted so far. A writer that stopped
    /// (after a failed commit) drops `reply`, which the caller sees as an error.
    pub fn backup(&self, dir: PathBuf, reply: BackupReply) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Backup(dir, reply));
        }
    }

    /// Number of the last batch submitted (0 if none).
    pub fn last_submitted(&self) -> u64 {
        self.next - 1
    }

    /// Let the writer drain what is queued, then wait for it to stop.
    pub fn close(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(
    store: Store,
    rx: std_mpsc::Receiver<Job>,
    report: mpsc::UnboundedSender<WriterEvent>,
) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let (mut last, mut batch) = match job {
            Job::Commit(number, batch) => (number, batch),
            Job::Backup(dir, reply) => {
                let _ = reply.send(store.backup_to(&dir));
                continue;
            }
        };
        // Everything queued meanwhile joins this group commit, up to a backup request.
        while let Ok(job) = rx.try_recv() {
            match job {
                Job::Commit(number, more) => {
                    batch.absorb(more);
                    last = number;
                }
                backup @ Job::Backup(..) => {
                    next = Some(backup);
                    break;
                }
            }
        }
        match store.commit(&batch) {
            Ok(()) => {
                let _ = report.send(WriterEvent::Durable(last));
            }
            Err(err) => {
                let _ = report.send(WriterEvent::Failed(err));
                return;
            }
        }
    }
}
