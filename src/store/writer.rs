//! Group commit: one writer thread turns whatever batches queued up while the previous flush
//! ran into a single transaction and a single flush.
//!
//! A sled flush costs ~200 µs here, so flushing per event would cap the bot near 5,000
//! events/s. Batches are numbered; the writer reports the highest number that is durable, and
//! nothing in a batch (decision, cursor, mirror order) is acted on before that report.

use std::sync::mpsc as std_mpsc;
use std::thread;

use tokio::sync::mpsc;

use super::{Batch, Store, StoreError};

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
    tx: Option<std_mpsc::Sender<(u64, Batch)>>,
    next: u64,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    /// Start the writer thread; reports arrive on the returned receiver.
    pub fn start(store: Store) -> (Committer, mpsc::UnboundedReceiver<WriterEvent>) {
        let (tx, rx) = std_mpsc::channel::<(u64, Batch)>();
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
            let _ = tx.send((number, batch));
        }
        Some(number)
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
    rx: std_mpsc::Receiver<(u64, Batch)>,
    report: mpsc::UnboundedSender<WriterEvent>,
) {
    while let Ok((mut last, mut batch)) = rx.recv() {
        while let Ok((number, more)) = rx.try_recv() {
            batch.absorb(more);
            last = number;
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
